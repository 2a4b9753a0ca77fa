//! Fair shares between tenants: a route never takes every worker, cheap
//! routes are not stuck behind an expensive one, CPU time is limited per
//! request, a route over its share (a trap, CPU or memory per request) goes
//! to the slow lane, and what each route consumes is in /metrics.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn server(builder: lucet_serve::ConfigBuilder, routes: &[String]) -> TestServer {
    let config = builder
        .toml(
            &format!("[defaults]\ndeadline = \"10s\"\n{}", routes.concat()),
            ".",
        )
        .unwrap()
        .build()
        .unwrap();
    TestServer::start(config)
}

fn spin_route(extra: &str) -> String {
    route_toml(
        "/spin",
        &so("spin", false),
        &format!("cpu_time = \"none\"\n{extra}"),
    )
}

/// Two workers: an expensive route gets one of them (its default share is
/// workers - 1), so /hello is answered at once while three long requests
/// of the other route run one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_route_never_takes_every_worker() {
    let s = server(
        config().penalty("none"),
        &[
            spin_route(""),
            route_toml("/hello", &so("hello", false), ""),
        ],
    );
    let addr = s.addr;
    let start = Instant::now();
    let spins: Vec<_> = (0..3)
        .map(|_| tokio::spawn(request(addr, "GET", "/spin?ms=500", &[], b"")))
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let m = s.get("/metrics").await.text();
    assert_eq!(
        metric(&m, "lucet_serve_route_running{route=\"/spin\"}"),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "lucet_serve_route_queued{route=\"/spin\"}"),
        2.0,
        "{m}"
    );
    let t = Instant::now();
    assert_eq!(s.get("/hello").await.status, 200);
    let hello = t.elapsed();
    for h in spins {
        assert_eq!(h.await.unwrap().status, 200);
    }
    // One at a time: three half-second spins take at least 1.5 s.
    assert!(
        start.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        start.elapsed()
    );
    assert!(
        hello < Duration::from_millis(400),
        "/hello waited {hello:?}"
    );
    s.shutdown().await;
}

/// One worker: with expensive requests of one route queued, a cheap route
/// that arrives later goes ahead of them (the route that used less CPU
/// goes first), instead of waiting behind all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cheap_routes_are_not_stuck_behind_an_expensive_one() {
    let s = server(
        config().workers(1).penalty("none"),
        &[
            spin_route(""),
            route_toml("/hello", &so("hello", false), ""),
        ],
    );
    let addr = s.addr;
    let done = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let r = request(addr, "GET", "/spin?ms=100", &[], b"").await;
            done.lock().unwrap().push("spin");
            r.status
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..5 {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let r = request(addr, "GET", "/hello", &[], b"").await;
            done.lock().unwrap().push("hello");
            r.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let order = done.lock().unwrap().clone();
    let last_hello = order.iter().rposition(|k| *k == "hello").unwrap();
    let spins_before = order[..last_hello].iter().filter(|k| **k == "spin").count();
    assert!(
        spins_before <= 2,
        "{spins_before} spins finished before the last hello: {order:?}"
    );
    s.shutdown().await;
}

/// CPU time, not wall time: a guest burning CPU is stopped at its limit
/// (500, `cpu_time`), a guest asleep for longer than that is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_time_is_limited_per_request() {
    let s = server(
        config(),
        &[
            route_toml("/spin", &so("spin", false), "cpu_time = \"100ms\""),
            route_toml(
                "/loop",
                &so("loop", false),
                "cpu_time = \"50ms\"\ndeadline = \"none\"",
            ),
            route_toml("/sleep", &so("sleep", false), "cpu_time = \"50ms\""),
        ],
    );
    for path in ["/spin?ms=5000", "/loop"] {
        let t = Instant::now();
        let r = s.get(path).await;
        assert_eq!(r.status, 500, "{path}: {}", r.text());
        assert!(r.text().contains("cpu_time"), "{path}: {}", r.text());
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "{path}: {:?}",
            t.elapsed()
        );
    }
    let r = s.get("/sleep?ms=300").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let m = s.get("/metrics").await.text();
    for route in ["/spin", "/loop"] {
        let sample =
            format!("lucet_serve_guest_failures_total{{route=\"{route}\",kind=\"cpu_time\"}}");
        assert_eq!(metric(&m, &sample), 1.0, "{sample}\n{m}");
    }
    s.shutdown().await;
}

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim_end().to_string())
        .collect()
}

/// Deadlines and CPU time are the runtime's limits, enforced by its one
/// watchdog thread: the server has no thread of its own watching guests
/// (its threads are the workers, the slow lane and the log writer; lucet
/// adds the watchdog and the WASI timer), a guest asleep for six times its
/// CPU limit is neither stopped nor billed for the sleep, and one that
/// spins is stopped with `cpu_time`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_the_runtimes_and_sleep_is_not_billed() {
    let s = server(
        config(),
        &[
            route_toml("/sleep", &so("sleep", false), "cpu_time = \"50ms\""),
            route_toml(
                "/spin",
                &so("spin", false),
                "cpu_time = \"50ms\"\ndeadline = \"none\"",
            ),
        ],
    );
    let r = s.get("/sleep?ms=300").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.get("/spin?ms=5000").await;
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.text().contains("cpu_time"), "{}", r.text());
    let m = s.get("/metrics").await.text();
    let sleep_cpu = metric(&m, "lucet_serve_route_cpu_seconds_total{route=\"/sleep\"}");
    assert!(sleep_cpu < 0.05, "the sleep was billed: {sleep_cpu} s\n{m}");
    assert_eq!(
        metric(
            &m,
            "lucet_serve_guest_failures_total{route=\"/spin\",kind=\"cpu_time\"}"
        ),
        1.0,
        "{m}"
    );
    // Tests in this process run side by side, so other servers' threads
    // may be here too; every lucet thread must be one of these kinds.
    let names = thread_names();
    let allowed = [
        "lucet-worker-",
        "lucet-slow-",
        "lucet-log",
        "lucet-watchdog",
        "lucet-wasi-time",
    ];
    for name in names.iter().filter(|n| n.starts_with("lucet")) {
        assert!(
            allowed.iter().any(|a| name.starts_with(a)),
            "a thread the server should not have: {name} (all: {names:?})"
        );
    }
    assert!(
        names.iter().any(|n| n == "lucet-watchdog"),
        "no runtime watchdog: {names:?}"
    );
    s.shutdown().await;
}

/// A trap, more CPU time than `penalty_cpu` or more memory than
/// `penalty_memory` sends the route to the slow lane, with the reason in
/// /metrics; well-behaved routes stay where they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_over_their_share_go_to_the_slow_lane() {
    let s = server(
        config().penalty("10s"),
        &[
            route_toml("/oob", &so("oob", false), ""),
            spin_route("penalty_cpu = \"20ms\""),
            route_toml(
                "/grow",
                &so("grow", false),
                "heap = \"64MiB\"\npenalty_memory = \"8MiB\"",
            ),
            route_toml("/hello", &so("hello", false), ""),
        ],
    );
    assert_eq!(s.get("/oob").await.status, 500);
    // Fine requests, but over the route's share.
    assert_eq!(s.get("/spin?ms=60").await.status, 200);
    assert_eq!(s.get("/grow?mib=16").await.status, 200);
    for _ in 0..3 {
        assert_eq!(s.get("/hello").await.status, 200);
    }
    // Their next requests run in the slow lane.
    assert_eq!(s.get("/oob").await.status, 500);
    assert_eq!(s.get("/spin?ms=1").await.status, 200);
    assert_eq!(s.get("/grow?mib=1").await.status, 200);
    let m = s.get("/metrics").await.text();
    for (route, reason) in [
        ("/oob", "heap_out_of_bounds"),
        ("/spin", "cpu_share"),
        ("/grow", "memory_share"),
    ] {
        let moved =
            format!("lucet_serve_slow_lane_moves_total{{route=\"{route}\",reason=\"{reason}\"}}");
        assert_eq!(metric(&m, &moved), 1.0, "{moved}\n{m}");
        let gauge = format!("lucet_serve_route_slow_lane{{route=\"{route}\"}}");
        assert_eq!(metric(&m, &gauge), 1.0, "{gauge}\n{m}");
        let slow = format!("lucet_serve_slow_lane_requests_total{{route=\"{route}\"}}");
        assert_eq!(metric(&m, &slow), 1.0, "{slow}\n{m}");
    }
    assert_eq!(
        metric(&m, "lucet_serve_route_slow_lane{route=\"/hello\"}"),
        0.0
    );
    assert_eq!(
        metric(&m, "lucet_serve_slow_lane_requests_total{route=\"/hello\"}"),
        0.0
    );
    s.shutdown().await;
}

/// Worker time, CPU time and memory are accounted per route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumption_is_visible_per_route() {
    let s = server(
        config().penalty("none"),
        &[
            route_toml("/hello", &so("hello", false), ""),
            route_toml("/grow", &so("grow", false), "heap = \"64MiB\""),
            spin_route(""),
        ],
    );
    for _ in 0..3 {
        assert_eq!(s.get("/hello").await.status, 200);
    }
    assert_eq!(s.get("/grow?mib=4").await.status, 200);
    assert_eq!(s.get("/spin?ms=50").await.status, 200);
    let m = s.get("/metrics").await.text();
    let get = |name: &str, route: &str| metric(&m, &format!("{name}{{route=\"{route}\"}}"));
    assert_eq!(get("lucet_serve_request_cpu_seconds_count", "/hello"), 3.0);
    assert!(
        get("lucet_serve_route_cpu_seconds_total", "/hello") > 0.0,
        "{m}"
    );
    assert!(
        get("lucet_serve_route_worker_seconds_total", "/hello") > 0.0,
        "{m}"
    );
    // The spin burned up to 50 ms of CPU (less if the machine is busy:
    // it spins by the wall clock) while it held a worker for 50 ms.
    let spin_cpu = get("lucet_serve_route_cpu_seconds_total", "/spin");
    assert!((0.005..0.5).contains(&spin_cpu), "{spin_cpu}\n{m}");
    let spin_worker = get("lucet_serve_route_worker_seconds_total", "/spin");
    assert!(spin_worker >= 0.05 && spin_worker >= spin_cpu, "{m}");
    let grow_max = get("lucet_serve_route_memory_max_bytes", "/grow");
    assert!(grow_max >= (4 << 20) as f64, "{grow_max}\n{m}");
    assert!(get("lucet_serve_route_memory_bytes_total", "/grow") >= grow_max);
    assert!(get("lucet_serve_route_memory_max_bytes", "/hello") < grow_max);
    s.shutdown().await;
}
