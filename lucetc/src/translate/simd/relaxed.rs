//! Relaxed SIMD (WebAssembly 3.0): operators whose result the standard
//! lets depend on the hardware, within a small set of allowed answers, so
//! each can be one fast instruction.
//!
//! Two lowerings, chosen per module by [`RelaxedSimd::deterministic`]:
//!
//! - **Native** (the default): the x86 instruction each operator was
//!   designed around: `pshufb` for the swizzle, `cvttps2dq`/`cvttpd2dq` for
//!   the signed truncations, `blendv*` for lane selects whose lanes are
//!   bytes, words of 32 or 64 bits, the `minps`-style compare-and-select for
//!   min/max, `pmulhrsw` for the Q15 multiply, `pmaddubsw` for the dot
//!   products, and a fused `vfmadd` for madd/nmadd when the target has FMA
//!   (an unfused multiply and add otherwise).
//! - **Deterministic**: each operator gives the answer of its strict
//!   counterpart (`i8x16.swizzle`, the saturating truncations,
//!   `v128.bitselect`, `fNxM.min`/`max`, `i16x8.q15mulr_sat_s`), the dot
//!   products treat both operands as signed with wrapping 16-bit sums, and
//!   madd/nmadd are always fused (through a libm call per lane where the
//!   target has no FMA). These are the choices Wasmtime's
//!   `relaxed_simd_deterministic` makes, and wasmi's.
//!
//! Either way the choice is made at compile time from the target's
//! features, and the loader refuses a CPU without them, so a compiled object
//! gives the same results on every machine that runs it. Only recompiling
//! for another target (`--target-cpu native` on a CPU with FMA, say) can
//! change a native-mode result, and deterministic mode rules that out too.

use super::{cast, pop2_as, pop_as, push_v128, vconst, ValueStack};
use crate::module_env::RelaxedSimd;
use cranelift_codegen::ir::{
    types::{F32X4, F64X2, I16X8, I32X4, I64X2, I8X16},
    InstBuilder, Type, Value,
};
use cranelift_frontend::FunctionBuilder;
use wasmparser::Operator;

/// Translate `op` if it is a relaxed SIMD operator; returns false (having
/// done nothing) otherwise.
pub(crate) fn translate(
    op: &Operator<'_>,
    mode: RelaxedSimd,
    b: &mut FunctionBuilder<'_>,
    stack: &mut ValueStack,
) -> bool {
    use Operator as O;
    let Some(strict) = strict_counterpart(op) else {
        return match op {
            O::F32x4RelaxedMadd => madd(b, stack, F32X4, false, mode),
            O::F32x4RelaxedNmadd => madd(b, stack, F32X4, true, mode),
            O::F64x2RelaxedMadd => madd(b, stack, F64X2, false, mode),
            O::F64x2RelaxedNmadd => madd(b, stack, F64X2, true, mode),
            O::I16x8RelaxedDotI8x16I7x16S => {
                let d = dot_i16(b, stack, mode);
                push_v128(b, stack, d);
                true
            }
            O::I32x4RelaxedDotI8x16I7x16AddS => {
                let acc = pop_as(b, stack, I32X4);
                let d = dot_i16(b, stack, mode);
                // Adjacent 16-bit sums widened and added, as
                // `i32x4.extadd_pairwise_i16x8_s` does, then the accumulator.
                let d = super::integer::pairwise_sum(b, d, true);
                let r = b.ins().iadd(d, acc);
                push_v128(b, stack, r);
                true
            }
            _ => false,
        };
    };
    if mode.deterministic {
        return super::translate(&strict, b, stack);
    }
    match op {
        // Indices of 16 and above pick a lane modulo 16, or zero when bit 7
        // is set: both allowed.
        O::I8x16RelaxedSwizzle => {
            let (x, s) = pop2_as(b, stack, I8X16);
            let r = b.ins().x86_pshufb(x, s);
            push_v128(b, stack, r);
        }
        // NaN and out-of-range lanes become i32::MIN, an allowed answer.
        O::I32x4RelaxedTruncF32x4S => {
            let x = pop_as(b, stack, F32X4);
            let r = b.ins().x86_cvtt2dq(I32X4, x);
            push_v128(b, stack, r);
        }
        O::I32x4RelaxedTruncF64x2SZero => {
            let x = pop_as(b, stack, F64X2);
            // The backend turns this narrowing of a `cvtt` into one
            // `cvttpd2dq`, which zeroes the upper lanes itself.
            let wide = b.ins().x86_cvtt2dq(I64X2, x);
            let zero = vconst(b, I64X2, [0; 16]);
            let r = b.ins().snarrow(wide, zero);
            push_v128(b, stack, r);
        }
        // Selection by each mask lane's top bit, where x86 has a blend of
        // that lane width; words have none, so they take the bitwise select.
        O::I8x16RelaxedLaneselect => laneselect(b, stack, I8X16),
        O::I32x4RelaxedLaneselect => laneselect(b, stack, I32X4),
        O::I64x2RelaxedLaneselect => laneselect(b, stack, I64X2),
        // `minps`/`maxps` semantics: the second operand when either is NaN
        // or both are zeros — exactly wasm's pmin/pmax.
        O::F32x4RelaxedMin => return super::translate(&O::F32x4PMin, b, stack),
        O::F32x4RelaxedMax => return super::translate(&O::F32x4PMax, b, stack),
        O::F64x2RelaxedMin => return super::translate(&O::F64x2PMin, b, stack),
        O::F64x2RelaxedMax => return super::translate(&O::F64x2PMax, b, stack),
        // -1.0 * -1.0 gives 0x8000 rather than saturating: allowed.
        O::I16x8RelaxedQ15mulrS => {
            let (x, y) = pop2_as(b, stack, I16X8);
            let r = b.ins().x86_pmulhrsw(x, y);
            push_v128(b, stack, r);
        }
        // The unsigned truncations (no x86 instruction) and 16-bit selects.
        _ => return super::translate(&strict, b, stack),
    }
    true
}

/// The strict operator whose answer is always an allowed answer of `op`
/// (the deterministic lowering), for the operators that have one.
fn strict_counterpart(op: &Operator<'_>) -> Option<Operator<'static>> {
    use Operator as O;
    Some(match op {
        O::I8x16RelaxedSwizzle => O::I8x16Swizzle,
        O::I32x4RelaxedTruncF32x4S => O::I32x4TruncSatF32x4S,
        O::I32x4RelaxedTruncF32x4U => O::I32x4TruncSatF32x4U,
        O::I32x4RelaxedTruncF64x2SZero => O::I32x4TruncSatF64x2SZero,
        O::I32x4RelaxedTruncF64x2UZero => O::I32x4TruncSatF64x2UZero,
        O::I8x16RelaxedLaneselect
        | O::I16x8RelaxedLaneselect
        | O::I32x4RelaxedLaneselect
        | O::I64x2RelaxedLaneselect => O::V128Bitselect,
        O::F32x4RelaxedMin => O::F32x4Min,
        O::F32x4RelaxedMax => O::F32x4Max,
        O::F64x2RelaxedMin => O::F64x2Min,
        O::F64x2RelaxedMax => O::F64x2Max,
        O::I16x8RelaxedQ15mulrS => O::I16x8Q15MulrSatS,
        _ => return None,
    })
}

/// `a b m` → lanes of `a` where `m`'s lane has its top bit set, else `b`.
fn laneselect(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, ty: Type) {
    let (x, y, m) = stack.pop3();
    let (x, y, m) = (cast(b, ty, x), cast(b, ty, y), cast(b, ty, m));
    let r = b.ins().blendv(m, x, y);
    push_v128(b, stack, r);
}

/// `a b c` → `±a*b + c` per lane (`negate` for nmadd): fused where the
/// target can, or where the mode must be deterministic.
fn madd(
    b: &mut FunctionBuilder<'_>,
    stack: &mut ValueStack,
    ty: Type,
    negate: bool,
    mode: RelaxedSimd,
) -> bool {
    let (x, y, z) = stack.pop3();
    let (x, y, z) = (cast(b, ty, x), cast(b, ty, y), cast(b, ty, z));
    let x = if negate { b.ins().fneg(x) } else { x };
    let r = if mode.deterministic || mode.fma {
        b.ins().fma(x, y, z)
    } else {
        let p = b.ins().fmul(x, y);
        b.ins().fadd(p, z)
    };
    push_v128(b, stack, r);
    true
}

/// Pop `a b` (i8x16) and return the i16x8 sums of adjacent products.
///
/// The second operand is meant to hold 7-bit values; for larger ones the
/// standard allows treating it as signed or unsigned, and the sums as
/// wrapping or saturating. Native: `pmaddubsw` (first operand signed,
/// second unsigned, saturating sums). Deterministic: both signed, wrapping.
fn dot_i16(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, mode: RelaxedSimd) -> Value {
    let (x, y) = pop2_as(b, stack, I8X16);
    if !mode.deterministic {
        return b.ins().x86_pmaddubsw(x, y);
    }
    super::integer::signed_dot(b, x, y)
}
