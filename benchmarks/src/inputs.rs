//! The modules measured: small ones written here in the text format, the
//! WASI hello fixture, and the C kernels in `benchmarks/kernels/wasm`.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `benchmarks/`.
pub fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository root.
pub fn repo_dir() -> PathBuf {
    bench_dir()
        .parent()
        .expect("benchmarks/ has a parent")
        .to_path_buf()
}

pub const MINIMAL: &str = "minimal";
pub const DATA: &str = "data-1MiB";
pub const HELLO: &str = "wasi-hello";
pub const MINIMAL_AFTER_DATA: &str = "minimal after data-1MiB";
pub const DATA_TOUCHED: &str = "data-1MiB, every page read";
pub const DEEP: &str = "deep-recursion";

/// The smallest useful module: one export returning a constant.
pub fn minimal() -> Vec<u8> {
    wat::parse_str(r#"(module (func (export "f") (result i32) (i32.const 42)))"#)
        .expect("minimal module")
}

/// 16 pages of memory and a 1 MiB data segment of non-zero bytes.
pub fn data_1mib() -> Vec<u8> {
    let mut text = String::with_capacity(3 << 20);
    text.push_str("(module (memory 16) (data (i32.const 0) \"");
    for i in 0..(1usize << 20) {
        let b = (i * 7 + 3) as u8 | 1;
        write!(text, "\\{b:02x}").unwrap();
    }
    text.push_str(
        r#"") (func (export "f") (result i32) (i32.const 42))
  (func (export "touch") (result i32) (local $p i32) (local $sum i32)
    (loop $l
      (local.set $sum (i32.add (local.get $sum) (i32.load8_u (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 4096)))
      (br_if $l (i32.lt_u (local.get $p) (i32.const 1048576))))
    (local.get $sum)))"#,
    );
    wat::parse_str(&text).expect("data module")
}

/// What `touch` of the data module returns: the sum of the first byte of
/// each of its 256 pages.
pub fn data_touch_expected() -> i32 {
    (0..256usize)
        .map(|p| ((p * 4096 * 7 + 3) as u8 | 1) as i32)
        .sum()
}

/// A module whose `recurse(n)` calls itself `n` deep.
pub fn deep_recursion() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (func $down (param i32) (result i32)
    (if (result i32) (local.get 0)
      (then (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1)))))
      (else (i32.const 0))))
  (func (export "recurse") (param i32) (result i32) (call $down (local.get 0))))"#,
    )
    .expect("deep recursion module")
}

/// How deep `deep_recursion` goes.
pub const DEPTH: i32 = 5000;

/// A guest loop calling the host function `env.echo` `n` times, summing
/// what it returns.
pub fn hostcall_loop() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (import "env" "echo" (func $echo (param i32) (result i32)))
  (func (export "loop") (param $n i32) (result i32)
    (local $acc i32)
    (block $done
      (loop $top
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (call $echo (local.get $n))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $top)))
    (local.get $acc)))"#,
    )
    .expect("hostcall module")
}

/// What the hostcall loop returns for `n` (wrapping sum of 1..=n).
pub fn hostcall_expected(n: u32) -> i32 {
    (1..=n).fold(0i32, |a, k| a.wrapping_add(k as i32))
}

pub fn hello_path() -> PathBuf {
    repo_dir().join("tests/fixtures/wasm/hello.wasm")
}

pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// A CPU-bound kernel: `kernels/wasm/NAME.wasm` exports
/// `kernel_NAME(i32) -> i64`; most are also built natively.
pub struct Kernel {
    pub name: &'static str,
    pub arg: u32,
    pub what: &'static str,
}

pub const KERNELS: &[Kernel] = &[
    Kernel {
        name: "fib",
        arg: 35,
        what: "recursive fib(35)",
    },
    Kernel {
        name: "sieve",
        arg: 8_000_000,
        what: "primes up to 8 million",
    },
    Kernel {
        name: "matmul",
        arg: 320,
        what: "320x320 f64 matrix multiply",
    },
    Kernel {
        name: "quicksort",
        arg: 500_000,
        what: "quicksort of 500k u32",
    },
    Kernel {
        name: "crc32",
        arg: 8 << 20,
        what: "CRC-32 of 8 MiB",
    },
    Kernel {
        name: "strings",
        arg: 2 << 20,
        what: "tokenize + count words of 2 MiB text",
    },
    Kernel {
        name: "nbody",
        arg: 200_000,
        what: "5-body simulation, 200k steps",
    },
    Kernel {
        name: "lua",
        arg: 25,
        what: "Lua 5.4 interpreter: fib(25), sort, gmatch",
    },
];

/// What exceptions cost, in one module of the text format (no C compiler
/// emits try_table without setjmp around it): `kernel_fib` is recursive
/// fib with plain calls, `kernel_fib_try` the same with every recursive
/// call inside a `try_table` that never catches anything (what code pays
/// for a handler when nothing is thrown), `kernel_throw` throws from ten
/// frames down and catches, `n` times (what one throw costs).
pub fn exceptions_module() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (tag $t (param i32))
  (func $fib (param i32) (result i64)
    (if (result i64) (i32.lt_u (local.get 0) (i32.const 2))
      (then (i64.extend_i32_u (local.get 0)))
      (else (i64.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func $fib_try (param i32) (result i64)
    (if (result i64) (i32.lt_u (local.get 0) (i32.const 2))
      (then (i64.extend_i32_u (local.get 0)))
      (else
        (block $h
          (return (i64.add
            (try_table (result i64) (catch_all $h)
              (call $fib_try (i32.sub (local.get 0) (i32.const 1))))
            (try_table (result i64) (catch_all $h)
              (call $fib_try (i32.sub (local.get 0) (i32.const 2)))))))
        (unreachable))))
  (func $down (param i32 i32)
    (if (local.get 0)
      (then (call $down (i32.sub (local.get 0) (i32.const 1)) (local.get 1)))
      (else (throw $t (local.get 1)))))
  (func (export "kernel_fib") (param i32) (result i64) (call $fib (local.get 0)))
  (func (export "kernel_fib_try") (param i32) (result i64) (call $fib_try (local.get 0)))
  (func (export "kernel_throw") (param i32) (result i64) (local $sum i64) (local $got i32)
    (loop $l
      (block $h (result i32)
        (try_table (catch $t $h) (call $down (i32.const 10) (local.get 0)))
        (unreachable))
      (local.set $got)
      (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (local.get $got))))
      (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))
      (br_if $l))
    (local.get $sum)))"#,
    )
    .expect("exceptions module")
}

/// The exports of [`exceptions_module`] timed, with their arguments.
pub const EXCEPTION_KERNELS: &[(&str, u32)] = &[("fib", 30), ("fib_try", 30), ("throw", 100_000)];

/// The kernels also built freestanding by clang-22 twice, for a 32-bit and
/// a 64-bit memory (`kernels/wasm/mem32/`, `kernels/wasm/mem64/`): what
/// memory64's bounds checks cost, the rest of the code being equal.
pub const MEMORY_KERNELS: &[&str] = &["sieve", "matmul", "quicksort", "crc32"];

/// `kernels/wasm/memBITS/NAME.wasm`.
pub fn memory_kernel_path(name: &str, bits: u32) -> PathBuf {
    bench_dir()
        .join(format!("kernels/wasm/mem{bits}"))
        .join(format!("{name}.wasm"))
}

/// The argument kernel `name` is timed with.
pub fn kernel_arg(name: &str) -> u32 {
    KERNELS.iter().find(|k| k.name == name).map_or(0, |k| k.arg)
}

pub fn kernel_path(name: &str) -> PathBuf {
    bench_dir()
        .join("kernels/wasm")
        .join(format!("{name}.wasm"))
}

/// The largest `.wasm` among the kernels, by size.
pub fn largest_module() -> Result<PathBuf> {
    // The kernels only: the test fixtures now include modules with
    // exceptions (Lua with setjmp/longjmp), which the compile figures
    // would then measure instead of the Lua they have always measured.
    let dirs = [bench_dir().join("kernels/wasm")];
    let mut best: Option<(u64, PathBuf)> = None;
    for d in dirs {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "wasm") {
                let len = p.metadata()?.len();
                if best.as_ref().is_none_or(|(l, _)| len > *l) {
                    best = Some((len, p));
                }
            }
        }
    }
    best.map(|(_, p)| p).context("no .wasm files found")
}
