//! `lucet-serve`: serve WebAssembly handlers over HTTP, a fresh instance
//! per request. See the library documentation for the configuration.

use anyhow::{Context, Result};
use clap::Parser;
use lucet_serve::logging::BatchedStderr;
use lucet_serve::{ConfigBuilder, Server};
use std::path::PathBuf;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

// Every request allocates a few dozen small objects (CGI variables, the
// WASI context, hyper's buffers) on one thread and frees some on another;
// mimalloc's thread-local free lists handle that pattern with less work
// than glibc's malloc (which showed as ~9% of the server's CPU).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "lucet-serve",
    version,
    about = "Serve WebAssembly (WASI) handlers over HTTP, each request in a fresh instance",
    after_help = "Example:\n  lucet-serve --listen 127.0.0.1:8080 --deadline 50ms \\\n      --route /hello=lucet-serve/handlers/wasm/hello.wasm\n\n\
                  Logs go to stderr, one line per request; set the level with RUST_LOG \
                  (e.g. RUST_LOG=warn logs failures only)."
)]
struct Args {
    /// TOML configuration file (routes, limits, pool sizes).
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(short, long)]
    listen: Option<String>,
    /// A route: PATH=MODULE, where MODULE is a .wasm/.wat (compiled at
    /// startup) or a .so from lucetc-wasi; PATH ending in /... is a prefix.
    #[arg(short, long = "route", value_name = "PATH=MODULE")]
    routes: Vec<String>,
    /// Threads running guests (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Requests waiting for a worker before 503 (default 128).
    #[arg(long)]
    queue: Option<usize>,
    /// How long a route that ran out its deadline or instruction budget is
    /// served by the low-priority slow lane, e.g. 10s ("none": no slow
    /// lane). Durations need a unit: a bare number is refused.
    #[arg(long)]
    penalty: Option<String>,
    /// Low-priority threads of the slow lane (default 1).
    #[arg(long)]
    slow_workers: Option<usize>,
    /// Threads handling connections (default 1).
    #[arg(long)]
    io_threads: Option<usize>,
    /// Default deadline per request, e.g. 50ms ("none" for none; a unit is
    /// required).
    #[arg(long)]
    deadline: Option<String>,
    /// Default heap limit per instance, e.g. 16MiB (a bare number is bytes;
    /// KiB/MiB/GiB are powers of 1024, KB/MB/GB of 1000).
    #[arg(long)]
    heap_limit: Option<String>,
    /// Default instruction budget per request.
    #[arg(long)]
    instruction_budget: Option<u64>,
    /// Default CPU time limit per request, e.g. 50ms ("none" for none; a
    /// unit is required).
    #[arg(long)]
    cpu_time: Option<String>,
    /// Close connections that have not sent a whole request head in this
    /// long, e.g. 10s (default 10s; a unit is required).
    #[arg(long)]
    header_read_timeout: Option<String>,
    /// Close keep-alive connections idle this long, e.g. 15s (default 15s;
    /// a unit is required).
    #[arg(long)]
    idle_timeout: Option<String>,
    /// Open connections at most; more are accepted and closed (default
    /// 10,000, less if the descriptor limit is lower).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Open connections per client address at most (default 256).
    #[arg(long)]
    max_connections_per_client: Option<usize>,
    /// The listening socket's backlog (default 4096).
    #[arg(long)]
    listen_backlog: Option<u32>,
    /// How long shutdown waits for in-flight requests, e.g. 30s (a unit is
    /// required).
    #[arg(long)]
    shutdown_timeout: Option<String>,
    /// After SIGTERM, keep serving this long with /readyz answering 503
    /// before closing the listener, e.g. 5s (default 0s; a unit is
    /// required).
    #[arg(long)]
    drain_delay: Option<String>,
    /// A minisign public key file; when given (repeatable), every route's
    /// module must carry a valid signature MODULE.minisig by one of them.
    #[arg(long, value_name = "PUBKEY")]
    trusted_key: Vec<PathBuf>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("lucet-serve: error: {e:#}");
        std::process::exit(1);
    }
}

/// Raise the soft limit on open descriptors to the hard limit: each
/// connection takes one, and the default soft limit (often 1,024) would
/// cap connections far below what the server can hold.
fn raise_descriptor_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    raise_descriptor_limit();
    // Log lines go to a buffer that a background thread writes to stderr
    // every 20 ms: request threads never wait on (or wake anyone for) a
    // log line; past 16 MiB of backlog lines are dropped and counted.
    let (writer, _flush_on_exit) = BatchedStderr::new(Duration::from_millis(20), 16 << 20);
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("warn,lucet_serve=info")),
        )
        .with_writer(writer)
        .with_ansi(false)
        .init();

    let mut b = ConfigBuilder::new();
    if let Some(c) = &args.config {
        b = b.file(c)?;
    }
    if let Some(l) = args.listen {
        b = b.listen(l);
    }
    if let Some(n) = args.workers {
        b = b.workers(n);
    }
    if let Some(n) = args.queue {
        b = b.queue(n);
    }
    if let Some(p) = args.penalty {
        b = b.penalty(p);
    }
    if let Some(n) = args.slow_workers {
        b = b.slow_workers(n);
    }
    if let Some(n) = args.io_threads {
        b = b.io_threads(n);
    }
    if let Some(d) = args.deadline {
        b = b.deadline(d);
    }
    if let Some(h) = args.heap_limit {
        b = b.heap(h);
    }
    if let Some(n) = args.instruction_budget {
        b = b.instruction_budget(n);
    }
    if let Some(t) = args.shutdown_timeout {
        b = b.shutdown_timeout(t);
    }
    if let Some(d) = args.drain_delay {
        b = b.drain_delay(d);
    }
    if let Some(c) = args.cpu_time {
        b = b.cpu_time(c);
    }
    if let Some(t) = args.header_read_timeout {
        b = b.header_read_timeout(t);
    }
    if let Some(t) = args.idle_timeout {
        b = b.idle_timeout(t);
    }
    if let Some(n) = args.max_connections {
        b = b.max_connections(n);
    }
    if let Some(n) = args.max_connections_per_client {
        b = b.max_connections_per_client(n);
    }
    if let Some(n) = args.listen_backlog {
        b = b.listen_backlog(n);
    }
    for k in args.trusted_key {
        b = b.trusted_key(k);
    }
    for r in &args.routes {
        let (path, module) = r
            .split_once('=')
            .with_context(|| format!("--route {r:?}: expected PATH=MODULE"))?;
        b = b.route(path, module);
    }
    let config = b.build()?;
    let io_threads = config.io_threads;
    let server = Server::new(config)?;
    // One I/O thread (the default) runs a current-thread runtime: no work
    // stealing machinery, and the thread is the main thread.
    let runtime = if io_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(io_threads)
            .thread_name("lucet-io")
            .enable_all()
            .build()?
    };
    runtime.block_on(server.run(async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    std::future::pending().await
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
        }
    }))
}
