//! Regions: pooled slots, limits, full regions, isolation between tenants
//! of a slot, concurrency, capacity.

use lucet_runtime::{
    Error, Extern, Global, GlobalType, Instance, Limits, Linker, Region, Store, Val, ValType,
};
use std::sync::Arc;

const TENANT_A: &str = r#"
(module
  (memory (export "memory") 2)
  (global $g (export "g") (mut i64) (i64.const 0))
  (table (export "t") 4 funcref)
  (elem (i32.const 1) $secret)
  (data (i32.const 100) "tenant A secret")
  (func $secret (result i32) (i32.const 0x5ec7e7))
  (func (export "scribble")
    (global.set $g (i64.const 0x5ec7e7))
    (memory.fill (i32.const 0) (i32.const 0xAA) (i32.const 131072))
    (drop (memory.grow (i32.const 3)))
    (memory.fill (i32.const 131072) (i32.const 0xBB) (i32.const 196608))))
"#;

const TENANT_B: &str = r#"
(module
  (memory (export "memory") 1)
  (global $g (export "g") (mut i64) (i64.const 7))
  (table (export "t") 4 funcref)
  (func (export "sum") (param i32 i32) (result i64) (local i64)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get 0) (local.get 1)))
      (local.set 2 (i64.add (local.get 2) (i64.load8_u (local.get 0))))
      (local.set 0 (i32.add (local.get 0) (i32.const 1)))
      (br $l)))
    (local.get 2))
  (func (export "size") (result i32) (memory.size))
  (func (export "null_entries") (result i32)
    (i32.add (i32.add (ref.is_null (table.get (i32.const 0))) (ref.is_null (table.get (i32.const 1))))
             (i32.add (ref.is_null (table.get (i32.const 2))) (ref.is_null (table.get (i32.const 3)))))))
"#;

#[test]
fn a_reused_slot_shows_nothing_of_the_previous_tenant() {
    let (_ca, a) = lucet_tests::load(TENANT_A.as_bytes());
    let (_cb, b) = lucet_tests::load(TENANT_B.as_bytes());
    let region = Region::new(1, Limits::default()).unwrap();
    let mut ia = region.instantiate(&a, &Linker::new()).unwrap();
    assert_eq!(&ia.memory()[100..115], b"tenant A secret");
    ia.run("scribble", &[]).unwrap();
    assert_eq!(ia.memory().len(), 5 * 65536);
    drop(ia);
    // Same slot, another module.
    let mut ib = region.instantiate(&b, &Linker::new()).unwrap();
    assert_eq!(ib.run("size", &[]).unwrap(), vec![Val::I32(1)]);
    assert_eq!(
        ib.run("sum", &[Val::I32(0), Val::I32(65536)]).unwrap(),
        vec![Val::I64(0)]
    );
    assert_eq!(ib.global("g").unwrap(), Val::I64(7));
    assert_eq!(ib.run("null_entries", &[]).unwrap(), vec![Val::I32(4)]);
    // Beyond its one page, A's grown pages are inaccessible, not stale.
    assert!(matches!(
        ib.run("sum", &[Val::I32(65536), Val::I32(65537)]),
        Err(Error::Trap(_))
    ));
    drop(ib);
    // And A again in the same slot starts from its own image, not its scribbles.
    let mut ia = region.instantiate(&a, &Linker::new()).unwrap();
    assert_eq!(&ia.memory()[100..115], b"tenant A secret");
    assert_eq!(ia.memory()[0], 0);
    assert_eq!(ia.memory().len(), 2 * 65536);
    assert_eq!(ia.global("g").unwrap(), Val::I64(0));
}

/// A module without a heap image (here: a data segment at an imported
/// global's offset) has its segments copied at instantiation. Whether it
/// then runs or not, the slot's next tenant sees zeros: dropped unstarted,
/// started with no start function, failed on a later segment, or reset and
/// dropped. (Issue 19, finding 2: the copy was not counted as a write, and
/// the next tenant read "SECR".)
#[test]
fn data_copied_at_instantiation_never_reaches_the_next_tenant() {
    let (_cs, secret) = lucet_tests::load(
        br#"(module
          (import "env" "at" (global $at i32))
          (memory 1)
          (data (global.get $at) "SECRET-OF-TENANT-A")
          (func (export "noop")))"#,
    );
    let (_cf, fails) = lucet_tests::load(
        br#"(module
          (import "env" "at" (global $at i32))
          (memory 1)
          (data (global.get $at) "SECRET-OF-TENANT-A")
          (data (i32.const 65530) "does not fit"))"#,
    );
    let (_cb, b) = lucet_tests::load(TENANT_B.as_bytes());
    let mut linker = Linker::new();
    let at = GlobalType {
        ty: ValType::I32,
        mutable: false,
        ref_type: None,
    };
    linker.define(
        "env",
        "at",
        Extern::Global(Global::new(at, Val::I32(4096)).unwrap()),
    );
    let region = Region::new(1, Limits::default()).unwrap();
    let next_tenant_sees_zeros = |how: &str| {
        let mut ib = region.instantiate(&b, &Linker::new()).unwrap();
        assert_eq!(
            ib.run("sum", &[Val::I32(0), Val::I32(65536)]).unwrap(),
            vec![Val::I64(0)],
            "{how}"
        );
    };
    drop(region.instantiate_unstarted(&secret, &linker).unwrap());
    next_tenant_sees_zeros("dropped unstarted");
    let mut i = region.instantiate_unstarted(&secret, &linker).unwrap();
    i.start().unwrap();
    drop(i);
    next_tenant_sees_zeros("started with no start function");
    assert!(matches!(
        region.instantiate_unstarted(&fails, &linker),
        Err(Error::Trap(_))
    ));
    next_tenant_sees_zeros("failed on a later segment");
    let mut i = region.instantiate(&secret, &linker).unwrap();
    i.reset().unwrap();
    drop(i);
    next_tenant_sees_zeros("reset, then dropped");
}

/// Code compiled for a bigger guard than the exporter's slot has must not
/// import its memory: its unchecked accesses past the exporter's
/// reservation would land in the next slot. (Issue 19, finding 1: the
/// importer wrote into a third instance's heap.)
#[test]
fn an_importer_compiled_for_more_guard_than_the_exporters_slot_is_refused() {
    let exporter = lucet_tests::compile(br#"(module (memory (export "mem") 1))"#);
    let importer_wat = br#"(module
      (import "a" "mem" (memory 1))
      (func (export "poke") (param i32)
        (i32.store offset=0x3C00000 (local.get 0) (i32.const 0x41414141))))"#;
    let big_guard = lucet_tests::compile_with(
        importer_wat,
        &lucetc::Options {
            heap_guard_size: 64 << 20,
            ..lucetc::Options::default()
        },
    );
    let same = lucet_tests::compile(importer_wat);
    // SAFETY: objects this test's lucetc just compiled into its own
    // temporary directories.
    let (exporter, big_guard, same) = unsafe {
        (
            lucet_runtime::Module::load_unverified(&exporter.path).unwrap(),
            lucet_runtime::Module::load_unverified(&big_guard.path).unwrap(),
            lucet_runtime::Module::load_unverified(&same.path).unwrap(),
        )
    };
    let region = Region::new(3, Limits::default()).unwrap();
    let mut store = Store::new();
    let a = store
        .instantiate(&region, &exporter, &Linker::new())
        .unwrap();
    let mut linker = Linker::new();
    linker.instance(&store, "a", a).unwrap();
    match store.instantiate(&region, &big_guard, &linker) {
        Err(Error::LimitExceeded(msg)) => {
            assert!(
                msg.contains("a.mem") && msg.contains("exporter's slot"),
                "{msg}"
            )
        }
        other => panic!("{other:?}"),
    }
    // Compiled for what the slot backs: accepted, and the same store traps.
    let b = store.instantiate(&region, &same, &linker).unwrap();
    assert!(matches!(
        store.instance(b).unwrap().run("poke", &[Val::I32(0)]),
        Err(Error::Trap(_))
    ));
}

/// A heap with a mapped (large) image gives back only the pages its
/// tenant wrote; the next tenant of the same module in the same slot sees
/// exactly the image, after few writes (discarded run by run) and after
/// writes scattered over many runs (discarded whole).
#[test]
fn a_mapped_image_comes_back_exactly_after_writes_few_or_scattered() {
    let image: Vec<u8> = (0..(256u32 << 10)).map(|i| (i * 7 + 3) as u8 | 1).collect();
    let text: String = image.iter().map(|b| format!("\\{b:02x}")).collect();
    let wat = format!(
        r#"(module (memory 8) (data (i32.const 0) "{text}")
          (func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
          (func (export "read_all") (result i32) (local $p i32) (local $s i32)
            (loop $l
              (local.set $s (i32.add (local.get $s) (i32.load8_u (local.get $p))))
              (local.set $p (i32.add (local.get $p) (i32.const 4096)))
              (br_if $l (i32.lt_u (local.get $p) (i32.const 524288))))
            (local.get $s)))"#
    );
    let (_c, m) = lucet_tests::load(wat.as_bytes());
    let region = Region::new(1, Limits::default()).unwrap();
    let pages = [0u32, 1, 5, 20, 63];
    let scattered: Vec<u32> = (0..64).step_by(2).chain(66..100).collect();
    for written in [&pages[..], &scattered[..]] {
        let mut i = region.instantiate(&m, &Linker::new()).unwrap();
        i.run("read_all", &[]).unwrap();
        for p in written {
            i.run("poke", &[Val::I32((p * 4096 + 17) as i32), Val::I32(0)])
                .unwrap();
        }
        drop(i);
        let mut i = region.instantiate(&m, &Linker::new()).unwrap();
        let mem = i.memory();
        assert_eq!(&mem[..image.len()], &image[..], "pages {written:?}");
        assert!(mem[image.len()..].iter().all(|b| *b == 0));
    }
}

#[test]
fn reset_restores_the_image_and_size() {
    let (_ca, a) = lucet_tests::load(TENANT_A.as_bytes());
    let region = Region::new(2, Limits::default()).unwrap();
    let mut ia = region.instantiate(&a, &Linker::new()).unwrap();
    ia.run("scribble", &[]).unwrap();
    ia.reset().unwrap();
    assert_eq!(ia.memory().len(), 2 * 65536);
    assert_eq!(&ia.memory()[100..115], b"tenant A secret");
    assert!(ia.memory()[..100].iter().all(|b| *b == 0));
    assert_eq!(ia.global("g").unwrap(), Val::I64(0));
}

#[test]
fn full_region_and_impossible_module_are_different_errors() {
    let (_cb, b) = lucet_tests::load(TENANT_B.as_bytes());
    let region = Region::new(2, Limits::default()).unwrap();
    let i1 = region.instantiate(&b, &Linker::new()).unwrap();
    let i2 = region.instantiate(&b, &Linker::new()).unwrap();
    assert_eq!(region.used(), 2);
    match region.instantiate(&b, &Linker::new()) {
        Err(e @ Error::RegionFull(2)) => {
            assert_eq!(e.to_string(), "region is full: all 2 slots are in use")
        }
        other => panic!("{:?}", other.err()),
    }
    drop(i1);
    let i3 = region.instantiate(&b, &Linker::new()).unwrap();
    drop((i2, i3));
    assert_eq!(region.used(), 0);

    let small = Region::new(
        1,
        Limits {
            heap_memory_size: 65536 / 2,
            ..Limits::default()
        },
    )
    .unwrap();
    assert!(matches!(
        small.instantiate(&b, &Linker::new()),
        Err(Error::LimitExceeded(_))
    ));
    let tight = Region::new(
        1,
        Limits {
            heap_address_space_size: 4 << 30,
            ..Limits::default()
        },
    )
    .unwrap();
    match tight.instantiate(&b, &Linker::new()) {
        Err(e @ Error::LimitExceeded(_)) => assert!(e.to_string().contains("address space"), "{e}"),
        other => panic!("{:?}", other.err()),
    }
    let (_ct, t) = lucet_tests::load(br#"(module (table 100 funcref))"#);
    let few = Region::new(
        1,
        Limits {
            table_elements: 10,
            ..Limits::default()
        },
    )
    .unwrap();
    assert!(matches!(
        few.instantiate(&t, &Linker::new()),
        Err(Error::LimitExceeded(_))
    ));
}

#[test]
fn eight_threads_share_one_region() {
    let (_cb, b) = lucet_tests::load(TENANT_B.as_bytes());
    let region = Region::new(16, Limits::default()).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (region, b) = (region.clone(), Arc::clone(&b));
            std::thread::spawn(move || {
                for i in 0..200 {
                    let mut inst = region.instantiate(&b, &Linker::new()).unwrap();
                    inst.memory()[0] = (t + i) as u8;
                    let want = ((t + i) as u8) as i64;
                    assert_eq!(
                        inst.run("sum", &[Val::I32(0), Val::I32(4096)]).unwrap(),
                        vec![Val::I64(want)]
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(region.used(), 0);
}

/// The kernel's page tables for this process, in bytes.
fn page_tables() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmPTE:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .unwrap_or(0)
        * 1024
}

#[test]
fn twenty_thousand_live_instances() {
    let (_c, m) = lucet_tests::load(
        br#"(module (memory 1) (global (mut i32) (i32.const 1)) (func (export "f") (result i32) (i32.const 42)))"#,
    );
    let n = 20_000;
    let region = Region::new(n, Limits::default()).unwrap();
    let (before, tables_before) = (lucet_tests::rss(), page_tables());
    let start = std::time::Instant::now();
    let mut live: Vec<Instance> = Vec::with_capacity(n);
    for _ in 0..n {
        live.push(region.instantiate(&m, &Linker::new()).unwrap());
    }
    let took = start.elapsed();
    let per_instance = lucet_tests::rss().saturating_sub(before) / n;
    let tables = page_tables().saturating_sub(tables_before) / n;
    println!("{n} live instances in {took:?}, {per_instance} bytes resident and {tables} bytes of page tables each");
    assert_eq!(region.used(), n);
    assert_eq!(live[n - 1].run("f", &[]).unwrap(), vec![Val::I32(42)]);
    assert!(matches!(
        region.instantiate(&m, &Linker::new()),
        Err(Error::RegionFull(_))
    ));
    assert!(
        per_instance <= 16 << 10,
        "{per_instance} bytes per idle instance"
    );
}
