//! `lucet-wasi`: run a WebAssembly program compiled by `lucetc-wasi`.
//!
//! `lucet-wasi [OPTIONS] MODULE.so [ARGS]...` runs the module's `_start`
//! with WASI; everything after the module is the guest's arguments
//! (`argv[0]` is the module path as given).
//!
//! `--verify-key PUBKEY` loads the module only if its detached minisign
//! signature (`MODULE.minisig`) verifies with that key.
//!
//! Exit codes: the guest's exit code when it exits (0 when `_start`
//! returns, or when `--invoke` returns); 1 for a trap, a timeout, a bad
//! module or one whose signature was required and does not verify; 2 for
//! bad usage.

use clap::Parser;
use lucet_module::units::{parse_duration, parse_size};
use lucet_runtime::{
    Error, Limits, Linker, LoadOptions, Module, PublicKey, Region, Termination, TrustedKeys, Val,
};
use lucet_wasi::{cli, invoke, WasiCtxBuilder, DEFAULT_MAX_FDS};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "lucet-wasi",
    version,
    about = "Run a WebAssembly program compiled by lucetc-wasi",
    override_usage = "lucet-wasi [OPTIONS] MODULE.so [ARGS]..."
)]
struct Args {
    /// Give the guest the host directory HOST, named GUEST inside (default:
    /// HOST). Repeatable. Example: --dir ./data::/data
    #[arg(long, value_name = "HOST[::GUEST]")]
    dir: Vec<OsString>,
    /// Set an environment variable for the guest (a bare KEY passes the
    /// host's value). Repeatable. The guest sees no other variables.
    #[arg(long, value_name = "KEY=VALUE")]
    env: Vec<OsString>,
    /// Pass the host's whole environment to the guest.
    #[arg(long)]
    inherit_env: bool,
    /// Give the guest a TCP socket listening on ADDR (e.g. 127.0.0.1:8080),
    /// on which it can accept connections. Repeatable.
    #[arg(long, value_name = "ADDR")]
    tcplisten: Vec<String>,
    /// Most descriptors the guest may hold open at once, its standard
    /// streams, directories and sockets included; past it, opening more
    /// fails with EMFILE.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_FDS)]
    max_fds: usize,
    /// Most linear memory the guest may use, e.g. 64MiB (a bare number is
    /// bytes; KiB/MiB/GiB are powers of 1024, KB/MB/GB of 1000).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_heap: Option<u64>,
    /// Stop the guest after this long, e.g. 500ms or 2s (a unit is
    /// required), even while it waits in a WASI call.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Stop the guest once it has used this much CPU time, e.g. 100ms (a
    /// unit is required): time it spends computing, in its own code or in
    /// WASI calls, not time it waits (sleeping, blocked on input) or waits
    /// for a core on a busy machine.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    cpu_time: Option<Duration>,
    /// Call this exported function with ARGS parsed as its parameters and
    /// print its results, one per line.
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,
    /// Refuse the module unless MODULE.minisig is a valid minisign
    /// signature by this public key (a .pub file, or the key itself as
    /// `minisign -G` prints it). Repeatable: any one of the keys will do.
    #[arg(long, value_name = "PUBKEY")]
    verify_key: Vec<String>,
    /// Refuse module files larger than this (default 256MiB; a bare number
    /// is bytes).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_module_size: Option<u64>,
    /// The compiled module (.so).
    module: PathBuf,
    /// Arguments for the guest (or for --invoke).
    #[arg(value_name = "ARGS")]
    args: Vec<OsString>,
}

/// Long options that take a separate value (for splitting off the
/// guest's arguments).
const TAKES_VALUE: &[&str] = &[
    "--dir",
    "--env",
    "--tcplisten",
    "--max-fds",
    "--max-heap",
    "--timeout",
    "--cpu-time",
    "--invoke",
    "--verify-key",
    "--max-module-size",
];

/// A public key given on the command line: a file, or the base64 key.
fn public_key(arg: &str) -> Result<PublicKey, Error> {
    let looks_like_key = arg.len() == 56 && arg.starts_with("RW");
    if looks_like_key && !std::path::Path::new(arg).exists() {
        PublicKey::from_base64(arg)
    } else {
        PublicKey::from_file(arg)
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let (head, guest_args) = cli::split_guest_args(&argv, TAKES_VALUE);
    let mut args = Args::parse_from(head);
    args.args = guest_args;

    let mut options = LoadOptions::unverified();
    if !args.verify_key.is_empty() {
        let mut keys = TrustedKeys::new();
        for k in &args.verify_key {
            match public_key(k) {
                Ok(key) => keys.add(key),
                Err(e) => return fail(e),
            }
        }
        options = LoadOptions::verified(keys);
    }
    if let Some(max) = args.max_module_size {
        options = options.max_file_size(max);
    }
    // SAFETY: without --verify-key, the user runs the object they name, as
    // they would run a native program: its code is theirs to vouch for.
    // With keys, the signature is required.
    let module = match unsafe { Module::load_with(&args.module, &options) } {
        Ok(m) => m,
        Err(e) => return fail(e),
    };

    let mut builder = WasiCtxBuilder::new().max_fds(args.max_fds);
    if args.inherit_env {
        builder = builder.inherit_env();
    }
    for e in &args.env {
        match cli::parse_env(e) {
            Ok(Some((k, v))) => builder = builder.env(k, v),
            Ok(None) => {}
            Err(msg) => {
                eprintln!("error: {msg}");
                return ExitCode::from(2);
            }
        }
    }
    for d in &args.dir {
        let (host, guest) = cli::parse_dir(d);
        builder = builder.preopened_dir(host, guest);
    }
    for addr in &args.tcplisten {
        match std::net::TcpListener::bind(addr) {
            Ok(l) => builder = builder.preopened_socket(l),
            Err(e) => return fail(format!("cannot listen on {addr}: {e}")),
        }
    }
    builder = builder.arg(&args.module);
    if args.invoke.is_none() {
        builder = builder.args(&args.args);
    }
    let ctx = match builder.build() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };

    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    let mut limits = Limits::default();
    // The slot reserves what the module was compiled for (a larger
    // `--heap-reserved-size`, for a 64-bit memory past 4 GiB, say); the
    // accessible heap stays bounded by --max-heap.
    let opts = &module.data().options;
    limits.heap_address_space_size = limits
        .heap_address_space_size
        .max(opts.heap_reserved_size.saturating_add(opts.heap_guard_size));
    if let Some(h) = args.max_heap {
        limits.heap_memory_size = h;
    }
    // The start function runs below, under the timeout like any run.
    let mut instance = match Region::new(1, limits)
        .and_then(|region| region.instantiate_unstarted(&module, &linker))
    {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    instance.set_context(ctx);

    let (name, vals) = match &args.invoke {
        None => ("_start".to_string(), Vec::new()),
        Some(name) => {
            let Some(ty) = module.export_func_type(name).cloned() else {
                return fail(format!("no exported function named {name:?}"));
            };
            if ty.params.len() != args.args.len() {
                return fail(format!(
                    "{name} takes {} arguments {ty}, {} given",
                    ty.params.len(),
                    args.args.len()
                ));
            }
            let mut vals: Vec<Val> = Vec::new();
            for (t, s) in ty.params.iter().zip(&args.args) {
                let parsed = match s.to_str() {
                    Some(s) => invoke::parse_val(*t, s),
                    None => Err(format!("argument {s:?} is not UTF-8")),
                };
                match parsed {
                    Ok(v) => vals.push(v),
                    Err(e) => return fail(e),
                }
            }
            (name.clone(), vals)
        }
    };

    // The runtime stops a run at its deadline, wherever the guest is (in
    // its own code or waiting in a WASI call). The start function, a
    // reactor's `_initialize` and the function invoked share the time
    // allowed.
    // The CPU time allowed is shared the same way.
    let started = Instant::now();
    let left = || args.timeout.map(|t| t.saturating_sub(started.elapsed()));
    let mut cpu_spent = Duration::ZERO;
    let cpu_left = |spent: Duration| args.cpu_time.map(|c| c.saturating_sub(spent));
    instance.set_deadline(left());
    instance.set_cpu_time_limit(cpu_left(cpu_spent));
    let mut outcome = instance.start().map(|()| Vec::new());
    cpu_spent += instance.cpu_time_used();
    if outcome.is_ok() && args.invoke.is_some() && module.export_func_type("_initialize").is_some()
    {
        instance.set_deadline(left());
        instance.set_cpu_time_limit(cpu_left(cpu_spent));
        outcome = instance.run("_initialize", &[]);
        cpu_spent += instance.cpu_time_used();
    }
    if outcome.is_ok() {
        instance.set_deadline(left());
        instance.set_cpu_time_limit(cpu_left(cpu_spent));
        outcome = instance.run(&name, &vals);
        cpu_spent += instance.cpu_time_used();
    }
    let elapsed = started.elapsed();

    match outcome {
        Ok(results) => {
            if args.invoke.is_some() {
                for r in results {
                    println!("{r}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(Error::Exit(code)) => ExitCode::from(code as u8),
        Err(Error::Terminated(Termination::Deadline { .. })) => fail(format!(
            "timed out: the guest was stopped after {elapsed:.3?} (--timeout {:?})",
            args.timeout.unwrap_or_default()
        )),
        Err(Error::Terminated(Termination::CpuTime { .. })) => fail(format!(
            "out of CPU time: the guest was stopped after {cpu_spent:.3?} of CPU \
             (--cpu-time {:?})",
            args.cpu_time.unwrap_or_default()
        )),
        Err(e) => fail(e),
    }
}
