//! Whole-vector and single-lane operators: `v128.const`, splats, lane
//! extraction and replacement, shuffle and swizzle, the bitwise operators and
//! the reductions to a scalar (`any_true`, `all_true`, `bitmask`).

use super::{binary, cast, pop2_as, pop_as, push_v128, unary, vconst, ValueStack};
use cranelift_codegen::ir::{
    types::{F32X4, F64X2, I16, I16X8, I32, I32X4, I64X2, I8, I8X16},
    ConstantData, InstBuilder, Type,
};
use cranelift_frontend::FunctionBuilder;
use wasmparser::Operator;

/// Translate `op` if it is one of this file's operators.
pub(super) fn translate(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    stack: &mut ValueStack,
) -> bool {
    match op {
        Operator::V128Const { value } => {
            let v = vconst(b, I8X16, *value.bytes());
            stack.push(v);
        }

        // Splats: wasm hands 8- and 16-bit lanes over as an i32, so the
        // scalar is cut down to the lane width first.
        Operator::I8x16Splat => splat(b, stack, I8X16, Some(I8)),
        Operator::I16x8Splat => splat(b, stack, I16X8, Some(I16)),
        Operator::I32x4Splat => splat(b, stack, I32X4, None),
        Operator::I64x2Splat => splat(b, stack, I64X2, None),
        Operator::F32x4Splat => splat(b, stack, F32X4, None),
        Operator::F64x2Splat => splat(b, stack, F64X2, None),

        Operator::I8x16ExtractLaneS { lane } => extract(b, stack, I8X16, *lane, Extend::Signed),
        Operator::I8x16ExtractLaneU { lane } => extract(b, stack, I8X16, *lane, Extend::Unsigned),
        Operator::I16x8ExtractLaneS { lane } => extract(b, stack, I16X8, *lane, Extend::Signed),
        Operator::I16x8ExtractLaneU { lane } => extract(b, stack, I16X8, *lane, Extend::Unsigned),
        Operator::I32x4ExtractLane { lane } => extract(b, stack, I32X4, *lane, Extend::None),
        Operator::I64x2ExtractLane { lane } => extract(b, stack, I64X2, *lane, Extend::None),
        Operator::F32x4ExtractLane { lane } => extract(b, stack, F32X4, *lane, Extend::None),
        Operator::F64x2ExtractLane { lane } => extract(b, stack, F64X2, *lane, Extend::None),

        Operator::I8x16ReplaceLane { lane } => replace(b, stack, I8X16, *lane, Some(I8)),
        Operator::I16x8ReplaceLane { lane } => replace(b, stack, I16X8, *lane, Some(I16)),
        Operator::I32x4ReplaceLane { lane } => replace(b, stack, I32X4, *lane, None),
        Operator::I64x2ReplaceLane { lane } => replace(b, stack, I64X2, *lane, None),
        Operator::F32x4ReplaceLane { lane } => replace(b, stack, F32X4, *lane, None),
        Operator::F64x2ReplaceLane { lane } => replace(b, stack, F64X2, *lane, None),

        Operator::I8x16Shuffle { lanes } => {
            // Validation has bounded every index by 32, which is exactly
            // Cranelift's shuffle: 0-15 pick from `x`, 16-31 from `y`.
            let (x, y) = pop2_as(b, stack, I8X16);
            let mask = b.func.dfg.immediates.push(ConstantData::from(&lanes[..]));
            let r = b.ins().shuffle(x, y, mask);
            push_v128(b, stack, r);
        }
        // Cranelift's swizzle already yields 0 for indices of 16 and above,
        // as wasm requires.
        Operator::I8x16Swizzle => binary(b, stack, I8X16, |b, x, s| b.ins().swizzle(x, s)),

        // Bitwise operators ignore lane boundaries; any vector type does.
        Operator::V128Not => unary(b, stack, I8X16, |b, x| b.ins().bnot(x)),
        Operator::V128And => binary(b, stack, I8X16, |b, x, y| b.ins().band(x, y)),
        Operator::V128AndNot => binary(b, stack, I8X16, |b, x, y| b.ins().band_not(x, y)),
        Operator::V128Or => binary(b, stack, I8X16, |b, x, y| b.ins().bor(x, y)),
        Operator::V128Xor => binary(b, stack, I8X16, |b, x, y| b.ins().bxor(x, y)),
        Operator::V128Bitselect => {
            // wasm: (v1 & c) | (v2 & !c); Cranelift takes the mask first.
            let (v1, v2, c) = stack.pop3();
            let (v1, v2, c) = (cast(b, I8X16, v1), cast(b, I8X16, v2), cast(b, I8X16, c));
            let r = b.ins().bitselect(c, v1, v2);
            push_v128(b, stack, r);
        }

        Operator::V128AnyTrue => {
            let x = pop_as(b, stack, I8X16);
            let t = b.ins().vany_true(x);
            stack.push(b.ins().uextend(I32, t));
        }
        Operator::I8x16AllTrue => all_true(b, stack, I8X16),
        Operator::I16x8AllTrue => all_true(b, stack, I16X8),
        Operator::I32x4AllTrue => all_true(b, stack, I32X4),
        Operator::I64x2AllTrue => all_true(b, stack, I64X2),

        Operator::I8x16Bitmask => bitmask(b, stack, I8X16),
        Operator::I16x8Bitmask => bitmask(b, stack, I16X8),
        Operator::I32x4Bitmask => bitmask(b, stack, I32X4),
        Operator::I64x2Bitmask => bitmask(b, stack, I64X2),

        _ => return false,
    }
    true
}

/// How an extracted lane narrower than i32 becomes the wasm i32.
enum Extend {
    Signed,
    Unsigned,
    None,
}

/// Scalar → `v128` with every lane a copy; `narrow` is the lane type to cut
/// the i32 operand down to, for lanes narrower than it.
fn splat(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, ty: Type, narrow: Option<Type>) {
    let mut x = stack.pop();
    if let Some(lane) = narrow {
        x = b.ins().ireduce(lane, x);
    }
    let r = b.ins().splat(ty, x);
    push_v128(b, stack, r);
}

fn extract(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, ty: Type, lane: u8, ext: Extend) {
    let v = pop_as(b, stack, ty);
    let x = b.ins().extractlane(v, lane);
    let x = match ext {
        Extend::Signed => b.ins().sextend(I32, x),
        Extend::Unsigned => b.ins().uextend(I32, x),
        Extend::None => x,
    };
    stack.push(x);
}

fn replace(
    b: &mut FunctionBuilder<'_>,
    stack: &mut ValueStack,
    ty: Type,
    lane: u8,
    narrow: Option<Type>,
) {
    let (v, mut x) = stack.pop2();
    let v = cast(b, ty, v);
    if let Some(lane_ty) = narrow {
        x = b.ins().ireduce(lane_ty, x);
    }
    let r = b.ins().insertlane(v, x, lane);
    push_v128(b, stack, r);
}

/// 1 if no lane of type `ty` is zero, else 0.
fn all_true(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, ty: Type) {
    let x = pop_as(b, stack, ty);
    let t = b.ins().vall_true(x);
    stack.push(b.ins().uextend(I32, t));
}

/// The lanes' sign bits gathered into an i32, lane 0 in bit 0.
fn bitmask(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, ty: Type) {
    let x = pop_as(b, stack, ty);
    stack.push(b.ins().vhigh_bits(I32, x));
}
