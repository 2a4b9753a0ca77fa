//! Several memories in one instance (multi-memory): each its own, grown,
//! copied between, reset to its initial contents, and isolated from other
//! instances; host functions see the memory exported as `memory`.

use lucet_runtime::{Caller, FuncType, Instance, Limits, Linker, Val, ValType};

const TWO: &str = r#"
(module
  (func $host (import "env" "first_byte") (result i32))
  (memory $a 1 4)
  (memory $b (export "memory") 2 8)
  (data (memory $a) (i32.const 16) "in a")
  (data (memory $b) (i32.const 16) "in b")
  (func (export "load") (param i32 i32) (result i32)
    (if (result i32) (local.get 0)
      (then (i32.load8_u $b (local.get 1)))
      (else (i32.load8_u $a (local.get 1)))))
  (func (export "store") (param i32 i32 i32)
    (if (local.get 0)
      (then (i32.store8 $b (local.get 1) (local.get 2)))
      (else (i32.store8 $a (local.get 1) (local.get 2)))))
  (func (export "sizes") (result i32 i32) (memory.size $a) (memory.size $b))
  (func (export "grow-b") (param i32) (result i32) (memory.grow $b (local.get 0)))
  ;; Copy n bytes from b to a, and fill part of b.
  (func (export "copy-b-to-a") (param i32 i32 i32)
    (memory.copy $a $b (local.get 0) (local.get 1) (local.get 2)))
  (func (export "host-sees") (result i32) (call $host)))
"#;

fn linker() -> Linker {
    let mut l = Linker::new();
    l.func(
        "env",
        "first_byte",
        FuncType::new([], [ValType::I32]),
        |caller: &mut Caller<'_>, _: &[Val], results: &mut [Val]| {
            results[0] = Val::I32(i32::from(caller.memory()[16]));
            Ok(())
        },
    );
    l
}

fn load(i: &mut Instance, mem: i32, at: i32) -> i32 {
    i.run("load", &[Val::I32(mem), Val::I32(at)]).unwrap()[0]
        .as_i32()
        .unwrap()
}

#[test]
fn each_memory_is_its_own_and_reset_restores_both() {
    let (_c, module) = lucet_tests::load(TWO.as_bytes());
    let mut i = Instance::new(&module, &linker(), Limits::default()).unwrap();
    assert_eq!(load(&mut i, 0, 16), i32::from(b'i'));
    assert_eq!(load(&mut i, 1, 19), i32::from(b'b'));
    assert_eq!(i.run("sizes", &[]).unwrap(), vec![Val::I32(1), Val::I32(2)]);
    // Writes stay in their memory.
    i.run("store", &[Val::I32(1), Val::I32(100), Val::I32(7)])
        .unwrap();
    assert_eq!(load(&mut i, 0, 100), 0);
    assert_eq!(load(&mut i, 1, 100), 7);
    // The second memory grows on its own, and past its maximum fails.
    assert_eq!(i.run("grow-b", &[Val::I32(3)]).unwrap(), vec![Val::I32(2)]);
    assert_eq!(i.run("sizes", &[]).unwrap(), vec![Val::I32(1), Val::I32(5)]);
    assert_eq!(i.run("grow-b", &[Val::I32(4)]).unwrap(), vec![Val::I32(-1)]);
    i.run(
        "store",
        &[Val::I32(1), Val::I32(5 * 65536 - 1), Val::I32(9)],
    )
    .unwrap();
    assert!(i
        .run("store", &[Val::I32(1), Val::I32(5 * 65536), Val::I32(9)])
        .is_err());
    // memory.copy between the two.
    i.run("copy-b-to-a", &[Val::I32(200), Val::I32(16), Val::I32(4)])
        .unwrap();
    assert_eq!(load(&mut i, 0, 203), i32::from(b'b'));
    // Host functions see the memory exported as `memory`.
    assert_eq!(
        i.run("host-sees", &[]).unwrap(),
        vec![Val::I32(i32::from(b'i'))]
    );
    i.run("store", &[Val::I32(1), Val::I32(16), Val::I32(42)])
        .unwrap();
    assert_eq!(i.run("host-sees", &[]).unwrap(), vec![Val::I32(42)]);
    // Reset: both memories back to their initial size and contents.
    i.reset().unwrap();
    assert_eq!(i.run("sizes", &[]).unwrap(), vec![Val::I32(1), Val::I32(2)]);
    assert_eq!(load(&mut i, 1, 100), 0);
    assert_eq!(load(&mut i, 0, 203), 0);
    assert_eq!(load(&mut i, 1, 16), i32::from(b'i'));
}

#[test]
fn instances_do_not_share_their_second_memory() {
    let (_c, module) = lucet_tests::load(TWO.as_bytes());
    let mut a = Instance::new(&module, &linker(), Limits::default()).unwrap();
    let mut b = Instance::new(&module, &linker(), Limits::default()).unwrap();
    a.run("store", &[Val::I32(1), Val::I32(300), Val::I32(5)])
        .unwrap();
    assert_eq!(load(&mut a, 1, 300), 5);
    assert_eq!(load(&mut b, 1, 300), 0);
    drop(a);
    let mut c = Instance::new(&module, &linker(), Limits::default()).unwrap();
    assert_eq!(load(&mut c, 1, 300), 0);
}

#[test]
fn the_heap_limit_bounds_every_memory() {
    let (_c, module) = lucet_tests::load(TWO.as_bytes());
    let limits = Limits {
        heap_memory_size: 3 * 65536,
        ..Limits::default()
    };
    let mut i = Instance::new(&module, &linker(), limits).unwrap();
    assert_eq!(i.run("grow-b", &[Val::I32(1)]).unwrap(), vec![Val::I32(2)]);
    assert_eq!(i.run("grow-b", &[Val::I32(1)]).unwrap(), vec![Val::I32(-1)]);
}
