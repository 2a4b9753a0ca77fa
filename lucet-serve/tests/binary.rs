//! The `lucet-serve` binary: command-line routes, one log line per
//! request, and SIGTERM finishing in-flight requests before exiting.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    /// Wait (at most 20 s) for a stderr line containing `needle`.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no {needle:?} in the log:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -TERM failed");
    }

    /// Wait (at most 10 s) for the process to exit.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        for _ in 0..1000 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        panic!("lucet-serve did not exit:\n{}", self.seen.join("\n"));
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[String]) -> Running {
    start_with(args, &[])
}

fn start_with(args: &[String], env: &[(&str, &std::path::Path)]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lucet-serve"))
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lucet-serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    Running {
        child,
        lines,
        seen: Vec::new(),
    }
}

fn route(path: &str, so: &std::path::Path) -> [String; 2] {
    ["--route".into(), format!("{path}={}", so.display())]
}

impl Running {
    /// The address from the "listening" line.
    fn addr(&mut self) -> std::net::SocketAddr {
        let line = self.wait_for("listening");
        line.split("addr=")
            .nth(1)
            .and_then(|a| a.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
    }
}

fn listen_args() -> Vec<String> {
    ["--listen", "127.0.0.1:0", "--workers", "1"]
        .map(String::from)
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_then_exits() {
    let mut args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--deadline",
        "5s",
    ]
    .map(String::from)
    .to_vec();
    args.extend(route("/sleep", &so("sleep", false)));
    args.extend(route("/oob", &so("oob", false)));
    let mut server = start(&args);
    let line = server.wait_for("listening");
    let addr: std::net::SocketAddr = line
        .split("addr=")
        .nth(1)
        .and_then(|a| a.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    // one line per request, key=value, with the cause of a failure
    let r = request(addr, "GET", "/oob", &[], b"").await;
    assert_eq!(r.status, 500);
    let log = server.wait_for("request failed");
    for field in [
        "method=GET",
        "path=\"/oob\"",
        "status=500",
        "kind=\"heap_out_of_bounds\"",
        "cause=\"trap: out of bounds memory access",
    ] {
        assert!(log.contains(field), "{field} missing from {log}");
    }

    let slow = tokio::spawn(request(addr, "GET", "/sleep?ms=500", &[], b""));
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.terminate();
    server.wait_for("SIGTERM");
    let r = slow.await.unwrap();
    assert_eq!(r.status, 200, "the in-flight request completes");
    assert_eq!(r.text(), "slept 500 ms\n");
    server.wait_for("path=\"/sleep\"");
    server.wait_for("stopped");
    let status = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    // connections are refused once it is gone
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[test]
fn bad_command_lines_exit_1_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_lucet-serve"))
        .args(["--route", "no-equals-sign"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PATH=MODULE"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_lucet-serve"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no routes"));
}

/// As in a minimal container image: no /tmp (TMPDIR names a directory
/// that does not exist). Precompiled routes need no directory at all; the
/// server serves, drains on SIGTERM (not ready, still serving) and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precompiled_routes_need_no_temp_dir_and_sigterm_drains() {
    let missing = std::path::Path::new("/nonexistent/lucet-serve-tmp");
    assert!(!missing.exists());
    let mut args = listen_args();
    args.extend(["--drain-delay".into(), "1s".into()]);
    args.extend(route("/hello", &so("hello", false)));
    let mut server = start_with(&args, &[("TMPDIR", missing)]);
    let addr = server.addr();
    assert_eq!(
        request(addr, "GET", "/hello", &[], b"").await.text(),
        "Hello, world!\n"
    );
    assert_eq!(request(addr, "GET", "/readyz", &[], b"").await.status, 200);
    assert_eq!(request(addr, "GET", "/healthz", &[], b"").await.status, 200);

    let t = Instant::now();
    server.terminate();
    server.wait_for("SIGTERM");
    server.wait_for("draining");
    let r = request(addr, "GET", "/readyz", &[], b"").await;
    assert_eq!((r.status, r.text().as_str()), (503, "draining\n"));
    assert_eq!(request(addr, "GET", "/hello", &[], b"").await.status, 200);
    server.wait_for("stopped");
    let status = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
}

/// A .wasm route needs a scratch directory to compile in: without one the
/// server says where it looked and what to do, and exits 1.
#[test]
fn wasm_routes_without_a_temp_dir_say_what_to_do() {
    let out = Command::new(env!("CARGO_BIN_EXE_lucet-serve"))
        .args(listen_args())
        .args(route("/hello", &wasm("hello")))
        .env("TMPDIR", "/nonexistent/lucet-serve-tmp")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "lucet-serve: error: route /hello",
        "creating a directory for compiled modules in /nonexistent/lucet-serve-tmp",
        "TMPDIR",
        "No such file or directory",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from {err}");
    }
}

/// The objects compiled from .wasm routes are removed once loaded (the
/// runtime holds each module in memory): nothing is left in TMPDIR while
/// the server runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_routes_leave_nothing_in_the_temp_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = listen_args();
    args.extend(route("/hello", &wasm("hello")));
    let mut server = start_with(&args, &[("TMPDIR", tmp.path())]);
    let addr = server.addr();
    assert_eq!(request(addr, "GET", "/hello", &[], b"").await.status, 200);
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    server.terminate();
    assert!(server.wait_exit().success());
}
