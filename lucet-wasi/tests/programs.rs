//! C programs exercising each group of WASI calls, run with `lucet-wasi`
//! and, where the behaviour is the same, compared with the same program
//! built natively.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// Run `name` natively with `args` (`{dir}` replaced by `host_dir`) and
/// return its stdout, or `None` without gcc.
fn native_stdout(name: &str, host_dir: Option<&Path>, stdin: &[u8]) -> Option<String> {
    let exe = native(name)?;
    let mut cmd = Command::new(exe);
    if let Some(d) = host_dir {
        cmd.arg(d);
    }
    let out = run(&mut cmd, stdin);
    assert!(
        out.status.success(),
        "native {name} failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    Some(stdout(&out))
}

/// Run fixture `name` under lucet-wasi with a fresh directory preopened as
/// `guest`, passing `guest` as argv[1].
fn wasi_in_dir(name: &str, guest: &str) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        lucet_wasi()
            .arg("--dir")
            .arg(format!("{}::{guest}", dir.path().display()))
            .arg(compiled(name))
            .arg(guest),
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    (stdout(&out), dir)
}

fn check_against_native(name: &str, wasi: &str) {
    let dir = tempfile::tempdir().unwrap();
    match native_stdout(name, Some(dir.path()), b"") {
        Some(native) => assert_eq!(wasi, native, "{name}: WASI output differs from native"),
        None => eprintln!("{name}: native comparison skipped"),
    }
}

#[test]
fn files_match_native() {
    let (out, dir) = wasi_in_dir("files", "/sandbox");
    assert!(out.ends_with("done\n"), "{out}");
    assert!(out.contains("nlink after link: 2\n"), "{out}");
    assert!(out.contains("readlink: 5 b.txt\n"), "{out}");
    assert!(
        out.contains("times: atime=1000000000 mtime=1234567890\n"),
        "{out}"
    );
    // The program cleans up after itself.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    check_against_native("files", &out);
}

#[test]
fn files_work_in_a_preopen_named_dot_and_slash() {
    for guest in [".", "/", "/deep/mount/point"] {
        let (out, _dir) = wasi_in_dir("files", guest);
        assert!(out.ends_with("done\n"), "guest dir {guest}: {out}");
    }
}

#[test]
fn dirs_match_native() {
    let (out, _dir) = wasi_in_dir("dirs", "/work");
    assert!(
        out.contains("big: 1500 entries, index sum 1124250\n"),
        "{out}"
    );
    assert!(out.contains("rmdir non-empty: ENOTEMPTY\n"), "{out}");
    assert!(out.ends_with(".: ../ ./\ndone\n"), "{out}");
    check_against_native("dirs", &out);
}

#[test]
fn escape_attempts_all_fail() {
    for guest in ["/sandbox", "/", "."] {
        let root = tempfile::tempdir().unwrap();
        let sandbox = root.path().join("box");
        std::fs::create_dir(&sandbox).unwrap();
        std::fs::write(root.path().join("outside.txt"), "SECRET").unwrap();
        std::os::unix::fs::symlink(
            root.path().join("outside.txt"),
            sandbox.join("host-abs-link"),
        )
        .unwrap();
        std::os::unix::fs::symlink("..", sandbox.join("host-parent-link")).unwrap();
        let out = run(
            lucet_wasi()
                .arg("--dir")
                .arg(format!("{}::{guest}", sandbox.display()))
                .arg(compiled("escape"))
                .arg(guest),
            b"",
        );
        let text = stdout(&out);
        assert!(!text.contains("ESCAPED"), "guest dir {guest}:\n{text}");
        assert!(
            text.ends_with("escaped: 0\n"),
            "guest dir {guest}:\n{text}{}",
            stderr(&out)
        );
        assert_eq!(out.status.code(), Some(0));
        // Nothing was created, moved or removed outside the sandbox.
        let mut outside: Vec<String> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        outside.sort();
        assert_eq!(outside, ["box", "outside.txt"]);
        assert_eq!(
            std::fs::read_to_string(root.path().join("outside.txt")).unwrap(),
            "SECRET"
        );
    }
}

#[test]
fn escape_program_really_escapes_natively() {
    // The attempts are real: natively (no sandbox) they get through.
    let Some(exe) = native("escape") else { return };
    let root = tempfile::tempdir().unwrap();
    let sandbox = root.path().join("box");
    std::fs::create_dir(&sandbox).unwrap();
    std::fs::write(root.path().join("outside.txt"), "SECRET").unwrap();
    let out = run(Command::new(exe).arg(&sandbox), b"");
    assert!(
        stdout(&out).contains("dotdot: ESCAPED, read 6 bytes: SECRET"),
        "{}",
        stdout(&out)
    );
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn without_dirs_the_guest_sees_no_files() {
    let out = run(lucet_wasi().arg(compiled("files")).arg("/tmp"), b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("FAIL"), "{}", stdout(&out));
}

#[test]
fn clocks() {
    let out = run(lucet_wasi().arg(compiled("clocks")), b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains(": no"), "{text}");
    assert!(text.contains("gmtime(1234567890): 2009-02-13 23:31:30\n"));
    if let Some(native) = native_stdout("clocks", None, b"") {
        same_checks_as_native_clocks(&text, &native);
    }
}

/// The wasm run's lines against the native build's. Natively, glibc's
/// `time()` reads a coarse clock that lags `clock_gettime` by up to a
/// tick, so just after a second boundary the native "time() agrees" check
/// says "no" (the clocks fixture asks for no lag at all). That native line
/// is the host's business, not the runtime's: it is not compared. The wasm
/// run must say "yes" there regardless (checked by the caller).
fn same_checks_as_native_clocks(wasi: &str, native: &str) {
    let wasi: Vec<&str> = wasi.lines().collect();
    let native: Vec<&str> = native.lines().collect();
    assert_eq!(wasi.len(), native.len(), "{wasi:?} vs native {native:?}");
    for (w, n) in wasi.iter().zip(&native) {
        if *n == "time() agrees: no" {
            assert_eq!(*w, "time() agrees: yes");
            continue;
        }
        assert_eq!(w, n);
    }
}

#[test]
fn the_native_clocks_comparison_tolerates_only_glibcs_coarse_time() {
    let yes = "monotonic: yes\ntime() agrees: yes\n";
    same_checks_as_native_clocks(yes, "monotonic: yes\ntime() agrees: no\n");
    same_checks_as_native_clocks(yes, yes);
    for native in [
        "monotonic: no\ntime() agrees: yes\n",
        "monotonic: yes\n",
        "monotonic: yes\ntime() agrees: yes\nextra: yes\n",
    ] {
        let r = std::panic::catch_unwind(|| same_checks_as_native_clocks(yes, native));
        assert!(r.is_err(), "{native:?} should not match");
    }
}

#[test]
fn random() {
    let out = run(lucet_wasi().arg(compiled("random")), b"");
    assert_eq!(
        stdout(&out),
        "two draws differ: yes\nmany distinct byte values: yes\nzero-length draw: 0\n"
    );
    if let Some(native) = native_stdout("random", None, b"") {
        assert_eq!(stdout(&out), native);
    }
}

#[test]
fn poll_with_timeouts_and_stdin() {
    let out = run(lucet_wasi().arg(compiled("poll")), b"ping\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text,
        "poll(nothing, 100ms) = 0, took 100..2000ms: yes\n\
         poll(stdin) = 1, readable: yes, quick: yes\n\
         read 5: ping\n\
         poll(stdout) = 1, writable: yes\n\
         poll(timeout 0) = 0, quick: yes\n"
    );
    if let Some(native) = native_stdout("poll", None, b"ping\n") {
        assert_eq!(text, native);
    }
}

/// What `c22/relaxed_simd.c` must print, computed here lane by lane with
/// plain integer and float arithmetic (its inputs make every allowed
/// answer of each relaxed operator the same number).
fn relaxed_simd_expected() -> String {
    let weight = |r: i32, c: i32| (((r * 31 + c * 17) % 255) - 127) as i8 as i32;
    let input = |c: i32| ((c * 13) % 128) as i8 as i32;
    let q: Vec<i32> = (0..8)
        .map(|r| (0..64).map(|c| weight(r, c) * input(c)).sum())
        .collect();
    let mut y: Vec<f32> = (0..4).map(|k| k as f32 - 1.5).collect();
    for (r, qr) in q.iter().enumerate() {
        for (k, yk) in y.iter_mut().enumerate() {
            let w = ((r + 2 * k) % 7) as f32 - 3.0;
            *yk += (*qr as f32 / 64.0) * (w * 0.5);
        }
    }
    let hex: String = (0..16)
        .map(|i| format!("{:02x}", (i * 37 + 11) as u8))
        .collect();
    let q: Vec<String> = q.iter().map(|v| v.to_string()).collect();
    let y: Vec<String> = y.iter().map(|v| format!("{:.4}", v.max(0.0))).collect();
    format!(
        "quantized: {}\ndense+relu: {}\nhex: {hex}\nlaneselect: 1 20 3 40\n",
        q.join(" "),
        y.join(" ")
    )
}

/// A program built with clang's relaxed SIMD intrinsics (relaxed dot
/// product, madd, max, swizzle, lane select) runs under each lowering and
/// target: native and deterministic, baseline and this CPU.
#[test]
fn relaxed_simd_program() {
    let wasm = fixtures().join("wasm/relaxed_simd.wasm");
    let expected = relaxed_simd_expected();
    let dir = tempfile::tempdir().unwrap();
    for (i, (deterministic, cpu)) in [
        (false, lucetc::TargetCpu::Baseline),
        (true, lucetc::TargetCpu::Baseline),
        (false, lucetc::TargetCpu::Native),
        (true, lucetc::TargetCpu::Native),
    ]
    .into_iter()
    .enumerate()
    {
        let so = dir.path().join(format!("relaxed{i}.so"));
        let options = lucetc::Options {
            allowed_imports: Some(lucetc::AllowedImport::wasi_preview1()),
            relaxed_simd_deterministic: deterministic,
            target_cpu: cpu,
            ..lucetc::Options::default()
        };
        lucetc::compile_file(&wasm, &so, &options).expect("compile");
        let out = run(lucet_wasi().arg(&so), b"");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            expected,
            "deterministic: {deterministic}, {cpu:?}"
        );
    }
}

/// What `c22/big_memory64.c` returns, computed the same way here.
fn big_memory64_expected() -> u64 {
    const STRIDE: u64 = 1 << 20;
    const TARGET: u64 = (4 << 30) + (256 << 20);
    let n = (TARGET - STRIDE) / STRIDE;
    let mut x: u64 = 0x243f_6a88_85a3_08d3;
    let mut counters = vec![0u64; n as usize];
    for k in 0..8 * n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let c = &mut counters[(x % n) as usize];
        *c = c.wrapping_add(k);
    }
    let mut sum = 0u64;
    let mut above = 0u64;
    for (i, c) in counters.iter().enumerate() {
        sum = sum.wrapping_mul(31).wrapping_add(*c);
        if STRIDE + i as u64 * STRIDE >= 1 << 32 {
            above += 1;
        }
    }
    sum ^ (above << 48) ^ (n << 32)
}

/// A wasm64 program (clang-22, memory64) grows its memory to 4.25 GiB
/// and uses counters above 4 GiB: compiled for an 8 GiB reservation, it
/// runs under `lucet-wasi --max-heap 8GiB`; under the default 4 GiB heap
/// limit its growth fails and it says so (0).
#[test]
fn memory64_program_beyond_4_gib() {
    let wasm = fixtures().join("wasm/big_memory64.wasm");
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("big.so");
    let options = lucetc::Options {
        heap_reserved_size: 8 << 30,
        ..lucetc::Options::default()
    };
    lucetc::compile_file(&wasm, &so, &options).expect("compile");
    let out = run(
        lucet_wasi()
            .args(["--max-heap", "8GiB", "--invoke", "run"])
            .arg(&so),
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}\n", big_memory64_expected()));
    let out = run(lucet_wasi().args(["--invoke", "run"]).arg(&so), b"");
    assert_eq!(stdout(&out), "0\n", "{}", stderr(&out));
}

/// Lua 5.4 with real `setjmp`/`longjmp` through wasm exceptions, built by
/// `tests/fixtures/lua-sjlj/build.sh` in both encodings: `pcall`, `error`,
/// `xpcall`, errors in coroutines and from C, and an uncaught error the C
/// driver handles. The program prints one line per check.
#[test]
fn lua_with_setjmp_longjmp_through_exceptions() {
    let expected =
        std::fs::read_to_string(fixtures().join("lua-sjlj/expected.txt")).expect("expected.txt");
    for name in ["lua_sjlj", "lua_sjlj_legacy"] {
        let out = run(lucet_wasi().arg(compiled(name)), b"");
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), expected, "{name}");
    }
}
