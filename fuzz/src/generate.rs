//! Valid modules from wasm-smith, restricted to what lucetc claims to
//! support (WebAssembly 2.0 with SIMD, tail calls, extended-const) and made
//! deterministic: every function terminates (fuel), NaNs are canonical.

use crate::rng::Rng;
use arbitrary::Unstructured;

/// Fuel the termination pass gives a whole instance (start function and
/// every call together): decremented at each function entry and loop
/// header, it traps `unreachable` at zero. It also bounds recursion depth.
pub const FUEL: u32 = 3000;

/// The wasm-smith configuration for one case: fixed proposals, with the
/// sizes drawn from `rng` so cases differ in shape.
pub fn config(rng: &mut Rng) -> wasm_smith::Config {
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
        relaxed_simd_enabled: false,
        exceptions_enabled: false,
        threads_enabled: false,
        gc_enabled: false,
        memory64_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        shared_everything_threads_enabled: false,
        custom_descriptors_enabled: false,
        ..wasm_smith::Config::default()
    };
    c.max_imports = 0;
    c.max_memories = 1;
    c.max_tables = rng.range(0, 3) as usize;
    // Bounded memories and tables: growth then fails the same way in
    // both engines instead of hitting each one's own limits.
    c.max_memory32_bytes = rng.range(1, 16) * 65536;
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

/// A valid module from `seed`, or `None` if wasm-smith could not make one
/// from the bytes drawn (rare).
pub fn module(seed: u64) -> Option<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let config = config(&mut rng);
    let n = rng.range(4 << 10, 64 << 10) as usize;
    let raw = rng.bytes(n);
    let mut u = Unstructured::new(&raw);
    let mut m = wasm_smith::Module::new(config, &mut u).ok()?;
    m.ensure_termination(FUEL).ok()?;
    Some(m.to_bytes())
}
