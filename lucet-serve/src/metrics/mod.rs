//! What the server counts: counters, gauges and histograms per route and
//! for the whole server. `exposition.rs` renders them for Prometheus.
//!
//! Everything on the request path is a relaxed atomic add: no locks, no
//! allocation. Failures and slow-lane moves (rare) go through small maps
//! under a mutex. Every label value is either a route as configured or a
//! fixed identifier (`&'static str`): nothing rendered with `Debug`.
//!
//! Server-wide counters and gauges are `prometheus-client`'s own. A route's
//! values are plain atomics in one [`RouteMetrics`], read at scrape time:
//! the crate's `Family` would take a lock per lookup and render in hash
//! order, and its `Histogram` locks a mutex per observation.

mod exposition;

pub use exposition::CONTENT_TYPE;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the request latency buckets.
const LATENCY_BUCKETS: [f64; 22] = [
    50e-6, 100e-6, 200e-6, 300e-6, 500e-6, 750e-6, 1e-3, 1.5e-3, 2e-3, 3e-3, 5e-3, 10e-3, 25e-3,
    50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Upper bounds (seconds) of the instantiation time buckets.
const INSTANTIATE_BUCKETS: [f64; 12] = [
    1e-6, 2.5e-6, 5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 25e-3,
];

/// Upper bounds (seconds) of the CPU time per request buckets.
const CPU_BUCKETS: [f64; 14] = [
    10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3,
    1.0,
];

/// A histogram of durations with fixed buckets, lock-free.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative), plus one for +Inf.
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Record one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// Metrics of one route.
#[derive(Debug)]
pub struct RouteMetrics {
    /// The route as configured: its `route` label.
    route: String,
    /// Responses by status code (index: code - 100).
    statuses: Box<[AtomicU64]>,
    /// Time from request to response, body read and guest run included.
    pub latency: Histogram,
    /// Time to create an instance.
    pub instantiate: Histogram,
    /// CPU time of each request's guest (instantiation included).
    pub cpu: Histogram,
    /// Guest failures by kind.
    failures: Mutex<BTreeMap<&'static str, u64>>,
    /// Times the route was sent to the slow lane, by reason.
    penalties: Mutex<BTreeMap<&'static str, u64>>,
    /// Requests sent to the slow lane.
    pub slow_lane: AtomicU64,
    /// Until when (ms of [`Metrics::now_ms`]) the route is in the slow lane.
    pub penalized_until_ms: AtomicU64,
    /// CPU time its guests used, in nanoseconds.
    pub cpu_ns: AtomicU64,
    /// Time its guests held a worker thread, in nanoseconds.
    pub worker_ns: AtomicU64,
    /// Sum over its requests of the guest's memory at the end.
    pub memory_bytes: AtomicU64,
    /// The largest memory a guest of the route had.
    pub memory_max_bytes: AtomicU64,
    /// Wasm instructions its guests executed (modules compiled with
    /// instruction counting only).
    pub instructions: AtomicU64,
    /// Its guests on a worker right now.
    pub running: AtomicI64,
    /// Its guests suspended right now (waiting for a timer or a body).
    pub suspended: AtomicI64,
    /// Its requests waiting for a worker right now (new or resumed).
    pub queued: AtomicI64,
}

impl RouteMetrics {
    fn new(route: &str) -> RouteMetrics {
        RouteMetrics {
            route: route.to_string(),
            statuses: (100..600).map(|_| AtomicU64::new(0)).collect(),
            latency: Histogram::new(&LATENCY_BUCKETS),
            instantiate: Histogram::new(&INSTANTIATE_BUCKETS),
            cpu: Histogram::new(&CPU_BUCKETS),
            failures: Mutex::new(BTreeMap::new()),
            penalties: Mutex::new(BTreeMap::new()),
            slow_lane: AtomicU64::new(0),
            penalized_until_ms: AtomicU64::new(0),
            cpu_ns: AtomicU64::new(0),
            worker_ns: AtomicU64::new(0),
            memory_bytes: AtomicU64::new(0),
            memory_max_bytes: AtomicU64::new(0),
            instructions: AtomicU64::new(0),
            running: AtomicI64::new(0),
            suspended: AtomicI64::new(0),
            queued: AtomicI64::new(0),
        }
    }

    /// Count a move to the slow lane for `reason` (`deadline`, `cpu_share`...).
    pub fn penalty(&self, reason: &'static str) {
        let mut p = self.penalties.lock().unwrap_or_else(|e| e.into_inner());
        *p.entry(reason).or_default() += 1;
    }

    /// Count a response.
    pub fn response(&self, status: u16, latency: Duration) {
        if let Some(c) = self.statuses.get(status.wrapping_sub(100) as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.latency.observe(latency);
    }

    /// Count a guest failure of `kind` (`heap_out_of_bounds`, `deadline`...).
    pub fn failure(&self, kind: &'static str) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        *f.entry(kind).or_default() += 1;
    }

    /// Responses with `status` so far.
    pub fn responses(&self, status: u16) -> u64 {
        self.statuses
            .get(status.wrapping_sub(100) as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// Why a request was turned away with 503 before reaching a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Every worker busy and the queue full.
    QueueFull,
    /// The route's own concurrency limit reached.
    RouteConcurrency,
    /// No free instance slot (should not happen: a slot per worker).
    RegionFull,
    /// The server is shutting down.
    ShuttingDown,
    /// The route is in the slow lane, and its queue is full.
    SlowLaneFull,
}

impl Rejection {
    /// Its label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::QueueFull => "queue_full",
            Rejection::RouteConcurrency => "route_concurrency",
            Rejection::RegionFull => "region_full",
            Rejection::ShuttingDown => "shutting_down",
            Rejection::SlowLaneFull => "slow_lane_full",
        }
    }

    const ALL: [Rejection; 5] = [
        Rejection::QueueFull,
        Rejection::RouteConcurrency,
        Rejection::RegionFull,
        Rejection::ShuttingDown,
        Rejection::SlowLaneFull,
    ];
}

/// Why a connection was closed by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnClose {
    /// Accepted and closed at once: `max_connections` were open.
    MaxConnections,
    /// Accepted and closed at once: the client had
    /// `max_connections_per_client` open.
    PerClient,
    /// No whole request head within `header_read_timeout`.
    HeaderTimeout,
    /// Idle longer than `idle_timeout`.
    IdleTimeout,
}

impl ConnClose {
    /// Its label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnClose::MaxConnections => "max_connections",
            ConnClose::PerClient => "per_client",
            ConnClose::HeaderTimeout => "header_timeout",
            ConnClose::IdleTimeout => "idle_timeout",
        }
    }

    const ALL: [ConnClose; 4] = [
        ConnClose::MaxConnections,
        ConnClose::PerClient,
        ConnClose::HeaderTimeout,
        ConnClose::IdleTimeout,
    ];
}

/// Milliseconds since `epoch`.
fn ms_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

/// Every metric of a server, and the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    /// The configured routes', then (last) those of requests that matched
    /// no route. Shared with the registry, which reads them at each scrape.
    routes: Arc<[RouteMetrics]>,
    /// Instances alive right now.
    pub live_instances: Gauge,
    /// Requests accepted and not yet answered.
    pub in_flight: Gauge,
    /// Requests waiting for a worker.
    pub queued: Gauge,
    /// Connections open right now.
    pub open_connections: Gauge,
    /// Connections accepted (including those closed at once).
    pub connections: Counter,
    /// By [`Rejection`], in the order of `Rejection::ALL`.
    rejected: [Counter; 5],
    /// By [`ConnClose`], in the order of `ConnClose::ALL`.
    closed: [Counter; 4],
    epoch: Instant,
    registry: Registry,
}

impl Metrics {
    /// Metrics for these routes (in this order).
    pub fn new<'a>(routes: impl IntoIterator<Item = &'a str>) -> Metrics {
        let routes = routes
            .into_iter()
            .chain([""])
            .map(RouteMetrics::new)
            .collect();
        let mut m = Metrics {
            routes,
            live_instances: Gauge::default(),
            in_flight: Gauge::default(),
            queued: Gauge::default(),
            open_connections: Gauge::default(),
            connections: Counter::default(),
            rejected: Default::default(),
            closed: Default::default(),
            epoch: Instant::now(),
            registry: Registry::default(),
        };
        m.registry = exposition::registry(&m);
        m
    }

    /// Milliseconds since the metrics were made: the clock of slow-lane
    /// penalties.
    pub fn now_ms(&self) -> u64 {
        ms_since(self.epoch)
    }

    /// Count a connection the server closed.
    pub fn conn_closed(&self, why: ConnClose) {
        self.closed[why as usize].inc();
    }

    /// Connections closed for `why` so far.
    pub fn conn_closed_count(&self, why: ConnClose) -> u64 {
        self.closed[why as usize].get()
    }

    /// Route `i`'s metrics.
    pub fn route(&self, i: usize) -> &RouteMetrics {
        &self.configured()[i]
    }

    /// The metrics of requests that matched no route (and of the metrics
    /// endpoint): only their responses and latency are exposed.
    pub fn unrouted(&self) -> &RouteMetrics {
        &self.routes[self.routes.len() - 1]
    }

    fn configured(&self) -> &[RouteMetrics] {
        &self.routes[..self.routes.len() - 1]
    }

    /// Count a request turned away.
    pub fn reject(&self, why: Rejection) {
        self.rejected[why as usize].inc();
    }

    /// Everything, in the Prometheus text exposition format (0.0.4): serve
    /// it with [`CONTENT_TYPE`].
    pub fn render(&self) -> String {
        exposition::render(&self.registry)
    }
}
