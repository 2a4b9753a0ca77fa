//! Finding what a module uses of GC's own types and operators.
//!
//! WebAssembly 3.0 lets a constant expression read any earlier immutable
//! global, a rule it took from the GC proposal; wasmparser allows it only
//! with its GC feature on. [`super::decode`] therefore validates a module
//! that needs the rule under GC's rules, and then asks [`first_use`]
//! whether it also uses something of GC itself, which lucetc does not
//! implement: recursion groups, subtypes, struct and array types, the
//! abstract heap types `any`, `eq`, `i31`, `struct`, `array`, `none`, and
//! GC's operators. Types outside function bodies are refused as they are
//! decoded (`decode::ref_type`); this looks at the type section and at
//! every body.

use super::proposals::text_name;
use wasmparser::{BlockType, Operator, Parser, Payload, ValType};

/// The first use of GC in `wasm` (which validated), as what is used and
/// its offset; `None` if there is none.
pub(crate) fn first_use(wasm: &[u8]) -> Option<(String, usize)> {
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { break };
        let found = match payload {
            Payload::TypeSection(reader) => in_types(reader),
            Payload::CodeSectionEntry(body) => in_body(&body),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn in_types(reader: wasmparser::TypeSectionReader<'_>) -> Option<(String, usize)> {
    for group in reader.into_iter_with_offsets() {
        let Ok((offset, group)) = group else { break };
        if group.is_explicit_rec_group() {
            return Some(("recursion group".into(), offset));
        }
        for sub in group.into_types() {
            if !sub.is_final || sub.supertype_idx.is_some() {
                return Some(("subtype".into(), offset));
            }
            if !matches!(
                sub.composite_type.inner,
                wasmparser::CompositeInnerType::Func(_)
            ) {
                return Some(("struct or array type".into(), offset));
            }
        }
    }
    None
}

fn in_body(body: &wasmparser::FunctionBody<'_>) -> Option<(String, usize)> {
    let mut locals = body.get_locals_reader().ok()?;
    for _ in 0..locals.get_count() {
        let offset = locals.original_position();
        let Ok((_, t)) = locals.read() else { break };
        if is_gc_type(t) {
            return Some((format!("local of type {t}"), offset));
        }
    }
    let mut ops = body.get_operators_reader().ok()?;
    while !ops.eof() {
        let Ok((op, offset)) = ops.read_with_offset() else {
            break;
        };
        if is_gc_operator(&op) || uses_gc_type(&op) {
            return Some((text_name(&format!("{op:?}")), offset));
        }
    }
    None
}

/// Whether `t` is a reference to one of GC's abstract heap types.
fn is_gc_type(t: ValType) -> bool {
    matches!(t, ValType::Ref(r) if super::ref_type(r, 0).is_err())
}

/// Whether a non-GC operator names a GC type in its immediates: the only
/// operators with value or heap types there are these.
fn uses_gc_type(op: &Operator<'_>) -> bool {
    let block = |b: &BlockType| matches!(b, BlockType::Type(t) if is_gc_type(*t));
    match op {
        Operator::Block { blockty }
        | Operator::Loop { blockty }
        | Operator::If { blockty }
        | Operator::Try { blockty } => block(blockty),
        Operator::TryTable { try_table } => block(&try_table.ty),
        Operator::TypedSelect { ty } => is_gc_type(*ty),
        Operator::TypedSelectMulti { tys } => tys.iter().any(|t| is_gc_type(*t)),
        Operator::RefNull { hty } => is_gc_type(ValType::Ref(
            wasmparser::RefType::new(true, *hty).unwrap_or(wasmparser::RefType::ANYREF),
        )),
        _ => false,
    }
}

/// Generates [`is_gc_operator`] from wasmparser's own list of operators
/// and the proposal each belongs to, so that none is missed.
macro_rules! define_is_gc_operator {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
        /// Whether `op` is one of the GC proposal's.
        fn is_gc_operator(op: &Operator<'_>) -> bool {
            #[allow(unreachable_patterns)]
            match op {
                $( Operator::$op { .. } => stringify!($proposal) == "gc", )*
                _ => false,
            }
        }
    };
}
wasmparser::for_each_operator!(define_is_gc_operator);

#[cfg(test)]
mod tests {
    use super::first_use;

    fn scan(wat: &str) -> Option<String> {
        first_use(&wat::parse_str(wat).unwrap()).map(|(what, _)| what)
    }

    #[test]
    fn modules_without_gc_have_none() {
        assert_eq!(
            scan(
                r#"(module (type $t (func (param i32)))
                     (global $g i32 (i32.const 1)) (global i32 (global.get $g))
                     (func (param funcref) (local externref)
                       block (result (ref null $t)) ref.null $t end drop
                       (select (result funcref) (ref.null func) (local.get 0) (i32.const 0)) drop))"#
            ),
            None
        );
    }

    #[test]
    fn gc_types_and_operators_are_found() {
        let found = |wat: &str| scan(wat).unwrap_or_else(|| panic!("no GC found in {wat}"));
        assert_eq!(found("(module (type (struct)))"), "struct or array type");
        assert_eq!(found("(module (rec (type (func))))"), "recursion group");
        assert_eq!(found("(module (type (sub (func))))"), "subtype");
        assert_eq!(
            found("(module (func (local anyref)))"),
            "local of type anyref"
        );
        assert_eq!(
            found("(module (func (result i32) i32.const 1 ref.i31 i31.get_s))"),
            "ref.i31"
        );
        assert_eq!(found("(module (func ref.null any drop))"), "ref.null");
        assert_eq!(
            found("(module (func block (result eqref) ref.null eq end drop))"),
            "block"
        );
        assert_eq!(
            found("(module (func (param externref) local.get 0 any.convert_extern drop))"),
            "any.convert_extern"
        );
    }
}
