//! What a slot costs when idle: resident memory after a deep run, mappings
//! per live instance, and tenants of a reused slot kept apart whatever way
//! its heap is reset. One test function: it measures the process's
//! resident memory and mappings, which parallel tests would disturb.

use lucet_runtime::{Instance, Limits, Linker, Region, Val};

/// Mappings of this process.
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

const DEEP: &str = r#"(module
  (func $down (param i32) (result i32)
    (if (result i32) (local.get 0)
      (then (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1)))))
      (else (i32.const 0))))
  (func (export "recurse") (param i32) (result i32) (call $down (local.get 0))))"#;

/// A small program's memory: two pages, a few hundred bytes of data (an
/// image copied into the heap).
const SMALL_IMAGE: &str = r#"(module
  (memory 2)
  (data (i32.const 1024) "a small program's static data")
  (func (export "touch") (result i32)
    (i32.store (i32.const 70000) (i32.const 1))
    (i32.load8_u (i32.const 1024))))"#;

fn large_image() -> String {
    // 96 KiB of data: mapped copy-on-write, not copied. `grow` grows the
    // memory by three pages and writes there, returning what it found
    // first (0 in a clean heap); `size` is the memory's size in pages.
    format!(
        r#"(module
          (memory 2)
          (data (i32.const 0) "{}")
          (func (export "touch") (result i32)
            (i32.store (i32.const 70000) (i32.const 1))
            (i32.load8_u (i32.const 0)))
          (func (export "grow") (result i32) (local i32)
            (drop (memory.grow (i32.const 3)))
            (local.set 0 (i32.load8_u (i32.const 200001)))
            (i32.store (i32.const 200000) (i32.const 0x07070707))
            (local.get 0))
          (func (export "size") (result i32) (memory.size)))"#,
        "L".repeat(96 << 10)
    )
}

fn deep_runs_leave_little_resident() {
    let (_c, m) = lucet_tests::load(DEEP.as_bytes());
    let n = 300;
    let region = Region::new(n, Limits::default()).unwrap();
    let before = lucet_tests::rss();
    let mut live: Vec<Instance> = Vec::with_capacity(n);
    for _ in 0..n {
        let mut i = region.instantiate(&m, &Linker::new()).unwrap();
        assert_eq!(
            i.run("recurse", &[Val::I32(5000)]).unwrap(),
            vec![Val::I32(5000)]
        );
        live.push(i);
    }
    let per_live = lucet_tests::rss().saturating_sub(before) / n;
    println!("after a 5,000-deep recursion: {per_live} bytes resident per idle live instance");
    assert!(
        per_live <= 8 << 10,
        "{per_live} bytes resident per idle instance after a deep run"
    );
    drop(live);
    let per_free = lucet_tests::rss().saturating_sub(before) / n;
    println!("after dropping them: {per_free} bytes resident per free slot");
    assert!(per_free <= 16 << 10, "{per_free} bytes per free slot");
}

fn mappings_per_live_instance(wat: &str, run: &[&str]) -> f64 {
    let (_c, m) = lucet_tests::load(wat.as_bytes());
    let n = 200;
    let region = Region::new(n, Limits::default()).unwrap();
    let before = mappings();
    let mut live = Vec::with_capacity(n);
    for _ in 0..n {
        let mut i = region.instantiate(&m, &Linker::new()).unwrap();
        for f in run {
            i.run(f, &[]).unwrap();
        }
        live.push(i);
    }
    (mappings() - before) as f64 / n as f64
}

/// Mappings per live instance of `second` in slots that all held a
/// (grown, if it can) instance of `first` before.
fn mappings_after_reuse(first: &str, second: &str) -> f64 {
    let (_c, a) = lucet_tests::load(first.as_bytes());
    let (_c2, b) = lucet_tests::load(second.as_bytes());
    let n = 200;
    let region = Region::new(n, Limits::default()).unwrap();
    let before = mappings();
    let firsts: Vec<Instance> = (0..n)
        .map(|_| {
            let mut i = region.instantiate(&a, &Linker::new()).unwrap();
            i.run("touch", &[]).unwrap();
            if i.export_names().iter().any(|e| e == "grow") {
                i.run("grow", &[]).unwrap();
            }
            i
        })
        .collect();
    drop(firsts);
    let mut live = Vec::with_capacity(n);
    for _ in 0..n {
        let mut i = region.instantiate(&b, &Linker::new()).unwrap();
        i.run("touch", &[]).unwrap();
        live.push(i);
    }
    (mappings() - before) as f64 / n as f64
}

fn tenants_of_a_slot_are_isolated(keep_resident: usize, wat: &str, first: u8, grows: bool) {
    let (_c, m) = lucet_tests::load(wat.as_bytes());
    let (_c2, other) = lucet_tests::load(
        br#"(module (memory 3)
      (func (export "sum") (result i64) (local i32 i64)
        (loop $l
          (local.set 1 (i64.add (local.get 1) (i64.load8_u (local.get 0))))
          (local.set 0 (i32.add (local.get 0) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get 0) (i32.const 196608))))
        (local.get 1)))"#,
    );
    let limits = Limits {
        heap_keep_resident: keep_resident,
        ..Limits::default()
    };
    let region = Region::new(1, limits).unwrap();
    for _ in 0..3 {
        let mut a = region.instantiate(&m, &Linker::new()).unwrap();
        // Its own image, whatever the last tenant wrote.
        assert_eq!(a.run("touch", &[]).unwrap(), vec![Val::I32(first as i32)]);
        let mem = a.memory();
        mem[..4096].fill(0xEE);
        mem[70000..70004].copy_from_slice(b"left");
        if grows {
            // Grown past the image's file mapping, and written there.
            assert_eq!(a.run("size", &[]).unwrap(), vec![Val::I32(2)]);
            assert_eq!(a.run("grow", &[]).unwrap(), vec![Val::I32(0)]);
            assert_eq!(a.run("size", &[]).unwrap(), vec![Val::I32(5)]);
            // A reset brings the instance back to its image and size.
            a.reset().unwrap();
            assert_eq!(a.run("size", &[]).unwrap(), vec![Val::I32(2)]);
            assert_eq!(a.run("touch", &[]).unwrap(), vec![Val::I32(first as i32)]);
            assert_eq!(a.memory()[70000..70004], [1, 0, 0, 0]);
            assert_eq!(a.run("grow", &[]).unwrap(), vec![Val::I32(0)]);
            a.memory()[70000..70004].copy_from_slice(b"left");
        }
        drop(a);
        // Another module in the same slot sees zeros only.
        let mut b = region.instantiate(&other, &Linker::new()).unwrap();
        assert_eq!(b.run("sum", &[]).unwrap(), vec![Val::I64(0)]);
        drop(b);
        // An instance that never ran leaves only its image behind, which
        // is wiped too.
        drop(region.instantiate(&m, &Linker::new()).unwrap());
        let mut b = region.instantiate(&other, &Linker::new()).unwrap();
        assert_eq!(b.run("sum", &[]).unwrap(), vec![Val::I64(0)]);
    }
}

#[test]
fn slots_cost_little_when_idle_and_keep_tenants_apart() {
    deep_runs_leave_little_resident();

    let small = mappings_per_live_instance(SMALL_IMAGE, &["touch"]);
    println!("mappings per live instance, small image: {small}");
    assert!(small <= 2.05, "{small} mappings per instance");
    let none = mappings_per_live_instance(DEEP, &[]);
    assert!(none <= 2.05, "{none} mappings per instance");
    // A large image is mapped copy-on-write, its file over stack and heap:
    // still two, and after the heap grows too.
    let large = mappings_per_live_instance(&large_image(), &["touch"]);
    println!("mappings per live instance, large image: {large}");
    assert!(large <= 2.05, "{large} mappings per instance");
    let grown = mappings_per_live_instance(&large_image(), &["touch", "grow"]);
    println!("mappings per live instance, large image, grown: {grown}");
    assert!(grown <= 2.05, "{grown} mappings per instance");

    let reused = mappings_after_reuse(&large_image(), SMALL_IMAGE);
    println!("mappings per live instance, small image in slots a grown large one held: {reused}");
    assert!(reused <= 2.05, "{reused} mappings per instance");
    let reused = mappings_after_reuse(SMALL_IMAGE, &large_image());
    assert!(reused <= 2.05, "{reused} mappings per instance");

    for keep in [0, 1 << 20] {
        tenants_of_a_slot_are_isolated(keep, SMALL_IMAGE, b'a', false);
        tenants_of_a_slot_are_isolated(keep, &large_image(), b'L', true);
    }
}
