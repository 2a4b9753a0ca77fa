//! The `lucetc-wasi` command: WASI as the only allowed imports, and its
//! output run by lucet-wasi's implementation of them (the README's
//! walk-through, with lucet-wasi as a library instead of its command).

use lucet_runtime::{Instance, Limits, Linker, Module, PublicKey, TrustedKeys};
use lucet_wasi::{WasiCtxBuilder, WritePipe};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lucetc_wasi(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucetc-wasi"))
        .args(args)
        .output()
        .expect("run lucetc-wasi")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn hello_wasm() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/wasm/hello.wasm")
}

/// Run `_start` of `module` with WASI and `args`, returning its stdout.
fn run_hello(module: &std::sync::Arc<Module>, args: &[&str]) -> String {
    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    let out = WritePipe::new();
    let ctx = WasiCtxBuilder::new()
        .args(args)
        .stdout(out.clone())
        .build()
        .unwrap();
    let mut i = Instance::new(module, &linker, Limits::default()).unwrap();
    i.set_context(ctx);
    i.run("_start", &[]).unwrap();
    String::from_utf8(out.contents()).unwrap()
}

#[test]
fn hello_walkthrough_compiles_and_runs_with_wasi() {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("hello.so");
    let o = lucetc_wasi(&[hello_wasm().as_os_str(), "-o".as_ref(), so.as_os_str()]);
    assert!(o.status.success(), "lucetc-wasi: {}", stderr(&o));
    // SAFETY: the object was just compiled by lucetc-wasi and nothing else writes its directory.
    let m = unsafe { Module::load_unverified(&so) }.unwrap();
    assert_eq!(
        run_hello(&m, &["hello.so", "world"]),
        "Hello from Lucet, world!\n"
    );
    assert_eq!(run_hello(&m, &["hello.so"]), "Hello, world!\n");
}

fn compile_wat(wat: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("m.wat");
    std::fs::write(&input, wat).unwrap();
    let so = dir.path().join("m.so");
    lucetc_wasi(&[input.as_os_str(), "-o".as_ref(), so.as_os_str()])
}

#[test]
fn non_wasi_imports_are_refused_with_one_line() {
    let refused = |wat: &str, expect: &[&str]| {
        let o = compile_wat(wat);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{e}");
        assert_eq!(e.lines().count(), 1, "one line: {e}");
        for x in expect {
            assert!(e.contains(x), "{x:?} in {e:?}");
        }
    };
    refused(
        r#"(module (import "env" "getpid" (func (result i32))))"#,
        &["env", "getpid"],
    );
    refused(
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32))))"#,
        &["fd_write", "signature"],
    );
    refused(
        r#"(module (import "wasi_snapshot_preview1" "not_a_call" (func)))"#,
        &["not_a_call"],
    );
    let ok = compile_wat(
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))"#,
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
}

#[test]
fn every_function_lucet_wasi_provides_may_be_imported() {
    // One module importing the whole table compiles, and instantiates
    // against lucet-wasi's linker: nothing allowed is missing there.
    let mut wat = String::from("(module\n");
    for f in lucet_module::wasi_preview1::FUNCTIONS {
        let list =
            |v: &[lucet_module::ValType]| v.iter().map(|t| format!(" {t}")).collect::<String>();
        wat += &format!(
            "  (import \"wasi_snapshot_preview1\" \"{}\" (func (param{}) (result{})))\n",
            f.name,
            list(f.params),
            list(f.results)
        );
    }
    wat += ")\n";
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("all.wat");
    let so = dir.path().join("all.so");
    std::fs::write(&input, wat).unwrap();
    let o = lucetc_wasi(&[input.as_os_str(), "-o".as_ref(), so.as_os_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // SAFETY: the object was just compiled by lucetc-wasi and nothing else writes its directory.
    let m = unsafe { Module::load_unverified(&so) }.unwrap();
    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    Instance::new(&m, &linker, Limits::default()).unwrap();
}

#[test]
fn signed_output_loads_verified() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    let o = Command::new(env!("CARGO_BIN_EXE_lucetc"))
        .arg("--keygen")
        .arg(&key)
        .arg("--unencrypted-key")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let so = dir.path().join("hello.so");
    let o = lucetc_wasi(&[
        hello_wasm().as_os_str(),
        "-o".as_ref(),
        so.as_os_str(),
        "--sign".as_ref(),
        key.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut keys = TrustedKeys::new();
    keys.add(PublicKey::from_file(key.with_extension("pub")).unwrap());
    let m = Module::load_verified(&so, &keys).unwrap();
    assert_eq!(
        run_hello(&m, &["hello.so", "signed"]),
        "Hello from Lucet, signed!\n"
    );
}
