//! Operators that change the lane shape or the lane type: saturating
//! narrowing, widening (`extend_{low,high}`), int↔float conversion with
//! saturating truncation, and f32↔f64 demotion/promotion.
//!
//! The conversions between two f64 lanes and four 32-bit lanes are written in
//! the forms the x64 backend has dedicated lowerings for; in particular
//! `fcvt_to_{s,u}int_sat` to `i64x2` has no lowering of its own there and is
//! only accepted narrowed against a zero vector, exactly as built below.

use super::{binary, pop_as, push_v128, unary, vconst, ValueStack};
use cranelift_codegen::ir::{
    types::{F32X4, F64X2, I16X8, I32X4, I64X2, I8X16},
    InstBuilder,
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
        // Narrowing reads its inputs as signed and saturates to the signed
        // or unsigned range of the half-width lane; `a` fills the low half.
        O::I8x16NarrowI16x8S => binary(b, stack, I16X8, |b, x, y| b.ins().snarrow(x, y)),
        O::I8x16NarrowI16x8U => binary(b, stack, I16X8, |b, x, y| b.ins().unarrow(x, y)),
        O::I16x8NarrowI32x4S => binary(b, stack, I32X4, |b, x, y| b.ins().snarrow(x, y)),
        O::I16x8NarrowI32x4U => binary(b, stack, I32X4, |b, x, y| b.ins().unarrow(x, y)),

        O::I16x8ExtendLowI8x16S => unary(b, stack, I8X16, |b, x| b.ins().swiden_low(x)),
        O::I16x8ExtendHighI8x16S => unary(b, stack, I8X16, |b, x| b.ins().swiden_high(x)),
        O::I16x8ExtendLowI8x16U => unary(b, stack, I8X16, |b, x| b.ins().uwiden_low(x)),
        O::I16x8ExtendHighI8x16U => unary(b, stack, I8X16, |b, x| b.ins().uwiden_high(x)),
        O::I32x4ExtendLowI16x8S => unary(b, stack, I16X8, |b, x| b.ins().swiden_low(x)),
        O::I32x4ExtendHighI16x8S => unary(b, stack, I16X8, |b, x| b.ins().swiden_high(x)),
        O::I32x4ExtendLowI16x8U => unary(b, stack, I16X8, |b, x| b.ins().uwiden_low(x)),
        O::I32x4ExtendHighI16x8U => unary(b, stack, I16X8, |b, x| b.ins().uwiden_high(x)),
        O::I64x2ExtendLowI32x4S => unary(b, stack, I32X4, |b, x| b.ins().swiden_low(x)),
        O::I64x2ExtendHighI32x4S => unary(b, stack, I32X4, |b, x| b.ins().swiden_high(x)),
        O::I64x2ExtendLowI32x4U => unary(b, stack, I32X4, |b, x| b.ins().uwiden_low(x)),
        O::I64x2ExtendHighI32x4U => unary(b, stack, I32X4, |b, x| b.ins().uwiden_high(x)),

        O::F32x4ConvertI32x4S => unary(b, stack, I32X4, |b, x| b.ins().fcvt_from_sint(F32X4, x)),
        O::F32x4ConvertI32x4U => unary(b, stack, I32X4, |b, x| b.ins().fcvt_from_uint(F32X4, x)),
        // Only the low two i32 lanes are converted: widen them to i64 lanes
        // first (the widened form is what the backend matches).
        O::F64x2ConvertLowI32x4S => unary(b, stack, I32X4, |b, x| {
            let wide = b.ins().swiden_low(x);
            b.ins().fcvt_from_sint(F64X2, wide)
        }),
        O::F64x2ConvertLowI32x4U => unary(b, stack, I32X4, |b, x| {
            let wide = b.ins().uwiden_low(x);
            b.ins().fcvt_from_uint(F64X2, wide)
        }),

        // Saturating truncation: NaN gives 0, out-of-range values clamp.
        O::I32x4TruncSatF32x4S => unary(b, stack, F32X4, |b, x| b.ins().fcvt_to_sint_sat(I32X4, x)),
        O::I32x4TruncSatF32x4U => unary(b, stack, F32X4, |b, x| b.ins().fcvt_to_uint_sat(I32X4, x)),
        O::I32x4TruncSatF64x2SZero => trunc_sat_f64x2_zero(b, stack, true),
        O::I32x4TruncSatF64x2UZero => trunc_sat_f64x2_zero(b, stack, false),

        // Two f64 lanes rounded to f32 in the low lanes, upper lanes zero.
        O::F32x4DemoteF64x2Zero => unary(b, stack, F64X2, |b, x| b.ins().fvdemote(x)),
        // The low two f32 lanes, exactly widened.
        O::F64x2PromoteLowF32x4 => unary(b, stack, F32X4, |b, x| b.ins().fvpromote_low(x)),

        _ => return false,
    }
    true
}

/// `i32x4.trunc_sat_f64x2_{s,u}_zero`: both f64 lanes truncated with
/// saturation to i32 (u32), in lanes 0 and 1; lanes 2 and 3 are zero.
///
/// Expressed as a saturating conversion to 64-bit lanes, then a saturating
/// narrowing (which clamps to the 32-bit range) paired with a zero vector
/// that supplies the upper lanes. Composed, the two saturations are exactly
/// wasm's: NaN gives 0 and out-of-range values the nearest bound.
fn trunc_sat_f64x2_zero(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, signed: bool) {
    let x = pop_as(b, stack, F64X2);
    let zero = vconst(b, I64X2, [0; 16]);
    let r = if signed {
        let wide = b.ins().fcvt_to_sint_sat(I64X2, x);
        b.ins().snarrow(wide, zero)
    } else {
        let wide = b.ins().fcvt_to_uint_sat(I64X2, x);
        b.ins().uunarrow(wide, zero)
    };
    push_v128(b, stack, r);
}
