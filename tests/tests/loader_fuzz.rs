//! The loader under generated inputs: random bytes, truncations, bit flips
//! and overwritten words of real shared objects, fed to `Module::load_unverified` in
//! this process. Each must be refused with an error or load correctly;
//! a panic fails the test, a crash kills it, and a case running longer
//! than a few seconds aborts it naming the case.
//!
//! Most mutated files get their code hash recomputed, as an attacker
//! would, so the structural checks and the dynamic loader see them rather
//! than only the hash check. `LUCET_LOADER_FUZZ_CASES` (default 3000) and
//! `LUCET_LOADER_FUZZ_SEED` change the run; the seed is printed.

use lucet_module::code_hash::{code_hash, CODE_HASH_LEN};
use lucet_runtime::Module;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// splitmix64: small, fast, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A real module and where its code hash lies.
struct Seed {
    bytes: Vec<u8>,
    slot: usize,
}

fn seed(path: &Path) -> Seed {
    let bytes = std::fs::read(path).unwrap();
    // SAFETY: lucetc compiled this object into this test's own directory; the changes the test makes to some are ones the loader must refuse before anything runs.
    let hash = unsafe { Module::load_unverified(path) }
        .expect("seed loads")
        .data()
        .code_hash;
    let slot = bytes
        .windows(CODE_HASH_LEN)
        .position(|w| w == hash)
        .expect("the hash is in the file");
    Seed { bytes, slot }
}

const WAT: &str = r#"
(module
  (type $t (func (param i32) (result i32)))
  (import "env" "host" (func $host (param i32) (result i32)))
  (memory (export "memory") 1 2)
  (table 4 funcref)
  (global $g (mut i32) (i32.const 7))
  (elem (i32.const 0) $a $b)
  (data (i32.const 16) "hello, fuzzer")
  (data (i32.const 4096) "")
  (func $a (type $t) (i32.add (local.get 0) (global.get $g)))
  (func $b (type $t) (call $host (local.get 0)))
  (func (export "f") (param i32) (result i32)
    (call_indirect (type $t) (local.get 0) (i32.const 1)))
  (func (export "g") (result f64) (f64.floor (f64.const 2.5))))
"#;

/// One generated input.
fn mutate(rng: &mut Rng, seed: &Seed) -> (String, Vec<u8>) {
    let mut b = seed.bytes.clone();
    let rehash = rng.below(4) != 0;
    let what = match rng.below(6) {
        0 => {
            // Random bytes, sometimes behind a real ELF header.
            let len = rng.below(8192);
            let mut r: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if rng.below(2) == 0 {
                let keep = 64.min(r.len());
                r[..keep].copy_from_slice(&seed.bytes[..keep]);
            }
            return ("random bytes".into(), r);
        }
        1 => {
            let cut = rng.below(b.len());
            b.truncate(cut);
            return ("truncated".into(), b);
        }
        2 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(b.len());
                b[at] ^= 1 << rng.below(8);
            }
            "bit flips anywhere"
        }
        3 => {
            // The headers and the tables the dynamic loader reads live in
            // the first pages.
            let span = b.len().min(8192);
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(span);
                b[at] ^= 1 << rng.below(8);
            }
            "bit flips in the first pages"
        }
        4 => {
            // Whole words set to telling values.
            let values = [
                0u64,
                1,
                8,
                0x7f,
                0x80,
                0xffff_ffff,
                u64::MAX,
                1 << 32,
                0x1000,
            ];
            let span = b.len().min(8192) / 8;
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(span) * 8;
                let v = values[rng.below(values.len())].to_le_bytes();
                b[at..at + 8].copy_from_slice(&v);
            }
            "words overwritten"
        }
        _ => {
            // The tail: writable data, the dynamic section, section headers.
            let from = b.len().saturating_sub(4096);
            for _ in 0..1 + rng.below(4) {
                let at = from + rng.below(b.len() - from);
                b[at] ^= 1 << rng.below(8);
            }
            "bit flips in the tail"
        }
    };
    if rehash {
        if let Some(h) = code_hash(&b, seed.slot) {
            b[seed.slot..seed.slot + CODE_HASH_LEN].copy_from_slice(&h);
        }
        (format!("{what}, rehashed"), b)
    } else {
        (what.to_string(), b)
    }
}

#[test]
fn mutated_objects_are_refused_or_load_never_crash() {
    let cases: u64 = std::env::var("LUCET_LOADER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed_value: u64 = std::env::var("LUCET_LOADER_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_10ad);
    println!("seed {seed_value}, {cases} cases");

    let module = lucet_tests::compile(WAT.as_bytes());
    let hello = lucet_tests::compile(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/wasm/hello.wasm"))
            .unwrap(),
    );
    let empty = lucet_tests::compile(b"(module)");
    let seeds = [seed(&module.path), seed(&hello.path), seed(&empty.path)];

    // A case that hangs aborts the process, naming itself.
    let started = Arc::new(AtomicU64::new(u64::MAX));
    let epoch = Instant::now();
    {
        let started = started.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let s = started.load(Ordering::SeqCst);
            if s != u64::MAX && epoch.elapsed().as_millis() as u64 > s + 20_000 {
                eprintln!("a loader case ran for over 20 s: hang");
                std::process::abort();
            }
        });
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mutant.so");
    let mut rng = Rng(seed_value);
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut loaded = 0;
    for case in 0..cases {
        let s = &seeds[rng.below(seeds.len())];
        let (what, bytes) = mutate(&mut rng, s);
        std::fs::write(&path, &bytes).unwrap();
        started.store(epoch.elapsed().as_millis() as u64, Ordering::SeqCst);
        // SAFETY: lucetc compiled this object into this test's own directory; the changes the test makes to some are ones the loader must refuse before anything runs.
        let result = std::panic::catch_unwind(|| unsafe { Module::load_unverified(&path) });
        started.store(u64::MAX, Ordering::SeqCst);
        match result {
            Err(_) => {
                let keep = dir.path().join(format!("panic-{case}.so"));
                std::fs::copy(&path, &keep).unwrap();
                panic!("case {case} ({what}, seed {seed_value}) panicked the loader");
            }
            Ok(Ok(m)) => {
                // Loaded: the module is consistent (it validated) and what
                // the runtime reports about it is readable.
                assert!(m.file_size() == bytes.len());
                let _ = m.data().exports.len();
                loaded += 1;
                *outcomes.entry("loaded".into()).or_default() += 1;
            }
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert_eq!(msg.lines().count(), 1, "one line: {msg}");
                // Group by the reason's first words, numbers left out.
                let reason = msg.split(": ").skip(1).collect::<Vec<_>>().join(": ");
                let key = reason
                    .split_whitespace()
                    .filter(|w| !w.contains(|c: char| c.is_ascii_digit()))
                    .take(8)
                    .collect::<Vec<_>>()
                    .join(" ");
                *outcomes.entry(key).or_default() += 1;
            }
        }
    }
    for (reason, n) in &outcomes {
        println!("{n:6}  {reason}");
    }
    assert!(loaded > 0, "some mutations (in code, rehashed) load");
    assert!(
        outcomes.len() > 10,
        "the mutations reach many different checks"
    );
    // The real modules still load and run after all that.
    let (_c, mut i) =
        lucet_tests::instantiate(r#"(module (func (export "f") (result i32) (i32.const 5)))"#);
    assert_eq!(i.run("f", &[]).unwrap(), vec![lucet_runtime::Val::I32(5)]);
}
