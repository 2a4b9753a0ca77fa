//! The metrics as Prometheus scrapes them: every family's name, help and
//! labels, registered once with a `prometheus-client` registry, which
//! writes the text format (names, escaping, numbers, histogram lines).
//!
//! Families come out in registration order, and the samples of a family
//! in configuration order (routes), in sorted order (status, reason,
//! kind) or in the fixed order of [`Rejection::ALL`] and
//! [`ConnClose::ALL`]. Counters are registered without `_total`: the
//! encoder appends it. Help texts have no final full stop: the registry
//! adds one.

use super::{ms_since, ConnClose, Histogram, Metrics, Rejection, RouteMetrics};
use prometheus_client::encoding::{
    prometheus_text, EncodeLabelValue, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

/// The `Content-Type` of [`Metrics::render`]'s text.
pub use prometheus_text::CONTENT_TYPE;

/// Every family of `m`, in the order they are rendered.
pub(super) fn registry(m: &Metrics) -> Registry {
    let mut reg = Registry::default();
    let all = m.routes.len();
    let configured = all - 1;
    let per_route = |count, kind, sample: Sample| PerRoute {
        routes: m.routes.clone(),
        count,
        kind,
        sample,
    };
    reg.register(
        "lucet_serve_requests",
        "Requests answered, by route and status",
        ByRouteAnd {
            routes: m.routes.clone(),
            count: all,
            label: "status",
            counts: |r| {
                let nonzero = r.statuses.iter().enumerate().filter_map(|(i, c)| {
                    let n = c.load(Relaxed);
                    (n > 0).then_some((i as u16 + 100, n))
                });
                nonzero.collect()
            },
        },
    );
    reg.register(
        "lucet_serve_request_duration_seconds",
        "Time from request to response",
        per_route(
            all,
            MetricType::Histogram,
            Box::new(|r, e| r.latency.encode(e)),
        ),
    );
    reg.register(
        "lucet_serve_instantiation_duration_seconds",
        "Time to create a fresh instance",
        per_route(
            configured,
            MetricType::Histogram,
            Box::new(|r, e| r.instantiate.encode(e)),
        ),
    );
    reg.register(
        "lucet_serve_request_cpu_seconds",
        "CPU time of each request's guest",
        per_route(
            configured,
            MetricType::Histogram,
            Box::new(|r, e| r.cpu.encode(e)),
        ),
    );
    let counter = |read: fn(&RouteMetrics) -> u64| -> Sample {
        Box::new(move |r, e| ConstCounter::new(read(r)).encode(e))
    };
    let seconds = |read: fn(&RouteMetrics) -> u64| -> Sample {
        Box::new(move |r, e| ConstCounter::new(read(r) as f64 / 1e9).encode(e))
    };
    let gauge = |read: fn(&RouteMetrics) -> i64| -> Sample {
        Box::new(move |r, e| ConstGauge::new(read(r)).encode(e))
    };
    let epoch = m.epoch;
    // Per-route families of one value each: (type, name, help, sample).
    let route_families: [(MetricType, &str, &str, Sample); 10] = [
        (
            MetricType::Counter,
            "lucet_serve_route_cpu_seconds",
            "CPU time the route's guests used (instantiation included)",
            seconds(|r| r.cpu_ns.load(Relaxed)),
        ),
        (
            MetricType::Counter,
            "lucet_serve_route_worker_seconds",
            "Time the route's guests held a worker thread",
            seconds(|r| r.worker_ns.load(Relaxed)),
        ),
        (
            MetricType::Counter,
            "lucet_serve_route_memory_bytes",
            "Sum over the route's requests of the guest's memory at its end",
            counter(|r| r.memory_bytes.load(Relaxed)),
        ),
        (
            MetricType::Counter,
            "lucet_serve_route_instructions",
            "Wasm instructions the route's guests executed (counted modules only)",
            counter(|r| r.instructions.load(Relaxed)),
        ),
        (
            MetricType::Counter,
            "lucet_serve_slow_lane_requests",
            "Requests run in the low-priority lane because their route was over \
             its share (deadline, CPU time, budget, trap, CPU or memory per request)",
            counter(|r| r.slow_lane.load(Relaxed)),
        ),
        (
            MetricType::Gauge,
            "lucet_serve_route_memory_max_bytes",
            "The largest memory a guest of the route had",
            Box::new(|r, e| ConstGauge::new(r.memory_max_bytes.load(Relaxed)).encode(e)),
        ),
        (
            MetricType::Gauge,
            "lucet_serve_route_running",
            "The route's guests on a worker right now",
            gauge(|r| r.running.load(Relaxed)),
        ),
        (
            MetricType::Gauge,
            "lucet_serve_route_suspended",
            "The route's guests suspended (waiting for a timer or a body) right now",
            gauge(|r| r.suspended.load(Relaxed)),
        ),
        (
            MetricType::Gauge,
            "lucet_serve_route_queued",
            "The route's requests waiting for a worker right now",
            gauge(|r| r.queued.load(Relaxed)),
        ),
        (
            MetricType::Gauge,
            "lucet_serve_route_slow_lane",
            "1 while the route is served by the slow lane",
            Box::new(move |r, e| {
                let on = r.penalized_until_ms.load(Relaxed) > ms_since(epoch);
                ConstGauge::new(i64::from(on)).encode(e)
            }),
        ),
    ];
    for (kind, name, help, sample) in route_families {
        reg.register(name, help, per_route(configured, kind, sample));
    }
    reg.register(
        "lucet_serve_slow_lane_moves",
        "Times a route was sent to the slow lane, by the reason of the request that sent it",
        ByRouteAnd {
            routes: m.routes.clone(),
            count: configured,
            label: "reason",
            counts: |r| entries(&r.penalties),
        },
    );
    reg.register(
        "lucet_serve_guest_failures",
        "Requests whose guest failed, by kind (trap code, deadline, cpu_time, \
         instruction_budget, exit, output_limit, ...)",
        ByRouteAnd {
            routes: m.routes.clone(),
            count: configured,
            label: "kind",
            counts: |r| entries(&r.failures),
        },
    );
    reg.register(
        "lucet_serve_rejected",
        "Requests answered 503 without running a guest",
        ByReason(Rejection::ALL.map(|why| (why.as_str(), m.rejected[why as usize].clone()))),
    );
    reg.register(
        "lucet_serve_connections",
        "Connections accepted",
        m.connections.clone(),
    );
    reg.register(
        "lucet_serve_connections_closed",
        "Connections the server closed: refused at accept (max_connections, per_client) \
         or timed out (header_timeout, idle_timeout)",
        ByReason(ConnClose::ALL.map(|why| (why.as_str(), m.closed[why as usize].clone()))),
    );
    let gauges = [
        (
            "lucet_serve_live_instances",
            "Instances alive right now",
            &m.live_instances,
        ),
        (
            "lucet_serve_in_flight_requests",
            "Requests accepted and not yet answered",
            &m.in_flight,
        ),
        (
            "lucet_serve_queued_requests",
            "Requests waiting for a worker",
            &m.queued,
        ),
        (
            "lucet_serve_open_connections",
            "Connections open right now",
            &m.open_connections,
        ),
    ];
    for (name, help, g) in gauges {
        reg.register(name, help, g.clone());
    }
    reg
}

/// `registry` in the Prometheus text format (0.0.4).
pub(super) fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(16 * 1024);
    prometheus_text::encode(&mut out, registry).expect("writing to a String does not fail");
    out
}

/// A snapshot of a count map, in key order.
fn entries(m: &Mutex<BTreeMap<&'static str, u64>>) -> Vec<(&'static str, u64)> {
    let m = m.lock().unwrap_or_else(|e| e.into_inner());
    m.iter().map(|(k, n)| (*k, *n)).collect()
}

/// Writes one route's sample (or histogram) of a family.
type Sample = Box<dyn Fn(&RouteMetrics, MetricEncoder) -> fmt::Result + Send + Sync>;

/// A family with one sample per route, labeled `route`, read from the
/// route's atomics at each scrape.
struct PerRoute {
    routes: Arc<[RouteMetrics]>,
    /// How many routes, from the first: all, or all but the unrouted
    /// requests (last), which run no guest.
    count: usize,
    kind: MetricType,
    sample: Sample,
}

impl EncodeMetric for PerRoute {
    fn encode(&self, mut e: MetricEncoder) -> fmt::Result {
        for r in &self.routes[..self.count] {
            (self.sample)(r, e.encode_family(&[("route", r.route.as_str())])?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        self.kind
    }
}

impl fmt::Debug for PerRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerRoute")
            .field("count", &self.count)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Counters by route and a second label, with a sample only for the values
/// counted at least once.
struct ByRouteAnd<V> {
    routes: Arc<[RouteMetrics]>,
    /// As in [`PerRoute`].
    count: usize,
    label: &'static str,
    counts: fn(&RouteMetrics) -> Vec<(V, u64)>,
}

impl<V: EncodeLabelValue> EncodeMetric for ByRouteAnd<V> {
    fn encode(&self, mut e: MetricEncoder) -> fmt::Result {
        for r in &self.routes[..self.count] {
            for (value, n) in (self.counts)(r) {
                let labels = ([("route", r.route.as_str())], [(self.label, value)]);
                ConstCounter::new(n).encode(e.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

impl<V> fmt::Debug for ByRouteAnd<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByRouteAnd")
            .field("count", &self.count)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Counters labeled `reason`, every reason always present, in a fixed
/// order.
#[derive(Debug)]
struct ByReason<const N: usize>([(&'static str, Counter); N]);

impl<const N: usize> EncodeMetric for ByReason<N> {
    fn encode(&self, mut e: MetricEncoder) -> fmt::Result {
        for (reason, counter) in &self.0 {
            counter.encode(e.encode_family(&[("reason", *reason)])?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

/// The encoder accumulates the buckets and writes `+Inf`, `_sum` and
/// `_count`.
impl EncodeMetric for Histogram {
    fn encode(&self, mut e: MetricEncoder) -> fmt::Result {
        // One load per bucket, so that `+Inf` (the count) is their sum.
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Relaxed)).collect();
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .zip(counts.iter().copied())
            .collect();
        let sum = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        e.encode_histogram::<NoLabelSet>(sum, counts.iter().sum(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ConnClose, Metrics, Rejection};
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::Duration;

    /// The whole scrape of two routes after a few events, byte for byte:
    /// names, types, help, labels (escaped), order and bucket bounds are
    /// what dashboards depend on. It is the hand-written exposition's
    /// output but for two things the crate's encoder decides: bounds below
    /// 1e-4 are written as Go writes them (`5e-05`, was `0.00005`), and
    /// whole-number float values keep a `.0` (`2.0`, was `2`).
    #[test]
    fn scrape_of_two_routes() {
        let m = Metrics::new(["/a", "/q\"uo\\te\nx"]);
        let (a, q) = (m.route(0), m.route(1));
        a.response(200, Duration::from_micros(70));
        a.response(200, Duration::from_millis(3));
        a.response(504, Duration::from_millis(30));
        a.instantiate.observe(Duration::from_micros(4));
        a.cpu.observe(Duration::from_micros(1500));
        a.cpu_ns.fetch_add(1_500_000, Relaxed);
        a.worker_ns.fetch_add(2_000_000_000, Relaxed);
        a.memory_bytes.fetch_add(65536, Relaxed);
        a.memory_max_bytes.fetch_max(65536, Relaxed);
        a.instructions.fetch_add(12345, Relaxed);
        a.running.fetch_add(1, Relaxed);
        q.failure("heap_out_of_bounds");
        q.failure("deadline");
        q.failure("deadline");
        q.penalty("deadline");
        q.slow_lane.fetch_add(3, Relaxed);
        q.penalized_until_ms.store(u64::MAX, Relaxed);
        q.suspended.fetch_add(2, Relaxed);
        q.queued.fetch_add(1, Relaxed);
        m.unrouted().response(404, Duration::from_micros(20));
        m.reject(Rejection::QueueFull);
        m.conn_closed(ConnClose::IdleTimeout);
        m.connections.inc_by(7);
        m.live_instances.inc_by(2);
        m.in_flight.inc();
        m.queued.inc();
        m.open_connections.inc_by(3);

        let text = m.render();
        let expected = include_str!("testdata/two_routes.txt");
        for (i, (got, want)) in text.lines().zip(expected.lines()).enumerate() {
            assert_eq!(got, want, "line {}", i + 1);
        }
        assert_eq!(text.lines().count(), expected.lines().count());
        assert!(text.ends_with('\n'));
        assert_eq!(a.latency.count(), 3);
        assert_eq!(a.responses(200), 2);
        assert_eq!(m.conn_closed_count(ConnClose::IdleTimeout), 1);
    }
}
