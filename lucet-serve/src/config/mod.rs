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
    /// CPU time (the worker thread's, from instantiation to the end of
    /// `_start`) a request may use; past it the guest is stopped and the
    /// client gets 500 (`cpu_time`). Edge platforms limit and bill CPU
    /// time rather than wall time: a guest waiting costs nothing.
    /// `None`: no limit.
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

/// A size in a config file: bytes as a number, or a string such as "64MiB".
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

impl Size {
    /// The size in bytes; errors name `key`.
    fn bytes(&self, key: &str) -> Result<u64> {
        match self {
            Size::Bytes(n) => Ok(*n),
            Size::Text(s) => parse_size(s).map_err(|e| anyhow!("{key}: {e}")),
        }
    }
}

/// A duration in a config file: a string with a unit, such as "100ms". A
/// bare TOML number is read only to refuse it with the fix: the unit it
/// would stand for is a guess (it was milliseconds here and seconds to
/// lucet-wasi), so every duration spells its unit out.
#[derive(Clone, Debug)]
enum DurationText {
    Text(String),
    Number(f64),
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DurationText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration with a unit, as a string such as \"500ms\"")
            }
            fn visit_str<E>(self, s: &str) -> Result<DurationText, E> {
                Ok(DurationText::Text(s.to_string()))
            }
            fn visit_i64<E>(self, n: i64) -> Result<DurationText, E> {
                Ok(DurationText::Number(n as f64))
            }
            fn visit_u64<E>(self, n: u64) -> Result<DurationText, E> {
                Ok(DurationText::Number(n as f64))
            }
            fn visit_f64<E>(self, n: f64) -> Result<DurationText, E> {
                Ok(DurationText::Number(n))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl DurationText {
    /// The text; for a number, an error naming `key` and the fix.
    fn text(&self, key: &str) -> Result<&str> {
        match self {
            DurationText::Text(s) => Ok(s),
            DurationText::Number(n) => bail!(
                "{key} = {n}: a duration needs a unit, as a string: \
                 write {key} = \"{n}ms\" (or \"{n}s\")"
            ),
        }
    }

    /// `key`'s duration.
    fn duration(&self, key: &str) -> Result<Duration> {
        parse_duration(self.text(key)?).map_err(|e| anyhow!("{key}: {e}"))
    }

    /// `key`'s deadline-like setting: a duration, or none (see
    /// [`parse_deadline`]).
    fn deadline(&self, key: &str) -> Result<Option<Duration>> {
        parse_deadline(self.text(key)?).with_context(|| key.to_string())
    }
}

/// Limit settings as written: every field optional, so a route can
/// override some of the defaults.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    deadline: Option<DurationText>,
    heap: Option<Size>,
    stack: Option<Size>,
    instruction_budget: Option<u64>,
    max_body: Option<Size>,
    max_output: Option<Size>,
    max_concurrency: Option<usize>,
    cpu_time: Option<DurationText>,
    max_running: Option<usize>,
    penalty_cpu: Option<DurationText>,
    penalty_memory: Option<Size>,
}

impl LimitsSpec {
    /// `limits` with every setting given here applied.
    fn apply(&self, mut limits: RouteLimits) -> Result<RouteLimits> {
        if let Some(d) = &self.deadline {
            limits.deadline = d.deadline("deadline")?;
        }
        if let Some(h) = &self.heap {
            limits.heap = h.bytes("heap")?;
        }
        if let Some(s) = &self.stack {
            limits.stack = s.bytes("stack")? as usize;
        }
        if let Some(b) = self.instruction_budget {
            limits.instruction_budget = Some(b);
        }
        if let Some(b) = &self.max_body {
            limits.max_body = b.bytes("max_body")?;
        }
        if let Some(o) = &self.max_output {
            limits.max_output = o.bytes("max_output")? as usize;
        }
        if let Some(c) = self.max_concurrency {
            if c == 0 {
                bail!("max_concurrency must be at least 1");
            }
            limits.max_concurrency = c;
        }
        if let Some(c) = &self.cpu_time {
            limits.cpu_time = c.deadline("cpu_time")?;
        }
        if let Some(r) = self.max_running {
            if r == 0 {
                bail!("max_running must be at least 1");
            }
            limits.max_running = Some(r);
        }
        if let Some(c) = &self.penalty_cpu {
            limits.penalty_cpu = c.duration("penalty_cpu")?;
        }
        if let Some(m) = &self.penalty_memory {
            limits.penalty_memory = m.bytes("penalty_memory")?;
        }
        Ok(limits)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    path: String,
    module: PathBuf,
    #[serde(flatten)]
    limits: LimitsSpec,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    listen: Option<String>,
    workers: Option<usize>,
    queue: Option<usize>,
    slow_workers: Option<usize>,
    slow_queue: Option<usize>,
    slow_lane_cpu: Option<f64>,
    penalty: Option<DurationText>,
    io_threads: Option<usize>,
    shutdown_timeout: Option<DurationText>,
    metrics_path: Option<String>,
    header_read_timeout: Option<DurationText>,
    idle_timeout: Option<DurationText>,
    max_connections: Option<usize>,
    max_connections_per_client: Option<usize>,
    listen_backlog: Option<u32>,
    #[serde(default)]
    trusted_keys: Vec<PathBuf>,
    #[serde(default)]
    defaults: LimitsSpec,
    #[serde(default, rename = "route")]
    routes: Vec<RouteSpec>,
}

/// Builds a [`Config`] from a TOML file and command-line settings; the
/// builder's own settings override the file's, whatever the order of calls.
#[derive(Debug, Default)]
pub struct ConfigBuilder {
    file: FileSpec,
    over: FileSpec,
    base: PathBuf,
    defaults: Vec<LimitsSpec>,
    extra_routes: Vec<(String, PathBuf)>,
    extra_keys: Vec<PathBuf>,
}

impl ConfigBuilder {
    /// A builder with nothing set.
    pub fn new() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Read settings from TOML text; relative module paths are resolved
    /// against `base`.
    pub fn toml(mut self, text: &str, base: impl Into<PathBuf>) -> Result<Self> {
        self.file = toml::from_str(text)?;
        self.base = base.into();
        Ok(self)
    }

    /// Read settings from a TOML file.
    pub fn file(self, path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        self.toml(&text, base)
            .with_context(|| format!("in {}", path.display()))
    }

    /// Listen on `addr` (e.g. `127.0.0.1:0`).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.over.listen = Some(addr.into());
        self
    }

    /// Run guests on `n` threads.
    pub fn workers(mut self, n: usize) -> Self {
        self.over.workers = Some(n);
        self
    }

    /// Let `n` requests wait for a worker.
    pub fn queue(mut self, n: usize) -> Self {
        self.over.queue = Some(n);
        self
    }

    /// Keep a route whose guest ran out its deadline or budget in the slow
    /// lane this long (e.g. "10s", or "none" for no slow lane).
    pub fn penalty(mut self, d: impl Into<String>) -> Self {
        self.over.penalty = Some(DurationText::Text(d.into()));
        self
    }

    /// Run penalized routes on `n` low-priority threads.
    pub fn slow_workers(mut self, n: usize) -> Self {
        self.over.slow_workers = Some(n);
        self
    }

    /// Handle connections on `n` threads.
    pub fn io_threads(mut self, n: usize) -> Self {
        self.over.io_threads = Some(n);
        self
    }

    /// Wait at most this long (e.g. "30s") for in-flight requests on shutdown.
    pub fn shutdown_timeout(mut self, d: impl Into<String>) -> Self {
        self.over.shutdown_timeout = Some(DurationText::Text(d.into()));
        self
    }

    /// Close connections that take longer than this to send a request head.
    pub fn header_read_timeout(mut self, d: impl Into<String>) -> Self {
        self.over.header_read_timeout = Some(DurationText::Text(d.into()));
        self
    }

    /// Close keep-alive connections idle this long.
    pub fn idle_timeout(mut self, d: impl Into<String>) -> Self {
        self.over.idle_timeout = Some(DurationText::Text(d.into()));
        self
    }

    /// Keep at most `n` connections open.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.over.max_connections = Some(n);
        self
    }

    /// Keep at most `n` connections open per client address.
    pub fn max_connections_per_client(mut self, n: usize) -> Self {
        self.over.max_connections_per_client = Some(n);
        self
    }

    /// Let the kernel queue `n` connections for accept.
    pub fn listen_backlog(mut self, n: u32) -> Self {
        self.over.listen_backlog = Some(n);
        self
    }

    /// Override the default CPU time limit per request (e.g. "50ms", "none";
    /// a bare number is refused).
    pub fn cpu_time(mut self, d: impl Into<String>) -> Self {
        self.defaults.push(LimitsSpec {
            cpu_time: Some(DurationText::Text(d.into())),
            ..LimitsSpec::default()
        });
        self
    }

    /// Override default limits with a deadline (e.g. "50ms" or "none"; a
    /// bare number is refused).
    pub fn deadline(mut self, d: impl Into<String>) -> Self {
        self.defaults.push(LimitsSpec {
            deadline: Some(DurationText::Text(d.into())),
            ..LimitsSpec::default()
        });
        self
    }

    /// Override the default heap limit (e.g. "16MiB"; a bare number is
    /// bytes).
    pub fn heap(mut self, h: impl Into<String>) -> Self {
        self.defaults.push(LimitsSpec {
            heap: Some(Size::Text(h.into())),
            ..LimitsSpec::default()
        });
        self
    }

    /// Override the default instruction budget.
    pub fn instruction_budget(mut self, n: u64) -> Self {
        self.defaults.push(LimitsSpec {
            instruction_budget: Some(n),
            ..LimitsSpec::default()
        });
        self
    }

    /// Add a route with the default limits; relative module paths are
    /// taken as they are (from the working directory).
    pub fn route(mut self, path: impl Into<String>, module: impl Into<PathBuf>) -> Self {
        self.extra_routes.push((path.into(), module.into()));
        self
    }

    /// Trust the minisign public key in `path` (in addition to the file's
    /// `trusted_keys`): every route's module must then be signed.
    pub fn trusted_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_keys.push(path.into());
        self
    }

    /// Check everything and produce the configuration.
    pub fn build(self) -> Result<Config> {
        let d = Config::default();
        let o = self.over;
        let f = FileSpec {
            listen: o.listen.or(self.file.listen),
            workers: o.workers.or(self.file.workers),
            queue: o.queue.or(self.file.queue),
            slow_workers: o.slow_workers.or(self.file.slow_workers),
            slow_queue: o.slow_queue.or(self.file.slow_queue),
            slow_lane_cpu: o.slow_lane_cpu.or(self.file.slow_lane_cpu),
            penalty: o.penalty.or(self.file.penalty),
            io_threads: o.io_threads.or(self.file.io_threads),
            shutdown_timeout: o.shutdown_timeout.or(self.file.shutdown_timeout),
            header_read_timeout: o.header_read_timeout.or(self.file.header_read_timeout),
            idle_timeout: o.idle_timeout.or(self.file.idle_timeout),
            max_connections: o.max_connections.or(self.file.max_connections),
            max_connections_per_client: o
                .max_connections_per_client
                .or(self.file.max_connections_per_client),
            listen_backlog: o.listen_backlog.or(self.file.listen_backlog),
            ..self.file
        };
        let listen = match &f.listen {
            Some(l) => l.parse().with_context(|| format!("listen address {l:?}"))?,
            None => d.listen,
        };
        let shutdown_timeout = match &f.shutdown_timeout {
            Some(t) => t.duration("shutdown_timeout")?,
            None => d.shutdown_timeout,
        };
        let penalty = match &f.penalty {
            Some(p) => p.deadline("penalty")?,
            None => d.penalty,
        };
        let timeout =
            |v: &Option<DurationText>, name: &str, default: Duration| -> Result<Duration> {
                match v {
                    Some(t) => {
                        let d = t.duration(name)?;
                        if d.is_zero() {
                            bail!("{name} must be more than zero");
                        }
                        Ok(d)
                    }
                    None => Ok(default),
                }
            };
        let header_read_timeout = timeout(
            &f.header_read_timeout,
            "header_read_timeout",
            d.header_read_timeout,
        )?;
        let idle_timeout = timeout(&f.idle_timeout, "idle_timeout", d.idle_timeout)?;
        let metrics_path = match &f.metrics_path {
            Some(p) if p.is_empty() => None,
            Some(p) => Some(p.clone()),
            None => d.metrics_path,
        };
        let mut defaults = f
            .defaults
            .apply(RouteLimits::default())
            .context("[defaults]")?;
        for spec in &self.defaults {
            defaults = spec.apply(defaults)?;
        }
        let mut routes = Vec::new();
        for r in &f.routes {
            let limits = r
                .limits
                .apply(defaults.clone())
                .with_context(|| format!("route {}", r.path))?;
            routes.push(RouteConfig {
                path: r.path.clone(),
                module: self.base.join(&r.module),
                limits,
            });
        }
        for (path, module) in &self.extra_routes {
            routes.push(RouteConfig {
                path: path.clone(),
                module: module.clone(),
                limits: defaults.clone(),
            });
        }
        let trusted_keys = f
            .trusted_keys
            .iter()
            .map(|k| self.base.join(k))
            .chain(self.extra_keys.iter().cloned())
            .collect();
        let config = Config {
            trusted_keys,
            listen,
            workers: f.workers.unwrap_or(d.workers),
            queue: f.queue.unwrap_or(d.queue),
            slow_workers: f.slow_workers.unwrap_or(d.slow_workers),
            slow_queue: f.slow_queue.unwrap_or(d.slow_queue),
            slow_lane_cpu: f.slow_lane_cpu.unwrap_or(d.slow_lane_cpu),
            penalty,
            io_threads: f.io_threads.unwrap_or(d.io_threads),
            shutdown_timeout,
            metrics_path,
            routes,
            header_read_timeout,
            idle_timeout,
            max_connections: f.max_connections.unwrap_or(d.max_connections),
            max_connections_per_client: f
                .max_connections_per_client
                .unwrap_or(d.max_connections_per_client),
            listen_backlog: f.listen_backlog.unwrap_or(d.listen_backlog),
        };
        config.validate()?;
        Ok(config)
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
            if Some(&r.path) == self.metrics_path.as_ref() {
                bail!("route {:?} is the metrics endpoint", r.path);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines() {
        assert_eq!(
            parse_deadline("250us").unwrap(),
            Some(Duration::from_micros(250))
        );
        assert_eq!(
            parse_deadline(" 1.5s ").unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_deadline("none").unwrap(), None);
        assert_eq!(parse_deadline("off").unwrap(), None);
        assert!(parse_deadline("0ms")
            .unwrap_err()
            .to_string()
            .contains("zero"));
        assert!(parse_deadline("5 parsecs").is_err());
        assert!(parse_deadline("").is_err());
        assert_eq!(
            parse_deadline("7").unwrap_err().to_string(),
            "expected a duration with a unit, like 500ms or 2s, got \"7\""
        );
    }

    /// The configuration `text` makes, or its error as one line.
    fn build(text: &str) -> Result<Config, String> {
        ConfigBuilder::new()
            .toml(text, ".")
            .and_then(|b| b.build())
            .map_err(|e| format!("{e:#}"))
    }

    /// A duration is never a bare number, in a string or as a TOML
    /// number; a size as a bare number is bytes, in either form.
    #[test]
    fn bare_numbers_are_bytes_and_never_durations() {
        let route = "[[route]]\npath=\"/a\"\nmodule=\"a\"\n";
        let c = build(&format!(
            "[defaults]\nheap = \"4096\"\nmax_body = 100\nmax_output = \"2KB\"\n{route}"
        ))
        .unwrap();
        let l = &c.routes[0].limits;
        assert_eq!((l.heap, l.max_body, l.max_output), (4096, 100, 2000));
        for key in ["deadline", "cpu_time", "penalty_cpu"] {
            let e = build(&format!("[defaults]\n{key} = 100\n{route}")).unwrap_err();
            assert!(
                e.contains(&format!("{key} = 100: a duration needs a unit"))
                    && e.contains(&format!("write {key} = \"100ms\"")),
                "{e}"
            );
            assert_eq!(e.lines().count(), 1, "{e}");
            let e = build(&format!("[defaults]\n{key} = \"100\"\n{route}")).unwrap_err();
            assert!(
                e.contains(&format!(
                    "{key}: expected a duration with a unit, like 500ms or 2s, got \"100\""
                )),
                "{e}"
            );
        }
        for key in [
            "penalty",
            "shutdown_timeout",
            "header_read_timeout",
            "idle_timeout",
        ] {
            let e = build(&format!("{key} = 5\n{route}")).unwrap_err();
            assert!(e.contains(&format!("write {key} = \"5ms\"")), "{e}");
            let e = build(&format!("{key} = \"1.5\"\n{route}")).unwrap_err();
            assert!(e.contains("expected a duration with a unit"), "{e}");
        }
        // The builder's (command line's) settings are read the same way.
        let e = ConfigBuilder::new()
            .route("/a", "a.wasm")
            .deadline("50")
            .build()
            .unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "deadline: expected a duration with a unit, like 500ms or 2s, got \"50\""
        );
        let e = ConfigBuilder::new()
            .route("/a", "a.wasm")
            .heap("64 parsecs")
            .build()
            .unwrap_err();
        assert!(format!("{e:#}").starts_with("heap: bad size"), "{e:#}");
        let e = build(&format!("[defaults]\ndeadline = true\n{route}")).unwrap_err();
        assert!(
            e.contains("expected a duration with a unit, as a string such as \"500ms\""),
            "{e}"
        );
    }

    #[test]
    fn toml_defaults_routes_and_overrides() {
        let text = r#"
            listen = "127.0.0.1:0"
            workers = 3
            queue = 7
            [defaults]
            deadline = "20ms"
            heap = "8MiB"
            max_body = 1000
            [[route]]
            path = "/a"
            module = "a.wasm"
            [[route]]
            path = "/b/..."
            module = "/abs/b.so"
            deadline = "none"
            heap = 1048576
            instruction_budget = 1000
            max_concurrency = 2
        "#;
        let c = ConfigBuilder::new()
            .toml(text, "/etc/serve")
            .unwrap()
            .queue(9)
            .route("/c", "c.wasm")
            .build()
            .unwrap();
        assert_eq!(c.listen.port(), 0);
        assert_eq!((c.workers, c.queue), (3, 9));
        assert_eq!(c.routes.len(), 3);
        let a = &c.routes[0];
        assert_eq!(a.module, PathBuf::from("/etc/serve/a.wasm"));
        assert_eq!(a.limits.deadline, Some(Duration::from_millis(20)));
        assert_eq!(a.limits.heap, 8 << 20);
        assert_eq!(a.limits.max_body, 1000);
        let b = &c.routes[1];
        assert_eq!(b.module, PathBuf::from("/abs/b.so"));
        assert_eq!(b.limits.deadline, None);
        assert_eq!(b.limits.heap, 1 << 20);
        assert_eq!(b.limits.instruction_budget, Some(1000));
        assert_eq!(b.limits.max_concurrency, 2);
        assert_eq!(c.routes[2].module, PathBuf::from("c.wasm"));
        assert_eq!(c.routes[2].limits.heap, 8 << 20);
    }

    #[test]
    fn connection_settings_and_shares() {
        let text = r#"
            header_read_timeout = "2s"
            idle_timeout = "500ms"
            max_connections = 100
            max_connections_per_client = 10
            listen_backlog = 64
            [defaults]
            cpu_time = "20ms"
            penalty_cpu = "5ms"
            penalty_memory = "4MiB"
            [[route]]
            path = "/a"
            module = "a.wasm"
            max_running = 3
            cpu_time = "none"
            [[route]]
            path = "/b"
            module = "b.wasm"
        "#;
        let c = ConfigBuilder::new()
            .toml(text, ".")
            .unwrap()
            .idle_timeout("1s")
            .build()
            .unwrap();
        assert_eq!(c.header_read_timeout, Duration::from_secs(2));
        assert_eq!(c.idle_timeout, Duration::from_secs(1), "the builder wins");
        assert_eq!(
            (
                c.max_connections,
                c.max_connections_per_client,
                c.listen_backlog
            ),
            (100, 10, 64)
        );
        let (a, b) = (&c.routes[0].limits, &c.routes[1].limits);
        assert_eq!((a.max_running, a.cpu_time), (Some(3), None));
        assert_eq!(b.max_running, None);
        assert_eq!(b.cpu_time, Some(Duration::from_millis(20)));
        assert_eq!(b.penalty_cpu, Duration::from_millis(5));
        assert_eq!(b.penalty_memory, 4 << 20);
        assert_eq!(b.max_concurrency, 64);
        // The documented defaults.
        let d = Config::default();
        assert_eq!(d.header_read_timeout, Duration::from_secs(10));
        assert_eq!(d.idle_timeout, Duration::from_secs(15));
        assert!(d.max_connections <= 10_000 && d.max_connections >= 16);
        assert_eq!(d.max_connections_per_client, 256);
        assert!(d.listen_backlog >= 1024);
        let l = RouteLimits::default();
        assert_eq!(l.cpu_time, Some(Duration::from_millis(100)));
        assert_eq!(l.max_concurrency, 64);
    }

    #[test]
    fn bad_configs_are_rejected_with_a_reason() {
        let bad = |text: &str| build(text).unwrap_err();
        assert!(bad("").contains("no routes"));
        assert!(bad("wrokers = 2").contains("unknown field"));
        let dup = "[[route]]\npath=\"/a\"\nmodule=\"a\"\n[[route]]\npath=\"/a\"\nmodule=\"b\"";
        assert!(bad(dup).contains("twice"));
        assert!(bad("[[route]]\npath=\"a\"\nmodule=\"a\"").contains("start with"));
        assert!(bad("[[route]]\npath=\"/metrics\"\nmodule=\"a\"").contains("metrics"));
        let route = "[[route]]\npath=\"/a\"\nmodule=\"a\"\n";
        assert!(bad(&format!("{route}max_running = 0")).contains("max_running"));
        assert!(bad(&format!("max_connections = 0\n{route}")).contains("max_connections"));
        assert!(bad(&format!("idle_timeout = \"0s\"\n{route}")).contains("idle_timeout"));
        let e = ConfigBuilder::new()
            .toml(
                "[[route]]\npath=\"/a\"\nmodule=\"a\"\ndeadline=\"soon\"",
                ".",
            )
            .and_then(|b| b.build())
            .unwrap_err();
        assert!(format!("{e:#}").contains("bad duration"), "{e:#}");
    }
}
