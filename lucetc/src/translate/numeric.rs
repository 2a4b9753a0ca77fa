//! Lowering of WebAssembly's scalar numeric operators to Cranelift IR.
//!
//! This covers the `i32`/`i64`/`f32`/`f64` constants, comparisons,
//! arithmetic, bit operations, conversions (including the saturating
//! truncations) and the sign-extension operators. Every operator here is
//! straight-line code: it pops its operands from the value stack and
//! pushes one result, never touching control flow, memory or the vmctx.
//!
//! The wasm semantics that need care map onto Cranelift as follows (checked
//! against cranelift-codegen 0.135's instruction definitions and x64
//! lowering):
//!
//! - `sdiv`, `udiv`, `srem`, `urem` trap on a zero divisor
//!   (`INTEGER_DIVISION_BY_ZERO`) and `sdiv` on `MIN / -1`
//!   (`INTEGER_OVERFLOW`); `srem` of `MIN` by `-1` yields 0 as wasm requires.
//! - `ishl`, `sshr`, `ushr` take the shift amount modulo the type's width,
//!   as wasm does; rotates are modular by nature.
//! - `fmin`/`fmax` follow the wasm rules: NaN in gives NaN out, and
//!   `-0 < +0`.
//! - `fcvt_to_sint`/`fcvt_to_uint` trap on NaN (`BAD_CONVERSION_TO_INTEGER`)
//!   and on out-of-range values (`INTEGER_OVERFLOW`); the `_sat` forms
//!   saturate and map NaN to 0, matching `trunc_sat`.
//! - `ceil`/`floor`/`trunc`/`nearest` need SSE4.1 on x86-64, which
//!   Cranelift otherwise refuses to lower.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::types::{F32, F64, I16, I32, I64, I8};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;
use wasmparser::Operator as Op;

use super::stack::ValueStack;

/// Translate `op` if it is a scalar numeric operator; returns false (having
/// done nothing) otherwise.
pub(super) fn translate(op: &Op<'_>, b: &mut FunctionBuilder<'_>, stack: &mut ValueStack) -> bool {
    constant(op, b, stack)
        || compare(op, b, stack)
        || integer(op, b, stack)
        || float(op, b, stack)
        || conversion(op, b, stack)
}

/// `*.const`.
fn constant(op: &Op<'_>, b: &mut FunctionBuilder<'_>, stack: &mut ValueStack) -> bool {
    let v = match *op {
        // Cranelift wants an I32 immediate zero-extended: the verifier
        // rejects bits above the type's width, so a negative `i32` must not
        // be sign-extended into the `i64` immediate.
        Op::I32Const { value } => b.ins().iconst(I32, i64::from(value as u32)),
        Op::I64Const { value } => b.ins().iconst(I64, value),
        // Go through the bits so NaN payloads survive exactly.
        Op::F32Const { value } => b.ins().f32const(Ieee32::with_bits(value.bits())),
        Op::F64Const { value } => b.ins().f64const(Ieee64::with_bits(value.bits())),
        _ => return false,
    };
    stack.push(v);
    true
}

/// Comparisons, which all produce a wasm `i32` boolean.
fn compare(op: &Op<'_>, b: &mut FunctionBuilder<'_>, stack: &mut ValueStack) -> bool {
    use FloatCC as F;
    use IntCC as I;
    let flag = match *op {
        Op::I32Eqz | Op::I64Eqz => {
            let x = stack.pop();
            b.ins().icmp_imm_u(I::Equal, x, 0)
        }
        Op::I32Eq | Op::I64Eq => icmp(b, stack, I::Equal),
        Op::I32Ne | Op::I64Ne => icmp(b, stack, I::NotEqual),
        Op::I32LtS | Op::I64LtS => icmp(b, stack, I::SignedLessThan),
        Op::I32LtU | Op::I64LtU => icmp(b, stack, I::UnsignedLessThan),
        Op::I32GtS | Op::I64GtS => icmp(b, stack, I::SignedGreaterThan),
        Op::I32GtU | Op::I64GtU => icmp(b, stack, I::UnsignedGreaterThan),
        Op::I32LeS | Op::I64LeS => icmp(b, stack, I::SignedLessThanOrEqual),
        Op::I32LeU | Op::I64LeU => icmp(b, stack, I::UnsignedLessThanOrEqual),
        Op::I32GeS | Op::I64GeS => icmp(b, stack, I::SignedGreaterThanOrEqual),
        Op::I32GeU | Op::I64GeU => icmp(b, stack, I::UnsignedGreaterThanOrEqual),
        // Wasm's `ne` is true when either side is NaN and the others are
        // false; Cranelift's `NotEqual` is the unordered-or-different test
        // and the rest are ordered, which is exactly that.
        Op::F32Eq | Op::F64Eq => fcmp(b, stack, F::Equal),
        Op::F32Ne | Op::F64Ne => fcmp(b, stack, F::NotEqual),
        Op::F32Lt | Op::F64Lt => fcmp(b, stack, F::LessThan),
        Op::F32Gt | Op::F64Gt => fcmp(b, stack, F::GreaterThan),
        Op::F32Le | Op::F64Le => fcmp(b, stack, F::LessThanOrEqual),
        Op::F32Ge | Op::F64Ge => fcmp(b, stack, F::GreaterThanOrEqual),
        _ => return false,
    };
    // `icmp`/`fcmp` give an I8 of 0 or 1; wasm wants an i32.
    let v = b.ins().uextend(I32, flag);
    stack.push(v);
    true
}

fn icmp(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, cc: IntCC) -> Value {
    let (x, y) = stack.pop2();
    b.ins().icmp(cc, x, y)
}

fn fcmp(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, cc: FloatCC) -> Value {
    let (x, y) = stack.pop2();
    b.ins().fcmp(cc, x, y)
}

/// Integer arithmetic and bit operations on `i32` and `i64`. Each Cranelift
/// instruction takes its type from its operands, so one arm serves both.
fn integer(op: &Op<'_>, b: &mut FunctionBuilder<'_>, stack: &mut ValueStack) -> bool {
    match *op {
        Op::I32Clz | Op::I64Clz => unary(b, stack, |b, x| b.ins().clz(x)),
        Op::I32Ctz | Op::I64Ctz => unary(b, stack, |b, x| b.ins().ctz(x)),
        Op::I32Popcnt | Op::I64Popcnt => unary(b, stack, |b, x| b.ins().popcnt(x)),

        Op::I32Add | Op::I64Add => binary(b, stack, |b, x, y| b.ins().iadd(x, y)),
        Op::I32Sub | Op::I64Sub => binary(b, stack, |b, x, y| b.ins().isub(x, y)),
        Op::I32Mul | Op::I64Mul => binary(b, stack, |b, x, y| b.ins().imul(x, y)),
        // These trap by themselves, with the trap codes wasm needs.
        Op::I32DivS | Op::I64DivS => binary(b, stack, |b, x, y| b.ins().sdiv(x, y)),
        Op::I32DivU | Op::I64DivU => binary(b, stack, |b, x, y| b.ins().udiv(x, y)),
        Op::I32RemS | Op::I64RemS => binary(b, stack, |b, x, y| b.ins().srem(x, y)),
        Op::I32RemU | Op::I64RemU => binary(b, stack, |b, x, y| b.ins().urem(x, y)),

        Op::I32And | Op::I64And => binary(b, stack, |b, x, y| b.ins().band(x, y)),
        Op::I32Or | Op::I64Or => binary(b, stack, |b, x, y| b.ins().bor(x, y)),
        Op::I32Xor | Op::I64Xor => binary(b, stack, |b, x, y| b.ins().bxor(x, y)),
        // Cranelift masks the shift amount to the width, as wasm does.
        Op::I32Shl | Op::I64Shl => binary(b, stack, |b, x, y| b.ins().ishl(x, y)),
        Op::I32ShrS | Op::I64ShrS => binary(b, stack, |b, x, y| b.ins().sshr(x, y)),
        Op::I32ShrU | Op::I64ShrU => binary(b, stack, |b, x, y| b.ins().ushr(x, y)),
        Op::I32Rotl | Op::I64Rotl => binary(b, stack, |b, x, y| b.ins().rotl(x, y)),
        Op::I32Rotr | Op::I64Rotr => binary(b, stack, |b, x, y| b.ins().rotr(x, y)),
        _ => return false,
    }
    true
}

/// Float arithmetic on `f32` and `f64`, typed by the operands as above.
fn float(op: &Op<'_>, b: &mut FunctionBuilder<'_>, stack: &mut ValueStack) -> bool {
    match *op {
        // abs, neg and copysign only touch the sign bit, NaNs included.
        Op::F32Abs | Op::F64Abs => unary(b, stack, |b, x| b.ins().fabs(x)),
        Op::F32Neg | Op::F64Neg => unary(b, stack, |b, x| b.ins().fneg(x)),
        Op::F32Ceil | Op::F64Ceil => unary(b, stack, |b, x| b.ins().ceil(x)),
        Op::F32Floor | Op::F64Floor => unary(b, stack, |b, x| b.ins().floor(x)),
        Op::F32Trunc | Op::F64Trunc => unary(b, stack, |b, x| b.ins().trunc(x)),
        // Ties to even, as wasm's `nearest` is.
        Op::F32Nearest | Op::F64Nearest => unary(b, stack, |b, x| b.ins().nearest(x)),
        Op::F32Sqrt | Op::F64Sqrt => unary(b, stack, |b, x| b.ins().sqrt(x)),

        Op::F32Add | Op::F64Add => binary(b, stack, |b, x, y| b.ins().fadd(x, y)),
        Op::F32Sub | Op::F64Sub => binary(b, stack, |b, x, y| b.ins().fsub(x, y)),
        Op::F32Mul | Op::F64Mul => binary(b, stack, |b, x, y| b.ins().fmul(x, y)),
        Op::F32Div | Op::F64Div => binary(b, stack, |b, x, y| b.ins().fdiv(x, y)),
        // Cranelift defines these with wasm's NaN and signed-zero rules, so
        // no fix-up sequence is needed.
        Op::F32Min | Op::F64Min => binary(b, stack, |b, x, y| b.ins().fmin(x, y)),
        Op::F32Max | Op::F64Max => binary(b, stack, |b, x, y| b.ins().fmax(x, y)),
        Op::F32Copysign | Op::F64Copysign => binary(b, stack, |b, x, y| b.ins().fcopysign(x, y)),
        _ => return false,
    }
    true
}

/// Conversions between types, including the sign-extension operators.
fn conversion(op: &Op<'_>, b: &mut FunctionBuilder<'_>, stack: &mut ValueStack) -> bool {
    match *op {
        Op::I32WrapI64 => unary(b, stack, |b, x| b.ins().ireduce(I32, x)),
        Op::I64ExtendI32S => unary(b, stack, |b, x| b.ins().sextend(I64, x)),
        Op::I64ExtendI32U => unary(b, stack, |b, x| b.ins().uextend(I64, x)),

        // Sign-extend the low bits in place: narrow, then widen back.
        Op::I32Extend8S => sign_extend_low(b, stack, I8, I32),
        Op::I32Extend16S => sign_extend_low(b, stack, I16, I32),
        Op::I64Extend8S => sign_extend_low(b, stack, I8, I64),
        Op::I64Extend16S => sign_extend_low(b, stack, I16, I64),
        Op::I64Extend32S => sign_extend_low(b, stack, I32, I64),

        // Trapping truncations: Cranelift traps on NaN and out-of-range
        // input itself, and accepts values in (-1, 0] for the unsigned ones.
        Op::I32TruncF32S | Op::I32TruncF64S => unary(b, stack, |b, x| b.ins().fcvt_to_sint(I32, x)),
        Op::I32TruncF32U | Op::I32TruncF64U => unary(b, stack, |b, x| b.ins().fcvt_to_uint(I32, x)),
        Op::I64TruncF32S | Op::I64TruncF64S => unary(b, stack, |b, x| b.ins().fcvt_to_sint(I64, x)),
        Op::I64TruncF32U | Op::I64TruncF64U => unary(b, stack, |b, x| b.ins().fcvt_to_uint(I64, x)),

        // Saturating truncations: clamp to the range, NaN becomes 0.
        Op::I32TruncSatF32S | Op::I32TruncSatF64S => {
            unary(b, stack, |b, x| b.ins().fcvt_to_sint_sat(I32, x))
        }
        Op::I32TruncSatF32U | Op::I32TruncSatF64U => {
            unary(b, stack, |b, x| b.ins().fcvt_to_uint_sat(I32, x))
        }
        Op::I64TruncSatF32S | Op::I64TruncSatF64S => {
            unary(b, stack, |b, x| b.ins().fcvt_to_sint_sat(I64, x))
        }
        Op::I64TruncSatF32U | Op::I64TruncSatF64U => {
            unary(b, stack, |b, x| b.ins().fcvt_to_uint_sat(I64, x))
        }

        Op::F32ConvertI32S | Op::F32ConvertI64S => {
            unary(b, stack, |b, x| b.ins().fcvt_from_sint(F32, x))
        }
        Op::F32ConvertI32U | Op::F32ConvertI64U => {
            unary(b, stack, |b, x| b.ins().fcvt_from_uint(F32, x))
        }
        Op::F64ConvertI32S | Op::F64ConvertI64S => {
            unary(b, stack, |b, x| b.ins().fcvt_from_sint(F64, x))
        }
        Op::F64ConvertI32U | Op::F64ConvertI64U => {
            unary(b, stack, |b, x| b.ins().fcvt_from_uint(F64, x))
        }
        Op::F32DemoteF64 => unary(b, stack, |b, x| b.ins().fdemote(F32, x)),
        Op::F64PromoteF32 => unary(b, stack, |b, x| b.ins().fpromote(F64, x)),

        Op::I32ReinterpretF32 => reinterpret(b, stack, I32),
        Op::I64ReinterpretF64 => reinterpret(b, stack, I64),
        Op::F32ReinterpretI32 => reinterpret(b, stack, F32),
        Op::F64ReinterpretI64 => reinterpret(b, stack, F64),
        _ => return false,
    }
    true
}

/// Keep the low `narrow` bits of the operand and sign-extend them to `wide`.
fn sign_extend_low(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, narrow: Type, wide: Type) {
    unary(b, stack, |b, x| {
        let low = b.ins().ireduce(narrow, x);
        b.ins().sextend(wide, low)
    })
}

/// Reinterpret the operand's bits as `to`. Scalar to scalar of one size, so
/// byte order does not matter and default flags will do.
fn reinterpret(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, to: Type) {
    unary(b, stack, |b, x| b.ins().bitcast(to, MemFlagsData::new(), x))
}

/// Replace the top operand with `f` of it.
fn unary(
    b: &mut FunctionBuilder<'_>,
    stack: &mut ValueStack,
    f: impl FnOnce(&mut FunctionBuilder<'_>, Value) -> Value,
) {
    let x = stack.pop();
    let v = f(b, x);
    stack.push(v);
}

/// Replace the top two operands `x y` with `f(x, y)`.
fn binary(
    b: &mut FunctionBuilder<'_>,
    stack: &mut ValueStack,
    f: impl FnOnce(&mut FunctionBuilder<'_>, Value, Value) -> Value,
) {
    let (x, y) = stack.pop2();
    let v = f(b, x, y);
    stack.push(v);
}
