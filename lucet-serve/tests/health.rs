//! The server's own endpoints for orchestrators: liveness (`/healthz`),
//! readiness (`/readyz`, 503 once shutdown has begun) and the drain delay
//! that keeps serving, not ready, before the listener closes.

mod common;

use common::*;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

fn hello() -> String {
    route_toml("/hello", &so("hello", false), "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_and_readiness_answer_without_a_guest() {
    let s = TestServer::start(config().toml(&hello(), ".").unwrap().build().unwrap());
    let r = s.get("/healthz").await;
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = s.get("/readyz").await;
    assert_eq!((r.status, r.text().as_str()), (200, "ready\n"));
    // a query string (as some probes add) does not matter
    assert_eq!(s.get("/readyz?verbose").await.status, 200);
    // probes are neither requests of a route nor unrouted ones
    let m = s.get("/metrics").await.text();
    assert_eq!(
        metric(&m, "lucet_serve_requests_total{route=\"\",status=\"404\"}"),
        0.0
    );
    assert!(!m.contains("status=\"200\""), "{m}");
    assert_eq!(
        metric(
            &m,
            "lucet_serve_instantiation_duration_seconds_count{route=\"/hello\"}"
        ),
        0.0
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_paths_are_configurable_and_can_be_turned_off() {
    let toml = format!("health_path = \"/live\"\nready_path = \"\"\n{}", hello());
    let s = TestServer::start(config().toml(&toml, ".").unwrap().build().unwrap());
    assert_eq!(s.get("/live").await.text(), "ok\n");
    // the defaults are no longer special: they are unrouted paths
    assert_eq!(s.get("/healthz").await.status, 404);
    assert_eq!(s.get("/readyz").await.status, 404);
    s.shutdown().await;

    // a catch-all prefix route does not hide them
    let toml = route_toml("/...", &so("hello", false), "");
    let s = TestServer::start(config().toml(&toml, ".").unwrap().build().unwrap());
    assert_eq!(s.get("/readyz").await.text(), "ready\n");
    assert_eq!(s.get("/anything").await.text(), "Hello, world!\n");
    s.shutdown().await;
}

/// With a drain delay, shutdown first turns readiness off while still
/// serving (so a load balancer can stop sending), with every response
/// closing its connection; then the listener closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_serves_but_is_not_ready_then_stops() {
    let config = config()
        .drain_delay("1s")
        .toml(&hello(), ".")
        .unwrap()
        .build()
        .unwrap();
    let mut s = TestServer::start(config);
    let addr = s.addr;
    // a keep-alive connection opened before the shutdown
    let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
    let ask = format!("GET /hello HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    kept.write_all(ask.as_bytes()).await.unwrap();
    let r = read_response(&mut kept).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), None, "kept alive while serving");

    let t = Instant::now();
    s.begin_shutdown();
    let mut seen = None;
    for _ in 0..100 {
        let r = s.get("/readyz").await;
        if r.status == 503 {
            seen = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = seen.expect("readiness turns 503 when shutdown begins");
    assert_eq!(r.text(), "draining\n");
    // still alive, still serving, on new connections and old ones alike
    assert_eq!(s.get("/healthz").await.status, 200);
    assert_eq!(s.get("/hello").await.status, 200);
    kept.write_all(ask.as_bytes()).await.unwrap();
    let r = read_response(&mut kept).await;
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert!(
        closed_within(&mut kept, Duration::from_secs(2))
            .await
            .is_some(),
        "the keep-alive connection is closed after its response"
    );
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );

    // after the delay the listener closes and the server stops
    s.shutdown().await;
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Without a drain delay (the default) the listener closes at once, as
/// before, and a request in flight finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_drain_delay_closes_the_listener_at_once() {
    let toml = [hello(), route_toml("/sleep", &so("sleep", false), "")].concat();
    let mut s = TestServer::start(config().toml(&toml, ".").unwrap().build().unwrap());
    let addr = s.addr;
    let slow = tokio::spawn(request(addr, "GET", "/sleep?ms=300", &[], b""));
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.begin_shutdown();
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "still accepting without a drain delay");
    assert_eq!(slow.await.unwrap().status, 200);
    s.shutdown().await;
}
