//! Valid modules from wasm-smith, restricted to what lucetc claims to
//! support (WebAssembly 2.0 with SIMD, tail calls, extended-const,
//! memory64, multi-memory, and on request exceptions, which wasmi lacks: those modules
//! are compared with Wasmtime by `fuzz/triage`) and made deterministic:
//! every function terminates (fuel), NaNs are canonical.

use crate::rng::Rng;
use arbitrary::Unstructured;

/// Fuel the termination pass gives a whole instance (start function and
/// every call together): decremented at each function entry and loop
/// header, it traps `unreachable` at zero. It also bounds recursion depth.
pub const FUEL: u32 = 3000;

/// The wasm-smith configuration for one case: fixed proposals (exceptions
/// if `exceptions`), with the sizes drawn from `rng` so cases differ in
/// shape.
pub fn config(rng: &mut Rng, exceptions: bool) -> wasm_smith::Config {
    // Start from wasm-smith's defaults (all stage-4 proposals on) and
    // switch off everything lucetc does not claim.
    let mut c = wasm_smith::Config {
        bulk_memory_enabled: true,
        reference_types_enabled: true,
        simd_enabled: true,
        multi_value_enabled: true,
        saturating_float_to_int_enabled: true,
        sign_extension_ops_enabled: true,
        tail_call_enabled: true,
        extended_const_enabled: true,
        // Not here: wasm-smith canonicalizes NaNs after strict float
        // operators but not after relaxed ones (min/max/madd), so a NaN's
        // payload, which WebAssembly leaves open, would reach memory and
        // differ between engines. Relaxed SIMD is compared with wasmi per
        // operator instead (`operators`, NaN lanes as any NaN) and against
        // the standard's allowed answers (tests/tests/relaxed_simd.rs).
        relaxed_simd_enabled: false,
        exceptions_enabled: exceptions,
        threads_enabled: false,
        gc_enabled: false,
        memory64_enabled: true,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        shared_everything_threads_enabled: false,
        custom_descriptors_enabled: false,
        ..wasm_smith::Config::default()
    };
    c.max_imports = 0;
    // Multi-memory: up to three memories (wasmi runs it too).
    c.max_memories = rng.range(1, 3) as usize;
    c.max_tables = rng.range(0, 3) as usize;
    // Bounded memories and tables: growth then fails the same way in
    // both engines instead of hitting each one's own limits.
    c.max_memory32_bytes = rng.range(1, 16) * 65536;
    c.max_memory64_bytes = u128::from(rng.range(1, 16) * 65536);
    c.memory_max_size_required = true;
    c.max_table_elements = 64;
    c.table_max_size_required = true;
    c.min_types = 1;
    c.min_funcs = 1;
    c.max_funcs = rng.range(1, 24) as usize;
    c.max_globals = rng.range(0, 12) as usize;
    c.max_data_segments = rng.range(0, 8) as usize;
    c.max_element_segments = rng.range(0, 8) as usize;
    c.max_elements = 32;
    c.max_instructions = rng.range(10, 600) as usize;
    c.max_types = 24;
    c.allow_start_export = true;
    c.export_everything = true;
    c.canonicalize_nans = true;
    c.disallow_traps = rng.chance(1, 3);
    c
}

/// The export that gives the module its fuel back: the harness calls it
/// before every call, so a loop that ran one call out of fuel does not
/// make every later call trap at its first instruction.
pub const REFUEL: &str = "lucet_fuzz_refuel";

/// A valid module from `seed`, or `None` if wasm-smith could not make one
/// from the bytes drawn (rare). It exports [`REFUEL`] (unless it has no
/// function, type, export or code section to add it to).
pub fn module(seed: u64) -> Option<Vec<u8>> {
    module_with(seed, false)
}

/// [`module`], with exceptions (tags, `throw`, `throw_ref`, `try_table`)
/// when `exceptions`.
pub fn module_with(seed: u64, exceptions: bool) -> Option<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let config = config(&mut rng, exceptions);
    let n = rng.range(4 << 10, 64 << 10) as usize;
    let raw = rng.bytes(n);
    let mut u = Unstructured::new(&raw);
    let mut m = wasm_smith::Module::new(config, &mut u).ok()?;
    let fuel = m.ensure_termination(FUEL).ok()?;
    let bytes = m.to_bytes();
    Some(add_refuel(&bytes, fuel).unwrap_or(bytes))
}

/// Re-encode `wasm` with one more function, exported as [`REFUEL`], that
/// sets global `fuel` back to [`FUEL`].
fn add_refuel(wasm: &[u8], fuel: u32) -> Option<Vec<u8>> {
    use wasm_encoder::reencode::{utils, Error, Reencode};
    struct Refuel {
        fuel: u32,
        ty: Option<u32>,
        func: Option<u32>,
    }
    impl Reencode for Refuel {
        type Error = std::convert::Infallible;
        fn parse_type_section(
            &mut self,
            types: &mut wasm_encoder::TypeSection,
            section: wasmparser::TypeSectionReader<'_>,
        ) -> Result<(), Error<Self::Error>> {
            utils::parse_type_section(self, types, section)?;
            self.ty = Some(types.len());
            types.ty().function([], []);
            Ok(())
        }
        fn parse_function_section(
            &mut self,
            funcs: &mut wasm_encoder::FunctionSection,
            section: wasmparser::FunctionSectionReader<'_>,
        ) -> Result<(), Error<Self::Error>> {
            utils::parse_function_section(self, funcs, section)?;
            // No imports: the index space is the defined functions.
            if let Some(ty) = self.ty {
                self.func = Some(funcs.len());
                funcs.function(ty);
            }
            Ok(())
        }
        fn parse_export_section(
            &mut self,
            exports: &mut wasm_encoder::ExportSection,
            section: wasmparser::ExportSectionReader<'_>,
        ) -> Result<(), Error<Self::Error>> {
            utils::parse_export_section(self, exports, section)?;
            if let Some(f) = self.func {
                exports.export(REFUEL, wasm_encoder::ExportKind::Func, f);
            }
            Ok(())
        }
        fn parse_code_section(
            &mut self,
            code: &mut wasm_encoder::CodeSection,
            section: wasmparser::CodeSectionReader<'_>,
        ) -> Result<(), Error<Self::Error>> {
            utils::parse_code_section(self, code, section)?;
            if self.func.is_some() {
                let mut f = wasm_encoder::Function::new([]);
                f.instructions()
                    .i32_const(FUEL as i32)
                    .global_set(self.fuel)
                    .end();
                code.function(&f);
            }
            Ok(())
        }
    }
    let mut r = Refuel {
        fuel,
        ty: None,
        func: None,
    };
    let mut module = wasm_encoder::Module::new();
    r.parse_core_module(&mut module, wasmparser::Parser::new(0), wasm)
        .ok()?;
    let out = module.finish();
    // All four sections must have taken the new function, or none.
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&out)
        .ok()?;
    Some(out)
}

/// How many `throw`, `throw_ref` and `try_table` operators `wasm`'s
/// function bodies hold (0 if it does not parse): what a campaign with
/// exceptions exercises.
pub fn exception_operators(wasm: &[u8]) -> usize {
    let mut n = 0;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(wasmparser::Payload::CodeSectionEntry(body)) = payload else {
            continue;
        };
        let Ok(mut ops) = body.get_operators_reader() else {
            continue;
        };
        while let Ok(op) = ops.read() {
            n += matches!(
                op,
                wasmparser::Operator::Throw { .. }
                    | wasmparser::Operator::ThrowRef
                    | wasmparser::Operator::TryTable { .. }
            ) as usize;
        }
    }
    n
}
