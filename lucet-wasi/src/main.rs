//! `lucet-wasi`: run a compiled WebAssembly program.
//!
//! Exit codes: the guest's exit code when it exits; 0 when `--invoke`
//! returns; 1 for a trap, a timeout or a bad module; 2 for bad usage.

use clap::Parser;
use lucet_runtime::{Error, Instance, Limits, Linker, Module};
use std::path::PathBuf;
use std::process::ExitCode;

use lucet_wasi::invoke;
#[derive(Parser)]
#[command(name = "lucet-wasi", version, about = "Run a WebAssembly program compiled by lucetc")]
struct Args {
    /// Call this exported function with ARGS parsed as its parameters and
    /// print its results, one per line.
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,
    /// The compiled module (.so).
    module: PathBuf,
    /// Arguments for the guest (or for --invoke).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let module = match Module::load(&args.module) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let linker = Linker::new();
    let mut instance = match Instance::new(&module, &linker, Limits::default()) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let Some(name) = args.invoke else {
        return fail("WASI programs are not supported yet; use --invoke NAME");
    };
    let Some(ty) = module.export_func_type(&name).cloned() else {
        return fail(format!("no exported function named {name:?}"));
    };
    if ty.params.len() != args.args.len() {
        return fail(format!("{name} takes {} arguments {ty}, {} given", ty.params.len(), args.args.len()));
    }
    let mut vals = Vec::new();
    for (t, s) in ty.params.iter().zip(&args.args) {
        match invoke::parse_val(*t, s) {
            Ok(v) => vals.push(v),
            Err(e) => return fail(e),
        }
    }
    match instance.run(&name, &vals) {
        Ok(results) => {
            for r in results {
                println!("{r}");
            }
            ExitCode::SUCCESS
        }
        Err(Error::Exit(code)) => ExitCode::from(code as u8),
        Err(e) => fail(e),
    }
}
