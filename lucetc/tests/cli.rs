//! The `lucetc` command: outputs, errors, and the code it generates.

use std::path::Path;
use std::process::Command;

fn lucetc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lucetc"))
        .args(args)
        .output()
        .expect("run lucetc")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

fn rejects(input: &[u8], expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let inp = write(dir.path(), "in.wasm", input);
    let out = dir.path().join("out.so");
    let o = lucetc(&[&inp, "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(expect),
        "{stderr:?} should contain {expect:?}"
    );
    assert!(!out.exists(), "no partial output");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only the input remains");
}

#[test]
fn malformed_input_is_one_line_with_offset() {
    rejects(
        b"\0asm\x01\0\0\0\x01\x05\x01\x60",
        "malformed module at offset 0x",
    );
    rejects(b"\0asm\x02\0\0\0", "unknown binary version");
    rejects(
        b"not wasm at all (",
        "malformed module text at 1:1: expected `(`",
    );
}

#[test]
fn invalid_input_names_the_problem() {
    rejects(
        b"(module (func (result i32) (i64.const 1)))",
        "invalid module at offset 0x",
    );
}

#[test]
fn unsupported_features_are_named() {
    rejects(
        b"(module (memory 1 1 shared))",
        "unsupported: threads (memory section) at offset ",
    );
    rejects(
        b"(module (type (struct)))",
        "unsupported: gc (type section) at offset ",
    );
    // A constant expression reading a defined global is 3.0, and
    // compiles (tests/tests/spec.rs runs it); GC beside it is still named.
    rejects(
        b"(module (global $g i32 (i32.const 1)) (global i32 (global.get $g))
           (func (result i32) i32.const 1 ref.i31 i31.get_s))",
        "unsupported: gc (ref.i31) at offset ",
    );
    rejects(
        b"(module (global $g i32 (i32.const 1)) (global i32 (global.get $g))
           (global anyref (ref.null any)))",
        "unsupported: gc (reference type anyref)",
    );
}

#[test]
fn missing_input_is_an_error() {
    let o = lucetc(&["/nonexistent/x.wasm", "-o", "/tmp/never.so"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("No such file"));
}

#[test]
fn emit_obj_writes_a_relocatable_object() {
    let dir = tempfile::tempdir().unwrap();
    let inp = write(dir.path(), "m.wat", b"(module (func (export \"f\")))");
    let out = dir.path().join("m.o");
    let o = lucetc(&[&inp, "-o", out.to_str().unwrap(), "--emit", "obj"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([bytes[16], bytes[17]]), 1, "ET_REL");
}

#[test]
fn options_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let inp = write(
        dir.path(),
        "m.wat",
        b"(module (memory 1) (func (export \"f\") (result i32) (i32.const 1)))",
    );
    for extra in [
        &["--opt-level", "none"][..],
        &["--opt-level", "speed_and_size", "--target-cpu", "native"],
        &["--heap-guard-size", "64KiB", "--threads", "1"],
        // A bare number is bytes.
        &[
            "--heap-guard-size",
            "65536",
            "--heap-reserved-size",
            "8589934592",
        ],
    ] {
        let out = dir.path().join("m.so");
        let mut args = vec![inp.as_str(), "-o", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = lucetc(&args);
        assert!(
            o.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = lucetc(&[&inp, "-o", "/tmp/x.so", "--heap-reserved-size", "1GiB"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("below the 4 GiB"));
    // KB is 1000 bytes, so 64KB is not a whole number of pages.
    let o = lucetc(&[&inp, "-o", "/tmp/x.so", "--heap-guard-size", "64KB"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("multiples of 4 KiB"));
    let o = lucetc(&[&inp, "-o", "/tmp/x.so", "--heap-guard-size", "64 parsecs"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad size \"64 parsecs\""));
}

/// The disassembly of one symbol.
fn disassemble(so: &Path, symbol: &str) -> Option<String> {
    let o = Command::new("objdump")
        .args([
            "-d",
            "--no-show-raw-insn",
            &format!("--disassemble={symbol}"),
        ])
        .arg(so)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn heap_loads_compile_to_a_single_mov_without_bounds_checks() {
    let dir = tempfile::tempdir().unwrap();
    let inp = write(
        dir.path(),
        "m.wat",
        b"(module (memory 1) (func (export \"load\") (param i32) (result i32) (i32.load offset=16 (local.get 0))))",
    );
    let out = dir.path().join("m.so");
    let o = lucetc(&[&inp, "-o", out.to_str().unwrap()]);
    assert!(o.status.success());
    let Some(asm) = disassemble(&out, "guest_func_0") else {
        eprintln!("objdump not available; skipping");
        return;
    };
    let body: Vec<&str> = asm.lines().filter(|l| l.contains(":\t")).collect();
    // The heap base is loaded from the vmctx; the access itself is one
    // load from base + index + 16.
    let heap_loads = body
        .iter()
        .filter(|l| l.contains("mov") && l.contains("0x10(%r") && l.contains(",1)"))
        .count();
    assert_eq!(heap_loads, 1, "one load from base + index + 16:\n{asm}");
    // The interrupt check is a `test`; nothing compares the index.
    let cmps = body.iter().filter(|l| l.contains("cmp")).count();
    assert_eq!(cmps, 0, "no bounds check:\n{asm}");
}

#[test]
fn large_offsets_beyond_a_small_guard_get_an_explicit_check() {
    let dir = tempfile::tempdir().unwrap();
    let inp = write(
        dir.path(),
        "m.wat",
        b"(module (memory 1) (func (export \"load\") (param i32) (result i32) (i32.load offset=1048576 (local.get 0))))",
    );
    let out = dir.path().join("m.so");
    let o = lucetc(&[
        &inp,
        "-o",
        out.to_str().unwrap(),
        "--heap-guard-size",
        "64KiB",
    ]);
    assert!(o.status.success());
    let Some(asm) = disassemble(&out, "guest_func_0") else {
        return;
    };
    assert!(
        asm.contains("cmp"),
        "explicit bounds check expected:\n{asm}"
    );
}

#[test]
fn explicit_bounds_checks_clamp_addresses_against_speculation_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let inp = write(
        dir.path(),
        "m.wat",
        br#"(module (memory 1) (table 4 funcref)
          (func (export "load") (param i32) (result i32) (i32.load offset=1048576 (local.get 0)))
          (func (export "get") (param i32) (result funcref) (table.get (local.get 0)))
          (func (export "call") (param i32) (result i32) (call_indirect (result i32) (local.get 0))))"#,
    );
    let cmovs = |extra: &[&str]| -> Vec<usize> {
        let out = dir.path().join("m.so");
        let mut args = vec![
            inp.as_str(),
            "-o",
            out.to_str().unwrap(),
            "--heap-guard-size",
            "64KiB",
        ];
        args.extend_from_slice(extra);
        assert!(lucetc(&args).status.success());
        (0..3)
            .map(|f| {
                let asm =
                    disassemble(&out, &format!("guest_func_{f}")).expect("objdump (binutils)");
                asm.lines().filter(|l| l.contains("\tcmov")).count()
            })
            .collect()
    };
    // Heap access beyond the guard, table.get, call_indirect: each clamps.
    assert!(cmovs(&[]).iter().all(|n| *n >= 1), "{:?}", cmovs(&[]));
    assert_eq!(cmovs(&["--no-spectre-guards"]), vec![0, 0, 0]);
}

/// The `minisign` command-line tool (Debian package `minisign`, which
/// tests/run.sh installs).
fn minisign(args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new("minisign")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the minisign tool is installed (tests/run.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn lucetc_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lucetc"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run lucetc")
}

#[test]
fn signatures_interoperate_with_the_minisign_tool() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let inp = write(dir.path(), "m.wat", b"(module (func (export \"f\")))");

    // A key made by minisign (unencrypted), used by lucetc; minisign checks.
    let o = minisign(&["-G", "-W", "-p", &d("mk.pub"), "-s", &d("mk.key")], "");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = lucetc(&[&inp, "-o", &d("a.so"), "--sign", &d("mk.key")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = minisign(&["-Vm", &d("a.so"), "-p", &d("mk.pub")], "");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("file:a.so"));
    // Changed after signing: minisign says no.
    let mut bytes = std::fs::read(d("a.so")).unwrap();
    bytes[100] ^= 1;
    std::fs::write(d("a.so"), bytes).unwrap();
    assert!(!minisign(&["-Vm", &d("a.so"), "-p", &d("mk.pub")], "")
        .status
        .success());

    // An encrypted key made by minisign (password on its stdin), used by
    // lucetc with the password from the environment.
    let o = minisign(&["-G", "-p", &d("me.pub"), "-s", &d("me.key")], "pw\npw\n");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sign =
        |env: &[(&str, &str)]| lucetc_env(&[&inp, "-o", &d("b.so"), "--sign", &d("me.key")], env);
    let o = sign(&[("LUCETC_KEY_PASSWORD", "wrong")]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("Wrong password") && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(
        !dir.path().join("b.so").exists(),
        "nothing compiled with a bad key"
    );
    let o = sign(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("LUCETC_KEY_PASSWORD"));
    let o = sign(&[("LUCETC_KEY_PASSWORD", "pw")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(minisign(&["-Vm", &d("b.so"), "-p", &d("me.pub")], "")
        .status
        .success());

    // Keys made by lucetc --keygen work with minisign, both kinds.
    let o = lucetc(&["--keygen", &d("lk.key"), "--unencrypted-key"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("lk.pub"));
    let o = minisign(&["-Sm", &d("a.so"), "-s", &d("lk.key")], "");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(minisign(&["-Vm", &d("a.so"), "-p", &d("lk.pub")], "")
        .status
        .success());
    let o = lucetc_env(
        &["--keygen", &d("le.key"), "--public-key", &d("le-public")],
        &[("LUCETC_KEY_PASSWORD", "secret")],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = minisign(&["-Sm", &d("a.so"), "-s", &d("le.key")], "secret\n");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(minisign(&["-Vm", &d("a.so"), "-p", &d("le-public")], "")
        .status
        .success());
    // --keygen never overwrites a key, and needs a password source.
    assert_eq!(
        lucetc(&["--keygen", &d("lk.key"), "--unencrypted-key"])
            .status
            .code(),
        Some(1)
    );
    let o = lucetc_env(&["--keygen", &d("new.key")], &[]);
    assert_eq!(o.status.code(), Some(1));
    // --keygen is a mode of its own.
    assert_eq!(
        lucetc(&["--keygen", &d("x.key"), &inp]).status.code(),
        Some(2)
    );
}

#[test]
fn recompiling_without_sign_removes_a_stale_signature() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let inp = write(dir.path(), "m.wat", b"(module (func (export \"f\")))");
    assert!(lucetc(&["--keygen", &d("k.key"), "--unencrypted-key"])
        .status
        .success());
    assert!(lucetc(&[&inp, "-o", &d("m.so"), "--sign", &d("k.key")])
        .status
        .success());
    assert!(dir.path().join("m.so.minisig").exists());
    assert!(lucetc(&[&inp, "-o", &d("m.so")]).status.success());
    assert!(!dir.path().join("m.so.minisig").exists());
}

#[test]
fn a_file_that_is_not_a_secret_key_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let inp = write(dir.path(), "m.wat", b"(module (func (export \"f\")))");
    assert!(lucetc(&["--keygen", &d("k.key"), "--unencrypted-key"])
        .status
        .success());
    let key = std::fs::read_to_string(d("k.key")).unwrap();
    let public = std::fs::read_to_string(d("k.pub")).unwrap();
    let truncated = &key[..key.len() - 20];
    for (name, text) in [
        ("text", "hi\n"),
        ("public", public.as_str()),
        ("truncated", truncated),
    ] {
        std::fs::write(d(name), text).unwrap();
        let o = lucetc(&[&inp, "-o", &d("m.so"), "--sign", &d(name)]);
        assert_eq!(o.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("not a minisign secret key"), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(
            !dir.path().join("m.so").exists(),
            "{name}: output left behind"
        );
    }
}
