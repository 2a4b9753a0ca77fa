//! Scalar numeric families: integer and float arithmetic, bitwise
//! operators, shifts, rotates, counts, comparisons (alone, and fused
//! into a branch or a `select`, which lowers differently), conversions,
//! `select` and constants. Integer binary operators are also tried with
//! a constant operand: division by a constant becomes a multiplication,
//! a constant shift an immediate, and those are lowerings of their own.

use super::{Family, Gen, Op, Ty};

const INT_BINARY: [&str; 15] = [
    "add", "sub", "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor", "shl", "shr_s",
    "shr_u", "rotl", "rotr",
];
const INT_COMPARE: [&str; 10] = [
    "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u",
];
const FLOAT_COMPARE: [&str; 6] = ["eq", "ne", "lt", "gt", "le", "ge"];

/// The integer type's name, value generator and shift generator.
fn int_ty(wide: bool) -> (&'static str, Gen, Gen, Ty) {
    if wide {
        ("i64", Gen::I64, Gen::Shift64, Ty::I64)
    } else {
        ("i32", Gen::I32, Gen::Shift32, Ty::I32)
    }
}

fn is_shift(op: &str) -> bool {
    op.starts_with("sh") || op.starts_with("rot")
}

fn int_families(wide: bool) -> Vec<Family> {
    let (t, g, sh, ty) = int_ty(wide);
    let binary = |ops: &[&str]| -> Vec<Op> {
        ops.iter()
            .map(|op| {
                let rhs = if is_shift(op) { sh } else { g };
                Op::apply(&format!("{t}.{op}"), &[g, rhs], ty)
            })
            .collect()
    };
    let mut compare: Vec<Op> = vec![Op::apply(&format!("{t}.eqz"), &[g], Ty::I32)];
    compare.extend(
        INT_COMPARE
            .iter()
            .map(|op| Op::apply(&format!("{t}.{op}"), &[g, g], Ty::I32)),
    );
    vec![
        Family::new(format!("{t} arithmetic"), binary(&INT_BINARY[..7])),
        Family::new(format!("{t} bitwise"), binary(&INT_BINARY[7..10])),
        Family::new(format!("{t} shift and rotate"), binary(&INT_BINARY[10..])),
        Family::new(
            format!("{t} count"),
            ["clz", "ctz", "popcnt"]
                .iter()
                .map(|op| Op::apply(&format!("{t}.{op}"), &[g], ty))
                .collect(),
        ),
        Family::new(format!("{t} comparison"), compare),
        Family::new(format!("{t} constant operand"), constant_operand(wide)),
        fused(t, &INT_COMPARE, g),
    ]
}

/// Binary operators with one operand a constant: the right one for all,
/// the left one where order matters.
fn constant_operand(wide: bool) -> Vec<Op> {
    let (t, g, sh, ty) = int_ty(wide);
    let (min, max) = if wide {
        (i64::MIN, i64::MAX)
    } else {
        (i32::MIN as i64, i32::MAX as i64)
    };
    let width = if wide { 64 } else { 32 };
    let mut ops = Vec::new();
    for op in INT_BINARY.iter().chain(INT_COMPARE.iter()) {
        let result = if INT_COMPARE.contains(op) {
            Ty::I32
        } else {
            ty
        };
        let rhs: Vec<i64> = match *op {
            "div_s" | "div_u" | "rem_s" | "rem_u" => vec![0, 1, -1, 2, 3, 7, 10, 16, min, max],
            _ if is_shift(op) => vec![0, 1, width - 1, width, width + 1, -1],
            _ => vec![0, 1, -1, min, 0x1234_5678],
        };
        for c in rhs {
            ops.push(Op::new(
                format!("{t}.{op} x, {c}"),
                &[g],
                &[result],
                &format!("local.get 0 {t}.const {c} {t}.{op}"),
            ));
        }
        let ordered = matches!(*op, "sub" | "div_s" | "div_u" | "rem_s" | "rem_u")
            || is_shift(op)
            || op.starts_with("lt")
            || op.starts_with("le");
        if ordered {
            for c in [0, -1, min, 7] {
                let x = if is_shift(op) { sh } else { g };
                ops.push(Op::new(
                    format!("{t}.{op} {c}, x"),
                    &[x],
                    &[result],
                    &format!("{t}.const {c} local.get 0 {t}.{op}"),
                ));
            }
        }
    }
    ops
}

/// Comparisons whose result feeds an `if` and a `select` directly: the
/// compare and the branch fuse into flags, where float comparisons with
/// NaN operands (unordered) are easy to get wrong.
fn fused(t: &str, compares: &[&str], g: Gen) -> Family {
    let mut ops = Vec::new();
    for op in compares {
        ops.push(Op::new(
            format!("{t}.{op} in if"),
            &[g, g],
            &[Ty::I32],
            &format!(
                "(if (result i32) ({t}.{op} (local.get 0) (local.get 1)) \
                 (then (i32.const 10)) (else (i32.const 20)))"
            ),
        ));
        ops.push(Op::new(
            format!("{t}.{op} in select"),
            &[g, g],
            &[Ty::I64],
            &format!(
                "(select (i64.const 10) (i64.const 20) ({t}.{op} (local.get 0) (local.get 1)))"
            ),
        ));
        ops.push(Op::new(
            format!("{t}.{op} in br_if"),
            &[g, g],
            &[Ty::I32],
            &format!(
                "(block (result i32) (br_if 0 (i32.const 10) ({t}.{op} (local.get 0) (local.get 1))) \
                 (drop) (i32.const 20))"
            ),
        ));
    }
    Family::new(format!("{t} comparison in branch and select"), ops)
}

fn float_families(wide: bool) -> Vec<Family> {
    let (t, it, g, ty, ity) = if wide {
        ("f64", "i64", Gen::F64, Ty::F64, Ty::I64)
    } else {
        ("f32", "i32", Gen::F32, Ty::F32, Ty::I32)
    };
    let mut arith: Vec<Op> = ["add", "sub", "mul", "div", "min", "max"]
        .iter()
        .map(|op| Op::apply(&format!("{t}.{op}"), &[g, g], ty))
        .collect();
    arith.extend(
        ["sqrt", "ceil", "floor", "trunc", "nearest"]
            .iter()
            .map(|op| Op::apply(&format!("{t}.{op}"), &[g], ty)),
    );
    // Their results' NaN bits are defined: compared as integers.
    let exact = |name: &str, params: &[Gen], body: &str| {
        Op::new(
            name,
            params,
            &[ity],
            &format!("{body} {it}.reinterpret_{t}"),
        )
    };
    let sign = vec![
        exact(&format!("{t}.abs"), &[g], &format!("local.get 0 {t}.abs")),
        exact(&format!("{t}.neg"), &[g], &format!("local.get 0 {t}.neg")),
        exact(
            &format!("{t}.copysign"),
            &[g, g],
            &format!("local.get 0 local.get 1 {t}.copysign"),
        ),
    ];
    let compare = FLOAT_COMPARE
        .iter()
        .map(|op| Op::apply(&format!("{t}.{op}"), &[g, g], Ty::I32))
        .collect();
    let mut constant = Vec::new();
    for op in ["add", "mul", "div", "min", "max", "copysign"] {
        for c in ["0", "-0", "1", "-1", "inf", "nan:0x200000"] {
            let body = format!("local.get 0 {t}.const {c} {t}.{op}");
            constant.push(if op == "copysign" {
                exact(&format!("{t}.{op} x, {c}"), &[g], &body)
            } else {
                Op::new(format!("{t}.{op} x, {c}"), &[g], &[ty], &body)
            });
        }
    }
    vec![
        Family::new(format!("{t} arithmetic"), arith),
        Family::new(format!("{t} sign"), sign),
        Family::new(format!("{t} comparison"), compare),
        Family::new(format!("{t} constant operand"), constant),
        fused(t, &FLOAT_COMPARE, g),
    ]
}

fn conversions() -> Vec<Family> {
    let un = |name: &str, g: Gen, r: Ty| Op::apply(name, &[g], r);
    let mut trunc = Vec::new();
    let mut sat = Vec::new();
    let mut convert = Vec::new();
    for (it, ity, ig) in [("i32", Ty::I32, Gen::I32), ("i64", Ty::I64, Gen::I64)] {
        for (ft, fty, fg) in [
            ("f32", Ty::F32, Gen::F32Conv),
            ("f64", Ty::F64, Gen::F64Conv),
        ] {
            for s in ["s", "u"] {
                trunc.push(un(&format!("{it}.trunc_{ft}_{s}"), fg, ity));
                sat.push(un(&format!("{it}.trunc_sat_{ft}_{s}"), fg, ity));
                convert.push(un(&format!("{ft}.convert_{it}_{s}"), ig, fty));
            }
        }
    }
    vec![
        Family::new(
            "integer width conversion",
            vec![
                un("i32.wrap_i64", Gen::I64, Ty::I32),
                un("i64.extend_i32_s", Gen::I32, Ty::I64),
                un("i64.extend_i32_u", Gen::I32, Ty::I64),
            ],
        ),
        Family::new(
            "sign extension",
            vec![
                un("i32.extend8_s", Gen::I32, Ty::I32),
                un("i32.extend16_s", Gen::I32, Ty::I32),
                un("i64.extend8_s", Gen::I64, Ty::I64),
                un("i64.extend16_s", Gen::I64, Ty::I64),
                un("i64.extend32_s", Gen::I64, Ty::I64),
            ],
        ),
        Family::new("trapping float-to-int truncation", trunc),
        Family::new("saturating float-to-int truncation", sat),
        Family::new("int-to-float conversion", convert),
        Family::new(
            "float precision conversion",
            vec![
                un("f32.demote_f64", Gen::F64, Ty::F32),
                un("f64.promote_f32", Gen::F32, Ty::F64),
            ],
        ),
        Family::new(
            "reinterpretation",
            vec![
                un("i32.reinterpret_f32", Gen::F32, Ty::I32),
                un("i64.reinterpret_f64", Gen::F64, Ty::I64),
                // A float result is compared NaN-insensitively; the bits
                // of a reinterpreted NaN are checked by the float stores.
                un("f32.reinterpret_i32", Gen::I32, Ty::F32),
                un("f64.reinterpret_i64", Gen::I64, Ty::F64),
            ],
        ),
    ]
}

fn select() -> Family {
    let mut ops = Vec::new();
    for (t, g, bits) in [
        ("i32", Gen::I32, None),
        ("i64", Gen::I64, None),
        ("f32", Gen::F32, Some("i32.reinterpret_f32")),
        ("f64", Gen::F64, Some("i64.reinterpret_f64")),
        ("v128", Gen::V128(super::Lane::I32), None),
    ] {
        let ty = g.ty();
        let rty = match (bits, ty) {
            (Some(_), Ty::F32) => Ty::I32,
            (Some(_), _) => Ty::I64,
            _ => ty,
        };
        let tail = bits.unwrap_or("");
        ops.push(Op::new(
            format!("select {t}"),
            &[g, g, Gen::Cond],
            &[rty],
            &format!("local.get 0 local.get 1 local.get 2 select {tail}"),
        ));
        ops.push(Op::new(
            format!("select (result {t})"),
            &[g, g, Gen::Cond],
            &[rty],
            &format!("local.get 0 local.get 1 local.get 2 select (result {t}) {tail}"),
        ));
    }
    Family::new("select", ops)
}

fn constants() -> Family {
    let c = |name: &str, r: Ty, body: &str| Op::new(name, &[], &[r], body);
    Family::new(
        "constants",
        vec![
            c("i32.const -1", Ty::I32, "i32.const -1"),
            c("i32.const 0x80000000", Ty::I32, "i32.const 0x80000000"),
            c("i64.const MIN", Ty::I64, "i64.const 0x8000000000000000"),
            c(
                "i64.const 0x123456789abcdef0",
                Ty::I64,
                "i64.const 0x123456789abcdef0",
            ),
            c(
                "f32.const -nan:0x1",
                Ty::I32,
                "f32.const -nan:0x1 i32.reinterpret_f32",
            ),
            c("f32.const -0", Ty::I32, "f32.const -0 i32.reinterpret_f32"),
            c(
                "f64.const nan:0x4000000000001",
                Ty::I64,
                "f64.const nan:0x4000000000001 i64.reinterpret_f64",
            ),
            c("f64.const 0x1p-1074", Ty::F64, "f64.const 0x1p-1074"),
        ],
    )
}

/// The scalar families.
pub fn families() -> Vec<Family> {
    let mut f = int_families(false);
    f.extend(int_families(true));
    f.extend(float_families(false));
    f.extend(float_families(true));
    f.extend(conversions());
    f.push(select());
    f.push(constants());
    f
}
