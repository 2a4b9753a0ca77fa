//! Globals and tables.
//!
//! Globals: `global.get` and `global.set` of every type, mutable (each
//! set returns the value the previous call left, so it reads the global's
//! storage, not a forwarded value) and immutable, one initialised by an
//! extended constant expression. The mutable numeric ones are exported
//! and compared after every call.
//!
//! Tables: a funcref table of functions returning their ids, summed by a
//! digest after each mutation (`table.get/set/size/grow/fill/copy/init`,
//! `elem.drop`); `call_indirect` into a table of mixed signatures, hitting
//! matches, signature mismatches, null entries and indices out of bounds;
//! an externref table; typed `select` of references and `ref.func`.

use super::{Family, Gen, Op, Ty};

const GLOBALS: &str = r#"
(global $i32 (export "gi32") (mut i32) (i32.const -7))
(global $i64 (export "gi64") (mut i64) (i64.const 0x123456789))
(global $f32 (export "gf32") (mut f32) (f32.const -nan:0x1234))
(global $f64 (export "gf64") (mut f64) (f64.const 0.1))
(global $v128 (mut v128) (v128.const i64x2 1 2))
(global $ref (mut funcref) (ref.null func))
(global $ki32 i32 (i32.const 42))
(global $ki64 i64 (i64.const -42))
(global $kf32 f32 (f32.const nan:0x7))
(global $kf64 f64 (f64.const -inf))
(global $kv128 v128 (v128.const i32x4 1 2 3 4))
(global $extended i32 (i32.sub (i32.const 42) (i32.mul (i32.const 100) (i32.const 0x7fffffff))))
(func $target)
(elem declare func $target)
"#;

fn globals() -> Family {
    let mut ops = Vec::new();
    for (t, g, bits) in [
        ("i32", Gen::I32, ""),
        ("i64", Gen::I64, ""),
        ("f32", Gen::F32, "i32.reinterpret_f32"),
        ("f64", Gen::F64, "i64.reinterpret_f64"),
        ("v128", Gen::V128(super::Lane::I16), ""),
    ] {
        let result = match t {
            "f32" => Ty::I32,
            "f64" => Ty::I64,
            _ => g.ty(),
        };
        ops.push(Op::new(
            format!("global.set {t}"),
            &[g],
            &[result],
            &format!("global.get ${t} {bits} local.get 0 global.set ${t}"),
        ));
        ops.push(Op::new(
            format!("global.get {t}"),
            &[],
            &[result],
            &format!("global.get ${t} {bits}"),
        ));
        ops.push(Op::new(
            format!("global.get {t} (immutable)"),
            &[],
            &[result],
            &format!("global.get $k{t} {bits}"),
        ));
    }
    ops.push(Op::new(
        "global.get (extended constant)",
        &[],
        &[Ty::I32],
        "global.get $extended",
    ));
    ops.push(Op::new(
        "global.set funcref",
        &[Gen::Cond],
        &[Ty::I32],
        "global.get $ref ref.is_null \
         ref.func $target ref.null func local.get 0 select (result funcref) global.set $ref",
    ));
    Family {
        prelude: GLOBALS.to_string(),
        ..Family::new("globals", ops)
    }
}

const TABLES: &str = r#"
(type $v (func (result i32)))
(type $ii (func (param i32) (result i32)))
(type $ll (func (param i64) (result i64)))
(func $f0 (type $v) i32.const 100)
(func $f1 (type $v) i32.const 101)
(func $f2 (type $v) i32.const 102)
(func $f3 (type $v) i32.const 103)
(func $inc (type $ii) local.get 0 i32.const 1 i32.add)
(func $neg (type $ll) i64.const 0 local.get 0 i64.sub)
(table $t 6 12 funcref)
(table $m 8 funcref)
(table $e 4 8 externref)
(elem (table $t) (i32.const 1) func $f0 $f1 $f2)
(elem (table $m) (i32.const 0) func $f0 $inc $neg $f3 $inc)
(elem $pass func $f3 $f2 $f1 $f0)
(elem $dropped func $f1 $f1)
;; Reference number k (0-3: $f0-$f3), null for any other k.
(func $ref (param i32) (result funcref)
  block block block block block
  local.get 0 br_table 0 1 2 3 4
  end ref.func $f0 return
  end ref.func $f1 return
  end ref.func $f2 return
  end ref.func $f3 return
  end ref.null func)
;; Table $t: each entry's id (7 for null), and its size.
(func $digest (result i64) (local $i i32) (local $h i64)
  block loop
    local.get $i table.size $t i32.ge_u br_if 1
    local.get $h i64.const 31 i64.mul
    local.get $i table.get $t ref.is_null
    if (result i64) i64.const 7
    else local.get $i call_indirect $t (type $v) i64.extend_i32_u end
    i64.add local.set $h
    local.get $i i32.const 1 i32.add local.set $i
    br 0
  end end
  local.get $h table.size $t i64.extend_i32_u i64.const 1000000 i64.mul i64.add)
"#;

fn tables() -> Family {
    let slot = Gen::Index { n: 12 };
    let which = Gen::Index { n: 5 };
    let count = Gen::Len { size: 12 };
    let digest = [Ty::I64];
    let ops = vec![
        // Calls first, while $m holds what its segment put there.
        Op::new(
            "call_indirect (result i32)",
            &[Gen::Index { n: 8 }],
            &[Ty::I32],
            "local.get 0 call_indirect $m (type $v)",
        ),
        Op::new(
            "call_indirect (param i32) (result i32)",
            &[Gen::Index { n: 8 }, Gen::I32],
            &[Ty::I32],
            "local.get 1 local.get 0 call_indirect $m (type $ii)",
        ),
        Op::new(
            "call_indirect (param i64) (result i64)",
            &[Gen::Index { n: 8 }, Gen::I64],
            &[Ty::I64],
            "local.get 1 local.get 0 call_indirect $m (type $ll)",
        ),
        Op::new(
            "table.get funcref",
            &[slot],
            &[Ty::FuncRef],
            "local.get 0 table.get $t",
        ),
        Op::new(
            "table.get, table.set, call_indirect",
            &[slot],
            &[Ty::I32],
            "i32.const 0 local.get 0 table.get $t table.set $t \
             i32.const 0 call_indirect $t (type $v)",
        ),
        Op::new(
            "table.set",
            &[slot, which],
            &digest,
            "local.get 0 local.get 1 call $ref table.set $t call $digest",
        ),
        Op::new("table.size", &[], &[Ty::I32], "table.size $t"),
        Op::new(
            "table.grow",
            &[which, Gen::Grow],
            &[Ty::I32, Ty::I64],
            "local.get 0 call $ref local.get 1 table.grow $t call $digest",
        ),
        Op::new(
            "table.fill",
            &[slot, which, count],
            &digest,
            "local.get 0 local.get 1 call $ref local.get 2 table.fill $t call $digest",
        ),
        Op::new(
            "table.copy",
            &[slot, slot, count],
            &digest,
            "local.get 0 local.get 1 local.get 2 table.copy $t $t call $digest",
        ),
        Op::new(
            "table.init",
            &[slot, Gen::Index { n: 4 }, Gen::Len { size: 4 }],
            &digest,
            "local.get 0 local.get 1 local.get 2 table.init $t $pass call $digest",
        ),
        Op::new(
            "elem.drop then table.init",
            &[slot, Gen::Index { n: 2 }, Gen::Len { size: 2 }],
            &digest,
            "elem.drop $dropped local.get 0 local.get 1 local.get 2 \
             table.init $t $dropped call $digest",
        ),
        // Between tables: then call what arrived.
        Op::new(
            "table.copy between tables",
            &[Gen::Index { n: 8 }, slot, Gen::Len { size: 8 }],
            &[Ty::I32],
            "local.get 0 local.get 1 local.get 2 table.copy $m $t \
             local.get 0 call_indirect $m (type $v)",
        ),
        Op::new(
            "select (result funcref), ref.func",
            &[Gen::Cond],
            &[Ty::I32],
            "i32.const 0 ref.func $f1 ref.func $f2 local.get 0 select (result funcref) \
             table.set $t i32.const 0 call_indirect $t (type $v)",
        ),
        Op::new(
            "ref.is_null",
            &[which],
            &[Ty::I32],
            "local.get 0 call $ref ref.is_null",
        ),
        Op::new(
            "table.get externref",
            &[Gen::Index { n: 8 }],
            &[Ty::ExternRef],
            "local.get 0 table.get $e",
        ),
        Op::new(
            "table.set externref",
            &[Gen::Index { n: 8 }],
            &[Ty::I32],
            "local.get 0 ref.null extern table.set $e table.size $e",
        ),
        Op::new(
            "table.grow externref",
            &[Gen::Grow],
            &[Ty::I32],
            "ref.null extern local.get 0 table.grow $e",
        ),
        Op::new(
            "table.fill externref",
            &[Gen::Index { n: 8 }, Gen::Len { size: 8 }],
            &[Ty::I32],
            "local.get 0 ref.null extern local.get 1 table.fill $e table.size $e",
        ),
    ];
    Family {
        prelude: TABLES.to_string(),
        ..Family::new("tables", ops)
    }
}

/// The global and table families.
pub fn families() -> Vec<Family> {
    vec![globals(), tables()]
}
