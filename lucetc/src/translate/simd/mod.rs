//! Lowering of the fixed-width SIMD operators (WebAssembly 2.0, 128-bit)
//! that do not touch memory.
//!
//! Every `v128` on the value stack is a Cranelift `I8X16`, whatever its last
//! producer thought of its lanes. An operator reinterprets its operands as the
//! lane type it works on (a bitcast, free in registers) and hands its vector
//! result back as `I8X16`, so control flow, locals and calls only ever see one
//! vector type. Scalar results are pushed as their wasm type.
//!
//! The operators are split by concern: [`lanes`] (constants, lane access,
//! shuffles, bitwise ops and the boolean reductions), [`integer`] (integer
//! lane arithmetic and comparisons), [`float`] (float lane arithmetic and
//! comparisons) and [`convert`] (changes of lane shape or type);
//! [`relaxed`] lowers relaxed SIMD, by the module's chosen mode. Loads and
//! stores and every scalar operator are left to the caller.

mod convert;
mod float;
mod integer;
mod lanes;
pub(crate) mod relaxed;
#[cfg(test)]
mod tests;

use super::stack::ValueStack;
use cranelift_codegen::ir::{self, types::I8X16, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;
use wasmparser::Operator;

/// Translate `op` if it is a non-memory SIMD operator; returns false (having
/// done nothing) otherwise.
pub(crate) fn translate(
    op: &Operator<'_>,
    b: &mut FunctionBuilder<'_>,
    stack: &mut ValueStack,
) -> bool {
    lanes::translate(op, b, stack)
        || integer::translate(op, b, stack)
        || float::translate(op, b, stack)
        || convert::translate(op, b, stack)
}

/// `v` reinterpreted as `ty`, bit for bit.
///
/// Cranelift requires an explicit byte order on a bitcast that changes the
/// lane count; little-endian is wasm's lane order, and it is accepted for
/// every other vector bitcast too, so it is always given.
pub(super) fn cast(b: &mut FunctionBuilder<'_>, ty: Type, v: Value) -> Value {
    if b.func.dfg.value_type(v) == ty {
        v
    } else {
        let little = MemFlagsData::new().with_endianness(ir::Endianness::Little);
        b.ins().bitcast(ty, little, v)
    }
}

/// Pop a `v128`, viewed as `ty`.
fn pop_as(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, ty: Type) -> Value {
    let v = stack.pop();
    cast(b, ty, v)
}

/// Pop two `v128`s, viewed as `ty`, in push order.
fn pop2_as(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, ty: Type) -> (Value, Value) {
    let (x, y) = stack.pop2();
    (cast(b, ty, x), cast(b, ty, y))
}

/// Push a vector result as the canonical `v128` type.
pub(super) fn push_v128(b: &mut FunctionBuilder<'_>, stack: &mut ValueStack, v: Value) {
    let v = cast(b, I8X16, v);
    stack.push(v);
}

/// `v128` → `v128` through `f`, on lanes of type `ty`.
fn unary(
    b: &mut FunctionBuilder<'_>,
    stack: &mut ValueStack,
    ty: Type,
    f: impl FnOnce(&mut FunctionBuilder<'_>, Value) -> Value,
) {
    let x = pop_as(b, stack, ty);
    let r = f(b, x);
    push_v128(b, stack, r);
}

/// `v128 v128` → `v128` through `f`, both operands on lanes of type `ty`.
fn binary(
    b: &mut FunctionBuilder<'_>,
    stack: &mut ValueStack,
    ty: Type,
    f: impl FnOnce(&mut FunctionBuilder<'_>, Value, Value) -> Value,
) {
    let (x, y) = pop2_as(b, stack, ty);
    let r = f(b, x, y);
    push_v128(b, stack, r);
}

/// A vector constant of type `ty` from its 16 little-endian bytes.
fn vconst(b: &mut FunctionBuilder<'_>, ty: Type, bytes: [u8; 16]) -> Value {
    let handle = b.func.dfg.constants.insert(bytes.to_vec().into());
    b.ins().vconst(ty, handle)
}
