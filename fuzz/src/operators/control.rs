//! Control flow and calls: `br_table` (small, with values, and a large
//! jump table), `br_if`, loops and `if`s with block parameters, blocks
//! with several results, `return`, `unreachable`, calls with more
//! arguments and results than registers, recursion, and tail calls.

use super::{Family, Gen, Op, Ty};
use crate::rng::Rng;

fn control() -> Family {
    // One target per block, and the default past them all.
    let small = "(block (block (block (block (block \
        (br_table 0 1 2 3 4 (local.get 0))) \
        (return (i32.const 100))) (return (i32.const 101))) \
        (return (i32.const 102))) (return (i32.const 103))) \
        (i32.const 104)";
    // The value carried to each target is changed differently after it.
    let valued = "block (result i32) block (result i32) block (result i32) \
        local.get 1 local.get 0 br_table 0 1 2 2 \
        end i32.const 1 i32.add \
        end i32.const 2 i32.mul \
        end";
    let loop_params = "(local i32 i32) \
        local.get 0 i32.const 31 i32.and \
        local.get 1 \
        loop (param i32 i32) (result i32) \
          local.set 3 local.set 2 \
          local.get 2 i32.const 1 i32.sub \
          local.get 3 i32.const 5 i32.rotl local.get 2 i32.add \
          local.get 2 br_if 0 \
          i32.xor \
        end";
    let ops = vec![
        Op::new("br_table", &[Gen::Index { n: 5 }], &[Ty::I32], small),
        Op::new(
            "br_table with a value",
            &[Gen::Index { n: 3 }, Gen::I32],
            &[Ty::I32],
            valued,
        ),
        Op::new(
            "br_table of 64 targets",
            &[Gen::Index { n: 64 }],
            &[Ty::I32],
            &big_br_table(),
        ),
        Op::new(
            "br_if with a value",
            &[Gen::Cond, Gen::I32],
            &[Ty::I32],
            "block (result i32) local.get 1 local.get 0 br_if 0 i32.const 1 i32.add end",
        ),
        Op::new(
            "br_if out of a loop",
            &[Gen::I32],
            &[Ty::I32],
            "(local i32) block (result i32) loop \
               local.get 1 i32.const 1 i32.add local.set 1 \
               local.get 1 local.get 0 i32.const 15 i32.and i32.ge_u \
               if local.get 1 br 2 end \
               br 0 \
             end unreachable end",
        ),
        Op::new(
            "loop with block parameters",
            &[Gen::I32, Gen::I32],
            &[Ty::I32],
            loop_params,
        ),
        Op::new(
            "if with block parameters",
            &[Gen::Cond, Gen::I32],
            &[Ty::I32],
            "local.get 1 local.get 0 \
             if (param i32) (result i32) i32.const 3 i32.mul else i32.const 7 i32.add end",
        ),
        Op::new(
            "block with two results",
            &[Gen::I32, Gen::I64, Gen::Cond],
            &[Ty::I32, Ty::I64],
            "block (result i32 i64) local.get 0 local.get 1 local.get 2 br_if 0 \
             drop drop i32.const 7 i64.const 9 end",
        ),
        Op::new(
            "return from a nested block",
            &[Gen::Cond, Gen::I64],
            &[Ty::I64],
            "block block local.get 0 if local.get 1 return end end end i64.const -5",
        ),
        Op::new(
            "unreachable",
            &[Gen::Cond],
            &[Ty::I32],
            "local.get 0 if unreachable end i32.const 1",
        ),
        Op::new(
            "nop, drop, local.tee",
            &[Gen::I64, Gen::I64],
            &[Ty::I64],
            "(local i64) local.get 0 local.tee 2 drop nop local.get 1 local.get 2 i64.sub",
        ),
    ];
    Family::new("control", ops)
}

/// A `br_table` over 64 entries spread over 8 blocks in a fixed random
/// order: large enough for a jump table.
fn big_br_table() -> String {
    let mut rng = Rng::new(64);
    let targets: Vec<String> = (0..64).map(|_| rng.below(8).to_string()).collect();
    let mut s = "block ".repeat(8);
    s.push_str(&format!("local.get 0 br_table {} 7 ", targets.join(" ")));
    for k in 0..8 {
        s.push_str(&format!("end i32.const {} return ", 1000 + k));
    }
    s.push_str("i32.const -1");
    s
}

/// Helpers the call operators use.
const CALL_PRELUDE: &str = r#"
(type $tc (func (param i32 i32) (result i32)))
(func $many (param i32 i64 f32 f64 i32 i64 f32 f64 i32 i64 f32 f64 i32 i64 f32 f64 i32 i64 f32 f64) (result i64)
  local.get 0 i64.extend_i32_u
  local.get 1 i64.const 3 i64.mul i64.xor
  local.get 2 i32.reinterpret_f32 i64.extend_i32_u i64.const 5 i64.mul i64.add
  local.get 3 i64.reinterpret_f64 i64.const 7 i64.mul i64.xor
  local.get 4 i64.extend_i32_u i64.const 11 i64.mul i64.add
  local.get 5 i64.const 13 i64.mul i64.xor
  local.get 6 i32.reinterpret_f32 i64.extend_i32_u i64.add
  local.get 7 i64.reinterpret_f64 i64.xor
  local.get 8 i64.extend_i32_u i64.const 47 i64.rotl i64.add
  local.get 9 i64.const 53 i64.rotl i64.xor
  local.get 10 i32.reinterpret_f32 i64.extend_i32_u i64.add
  local.get 11 i64.reinterpret_f64 i64.const 59 i64.rotl i64.xor
  local.get 12 i64.extend_i32_u i64.const 17 i64.rotl i64.add
  local.get 13 i64.const 19 i64.rotl i64.xor
  local.get 14 i32.reinterpret_f32 i64.extend_i32_u i64.const 23 i64.rotl i64.add
  local.get 15 i64.reinterpret_f64 i64.const 29 i64.rotl i64.xor
  local.get 16 i64.extend_i32_u i64.const 31 i64.rotl i64.add
  local.get 17 i64.const 37 i64.rotl i64.xor
  local.get 18 i32.reinterpret_f32 i64.extend_i32_u i64.const 41 i64.rotl i64.add
  local.get 19 i64.reinterpret_f64 i64.const 43 i64.rotl i64.xor)
(func $results (param i32 i64 f64) (result i32 i64 f32 f64 i32 i64 f32 f64 i64 i64)
  local.get 0 local.get 1 local.get 0 f32.convert_i32_s local.get 2
  local.get 0 i32.const 1 i32.add local.get 1 i64.const 1 i64.add
  local.get 2 f32.demote_f64 local.get 2 f64.neg
  local.get 1 i64.const 3 i64.mul local.get 0 i64.extend_i32_s)
(func $fac (param i64) (result i64)
  local.get 0 i64.const 2 i64.lt_u
  if (result i64) i64.const 1
  else local.get 0 local.get 0 i64.const 1 i64.sub call $fac i64.mul end)
(func $count (type $tc)
  local.get 0 i32.eqz
  if (result i32) local.get 1
  else
    local.get 0 i32.const 1 i32.sub
    local.get 1 i32.const 3 i32.add
    return_call $count
  end)
(func $other (param i64) (result i64) local.get 0)
(func $double (type $tc) local.get 0 local.get 1 i32.add local.get 1 i32.mul)
(table $t 4 funcref)
(elem (table $t) (i32.const 0) func $count $double $other)
"#;

fn calls() -> Family {
    let ops = vec![
        Op::new(
            "call with 20 arguments",
            &[Gen::I32, Gen::I64, Gen::F32, Gen::F64],
            &[Ty::I64],
            "local.get 0 local.get 1 local.get 2 local.get 3 \
             local.get 0 i32.const 1 i32.add local.get 1 i64.const 2 i64.add local.get 2 local.get 3 \
             local.get 0 local.get 1 local.get 2 local.get 3 \
             local.get 0 i32.const -1 i32.xor local.get 1 i64.const 1 i64.rotl local.get 2 f32.neg local.get 3 f64.neg \
             local.get 0 i32.const 9 i32.mul local.get 1 local.get 2 local.get 3 \
             call $many",
        ),
        Op::new(
            "call with 10 results",
            &[Gen::I32, Gen::I64, Gen::F64],
            &[
                Ty::I32,
                Ty::I64,
                Ty::F32,
                Ty::F64,
                Ty::I32,
                Ty::I64,
                Ty::F32,
                Ty::F64,
                Ty::I64,
                Ty::I64,
            ],
            "local.get 0 local.get 1 local.get 2 call $results",
        ),
        Op::new(
            "recursive call",
            &[Gen::I32],
            &[Ty::I64],
            "local.get 0 i32.const 31 i32.and i64.extend_i32_u call $fac",
        ),
        // At times 100,000 calls deep: only real tail calls fit in the
        // runtime's default stack.
        Op::new(
            "return_call",
            &[Gen::Depth, Gen::I32],
            &[Ty::I32],
            "local.get 0 local.get 1 call $count",
        ),
        Op::new(
            "return_call_indirect",
            &[Gen::Index { n: 4 }, Gen::Depth, Gen::I32],
            &[Ty::I32],
            "local.get 1 local.get 2 local.get 0 \
             return_call_indirect $t (type $tc)",
        ),
    ];
    Family {
        prelude: CALL_PRELUDE.to_string(),
        ..Family::new("calls", ops)
    }
}

/// The control families.
pub fn families() -> Vec<Family> {
    vec![control(), calls()]
}
