//! Shared by the integration tests: compile the committed C fixtures
//! (tests/fixtures/wasm) with lucetc and WASI as the allowed imports, run
//! them with the `lucet-wasi` binary, and build the same C natively with
//! gcc for comparison.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

/// The repository's tests/fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
}

/// Compile `tests/fixtures/wasm/NAME.wasm` to a shared object (once per
/// test process) and return its path.
pub fn compiled(name: &str) -> PathBuf {
    compiled_wasm(&fixtures().join("wasm").join(format!("{name}.wasm")))
}

/// lucet-wasi's own conformance fixtures (tests/conformance).
pub fn conformance() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// Compile `tests/conformance/wasm/NAME.wasm` (once per test process).
pub fn compiled_conformance(name: &str) -> PathBuf {
    compiled_wasm(&conformance().join("wasm").join(format!("{name}.wasm")))
}

/// Compile the module `input` with WASI as the allowed imports, once per
/// test process, and return the shared object's path.
pub fn compiled_wasm(input: &Path) -> PathBuf {
    static DONE: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    let done = DONE.get_or_init(Default::default);
    // Holding the lock while compiling keeps two tests from compiling the
    // same fixture; lucetc itself compiles in parallel.
    let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = done.get(input) {
        return p.clone();
    }
    let stem = input.file_stem().unwrap_or_default().to_string_lossy();
    let output = scratch().join(format!("{stem}.{}.so", done.len()));
    let options = lucetc::Options {
        allowed_imports: Some(lucetc::AllowedImport::wasi_preview1()),
        ..lucetc::Options::default()
    };
    lucetc::compile_file(input, &output, &options)
        .unwrap_or_else(|e| panic!("compiling {}: {e}", input.display()));
    done.insert(input.to_path_buf(), output.clone());
    output
}

/// A `lucet-wasi` command with no inherited environment.
pub fn lucet_wasi() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lucet-wasi"));
    c.env_clear();
    c
}

/// Run `cmd` with `stdin` as its standard input.
pub fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("stdin writer");
    out
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Build `tests/fixtures/c/NAME.c` with the host's gcc, or `None` (with a
/// note) when there is no gcc.
pub fn native(name: &str) -> Option<PathBuf> {
    static DONE: OnceLock<Mutex<HashMap<String, Option<PathBuf>>>> = OnceLock::new();
    let done = DONE.get_or_init(Default::default);
    let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = done.get(name) {
        return p.clone();
    }
    let src = fixtures().join("c").join(format!("{name}.c"));
    let exe = scratch().join(format!("{name}.native"));
    let built = match Command::new("gcc")
        .arg("-O2")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
    {
        Ok(o) if o.status.success() => Some(exe),
        Ok(o) => panic!(
            "gcc failed on {name}.c:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            eprintln!("note: no native comparison for {name}: cannot run gcc: {e}");
            None
        }
    };
    done.insert(name.to_string(), built.clone());
    built
}
