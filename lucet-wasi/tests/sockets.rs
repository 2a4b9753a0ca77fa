//! TCP through sockets the host hands the guest: `lucet-wasi --tcplisten`
//! (Wasmtime's flag) and `WasiCtxBuilder::preopened_socket`. The guest
//! (tests/conformance/c/tcp_echo.c) serves one connection; this side is the
//! client, over 127.0.0.1.

mod common;

use common::*;
use lucet_runtime::{Instance, Limits, Linker, Module};
use lucet_wasi::{WasiCtxBuilder, WritePipe};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Talk to the echo guest listening on `port`: send one line, read the
/// answer until the guest shuts its side down.
fn client(port: u16, line: &str) -> String {
    let start = Instant::now();
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) if start.elapsed() > Duration::from_secs(10) => panic!("connect: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // In two pieces: the guest reads until the newline.
    s.write_all(&line.as_bytes()[..2]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(&line.as_bytes()[2..]).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn tcplisten_serves_a_connection() {
    // A port that was free a moment ago; another process may take it in
    // between, so a few tries.
    for attempt in 0.. {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
            .env_clear()
            .args(["--timeout", "30s", "--tcplisten"])
            .arg(format!("127.0.0.1:{port}"))
            .arg(compiled_conformance("tcp_echo"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let answer = std::thread::spawn(move || client(port, "hello over tcp\n"));
        let out = child.wait_with_output().unwrap();
        if stderr(&out).contains("cannot listen") && attempt < 5 {
            continue;
        }
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        assert_eq!(answer.join().unwrap(), "echo: hello over tcp\n");
        let text = stdout(&out);
        assert!(text.starts_with("listening socket: fd 3\n"), "{text}");
        assert!(
            text.ends_with("served one connection: echo: hello over tcp\n"),
            "{text}"
        );
        return;
    }
}

#[test]
fn a_bad_tcplisten_address_is_a_one_line_error() {
    let out = run(
        lucet_wasi()
            .args(["--tcplisten", "not-an-address"])
            .arg(compiled_conformance("tcp_echo")),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: cannot listen on not-an-address"));
    assert_eq!(stderr(&out).lines().count(), 1);
}

#[test]
fn an_embedder_hands_over_a_listener_after_the_directories() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = WritePipe::new();
    let ctx = WasiCtxBuilder::new()
        .arg("tcp_echo")
        .preopened_dir(dir.path(), "/data")
        .preopened_socket(listener)
        .stdout(out.clone())
        .build()
        .unwrap();
    // SAFETY: the object was just compiled by this test's lucetc and nothing else writes its directory.
    let module = unsafe { Module::load_unverified(compiled_conformance("tcp_echo")) }.unwrap();
    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    let mut i = Instance::new(&module, &linker, Limits::default()).unwrap();
    i.set_context(ctx);
    let answer = std::thread::spawn(move || client(port, "from the embedder\n"));
    i.run("_start", &[]).unwrap();
    assert_eq!(answer.join().unwrap(), "echo: from the embedder\n");
    let text = String::from_utf8(out.contents()).unwrap();
    // fd 3 is the directory; the socket comes next.
    assert!(text.starts_with("listening socket: fd 4\n"), "{text}");
}
