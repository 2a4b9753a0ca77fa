//! Evaluating constant expressions (global initializers, segment offsets,
//! element items) against an instance being initialized.

use crate::error::Error;
use crate::vm::instance_state::InstanceState;
use lucet_module::{ConstExpr, ConstOp, ElemItems};

/// The value a constant operator pushes, or `None` for arithmetic.
fn leaf(st: &InstanceState, op: ConstOp) -> Result<Option<u128>, Error> {
    Ok(Some(match op {
        ConstOp::I32Const(v) => v as u32 as u128,
        ConstOp::I64Const(v) => v as u64 as u128,
        ConstOp::F32Const(v) => v as u128,
        ConstOp::F64Const(v) => v as u128,
        ConstOp::V128Const(v) => v,
        ConstOp::RefNull => 0,
        ConstOp::RefFunc(f) => st.funcref_addr(f)? as u128,
        // SAFETY: a validated index; the storage is live.
        ConstOp::GlobalGet(g) => unsafe { st.global_ptr(g).read_unaligned() },
        _ => return Ok(None),
    }))
}

/// Evaluate `expr` (validated: its operators are well typed and its indices
/// in range).
pub(crate) fn eval(st: &InstanceState, expr: &ConstExpr) -> Result<u128, Error> {
    // Nearly every initializer is one operator: no stack to allocate on
    // the instantiation path.
    if let [op] = expr.0.as_slice() {
        if let Some(v) = leaf(st, *op)? {
            return Ok(v);
        }
    }
    let mut stack: Vec<u128> = Vec::with_capacity(expr.0.len());
    for op in &expr.0 {
        let v = match leaf(st, *op)? {
            Some(v) => v,
            None => {
                let b = stack.pop().unwrap_or(0);
                let a = stack.pop().unwrap_or(0);
                let (a32, b32, a64, b64) = (a as u32, b as u32, a as u64, b as u64);
                match *op {
                    ConstOp::I32Add => a32.wrapping_add(b32) as u128,
                    ConstOp::I32Sub => a32.wrapping_sub(b32) as u128,
                    ConstOp::I32Mul => a32.wrapping_mul(b32) as u128,
                    ConstOp::I64Add => a64.wrapping_add(b64) as u128,
                    ConstOp::I64Sub => a64.wrapping_sub(b64) as u128,
                    _ => a64.wrapping_mul(b64) as u128,
                }
            }
        };
        stack.push(v);
    }
    Ok(stack.pop().unwrap_or(0))
}

/// The table elements a segment's items stand for.
pub(crate) fn elem_items(st: &InstanceState, items: &ElemItems) -> Result<Vec<u64>, Error> {
    match items {
        ElemItems::Funcs(fs) => fs.iter().map(|f| st.funcref_addr(*f)).collect(),
        ElemItems::Exprs(es) => es.iter().map(|e| eval(st, e).map(|v| v as u64)).collect(),
    }
}
