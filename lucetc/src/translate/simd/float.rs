//! Float lane arithmetic (`f32x4`, `f64x2`): add/sub/mul/div/sqrt, abs/neg,
//! rounding, min/max, pmin/pmax and the comparisons.
//!
//! Cranelift's vector float operations have wasm's semantics where it
//! matters: `fmin`/`fmax` return NaN if either lane is NaN and order -0
//! below +0; `nearest` rounds ties to even; `fabs`/`fneg` only touch the sign
//! bit. The x64 backend lowers each of them without calls (rounding needs
//! SSE4.1).

use super::{binary, cast, pop2_as, push_v128, unary, ValueStack};
use cranelift_codegen::ir::{
    condcodes::FloatCC,
    types::{F32X4, F64X2},
    InstBuilder, Type,
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
    let (ty, kind) = match op {
        O::F32x4Add => (F32X4, Kind::Add),
        O::F32x4Sub => (F32X4, Kind::Sub),
        O::F32x4Mul => (F32X4, Kind::Mul),
        O::F32x4Div => (F32X4, Kind::Div),
        O::F32x4Min => (F32X4, Kind::Min),
        O::F32x4Max => (F32X4, Kind::Max),
        O::F32x4PMin => (F32X4, Kind::PMin),
        O::F32x4PMax => (F32X4, Kind::PMax),
        O::F32x4Sqrt => (F32X4, Kind::Sqrt),
        O::F32x4Abs => (F32X4, Kind::Abs),
        O::F32x4Neg => (F32X4, Kind::Neg),
        O::F32x4Ceil => (F32X4, Kind::Ceil),
        O::F32x4Floor => (F32X4, Kind::Floor),
        O::F32x4Trunc => (F32X4, Kind::Trunc),
        O::F32x4Nearest => (F32X4, Kind::Nearest),
        O::F32x4Eq => (F32X4, Kind::Cmp(FloatCC::Equal)),
        O::F32x4Ne => (F32X4, Kind::Cmp(FloatCC::NotEqual)),
        O::F32x4Lt => (F32X4, Kind::Cmp(FloatCC::LessThan)),
        O::F32x4Gt => (F32X4, Kind::Cmp(FloatCC::GreaterThan)),
        O::F32x4Le => (F32X4, Kind::Cmp(FloatCC::LessThanOrEqual)),
        O::F32x4Ge => (F32X4, Kind::Cmp(FloatCC::GreaterThanOrEqual)),

        O::F64x2Add => (F64X2, Kind::Add),
        O::F64x2Sub => (F64X2, Kind::Sub),
        O::F64x2Mul => (F64X2, Kind::Mul),
        O::F64x2Div => (F64X2, Kind::Div),
        O::F64x2Min => (F64X2, Kind::Min),
        O::F64x2Max => (F64X2, Kind::Max),
        O::F64x2PMin => (F64X2, Kind::PMin),
        O::F64x2PMax => (F64X2, Kind::PMax),
        O::F64x2Sqrt => (F64X2, Kind::Sqrt),
        O::F64x2Abs => (F64X2, Kind::Abs),
        O::F64x2Neg => (F64X2, Kind::Neg),
        O::F64x2Ceil => (F64X2, Kind::Ceil),
        O::F64x2Floor => (F64X2, Kind::Floor),
        O::F64x2Trunc => (F64X2, Kind::Trunc),
        O::F64x2Nearest => (F64X2, Kind::Nearest),
        O::F64x2Eq => (F64X2, Kind::Cmp(FloatCC::Equal)),
        O::F64x2Ne => (F64X2, Kind::Cmp(FloatCC::NotEqual)),
        O::F64x2Lt => (F64X2, Kind::Cmp(FloatCC::LessThan)),
        O::F64x2Gt => (F64X2, Kind::Cmp(FloatCC::GreaterThan)),
        O::F64x2Le => (F64X2, Kind::Cmp(FloatCC::LessThanOrEqual)),
        O::F64x2Ge => (F64X2, Kind::Cmp(FloatCC::GreaterThanOrEqual)),

        _ => return false,
    };
    lower(b, stack, ty, kind);
    true
}

/// What to do with lanes of the operator's float type.
enum Kind {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
    PMin,
    PMax,
    Sqrt,
    Abs,
    Neg,
    Ceil,
    Floor,
    Trunc,
    Nearest,
    /// A comparison giving all-ones lanes where it holds. `NotEqual` is true
    /// for unordered lanes and the others false, as in wasm.
    Cmp(FloatCC),
}

fn lower(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, ty: Type, kind: Kind) {
    match kind {
        Kind::Add => binary(b, stack, ty, |b, x, y| b.ins().fadd(x, y)),
        Kind::Sub => binary(b, stack, ty, |b, x, y| b.ins().fsub(x, y)),
        Kind::Mul => binary(b, stack, ty, |b, x, y| b.ins().fmul(x, y)),
        Kind::Div => binary(b, stack, ty, |b, x, y| b.ins().fdiv(x, y)),
        Kind::Min => binary(b, stack, ty, |b, x, y| b.ins().fmin(x, y)),
        Kind::Max => binary(b, stack, ty, |b, x, y| b.ins().fmax(x, y)),
        Kind::PMin => pseudo_min_max(b, stack, ty, true),
        Kind::PMax => pseudo_min_max(b, stack, ty, false),
        Kind::Sqrt => unary(b, stack, ty, |b, x| b.ins().sqrt(x)),
        Kind::Abs => unary(b, stack, ty, |b, x| b.ins().fabs(x)),
        Kind::Neg => unary(b, stack, ty, |b, x| b.ins().fneg(x)),
        Kind::Ceil => unary(b, stack, ty, |b, x| b.ins().ceil(x)),
        Kind::Floor => unary(b, stack, ty, |b, x| b.ins().floor(x)),
        Kind::Trunc => unary(b, stack, ty, |b, x| b.ins().trunc(x)),
        Kind::Nearest => unary(b, stack, ty, |b, x| b.ins().nearest(x)),
        Kind::Cmp(cc) => binary(b, stack, ty, |b, x, y| b.ins().fcmp(cc, x, y)),
    }
}

/// `pmin(a, b) = b < a ? b : a` and `pmax(a, b) = a < b ? b : a`, lane-wise.
///
/// Unlike `min`/`max` these are plain selects: a NaN or a zero of either
/// sign in the comparison makes it false, so `a` comes back. Written as a
/// bitselect on the (bitcast) comparison mask with `b` as the chosen value,
/// which is the shape the x64 backend turns into one `minps`/`maxps`
/// (`pd`), whose "second operand unless strictly less/greater" rule is the
/// same select.
fn pseudo_min_max(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, ty: Type, min: bool) {
    let (x, y) = pop2_as(b, stack, ty);
    let take_y = if min {
        b.ins().fcmp(FloatCC::LessThan, y, x)
    } else {
        b.ins().fcmp(FloatCC::LessThan, x, y)
    };
    let take_y = cast(b, ty, take_y);
    let r = b.ins().bitselect(take_y, y, x);
    push_v128(b, stack, r);
}
