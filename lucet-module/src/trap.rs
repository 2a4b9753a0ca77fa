//! Trap codes shared by the compiler's trap tables and the runtime's errors.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why guest code stopped at a trap site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrapCode {
    /// Linear memory accessed out of bounds.
    HeapOutOfBounds,
    /// `unreachable` executed.
    Unreachable,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero,
    /// Signed integer overflow (`INT_MIN / -1`).
    IntegerOverflow,
    /// Float-to-int conversion of NaN or an out-of-range value.
    BadConversionToInteger,
    /// `call_indirect` to a null table entry.
    IndirectCallToNull,
    /// `call_indirect` whose entry has another signature.
    BadSignature,
    /// Table index out of bounds.
    TableOutOfBounds,
    /// The guest stack is exhausted.
    StackOverflow,
    /// The run was stopped by the embedder (kill switch, deadline, budget).
    Interrupt,
    /// Misaligned atomic access.
    HeapMisaligned,
    /// A null reference was dereferenced.
    NullReference,
}

impl TrapCode {
    /// A short, stable, human-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            TrapCode::HeapOutOfBounds => "out of bounds memory access",
            TrapCode::Unreachable => "unreachable executed",
            TrapCode::IntegerDivisionByZero => "integer divide by zero",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::IndirectCallToNull => "indirect call to null",
            TrapCode::BadSignature => "indirect call type mismatch",
            TrapCode::TableOutOfBounds => "undefined element: table index out of bounds",
            TrapCode::StackOverflow => "call stack exhausted",
            TrapCode::Interrupt => "interrupted",
            TrapCode::HeapMisaligned => "unaligned atomic",
            TrapCode::NullReference => "null reference",
        }
    }
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
