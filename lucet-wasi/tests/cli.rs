//! The `lucet-wasi` command on real C programs (compiled as `lucetc-wasi`
//! compiles them: lucetc with WASI as the allowed imports; the command
//! itself is tested in lucetc/tests/wasi.rs).

mod common;

use common::*;
use std::time::{Duration, Instant};

#[test]
fn hello_walkthrough() {
    // The README's walk-through, run by the command itself.
    let so = compiled("hello");
    let out = run(lucet_wasi().arg(&so), b"");
    assert_eq!(stdout(&out), "Hello, world!\n");
    assert_eq!(out.status.code(), Some(0));
    let out = run(lucet_wasi().arg(&so).arg("world"), b"");
    assert_eq!(stdout(&out), "Hello from Lucet, world!\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn args_and_env_reach_the_guest_and_nothing_else() {
    let so = compiled("args_env");
    let out = run(
        lucet_wasi()
            .env("HOST_SECRET", "leak")
            .args(["--env", "A=1", "--env", "B=x=y"])
            .arg(&so)
            .args(["one", "--two", "--dir", "x", "", "thr ee"]),
        b"",
    );
    let expected = format!(
        "argc=7\nargv[0]={}\nargv[1]=one\nargv[2]=--two\nargv[3]=--dir\nargv[4]=x\nargv[5]=\nargv[6]=thr ee\nenv: A=1\nenv: B=x=y\n",
        so.display()
    );
    assert_eq!(stdout(&out), expected);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn env_can_be_inherited_explicitly() {
    let so = compiled("args_env");
    let out = run(
        lucet_wasi()
            .env("HOST_VAR", "seen")
            .arg("--inherit-env")
            .arg(&so),
        b"",
    );
    assert!(
        stdout(&out).contains("env: HOST_VAR=seen\n"),
        "{}",
        stdout(&out)
    );
    let out = run(
        lucet_wasi()
            .env("HOST_VAR", "seen")
            .args(["--env", "HOST_VAR"])
            .arg(&so),
        b"",
    );
    assert!(
        stdout(&out).contains("env: HOST_VAR=seen\n"),
        "{}",
        stdout(&out)
    );
    let out = run(lucet_wasi().env("HOST_VAR", "seen").arg(&so), b"");
    assert!(!stdout(&out).contains("HOST_VAR"), "{}", stdout(&out));
}

#[test]
fn double_dash_after_module_is_a_separator() {
    let so = compiled("args_env");
    let out = run(lucet_wasi().arg(&so).args(["--", "--help"]), b"");
    assert!(stdout(&out).starts_with("argc=2\n"), "{}", stdout(&out));
    assert!(stdout(&out).contains("argv[1]=--help\n"));
}

#[test]
fn exit_code_is_the_guests() {
    let so = compiled("exit_code");
    for code in [0, 1, 3, 42, 125] {
        let out = run(lucet_wasi().arg(&so).arg(code.to_string()), b"");
        assert_eq!(
            out.status.code(),
            Some(code),
            "exit({code}): {}",
            stderr(&out)
        );
        assert_eq!(stderr(&out), "");
    }
    // The fixture's default.
    assert_eq!(run(lucet_wasi().arg(&so), b"").status.code(), Some(3));
}

#[test]
fn stdin_is_piped_through_byte_exactly() {
    let so = compiled("cat_stdin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let out = run(lucet_wasi().arg(&so), &data);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout == data,
        "stdout differs from stdin ({} bytes)",
        out.stdout.len()
    );
    assert_eq!(stderr(&out), "read 300000 bytes\n");
    let out = run(lucet_wasi().arg(&so), b"");
    assert_eq!(out.stdout, b"");
    assert_eq!(stderr(&out), "read 0 bytes\n");
}

#[test]
fn trap_is_reported_with_non_zero_exit() {
    let so = compiled("trap_oob");
    let out = run(lucet_wasi().arg(&so), b"");
    assert_eq!(stdout(&out), "before\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: trap: out of bounds memory access"),
        "{}",
        stderr(&out)
    );
}

fn timed_out(mode: &str) {
    let so = compiled("spin");
    let start = Instant::now();
    let out = run(
        lucet_wasi().args(["--timeout", "300ms"]).arg(&so).arg(mode),
        b"",
    );
    let took = start.elapsed();
    assert_eq!(stdout(&out), "started\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

/// `--cpu-time` bills what the guest computes, not what it waits for: a
/// spinning guest is stopped, a sleeping one only by the timeout.
#[test]
fn cpu_time_stops_a_spinning_guest_but_not_a_sleeping_one() {
    let so = compiled("spin");
    let out = run(
        lucet_wasi()
            .args(["--cpu-time", "100ms", "--timeout", "20s"])
            .arg(&so)
            .arg("spin"),
        b"",
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: out of CPU time") && err.contains("(--cpu-time 100ms)"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = run(
        lucet_wasi()
            .args(["--cpu-time", "100ms", "--timeout", "500ms"])
            .arg(&so)
            .arg("sleep"),
        b"",
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("timed out"), "{err}");
}

#[test]
fn timeout_stops_a_spinning_guest() {
    timed_out("spin");
}

#[test]
fn timeout_stops_a_sleeping_guest() {
    timed_out("sleep");
}

#[test]
fn max_heap_limits_memory() {
    // hello needs a couple of pages of memory: 64KiB cannot fit its
    // initial memory, so instantiation fails and says so.
    let so = compiled("hello");
    let out = run(lucet_wasi().args(["--max-heap", "64KiB"]).arg(&so), b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    let out = run(lucet_wasi().args(["--max-heap", "64MiB"]).arg(&so), b"");
    assert_eq!(stdout(&out), "Hello, world!\n");
}

#[test]
fn bad_usage_and_bad_modules_are_one_line_errors() {
    let out = run(lucet_wasi().arg("/nonexistent/x.so"), b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: ") && stderr(&out).lines().count() == 1,
        "{}",
        stderr(&out)
    );
    let out = run(
        lucet_wasi()
            .args(["--dir", "/nonexistent/dir"])
            .arg(compiled("hello")),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/dir"),
        "{}",
        stderr(&out)
    );
    let out = run(
        lucet_wasi()
            .args(["--timeout", "soon"])
            .arg(compiled("hello")),
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
}

/// A duration needs a unit (a bare number is refused, not taken as
/// seconds); a size as a bare number is bytes.
#[test]
fn bare_numbers_are_bytes_and_never_durations() {
    let hello = |args: &[&str]| run(lucet_wasi().args(args).arg(compiled("hello")), b"");
    let out = hello(&["--timeout", "5"]);
    assert_eq!(out.status.code(), Some(2));
    let first = stderr(&out).lines().next().unwrap_or_default().to_string();
    assert!(
        first.contains("expected a duration with a unit, like 500ms or 2s, got \"5\""),
        "{}",
        stderr(&out)
    );
    // Bytes: 65,536 is 64KiB, too little for hello (see above), and so is
    // a 4,096-byte bound on the module file; 64MiB and 16MiB are plenty.
    assert_eq!(hello(&["--max-heap", "65536"]).status.code(), Some(1));
    assert_eq!(hello(&["--max-module-size", "4096"]).status.code(), Some(1));
    let out = hello(&["--max-heap", "67108864", "--max-module-size", "16777216"]);
    assert_eq!(stdout(&out), "Hello, world!\n", "{}", stderr(&out));
}

#[test]
fn invoke_works_with_wasi_imports() {
    // A function that writes to stdout through WASI and returns a value.
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "hi\n")
      (func (export "greet") (param i32) (result i32)
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 3))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (i32.add (local.get 0) (i32.load (i32.const 8)))))"#;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("g.wat");
    std::fs::write(&input, wat).unwrap();
    let so = compiled_wasm(&input);
    let out = run(
        lucet_wasi().args(["--invoke", "greet"]).arg(&so).arg("39"),
        b"",
    );
    assert_eq!(stdout(&out), "hi\n42\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn bytes_that_are_not_utf8_pass_through() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let b = |s: &'static [u8]| OsStr::from_bytes(s);
    // A host directory whose own name, guest name and entries are not
    // UTF-8; an argument and an environment value that are not either; and
    // the module under a name that is not.
    let root = tempfile::tempdir().unwrap();
    let host = root.path().join(b(b"host\xff"));
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join(b(b"caf\xe9")), "").unwrap();
    std::fs::write(host.join(b(b"\xff\xfe")), "").unwrap();
    std::fs::write(host.join("plain"), "").unwrap();
    let module = root.path().join(b(b"mod\xc3\x28.so"));
    std::fs::copy(compiled_conformance("list_dir"), &module).unwrap();
    let mut dir_arg = host.as_os_str().as_bytes().to_vec();
    dir_arg.extend_from_slice(b"::/g\xfa");
    let dir_arg = std::ffi::OsString::from_vec(dir_arg);
    let out = run(
        lucet_wasi()
            .arg("--dir")
            .arg(&dir_arg)
            .arg("--env")
            .arg(b(b"K=\xff\xfe v"))
            .arg(&module)
            .arg(b(b"/g\xfa"))
            .arg(b(b"\x80arg")),
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = &out.stdout;
    let has = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"entry: caf\xe9\n"), "{}", stdout(&out));
    assert!(has(b"entry: \xff\xfe\n"), "{}", stdout(&out));
    assert!(has(b"entry: plain\n"), "{}", stdout(&out));
    assert!(has(b"arg: \x80arg\n"), "{}", stdout(&out));
    assert!(has(b"env: K=\xff\xfe v\n"), "{}", stdout(&out));

    // argv[0] is the module path as given, bytes and all.
    let module = root.path().join(b(b"args\xe9.so"));
    std::fs::copy(compiled("args_env"), &module).unwrap();
    let out = run(lucet_wasi().arg(&module), b"");
    assert_eq!(out.status.code(), Some(0));
    let mut argv0 = b"argv[0]=".to_vec();
    argv0.extend_from_slice(module.as_os_str().as_bytes());
    assert!(
        out.stdout.windows(argv0.len()).any(|w| w == argv0),
        "{}",
        stdout(&out)
    );
    // Errors about such names are one readable line, not a panic.
    let missing = root.path().join(b(b"missing\xff.so"));
    let out = run(lucet_wasi().arg(&missing), b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1);
    let out = run(lucet_wasi().arg("--env").arg(b(b"=\xff")).arg(&module), b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn the_timeout_message_tells_the_time_really_taken() {
    // A guest spinning in its own code: stopped by the runtime's deadline;
    // the message gives the run's real length.
    let so = compiled("spin");
    let start = Instant::now();
    let out = run(
        lucet_wasi()
            .args(["--timeout", "200ms"])
            .arg(&so)
            .arg("spin"),
        b"",
    );
    let took = start.elapsed();
    let err = stderr(&out);
    let after = err
        .split("stopped after ")
        .nth(1)
        .and_then(|s| s.split("ms").next())
        .unwrap_or_else(|| panic!("{err}"));
    let reported: f64 = after.trim().parse().unwrap_or_else(|_| panic!("{err}"));
    assert!(reported >= 200.0, "{err}");
    assert!(reported <= took.as_secs_f64() * 1000.0, "{err} / {took:?}");
    assert!(err.contains("(--timeout 200ms)"), "{err}");
}
