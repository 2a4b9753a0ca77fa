//! Connection hygiene on 127.0.0.1: the header-read timeout (silent
//! connections, partial heads, slowloris), the idle keep-alive timeout,
//! the cap on open connections, the cap per client address and the listen
//! backlog. Every wait is bounded; every count is small.

mod common;

use common::*;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn hello_server(b: lucet_serve::ConfigBuilder) -> TestServer {
    let config = b
        .toml(&route_toml("/hello", &so("hello", false), ""), ".")
        .unwrap()
        .build()
        .unwrap();
    TestServer::start(config)
}

/// How long until a connection the server refuses is closed (reset):
/// `connect` itself may already see the reset.
async fn refused(c: std::io::Result<TcpStream>) -> Option<Duration> {
    match c {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Some(Duration::ZERO),
        Err(e) => panic!("connect: {e}"),
        Ok(mut c) => closed_within(&mut c, Duration::from_secs(5)).await,
    }
}

const GET_KEEPALIVE: &[u8] = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";

/// Closed no sooner than `at_least` and well before 5 s.
fn assert_closed_between(took: Option<Duration>, at_least: Duration, what: &str) {
    let took = took.unwrap_or_else(|| panic!("{what}: still open after 5 s"));
    assert!(took >= at_least, "{what}: closed after only {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_read_timeout_closes_silent_partial_and_trickling_connections() {
    let s = hello_server(config().header_read_timeout("300ms").idle_timeout("30s"));
    let limit = Duration::from_secs(5);
    let allowance = Duration::from_millis(250);

    // Sends nothing at all.
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    // Sends part of a head, then nothing.
    let mut partial = TcpStream::connect(s.addr).await.unwrap();
    partial
        .write_all(b"GET /hello HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let (silent_took, partial_took) = tokio::join!(
        closed_within(&mut silent, limit),
        closed_within(&mut partial, limit)
    );
    assert_closed_between(silent_took, allowance, "silent connection");
    assert_closed_between(partial_took, allowance, "partial head");

    // Slowloris: a byte every 50 ms never completes the head, and the
    // trickle does not extend the allowance.
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    let start = Instant::now();
    let head = b"GET /hello HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for b in head.iter() {
        if slow.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if start.elapsed() > limit {
            panic!("slowloris: still open after 5 s");
        }
    }
    let took = start.elapsed()
        + closed_within(&mut slow, limit)
            .await
            .expect("slowloris closed");
    assert!(took < Duration::from_secs(3), "slowloris lasted {took:?}");

    // A whole request in time is answered as usual, on a kept-alive
    // connection.
    let mut good = TcpStream::connect(s.addr).await.unwrap();
    for _ in 0..3 {
        good.write_all(GET_KEEPALIVE).await.unwrap();
        assert_eq!(read_response(&mut good).await.status, 200);
    }
    drop(good);

    let m = s.get("/metrics").await.text();
    assert_eq!(
        metric(
            &m,
            "lucet_serve_connections_closed_total{reason=\"header_timeout\"}"
        ),
        3.0,
        "{m}"
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keepalive_connections_are_closed_busy_ones_are_not() {
    let s = hello_server(config().header_read_timeout("30s").idle_timeout("300ms"));
    // One request, then idle.
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    idle.write_all(GET_KEEPALIVE).await.unwrap();
    assert_eq!(read_response(&mut idle).await.status, 200);
    let took = closed_within(&mut idle, Duration::from_secs(5));
    assert_closed_between(took.await, Duration::from_millis(250), "idle connection");

    // Requests every 100 ms keep a connection open well past 300 ms.
    let mut busy = TcpStream::connect(s.addr).await.unwrap();
    let start = Instant::now();
    for _ in 0..8 {
        busy.write_all(GET_KEEPALIVE).await.unwrap();
        assert_eq!(read_response(&mut busy).await.status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(start.elapsed() > Duration::from_millis(600));
    drop(busy);

    let m = s.get("/metrics").await.text();
    assert_eq!(
        metric(
            &m,
            "lucet_serve_connections_closed_total{reason=\"idle_timeout\"}"
        ),
        1.0,
        "{m}"
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_connections_new_ones_are_accepted_and_closed() {
    let s = hello_server(config().max_connections(4));
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(s.addr).await.unwrap());
    }
    // (Let the server count them.)
    tokio::time::sleep(Duration::from_millis(100)).await;
    let took = refused(TcpStream::connect(s.addr).await).await;
    assert!(
        took.is_some_and(|t| t < Duration::from_secs(2)),
        "the fifth connection was not closed at once: {took:?}"
    );
    // The four held are served.
    held[0].write_all(GET_KEEPALIVE).await.unwrap();
    assert_eq!(read_response(&mut held[0]).await.status, 200);
    // Once one closes, a new connection is served.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let m = s.get("/metrics").await.text();
    assert_eq!(
        metric(
            &m,
            "lucet_serve_connections_closed_total{reason=\"max_connections\"}"
        ),
        1.0,
        "{m}"
    );
    assert_eq!(metric(&m, "lucet_serve_open_connections"), 4.0, "{m}");
    drop(held);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_address_cannot_take_every_connection() {
    let s = hello_server(config().max_connections(100).max_connections_per_client(3));
    let local: IpAddr = "127.0.0.1".parse().unwrap();
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(local, s.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let took = refused(connect_from(local, s.addr).await).await;
    assert!(
        took.is_some_and(|t| t < Duration::from_secs(2)),
        "the fourth connection from one address was not closed: {took:?}"
    );
    // Another address is served meanwhile.
    let mut c = connect_from(other, s.addr).await.unwrap();
    c.write_all(GET_KEEPALIVE).await.unwrap();
    let r = read_response(&mut c).await;
    assert_eq!(r.status, 200);
    drop(c);
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let m = s.get("/metrics").await.text();
    assert_eq!(
        metric(
            &m,
            "lucet_serve_connections_closed_total{reason=\"per_client\"}"
        ),
        1.0,
        "{m}"
    );
    s.shutdown().await;
}

/// Connections completed by the kernel for a server that does not accept
/// yet (`Server::new` listens; `run` accepts), each given `wait`.
async fn connects_queued(server: &lucet_serve::Server, n: usize, wait: Duration) -> usize {
    let addr = server.local_addr();
    let attempts: Vec<_> = (0..n)
        .map(|_| tokio::spawn(tokio::time::timeout(wait, TcpStream::connect(addr))))
        .collect();
    let mut ok = Vec::new();
    for a in attempts {
        if let Ok(Ok(s)) = a.await.unwrap() {
            ok.push(s);
        }
    }
    ok.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listen_backlog_is_configurable_and_large_by_default() {
    let build = |b: lucet_serve::ConfigBuilder| {
        b.toml(&route_toml("/hello", &so("hello", false), ""), ".")
            .unwrap()
            .build()
            .unwrap()
    };
    // The default (4,096) queues a burst of 300 connects, which the old
    // backlog of 128 did not.
    let big = lucet_serve::Server::new(build(config())).unwrap();
    let n = connects_queued(&big, 300, Duration::from_secs(3)).await;
    assert_eq!(n, 300, "only {n} of 300 connects completed");
    drop(big);
    // A backlog of 8 queues about 8 (the kernel allows one more); the rest
    // wait for a SYN retry, longer than the half second given.
    let small = lucet_serve::Server::new(build(config().listen_backlog(8))).unwrap();
    let n = connects_queued(&small, 40, Duration::from_millis(500)).await;
    assert!((1..=16).contains(&n), "{n} of 40 connects completed");
}
