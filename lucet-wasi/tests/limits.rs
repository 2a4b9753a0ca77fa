//! One guest cannot take the host's descriptors: it holds at most
//! `--max-fds` (`WasiCtxBuilder::max_fds`, default 1,024) at once, the
//! standard streams and preopens included, and gets EMFILE past it.

mod common;

use common::*;
use lucet_runtime::{Instance, Limits, Linker, Module};
use lucet_wasi::{WasiCtxBuilder, WritePipe, DEFAULT_MAX_FDS};

/// Run fd_limit (open /f until refused) with `extra` options.
fn fd_limit(extra: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "x").unwrap();
    let out = run(
        lucet_wasi()
            .args(extra)
            .arg("--dir")
            .arg(format!("{}::/", dir.path().display()))
            .arg(compiled_conformance("fd_limit"))
            .arg("/f"),
        b"",
    );
    (out.status.code(), stdout(&out), stderr(&out))
}

#[test]
fn max_fds_caps_the_guest() {
    for max in [5usize, 10, 64] {
        let (code, out, err) = fd_limit(&["--max-fds", &max.to_string()]);
        assert_eq!(code, Some(0), "{err}");
        // Three standard streams and the directory are open already.
        assert_eq!(
            out,
            format!(
                "opened {}, then EMFILE\nafter a close: reopened\nand then: EMFILE\n",
                max - 4
            )
        );
    }
}

fn soft_nofile_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    r.rlim_cur
}

#[test]
fn the_default_cap_is_documented_and_applies() {
    assert_eq!(DEFAULT_MAX_FDS, 1024);
    let (code, out, err) = fd_limit(&[]);
    assert_eq!(code, Some(0), "{err}");
    if soft_nofile_limit() > 2 * DEFAULT_MAX_FDS as u64 {
        assert!(
            out.starts_with(&format!("opened {}, then EMFILE\n", DEFAULT_MAX_FDS - 4)),
            "{out}"
        );
    } else {
        // The process's own limit is about as low: it may come first.
        assert!(out.contains("then EMFILE"), "{out}");
    }
    let help = run(lucet_wasi().arg("--help"), b"");
    assert!(stdout(&help).contains("--max-fds"), "{}", stdout(&help));
    assert!(stdout(&help).contains("1024"), "{}", stdout(&help));
}

#[test]
fn a_cap_below_what_is_preopened_is_an_error() {
    let (code, _, err) = fd_limit(&["--max-fds", "3"]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("error: 4 descriptors are preopened, more than the limit of 3"),
        "{err}"
    );
}

fn open_host_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn the_host_keeps_its_descriptors() {
    // In process: the guest's descriptors are the host's own. With a cap
    // of 200, a guest opening all it can takes at most that many of them,
    // and gives them back when the instance goes.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "x").unwrap();
    // SAFETY: the object was just compiled by this test's lucetc and nothing else writes its directory.
    let module = unsafe { Module::load_unverified(compiled_conformance("fd_limit")) }.unwrap();
    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    let before = open_host_fds();
    let out = WritePipe::new();
    let ctx = WasiCtxBuilder::new()
        .args(["fd_limit", "/f"])
        .preopened_dir(dir.path(), "/")
        .stdout(out.clone())
        .max_fds(200)
        .build()
        .unwrap();
    let mut i = Instance::new(&module, &linker, Limits::default()).unwrap();
    i.set_context(ctx);
    i.run("_start", &[]).unwrap();
    assert_eq!(
        String::from_utf8(out.contents()).unwrap(),
        "opened 196, then EMFILE\nafter a close: reopened\nand then: EMFILE\n"
    );
    let during = open_host_fds();
    assert!(during <= before + 200, "{before} -> {during}");
    drop(i);
    // Other tests run in parallel threads of this process: allow for
    // their descriptors coming and going.
    let after = open_host_fds();
    assert!(after < during - 150, "{before} -> {during} -> {after}");
    // And the host can still open files.
    std::fs::File::open(dir.path().join("f")).unwrap();
}
