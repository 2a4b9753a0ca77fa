//! Shared helpers for the end-to-end tests: compile wasm text through the
//! real pipeline and check directives written in the fixtures.
//!
//! A `.wat` fixture carries its expectations in comments:
//!
//! ```text
//! ;; invoke add i32:2 i32:3 => i32:5
//! ;; invoke none =>
//! ;; trap div_s i32:1 i32:0 => integer divide by zero
//! ```
//! Values are `TYPE:VALUE` with TYPE one of i32, i64, f32, f64 (floats may
//! be `nan`, `inf`, `-inf`, or given as raw bits with `0x`).

use lucet_runtime::{Error, Instance, Limits, Linker, Module, Val};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A module whose start function asks the host (`host.ask(1)`, an import
/// tests bind to async host functions that wait or yield) and keeps the
/// answer in the global its export `g` returns.
pub const START_ASKS: &[u8] = br#"(module
  (import "host" "ask" (func $ask (param i32) (result i32)))
  (global $g (mut i32) (i32.const 0))
  (func $init (global.set $g (call $ask (i32.const 1))))
  (start $init)
  (func (export "g") (result i32) (global.get $g)))"#;

/// A compiled module in a temporary directory that lives as long as it.
pub struct Compiled {
    /// The temporary directory.
    pub dir: tempfile::TempDir,
    /// The shared object's path.
    pub path: PathBuf,
}

/// Compile wasm (text or binary) to a shared object with default options.
pub fn compile(wasm: &[u8]) -> Compiled {
    compile_with(wasm, &lucetc::Options::default())
}

/// Compile wasm (text or binary) to a shared object with `options`.
pub fn compile_with(wasm: &[u8], options: &lucetc::Options) -> Compiled {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("module.so");
    if let Err(e) = lucetc::compile_to_file(wasm, &path, options) {
        panic!("compilation failed: {e}");
    }
    Compiled { dir, path }
}

/// Compile and load.
pub fn load(wasm: &[u8]) -> (Compiled, Arc<Module>) {
    let c = compile(wasm);
    // SAFETY: the object was just compiled by this test's lucetc and nothing else writes its directory.
    let m = unsafe { Module::load_unverified(&c.path) }.expect("load");
    (c, m)
}

/// Compile, load and instantiate with no imports and default limits.
pub fn instantiate(wat: &str) -> (Compiled, Instance) {
    let (c, m) = load(wat.as_bytes());
    let i = Instance::new(&m, &Linker::new(), Limits::default()).expect("instantiate");
    (c, i)
}

/// Parse `TYPE:VALUE`.
pub fn parse_typed(s: &str) -> Val {
    let (ty, v) = s
        .split_once(':')
        .unwrap_or_else(|| panic!("value {s:?} needs a type"));
    let bits = v.strip_prefix("0x");
    match ty {
        "i32" => Val::I32(match bits {
            Some(h) => u32::from_str_radix(h, 16).unwrap() as i32,
            None => v.parse::<i64>().unwrap() as i32,
        }),
        "i64" => Val::I64(match bits {
            Some(h) => u64::from_str_radix(h, 16).unwrap() as i64,
            None => v.parse::<i128>().unwrap() as i64,
        }),
        "f32" => Val::F32(match bits {
            Some(h) => u32::from_str_radix(h, 16).unwrap(),
            None => v.parse::<f32>().unwrap().to_bits(),
        }),
        "f64" => Val::F64(match bits {
            Some(h) => u64::from_str_radix(h, 16).unwrap(),
            None => v.parse::<f64>().unwrap().to_bits(),
        }),
        "v128" => Val::V128(u128::from_str_radix(bits.unwrap(), 16).unwrap()),
        _ => panic!("unknown type in {s:?}"),
    }
}

fn same(a: &Val, b: &Val) -> bool {
    match (a, b) {
        // Any NaN matches `nan`.
        (Val::F32(x), Val::F32(y))
            if f32::from_bits(*y).is_nan() && bits_is_canonical_query(*y as u64, 32) =>
        {
            f32::from_bits(*x).is_nan()
        }
        (Val::F64(x), Val::F64(y))
            if f64::from_bits(*y).is_nan() && bits_is_canonical_query(*y, 64) =>
        {
            f64::from_bits(*x).is_nan()
        }
        _ => a == b,
    }
}

/// `nan` parsed by Rust is the canonical quiet NaN: treat it as "any NaN";
/// NaNs given as raw bits must match exactly.
fn bits_is_canonical_query(bits: u64, width: u32) -> bool {
    if width == 32 {
        bits as u32 == f32::NAN.to_bits()
    } else {
        bits == f64::NAN.to_bits()
    }
}

/// Run every `;; invoke` and `;; trap` directive in `wat` against a fresh
/// instance (one instance for the whole file, in order). Returns how many
/// directives ran.
pub fn run_directives(name: &str, wat: &str) -> usize {
    let (_c, mut instance) = instantiate(wat);
    let mut count = 0;
    for (lineno, line) in wat.lines().enumerate() {
        let line = line.trim();
        let (kind, rest) = if let Some(r) = line.strip_prefix(";; invoke ") {
            ("invoke", r)
        } else if let Some(r) = line.strip_prefix(";; trap ") {
            ("trap", r)
        } else {
            continue;
        };
        let (call, expect) = rest
            .split_once("=>")
            .unwrap_or_else(|| panic!("{name}:{}: missing =>", lineno + 1));
        let mut words = call.split_whitespace();
        let func = words.next().expect("function name");
        let args: Vec<Val> = words.map(parse_typed).collect();
        let result = instance.run(func, &args);
        let at = format!("{name}:{}: {}", lineno + 1, line);
        match kind {
            "invoke" => {
                let want: Vec<Val> = expect.split_whitespace().map(parse_typed).collect();
                let got = result.unwrap_or_else(|e| panic!("{at}: {e}"));
                assert!(
                    got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| same(g, w)),
                    "{at}: got {got:?}, want {want:?}"
                );
            }
            _ => match result {
                Err(Error::Trap(t)) => {
                    assert_eq!(t.code.as_str(), expect.trim(), "{at}");
                }
                other => panic!("{at}: expected a trap, got {other:?}"),
            },
        }
        count += 1;
    }
    count
}

/// The directory of `.wat` fixtures.
pub fn wat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("wat")
}

pub mod wast_runner;

/// Resident set size of this process, in bytes.
pub fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0)
        * 4096
}
