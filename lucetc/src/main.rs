//! `lucetc`: compile a WebAssembly module to a shared object.
//!
//! Exit codes: 0 on success, 1 when the input is rejected or compilation
//! fails, 2 on bad command-line usage.

use clap::Parser;
use lucetc::{Emit, OptLevel, Options, TargetCpu};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "lucetc",
    version,
    about = "Compile WebAssembly to a native shared object"
)]
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
    /// Heap address space reserved per instance (e.g. 4GiB).
    #[arg(long, value_parser = lucetc::parse_size)]
    heap_reserved_size: Option<u64>,
    /// Guard region beyond the heap reservation (e.g. 4GiB, 64KiB).
    #[arg(long, value_parser = lucetc::parse_size)]
    heap_guard_size: Option<u64>,
    /// Count executed wasm instructions (readable after a run, and usable
    /// as a budget that stops it).
    #[arg(long)]
    count_instructions: bool,
    /// Compilation threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() {
    let args = Args::parse();
    let mut options = Options {
        opt_level: args.opt_level,
        target_cpu: args.target_cpu,
        emit: if args.emit == "obj" {
            Emit::Object
        } else {
            Emit::SharedObject
        },
        threads: args.threads,
        count_instructions: args.count_instructions,
        ..Options::default()
    };
    if let Some(s) = args.heap_reserved_size {
        options.heap_reserved_size = s;
    }
    if let Some(s) = args.heap_guard_size {
        options.heap_guard_size = s;
    }
    if let Err(e) = lucetc::compile_file(&args.input, &args.output, &options) {
        eprintln!("lucetc: error: {}: {e}", args.input.display());
        std::process::exit(1);
    }
}
