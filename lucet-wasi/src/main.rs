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
use lucet_runtime::{
    Error, Instance, Limits, Linker, LoadOptions, Module, PublicKey, TrustedKeys, Val,
};
use lucet_wasi::{cli, invoke, WasiCtxBuilder};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

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
    dir: Vec<String>,
    /// Set an environment variable for the guest (a bare KEY passes the
    /// host's value). Repeatable. The guest sees no other variables.
    #[arg(long, value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Pass the host's whole environment to the guest.
    #[arg(long)]
    inherit_env: bool,
    /// Most linear memory the guest may use (e.g. 64MiB).
    #[arg(long, value_name = "SIZE", value_parser = lucetc::parse_size)]
    max_heap: Option<u64>,
    /// Stop the guest after this long (e.g. 500ms, 2s).
    #[arg(long, value_name = "DURATION", value_parser = cli::parse_duration)]
    timeout: Option<Duration>,
    /// Call this exported function with ARGS parsed as its parameters and
    /// print its results, one per line.
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,
    /// Refuse the module unless MODULE.minisig is a valid minisign
    /// signature by this public key (a .pub file, or the key itself as
    /// `minisign -G` prints it). Repeatable: any one of the keys will do.
    #[arg(long, value_name = "PUBKEY")]
    verify_key: Vec<String>,
    /// Refuse module files larger than this (default 256MiB).
    #[arg(long, value_name = "SIZE", value_parser = lucetc::parse_size)]
    max_module_size: Option<u64>,
    /// The compiled module (.so).
    module: PathBuf,
    /// Arguments for the guest (or for --invoke).
    #[arg(value_name = "ARGS")]
    args: Vec<String>,
}

/// Long options that take a separate value (for splitting off the
/// guest's arguments).
const TAKES_VALUE: &[&str] = &[
    "--dir",
    "--env",
    "--max-heap",
    "--timeout",
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

/// Stops the instance when the deadline passes, until dropped.
struct Watchdog {
    done: Option<mpsc::Sender<()>>,
    fired: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(after: Duration, instance: &Instance, cancel: lucet_wasi::CancelHandle) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let interrupt = instance.interrupt_handle();
        let flag = fired.clone();
        let thread = std::thread::spawn(move || {
            if rx.recv_timeout(after) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            flag.store(true, Ordering::SeqCst);
            // Repeat until the run ends, in case the first request landed
            // just before the run began.
            loop {
                cancel.cancel();
                interrupt.interrupt();
                if rx.recv_timeout(Duration::from_millis(10))
                    != Err(mpsc::RecvTimeoutError::Timeout)
                {
                    return;
                }
            }
        });
        Watchdog {
            done: Some(tx),
            fired,
            thread: Some(thread),
        }
    }

    /// Stop watching; whether the deadline had passed.
    fn finish(mut self) -> bool {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.fired.load(Ordering::SeqCst)
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
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
    let module = match Module::load_with(&args.module, &options) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };

    let mut builder = WasiCtxBuilder::new();
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
    builder = builder.arg(args.module.to_string_lossy());
    if args.invoke.is_none() {
        builder = builder.args(args.args.iter().cloned());
    }
    let mut ctx = match builder.build() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };

    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    let mut limits = Limits::default();
    if let Some(h) = args.max_heap {
        limits.heap_memory_size = h;
    }
    let mut instance = match Instance::new(&module, &linker, limits) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let cancel = ctx.cancel_handle();
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
                match invoke::parse_val(*t, s) {
                    Ok(v) => vals.push(v),
                    Err(e) => return fail(e),
                }
            }
            (name.clone(), vals)
        }
    };

    let watchdog = args.timeout.map(|t| Watchdog::start(t, &instance, cancel));
    let mut outcome = Ok(Vec::new());
    // A reactor (a library-style WASI module) is initialized before the
    // function invoked.
    if args.invoke.is_some() && module.export_func_type("_initialize").is_some() {
        outcome = instance.run("_initialize", &[]);
    }
    if outcome.is_ok() {
        outcome = instance.run(&name, &vals);
    }
    let timed_out = watchdog.is_some_and(Watchdog::finish);

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
        Err(Error::Terminated(_)) if timed_out => fail(format!(
            "timed out: the guest was stopped after {:?}",
            args.timeout.unwrap_or_default()
        )),
        Err(e) => fail(e),
    }
}
