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
    /// The instance holds as many exceptions as it may.
    ExceptionLimit,
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
            TrapCode::ExceptionLimit => "too many live exceptions",
        }
    }
}

impl TrapCode {
    /// A stable snake_case identifier, for metric labels and logs that
    /// machines read (`heap_out_of_bounds`).
    pub fn id(self) -> &'static str {
        match self {
            TrapCode::HeapOutOfBounds => "heap_out_of_bounds",
            TrapCode::Unreachable => "unreachable",
            TrapCode::IntegerDivisionByZero => "integer_division_by_zero",
            TrapCode::IntegerOverflow => "integer_overflow",
            TrapCode::BadConversionToInteger => "bad_conversion_to_integer",
            TrapCode::IndirectCallToNull => "indirect_call_to_null",
            TrapCode::BadSignature => "bad_signature",
            TrapCode::TableOutOfBounds => "table_out_of_bounds",
            TrapCode::StackOverflow => "stack_overflow",
            TrapCode::Interrupt => "interrupt",
            TrapCode::HeapMisaligned => "heap_misaligned",
            TrapCode::NullReference => "null_reference",
            TrapCode::ExceptionLimit => "exception_limit",
        }
    }
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::TrapCode;

    #[test]
    fn ids_are_snake_case_and_distinct() {
        use TrapCode::*;
        let all = [
            HeapOutOfBounds,
            Unreachable,
            IntegerDivisionByZero,
            IntegerOverflow,
            BadConversionToInteger,
            IndirectCallToNull,
            BadSignature,
            TableOutOfBounds,
            StackOverflow,
            Interrupt,
            HeapMisaligned,
            NullReference,
            ExceptionLimit,
        ];
        let ids: std::collections::HashSet<_> = all.iter().map(|c| c.id()).collect();
        assert_eq!(ids.len(), all.len());
        for c in all {
            // The Debug name, snake_cased: the label stays stable if
            // someone renames the human-readable text.
            let debug = format!("{c:?}");
            let mut snake = String::new();
            for (i, ch) in debug.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(ch.to_ascii_lowercase());
            }
            assert_eq!(c.id(), snake);
        }
    }
}
