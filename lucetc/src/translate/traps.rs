//! Trap codes: the ones Cranelift reserves for its own trapping
//! instructions, ours for the checks the translator emits, and the mapping
//! of both onto the runtime's [`TrapCode`] recorded in trap-site metadata.

use cranelift_codegen::ir;
use lucet_module::TrapCode;

/// `unreachable` executed.
pub(crate) const UNREACHABLE: ir::TrapCode = ir::TrapCode::unwrap_user(1);
/// A table index at or past the table's length.
pub(crate) const TABLE_OUT_OF_BOUNDS: ir::TrapCode = ir::TrapCode::unwrap_user(2);
/// `call_indirect` through a null entry.
pub(crate) const INDIRECT_CALL_TO_NULL: ir::TrapCode = ir::TrapCode::unwrap_user(3);
/// `call_indirect` through an entry of another signature.
pub(crate) const BAD_SIGNATURE: ir::TrapCode = ir::TrapCode::unwrap_user(4);
/// The run was stopped: interrupt flag or instruction budget.
pub(crate) const INTERRUPT: ir::TrapCode = ir::TrapCode::unwrap_user(5);
/// A null reference used where a value is needed.
pub(crate) const NULL_REFERENCE: ir::TrapCode = ir::TrapCode::unwrap_user(6);
/// A throw when the instance holds as many exceptions as it may.
pub(crate) const EXCEPTION_LIMIT: ir::TrapCode = ir::TrapCode::unwrap_user(7);

/// The runtime's name for a trap the code buffer recorded.
pub(crate) fn to_lucet(code: ir::TrapCode) -> TrapCode {
    match code {
        ir::TrapCode::HEAP_OUT_OF_BOUNDS => TrapCode::HeapOutOfBounds,
        ir::TrapCode::INTEGER_OVERFLOW => TrapCode::IntegerOverflow,
        ir::TrapCode::INTEGER_DIVISION_BY_ZERO => TrapCode::IntegerDivisionByZero,
        ir::TrapCode::BAD_CONVERSION_TO_INTEGER => TrapCode::BadConversionToInteger,
        ir::TrapCode::STACK_OVERFLOW => TrapCode::StackOverflow,
        TABLE_OUT_OF_BOUNDS => TrapCode::TableOutOfBounds,
        INDIRECT_CALL_TO_NULL => TrapCode::IndirectCallToNull,
        BAD_SIGNATURE => TrapCode::BadSignature,
        INTERRUPT => TrapCode::Interrupt,
        NULL_REFERENCE => TrapCode::NullReference,
        EXCEPTION_LIMIT => TrapCode::ExceptionLimit,
        // `UNREACHABLE`, and any code not listed: the guest cannot go on.
        _ => TrapCode::Unreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_the_translator_emits_keeps_its_meaning() {
        for (code, lucet) in [
            (UNREACHABLE, TrapCode::Unreachable),
            (TABLE_OUT_OF_BOUNDS, TrapCode::TableOutOfBounds),
            (INDIRECT_CALL_TO_NULL, TrapCode::IndirectCallToNull),
            (BAD_SIGNATURE, TrapCode::BadSignature),
            (INTERRUPT, TrapCode::Interrupt),
            (NULL_REFERENCE, TrapCode::NullReference),
            (EXCEPTION_LIMIT, TrapCode::ExceptionLimit),
            (ir::TrapCode::HEAP_OUT_OF_BOUNDS, TrapCode::HeapOutOfBounds),
            (ir::TrapCode::STACK_OVERFLOW, TrapCode::StackOverflow),
        ] {
            assert_eq!(to_lucet(code), lucet, "{code}");
        }
    }
}
