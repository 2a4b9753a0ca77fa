//! The embedding API's ownership rules, one test per hazard a review found
//! (issue 10): each unsound program is now a checked error here, or does
//! not compile (`lucet-runtime/tests/compile_fail`).

use lucet_runtime::{
    Error, FuncType, Global, GlobalType, Instance, Limits, Linker, Region, RunResult, Store,
    Termination, Val, ValType,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REFS: &str = r#"(module
  (table $t 2 funcref)
  (func $seven (result i32) (i32.const 7))
  (elem declare func $seven)
  (func (export "get") (result funcref) (ref.func $seven))
  (func (export "call") (param funcref) (result i32)
    (table.set $t (i32.const 0) (local.get 0))
    (call_indirect (result i32) (i32.const 0)))
  (func (export "stash") (param funcref) (table.set $t (i32.const 1) (local.get 0)))
  (func (export "call_stashed") (result i32) (call_indirect (result i32) (i32.const 1))))"#;

fn funcref_of(inst: &mut Instance) -> Val {
    let r = inst.run("get", &[]).unwrap();
    assert!(matches!(r[0], Val::FuncRef(Some(_))));
    r[0]
}

/// Hazards 1 and 2: a function reference is accepted back only by the
/// domain it came from, and that domain keeps its function alive.
#[test]
fn a_function_reference_only_enters_its_own_domain() {
    let (_c, m) = lucet_tests::load(REFS.as_bytes());
    let mut a = Instance::new(&m, &Linker::new(), Limits::default()).unwrap();
    let r = funcref_of(&mut a);
    assert_eq!(a.run("call", &[r]).unwrap(), vec![Val::I32(7)]);
    // It names function 0 ($seven) of `a`, and nothing of another instance.
    let Val::FuncRef(Some(handle)) = r else {
        unreachable!()
    };
    assert_eq!(a.funcref_index(&handle), Some(0));
    // Another instance of the same module, same slot layout: refused.
    let mut b = Instance::new(&m, &Linker::new(), Limits::default()).unwrap();
    assert_eq!(b.funcref_index(&handle), None);
    assert!(matches!(
        b.run("call", &[r]),
        Err(Error::WrongDomain("a function reference"))
    ));
    // Once its instance is gone, the reference matches no domain ever
    // again: domain ids are never reused.
    drop(a);
    let mut c = Instance::new(&m, &Linker::new(), Limits::default()).unwrap();
    assert!(matches!(c.run("call", &[r]), Err(Error::WrongDomain(_))));
    assert!(matches!(b.run("stash", &[r]), Err(Error::WrongDomain(_))));
    // A host global cannot hold one either.
    let ty = GlobalType {
        ty: ValType::FuncRef,
        mutable: false,
        ref_type: None,
    };
    assert!(matches!(Global::new(ty, r), Err(Error::WrongDomain(_))));
    assert!(Global::new(ty, Val::FuncRef(None)).is_ok());
}

/// Hazard 1, through a hostcall: a host function returning another
/// domain's reference ends the run with an error instead of handing the
/// guest a pointer it would jump through.
#[test]
fn a_hostcall_cannot_return_a_foreign_function_reference() {
    let (_c, m) = lucet_tests::load(REFS.as_bytes());
    let mut a = Instance::new(&m, &Linker::new(), Limits::default()).unwrap();
    let foreign = funcref_of(&mut a);
    let (_c2, user) = lucet_tests::load(
        br#"(module
          (import "host" "give" (func $give (result funcref)))
          (table 1 funcref)
          (func (export "f") (result i32)
            (table.set (i32.const 0) (call $give))
            (call_indirect (result i32) (i32.const 0))))"#,
    );
    let mut linker = Linker::new();
    linker.func(
        "host",
        "give",
        FuncType::new([], [ValType::FuncRef]),
        move |_, _, results| {
            results[0] = foreign;
            Ok(())
        },
    );
    let mut b = Instance::new(&user, &linker, Limits::default()).unwrap();
    assert!(matches!(
        b.run("f", &[]),
        Err(Error::WrongDomain("a function reference"))
    ));
}

/// Hazard 2 inside a store: a reference from one instance stored in
/// another stays valid as long as the store, which frees no instance.
#[test]
fn a_store_keeps_referenced_functions_alive() {
    let (_c, m) = lucet_tests::load(REFS.as_bytes());
    let region = Region::new(2, Limits::default()).unwrap();
    let mut store = Store::new();
    let a = store.instantiate(&region, &m, &Linker::new()).unwrap();
    let b = store.instantiate(&region, &m, &Linker::new()).unwrap();
    let r = store.instance(a).unwrap().run("get", &[]).unwrap()[0];
    store.instance(b).unwrap().run("stash", &[r]).unwrap();
    assert_eq!(
        store.instance(b).unwrap().run("call_stashed", &[]).unwrap(),
        vec![Val::I32(7)]
    );
    // The store's references are not another store's.
    let mut other = Store::new();
    let c = other.instantiate(&region, &m, &Linker::new());
    // (The region has two slots, both in use.)
    assert!(matches!(c, Err(Error::RegionFull(2))));
    let region2 = Region::new(1, Limits::default()).unwrap();
    let c = other.instantiate(&region2, &m, &Linker::new()).unwrap();
    assert!(matches!(
        other.instance(c).unwrap().run("stash", &[r]),
        Err(Error::WrongDomain(_))
    ));
    // Instance ids are checked too.
    assert!(matches!(other.instance(a), Err(Error::WrongDomain(_))));
}

const PROVIDER: &[u8] = br#"(module
  (memory (export "mem") 1)
  (table (export "tab") 2 funcref)
  (global (export "count") (mut i32) (i32.const 0))
  (func $bump (result i32)
    (global.set 0 (i32.add (global.get 0) (i32.const 1)))
    (global.get 0))
  (elem (i32.const 0) $bump)
  (func (export "bump") (result i32) (call $bump)))"#;

const USER: &[u8] = br#"(module
  (import "p" "mem" (memory 1))
  (import "p" "tab" (table 2 funcref))
  (import "p" "count" (global $count (mut i32)))
  (import "p" "bump" (func $bump (result i32)))
  (func (export "go") (param i32) (result i32)
    (local $i i32)
    (loop $l
      (drop (call_indirect (result i32) (i32.const 0)))
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (call $bump)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get 0))))
    ;; Grow the shared table (its elements are reallocated) and memory
    ;; every run: the next run's call_indirect and loads go through the
    ;; owner's updated definitions.
    (drop (table.grow (ref.null func) (i32.const 16)))
    (drop (memory.grow (i32.const 1)))
    (global.get $count))
  (func (export "sizes") (result i32 i32) (table.size) (memory.size)))"#;

/// Hazard 3: linked instances share memory, tables and globals; a store
/// runs one guest at a time, and several stores run on several threads at
/// once, sharing one region and one linker of host functions.
#[test]
fn linked_stores_run_on_several_threads_at_once() {
    let (_c1, provider) = lucet_tests::load(PROVIDER);
    let (_c2, user) = lucet_tests::load(USER);
    let region = Region::new(8, Limits::default()).unwrap();
    let host = Arc::new(Linker::new());
    std::thread::scope(|s| {
        for t in 0..4 {
            let (region, host, provider, user) = (&region, host.clone(), &provider, &user);
            s.spawn(move || {
                let mut store = Store::new();
                let p = store.instantiate(region, provider, &host).unwrap();
                let mut linker = (*host).clone();
                linker.instance(&store, "p", p).unwrap();
                let u = store.instantiate(region, user, &linker).unwrap();
                let n = 50 + t;
                for round in 1..=20 {
                    let out = store
                        .instance(u)
                        .unwrap()
                        .run("go", &[Val::I32(n)])
                        .unwrap();
                    // Each iteration bumps twice (through the table and the
                    // import): the count is shared, per store.
                    assert_eq!(out, vec![Val::I32(2 * n * round)]);
                }
                // Twenty growths of the provider's table and memory, seen
                // by both instances.
                let sizes = store.instance(u).unwrap().run("sizes", &[]).unwrap();
                assert_eq!(sizes, vec![Val::I32(2 + 16 * 20), Val::I32(1 + 20)]);
                let mut pm = store.instance(p).unwrap();
                assert_eq!(pm.global("count").unwrap(), Val::I32(2 * n * 20));
                assert_eq!(pm.memory().len(), 21 << 16);
                assert_ne!(&pm.memory()[0..4], &[0, 0, 0, 0]);
            });
        }
    });
}

const ASKER: &[u8] = br#"(module
  (import "host" "ask" (func $ask (param i32) (result i32)))
  (func (export "conversation") (result i32)
    (i32.add (call $ask (i32.const 1)) (call $ask (i32.const 2)))))"#;

fn asker_linker() -> Linker {
    let mut linker = Linker::new();
    linker.func_async(
        "host",
        "ask",
        FuncType::new([ValType::I32], [ValType::I32]),
        |_caller, args| {
            let question = args[0];
            Box::pin(async move { Ok(vec![lucet_runtime::yield_value(question).await]) })
        },
    );
    linker
}

/// Hazard 4: a call suspended in a yield holds only `Send` state, so the
/// instance moves to another thread and is resumed there.
#[test]
fn a_yielded_call_is_resumed_on_another_thread() {
    let (_c, m) = lucet_tests::load(ASKER);
    let mut inst = Instance::new(&m, &asker_linker(), Limits::default()).unwrap();
    assert_eq!(
        inst.run_resumable("conversation", &[]).unwrap(),
        RunResult::Yielded(Val::I32(1))
    );
    let out = std::thread::spawn(move || {
        let r = inst.resume(Val::I32(40)).unwrap();
        assert_eq!(r, RunResult::Yielded(Val::I32(2)));
        inst.resume(Val::I32(2)).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(out, RunResult::Returned(vec![Val::I32(42)]));
}

const SPIN: &[u8] = br#"(module
  (import "host" "ask" (func $ask (param i32) (result i32)))
  (func (export "ask_then_spin") (drop (call $ask (i32.const 0))) (loop $l (br $l)))
  (func (export "count") (param i32) (result i32) (local i32)
    (loop $l
      (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
    (local.get 1)))"#;

/// Hazard 5: `reset` abandons a suspended call and disarms its deadline;
/// a later run is governed by its own limits only.
#[test]
fn an_abandoned_call_leaves_no_deadline_behind() {
    let (_c, m) = lucet_tests::load(SPIN);
    let mut inst = Instance::new(&m, &asker_linker(), Limits::default()).unwrap();
    inst.set_deadline(Some(Duration::from_millis(40)));
    assert!(matches!(
        inst.run_resumable("ask_then_spin", &[]),
        Ok(RunResult::Yielded(_))
    ));
    inst.reset().unwrap();
    inst.set_deadline(None);
    // Runs well past the old deadline, and is not stopped.
    let start = Instant::now();
    let n = 1 << 30;
    assert_eq!(
        inst.run("count", &[Val::I32(n)]).unwrap(),
        vec![Val::I32(n)]
    );
    assert!(start.elapsed() > Duration::from_millis(40));
    // And the deadline of a suspended call still stops it when resumed
    // late.
    inst.set_deadline(Some(Duration::from_millis(20)));
    assert!(matches!(
        inst.run_resumable("ask_then_spin", &[]),
        Ok(RunResult::Yielded(_))
    ));
    std::thread::sleep(Duration::from_millis(40));
    assert!(matches!(
        inst.resume(Val::I32(0)),
        Err(Error::Terminated(Termination::Deadline { .. }))
    ));
}

const LOOPING_START: &[u8] = br#"(module
  (func $forever (loop $l (br $l)))
  (start $forever)
  (func (export "f") (result i32) (i32.const 1)))"#;

/// Hazard 6: a start function runs under the same limits as any run.
#[test]
fn a_looping_start_function_is_stopped_by_the_deadline() {
    let (_c, m) = lucet_tests::load(LOOPING_START);
    let region = Region::new(2, Limits::default()).unwrap();
    let mut inst = region.instantiate_unstarted(&m, &Linker::new()).unwrap();
    // Exports cannot run before the start function.
    assert!(matches!(inst.run("f", &[]), Err(Error::InvalidState(_))));
    let limit = Duration::from_millis(30);
    inst.set_deadline(Some(limit));
    assert!(matches!(
        inst.start(),
        Err(Error::Terminated(Termination::Deadline { limit: l })) if l == limit
    ));
    assert!(matches!(inst.run("f", &[]), Err(Error::InvalidState(_))));
    // The kill switch reaches it too.
    let mut inst2 = region.instantiate_unstarted(&m, &Linker::new()).unwrap();
    let h = inst2.interrupt_handle();
    let t = std::thread::spawn(move || {
        while !h.interrupt() {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    assert!(matches!(
        inst2.start(),
        Err(Error::Terminated(Termination::Interrupted))
    ));
    t.join().unwrap();
    drop((inst, inst2));
    // In a store, the store's deadline governs instantiation.
    let mut store = Store::new();
    store.set_deadline(Some(limit));
    assert!(matches!(
        store.instantiate(&region, &m, &Linker::new()),
        Err(Error::Terminated(Termination::Deadline { .. }))
    ));
}

/// A reset re-applies the instance's segments, which may no longer fit an
/// imported memory that its owner's reset shrank back: the reset fails,
/// and the instance stays unrunnable until a reset succeeds, instead of
/// running half re-initialized. (Issue 19, finding 6.)
#[test]
fn a_reset_that_fails_to_reinitialize_leaves_the_instance_unrunnable() {
    let (_ca, owner) = lucet_tests::load(
        br#"(module (memory (export "mem") 1)
          (func (export "grow") (drop (memory.grow (i32.const 1)))))"#,
    );
    let (_cb, user) = lucet_tests::load(
        br#"(module (import "a" "mem" (memory 1))
          (data (i32.const 70000) "past the first page")
          (func (export "f") (result i32) (i32.const 7)))"#,
    );
    let region = Region::new(2, Limits::default()).unwrap();
    let mut store = Store::new();
    let a = store.instantiate(&region, &owner, &Linker::new()).unwrap();
    store.instance(a).unwrap().run("grow", &[]).unwrap();
    let mut linker = Linker::new();
    linker.instance(&store, "a", a).unwrap();
    let b = store.instantiate(&region, &user, &linker).unwrap();
    assert_eq!(
        store.instance(b).unwrap().run("f", &[]).unwrap(),
        vec![Val::I32(7)]
    );
    // The owner's reset takes its memory back to one page.
    store.instance(a).unwrap().reset().unwrap();
    assert!(matches!(
        store.instance(b).unwrap().reset(),
        Err(Error::Trap(_))
    ));
    match store.instance(b).unwrap().run("f", &[]) {
        Err(Error::InvalidState(msg)) => assert!(msg.contains("reset"), "{msg}"),
        other => panic!("ran after a failed reset: {other:?}"),
    }
    // Once its segment fits again, a reset makes it runnable.
    store.instance(a).unwrap().run("grow", &[]).unwrap();
    store.instance(b).unwrap().reset().unwrap();
    assert_eq!(
        store.instance(b).unwrap().run("f", &[]).unwrap(),
        vec![Val::I32(7)]
    );
}
