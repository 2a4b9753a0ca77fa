//! Exceptions through the runtime: host tags and host functions that
//! throw, uncaught exceptions as typed errors, and the runtime's
//! guarantees (deadlines, stack overflow, the live-exception limit, reset)
//! for code that throws.

use lucet_runtime::{
    Caller, Error, Extern, FuncType, Instance, Limits, Linker, Tag, Termination, TrapCode, Val,
    ValType,
};
use std::time::Duration;

/// A module that imports a host tag and a host function that throws it.
const CATCHES_HOST: &str = r#"
(module
  (tag $host (import "env" "tag") (param i32 i64))
  (tag $own (export "own") (param i32))
  (func $throw (import "env" "throw") (param i32) (result i32))
  (func (export "catch") (param i32) (result i64) (local $tens i64)
    (block $h (result i32 i64)
      (try_table (result i64) (catch $host $h)
        (i64.extend_i32_s (call $throw (local.get 0))))
      (return))
    (local.set $tens)
    (i64.add (i64.extend_i32_s) (local.get $tens)))
  (func (export "catch-all") (param i32) (result i32)
    (block $h
      (try_table (catch_all $h) (drop (call $throw (local.get 0))))
      (return (i32.const 0)))
    (i32.const 1))
  (func (export "uncaught") (param i32) (result i32) (call $throw (local.get 0)))
  (func (export "throw-own") (param i32) (throw $own (local.get 0))))
"#;

fn host_tag() -> Tag {
    Tag::new(FuncType::new([ValType::I32, ValType::I64], [])).unwrap()
}

/// `env.throw(n)` returns n when n is negative, else throws `tag` with
/// (n, n * 10).
fn linker(tag: &Tag) -> Linker {
    let mut l = Linker::new();
    l.define("env", "tag", Extern::Tag(tag.clone()));
    let thrown = tag.clone();
    l.func(
        "env",
        "throw",
        FuncType::new([ValType::I32], [ValType::I32]),
        move |caller: &mut Caller<'_>, args: &[Val], results: &mut [Val]| {
            let n = args[0].as_i32().unwrap();
            if n < 0 {
                results[0] = Val::I32(n);
                return Ok(());
            }
            Err(caller.throw(&thrown, &[Val::I32(n), Val::I64(i64::from(n) * 10)]))
        },
    );
    l
}

#[test]
fn a_host_function_throws_and_the_guest_catches_it() {
    let tag = host_tag();
    let (_c, module) = lucet_tests::load(CATCHES_HOST.as_bytes());
    let mut inst = Instance::new(&module, &linker(&tag), Limits::default()).unwrap();
    assert_eq!(
        inst.run("catch", &[Val::I32(4)]).unwrap(),
        vec![Val::I64(44)]
    );
    assert_eq!(
        inst.run("catch", &[Val::I32(-3)]).unwrap(),
        vec![Val::I64(-3)]
    );
    assert_eq!(
        inst.run("catch-all", &[Val::I32(1)]).unwrap(),
        vec![Val::I32(1)]
    );
    // Thousands of throws in one run, each caught.
    for i in 0..5000 {
        assert_eq!(
            inst.run("catch", &[Val::I32(i)]).unwrap(),
            vec![Val::I64(i64::from(i) * 11)]
        );
    }
}

#[test]
fn an_uncaught_exception_is_a_typed_error_naming_its_tag() {
    let tag = host_tag();
    let (_c, module) = lucet_tests::load(CATCHES_HOST.as_bytes());
    let mut inst = Instance::new(&module, &linker(&tag), Limits::default()).unwrap();
    match inst.run("uncaught", &[Val::I32(7)]) {
        Err(Error::Exception(e)) => {
            assert_eq!(e.tag, "env.tag");
            assert_eq!(e.payload, vec![Val::I32(7), Val::I64(70)]);
        }
        other => panic!("{other:?}"),
    }
    match inst.run("throw-own", &[Val::I32(3)]) {
        Err(Error::Exception(e)) => {
            assert_eq!(e.tag, "\"own\"");
            assert_eq!(e.payload, vec![Val::I32(3)]);
            assert_eq!(
                Error::Exception(e).to_string(),
                "uncaught exception: tag \"own\" with payload (3)"
            );
        }
        other => panic!("{other:?}"),
    }
    // The instance is still usable.
    assert_eq!(
        inst.run("catch", &[Val::I32(1)]).unwrap(),
        vec![Val::I64(11)]
    );
}

#[test]
fn a_host_throw_is_checked_against_the_tag() {
    let tag = host_tag();
    let mut l = linker(&tag);
    let wrong = tag.clone();
    l.func(
        "env",
        "throw",
        FuncType::new([ValType::I32], [ValType::I32]),
        move |caller: &mut Caller<'_>, _: &[Val], _: &mut [Val]| {
            Err(caller.throw(&wrong, &[Val::I32(1)]))
        },
    );
    let (_c, module) = lucet_tests::load(CATCHES_HOST.as_bytes());
    let mut inst = Instance::new(&module, &l, Limits::default()).unwrap();
    match inst.run("catch-all", &[Val::I32(1)]) {
        Err(Error::ArgumentMismatch { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(Tag::new(FuncType::new([], [ValType::I32])).is_err());
}

#[test]
fn a_tag_of_another_type_does_not_link() {
    let other = Tag::new(FuncType::new([ValType::I32], [])).unwrap();
    let (_c, module) = lucet_tests::load(CATCHES_HOST.as_bytes());
    match Instance::new(&module, &linker(&other), Limits::default()) {
        Err(Error::ImportMismatch { field, .. }) => assert_eq!(field, "tag"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("linked"),
    }
}

const GUARANTEES: &str = r#"
(module
  (tag $t (param i32))
  (func $throw (param i32) (throw $t (local.get 0)))
  ;; Catches, then loops forever in the handler's continuation.
  (func (export "spin-in-handler")
    (block $h (result i32)
      (try_table (catch $t $h) (call $throw (i32.const 1)))
      (return))
    (drop)
    (loop $l (br $l)))
  ;; Recursion with a handler in every frame: overflows the stack.
  (func $deep (export "deep") (param i32) (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $t $h)
        (call $deep (i32.add (local.get 0) (i32.const 1))))))
  ;; Throw n exceptions, catching each one.
  (func (export "throw-many") (param i32) (result i32) (local i32)
    (loop $l
      (block $h (result i32)
        (try_table (catch $t $h) (call $throw (local.get 0)))
        (unreachable))
      (local.set 1 (i32.add (local.get 1)))
      (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))
      (br_if $l))
    (local.get 1)))
"#;

#[test]
fn a_deadline_stops_a_guest_looping_in_a_handler() {
    let (_c, module) = lucet_tests::load(GUARANTEES.as_bytes());
    let mut inst = Instance::new(&module, &Linker::new(), Limits::default()).unwrap();
    inst.set_deadline(Some(Duration::from_millis(50)));
    match inst.run("spin-in-handler", &[]) {
        Err(Error::Terminated(Termination::Deadline { .. })) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn unbounded_recursion_with_handlers_traps_cleanly() {
    let (_c, module) = lucet_tests::load(GUARANTEES.as_bytes());
    let mut inst = Instance::new(&module, &Linker::new(), Limits::default()).unwrap();
    match inst.run("deep", &[Val::I32(0)]) {
        Err(Error::Trap(t)) => assert_eq!(t.code, TrapCode::StackOverflow),
        other => panic!("{other:?}"),
    }
    inst.reset().unwrap();
    assert_eq!(
        inst.run("throw-many", &[Val::I32(10)]).unwrap(),
        vec![Val::I32(55)]
    );
}

#[test]
fn live_exceptions_are_bounded_within_a_call_and_freed_after_it() {
    let (_c, module) = lucet_tests::load(GUARANTEES.as_bytes());
    let mut inst = Instance::new(&module, &Linker::new(), Limits::default()).unwrap();
    let limit = lucet_module::exceptions::MAX_LIVE_EXCEPTIONS as i32;
    let sum = |n: i32| Val::I32(((n as i64 * (n as i64 + 1)) / 2) as i32);
    // Up to the limit in one call: fine, and twice in a row too: what a
    // call threw is freed when it is over.
    for _ in 0..2 {
        assert_eq!(
            inst.run("throw-many", &[Val::I32(limit)]).unwrap(),
            vec![sum(limit)]
        );
    }
    // One more in one call: a trap, not unbounded growth.
    match inst.run("throw-many", &[Val::I32(limit + 1)]) {
        Err(Error::Trap(t)) => assert_eq!(t.code, TrapCode::ExceptionLimit),
        other => panic!("{other:?}"),
    }
    inst.reset().unwrap();
    assert_eq!(
        inst.run("throw-many", &[Val::I32(3)]).unwrap(),
        vec![sum(3)]
    );
}

/// An exception a global keeps outlives the call that caught it; the
/// others are freed.
const KEPT: &str = r#"
(module
  (tag $t (param i32))
  (global $kept (mut exnref) (ref.null exn))
  (table $also 2 exnref)
  (func $throw (param i32) (throw $t (local.get 0)))
  (func (export "keep") (param i32) (local $e exnref)
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (call $throw (local.get 0)))
      (unreachable))
    (global.set $kept)
    ;; And one in the table, and one nobody keeps.
    (block $h2 (result exnref)
      (try_table (catch_all_ref $h2) (call $throw (i32.add (local.get 0) (i32.const 1))))
      (unreachable))
    (local.set $e)
    (table.set $also (i32.const 1) (local.get $e))
    (drop (block $h3 (result exnref)
      (try_table (catch_all_ref $h3) (call $throw (i32.const -1)))
      (unreachable))))
  ;; Throw and catch n exceptions: allocations that would reuse the
  ;; memory of freed records.
  (func (export "churn") (param i32)
    (loop $l
      (block $h
        (try_table (catch_all $h) (call $throw (i32.const 7)))
        (unreachable))
      (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))
      (br_if $l)))
  (func (export "rethrow-kept") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $t $h)
        (if (local.get 0)
          (then (throw_ref (table.get $also (i32.const 1))))
          (else (throw_ref (global.get $kept)))))
      (unreachable))))
"#;

#[test]
fn an_exception_kept_in_a_global_or_table_survives_its_call() {
    let (_c, module) = lucet_tests::load(KEPT.as_bytes());
    let mut inst = Instance::new(&module, &Linker::new(), Limits::default()).unwrap();
    inst.run("keep", &[Val::I32(40)]).unwrap();
    // Later calls: the kept ones are still there, with their payloads,
    // while others come and go.
    for _ in 0..3 {
        inst.run("churn", &[Val::I32(1000)]).unwrap();
        assert_eq!(
            inst.run("rethrow-kept", &[Val::I32(0)]).unwrap(),
            vec![Val::I32(40)]
        );
        assert_eq!(
            inst.run("rethrow-kept", &[Val::I32(1)]).unwrap(),
            vec![Val::I32(41)]
        );
    }
}
