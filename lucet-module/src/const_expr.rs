//! Constant expressions: global initializers and segment offsets.

use serde::{Deserialize, Serialize};

/// One instruction of a constant expression (extended-const included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConstOp {
    /// Push an `i32`.
    I32Const(i32),
    /// Push an `i64`.
    I64Const(i64),
    /// Push an `f32`, as raw bits.
    F32Const(u32),
    /// Push an `f64`, as raw bits.
    F64Const(u64),
    /// Push a `v128`, as raw bits.
    V128Const(u128),
    /// Push a null reference.
    RefNull,
    /// Push a reference to function `n` (module function index space).
    RefFunc(u32),
    /// Push the value of global `n` (an import, or an earlier global).
    GlobalGet(u32),
    /// `i32.add`.
    I32Add,
    /// `i32.sub`.
    I32Sub,
    /// `i32.mul`.
    I32Mul,
    /// `i64.add`.
    I64Add,
    /// `i64.sub`.
    I64Sub,
    /// `i64.mul`.
    I64Mul,
}

/// A constant expression: a short stack program producing one value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstExpr(pub Vec<ConstOp>);

impl ConstExpr {
    /// The value of the expression if it needs no runtime input
    /// (a lone `i32.const`, say), as raw bits.
    pub fn as_i32(&self) -> Option<i32> {
        match self.0.as_slice() {
            [ConstOp::I32Const(v)] => Some(*v),
            _ => None,
        }
    }
}
