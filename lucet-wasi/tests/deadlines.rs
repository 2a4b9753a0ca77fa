//! Deadlines and interrupts reach a guest blocked in any WASI call: reads
//! and writes on pipes, FIFOs, terminals and sockets, opening a FIFO,
//! `poll_oneoff`, sleeps, `sock_accept`. Each guest (tests/conformance/c/
//! block.c) really blocks: it says so on stderr, then makes the call, and
//! nothing it waits for ever comes. `lucet-wasi --timeout 1s` must end it
//! soon after the second, and say how long it really ran.
//!
//! The bounds are loose (the machine is shared): the run must end before
//! 3 s, and the reported time must be at least the timeout and agree with
//! the time measured here. The latencies are printed (`--nocapture`).

mod common;

use common::*;
use lucet_runtime::{Error, Instance, Limits, Linker, Module, Termination};
use lucet_wasi::WasiCtxBuilder;
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(1);
const LOOSE_BOUND: Duration = Duration::from_secs(3);

/// A FIFO at `path`.
fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path; no memory is retained.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// `lucet-wasi --timeout 1s [extra...] block.so MODE [ARG]`.
fn block_command(extra: &[&str], mode: &str, arg: Option<&str>) -> Command {
    let mut cmd = lucet_wasi();
    cmd.args(["--timeout", "1s"])
        .args(extra)
        .arg(compiled_conformance("block"))
        .arg(mode)
        .args(arg);
    cmd
}

/// Start `cmd` (stdio already set up, stderr is captured here), wait for it
/// to end (killing it after 20 s, a failure), and check it was stopped by
/// its deadline while blocked in `mode`. Returns the reported time.
fn expect_stopped(mut cmd: Command, mode: &str, hold: impl FnOnce(&mut Child)) -> Duration {
    let start = Instant::now();
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lucet-wasi");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    hold(&mut child);
    let (tx, rx) = mpsc::channel();
    let pid = child.id();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send((status, Instant::now()));
    });
    let (status, ended) = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(r) => r,
        Err(_) => {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("{mode}: lucet-wasi was not stopped by --timeout 1s in 20 s");
        }
    };
    waiter.join().unwrap();
    let took = ended - start;
    let stderr = reader.join().unwrap();
    let status = status.unwrap();
    assert!(
        stderr.contains(&format!("blocking in {mode}\n")),
        "{mode}: the guest did not reach the call: {stderr}"
    );
    assert!(!stderr.contains("the call returned"), "{mode}: {stderr}");
    assert_eq!(status.code(), Some(1), "{mode}: {stderr}");
    let reported = stopped_after(&stderr).unwrap_or_else(|| panic!("{mode}: {stderr}"));
    eprintln!("{mode}: stopped after {reported:?} (measured {took:?})");
    assert!(took < LOOSE_BOUND, "{mode}: took {took:?}");
    assert!(reported >= TIMEOUT, "{mode}: reported {reported:?}");
    assert!(
        reported <= took,
        "{mode}: reported {reported:?}, took {took:?}"
    );
    reported
}

/// The time in "error: timed out: the guest was stopped after 1.002s".
fn stopped_after(stderr: &str) -> Option<Duration> {
    let line = stderr.lines().find(|l| l.starts_with("error: timed out"))?;
    let after = line.split("stopped after ").nth(1)?;
    let word = after.split_whitespace().next()?;
    let (num, scale) = if let Some(ms) = word.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(us) = word.strip_suffix("µs") {
        (us, 1e-6)
    } else {
        (word.strip_suffix('s')?, 1.0)
    };
    Some(Duration::from_secs_f64(num.parse::<f64>().ok()? * scale))
}

#[test]
fn reading_an_idle_stdin_pipe() {
    let mut cmd = block_command(&[], "stdin", None);
    cmd.stdin(Stdio::piped()).stdout(Stdio::null());
    // The write end stays open (and empty) until the run ends.
    let mut held = None;
    expect_stopped(cmd, "stdin", |c| held = c.stdin.take());
}

#[test]
fn writing_a_full_stdout_pipe() {
    let mut cmd = block_command(&[], "stdout", None);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    // Nobody reads: the pipe fills up and the guest's write waits.
    let mut held = None;
    expect_stopped(cmd, "stdout", |c| held = c.stdout.take());
}

#[test]
fn polling_stdin() {
    let mut cmd = block_command(&[], "poll-stdin", None);
    cmd.stdin(Stdio::piped()).stdout(Stdio::null());
    let mut held = None;
    expect_stopped(cmd, "poll-stdin", |c| held = c.stdin.take());
}

#[test]
fn sleeping() {
    let mut cmd = block_command(&[], "sleep", None);
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    expect_stopped(cmd, "sleep", |_| {});
}

/// A pseudo-terminal: (master, slave).
fn pty() -> (OwnedFd, File) {
    // SAFETY: plain libc calls on a descriptor we own; ptsname_r writes at
    // most `buf.len()` bytes.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(m >= 0, "posix_openpt");
        let master = OwnedFd::from_raw_fd(m);
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let mut buf = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()), 0);
        let name = std::ffi::CStr::from_ptr(buf.as_ptr()).to_str().unwrap();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags_noctty()
            .open(name)
            .unwrap();
        (master, slave)
    }
}

trait NoCtty {
    fn custom_flags_noctty(&mut self) -> &mut Self;
}

impl NoCtty for std::fs::OpenOptions {
    fn custom_flags_noctty(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NOCTTY)
    }
}

#[test]
fn reading_a_terminal() {
    let (_master, slave) = pty();
    let mut cmd = block_command(&[], "stdin", None);
    cmd.stdin(Stdio::from(slave)).stdout(Stdio::null());
    expect_stopped(cmd, "stdin", |_| {});
}

#[test]
fn writing_a_full_terminal() {
    // Nobody reads the terminal's other side: its buffer fills up.
    let (_master, slave) = pty();
    let mut cmd = block_command(&[], "stdout", None);
    cmd.stdin(Stdio::null()).stdout(Stdio::from(slave));
    expect_stopped(cmd, "stdout", |_| {});
}

#[test]
fn writing_a_full_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let root = format!("{}::/", dir.path().display());
    let mut cmd = block_command(&["--dir", &root], "fifo-fill", Some("/fifo"));
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    // A reader that never reads: opened once the guest is running (the
    // guest's open waits for it).
    let mut reader = None;
    expect_stopped(cmd, "fifo-fill", |_| {
        reader = Some(File::open(&fifo).unwrap());
    });
}

#[test]
fn reading_a_fifo_nobody_writes() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("fifo"));
    let root = format!("{}::/", dir.path().display());
    let mut cmd = block_command(&["--dir", &root], "fifo-read", Some("/fifo"));
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    expect_stopped(cmd, "fifo-read", |_| {});
}

#[test]
fn reading_a_fifo_whose_writer_is_silent() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    // Held open for reading and writing here (no wait), never written.
    let _held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let root = format!("{}::/", dir.path().display());
    let mut cmd = block_command(&["--dir", &root], "fifo-read", Some("/fifo"));
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    expect_stopped(cmd, "fifo-read", |_| {});
}

#[test]
fn opening_a_fifo_nobody_reads() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("fifo"));
    let root = format!("{}::/", dir.path().display());
    let mut cmd = block_command(&["--dir", &root], "fifo-write", Some("/fifo"));
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    expect_stopped(cmd, "fifo-write", |_| {});
}

#[test]
fn accepting_on_a_socket_nobody_connects_to() {
    let mut cmd = block_command(&["--tcplisten", "127.0.0.1:0"], "accept", None);
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    expect_stopped(cmd, "accept", |_| {});
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connect to 127.0.0.1:`port`, retrying while the listener comes up.
fn connect(port: u16) -> std::net::TcpStream {
    let start = Instant::now();
    loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("connect to {port}: {e}"),
        }
    }
}

#[test]
fn receiving_on_a_silent_connection() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = block_command(&["--tcplisten", &addr], "recv", None);
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    let mut held = None;
    expect_stopped(cmd, "recv", |_| held = Some(connect(port)));
}

#[test]
fn reading_a_silent_connection() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = block_command(&["--tcplisten", &addr], "sock-read", None);
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    let mut held = None;
    expect_stopped(cmd, "sock-read", |_| held = Some(connect(port)));
}

#[test]
fn writing_a_connection_nobody_reads() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = block_command(&["--tcplisten", &addr], "sock-write", None);
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    let mut held = None;
    expect_stopped(cmd, "sock-write", |_| held = Some(connect(port)));
}

// ---- in process: the embedder's deadline and interrupt handle ----

fn fifo_guest(dir: &Path) -> Instance {
    // SAFETY: the object was just compiled by this test's lucetc and nothing else writes its directory.
    let module = unsafe { Module::load_unverified(compiled_conformance("block")) }.unwrap();
    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    let ctx = WasiCtxBuilder::new()
        .args(["block", "fifo-read", "/fifo"])
        .preopened_dir(dir, "/")
        .stderr(lucet_wasi::WritePipe::new())
        .build()
        .unwrap();
    let mut i = Instance::new(&module, &linker, Limits::default()).unwrap();
    i.set_context(ctx);
    i
}

#[test]
fn an_interrupt_handle_reaches_a_guest_waiting_in_wasi() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("fifo"));
    let mut i = fifo_guest(dir.path());
    let handle = i.interrupt_handle();
    let (tx, rx) = mpsc::channel();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let at = Instant::now();
        // The run may not have begun if this machine is slow: keep trying
        // (for a while: it may also have ended, which the test reports).
        while !handle.interrupt() && at.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        tx.send(at).unwrap();
    });
    let r = i.run("_start", &[]);
    let ended = Instant::now();
    stopper.join().unwrap();
    let asked = rx.recv().unwrap();
    assert!(
        matches!(r, Err(Error::Terminated(Termination::Interrupted))),
        "{r:?}"
    );
    eprintln!("interrupt: run ended {:?} after", ended - asked);
    assert!(ended - asked < Duration::from_secs(1));
}

#[test]
fn an_instance_deadline_reaches_a_guest_waiting_in_wasi() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("fifo"));
    let mut i = fifo_guest(dir.path());
    i.set_deadline(Some(Duration::from_millis(300)));
    let start = Instant::now();
    let r = i.run("_start", &[]);
    let took = start.elapsed();
    assert!(
        matches!(r, Err(Error::Terminated(Termination::Deadline { .. }))),
        "{r:?}"
    );
    eprintln!("deadline 300ms: run took {took:?}");
    assert!(
        took >= Duration::from_millis(300) && took < LOOSE_BOUND,
        "{took:?}"
    );
}

#[test]
fn fifos_carry_data_both_ways_with_blocking_semantics() {
    // The guest opens `in` for reading (at once) and `out` for writing
    // (waiting for this test to open it), copies until the writer here
    // closes `in`, then closes `out`.
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("in"));
    mkfifo(&dir.path().join("out"));
    let child = lucet_wasi()
        .args(["--timeout", "20s", "--dir"])
        .arg(format!("{}::/", dir.path().display()))
        .arg(compiled_conformance("fifo_copy"))
        .args(["/in", "/out"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 31 + i / 7) as u8).collect();
    let input = dir.path().join("in");
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        // Blocks until the guest opens it for reading; a pause first, so
        // that the guest's first read has to wait for the data.
        let mut f = std::fs::OpenOptions::new().write(true).open(input).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        std::io::Write::write_all(&mut f, &sent).unwrap();
    });
    // Opening for reading lets the guest's open for writing through.
    let mut got = Vec::new();
    File::open(dir.path().join("out"))
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    writer.join().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(got == data, "{} bytes came back", got.len());
    assert_eq!(stdout(&out), "copied 200000 bytes\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
}

/// A start function runs under the timeout too (it runs before `_start`,
/// inside instantiation in the spec's terms).
#[test]
fn a_looping_start_function_is_stopped_by_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let wat = dir.path().join("spin_start.wat");
    std::fs::write(
        &wat,
        r#"(module
          (func $forever (loop $l (br $l)))
          (start $forever)
          (func (export "_start")))"#,
    )
    .unwrap();
    let so = compiled_wasm(&wat);
    let start = Instant::now();
    let out = run(lucet_wasi().args(["--timeout", "1s"]).arg(&so), b"");
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("timed out: the guest was stopped after 1."),
        "{}",
        stderr(&out)
    );
    assert!(took < LOOSE_BOUND, "{took:?}");
}
