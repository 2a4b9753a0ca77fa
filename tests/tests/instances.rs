//! Instances: many in a row, traps on several threads, reset, isolation,
//! hostcalls and import errors.

use lucet_runtime::{
    Error, Extern, FuncType, Global, GlobalType, Instance, Limits, Linker, TrapCode, Val, ValType,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

const COUNTER: &str = r#"
(module
  (memory (export "memory") 1)
  (global $g (export "g") (mut i32) (i32.const 0))
  (data (i32.const 0) "\2a")
  (func (export "bump") (result i32)
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (i32.store8 (i32.const 1) (i32.add (i32.load8_u (i32.const 1)) (i32.const 1)))
    (global.get $g))
  (func (export "peek") (result i32 i32) (i32.load8_u (i32.const 0)) (i32.load8_u (i32.const 1)))
  (func (export "oob") (result i32) (i32.load (i32.const 0x7fffffff)))
  (func (export "spin") (param i32) (result i32) (local i32)
    (loop $l (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
    (local.get 1)))
"#;

#[test]
fn a_thousand_instances_one_after_another() {
    let (_c, module) = lucet_tests::load(COUNTER.as_bytes());
    for i in 0..1000 {
        let mut inst = Instance::new(&module, &Linker::new(), Limits::default()).unwrap();
        assert_eq!(
            inst.run("bump", &[]).unwrap(),
            vec![Val::I32(1)],
            "instance {i}"
        );
        assert_eq!(
            inst.run("peek", &[]).unwrap(),
            vec![Val::I32(42), Val::I32(1)]
        );
    }
}

#[test]
fn instances_do_not_share_state_and_reset_restores_it() {
    let (_c, module) = lucet_tests::load(COUNTER.as_bytes());
    let mut a = Instance::new(&module, &Linker::new(), Limits::default()).unwrap();
    let mut b = Instance::new(&module, &Linker::new(), Limits::default()).unwrap();
    a.run("bump", &[]).unwrap();
    a.run("bump", &[]).unwrap();
    assert_eq!(a.global("g").unwrap(), Val::I32(2));
    assert_eq!(b.global("g").unwrap(), Val::I32(0));
    assert_eq!(a.memory()[1], 2);
    assert_eq!(b.memory()[1], 0);
    assert_eq!(b.memory().len(), 65536);
    // A trap leaves the instance usable; reset brings back the start state.
    assert!(
        matches!(a.run("oob", &[]), Err(Error::Trap(t)) if t.code == TrapCode::HeapOutOfBounds)
    );
    assert_eq!(a.run("bump", &[]).unwrap(), vec![Val::I32(3)]);
    a.reset().unwrap();
    assert_eq!(a.global("g").unwrap(), Val::I32(0));
    assert_eq!(a.run("peek", &[]).unwrap(), vec![Val::I32(42), Val::I32(0)]);
}

#[test]
fn traps_on_four_threads_while_others_keep_running() {
    let (_c, module) = lucet_tests::load(COUNTER.as_bytes());
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(6));
    let mut workers = Vec::new();
    for _ in 0..2 {
        let (module, stop, progress, barrier) = (
            module.clone(),
            stop.clone(),
            progress.clone(),
            barrier.clone(),
        );
        workers.push(std::thread::spawn(move || {
            let mut inst = Instance::new(&module, &Linker::new(), Limits::default()).unwrap();
            barrier.wait();
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(
                    inst.run("spin", &[Val::I32(10_000)]).unwrap(),
                    vec![Val::I32(10_000)]
                );
                progress.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut trappers = Vec::new();
    for _ in 0..4 {
        let (module, barrier) = (module.clone(), barrier.clone());
        trappers.push(std::thread::spawn(move || {
            let mut inst = Instance::new(&module, &Linker::new(), Limits::default()).unwrap();
            barrier.wait();
            for _ in 0..200 {
                match inst.run("oob", &[]) {
                    Err(Error::Trap(t)) => assert_eq!(t.code, TrapCode::HeapOutOfBounds),
                    other => panic!("expected a trap, got {other:?}"),
                }
                assert_eq!(inst.run("bump", &[]).unwrap().len(), 1);
            }
        }));
    }
    for t in trappers {
        t.join().expect("trapping thread survived");
    }
    let before = progress.load(Ordering::Relaxed);
    while progress.load(Ordering::Relaxed) < before + 10 {
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker survived");
    }
}

#[test]
fn trap_names_function_and_offset() {
    let (_c, mut inst) = lucet_tests::instantiate(
        r#"(module (func $inner (unreachable)) (func (export "outer") (call $inner)))"#,
    );
    match inst.run("outer", &[]) {
        Err(Error::Trap(t)) => {
            assert_eq!(t.code, TrapCode::Unreachable);
            assert_eq!(t.func_index, Some(0));
            assert_eq!(t.func_name.as_deref(), Some("inner"));
            assert!(t.code_offset.is_some());
            let msg = Error::Trap(t).to_string();
            assert!(
                msg.starts_with("trap: unreachable executed in function 0 (inner)"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
}

const HOST: &str = r#"
(module
  (import "env" "add" (func $add (param i32 i64) (result i64)))
  (import "env" "fail" (func $fail))
  (import "env" "poke" (func $poke (param i32)))
  (import "env" "base" (global $base i32))
  (memory (export "memory") 1)
  (func (export "call_add") (param i32) (result i64) (call $add (local.get 0) (i64.const 100)))
  (func (export "call_fail") (result i32) (call $fail) (i32.const 1))
  (func (export "poke") (param i32) (call $poke (local.get 0)))
  (func (export "base") (result i32) (global.get $base)))
"#;

fn host_linker() -> Linker {
    let mut l = Linker::new();
    l.func(
        "env",
        "add",
        FuncType::new([ValType::I32, ValType::I64], [ValType::I64]),
        |caller, args, results| {
            let seen: &mut Vec<i32> = caller.context().unwrap();
            seen.push(args[0].as_i32().unwrap());
            results[0] = Val::I64(args[0].as_i32().unwrap() as i64 + args[1].as_i64().unwrap());
            Ok(())
        },
    );
    l.func("env", "fail", FuncType::new([], []), |_, _, _| {
        Err(Error::Host("embedder says no".into()))
    });
    l.func(
        "env",
        "poke",
        FuncType::new([ValType::I32], []),
        |caller, args, _| {
            let at = args[0].as_i32().unwrap() as u32;
            caller
                .write_u32(at, 0xdead_beef)
                .ok_or_else(|| Error::Host(format!("bad guest pointer {at:#x}").into()))
        },
    );
    l.define(
        "env",
        "base",
        Extern::Global(
            Global::new(
                GlobalType {
                    ty: ValType::I32,
                    mutable: false,
                    ref_type: None,
                },
                Val::I32(77),
            )
            .unwrap(),
        ),
    );
    l
}

#[test]
fn hostcalls_see_their_instance_and_can_end_the_run() {
    let (_c, module) = lucet_tests::load(HOST.as_bytes());
    let mut inst = Instance::new(&module, &host_linker(), Limits::default()).unwrap();
    inst.set_context(Vec::<i32>::new());
    assert_eq!(
        inst.run("call_add", &[Val::I32(5)]).unwrap(),
        vec![Val::I64(105)]
    );
    assert_eq!(inst.run("base", &[]).unwrap(), vec![Val::I32(77)]);
    assert_eq!(inst.context_mut::<Vec<i32>>().unwrap(), &vec![5]);
    match inst.run("call_fail", &[]) {
        Err(Error::Host(e)) => assert_eq!(e.to_string(), "embedder says no"),
        other => panic!("{other:?}"),
    }
    inst.run("poke", &[Val::I32(8)]).unwrap();
    assert_eq!(&inst.memory()[8..12], &0xdead_beef_u32.to_le_bytes());
    // A wild guest pointer is an error from the hostcall, not a host crash.
    assert!(matches!(
        inst.run("poke", &[Val::I32(-2)]),
        Err(Error::Host(_))
    ));
    assert_eq!(
        inst.run("call_add", &[Val::I32(1)]).unwrap(),
        vec![Val::I64(101)]
    );
}

#[test]
fn missing_and_mismatched_imports_are_named() {
    let (_c, module) = lucet_tests::load(HOST.as_bytes());
    match Instance::new(&module, &Linker::new(), Limits::default()) {
        Err(e @ Error::MissingImport { .. }) => {
            assert_eq!(e.to_string(), "unknown import: env::add has no binding")
        }
        other => panic!("{:?}", other.err()),
    }
    let mut l = host_linker();
    l.func(
        "env",
        "add",
        FuncType::new([ValType::I32], [ValType::I64]),
        |_, _, _| Ok(()),
    );
    match Instance::new(&module, &l, Limits::default()) {
        Err(e @ Error::ImportMismatch { .. }) => assert!(e.to_string().contains("env::add"), "{e}"),
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn instances_link_to_each_others_exports() {
    let (_c1, provider) = lucet_tests::load(
        br#"(module
          (memory (export "mem") 1)
          (global (export "g") (mut i32) (i32.const 5))
          (func (export "twice") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))"#,
    );
    let (_c2, user) = lucet_tests::load(
        br#"(module
          (import "p" "mem" (memory 1))
          (import "p" "g" (global $g (mut i32)))
          (import "p" "twice" (func $twice (param i32) (result i32)))
          (func (export "go") (result i32)
            (global.set $g (i32.add (global.get $g) (i32.const 1)))
            (i32.store (i32.const 4) (call $twice (global.get $g)))
            (i32.load (i32.const 4))))"#,
    );
    let region = lucet_runtime::Region::new(2, Limits::default()).unwrap();
    let mut store = lucet_runtime::Store::new();
    let p = store
        .instantiate(&region, &provider, &Linker::new())
        .unwrap();
    let mut l = Linker::new();
    l.instance(&store, "p", p).unwrap();
    let u = store.instantiate(&region, &user, &l).unwrap();
    assert_eq!(
        store.instance(u).unwrap().run("go", &[]).unwrap(),
        vec![Val::I32(12)]
    );
    let mut p = store.instance(p).unwrap();
    assert_eq!(p.global("g").unwrap(), Val::I32(6));
    assert_eq!(&p.memory()[4..8], &12u32.to_le_bytes());
    // A standalone instance cannot import a store's exports.
    assert!(matches!(
        Instance::new(&user, &l, Limits::default()),
        Err(lucet_runtime::Error::ImportMismatch { .. })
    ));
}

#[test]
fn limits_are_enforced_with_named_errors() {
    let (_c, module) = lucet_tests::load(br#"(module (memory 20))"#);
    let limits = Limits {
        heap_memory_size: 10 * 65536,
        ..Limits::default()
    };
    match Instance::new(&module, &Linker::new(), limits) {
        Err(e @ Error::LimitExceeded(_)) => assert!(e.to_string().contains("heap limit"), "{e}"),
        other => panic!("{:?}", other.err()),
    }
    let (_c, grow) = lucet_tests::load(
        br#"(module (memory 1) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#,
    );
    let mut inst = Instance::new(
        &grow,
        &Linker::new(),
        Limits {
            heap_memory_size: 4 * 65536,
            ..Limits::default()
        },
    )
    .unwrap();
    assert_eq!(inst.run("grow", &[Val::I32(3)]).unwrap(), vec![Val::I32(1)]);
    assert_eq!(
        inst.run("grow", &[Val::I32(1)]).unwrap(),
        vec![Val::I32(-1)]
    );
}

#[test]
fn interrupt_stops_an_infinite_loop() {
    let (_c, mut inst) =
        lucet_tests::instantiate(r#"(module (func (export "forever") (loop $l (br $l))))"#);
    let handle = inst.interrupt_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        while !handle.interrupt() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
    assert!(matches!(
        inst.run("forever", &[]),
        Err(Error::Terminated(_))
    ));
    t.join().unwrap();
}

#[test]
fn bad_arguments_are_errors() {
    let (_c, mut inst) = lucet_tests::instantiate(r#"(module (func (export "f") (param i32)))"#);
    assert!(matches!(
        inst.run("f", &[]),
        Err(Error::ArgumentMismatch { .. })
    ));
    assert!(matches!(
        inst.run("f", &[Val::I64(1)]),
        Err(Error::ArgumentMismatch { .. })
    ));
    assert!(matches!(
        inst.run("g", &[]),
        Err(Error::NoSuchExport { .. })
    ));
}

#[test]
fn start_function_runs_and_its_trap_fails_instantiation() {
    let (_c, inst) = lucet_tests::instantiate(
        r#"(module (global $g (export "g") (mut i32) (i32.const 0))
             (func $s (global.set $g (i32.const 9))) (start $s))"#,
    );
    assert_eq!(inst.global("g").unwrap(), Val::I32(9));
    let (_c, module) = lucet_tests::load(br#"(module (func $s (unreachable)) (start $s))"#);
    assert!(matches!(
        Instance::new(&module, &Linker::new(), Limits::default()),
        Err(Error::Trap(t)) if t.code == TrapCode::Unreachable
    ));
}
