//! SIMD families (every `v128` operator but the memory ones, which are
//! in `simd_memory`): bitwise, per-shape lane arithmetic,
//! comparisons, shifts (by a variable and by constants), lane moves
//! (splat, extract and replace at every lane), shuffles and swizzle,
//! narrowing, widening, conversions, and relaxed SIMD.
//!
//! `v128` values cross the host boundary whole (the runtime's `Val` has
//! `V128`), so operators take and return them directly.

use super::{Cmp, Family, Gen, Lane, Op, Ty};
use crate::rng::Rng;

/// A lane shape.
#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    lane: Lane,
    lanes: u32,
    /// The scalar type a lane is extracted as, and its generator.
    scalar: Gen,
}

const I8X16: Shape = Shape {
    name: "i8x16",
    lane: Lane::I8,
    lanes: 16,
    scalar: Gen::I32,
};
const I16X8: Shape = Shape {
    name: "i16x8",
    lane: Lane::I16,
    lanes: 8,
    scalar: Gen::I32,
};
const I32X4: Shape = Shape {
    name: "i32x4",
    lane: Lane::I32,
    lanes: 4,
    scalar: Gen::I32,
};
const I64X2: Shape = Shape {
    name: "i64x2",
    lane: Lane::I64,
    lanes: 2,
    scalar: Gen::I64,
};
const F32X4: Shape = Shape {
    name: "f32x4",
    lane: Lane::F32,
    lanes: 4,
    scalar: Gen::F32,
};
const F64X2: Shape = Shape {
    name: "f64x2",
    lane: Lane::F64,
    lanes: 2,
    scalar: Gen::F64,
};

fn v(lane: Lane) -> Gen {
    Gen::V128(lane)
}

/// `shape.op` on `arity` vectors of the shape, giving a vector.
fn lanewise(s: Shape, ops: &[&str], arity: usize, cmp: Cmp) -> Vec<Op> {
    ops.iter()
        .map(|op| {
            Op::apply(
                &format!("{}.{op}", s.name),
                &vec![v(s.lane); arity],
                Ty::V128,
            )
            .cmp(cmp)
        })
        .collect()
}

fn bitwise() -> Family {
    let g = v(Lane::I8);
    let mut ops = vec![Op::apply("v128.not", &[g], Ty::V128)];
    for op in ["and", "andnot", "or", "xor"] {
        ops.push(Op::apply(&format!("v128.{op}"), &[g, g], Ty::V128));
    }
    ops.push(Op::apply("v128.bitselect", &[g, g, g], Ty::V128));
    ops.push(Op::apply("v128.any_true", &[g], Ty::I32));
    let c = |name: &str, text: &str| Op::new(name, &[], &[Ty::V128], &format!("v128.const {text}"));
    ops.extend([
        c("v128.const zero", "i64x2 0 0"),
        c(
            "v128.const ones",
            "i8x16 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1",
        ),
        c("v128.const i16x8", "i16x8 1 -2 3 -4 0x7fff -0x8000 0 255"),
        c("v128.const f32x4 NaNs", "f32x4 nan:0x1 -nan -0 inf"),
        c("v128.const f64x2", "f64x2 -0x1p-1074 nan:0x8000000000001"),
    ]);
    Family::new("v128 bitwise and constants", ops)
}

/// Lane arithmetic of an integer shape.
fn int_arith(s: Shape) -> Family {
    let (binary, unary): (&[&str], &[&str]) = match s.lanes {
        16 => (
            &[
                "add",
                "add_sat_s",
                "add_sat_u",
                "sub",
                "sub_sat_s",
                "sub_sat_u",
                "min_s",
                "min_u",
                "max_s",
                "max_u",
                "avgr_u",
            ],
            &["abs", "neg", "popcnt"],
        ),
        8 => (
            &[
                "add",
                "add_sat_s",
                "add_sat_u",
                "sub",
                "sub_sat_s",
                "sub_sat_u",
                "mul",
                "min_s",
                "min_u",
                "max_s",
                "max_u",
                "avgr_u",
                "q15mulr_sat_s",
            ],
            &["abs", "neg"],
        ),
        4 => (
            &["add", "sub", "mul", "min_s", "min_u", "max_s", "max_u"],
            &["abs", "neg"],
        ),
        _ => (&["add", "sub", "mul"], &["abs", "neg"]),
    };
    let mut ops = lanewise(s, binary, 2, Cmp::Exact);
    ops.extend(lanewise(s, unary, 1, Cmp::Exact));
    Family::new(format!("{} arithmetic", s.name), ops)
}

fn int_compare(s: Shape) -> Family {
    let ops: &[&str] = if s.lanes == 2 {
        &["eq", "ne", "lt_s", "gt_s", "le_s", "ge_s"]
    } else {
        &[
            "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u",
        ]
    };
    Family::new(
        format!("{} comparison", s.name),
        lanewise(s, ops, 2, Cmp::Exact),
    )
}

/// Shifts by a variable amount and by constants (taken modulo the lane
/// width; an immediate is a lowering of its own).
fn int_shift(s: Shape) -> Family {
    let width = 128 / s.lanes as i64;
    let mut ops = Vec::new();
    for op in ["shl", "shr_s", "shr_u"] {
        let name = format!("{}.{op}", s.name);
        ops.push(Op::apply(&name, &[v(s.lane), Gen::Shift32], Ty::V128));
        for c in [0, 1, width - 1, width, width + 1, -1] {
            ops.push(Op::new(
                format!("{name} by {c}"),
                &[v(s.lane)],
                &[Ty::V128],
                &format!("local.get 0 i32.const {c} {name}"),
            ));
        }
    }
    Family::new(format!("{} shift", s.name), ops)
}

/// Splat, extract and replace at every lane, and for integer shapes
/// all_true and bitmask. Float lanes extracted are compared as bits.
fn lanes(s: Shape) -> Family {
    let float = matches!(s.lane, Lane::F32 | Lane::F64);
    let mut ops = vec![Op::apply(
        &format!("{}.splat", s.name),
        &[s.scalar],
        Ty::V128,
    )];
    let extracts: &[&str] = if s.lanes >= 8 {
        &["extract_lane_s", "extract_lane_u"]
    } else {
        &["extract_lane"]
    };
    for lane in 0..s.lanes {
        for op in extracts {
            let name = format!("{}.{op} {lane}", s.name);
            let (body, result) = match s.lane {
                Lane::F32 => (format!("local.get 0 {name} i32.reinterpret_f32"), Ty::I32),
                Lane::F64 => (format!("local.get 0 {name} i64.reinterpret_f64"), Ty::I64),
                _ => (format!("local.get 0 {name}"), s.scalar.ty()),
            };
            ops.push(Op::new(name, &[v(s.lane)], &[result], &body));
        }
        ops.push(Op::apply(
            &format!("{}.replace_lane {lane}", s.name),
            &[v(s.lane), s.scalar],
            Ty::V128,
        ));
    }
    if !float {
        for op in ["all_true", "bitmask"] {
            ops.push(Op::apply(
                &format!("{}.{op}", s.name),
                &[v(s.lane)],
                Ty::I32,
            ));
        }
    }
    Family::new(format!("{} lanes", s.name), ops)
}

fn float_families(s: Shape) -> Vec<Family> {
    let cmp = if s.lanes == 4 {
        Cmp::F32Lanes
    } else {
        Cmp::F64Lanes
    };
    let mut arith = lanewise(s, &["add", "sub", "mul", "div", "min", "max"], 2, cmp);
    arith.extend(lanewise(
        s,
        &["sqrt", "ceil", "floor", "trunc", "nearest"],
        1,
        cmp,
    ));
    // Their NaN bits are defined: pmin/pmax select an operand.
    let mut exact = lanewise(s, &["abs", "neg"], 1, Cmp::Exact);
    exact.extend(lanewise(s, &["pmin", "pmax"], 2, Cmp::Exact));
    vec![
        Family::new(format!("{} arithmetic", s.name), arith),
        Family::new(format!("{} sign and pseudo-min/max", s.name), exact),
        Family::new(
            format!("{} comparison", s.name),
            lanewise(s, &["eq", "ne", "lt", "gt", "le", "ge"], 2, Cmp::Exact),
        ),
        lanes(s),
    ]
}

/// Named shuffle patterns (each a lowering a backend may special-case)
/// and random ones.
fn shuffles() -> Family {
    let mut patterns: Vec<(String, Vec<u8>)> = vec![
        ("identity".into(), (0..16).collect()),
        ("second operand".into(), (16..32).collect()),
        ("reverse".into(), (0..16).rev().collect()),
        ("broadcast byte 0".into(), vec![0; 16]),
        ("broadcast byte 31".into(), vec![31; 16]),
        (
            "interleave low bytes".into(),
            (0..8).flat_map(|i| [i, i + 16]).collect(),
        ),
        (
            "interleave high words".into(),
            (4..8)
                .flat_map(|i| [2 * i, 2 * i + 1, 2 * i + 16, 2 * i + 17])
                .collect(),
        ),
        ("byte rotate by 5".into(), (5..21).collect()),
        (
            "dword swap".into(),
            [1, 0, 3, 2]
                .iter()
                .flat_map(|d| (0..4).map(move |b| d * 4 + b))
                .collect(),
        ),
        (
            "qword halves of both".into(),
            (0..8).chain(24..32).collect(),
        ),
    ];
    let mut rng = Rng::new(0x5_4ff1e);
    for k in 0..4 {
        patterns.push((
            format!("random {k}"),
            (0..16).map(|_| rng.below(32) as u8).collect(),
        ));
    }
    let g = v(Lane::I8);
    let mut ops = Vec::new();
    for (name, p) in &patterns {
        let lanes: Vec<String> = p.iter().map(|l| l.to_string()).collect();
        ops.push(Op::new(
            format!("i8x16.shuffle {name}"),
            &[g, g],
            &[Ty::V128],
            &format!("local.get 0 local.get 1 i8x16.shuffle {}", lanes.join(" ")),
        ));
    }
    ops.push(Op::new(
        "i8x16.shuffle of one operand with itself",
        &[g],
        &[Ty::V128],
        "local.get 0 local.get 0 i8x16.shuffle 3 19 7 23 0 0 16 16 15 31 14 30 1 2 17 18",
    ));
    ops.push(Op::apply("i8x16.swizzle", &[g, v(Lane::Swizzle)], Ty::V128));
    Family::new("i8x16 shuffle and swizzle", ops)
}

/// Narrowing, widening and lane-combining arithmetic.
fn widening() -> Family {
    let mut ops = Vec::new();
    for (to, from, lane) in [("i8x16", "i16x8", Lane::I16), ("i16x8", "i32x4", Lane::I32)] {
        for s in ["s", "u"] {
            ops.push(Op::apply(
                &format!("{to}.narrow_{from}_{s}"),
                &[v(lane), v(lane)],
                Ty::V128,
            ));
        }
    }
    for (to, from, lane) in [
        ("i16x8", "i8x16", Lane::I8),
        ("i32x4", "i16x8", Lane::I16),
        ("i64x2", "i32x4", Lane::I32),
    ] {
        for half in ["low", "high"] {
            for s in ["s", "u"] {
                ops.push(Op::apply(
                    &format!("{to}.extend_{half}_{from}_{s}"),
                    &[v(lane)],
                    Ty::V128,
                ));
                ops.push(Op::apply(
                    &format!("{to}.extmul_{half}_{from}_{s}"),
                    &[v(lane), v(lane)],
                    Ty::V128,
                ));
            }
        }
        if to != "i64x2" {
            for s in ["s", "u"] {
                ops.push(Op::apply(
                    &format!("{to}.extadd_pairwise_{from}_{s}"),
                    &[v(lane)],
                    Ty::V128,
                ));
            }
        }
    }
    ops.push(Op::apply(
        "i32x4.dot_i16x8_s",
        &[v(Lane::I16), v(Lane::I16)],
        Ty::V128,
    ));
    Family::new("SIMD narrowing and widening", ops)
}

fn conversions() -> Family {
    let un = |name: &str, lane: Lane| Op::apply(name, &[v(lane)], Ty::V128);
    Family::new(
        "SIMD conversion",
        vec![
            un("f32x4.convert_i32x4_s", Lane::I32),
            un("f32x4.convert_i32x4_u", Lane::I32),
            un("f64x2.convert_low_i32x4_s", Lane::I32),
            un("f64x2.convert_low_i32x4_u", Lane::I32),
            un("i32x4.trunc_sat_f32x4_s", Lane::F32Conv),
            un("i32x4.trunc_sat_f32x4_u", Lane::F32Conv),
            un("i32x4.trunc_sat_f64x2_s_zero", Lane::F64Conv),
            un("i32x4.trunc_sat_f64x2_u_zero", Lane::F64Conv),
            un("f32x4.demote_f64x2_zero", Lane::F64).cmp(Cmp::F32Lanes),
            un("f64x2.promote_low_f32x4", Lane::F32).cmp(Cmp::F64Lanes),
        ],
    )
}

/// Relaxed SIMD: every operator, each lane shape of the lane selects.
fn relaxed() -> Family {
    let op = |name: &str, args: &[Lane]| {
        let args: Vec<Gen> = args.iter().map(|l| v(*l)).collect();
        Op::apply(name, &args, Ty::V128)
    };
    let f32s = |name: &str, n: usize| op(name, &vec![Lane::F32; n]).cmp(Cmp::F32Lanes);
    let f64s = |name: &str, n: usize| op(name, &vec![Lane::F64; n]).cmp(Cmp::F64Lanes);
    let mut ops = vec![
        op("i8x16.relaxed_swizzle", &[Lane::I8, Lane::I8]),
        op("i32x4.relaxed_trunc_f32x4_s", &[Lane::F32Conv]),
        op("i32x4.relaxed_trunc_f32x4_u", &[Lane::F32Conv]),
        op("i32x4.relaxed_trunc_f64x2_s_zero", &[Lane::F64Conv]),
        op("i32x4.relaxed_trunc_f64x2_u_zero", &[Lane::F64Conv]),
        f32s("f32x4.relaxed_madd", 3),
        f32s("f32x4.relaxed_nmadd", 3),
        f64s("f64x2.relaxed_madd", 3),
        f64s("f64x2.relaxed_nmadd", 3),
        f32s("f32x4.relaxed_min", 2),
        f32s("f32x4.relaxed_max", 2),
        f64s("f64x2.relaxed_min", 2),
        f64s("f64x2.relaxed_max", 2),
        op("i16x8.relaxed_q15mulr_s", &[Lane::I16, Lane::I16]),
        op("i16x8.relaxed_dot_i8x16_i7x16_s", &[Lane::I8, Lane::I8]),
        op(
            "i32x4.relaxed_dot_i8x16_i7x16_add_s",
            &[Lane::I8, Lane::I8, Lane::I32],
        ),
    ];
    for s in [I8X16, I16X8, I32X4, I64X2] {
        let name = format!("{}.relaxed_laneselect", s.name);
        ops.push(op(&name, &[s.lane, s.lane, s.lane]));
    }
    Family::new("relaxed SIMD", ops)
}

/// The SIMD families.
pub fn families() -> Vec<Family> {
    let mut f = vec![bitwise()];
    for s in [I8X16, I16X8, I32X4, I64X2] {
        f.extend([int_arith(s), int_compare(s), int_shift(s), lanes(s)]);
    }
    f.extend(float_families(F32X4));
    f.extend(float_families(F64X2));
    f.extend([shuffles(), widening(), conversions(), relaxed()]);
    f
}
