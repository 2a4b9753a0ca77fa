//! The oracle's own correctness on patterns other interpreters got wrong,
//! so a version bump that reintroduces them fails here rather than
//! sending the campaign after phantom divergences.

use lucet_fuzz::oracle::Oracle;
use lucet_fuzz::outcome::{Outcome, Value};

fn call(wat: &str, name: &str, args: &[Value]) -> Outcome {
    let wasm = wat::parse_str(wat).unwrap();
    let (mut o, _) = Oracle::instantiate(&wasm)
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    o.call(name, args)
}

/// wasmi 2.0.0 miscompiles `select` whose condition is `i32.eqz` of its
/// own first operand (found by a campaign against lucet).
#[test]
fn select_on_eqz_of_its_own_operand() {
    let wat = r#"(module
      (func (export "i32") (param i32) (result i32)
        (select (local.get 0) (i32.const 7) (i32.eqz (local.get 0))))
      (func (export "i64") (param i64) (result i64)
        (select (local.get 0) (i64.const 7) (i32.eqz (i32.wrap_i64 (local.get 0)))))
      (func (export "tee") (param i32) (result i32)
        (select (local.tee 0 (i32.add (local.get 0) (i32.const 1))) (i32.const 7)
                (i32.eqz (local.get 0)))))"#;
    for x in [0u32, 1, 5, u32::MAX] {
        let want = if x == 0 { 0 } else { 7 };
        assert_eq!(
            call(wat, "i32", &[Value::I32(x)]),
            Outcome::Returned(vec![Value::I32(want)]),
            "i32 {x}"
        );
        let want = if x == 0 { 0 } else { 7 };
        assert_eq!(
            call(wat, "i64", &[Value::I64(x as u64)]),
            Outcome::Returned(vec![Value::I64(want)]),
            "i64 {x}"
        );
        let t = x.wrapping_add(1);
        let want = if t == 0 { 0 } else { 7 };
        assert_eq!(
            call(wat, "tee", &[Value::I32(x)]),
            Outcome::Returned(vec![Value::I32(want)]),
            "tee {x}"
        );
    }
}
