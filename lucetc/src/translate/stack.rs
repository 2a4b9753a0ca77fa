//! The wasm value stack during translation: one SSA value per operand.
//!
//! Validation runs before each operator is translated, so a pop can never
//! find the stack empty; the `expect`s below state that invariant rather
//! than handle input.

use cranelift_codegen::ir::Value;

/// Operands of the function being translated, innermost last.
#[derive(Default)]
pub(crate) struct ValueStack {
    values: Vec<Value>,
}

impl ValueStack {
    /// Push one operand.
    pub fn push(&mut self, v: Value) {
        self.values.push(v);
    }

    /// Push several operands, first pushed first.
    pub fn extend(&mut self, vs: impl IntoIterator<Item = Value>) {
        self.values.extend(vs);
    }

    /// Pop the top operand.
    pub fn pop(&mut self) -> Value {
        self.values.pop().expect("validated: operand present")
    }

    /// Pop two operands, returned in push order `(a, b)` for `a op b`.
    pub fn pop2(&mut self) -> (Value, Value) {
        let b = self.pop();
        let a = self.pop();
        (a, b)
    }

    /// Pop three operands, returned in push order.
    pub fn pop3(&mut self) -> (Value, Value, Value) {
        let c = self.pop();
        let (a, b) = self.pop2();
        (a, b, c)
    }

    /// The top operand, left in place.
    pub fn peek(&self) -> Value {
        *self.values.last().expect("validated: operand present")
    }

    /// The top `n` operands, in push order, left in place.
    pub fn peekn(&self, n: usize) -> &[Value] {
        &self.values[self.values.len() - n..]
    }

    /// Pop the top `n` operands, returned in push order.
    pub fn popn(&mut self, n: usize) -> Vec<Value> {
        self.values.split_off(self.values.len() - n)
    }

    /// How many operands there are.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Drop operands down to `len`.
    pub fn truncate(&mut self, len: usize) {
        self.values.truncate(len);
    }
}
