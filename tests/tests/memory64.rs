//! memory64 through the real pipeline: 64-bit addresses are checked
//! against the memory, never truncated to 32 bits, and a memory can grow
//! past 4 GiB when the module is compiled for a larger reservation.

use lucet_runtime::{Error, Instance, Limits, Linker, Module, TrapCode, Val};
use lucet_tests::compile_with;

const GIB: u64 = 1 << 30;

fn instance(wat: &str, reserved: u64) -> (lucet_tests::Compiled, Instance) {
    let options = lucetc::Options {
        heap_reserved_size: reserved,
        ..lucetc::Options::default()
    };
    let c = compile_with(wat.as_bytes(), &options);
    // SAFETY: the object was just compiled by this test into its own directory.
    let m = unsafe { Module::load_unverified(&c.path) }.expect("load");
    let limits = Limits {
        heap_memory_size: reserved,
        heap_address_space_size: reserved + options.heap_guard_size,
        ..Limits::default()
    };
    let i = Instance::new(&m, &Linker::new(), limits).expect("instantiate");
    (c, i)
}

const ACCESS: &str = r#"(module
  (memory i64 1)
  (func (export "store") (param i64 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "load") (param i64) (result i64) (i64.load (local.get 0)))
  (func (export "load_at_4g") (param i64) (result i64)
    (i64.load offset=0x100000000 (local.get 0)))
  (func (export "size") (result i64) (memory.size))
  (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0))))"#;

fn trap_code(r: Result<Vec<Val>, Error>) -> TrapCode {
    match r {
        Err(Error::Trap(t)) => t.code,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn addresses_at_or_past_4_gib_trap_and_never_wrap() {
    let (_c, mut i) = instance(ACCESS, 4 * GIB);
    i.run("store", &[Val::I64(8), Val::I64(0x1122_3344)])
        .unwrap();
    assert_eq!(
        i.run("load", &[Val::I64(8)]).unwrap(),
        [Val::I64(0x1122_3344)]
    );
    // Truncated to 32 bits these would read address 8.
    for addr in [1u64 << 32 | 8, u64::MAX - 7, 1 << 63 | 8, 65536] {
        let r = i.run("load", &[Val::I64(addr as i64)]);
        assert_eq!(trap_code(r), TrapCode::HeapOutOfBounds, "load at {addr:#x}");
        let r = i.run("store", &[Val::I64(addr as i64), Val::I64(1)]);
        assert_eq!(
            trap_code(r),
            TrapCode::HeapOutOfBounds,
            "store at {addr:#x}"
        );
    }
    // A static offset of 4 GiB plus index 8 is not address 8 either.
    let r = i.run("load_at_4g", &[Val::I64(8)]);
    assert_eq!(trap_code(r), TrapCode::HeapOutOfBounds);
    assert_eq!(i.run("size", &[]).unwrap(), [Val::I64(1)]);
    // Growth past what the reservation holds fails with -1, as an i64.
    assert_eq!(i.run("grow", &[Val::I64(1 << 40)]).unwrap(), [Val::I64(-1)]);
    assert_eq!(i.run("grow", &[Val::I64(1)]).unwrap(), [Val::I64(1)]);
    assert_eq!(i.run("load", &[Val::I64(65536)]).unwrap(), [Val::I64(0)]);
}

#[test]
fn a_memory_grows_past_4_gib_and_uses_addresses_above_it() {
    // 8 GiB reserved; the memory grows from one page to 4 GiB + 64 KiB
    // and the last page is written and read at a 64-bit address. Only
    // the pages touched become resident.
    let wat = r#"(module
      (memory i64 1)
      (func (export "run") (result i64)
        (local $top i64)
        (if (i64.ne (memory.grow (i64.const 65536)) (i64.const 1))
          (then (return (i64.const -1))))
        (local.set $top (i64.sub (i64.mul (memory.size) (i64.const 65536)) (i64.const 8)))
        (i64.store (local.get $top) (i64.const 0x5a5a))
        (i64.store (i64.const 0) (i64.const 7))
        ;; What is at top, plus what is at top mod 2^32 (untouched: 0).
        (i64.add
          (i64.load (local.get $top))
          (i64.load (i64.and (local.get $top) (i64.const 0xffffffff))))))"#;
    let (_c, mut i) = instance(wat, 8 * GIB);
    assert_eq!(i.run("run", &[]).unwrap(), [Val::I64(0x5a5a)]);
}

const TABLE64: &str = r#"(module
  (type $t (func (result i32)))
  (table $tab i64 2 10 funcref)
  (func $seven (type $t) (i32.const 7))
  (func $nine (type $t) (i32.const 9))
  (elem (table $tab) (i64.const 0) func $seven $nine)
  (func (export "call") (param i64) (result i32)
    (call_indirect $tab (type $t) (local.get 0)))
  (func (export "is_null") (param i64) (result i32)
    (ref.is_null (table.get $tab (local.get 0))))
  (func (export "set_null") (param i64) (table.set $tab (local.get 0) (ref.null func)))
  (func (export "size") (result i64) (table.size $tab))
  (func (export "grow") (param i64) (result i64)
    (table.grow $tab (ref.null func) (local.get 0)))
  (func (export "fill") (param i64 i64) (table.fill $tab (local.get 0) (ref.func $nine) (local.get 1)))
  (func (export "copy") (param i64 i64 i64)
    (table.copy $tab $tab (local.get 0) (local.get 1) (local.get 2))))"#;

#[test]
fn table64_indices_are_checked_at_64_bits() {
    let (_c, mut i) = instance(TABLE64, 4 * GIB);
    assert_eq!(i.run("call", &[Val::I64(0)]).unwrap(), [Val::I32(7)]);
    assert_eq!(i.run("call", &[Val::I64(1)]).unwrap(), [Val::I32(9)]);
    // Truncated to 32 bits these would be entries 0 and 1.
    for index in [1u64 << 32, 1 << 32 | 1, u64::MAX] {
        let r = i.run("call", &[Val::I64(index as i64)]);
        assert_eq!(trap_code(r), TrapCode::TableOutOfBounds, "{index:#x}");
        let r = i.run("is_null", &[Val::I64(index as i64)]);
        assert_eq!(trap_code(r), TrapCode::TableOutOfBounds, "{index:#x}");
        let r = i.run("fill", &[Val::I64(index as i64), Val::I64(1)]);
        assert_eq!(trap_code(r), TrapCode::TableOutOfBounds, "{index:#x}");
        let r = i.run("copy", &[Val::I64(0), Val::I64(index as i64), Val::I64(1)]);
        assert_eq!(trap_code(r), TrapCode::TableOutOfBounds, "{index:#x}");
    }
    // A length past u32 is out of bounds too, not a small one.
    let r = i.run("fill", &[Val::I64(0), Val::I64(1 << 32 | 1)]);
    assert_eq!(trap_code(r), TrapCode::TableOutOfBounds);
    assert_eq!(i.run("size", &[]).unwrap(), [Val::I64(2)]);
    assert_eq!(i.run("grow", &[Val::I64(1 << 32)]).unwrap(), [Val::I64(-1)]);
    assert_eq!(i.run("grow", &[Val::I64(3)]).unwrap(), [Val::I64(2)]);
    assert_eq!(i.run("size", &[]).unwrap(), [Val::I64(5)]);
    assert_eq!(i.run("is_null", &[Val::I64(4)]).unwrap(), [Val::I32(1)]);
    i.run("fill", &[Val::I64(2), Val::I64(3)]).unwrap();
    assert_eq!(i.run("call", &[Val::I64(4)]).unwrap(), [Val::I32(9)]);
    i.run("set_null", &[Val::I64(4)]).unwrap();
    let r = i.run("call", &[Val::I64(4)]);
    assert_eq!(trap_code(r), TrapCode::IndirectCallToNull);
}
