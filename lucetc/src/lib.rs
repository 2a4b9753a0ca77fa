//! `lucetc`: compile a WebAssembly module ahead of time into an x86-64 ELF
//! shared object that `lucet-runtime` can load.
//!
//! The pipeline: [`decode`] validates the module with wasmparser and collects
//! its [`lucet_module::ModuleData`]; [`codegen`] translates every function
//! with our own translator ([`translate`]) and compiles them with Cranelift
//! in parallel; [`object_file`] writes code, a function table and the serialized
//! module data into one object; [`shared_object`] writes that as an ELF
//! shared object itself (no system linker or C compiler is needed), and
//! [`link`] records its code hash and writes it out.
//!
//! This crate knows nothing of slots, signals or instances: everything it
//! assumes about the runtime is in `lucet_module`.

pub mod cli;
mod code_hash;
mod codegen;
mod decode;
mod error;
mod link;
mod module_env;
mod object_file;
mod options;
pub mod shared_object;
pub mod signing;
mod translate;

pub use code_hash::record_code_hash;
pub use error::Error;
pub use lucet_module::{FuncType, ModuleData, ValType};
pub use options::{AllowedImport, Emit, OptLevel, Options, TargetCpu};
pub use shared_object::LinkError;

use module_env::ModuleEnv;
use std::path::Path;

/// The result of compiling a module: a relocatable object and its description.
pub struct Compiled {
    /// The ELF relocatable object.
    pub object: Vec<u8>,
    /// The module description embedded in it.
    pub data: ModuleData,
}

/// Read a `.wasm` binary or `.wat` text file's bytes as a wasm binary.
pub fn read_input(path: &Path) -> Result<Vec<u8>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    wasm_from_bytes(&bytes)
}

/// Accept either a wasm binary or wasm text, returning the binary.
pub fn wasm_from_bytes(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes.to_vec());
    }
    wat::parse_bytes(bytes)
        .map(|b| b.into_owned())
        .map_err(|e| {
            // wat's message spans several lines: the problem, then ` --> file:line:col`.
            let text = e.to_string();
            let mut lines = text.lines();
            let message = lines
                .next()
                .unwrap_or("unparseable text")
                .trim()
                .to_string();
            let location = lines
                .find_map(|l| l.trim().strip_prefix("--> "))
                .map(|l| l.trim_start_matches("<anon>:").to_string())
                .unwrap_or_else(|| "unknown position".into());
            Error::MalformedText { location, message }
        })
}

/// Compile a wasm binary to a relocatable object.
pub fn compile(wasm: &[u8], options: &Options) -> Result<Compiled, Error> {
    compile_for(wasm, options, options.isa()?)
}

/// [`compile`] for `isa` rather than the one `options` name (tests use it
/// for CPUs lucetc's targets exclude).
pub(crate) fn compile_for(
    wasm: &[u8],
    options: &Options,
    isa: cranelift_codegen::isa::OwnedTargetIsa,
) -> Result<Compiled, Error> {
    // A module that fails validation only for a proposal we do not
    // implement is reported as unsupported, not invalid.
    let refine = |e| decode::refine(wasm, e);
    let decoded = decode::decode(wasm, options.compile_options()).map_err(refine)?;
    options.check_imports(&decoded.data)?;
    let env = ModuleEnv::new(decoded.data, &*isa, options.relaxed_simd_deterministic)
        .ok_or_else(|| Error::Unsupported("module state too large for the vmctx".into()))?;
    let pool = options.thread_pool()?;
    let functions = pool
        .install(|| codegen::compile_functions(&env, &*isa, decoded.bodies))
        .map_err(refine)?;
    let ntypes = env.data.types.len() as u32;
    let entry = (0..ntypes)
        .map(|t| codegen::entry_trampoline(&env, &*isa, t))
        .collect::<Result<Vec<_>, _>>()?;
    let host = (0..ntypes)
        .map(|t| codegen::host_trampoline(&env, &*isa, t))
        .collect::<Result<Vec<_>, _>>()?;
    let mut data = env.data;
    for (entry, f) in data.functions.iter_mut().zip(&functions) {
        entry.code_len = f.code.len() as u32;
        entry.traps = f.traps.clone();
        entry.call_sites = f.call_sites.clone();
    }
    data.entry_landings = entry
        .iter()
        .map(|t| {
            t.call_sites
                .first()
                .copied()
                .ok_or_else(|| Error::Object("an entry trampoline without a landing pad".into()))
        })
        .collect::<Result<_, _>>()?;
    data.options.cpu_features = options::enabled_cpu_features(&*isa);
    data.validate()
        .map_err(|e| Error::Object(format!("inconsistent module data: {e}")))?;
    let object = object_file::emit(
        isa,
        &object_file::ObjectContents {
            functions: &functions,
            entry_trampolines: &entry,
            host_trampolines: &host,
            data: &data,
        },
    )?;
    Ok(Compiled { object, data })
}

/// Compile the file `input` (`.wasm` or `.wat`) to `output`, as a shared
/// object or (with [`Emit::Object`]) a relocatable object. Nothing is left at
/// `output` if compilation fails.
pub fn compile_file(input: &Path, output: &Path, options: &Options) -> Result<ModuleData, Error> {
    compile_to_file(&read_input(input)?, output, options)
}

/// Compile wasm bytes (binary or text) to `output`, as [`compile_file`] does.
pub fn compile_to_file(wasm: &[u8], output: &Path, options: &Options) -> Result<ModuleData, Error> {
    let wasm = wasm_from_bytes(wasm)?;
    let compiled = compile(&wasm, options)?;
    match options.emit {
        Emit::Object => link::write_atomically(output, &compiled.object)?,
        Emit::SharedObject => link::link_shared_object(&compiled.object, output)?,
    }
    Ok(compiled.data)
}
