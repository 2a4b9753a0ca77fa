//! The command line shared by `lucetc` and `lucetc-wasi`: they differ only
//! in their name and in the imports they allow.
//!
//! Exit codes: 0 on success, 1 when the input is rejected or compilation
//! fails, 2 on bad command-line usage.

use crate::{AllowedImport, Emit, OptLevel, Options, TargetCpu};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "Compile WebAssembly to a native shared object")]
struct Args {
    /// Input module, binary (.wasm) or text (.wat).
    input: PathBuf,
    /// Output file.
    #[arg(short, long)]
    output: PathBuf,
    /// What to write: `so` (shared object) or `obj` (relocatable object).
    #[arg(long, default_value = "so", value_parser = ["so", "obj"])]
    emit: String,
    /// Optimization level: none, speed, speed_and_size.
    #[arg(long, default_value = "speed")]
    opt_level: OptLevel,
    /// Target CPU: baseline (x86-64-v2) or native.
    #[arg(long, default_value = "baseline")]
    target_cpu: TargetCpu,
    /// Heap address space reserved per instance (default 4GiB).
    #[arg(long, value_parser = crate::parse_size)]
    heap_reserved_size: Option<u64>,
    /// Guard region beyond the heap reservation (default 32MiB); static
    /// offsets beyond it get an explicit bounds check.
    #[arg(long, value_parser = crate::parse_size)]
    heap_guard_size: Option<u64>,
    /// Count executed wasm instructions (readable after a run, and usable
    /// as a budget that stops it).
    #[arg(long)]
    count_instructions: bool,
    /// Leave out the conditional moves that stop speculative out-of-bounds
    /// reads after table and heap bounds checks (on by default).
    #[arg(long)]
    no_spectre_guards: bool,
    /// Compilation threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// Parse the command line, compile, and exit: the whole of a compiler
/// binary called `name` that allows `allowed_imports` (all, if `None`).
pub fn main(name: &str, allowed_imports: Option<Vec<AllowedImport>>) -> ! {
    let args = Args::parse_from(std::iter::once(name.into()).chain(std::env::args_os().skip(1)));
    let defaults = Options::default();
    let options = Options {
        opt_level: args.opt_level,
        target_cpu: args.target_cpu,
        emit: if args.emit == "obj" {
            Emit::Object
        } else {
            Emit::SharedObject
        },
        threads: args.threads,
        count_instructions: args.count_instructions,
        spectre_guards: !args.no_spectre_guards,
        heap_reserved_size: args
            .heap_reserved_size
            .unwrap_or(defaults.heap_reserved_size),
        heap_guard_size: args.heap_guard_size.unwrap_or(defaults.heap_guard_size),
        allowed_imports,
        ..defaults
    };
    match crate::compile_file(&args.input, &args.output, &options) {
        Ok(_) => std::process::exit(0),
        Err(e @ crate::Error::Io { .. }) => {
            eprintln!("{name}: error: {e}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("{name}: error: {}: {e}", args.input.display());
            std::process::exit(1);
        }
    }
}
