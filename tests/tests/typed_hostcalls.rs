//! Typed hostcalls: closures over wasm types, checked against imports when
//! an instance is made.

use lucet_runtime::{Caller, Error, ExternRef, FuncRef, Instance, Limits, Linker, Val};

const USER: &str = r#"(module
  (import "env" "mix" (func $mix (param i32 i64 f32 f64) (result f64)))
  (import "env" "swap" (func $swap (param i32 i64) (result i64 i32)))
  (import "env" "v" (func $v (param v128) (result v128)))
  (import "env" "peek" (func $peek (param i32) (result i32)))
  (import "env" "fail" (func $fail (param i32) (result i32)))
  (import "env" "refs" (func $refs (param funcref externref) (result externref)))
  (import "env" "boom" (func $boom))
  (memory (export "mem") 1)
  (data (i32.const 16) "\2a\00\00\00")
  (func $f)
  (elem declare func $f)
  (func (export "mix") (result f64)
    (call $mix (i32.const -3) (i64.const 4000000000) (f32.const 0.5) (f64.const 0.25)))
  (func (export "swap") (result i32) (local i32)
    (call $swap (i32.const 7) (i64.const 9))
    (local.set 0)
    (i32.add (i32.wrap_i64) (local.get 0)))
  (func (export "v") (result v128) (call $v (v128.const i64x2 1 2)))
  (func (export "peek") (param i32) (result i32) (call $peek (local.get 0)))
  (func (export "fail") (result i32) (call $fail (i32.const 1)))
  (func (export "refs") (param externref) (result externref)
    (call $refs (ref.func $f) (local.get 0)))
  (func (export "boom") (call $boom)))"#;

fn linker() -> Linker {
    let mut l = Linker::new();
    l.func_wrap("env", "mix", |a: i32, b: i64, c: f32, d: f64| {
        a as f64 + b as f64 + c as f64 + d
    })
    .func_wrap("env", "swap", |a: i32, b: i64| (b, a))
    .func_wrap("env", "v", |x: u128| x.rotate_left(64))
    .func_wrap("env", "peek", |caller: &mut Caller<'_>, ptr: u32| {
        caller
            .read_u32(ptr)
            .ok_or(Error::Host(format!("pointer {ptr} out of bounds").into()))
    })
    .func_wrap("env", "fail", |_: i32| -> Result<i32, Error> {
        Err(Error::Host("refused".into()))
    })
    .func_wrap(
        "env",
        "refs",
        |f: Option<FuncRef>, e: Option<ExternRef>| -> Option<ExternRef> {
            assert!(f.is_some());
            e.map(|ExternRef(n)| ExternRef(n * 2))
        },
    )
    .func_wrap("env", "boom", || -> () { panic!("host bug") });
    l
}

#[test]
fn typed_hostcalls_convert_every_value_type_both_ways() {
    let (_c, m) = lucet_tests::load(USER.as_bytes());
    let mut inst = Instance::new(&m, &linker(), Limits::default()).unwrap();
    assert_eq!(
        inst.run("mix", &[]).unwrap(),
        vec![Val::F64((-3.0f64 + 4e9 + 0.5 + 0.25).to_bits())]
    );
    assert_eq!(inst.run("swap", &[]).unwrap(), vec![Val::I32(16)]);
    assert_eq!(
        inst.run("v", &[]).unwrap(),
        vec![Val::V128((2u128 << 64 | 1).rotate_left(64))]
    );
    assert_eq!(
        inst.run("peek", &[Val::I32(16)]).unwrap(),
        vec![Val::I32(42)]
    );
    // A wild guest pointer is the host's error, not a crash.
    match inst.run("peek", &[Val::I32(-2)]) {
        Err(Error::Host(e)) => assert!(e.to_string().contains("out of bounds")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(inst.run("fail", &[]), Err(Error::Host(_))));
    assert_eq!(
        inst.run("refs", &[Val::ExternRef(Some(21))]).unwrap(),
        vec![Val::ExternRef(Some(42))]
    );
    assert_eq!(
        inst.run("refs", &[Val::ExternRef(None)]).unwrap(),
        vec![Val::ExternRef(None)]
    );
    match inst.run("boom", &[]) {
        Err(Error::Host(e)) => assert!(e.to_string().contains("host bug")),
        other => panic!("{other:?}"),
    }
    // The instance survives all of that.
    assert_eq!(inst.run("swap", &[]).unwrap(), vec![Val::I32(16)]);
}

#[test]
fn a_typed_hostcall_of_the_wrong_type_is_refused_at_instantiation() {
    let (_c, m) =
        lucet_tests::load(br#"(module (import "env" "f" (func (param i32) (result i32))))"#);
    let mut l = Linker::new();
    l.func_wrap("env", "f", |x: i64| x);
    match Instance::new(&m, &l, Limits::default()) {
        Err(Error::ImportMismatch { field, reason, .. }) => {
            assert_eq!(field, "f");
            assert!(
                reason.contains("expected (func (param i32) (result i32))"),
                "{reason}"
            );
        }
        other => panic!("{:?}", other.err()),
    }
}
