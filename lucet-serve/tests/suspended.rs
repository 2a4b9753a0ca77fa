//! Guests that wait hold no worker: sleepers and guests reading a body
//! still on the wire are suspended while the workers serve others; the
//! deadline still ends them with 504. And modules with a start function:
//! it runs under the request's limits.

mod common;

use common::*;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn server(builder: lucet_serve::ConfigBuilder, routes: &[String]) -> TestServer {
    let config = builder
        .toml(&routes.concat(), ".")
        .unwrap()
        .build()
        .unwrap();
    TestServer::start(config)
}

/// The issue's case, shortened: with the default two workers, four
/// requests sleeping under a longer deadline left a /hello waiting for the
/// sleeps. Now ten sleepers on one worker overlap, and /hello is answered
/// at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_guests_hold_no_worker() {
    let s = server(
        config().workers(1),
        &[
            route_toml("/sleep", &so("sleep", false), "deadline = \"4s\""),
            route_toml("/hello", &so("hello", false), ""),
        ],
    );
    let addr = s.addr;
    let start = Instant::now();
    let sleepers: Vec<_> = (0..10)
        .map(|_| tokio::spawn(request(addr, "GET", "/sleep?ms=1500", &[], b"")))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let m = s.get("/metrics").await.text();
    assert_eq!(
        metric(&m, "lucet_serve_route_suspended{route=\"/sleep\"}"),
        10.0,
        "{m}"
    );
    assert_eq!(metric(&m, "lucet_serve_live_instances"), 10.0, "{m}");
    let t = Instant::now();
    let r = s.get("/hello").await;
    assert_eq!(r.status, 200);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "/hello took {:?}",
        t.elapsed()
    );
    for h in sleepers {
        let r = h.await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "slept 1500 ms\n");
    }
    // One after the other they would take 15 s.
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    s.shutdown().await;
}

/// A guest sleeping past its deadline gets 504 at the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_ends_a_sleeping_guest() {
    let s = server(
        config().workers(1),
        &[route_toml(
            "/sleep",
            &so("sleep", false),
            "deadline = \"300ms\"",
        )],
    );
    let t = Instant::now();
    let r = s.get("/sleep?ms=60000").await;
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(r.text().contains("deadline"));
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let m = s.get("/metrics").await.text();
    assert_eq!(
        metric(&m, "lucet_serve_route_suspended{route=\"/sleep\"}"),
        0.0
    );
    assert_eq!(metric(&m, "lucet_serve_live_instances"), 0.0);
    s.shutdown().await;
}

const HEAD: &str =
    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n";

/// A body that arrives in two parts: the guest reads the first, is
/// suspended until the second comes, and the one worker serves /hello
/// meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_still_arriving_is_streamed_to_the_guest() {
    let s = server(
        config().workers(1),
        &[
            route_toml("/echo", &so("echo", false), "deadline = \"5s\""),
            route_toml("/hello", &so("hello", false), ""),
        ],
    );
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(HEAD.as_bytes()).await.unwrap();
    c.write_all(b"hello").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let m = s.get("/metrics").await.text();
    assert_eq!(
        metric(&m, "lucet_serve_route_suspended{route=\"/echo\"}"),
        1.0,
        "{m}"
    );
    let t = Instant::now();
    assert_eq!(s.get("/hello").await.status, 200);
    assert!(t.elapsed() < Duration::from_millis(500));
    c.write_all(b"world").await.unwrap();
    let r = read_response(&mut c).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "helloworld");
    s.shutdown().await;
}

/// A body that never completes: 504 at the deadline, and the connection is
/// closed (the rest of the body will not be read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_comes_ends_at_the_deadline() {
    let s = server(
        config().workers(1),
        &[route_toml(
            "/echo",
            &so("echo", false),
            "deadline = \"300ms\"",
        )],
    );
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(HEAD.as_bytes()).await.unwrap();
    c.write_all(b"half").await.unwrap();
    let t = Instant::now();
    let r = read_response(&mut c).await;
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(closed_within(&mut c, Duration::from_secs(5))
        .await
        .is_some());
    s.shutdown().await;
}

/// A body cut short by the client: the guest's read fails, and the server
/// goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_fails_only_its_request() {
    let s = server(
        config().workers(1),
        &[
            route_toml("/echo", &so("echo", false), "deadline = \"5s\""),
            route_toml("/hello", &so("hello", false), ""),
        ],
    );
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(HEAD.as_bytes()).await.unwrap();
    c.write_all(b"half").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let m = s.get("/metrics").await.text();
    assert_eq!(metric(&m, "lucet_serve_live_instances"), 0.0, "{m}");
    assert_eq!(s.get("/hello").await.status, 200);
    s.shutdown().await;
}

/// A start function that never returns is stopped by the deadline (504),
/// again and again, and the server stays healthy, or by its CPU time
/// (500) without a deadline; a start function that does its job runs
/// before `_start`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_functions_run_under_the_requests_limits() {
    let dir = tempfile::tempdir().unwrap();
    let looping = dir.path().join("start_loop.wat");
    std::fs::write(
        &looping,
        r#"(module
             (memory 1)
             (func $forever (loop $l (br $l)))
             (start $forever)
             (func (export "_start")))"#,
    )
    .unwrap();
    let working = dir.path().join("start_init.wat");
    std::fs::write(
        &working,
        r#"(module
             (import "wasi_snapshot_preview1" "fd_write"
               (func $fd_write (param i32 i32 i32 i32) (result i32)))
             (memory (export "memory") 1)
             (data (i32.const 16) "started: ?\n")
             (func $init (i32.store8 (i32.const 25) (i32.const 83)))
             (start $init)
             (func (export "_start")
               (i32.store (i32.const 0) (i32.const 16))
               (i32.store (i32.const 4) (i32.const 11))
               (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
    )
    .unwrap();
    let s = server(
        config().penalty("none"),
        &[
            route_toml(
                "/start-loop",
                &looping,
                "deadline = \"200ms\"\ncpu_time = \"none\"",
            ),
            route_toml(
                "/start-spin",
                &looping,
                "deadline = \"none\"\ncpu_time = \"50ms\"",
            ),
            route_toml("/start-init", &working, ""),
            route_toml("/hello", &so("hello", false), ""),
        ],
    );
    for _ in 0..3 {
        let t = Instant::now();
        let r = s.get("/start-loop").await;
        assert_eq!(r.status, 504, "{}", r.text());
        assert!(r.text().contains("deadline"), "{}", r.text());
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert_eq!(s.get("/hello").await.status, 200);
    }
    let r = s.get("/start-spin").await;
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.text().contains("cpu_time"), "{}", r.text());
    let r = s.get("/start-init").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "started: S\n");
    let m = s.get("/metrics").await.text();
    assert_eq!(
        metric(
            &m,
            "lucet_serve_guest_failures_total{route=\"/start-loop\",kind=\"deadline\"}"
        ),
        3.0,
        "{m}"
    );
    s.shutdown().await;
}

/// A guest whose client went away is stopped (running or asleep): its
/// instance is dropped at once, not at its deadline, and counted as
/// `client_gone`. And a server with such a guest running stops promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_whose_client_went_away_are_stopped() {
    let mut s = server(
        config().penalty("none"),
        &[
            route_toml("/sleep", &so("sleep", false), "deadline = \"60s\""),
            route_toml(
                "/loop",
                &so("loop", false),
                "deadline = \"none\"\ncpu_time = \"none\"",
            ),
            route_toml("/hello", &so("hello", false), ""),
        ],
    );
    for path in ["/sleep?ms=60000", "/loop"] {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let m = s.get("/metrics").await.text();
        assert_eq!(metric(&m, "lucet_serve_live_instances"), 1.0, "{path}\n{m}");
        drop(c);
        let t = Instant::now();
        loop {
            let m = s.get("/metrics").await.text();
            if metric(&m, "lucet_serve_live_instances") == 0.0 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(3),
                "{path}: still running\n{m}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let m = s.get("/metrics").await.text();
    for route in ["/sleep", "/loop"] {
        let sample =
            format!("lucet_serve_guest_failures_total{{route=\"{route}\",kind=\"client_gone\"}}");
        assert_eq!(metric(&m, &sample), 1.0, "{sample}\n{m}");
    }
    assert_eq!(s.get("/hello").await.status, 200);
    // A runaway guest whose client has left does not hold up shutdown.
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"GET /loop HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(c);
    s.begin_shutdown();
    let t = Instant::now();
    s.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}
