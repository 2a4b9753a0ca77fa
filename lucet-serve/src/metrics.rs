//! Counters, gauges and histograms, rendered in the Prometheus text format.
//!
//! Everything on the request path is a relaxed atomic add: no locks, no
//! allocation. Failures and slow-lane moves (rare) go through small maps
//! under a mutex. Every label value is either a route as configured or a
//! fixed identifier (`&'static str`): nothing rendered with `Debug`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
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

/// A histogram with fixed buckets.
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

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            let le = match self.bounds.get(i) {
                Some(b) => format!("{b}"),
                None => "+Inf".into(),
            };
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = |l: &str| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{{{l}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {cumulative}", braces(labels));
    }
}

/// Metrics of one route.
pub struct RouteMetrics {
    label: String,
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
            label: escape(route),
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

/// Every metric of a server.
pub struct Metrics {
    routes: Vec<RouteMetrics>,
    /// Requests that matched no route (and the metrics endpoint).
    pub unrouted: RouteMetrics,
    /// Instances alive right now.
    pub live_instances: AtomicI64,
    /// Requests accepted and not yet answered.
    pub in_flight: AtomicI64,
    /// Requests waiting for a worker.
    pub queued: AtomicI64,
    /// Connections open right now.
    pub open_connections: AtomicI64,
    /// Connections accepted (including those closed at once).
    pub connections: AtomicU64,
    rejected: [AtomicU64; 5],
    closed: [AtomicU64; 4],
    epoch: Instant,
}

/// A per-route sample: name, help, and how to read it.
type PerRoute<'a, T> = (&'a str, &'a str, &'a dyn Fn(&RouteMetrics) -> T);

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Metrics for these routes (in this order).
    pub fn new<'a>(routes: impl IntoIterator<Item = &'a str>) -> Metrics {
        Metrics {
            routes: routes.into_iter().map(RouteMetrics::new).collect(),
            unrouted: RouteMetrics::new(""),
            live_instances: AtomicI64::new(0),
            in_flight: AtomicI64::new(0),
            queued: AtomicI64::new(0),
            open_connections: AtomicI64::new(0),
            connections: AtomicU64::new(0),
            rejected: Default::default(),
            closed: Default::default(),
            epoch: Instant::now(),
        }
    }

    /// Milliseconds since the metrics were made: the clock of slow-lane
    /// penalties.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Count a connection the server closed.
    pub fn conn_closed(&self, why: ConnClose) {
        self.closed[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections closed for `why` so far.
    pub fn conn_closed_count(&self, why: ConnClose) -> u64 {
        self.closed[why as usize].load(Ordering::Relaxed)
    }

    /// Route `i`'s metrics.
    pub fn route(&self, i: usize) -> &RouteMetrics {
        &self.routes[i]
    }

    /// Count a request turned away.
    pub fn reject(&self, why: Rejection) {
        self.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Everything, in the Prometheus text exposition format (0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        let all = || self.routes.iter().chain(std::iter::once(&self.unrouted));
        out.push_str(
            "# HELP lucet_serve_requests_total Requests answered, by route and status.\n\
             # TYPE lucet_serve_requests_total counter\n",
        );
        for r in all() {
            for (i, c) in r.statuses.iter().enumerate() {
                let n = c.load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "lucet_serve_requests_total{{route=\"{}\",status=\"{}\"}} {n}",
                        r.label,
                        i + 100
                    );
                }
            }
        }
        out.push_str(
            "# HELP lucet_serve_request_duration_seconds Time from request to response.\n\
             # TYPE lucet_serve_request_duration_seconds histogram\n",
        );
        for r in all() {
            let labels = format!("route=\"{}\"", r.label);
            r.latency
                .render(&mut out, "lucet_serve_request_duration_seconds", &labels);
        }
        out.push_str(
            "# HELP lucet_serve_instantiation_duration_seconds Time to create a fresh instance.\n\
             # TYPE lucet_serve_instantiation_duration_seconds histogram\n",
        );
        for r in &self.routes {
            let labels = format!("route=\"{}\"", r.label);
            r.instantiate.render(
                &mut out,
                "lucet_serve_instantiation_duration_seconds",
                &labels,
            );
        }
        out.push_str(
            "# HELP lucet_serve_request_cpu_seconds CPU time of each request's guest.\n\
             # TYPE lucet_serve_request_cpu_seconds histogram\n",
        );
        for r in &self.routes {
            let labels = format!("route=\"{}\"", r.label);
            r.cpu
                .render(&mut out, "lucet_serve_request_cpu_seconds", &labels);
        }
        let route_counters: [PerRoute<f64>; 5] = [
            (
                "lucet_serve_route_cpu_seconds_total",
                "CPU time the route's guests used (instantiation included).",
                &|r| r.cpu_ns.load(Ordering::Relaxed) as f64 / 1e9,
            ),
            (
                "lucet_serve_route_worker_seconds_total",
                "Time the route's guests held a worker thread.",
                &|r| r.worker_ns.load(Ordering::Relaxed) as f64 / 1e9,
            ),
            (
                "lucet_serve_route_memory_bytes_total",
                "Sum over the route's requests of the guest's memory at its end.",
                &|r| r.memory_bytes.load(Ordering::Relaxed) as f64,
            ),
            (
                "lucet_serve_route_instructions_total",
                "Wasm instructions the route's guests executed (counted modules only).",
                &|r| r.instructions.load(Ordering::Relaxed) as f64,
            ),
            (
                "lucet_serve_slow_lane_requests_total",
                "Requests run in the low-priority lane because their route was over \
                 its share (deadline, CPU time, budget, trap, CPU or memory per request).",
                &|r| r.slow_lane.load(Ordering::Relaxed) as f64,
            ),
        ];
        for (name, help, get) in route_counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for r in &self.routes {
                let _ = writeln!(out, "{name}{{route=\"{}\"}} {}", r.label, get(r));
            }
        }
        let now = self.now_ms();
        let route_gauges: [PerRoute<i64>; 5] = [
            (
                "lucet_serve_route_memory_max_bytes",
                "The largest memory a guest of the route had.",
                &|r| r.memory_max_bytes.load(Ordering::Relaxed) as i64,
            ),
            (
                "lucet_serve_route_running",
                "The route's guests on a worker right now.",
                &|r| r.running.load(Ordering::Relaxed),
            ),
            (
                "lucet_serve_route_suspended",
                "The route's guests suspended (waiting for a timer or a body) right now.",
                &|r| r.suspended.load(Ordering::Relaxed),
            ),
            (
                "lucet_serve_route_queued",
                "The route's requests waiting for a worker right now.",
                &|r| r.queued.load(Ordering::Relaxed),
            ),
            (
                "lucet_serve_route_slow_lane",
                "1 while the route is served by the slow lane.",
                &|r| i64::from(r.penalized_until_ms.load(Ordering::Relaxed) > now),
            ),
        ];
        for (name, help, get) in route_gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for r in &self.routes {
                let _ = writeln!(out, "{name}{{route=\"{}\"}} {}", r.label, get(r));
            }
        }
        out.push_str(
            "# HELP lucet_serve_slow_lane_moves_total Times a route was sent to the slow \
             lane, by the reason of the request that sent it.\n\
             # TYPE lucet_serve_slow_lane_moves_total counter\n",
        );
        for r in &self.routes {
            let p = r.penalties.lock().unwrap_or_else(|e| e.into_inner());
            for (reason, n) in p.iter() {
                let _ = writeln!(
                    out,
                    "lucet_serve_slow_lane_moves_total{{route=\"{}\",reason=\"{reason}\"}} {n}",
                    r.label
                );
            }
        }
        out.push_str(
            "# HELP lucet_serve_guest_failures_total Requests whose guest failed, by kind \
             (trap code, deadline, cpu_time, instruction_budget, exit, output_limit, ...).\n\
             # TYPE lucet_serve_guest_failures_total counter\n",
        );
        for r in &self.routes {
            let f = r.failures.lock().unwrap_or_else(|e| e.into_inner());
            for (kind, n) in f.iter() {
                let _ = writeln!(
                    out,
                    "lucet_serve_guest_failures_total{{route=\"{}\",kind=\"{kind}\"}} {n}",
                    r.label
                );
            }
        }
        out.push_str(
            "# HELP lucet_serve_rejected_total Requests answered 503 without running a guest.\n\
             # TYPE lucet_serve_rejected_total counter\n",
        );
        for why in Rejection::ALL {
            let _ = writeln!(
                out,
                "lucet_serve_rejected_total{{reason=\"{}\"}} {}",
                why.as_str(),
                self.rejected[why as usize].load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP lucet_serve_connections_total Connections accepted.\n\
             # TYPE lucet_serve_connections_total counter\n",
        );
        let _ = writeln!(
            out,
            "lucet_serve_connections_total {}",
            self.connections.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP lucet_serve_connections_closed_total Connections the server closed: \
             refused at accept (max_connections, per_client) or timed out (header_timeout, \
             idle_timeout).\n\
             # TYPE lucet_serve_connections_closed_total counter\n",
        );
        for why in ConnClose::ALL {
            let _ = writeln!(
                out,
                "lucet_serve_connections_closed_total{{reason=\"{}\"}} {}",
                why.as_str(),
                self.closed[why as usize].load(Ordering::Relaxed)
            );
        }
        let gauges = [
            (
                "lucet_serve_live_instances",
                "Instances alive right now.",
                &self.live_instances,
            ),
            (
                "lucet_serve_in_flight_requests",
                "Requests accepted and not yet answered.",
                &self.in_flight,
            ),
            (
                "lucet_serve_queued_requests",
                "Requests waiting for a worker.",
                &self.queued,
            ),
            (
                "lucet_serve_open_connections",
                "Connections open right now.",
                &self.open_connections,
            ),
        ];
        for (name, help, g) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                g.load(Ordering::Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_counts_and_histograms() {
        let m = Metrics::new(["/a", "/q\"uote"]);
        m.route(0).response(200, Duration::from_micros(70));
        m.route(0).response(200, Duration::from_millis(3));
        m.route(0).response(504, Duration::from_millis(30));
        m.route(0).instantiate.observe(Duration::from_micros(4));
        m.route(1).failure("heap_out_of_bounds");
        m.reject(Rejection::QueueFull);
        m.live_instances.fetch_add(2, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("lucet_serve_requests_total{route=\"/a\",status=\"200\"} 2\n"));
        assert!(text.contains("lucet_serve_requests_total{route=\"/a\",status=\"504\"} 1\n"));
        assert!(text.contains(
            "lucet_serve_request_duration_seconds_bucket{route=\"/a\",le=\"0.0001\"} 1\n"
        ));
        assert!(text.contains(
            "lucet_serve_request_duration_seconds_bucket{route=\"/a\",le=\"0.005\"} 2\n"
        ));
        assert!(text
            .contains("lucet_serve_request_duration_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("lucet_serve_request_duration_seconds_count{route=\"/a\"} 3\n"));
        assert!(text.contains(
            "lucet_serve_instantiation_duration_seconds_bucket{route=\"/a\",le=\"0.000005\"} 1\n"
        ));
        assert!(text.contains(
            "lucet_serve_guest_failures_total{route=\"/q\\\"uote\",kind=\"heap_out_of_bounds\"} 1\n"
        ));
        assert!(text.contains("lucet_serve_rejected_total{reason=\"queue_full\"} 1\n"));
        assert!(text.contains("lucet_serve_live_instances 2\n"));
        // every sample line is `name{labels} value` or `name value`
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
