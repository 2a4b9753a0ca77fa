use super::{coverage, module, Coverage};
use wasmparser::{Validator, WasmFeatures};

/// Function references without GC: what the generator promises (and a
/// subset of what lucetc accepts).
fn features() -> WasmFeatures {
    WasmFeatures::WASM2 | WasmFeatures::TAIL_CALL | WasmFeatures::FUNCTION_REFERENCES
}

#[test]
fn every_module_validates_and_covers_the_proposal() {
    let mut total = Coverage::default();
    // How many modules use each feature at least once.
    let mut using = [0u32; 7];
    for seed in 0..500 {
        let wasm = module(seed);
        if let Err(e) = Validator::new_with_features(features()).validate_all(&wasm) {
            let text = hex(&wasm);
            panic!("seed {seed}: invalid module: {e}\n{text}");
        }
        let c = coverage(&wasm);
        let used = [
            c.call_ref,
            c.return_call_ref,
            c.br_on_null,
            c.br_on_non_null,
            c.ref_as_non_null,
            c.non_null_locals,
            c.tables_with_init,
        ];
        for (n, u) in using.iter_mut().zip(used) {
            *n += (u > 0) as u32;
        }
        total.add(&c);
    }
    println!("{total}");
    println!("modules using call_ref, return_call_ref, br_on_null, br_on_non_null, ref.as_non_null, non-nullable locals, tables with init: {using:?}");
    // Each in a good share of the modules, not just somewhere.
    for (name, n) in [
        "call_ref",
        "return_call_ref",
        "br_on_null",
        "br_on_non_null",
        "ref.as_non_null",
        "non-nullable local",
        "table with init expr",
    ]
    .iter()
    .zip(using)
    {
        assert!(n >= 50, "{name} in only {n} of 500 modules");
    }
    assert!(total.typed_select > 0 && total.table_ops > 0 && total.non_null_tables > 0);
}

/// The module in hex (no disassembler among the dependencies), to paste
/// into a file and print with any.
fn hex(wasm: &[u8]) -> String {
    wasm.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_same_seed_gives_the_same_module() {
    for seed in [0, 1, 42, 20261208000, u64::MAX] {
        assert_eq!(module(seed), module(seed), "seed {seed}");
    }
    assert_ne!(module(1), module(2));
}

/// lucetc compiles what the generator makes (a refusal is a generator
/// bug, or a lucetc one to report).
#[test]
fn lucetc_compiles_generated_modules() {
    for seed in 0..500 {
        let wasm = module(seed);
        let options = lucetc::Options {
            threads: Some(1),
            ..lucetc::Options::default()
        };
        if let Err(e) = crate::lucet::compile(&wasm, &options) {
            panic!("seed {seed}: lucetc refused: {e}");
        }
    }
}
