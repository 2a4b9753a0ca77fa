//! `lucet-wasi --verify-key` with keys and signatures made by the `minisign`
//! command-line tool (Debian package `minisign`; tests/run.sh installs it),
//! and with lucetc's own (what `lucetc-wasi --sign` writes).

use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

fn minisign(args: &[&str]) -> Output {
    Command::new("minisign")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the minisign tool is installed (tests/run.sh installs it)")
}

fn lucet_wasi(args: &[&str]) -> Output {
    common::lucet_wasi().args(args).output().unwrap()
}

fn one_line_failure(o: &Output, expect: &str) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(expect), "{expect:?} in {stderr:?}");
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

#[test]
fn modules_signed_by_the_minisign_tool_run_with_verify_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| path(dir.path(), n);
    let o = minisign(&["-G", "-W", "-p", &d("k.pub"), "-s", &d("k.key")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = minisign(&["-G", "-W", "-p", &d("other.pub"), "-s", &d("other.key")]);
    assert!(o.status.success());
    let so = d("hello.so");
    std::fs::copy(common::compiled("hello"), &so).unwrap();

    // Unsigned: refused.
    one_line_failure(&lucet_wasi(&["--verify-key", &d("k.pub"), &so]), "unsigned");
    // Signed by minisign: runs, with the key as a file or as base64.
    assert!(minisign(&["-Sm", &so, "-s", &d("k.key")]).status.success());
    let o = lucet_wasi(&["--verify-key", &d("k.pub"), &so]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Hello, world!\n");
    let base64 = std::fs::read_to_string(d("k.pub")).unwrap();
    let base64 = base64.lines().nth(1).unwrap();
    let o = lucet_wasi(&["--verify-key", base64, &so]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Any of several keys will do; another key alone will not.
    let o = lucet_wasi(&[
        "--verify-key",
        &d("other.pub"),
        "--verify-key",
        &d("k.pub"),
        &so,
    ]);
    assert_eq!(o.status.code(), Some(0));
    one_line_failure(
        &lucet_wasi(&["--verify-key", &d("other.pub"), &so]),
        "not trusted",
    );
    // Changed after signing (a byte of the section headers): refused by
    // the signature, before anything in the file is parsed.
    let mut bytes = std::fs::read(&so).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&so, &bytes).unwrap();
    one_line_failure(
        &lucet_wasi(&["--verify-key", &d("k.pub"), &so]),
        "does not match the file",
    );
    // A key that is not one: a one-line error too.
    std::fs::write(d("bad.pub"), "untrusted comment: x\nnot a key\n").unwrap();
    one_line_failure(
        &lucet_wasi(&["--verify-key", &d("bad.pub"), &so]),
        "bad.pub",
    );
}

#[test]
fn lucetc_signatures_verify_with_minisign_and_lucet_wasi() {
    use lucetc::signing::{load_secret_key, sign_file, Password};
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| path(dir.path(), n);
    let o = minisign(&["-G", "-W", "-p", &d("k.pub"), "-s", &d("k.key")]);
    assert!(o.status.success());
    std::fs::copy(common::compiled("hello"), d("hello.so")).unwrap();
    let key = load_secret_key(Path::new(&d("k.key")), Password::None).unwrap();
    sign_file(Path::new(&d("hello.so")), &key).unwrap();
    assert!(minisign(&["-Vm", &d("hello.so"), "-p", &d("k.pub")])
        .status
        .success());
    let o = lucet_wasi(&["--verify-key", &d("k.pub"), &d("hello.so")]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Hello, world!\n");
}
