//! What a module exercises of typed function references, counted by
//! parsing it back: the figures a campaign reports and the tests require.

use std::fmt;
use wasmparser::{Operator, Parser, Payload, TableInit};

/// Counts of typed-reference features in one module or a campaign's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Modules counted.
    pub modules: u64,
    /// `call_ref` operators.
    pub call_ref: u64,
    /// `return_call_ref` operators.
    pub return_call_ref: u64,
    /// `br_on_null` operators.
    pub br_on_null: u64,
    /// `br_on_non_null` operators.
    pub br_on_non_null: u64,
    /// `ref.as_non_null` operators.
    pub ref_as_non_null: u64,
    /// `ref.is_null` operators.
    pub ref_is_null: u64,
    /// `ref.func` operators in bodies.
    pub ref_func: u64,
    /// `ref.null` operators in bodies.
    pub ref_null: u64,
    /// `select` with a type annotation.
    pub typed_select: u64,
    /// `table.get/set/grow/fill/size/copy/init` and `elem.drop`.
    pub table_ops: u64,
    /// Declared locals of a non-nullable reference type.
    pub non_null_locals: u64,
    /// Tables with an initializer expression.
    pub tables_with_init: u64,
    /// Tables of a non-nullable reference type.
    pub non_null_tables: u64,
    /// Element segments holding expressions (typed).
    pub typed_segments: u64,
}

impl Coverage {
    /// Add `other`'s counts to these.
    pub fn add(&mut self, other: &Coverage) {
        self.modules += other.modules;
        self.call_ref += other.call_ref;
        self.return_call_ref += other.return_call_ref;
        self.br_on_null += other.br_on_null;
        self.br_on_non_null += other.br_on_non_null;
        self.ref_as_non_null += other.ref_as_non_null;
        self.ref_is_null += other.ref_is_null;
        self.ref_func += other.ref_func;
        self.ref_null += other.ref_null;
        self.typed_select += other.typed_select;
        self.table_ops += other.table_ops;
        self.non_null_locals += other.non_null_locals;
        self.tables_with_init += other.tables_with_init;
        self.non_null_tables += other.non_null_tables;
        self.typed_segments += other.typed_segments;
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} modules: call_ref {}, return_call_ref {}, br_on_null {}, br_on_non_null {}, \
             ref.as_non_null {}, ref.is_null {}, ref.func {}, ref.null {}, typed select {}, \
             table operators {}; non-nullable locals {}, tables with init expr {}, \
             non-nullable tables {}, typed element segments {}",
            self.modules,
            self.call_ref,
            self.return_call_ref,
            self.br_on_null,
            self.br_on_non_null,
            self.ref_as_non_null,
            self.ref_is_null,
            self.ref_func,
            self.ref_null,
            self.typed_select,
            self.table_ops,
            self.non_null_locals,
            self.tables_with_init,
            self.non_null_tables,
            self.typed_segments
        )
    }
}

/// Count what `wasm` uses (what parses of it, if it does not all parse).
pub fn coverage(wasm: &[u8]) -> Coverage {
    let mut c = Coverage {
        modules: 1,
        ..Coverage::default()
    };
    for payload in Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::TableSection(r)) => {
                for t in r.into_iter().flatten() {
                    c.tables_with_init += matches!(t.init, TableInit::Expr(_)) as u64;
                    c.non_null_tables += !t.ty.element_type.is_nullable() as u64;
                }
            }
            Ok(Payload::ElementSection(r)) => {
                for e in r.into_iter().flatten() {
                    c.typed_segments +=
                        matches!(e.items, wasmparser::ElementItems::Expressions(..)) as u64;
                }
            }
            Ok(Payload::CodeSectionEntry(body)) => count_body(&body, &mut c),
            _ => {}
        }
    }
    c
}

fn count_body(body: &wasmparser::FunctionBody<'_>, c: &mut Coverage) {
    if let Ok(locals) = body.get_locals_reader() {
        for (n, t) in locals.into_iter().flatten() {
            if let wasmparser::ValType::Ref(r) = t {
                c.non_null_locals += if r.is_nullable() { 0 } else { n as u64 };
            }
        }
    }
    let Ok(mut ops) = body.get_operators_reader() else {
        return;
    };
    while let Ok(op) = ops.read() {
        let n = match op {
            Operator::CallRef { .. } => &mut c.call_ref,
            Operator::ReturnCallRef { .. } => &mut c.return_call_ref,
            Operator::BrOnNull { .. } => &mut c.br_on_null,
            Operator::BrOnNonNull { .. } => &mut c.br_on_non_null,
            Operator::RefAsNonNull => &mut c.ref_as_non_null,
            Operator::RefIsNull => &mut c.ref_is_null,
            Operator::RefFunc { .. } => &mut c.ref_func,
            Operator::RefNull { .. } => &mut c.ref_null,
            Operator::TypedSelect { .. } => &mut c.typed_select,
            Operator::TableGet { .. }
            | Operator::TableSet { .. }
            | Operator::TableGrow { .. }
            | Operator::TableFill { .. }
            | Operator::TableSize { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. }
            | Operator::ElemDrop { .. } => &mut c.table_ops,
            _ => continue,
        };
        *n += 1;
    }
}
