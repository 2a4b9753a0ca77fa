//! The server end to end on a loopback port: routing, the CGI mapping,
//! every failure mode and limit, 503 under saturation, metrics and
//! graceful shutdown. Handlers are the committed C examples in
//! `handlers/`.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// Routes for the well-behaved handlers, with a 2 s deadline.
fn good_routes() -> String {
    [
        route_toml("/hello", &so("hello", false), ""),
        route_toml("/echo", &so("echo", false), ""),
        route_toml("/env/...", &so("cgi_env", false), ""),
        route_toml("/json", &so("json", false), ""),
    ]
    .concat()
}

fn server(toml: &str) -> TestServer {
    let config = config()
        .toml(&format!("[defaults]\ndeadline = \"2s\"\n{toml}"), ".")
        .unwrap()
        .build()
        .unwrap();
    TestServer::start(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_exact_prefix_and_unknown() {
    let s = server(&good_routes());
    let r = s.get("/hello").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello, world!\n");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(r.header("x-request-id").is_some());
    // a query string does not change the route
    assert_eq!(s.get("/hello?x=1").await.status, 200);
    // exact routes match only themselves
    assert_eq!(s.get("/hello/more").await.status, 404);
    // a prefix route matches itself and everything below, by segment
    for path in ["/env", "/env/", "/env/a/b"] {
        assert_eq!(s.get(path).await.status, 200, "{path}");
    }
    let r = s.get("/envy").await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("no route"));
    assert_eq!(s.get("/").await.status, 404);
    s.shutdown().await;
}

fn env_of(r: &Reply) -> Vec<(String, String)> {
    r.text()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cgi_environment() {
    let s = server(&good_routes());
    let r = request(
        s.addr,
        "POST",
        "/env/a%20b/c?x=1&y=%2F",
        &[
            ("Content-Type", "application/x-test"),
            ("X-Custom-Header", "custom value"),
            ("Accept", "text/plain"),
        ],
        b"0123456789",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let env = env_of(&r);
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{k} missing from {env:?}"))
    };
    assert_eq!(get("argv[0]"), "/env/...");
    assert_eq!(get("REQUEST_METHOD"), "POST");
    assert_eq!(get("SCRIPT_NAME"), "/env");
    assert_eq!(get("PATH_INFO"), "/a b/c");
    assert_eq!(get("X_RAW_PATH_INFO"), "/a%20b/c");
    assert_eq!(get("QUERY_STRING"), "x=1&y=%2F");
    assert_eq!(get("REQUEST_URI"), "/env/a%20b/c?x=1&y=%2F");
    assert_eq!(get("CONTENT_TYPE"), "application/x-test");
    assert_eq!(get("CONTENT_LENGTH"), "10");
    assert_eq!(get("HTTP_X_CUSTOM_HEADER"), "custom value");
    assert_eq!(get("HTTP_ACCEPT"), "text/plain");
    assert_eq!(get("HTTP_HOST"), s.addr.to_string());
    assert_eq!(get("SERVER_PROTOCOL"), "HTTP/1.1");
    assert_eq!(get("GATEWAY_INTERFACE"), "CGI/1.1");
    assert_eq!(get("SERVER_PORT"), s.addr.port().to_string());
    assert_eq!(get("REMOTE_ADDR"), "127.0.0.1");
    assert_eq!(get("X_MATCHED_ROUTE"), "/env/...");
    assert_eq!(
        get("X_FULL_URL"),
        format!("http://{}/env/a%20b/c?x=1&y=%2F", s.addr)
    );
    // only what the request says: no host environment leaks in
    assert!(!env.iter().any(|(k, _)| k == "PATH" || k == "HOME"));
    assert!(!env.iter().any(|(k, _)| k == "HTTP_CONTENT_TYPE"));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_body_and_cgi_output_headers() {
    let s = server(&good_routes());
    let body: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let r = request(
        s.addr,
        "PUT",
        "/echo?status=201",
        &[("Content-Type", "application/x-bytes")],
        &body,
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body, body, "the body goes to stdin and comes back intact");
    assert_eq!(r.header("content-type"), Some("application/x-bytes"));
    assert_eq!(r.header("x-echo-method"), Some("PUT"));
    // a GET without a body: empty stdin, default type
    let r = s.get("/echo").await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_transform() {
    let s = server(&good_routes());
    let input = br#"{"b": [1, 2.5, {"z": null, "y": true}], "a": "hi\n\u00e9x"}"#;
    let r = request(
        s.addr,
        "POST",
        "/json",
        &[("Content-Type", "application/json")],
        input,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.text(),
        "{\"a\":\"HI\\n\\u00e9X\",\"b\":[2,5,{\"y\":true,\"z\":null}]}\n"
    );
    let r = request(s.addr, "POST", "/json", &[], br#"{"a": [1, }"#).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "{\"error\":\"unexpected character\",\"offset\":10}\n"
    );
    s.shutdown().await;
}

/// Every hostile handler fails its own request with the right status and
/// kind, and the server answers the next request as if nothing happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_modes_fail_only_their_request() {
    let toml = [
        good_routes(),
        route_toml("/loop", &so("loop", false), "deadline = \"50ms\""),
        route_toml("/oob", &so("oob", false), ""),
        route_toml("/stack", &so("stack_overflow", false), ""),
        route_toml("/grow", &so("grow", false), "heap = \"8MiB\""),
        route_toml("/exit", &so("exit_fail", false), ""),
        route_toml("/flood", &so("flood", false), "max_output = \"64KiB\""),
        route_toml("/sleep", &so("sleep", false), "deadline = \"100ms\""),
    ]
    .concat();
    let s = server(&toml);
    let cases = [
        ("/loop", 504, "deadline"),
        ("/oob", 500, "heap_out_of_bounds"),
        ("/stack", 500, "stack_overflow"),
        // malloc fails at the heap limit; the handler aborts
        ("/grow", 500, "unreachable"),
        ("/exit", 500, "exit"),
        ("/flood", 500, "output_limit"),
        // blocked in a WASI call (nanosleep) past the deadline
        ("/sleep?ms=10000", 504, "deadline"),
    ];
    for (path, status, kind) in cases {
        let t = Instant::now();
        let r = s.get(path).await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert!(r.text().contains(kind), "{path}: {}", r.text());
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{path} took {:?}",
            t.elapsed()
        );
        let ok = s.get("/hello").await;
        assert_eq!(ok.status, 200, "after {path}");
        assert_eq!(ok.text(), "Hello, world!\n");
    }
    // within the heap limit the same handler works
    let r = s.get("/grow?mib=4").await;
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("allocated 4 MiB"), "{}", r.text());
    // and a short sleep inside the deadline too
    assert_eq!(s.get("/sleep?ms=5").await.status, 200);
    let m = s.get("/metrics").await.text();
    for (path, _, kind) in cases {
        let route = path.split('?').next().unwrap();
        let sample =
            format!("lucet_serve_guest_failures_total{{route=\"{route}\",kind=\"{kind}\"}}");
        assert_eq!(metric(&m, &sample), 1.0, "{sample}\n{m}");
    }
    assert_eq!(metric(&m, "lucet_serve_live_instances"), 0.0);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instruction_budget() {
    let toml = [
        route_toml(
            "/loop",
            &so("loop", true),
            "deadline = \"none\"\ninstruction_budget = 1000000",
        ),
        route_toml(
            "/hello",
            &so("hello", true),
            "deadline = \"none\"\ninstruction_budget = 1000000",
        ),
    ]
    .concat();
    let s = server(&toml);
    let t = Instant::now();
    let r = s.get("/loop").await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("instruction_budget"), "{}", r.text());
    assert!(t.elapsed() < Duration::from_secs(2));
    // a small handler fits the same budget
    assert_eq!(s.get("/hello").await.status, 200);
    s.shutdown().await;

    // a budget needs a module compiled with instruction counting
    let config = config()
        .toml(
            &route_toml("/loop", &so("loop", false), "instruction_budget = 1000"),
            ".",
        )
        .unwrap()
        .build()
        .unwrap();
    let err = lucet_serve::Server::new(config).err().expect("refused");
    assert!(
        format!("{err:#}").contains("instruction counting"),
        "{err:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_body_limit() {
    let s = server(&route_toml("/echo", &so("echo", false), "max_body = 100"));
    let r = request(s.addr, "POST", "/echo", &[], &[b'x'; 100]).await;
    assert_eq!(r.status, 200);
    let r = request(s.addr, "POST", "/echo", &[], &[b'x'; 101]).await;
    assert_eq!(r.status, 413);
    s.shutdown().await;
}

/// One worker, a queue of one: of several concurrent requests that keep
/// the worker busy, two are taken (one running, one waiting) and the rest
/// get 503 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturation_gets_503_not_a_queue() {
    let config = config()
        .workers(1)
        .queue(1)
        .penalty("none")
        .toml(
            &route_toml("/spin", &so("spin", false), "cpu_time = \"none\""),
            ".",
        )
        .unwrap()
        .build()
        .unwrap();
    let s = TestServer::start(config);
    let t = Instant::now();
    let replies = futures_join(
        (0..5)
            .map(|_| request(s.addr, "GET", "/spin?ms=300", &[], b""))
            .collect(),
    )
    .await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let busy: Vec<_> = replies.iter().filter(|r| r.status == 503).collect();
    assert_eq!(ok + busy.len(), 5, "{replies:?}");
    assert!((1..=2).contains(&ok), "{ok} served");
    assert!(busy.len() >= 3);
    assert_eq!(busy[0].header("retry-after"), Some("1"));
    assert!(t.elapsed() < Duration::from_secs(3));
    let m = s.get("/metrics").await.text();
    assert_eq!(
        metric(&m, "lucet_serve_rejected_total{reason=\"queue_full\"}"),
        busy.len() as f64
    );
    s.shutdown().await;
}

/// A route's own concurrency limit keeps one tenant from taking every
/// worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_concurrency_limit() {
    let toml = [
        route_toml("/sleep", &so("sleep", false), "max_concurrency = 1"),
        route_toml("/hello", &so("hello", false), ""),
    ]
    .concat();
    let s = server(&toml);
    let slow = tokio::spawn(request(s.addr, "GET", "/sleep?ms=300", &[], b""));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = s.get("/sleep?ms=1").await;
    assert_eq!(r.status, 503);
    assert!(r.text().contains("concurrency"));
    // other routes still have the second worker
    assert_eq!(s.get("/hello").await.status, 200);
    assert_eq!(slow.await.unwrap().status, 200);
    // and the permit came back
    assert_eq!(s.get("/sleep?ms=1").await.status, 200);
    s.shutdown().await;
}

async fn futures_join(
    futs: Vec<impl std::future::Future<Output = Reply> + Send + 'static>,
) -> Vec<Reply> {
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Good requests interleaved with hostile ones on other connections all
/// succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_neighbours_do_not_fail_good_requests() {
    let toml = [
        route_toml("/hello", &so("hello", false), ""),
        route_toml("/loop", &so("loop", false), "deadline = \"5ms\""),
        route_toml("/oob", &so("oob", false), ""),
        route_toml("/stack", &so("stack_overflow", false), ""),
    ]
    .concat();
    let s = server(&toml);
    let addr = s.addr;
    let mut tasks = Vec::new();
    for t in 0..3 {
        tasks.push(tokio::spawn(async move {
            for _ in 0..40 {
                let r = request(addr, "GET", "/hello", &[], b"").await;
                assert_eq!(r.status, 200, "good request failed in task {t}");
            }
        }));
    }
    for path in ["/loop", "/oob", "/stack"] {
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                let r = request(addr, "GET", path, &[], b"").await;
                // (503: the route is in the slow lane, its queue full)
                assert!([500, 503, 504].contains(&r.status), "{path}: {}", r.status);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let m = s.get("/metrics").await.text();
    assert_eq!(
        metric(
            &m,
            "lucet_serve_requests_total{route=\"/hello\",status=\"200\"}"
        ),
        120.0
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint() {
    let s = server(&good_routes());
    for _ in 0..3 {
        assert_eq!(s.get("/hello").await.status, 200);
    }
    assert_eq!(s.get("/nowhere").await.status, 404);
    let r = s.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let m = r.text();
    assert_eq!(
        metric(
            &m,
            "lucet_serve_requests_total{route=\"/hello\",status=\"200\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(&m, "lucet_serve_requests_total{route=\"\",status=\"404\"}"),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            "lucet_serve_request_duration_seconds_count{route=\"/hello\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(
            &m,
            "lucet_serve_request_duration_seconds_bucket{route=\"/hello\",le=\"+Inf\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(
            &m,
            "lucet_serve_instantiation_duration_seconds_count{route=\"/hello\"}"
        ),
        3.0
    );
    assert!(m.contains("# TYPE lucet_serve_live_instances gauge\nlucet_serve_live_instances 0\n"));
    // the metrics request itself is in flight while rendered
    assert_eq!(metric(&m, "lucet_serve_in_flight_requests"), 1.0);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let toml = [
        route_toml("/sleep", &so("sleep", false), ""),
        route_toml("/hello", &so("hello", false), ""),
    ]
    .concat();
    let mut s = server(&toml);
    let addr = s.addr;
    let slow = tokio::spawn(request(addr, "GET", "/sleep?ms=400", &[], b""));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    s.begin_shutdown();
    // new connections are refused soon after
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "still accepting after shutdown began");
    let r = slow.await.unwrap();
    assert_eq!(r.status, 200, "the in-flight request completes");
    assert_eq!(r.text(), "slept 400 ms\n");
    s.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_timeout_stops_runaway_guests() {
    let config = config()
        .shutdown_timeout("200ms")
        .toml(
            &route_toml(
                "/loop",
                &so("loop", false),
                "deadline = \"none\"\ncpu_time = \"none\"",
            ),
            ".",
        )
        .unwrap()
        .build()
        .unwrap();
    let mut s = TestServer::start(config);
    let addr = s.addr;
    let stuck = tokio::spawn(request(addr, "GET", "/loop", &[], b""));
    tokio::time::sleep(Duration::from_millis(150)).await;
    s.begin_shutdown();
    let t = Instant::now();
    s.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // the runaway guest was stopped, and its client told so
    let r = stuck.await.unwrap();
    assert_eq!(r.status, 500);
    assert!(r.text().contains("terminated"), "{}", r.text());
}

#[test]
fn startup_errors_name_the_route() {
    let bad = |toml: String| {
        let config = config().toml(&toml, ".").unwrap().build().unwrap();
        format!(
            "{:#}",
            lucet_serve::Server::new(config).err().expect("refused")
        )
    };
    let e = bad(route_toml(
        "/x",
        std::path::Path::new("/nonexistent.wasm"),
        "",
    ));
    assert!(e.contains("route /x") && e.contains("nonexistent"), "{e}");
    // not a WASI command
    let dir = tempfile::tempdir().unwrap();
    let wat = dir.path().join("lib.wat");
    std::fs::write(&wat, "(module (func (export \"f\")))").unwrap();
    let e = bad(route_toml("/lib", &wat, ""));
    assert!(e.contains("_start"), "{e}");
    // initial memory beyond the heap limit
    let wat = dir.path().join("big.wat");
    std::fs::write(&wat, "(module (memory 64) (func (export \"_start\")))").unwrap();
    let e = bad(route_toml("/big", &wat, "heap = \"1MiB\""));
    assert!(e.contains("route /big") && e.contains("limit"), "{e}");
}

/// A route given as .wasm is compiled at startup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasm_routes_compile_at_startup() {
    let config = config().route("/hello", wasm("hello")).build().unwrap();
    let s = TestServer::start(config);
    assert_eq!(s.get("/hello").await.text(), "Hello, world!\n");
    s.shutdown().await;
}

/// A route whose guest runs into its deadline moves to the low-priority
/// slow lane for the penalty time; other routes stay where they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_offenders_move_to_the_slow_lane() {
    let config = config()
        .penalty("10s")
        .toml(
            &[
                route_toml("/loop", &so("loop", false), "deadline = \"20ms\""),
                route_toml("/hello", &so("hello", false), ""),
            ]
            .concat(),
            ".",
        )
        .unwrap()
        .build()
        .unwrap();
    let s = TestServer::start(config);
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(s.get("/loop").await.status, 504);
        // (the slow lane runs when the CPU has nothing else to do)
        assert!(t.elapsed() < Duration::from_secs(10));
        assert_eq!(s.get("/hello").await.status, 200);
    }
    let m = s.get("/metrics").await.text();
    // the first ran in the normal lane, the next two in the slow lane
    assert_eq!(
        metric(&m, "lucet_serve_slow_lane_requests_total{route=\"/loop\"}"),
        2.0
    );
    assert_eq!(
        metric(&m, "lucet_serve_slow_lane_requests_total{route=\"/hello\"}"),
        0.0
    );
    s.shutdown().await;
}

/// With trusted keys, every route's module must be signed by one of them:
/// signed .so and .wasm routes serve, an unsigned or foreign-signed route
/// stops the server from starting, naming the route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_keys_require_every_route_to_verify() {
    use lucetc::signing::{generate_keypair, load_secret_key, sign_file, Password};
    let dir = tempfile::tempdir().unwrap();
    let key = |name: &str| {
        let secret = dir.path().join(format!("{name}.key"));
        let public = dir.path().join(format!("{name}.pub"));
        generate_keypair(&secret, &public, Password::None).unwrap();
        (load_secret_key(&secret, Password::None).unwrap(), public)
    };
    let (ours, ours_pub) = key("ours");
    let (theirs, _) = key("theirs");
    let copy = |from: &std::path::Path, name: &str| {
        let to = dir.path().join(name);
        std::fs::copy(from, &to).unwrap();
        to
    };
    let signed_so = copy(&so("hello", false), "signed.so");
    sign_file(&signed_so, &ours).unwrap();
    let signed_wasm = copy(&wasm("hello"), "signed.wasm");
    sign_file(&signed_wasm, &ours).unwrap();
    let unsigned = copy(&so("hello", false), "unsigned.so");
    let foreign = copy(&so("hello", false), "foreign.so");
    sign_file(&foreign, &theirs).unwrap();
    let tampered = copy(&wasm("hello"), "tampered.wasm");
    sign_file(&tampered, &ours).unwrap();
    let mut bytes = std::fs::read(&tampered).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&tampered, bytes).unwrap();

    let routes = |extra: &[(&str, &std::path::PathBuf)]| {
        let mut t = route_toml("/so", &signed_so, "");
        t += &route_toml("/wasm", &signed_wasm, "");
        for (path, module) in extra {
            t += &route_toml(path, module, "");
        }
        t
    };
    let refused = |extra: &[(&str, &std::path::PathBuf)]| {
        let config = config()
            .toml(&routes(extra), ".")
            .unwrap()
            .trusted_key(&ours_pub)
            .build()
            .unwrap();
        format!(
            "{:#}",
            lucet_serve::Server::new(config).err().expect("refused")
        )
    };
    let e = refused(&[("/unsigned", &unsigned)]);
    assert!(
        e.contains("route /unsigned") && e.contains("unsigned"),
        "{e}"
    );
    let e = refused(&[("/foreign", &foreign)]);
    assert!(
        e.contains("route /foreign") && e.contains("not trusted"),
        "{e}"
    );
    let e = refused(&[("/tampered", &tampered)]);
    assert!(
        e.contains("route /tampered") && e.contains("does not match"),
        "{e}"
    );

    // Without keys the same routes are served unchecked.
    let unchecked = config()
        .toml(&routes(&[("/unsigned", &unsigned)]), ".")
        .unwrap();
    let s = TestServer::start(unchecked.build().unwrap());
    assert_eq!(s.get("/unsigned").await.status, 200);
    s.shutdown().await;

    // Keys from the TOML file (relative to its directory), all routes signed.
    let toml = format!("trusted_keys = [\"ours.pub\"]\n{}", routes(&[]));
    let from_file = config().toml(&toml, dir.path()).unwrap().build().unwrap();
    let s = TestServer::start(from_file);
    assert_eq!(s.get("/so").await.text(), "Hello, world!\n");
    assert_eq!(s.get("/wasm").await.text(), "Hello, world!\n");
    s.shutdown().await;
}
