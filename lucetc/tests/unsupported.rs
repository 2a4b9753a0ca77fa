//! A module that uses a proposal lucetc does not implement is refused as
//! unsupported, naming the proposal, the operator or section, and the
//! offset; only a module that is invalid is called invalid.

use lucetc::{compile, Error, Options};

fn refusal(wat: &str) -> Error {
    let wasm = wat::parse_str(wat).expect("the test's text parses");
    match compile(&wasm, &Options::default()) {
        Ok(_) => panic!("compiled: {wat}"),
        Err(e) => e,
    }
}

/// The refusal must be `unsupported: <proposal> (<what>) at offset N`,
/// with N the offset of the first use.
fn unsupported(wat: &str, proposal: &str, what: &str) {
    let e = refusal(wat);
    let msg = e.to_string();
    let prefix = format!("unsupported: {proposal} ({what}) at offset ");
    assert!(
        matches!(e, Error::Unsupported(_)) && msg.starts_with(&prefix),
        "{wat}\n  gave {msg:?}\n  wanted {prefix:?}N"
    );
    let offset: usize = msg[prefix.len()..].parse().expect("a decimal offset");
    let wasm = wat::parse_str(wat).unwrap();
    assert!(offset < wasm.len(), "offset {offset} inside the module");
}

#[test]
fn each_proposal_is_named_with_its_first_use() {
    let cases = [
        ("(module (type (struct)))", "gc", "type section"),
        ("(module (memory 1 1 shared))", "threads", "memory section"),
        (
            "(module (memory 1) (func (drop (i32.atomic.load (i32.const 0)))))",
            "threads",
            "i32.atomic.load",
        ),
        (
            "(module (func (param i64 i64 i64 i64) (result i64 i64)
               (i64.add128 (local.get 0) (local.get 1) (local.get 2) (local.get 3))))",
            "wide-arithmetic",
            "i64.add128",
        ),
    ];
    for (wat, proposal, what) in cases {
        unsupported(wat, proposal, what);
    }
}

#[test]
fn an_invalid_module_stays_invalid() {
    // Ill-typed, with or without a proposal in it: invalid either way.
    for wat in [
        "(module (func (result i32) (i64.const 0)))",
        "(module (memory 1) (memory 1) (func (result i32) (i64.const 0)))",
        "(module (func (block $h (try_table (catch_all $h) (i64.const 0)))))",
        // Valid only under stack switching, invalid in 3.0.
        "(module (tag (result i32)))",
    ] {
        let e = refusal(wat);
        assert!(matches!(e, Error::Invalid { .. }), "{wat}: {e}");
        assert!(e.to_string().starts_with("invalid module at offset"), "{e}");
    }
}
