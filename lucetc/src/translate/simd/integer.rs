//! Integer lane arithmetic: add/sub (wrapping and saturating), mul, min/max,
//! rounding average, abs/neg, popcnt, shifts, the widening products and sums
//! (`extmul`, `extadd_pairwise`, `dot`), `q15mulr_sat` and the comparisons.
//!
//! Several results are written as the exact instruction shapes the x64
//! backend recognises and lowers to a single instruction (`pmaddwd` for
//! `dot` and `extadd_pairwise`, `pmul*` pairs for `extmul`); each operand
//! is therefore bitcast once and reused, so the shapes share their values.

use super::{binary, pop_as, push_v128, unary, ValueStack};
use cranelift_codegen::ir::{
    condcodes::IntCC,
    types::{I16X8, I32X4, I64X2, I8X16},
    InstBuilder, Type, Value,
};
use cranelift_frontend::FunctionBuilder;
use wasmparser::Operator;

/// Translate `op` if it is one of this file's operators.
pub(super) fn translate(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    stack: &mut ValueStack,
) -> bool {
    use Operator as O;
    match op {
        O::I8x16Add => binary(b, stack, I8X16, |b, x, y| b.ins().iadd(x, y)),
        O::I16x8Add => binary(b, stack, I16X8, |b, x, y| b.ins().iadd(x, y)),
        O::I32x4Add => binary(b, stack, I32X4, |b, x, y| b.ins().iadd(x, y)),
        O::I64x2Add => binary(b, stack, I64X2, |b, x, y| b.ins().iadd(x, y)),
        O::I8x16Sub => binary(b, stack, I8X16, |b, x, y| b.ins().isub(x, y)),
        O::I16x8Sub => binary(b, stack, I16X8, |b, x, y| b.ins().isub(x, y)),
        O::I32x4Sub => binary(b, stack, I32X4, |b, x, y| b.ins().isub(x, y)),
        O::I64x2Sub => binary(b, stack, I64X2, |b, x, y| b.ins().isub(x, y)),
        O::I16x8Mul => binary(b, stack, I16X8, |b, x, y| b.ins().imul(x, y)),
        O::I32x4Mul => binary(b, stack, I32X4, |b, x, y| b.ins().imul(x, y)),
        O::I64x2Mul => binary(b, stack, I64X2, |b, x, y| b.ins().imul(x, y)),

        O::I8x16AddSatS => binary(b, stack, I8X16, |b, x, y| b.ins().sadd_sat(x, y)),
        O::I8x16AddSatU => binary(b, stack, I8X16, |b, x, y| b.ins().uadd_sat(x, y)),
        O::I8x16SubSatS => binary(b, stack, I8X16, |b, x, y| b.ins().ssub_sat(x, y)),
        O::I8x16SubSatU => binary(b, stack, I8X16, |b, x, y| b.ins().usub_sat(x, y)),
        O::I16x8AddSatS => binary(b, stack, I16X8, |b, x, y| b.ins().sadd_sat(x, y)),
        O::I16x8AddSatU => binary(b, stack, I16X8, |b, x, y| b.ins().uadd_sat(x, y)),
        O::I16x8SubSatS => binary(b, stack, I16X8, |b, x, y| b.ins().ssub_sat(x, y)),
        O::I16x8SubSatU => binary(b, stack, I16X8, |b, x, y| b.ins().usub_sat(x, y)),

        O::I8x16MinS => binary(b, stack, I8X16, |b, x, y| b.ins().smin(x, y)),
        O::I8x16MinU => binary(b, stack, I8X16, |b, x, y| b.ins().umin(x, y)),
        O::I8x16MaxS => binary(b, stack, I8X16, |b, x, y| b.ins().smax(x, y)),
        O::I8x16MaxU => binary(b, stack, I8X16, |b, x, y| b.ins().umax(x, y)),
        O::I16x8MinS => binary(b, stack, I16X8, |b, x, y| b.ins().smin(x, y)),
        O::I16x8MinU => binary(b, stack, I16X8, |b, x, y| b.ins().umin(x, y)),
        O::I16x8MaxS => binary(b, stack, I16X8, |b, x, y| b.ins().smax(x, y)),
        O::I16x8MaxU => binary(b, stack, I16X8, |b, x, y| b.ins().umax(x, y)),
        O::I32x4MinS => binary(b, stack, I32X4, |b, x, y| b.ins().smin(x, y)),
        O::I32x4MinU => binary(b, stack, I32X4, |b, x, y| b.ins().umin(x, y)),
        O::I32x4MaxS => binary(b, stack, I32X4, |b, x, y| b.ins().smax(x, y)),
        O::I32x4MaxU => binary(b, stack, I32X4, |b, x, y| b.ins().umax(x, y)),

        // Cranelift's avg_round is wasm's: (x + y + 1) >> 1 without overflow.
        O::I8x16AvgrU => binary(b, stack, I8X16, |b, x, y| b.ins().avg_round(x, y)),
        O::I16x8AvgrU => binary(b, stack, I16X8, |b, x, y| b.ins().avg_round(x, y)),

        // Both wrap: abs and neg of the minimum lane value give it back.
        O::I8x16Abs => unary(b, stack, I8X16, |b, x| b.ins().iabs(x)),
        O::I16x8Abs => unary(b, stack, I16X8, |b, x| b.ins().iabs(x)),
        O::I32x4Abs => unary(b, stack, I32X4, |b, x| b.ins().iabs(x)),
        O::I64x2Abs => unary(b, stack, I64X2, |b, x| b.ins().iabs(x)),
        O::I8x16Neg => unary(b, stack, I8X16, |b, x| b.ins().ineg(x)),
        O::I16x8Neg => unary(b, stack, I16X8, |b, x| b.ins().ineg(x)),
        O::I32x4Neg => unary(b, stack, I32X4, |b, x| b.ins().ineg(x)),
        O::I64x2Neg => unary(b, stack, I64X2, |b, x| b.ins().ineg(x)),

        O::I8x16Popcnt => unary(b, stack, I8X16, |b, x| b.ins().popcnt(x)),

        // Saturating rounding Q15 multiply; Cranelift's sqmul_round_sat has
        // wasm's definition, including -1.0 * -1.0 saturating to 0x7fff.
        O::I16x8Q15MulrSatS => binary(b, stack, I16X8, |b, x, y| b.ins().sqmul_round_sat(x, y)),

        O::I8x16Shl => shift(b, stack, I8X16, Shift::Left),
        O::I8x16ShrS => shift(b, stack, I8X16, Shift::RightSigned),
        O::I8x16ShrU => shift(b, stack, I8X16, Shift::RightUnsigned),
        O::I16x8Shl => shift(b, stack, I16X8, Shift::Left),
        O::I16x8ShrS => shift(b, stack, I16X8, Shift::RightSigned),
        O::I16x8ShrU => shift(b, stack, I16X8, Shift::RightUnsigned),
        O::I32x4Shl => shift(b, stack, I32X4, Shift::Left),
        O::I32x4ShrS => shift(b, stack, I32X4, Shift::RightSigned),
        O::I32x4ShrU => shift(b, stack, I32X4, Shift::RightUnsigned),
        O::I64x2Shl => shift(b, stack, I64X2, Shift::Left),
        O::I64x2ShrS => shift(b, stack, I64X2, Shift::RightSigned),
        O::I64x2ShrU => shift(b, stack, I64X2, Shift::RightUnsigned),

        O::I16x8ExtAddPairwiseI8x16S => extadd_pairwise(b, stack, I8X16, true),
        O::I16x8ExtAddPairwiseI8x16U => extadd_pairwise(b, stack, I8X16, false),
        O::I32x4ExtAddPairwiseI16x8S => extadd_pairwise(b, stack, I16X8, true),
        O::I32x4ExtAddPairwiseI16x8U => extadd_pairwise(b, stack, I16X8, false),

        O::I16x8ExtMulLowI8x16S => extmul(b, stack, I8X16, Half::Low, true),
        O::I16x8ExtMulHighI8x16S => extmul(b, stack, I8X16, Half::High, true),
        O::I16x8ExtMulLowI8x16U => extmul(b, stack, I8X16, Half::Low, false),
        O::I16x8ExtMulHighI8x16U => extmul(b, stack, I8X16, Half::High, false),
        O::I32x4ExtMulLowI16x8S => extmul(b, stack, I16X8, Half::Low, true),
        O::I32x4ExtMulHighI16x8S => extmul(b, stack, I16X8, Half::High, true),
        O::I32x4ExtMulLowI16x8U => extmul(b, stack, I16X8, Half::Low, false),
        O::I32x4ExtMulHighI16x8U => extmul(b, stack, I16X8, Half::High, false),
        O::I64x2ExtMulLowI32x4S => extmul(b, stack, I32X4, Half::Low, true),
        O::I64x2ExtMulHighI32x4S => extmul(b, stack, I32X4, Half::High, true),
        O::I64x2ExtMulLowI32x4U => extmul(b, stack, I32X4, Half::Low, false),
        O::I64x2ExtMulHighI32x4U => extmul(b, stack, I32X4, Half::High, false),

        O::I32x4DotI16x8S => {
            // Sum of adjacent widened products, the form lowered to
            // `pmaddwd`. The one overflowing case (both pairs
            // -32768 * -32768) wraps to i32::MIN in wasm and in `pmaddwd`.
            let (x, y) = super::pop2_as(b, stack, I16X8);
            let r = signed_dot(b, x, y);
            push_v128(b, stack, r);
        }

        O::I8x16Eq => compare(b, stack, I8X16, IntCC::Equal),
        O::I8x16Ne => compare(b, stack, I8X16, IntCC::NotEqual),
        O::I8x16LtS => compare(b, stack, I8X16, IntCC::SignedLessThan),
        O::I8x16LtU => compare(b, stack, I8X16, IntCC::UnsignedLessThan),
        O::I8x16GtS => compare(b, stack, I8X16, IntCC::SignedGreaterThan),
        O::I8x16GtU => compare(b, stack, I8X16, IntCC::UnsignedGreaterThan),
        O::I8x16LeS => compare(b, stack, I8X16, IntCC::SignedLessThanOrEqual),
        O::I8x16LeU => compare(b, stack, I8X16, IntCC::UnsignedLessThanOrEqual),
        O::I8x16GeS => compare(b, stack, I8X16, IntCC::SignedGreaterThanOrEqual),
        O::I8x16GeU => compare(b, stack, I8X16, IntCC::UnsignedGreaterThanOrEqual),
        O::I16x8Eq => compare(b, stack, I16X8, IntCC::Equal),
        O::I16x8Ne => compare(b, stack, I16X8, IntCC::NotEqual),
        O::I16x8LtS => compare(b, stack, I16X8, IntCC::SignedLessThan),
        O::I16x8LtU => compare(b, stack, I16X8, IntCC::UnsignedLessThan),
        O::I16x8GtS => compare(b, stack, I16X8, IntCC::SignedGreaterThan),
        O::I16x8GtU => compare(b, stack, I16X8, IntCC::UnsignedGreaterThan),
        O::I16x8LeS => compare(b, stack, I16X8, IntCC::SignedLessThanOrEqual),
        O::I16x8LeU => compare(b, stack, I16X8, IntCC::UnsignedLessThanOrEqual),
        O::I16x8GeS => compare(b, stack, I16X8, IntCC::SignedGreaterThanOrEqual),
        O::I16x8GeU => compare(b, stack, I16X8, IntCC::UnsignedGreaterThanOrEqual),
        O::I32x4Eq => compare(b, stack, I32X4, IntCC::Equal),
        O::I32x4Ne => compare(b, stack, I32X4, IntCC::NotEqual),
        O::I32x4LtS => compare(b, stack, I32X4, IntCC::SignedLessThan),
        O::I32x4LtU => compare(b, stack, I32X4, IntCC::UnsignedLessThan),
        O::I32x4GtS => compare(b, stack, I32X4, IntCC::SignedGreaterThan),
        O::I32x4GtU => compare(b, stack, I32X4, IntCC::UnsignedGreaterThan),
        O::I32x4LeS => compare(b, stack, I32X4, IntCC::SignedLessThanOrEqual),
        O::I32x4LeU => compare(b, stack, I32X4, IntCC::UnsignedLessThanOrEqual),
        O::I32x4GeS => compare(b, stack, I32X4, IntCC::SignedGreaterThanOrEqual),
        O::I32x4GeU => compare(b, stack, I32X4, IntCC::UnsignedGreaterThanOrEqual),
        O::I64x2Eq => compare(b, stack, I64X2, IntCC::Equal),
        O::I64x2Ne => compare(b, stack, I64X2, IntCC::NotEqual),
        O::I64x2LtS => compare(b, stack, I64X2, IntCC::SignedLessThan),
        O::I64x2GtS => compare(b, stack, I64X2, IntCC::SignedGreaterThan),
        O::I64x2LeS => compare(b, stack, I64X2, IntCC::SignedLessThanOrEqual),
        O::I64x2GeS => compare(b, stack, I64X2, IntCC::SignedGreaterThanOrEqual),

        _ => return false,
    }
    true
}

enum Shift {
    Left,
    RightSigned,
    RightUnsigned,
}

/// A lane shift by the i32 on top of the stack.
///
/// Wasm takes the amount modulo the lane width; so does Cranelift's vector
/// shift (and the x64 lowering masks it accordingly), so the amount is
/// passed through untouched.
fn shift(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, ty: Type, kind: Shift) {
    let amount = stack.pop();
    let x = pop_as(b, stack, ty);
    let r = match kind {
        Shift::Left => b.ins().ishl(x, amount),
        Shift::RightSigned => b.ins().sshr(x, amount),
        Shift::RightUnsigned => b.ins().ushr(x, amount),
    };
    push_v128(b, stack, r);
}

#[derive(Clone, Copy)]
enum Half {
    Low,
    High,
}

/// One half of `x`'s lanes widened to twice their width.
fn widen(b: &mut FunctionBuilder<'_>, x: Value, half: Half, signed: bool) -> Value {
    match (half, signed) {
        (Half::Low, true) => b.ins().swiden_low(x),
        (Half::Low, false) => b.ins().uwiden_low(x),
        (Half::High, true) => b.ins().swiden_high(x),
        (Half::High, false) => b.ins().uwiden_high(x),
    }
}

/// Lane-wise product of one half of `x` and `y`, at twice the lane width
/// (exact: the product of two n-bit values fits in 2n bits).
fn widening_mul(
    b: &mut FunctionBuilder<'_>,
    x: Value,
    y: Value,
    half: Half,
    signed: bool,
) -> Value {
    let x = widen(b, x, half, signed);
    let y = widen(b, y, half, signed);
    b.ins().imul(x, y)
}

/// `extmul_{low,high}`: operands have lanes of `narrow` type.
fn extmul(
    b: &mut FunctionBuilder<'_>,
    stack: &mut ValueStack,
    narrow: Type,
    half: Half,
    signed: bool,
) {
    let (x, y) = super::pop2_as(b, stack, narrow);
    let r = widening_mul(b, x, y, half, signed);
    push_v128(b, stack, r);
}

/// `extadd_pairwise`: adjacent lanes of `narrow` type, widened and summed.
fn extadd_pairwise(
    b: &mut FunctionBuilder<'_>,
    stack: &mut ValueStack,
    narrow: Type,
    signed: bool,
) {
    let x = pop_as(b, stack, narrow);
    let r = pairwise_sum(b, x, signed);
    push_v128(b, stack, r);
}

/// Sums of adjacent lanes of `x`, widened to twice their width. Widening
/// both halves and adding pairwise across the two keeps lane order: the
/// low half's pairs fill the low result lanes.
pub(super) fn pairwise_sum(b: &mut FunctionBuilder<'_>, x: Value, signed: bool) -> Value {
    let lo = widen(b, x, Half::Low, signed);
    let hi = widen(b, x, Half::High, signed);
    b.ins().iadd_pairwise(lo, hi)
}

/// Sums of adjacent signed products of `x` and `y`'s lanes, at twice their
/// width (wrapping): `i32x4.dot_i16x8_s`, and relaxed SIMD's deterministic
/// dot products.
pub(super) fn signed_dot(b: &mut FunctionBuilder<'_>, x: Value, y: Value) -> Value {
    let lo = widening_mul(b, x, y, Half::Low, true);
    let hi = widening_mul(b, x, y, Half::High, true);
    b.ins().iadd_pairwise(lo, hi)
}

/// Lane-wise comparison; Cranelift's vector `icmp` already gives wasm's
/// all-ones / all-zeros lanes.
fn compare(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, ty: Type, cc: IntCC) {
    binary(b, stack, ty, |b, x, y| b.ins().icmp(cc, x, y));
}
