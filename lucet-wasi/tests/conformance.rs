//! The official WASI conformance suite (WebAssembly/wasi-testsuite, the
//! wasm32-wasip1 programs: 46 Rust, 14 C, 12 AssemblyScript) ported to C
//! fixtures in tests/conformance, run through `lucet-wasi` as the suite's
//! runner runs them: a scratch directory preopened as "/" (and, for the
//! programs that take it, also under a name given as the first argument,
//! as the suite's older runner did), the arguments and environment of the
//! program's JSON spec, and a pass meaning exit code 0 (or the spec's code).

mod common;

use common::*;
use std::path::Path;

/// The Rust programs of tests/rust/wasm32-wasip1/src/bin, every one a
/// function of rust_suite.c under the same name.
const RUST_TESTS: &[&str] = &[
    "big_random_buf",
    "clock_time_get",
    "close_preopen",
    "dangling_fd",
    "dangling_symlink",
    "dir_fd_op_failures",
    "directory_seek",
    "fd_advise",
    "fd_fdstat_set_rights",
    "fd_filestat_set",
    "fd_flags_set",
    "fd_readdir",
    "file_allocate",
    "file_pread_pwrite",
    "file_seek_tell",
    "file_truncation",
    "file_unbuffered_write",
    "fstflags_validate",
    "interesting_paths",
    "isatty",
    "nofollow_errors",
    "overwrite_preopen",
    "path_exists",
    "path_filestat",
    "path_link",
    "path_open_create_existing",
    "path_open_dirfd_not_dir",
    "path_open_missing",
    "path_open_nonblock",
    "path_open_preopen",
    "path_open_read_write",
    "path_rename",
    "path_rename_dir_trailing_slashes",
    "path_symlink_trailing_slashes",
    "poll_oneoff_stdio",
    "readlink",
    "remove_directory_trailing_slashes",
    "remove_nonempty_directory",
    "renumber",
    "sched_yield",
    "stdio",
    "symlink_create",
    "symlink_filestat",
    "symlink_loop",
    "truncation_rights",
    "unlink_file_trailing_slashes",
];

/// Programs of the suite's older layout (tests/rust/src/bin) no longer in
/// the wasm32-wasip1 set, ported too.
const OLDER_RUST_TESTS: &[&str] = &["path_open_read_without_rights", "fd_filestat_get"];

/// What an official program leaves in the scratch directory for the runner
/// to delete (it removes every `*.cleanup`).
const LEFT_FOR_THE_RUNNER: &[&str] = &["dangling_fd_subdir.cleanup", "fstflags_validate.cleanup"];

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Run one ported Rust program in a fresh scratch directory preopened as
/// `guest`; `None` if it passed, else what went wrong.
fn run_rust_test(test: &str, guest: &str) -> Option<String> {
    run_rust_fixture("rust_suite", test, guest)
}

/// As [`run_rust_test`], from the fixture `fixture` (rust_suite, or
/// rust_suite-modern: the same source with current toolchains' wasm
/// features).
fn run_rust_fixture(fixture: &str, test: &str, guest: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = lucet_wasi();
    cmd.arg("--dir")
        .arg(format!("{}::{guest}", dir.path().display()))
        .arg(compiled_conformance(fixture))
        .arg(test);
    if guest != "/" {
        cmd.arg(guest);
    }
    let out = run(&mut cmd, b"");
    if out.status.code() != Some(0) {
        return Some(format!(
            "{fixture} {test} (preopen {guest}): exit {:?}: {}{}",
            out.status.code(),
            stdout(&out),
            stderr(&out)
        ));
    }
    let left: Vec<String> = entries(dir.path())
        .into_iter()
        .filter(|n| !LEFT_FOR_THE_RUNNER.contains(&n.as_str()))
        .collect();
    if !left.is_empty() {
        return Some(format!(
            "{fixture} {test} (preopen {guest}): left {left:?} behind"
        ));
    }
    None
}

#[test]
fn rust_programs_with_the_scratch_directory_as_root() {
    let failures: Vec<String> = RUST_TESTS
        .iter()
        .chain(OLDER_RUST_TESTS)
        .filter_map(|t| run_rust_test(t, "/"))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn rust_programs_built_with_current_wasm_features() {
    // The official binaries come from toolchains that emit bulk-memory,
    // saturating conversions, sign extension and so on by default.
    let failures: Vec<String> = RUST_TESTS
        .iter()
        .chain(OLDER_RUST_TESTS)
        .filter_map(|t| run_rust_fixture("rust_suite-modern", t, "/"))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn rust_programs_with_a_named_scratch_directory() {
    // The older runner's layout: the directory preopened under its own
    // name, which the program gets as its argument. path_open_preopen looks
    // for "/" by definition.
    let failures: Vec<String> = RUST_TESTS
        .iter()
        .chain(OLDER_RUST_TESTS)
        .filter(|t| **t != "path_open_preopen")
        .filter_map(|t| run_rust_test(t, "fs-tests.dir"))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_port_has_every_official_rust_program() {
    let out = run(lucet_wasi().arg(compiled_conformance("rust_suite")), b"");
    let listed: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    let mut expected: Vec<&str> = RUST_TESTS.iter().chain(OLDER_RUST_TESTS).copied().collect();
    expected.sort();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(listed_sorted, expected);
    assert_eq!(RUST_TESTS.len(), 46);
}

/// How the runner's standard input may look to a program: the current
/// runner hands it a pipe it keeps open (writing nothing) until it waits
/// for the exit; the older one let the program inherit its own, often
/// /dev/null.
#[derive(Debug, Clone, Copy)]
enum Stdin {
    OpenEmptyPipe,
    DevNull,
}

/// Run one ported Rust program with the scratch directory as "/" and
/// standard input as `stdin`; `None` if it passed.
fn run_rust_test_with_stdin(test: &str, stdin: Stdin) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = lucet_wasi();
    cmd.arg("--dir")
        .arg(format!("{}::/", dir.path().display()))
        .arg(compiled_conformance("rust_suite"))
        .arg(test)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    match stdin {
        Stdin::OpenEmptyPipe => cmd.stdin(std::process::Stdio::piped()),
        Stdin::DevNull => cmd.stdin(std::process::Stdio::null()),
    };
    let mut child = cmd.spawn().expect("spawn");
    // Held (not written, not closed) until the program has exited.
    let held = child.stdin.take();
    let out = child.wait_with_output().expect("wait");
    drop(held);
    if out.status.code() != Some(0) {
        return Some(format!(
            "{test} (stdin {stdin:?}): exit {:?}: {}",
            out.status.code(),
            stderr(&out)
        ));
    }
    None
}

#[test]
fn stdio_programs_with_the_runners_kinds_of_stdin() {
    let failures: Vec<String> = ["poll_oneoff_stdio", "stdio", "isatty"]
        .iter()
        .flat_map(|t| {
            [Stdin::OpenEmptyPipe, Stdin::DevNull]
                .into_iter()
                .map(move |s| (*t, s))
        })
        .filter_map(|(t, s)| run_rust_test_with_stdin(t, s))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The suite's fs-tests.dir for the C programs.
fn fs_tests_dir(root: &Path) {
    std::fs::write(root.join("file"), "").unwrap();
    std::fs::write(root.join("lseek.txt"), "01234567").unwrap();
    std::fs::write(root.join("pread.txt"), "pread-test").unwrap();
    std::fs::create_dir(root.join("fopendir.dir")).unwrap();
    std::fs::write(root.join("fopendir.dir/file-0"), "").unwrap();
    std::fs::write(root.join("fopendir.dir/file-1"), "").unwrap();
    std::fs::create_dir(root.join("writeable")).unwrap();
}

/// The C programs of tests/c/src (and fopen-with-no-access, of the
/// compiled set), each its own fixture, and whether it gets the
/// directory.
const C_TESTS: &[(&str, bool)] = &[
    ("clock_getres-monotonic", false),
    ("clock_getres-realtime", false),
    ("clock_gettime-monotonic", false),
    ("clock_gettime-realtime", false),
    ("fdopendir-with-access", true),
    ("fopen-with-access", true),
    ("fopen-with-no-access", false),
    ("lseek", true),
    ("pread-with-access", true),
    ("pwrite-with-access", true),
    ("pwrite-with-append", true),
    ("sock_shutdown-invalid_fd", false),
    ("sock_shutdown-not_sock", false),
    ("stat-dev-ino", true),
];

fn run_c_test(test: &str, with_dir: bool, named: bool) -> Option<String> {
    let root = tempfile::tempdir().unwrap();
    fs_tests_dir(root.path());
    let mut cmd = lucet_wasi();
    if with_dir {
        let guest = if named { "fs-tests.dir" } else { "/" };
        cmd.arg("--dir")
            .arg(format!("{}::{guest}", root.path().display()));
    }
    cmd.arg(compiled_conformance(test));
    if named {
        cmd.arg("fs-tests.dir/");
    }
    let out = run(&mut cmd, b"");
    if out.status.code() != Some(0) {
        return Some(format!(
            "{test} (named {named}): exit {:?}: {}",
            out.status.code(),
            stderr(&out)
        ));
    }
    // The runner removes *.cleanup; everything else is as it was.
    let mut left = entries(root.path());
    left.retain(|n| !n.ends_with(".cleanup"));
    if left
        != [
            "file",
            "fopendir.dir",
            "lseek.txt",
            "pread.txt",
            "writeable",
        ]
    {
        return Some(format!("{test}: directory now holds {left:?}"));
    }
    None
}

#[test]
fn c_programs() {
    let failures: Vec<String> = C_TESTS
        .iter()
        .flat_map(|(t, d)| [run_c_test(t, *d, false), run_c_test(t, *d, true)])
        .flatten()
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The AssemblyScript programs: (fixture, arguments, environment,
/// expected exit code, expected stdout).
type AsTest = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    i32,
    &'static str,
);

const AS_TESTS: &[AsTest] = &[
    (
        "args_get-multiple-arguments",
        &["first", "the \"second\" arg", "3"],
        &[],
        0,
        "",
    ),
    (
        "args_sizes_get-multiple-arguments",
        &["a", "b", "c"],
        &[],
        0,
        "",
    ),
    ("args_sizes_get-no-arguments", &[], &[], 0, ""),
    (
        "environ_get-multiple-variables",
        &[],
        &[("a", "text"), ("b", "escap \" ing"), ("c", "new\nline")],
        0,
        "",
    ),
    (
        "environ_sizes_get-multiple-variables",
        &[],
        &[("a", "b"), ("b", "c"), ("c", "d")],
        0,
        "",
    ),
    ("environ_sizes_get-no-variables", &[], &[], 0, ""),
    ("fd_write-to-invalid-fd", &[], &[], 0, ""),
    ("fd_write-to-stdout", &[], &[], 0, "hello"),
    ("proc_exit-failure", &[], &[], 33, ""),
    ("proc_exit-success", &[], &[], 0, ""),
    ("random_get-non-zero-length", &[], &[], 0, ""),
    ("random_get-zero-length", &[], &[], 0, ""),
];

#[test]
fn assemblyscript_programs() {
    let mut failures = Vec::new();
    for (test, args, env, code, expected) in AS_TESTS {
        let mut cmd = lucet_wasi();
        for (k, v) in *env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        cmd.arg(compiled_conformance(&format!("as_{test}")))
            .args(*args);
        let out = run(&mut cmd, b"");
        if out.status.code() != Some(*code) || stdout(&out) != *expected {
            failures.push(format!(
                "{test}: exit {:?}, stdout {:?}, stderr {:?}",
                out.status.code(),
                stdout(&out),
                stderr(&out)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_port_is_built_from_its_source() {
    // The committed .wasm files come from the committed .c files (see
    // tests/conformance/build.sh): one for each, and no stale ones.
    let names = |sub: &str, ext: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(conformance().join(sub))
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                (p.extension()? == ext).then(|| p.file_stem().unwrap().to_string_lossy().into())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("c", "c"), names("wasm", "wasm"));
}
