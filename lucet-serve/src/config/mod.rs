//! Configuration: where to listen, how many guests run at once, and which
//! module answers which path with which limits.
//!
//! A small TOML file, which the command line can extend (`--route`) and
//! override (`--listen`, `--deadline`, ...):
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! workers = 2            # threads running guest code (default: one per core)
//! queue = 128            # requests waiting for a worker; beyond that, 503
//! penalty = "10s"        # a route over its share runs in the slow lane
//! slow_workers = 1       #   (low-priority threads) this long ("none": off)
//! slow_queue = 1         # requests waiting for the slow lane; beyond that, 503
//! slow_lane_cpu = 0.05   # share of a core the slow lane uses at most, on average
//!
//! # connections (see `Config` for each default and why)
//! header_read_timeout = "10s"  # a request head must arrive within this
//! idle_timeout = "15s"         # an idle keep-alive connection is closed after this
//! max_connections = 10000      # open connections; more are accepted and closed
//! max_connections_per_client = 256   # per client IP address, likewise
//! listen_backlog = 4096        # connections the kernel queues for accept
//!
//! # the server's own endpoints ("" turns one off)
//! metrics_path = "/metrics"    # Prometheus text
//! health_path = "/healthz"     # liveness: 200 while the server answers
//! ready_path = "/readyz"       # readiness: 200, or 503 once shutting down
//! drain_delay = "0s"           # after SIGTERM, keep serving (not ready) this long
//!
//! [defaults]             # limits for every route, each overridable per route
//! deadline = "100ms"     # wall-clock time per request -> 504 ("none": no deadline)
//! cpu_time = "100ms"     # CPU time per request -> 500 ("none": no limit)
//! heap = "64MiB"         # linear memory a guest may grow to
//! instruction_budget = 50000000  # wasm instructions per request -> 500
//! max_body = "1MiB"      # request bodies larger get 413
//! max_output = "8MiB"    # guests writing more to stdout get 500
//! max_concurrency = 64   # the route's requests in the server at once (running,
//!                        #   queued or suspended); beyond, 503
//! max_running = 1        # the route's guests running on workers at once
//!                        #   (default: workers - 1, at least 1)
//! penalty_cpu = "50ms"   # a request using more CPU time than this, or
//! penalty_memory = "32MiB" #  a larger heap, sends its route to the slow lane
//!
//! [[route]]
//! path = "/hello"        # exact path; "/static/..." matches a prefix
//! module = "handlers/wasm/hello.wasm"  # .wasm/.wat compiled at startup, or a lucetc .so
//! deadline = "10ms"
//! max_concurrency = 1    # at most this many of this route's requests at once
//! ```
//!
//! With `trusted_keys = ["keys/lucet.pub"]` (minisign public keys; or
//! `--trusted-key` on the command line), every route's module must carry a
//! valid minisign signature `MODULE.minisig` by one of them: a `.so` is
//! loaded only if it verifies, a `.wasm`/`.wat` only compiled if it does.
//! A route whose module does not verify stops the server from starting,
//! naming the route.
//!
//! Sizes and durations are read as by every lucet command
//! (`lucet_module::units`): a size is bytes, as a bare number, or a string
//! with a unit (`"64MiB"`; KiB/MiB/GiB are powers of 1024, KB/MB/GB of
//! 1000); a duration is a string with a unit (`"250us"`, `"100ms"`,
//! `"1.5s"`, `"2m"`), and a bare number (`deadline = 100` or `"100"`) is
//! refused rather than guessed at.
//!
//! Relative module and key paths are resolved against the config file's
//! directory.

mod builder;
mod file_spec;

pub use builder::ConfigBuilder;

use anyhow::{anyhow, bail, Context, Result};
use lucet_module::units::{parse_duration, parse_size};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Limits applied to each request of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteLimits {
    /// Wall-clock time a run may take; past it the guest is stopped and the
    /// client gets 504. `None`: no deadline.
    pub deadline: Option<Duration>,
    /// Bytes of linear memory the guest may have; `memory.grow` past it
    /// fails (as it does past the module's own maximum).
    pub heap: u64,
    /// Bytes of guest call stack.
    pub stack: usize,
    /// Wasm instructions a run may execute (500 past it). Needs a module
    /// compiled with instruction counting, which routes with a budget get
    /// when the server compiles their `.wasm` itself.
    pub instruction_budget: Option<u64>,
    /// Largest request body accepted (413 beyond).
    pub max_body: u64,
    /// Largest output (headers and body) a guest may write to stdout.
    pub max_output: usize,
    /// At most this many requests of the route in the server (queued,
    /// running or suspended) at once; more get 503. Each holds one instance
    /// slot, so this is also the size of the route's region.
    pub max_concurrency: usize,
    /// CPU time the guest may use per request (its start function and
    /// `_start` together, as the runtime measures runs: guest code and
    /// WASI calls); past it the guest is stopped and the client gets 500
    /// (`cpu_time`). Edge platforms limit and bill CPU time rather than
    /// wall time: a guest waiting costs nothing. `None`: no limit.
    pub cpu_time: Option<Duration>,
    /// At most this many of the route's guests run on workers at once
    /// (suspended ones do not count); its other requests wait in its own
    /// queue while other routes' requests go ahead. `None`: one less than
    /// the workers (at least 1), so one route alone never takes every
    /// worker.
    pub max_running: Option<usize>,
    /// A request that uses more CPU time than this moves its route to the
    /// slow lane (like one that hits its deadline or traps).
    pub penalty_cpu: Duration,
    /// A request whose guest's memory grows beyond this moves its route to
    /// the slow lane.
    pub penalty_memory: u64,
}

impl Default for RouteLimits {
    fn default() -> Self {
        RouteLimits {
            deadline: Some(Duration::from_secs(1)),
            heap: 64 << 20,
            stack: 512 << 10,
            instruction_budget: None,
            max_body: 1 << 20,
            max_output: 8 << 20,
            max_concurrency: 64,
            cpu_time: Some(Duration::from_millis(100)),
            max_running: None,
            penalty_cpu: Duration::from_millis(50),
            penalty_memory: 32 << 20,
        }
    }
}

/// One route: a path and the module that answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteConfig {
    /// `/exact/path`, or `/prefix/...` for the prefix and everything below.
    pub path: String,
    /// A `.wasm` or `.wat` file (compiled with WASI imports at startup) or
    /// a shared object compiled by `lucetc-wasi`.
    pub module: PathBuf,
    /// Its limits.
    pub limits: RouteLimits,
}

/// The whole server configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Threads that run guest code, each one instance at a time. By
    /// default one per core the process may run on (CPU affinity counts:
    /// under `taskset -c 0` that is one). More workers than cores only adds
    /// context switches: on one core, 2 workers served ~25% fewer hello
    /// requests per second than 1.
    pub workers: usize,
    /// Requests that may wait for a free worker; more get 503.
    pub queue: usize,
    /// Low-priority threads running the routes in the penalty box.
    pub slow_workers: usize,
    /// Requests that may wait for a slow-lane thread; more get 503. By
    /// default 1: a penalized route has at most `slow_workers + 1` requests
    /// in the server (a longer queue would only hold clients' connections
    /// while the slow lane gets no CPU).
    pub slow_queue: usize,
    /// The share of one core the slow lane may use on average: after a
    /// guest's slice of `t` CPU time, the lane rests `t × (1 / share − 1)`
    /// before handing out the next (while its queue refuses the excess
    /// requests of the routes in it). `SCHED_IDLE` alone still let looping
    /// guests take every gap of a closed-loop load, at a quarter of the
    /// good throughput. Default 0.05.
    pub slow_lane_cpu: f64,
    /// How long a route over its share is served from the slow lane: one
    /// of its requests ran into its deadline, CPU time or instruction
    /// budget, trapped, or used more CPU time or memory than its route's
    /// `penalty_cpu`/`penalty_memory` (`None`: no slow lane).
    pub penalty: Option<Duration>,
    /// Threads of the async runtime handling connections (binary only).
    pub io_threads: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Path of the Prometheus endpoint (`None`: no endpoint).
    pub metrics_path: Option<String>,
    /// Path of the liveness endpoint (`None`: none): `200 ok` whenever the
    /// server's event loop answers, draining or not. Default `/healthz`.
    pub health_path: Option<String>,
    /// Path of the readiness endpoint (`None`: none): `200 ready` while the
    /// server takes new requests, `503 draining` once shutdown has begun.
    /// Default `/readyz`.
    pub ready_path: Option<String>,
    /// After SIGTERM (or the end of [`Server::run`](crate::Server::run)'s
    /// shutdown future), keep accepting and serving this long with the
    /// readiness endpoint answering 503 and every response closing its
    /// connection, before the listener closes and in-flight requests are
    /// finished. Kubernetes removes a terminating pod from its Service's
    /// endpoints at about the time it sends SIGTERM, not before, so
    /// without a delay clients that had not yet heard are refused. Default
    /// 0 (close at once).
    pub drain_delay: Duration,
    /// Routes, matched by exact path first, then longest prefix.
    pub routes: Vec<RouteConfig>,
    /// Minisign public key files. If any are given, every route's module
    /// must be signed by one of them (`MODULE.minisig`).
    pub trusted_keys: Vec<PathBuf>,
    /// A connection must deliver a whole request head within this long of
    /// its first byte (or of being accepted): partial heads and silent
    /// connections are closed. Default 10 s.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request in progress is closed after
    /// this long. Default 15 s.
    pub idle_timeout: Duration,
    /// Open connections at most; past it a new connection is accepted and
    /// closed at once (counted as `max_connections` in
    /// `lucet_serve_connections_refused_total`). By default 10,000, or
    /// less when the descriptor limit (`RLIMIT_NOFILE`, which the binary
    /// raises to its hard limit) leaves less room: 256 descriptors are kept
    /// for everything else.
    pub max_connections: usize,
    /// Open connections per client IP address at most; past it, likewise
    /// (`per_client`), so one client cannot take every connection. Default
    /// 256.
    pub max_connections_per_client: usize,
    /// Connections the kernel queues until the server accepts them
    /// (`listen(2)`'s backlog, capped by `net.core.somaxconn`). Default
    /// 4,096: a burst of connects larger than the queue makes clients wait
    /// for a SYN retry (a second).
    pub listen_backlog: u32,
}

/// The default for [`Config::max_connections`].
pub fn default_max_connections() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur as usize
    } else {
        1024
    };
    soft.saturating_sub(256).clamp(16, 10_000)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: cores(),
            queue: 128,
            slow_workers: 1,
            slow_queue: 1,
            slow_lane_cpu: 0.05,
            penalty: Some(Duration::from_secs(10)),
            io_threads: 1,
            shutdown_timeout: Duration::from_secs(30),
            metrics_path: Some("/metrics".into()),
            health_path: Some("/healthz".into()),
            ready_path: Some("/readyz".into()),
            drain_delay: Duration::ZERO,
            routes: Vec::new(),
            trusted_keys: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            max_connections: default_max_connections(),
            max_connections_per_client: 256,
            listen_backlog: 4096,
        }
    }
}

impl Config {
    /// Check the settings make sense together.
    pub fn validate(&self) -> Result<()> {
        if self.workers == 0 {
            bail!("workers must be at least 1");
        }
        if self.penalty.is_some() && self.slow_workers == 0 {
            bail!("slow_workers must be at least 1 (or penalty = \"none\")");
        }
        if !(self.slow_lane_cpu > 0.0 && self.slow_lane_cpu <= 1.0) {
            bail!("slow_lane_cpu must be more than 0 and at most 1");
        }
        if self.io_threads == 0 {
            bail!("io_threads must be at least 1");
        }
        if self.routes.is_empty() {
            bail!("no routes: give at least one [[route]] or --route PATH=MODULE");
        }
        if self.max_connections == 0 || self.max_connections_per_client == 0 {
            bail!("max_connections and max_connections_per_client must be at least 1");
        }
        if self.listen_backlog == 0 {
            bail!("listen_backlog must be at least 1");
        }
        let endpoints = [
            ("metrics_path", &self.metrics_path),
            ("health_path", &self.health_path),
            ("ready_path", &self.ready_path),
        ];
        for (i, (key, path)) in endpoints.iter().enumerate() {
            let Some(path) = path else { continue };
            if !path.starts_with('/') {
                bail!("{key} {path:?} must start with '/'");
            }
            if let Some((other, _)) = endpoints[..i]
                .iter()
                .find(|(_, p)| p.as_ref() == Some(path))
            {
                bail!("{key} {path:?} is also the {other}");
            }
        }
        let mut seen = std::collections::HashSet::new();
        for r in &self.routes {
            if !r.path.starts_with('/') {
                bail!("route path {:?} must start with '/'", r.path);
            }
            if r.path.contains('?') || r.path.contains('#') {
                bail!("route path {:?} must not contain '?' or '#'", r.path);
            }
            if !seen.insert(r.path.as_str()) {
                bail!("route {:?} is given twice", r.path);
            }
            if let Some((key, _)) = endpoints.iter().find(|(_, p)| p.as_ref() == Some(&r.path)) {
                bail!("route {:?} is the server's own endpoint ({key})", r.path);
            }
        }
        Ok(())
    }
}

/// A deadline: a duration with a unit (`lucet_module::units`; a bare
/// number is refused), or `none`/`off` for no deadline. Zero is refused.
pub fn parse_deadline(s: &str) -> Result<Option<Duration>> {
    match s.trim() {
        "none" | "off" => Ok(None),
        other => {
            let d = parse_duration(other).map_err(|e| anyhow!(e))?;
            if d.is_zero() {
                bail!("a deadline of zero would stop every request; use \"none\" for no deadline");
            }
            Ok(Some(d))
        }
    }
}
