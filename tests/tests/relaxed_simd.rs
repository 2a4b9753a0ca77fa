//! Relaxed SIMD through the real pipeline, on generated inputs.
//!
//! The spec scripts check a few dozen chosen inputs (and none at all for
//! the truncations). Here every operator runs on edge-biased random lanes
//! under both lowerings and each answer is checked against the set the
//! standard allows, computed lane by lane in Rust: the deterministic
//! lowering must give exactly its documented answer, the native one any
//! allowed answer, and both must agree wherever the standard leaves no
//! choice.

use lucet_runtime::{Instance, Limits, Linker, Module, Val};
use lucet_tests::compile_with;

const OPS: &[(&str, usize)] = &[
    ("i8x16.relaxed_swizzle", 2),
    ("i32x4.relaxed_trunc_f32x4_s", 1),
    ("i32x4.relaxed_trunc_f32x4_u", 1),
    ("i32x4.relaxed_trunc_f64x2_s_zero", 1),
    ("i32x4.relaxed_trunc_f64x2_u_zero", 1),
    ("f32x4.relaxed_madd", 3),
    ("f32x4.relaxed_nmadd", 3),
    ("f64x2.relaxed_madd", 3),
    ("f64x2.relaxed_nmadd", 3),
    ("i8x16.relaxed_laneselect", 3),
    ("i16x8.relaxed_laneselect", 3),
    ("i32x4.relaxed_laneselect", 3),
    ("i64x2.relaxed_laneselect", 3),
    ("f32x4.relaxed_min", 2),
    ("f32x4.relaxed_max", 2),
    ("f64x2.relaxed_min", 2),
    ("f64x2.relaxed_max", 2),
    ("i16x8.relaxed_q15mulr_s", 2),
    ("i16x8.relaxed_dot_i8x16_i7x16_s", 2),
    ("i32x4.relaxed_dot_i8x16_i7x16_add_s", 3),
];

fn module() -> String {
    let mut m = String::from("(module\n");
    for (op, n) in OPS {
        let params = "v128 ".repeat(*n);
        let gets: String = (0..*n).map(|i| format!("(local.get {i})")).collect();
        m += &format!("  (func (export \"{op}\") (param {params}) (result v128) ({op} {gets}))\n");
    }
    m + ")"
}

fn instance(deterministic: bool, native: bool) -> (lucet_tests::Compiled, Instance) {
    let options = lucetc::Options {
        relaxed_simd_deterministic: deterministic,
        target_cpu: if native {
            lucetc::TargetCpu::Native
        } else {
            lucetc::TargetCpu::Baseline
        },
        ..lucetc::Options::default()
    };
    let c = compile_with(module().as_bytes(), &options);
    // SAFETY: the object was just compiled by this test into its own directory.
    let m = unsafe { Module::load_unverified(&c.path) }.expect("load");
    let i = Instance::new(&m, &Linker::new(), Limits::default()).expect("instantiate");
    (c, i)
}

/// A small xorshift generator: the test's inputs, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A lane of `bytes` bytes, biased toward the values operators treat
    /// specially: zeros, extremes, NaNs, infinities, float values near
    /// the integer limits, and small 7-bit bytes.
    fn lane(&mut self, bytes: usize) -> u64 {
        let special: &[u64] = match bytes {
            1 => &[0, 0x7f, 0x80, 0xff, 0x01, 0x40],
            2 => &[0, 0x7fff, 0x8000, 0xffff, 0x4000],
            4 => &[
                0,
                0x8000_0000,
                0x7fc0_0000,
                0xffc0_0001,
                0x7f80_0000,
                0xff80_0000,
                0x4f00_0000, // 2^31
                0xcf00_0000, // -2^31
                0x4f80_0000, // 2^32
                0x3f80_0000, // 1.0
                0xbf00_0000, // -0.5
            ],
            _ => &[
                0,
                0x8000_0000_0000_0000,
                0x7ff8_0000_0000_0000,
                0x7ff0_0000_0000_0000,
                0xfff0_0000_0000_0000,
                0x41e0_0000_0000_0000, // 2^31
                0xc1e0_0000_0000_0000, // -2^31
                0x41f0_0000_0000_0000, // 2^32
                0x3ff0_0000_0000_0000, // 1.0
            ],
        };
        let mask = if bytes == 8 {
            u64::MAX
        } else {
            (1u64 << (bytes * 8)) - 1
        };
        match self.next() % 4 {
            0 => special[(self.next() % special.len() as u64) as usize],
            1 => self.next() & mask & 0x7f,
            _ => self.next() & mask,
        }
    }

    fn v128(&mut self, lane_bytes: usize) -> u128 {
        let mut v = 0u128;
        for i in 0..16 / lane_bytes {
            v |= u128::from(self.lane(lane_bytes)) << (i * lane_bytes * 8);
        }
        v
    }
}

fn lanes<const N: usize>(v: u128) -> [u64; N] {
    let bits = 128 / N;
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    std::array::from_fn(|i| (v >> (i * bits)) as u64 & mask)
}

fn sext(x: u64, bits: u32) -> i64 {
    ((x << (64 - bits)) as i64) >> (64 - bits)
}

/// The allowed answers for lane `lane` of `op`'s result (lane width from
/// the result) given its inputs; the deterministic answer comes first.
fn allowed(op: &str, ins: &[u128], lane: usize) -> Vec<u64> {
    let f32_at = |v: u128, i: usize| f32::from_bits(lanes::<4>(v)[i] as u32);
    let f64_at = |v: u128, i: usize| f64::from_bits(lanes::<2>(v)[i]);
    match op {
        "i8x16.relaxed_swizzle" => {
            let idx = lanes::<16>(ins[1])[lane];
            let src = lanes::<16>(ins[0]);
            let mut ok = vec![if idx < 16 { src[idx as usize] } else { 0 }];
            if idx >= 16 {
                // Modulo 16, or zero when the top bit is set.
                if idx & 0x80 == 0 {
                    ok.push(src[(idx & 15) as usize]);
                }
            }
            ok
        }
        "i32x4.relaxed_trunc_f32x4_s" | "i32x4.relaxed_trunc_f32x4_u" => {
            let x = f32_at(ins[0], lane) as f64;
            trunc_allowed(x, op.ends_with("_s"))
        }
        "i32x4.relaxed_trunc_f64x2_s_zero" | "i32x4.relaxed_trunc_f64x2_u_zero" => {
            if lane >= 2 {
                return vec![0];
            }
            trunc_allowed(f64_at(ins[0], lane), op.ends_with("s_zero"))
        }
        "f32x4.relaxed_madd" | "f32x4.relaxed_nmadd" => {
            let (a, b, c) = (
                f32_at(ins[0], lane),
                f32_at(ins[1], lane),
                f32_at(ins[2], lane),
            );
            let a = if op.ends_with("nmadd") { -a } else { a };
            float_set(&[a.mul_add(b, c) as f64, (a * b + c) as f64], true)
        }
        "f64x2.relaxed_madd" | "f64x2.relaxed_nmadd" => {
            let (a, b, c) = (
                f64_at(ins[0], lane),
                f64_at(ins[1], lane),
                f64_at(ins[2], lane),
            );
            let a = if op.ends_with("nmadd") { -a } else { a };
            float_set(&[a.mul_add(b, c), a * b + c], false)
        }
        "f32x4.relaxed_min" | "f32x4.relaxed_max" => {
            let (a, b) = (f32_at(ins[0], lane), f32_at(ins[1], lane));
            minmax_allowed(a as f64, b as f64, op.ends_with("max"), true)
        }
        "f64x2.relaxed_min" | "f64x2.relaxed_max" => {
            let (a, b) = (f64_at(ins[0], lane), f64_at(ins[1], lane));
            minmax_allowed(a, b, op.ends_with("max"), false)
        }
        "i16x8.relaxed_q15mulr_s" => {
            let a = sext(lanes::<8>(ins[0])[lane], 16);
            let b = sext(lanes::<8>(ins[1])[lane], 16);
            let r = (a * b + 0x4000) >> 15;
            let mut ok = vec![r.clamp(-0x8000, 0x7fff) as u64 & 0xffff];
            ok.push(r as u64 & 0xffff);
            ok
        }
        "i16x8.relaxed_dot_i8x16_i7x16_s" => dot16_allowed(ins, lane)
            .into_iter()
            .map(|v| v as u64 & 0xffff)
            .collect(),
        "i32x4.relaxed_dot_i8x16_i7x16_add_s" => {
            let acc = sext(lanes::<4>(ins[2])[lane], 32);
            let a = dot16_allowed(ins, 2 * lane);
            let b = dot16_allowed(ins, 2 * lane + 1);
            let mut ok = Vec::new();
            for x in &a {
                for y in &b {
                    ok.push(
                        (sext(*x as u64 & 0xffff, 16) + sext(*y as u64 & 0xffff, 16) + acc) as u64
                            & 0xffff_ffff,
                    );
                }
            }
            ok
        }
        _ if op.ends_with("relaxed_laneselect") => {
            let bits = 128 / lane_count(op);
            let [a, b, m] = [0, 1, 2].map(|k| lane_bits(ins[k], bits, lane));
            let top = 1u64 << (bits - 1);
            let all = lane_bits(u128::MAX, bits, 0);
            let mut ok = vec![(a & m) | (b & !m & all)];
            if m != all && m != 0 {
                // A mixed mask lane may also select by its top bit alone.
                ok.push(if m & top != 0 { a } else { b });
            }
            ok
        }
        _ => unreachable!("{op}"),
    }
}

/// Lane `lane` of `v`, `bits` wide.
fn lane_bits(v: u128, bits: usize, lane: usize) -> u64 {
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    (v >> (lane * bits)) as u64 & mask
}

fn lane_count(op: &str) -> usize {
    match &op[..5] {
        "i8x16" => 16,
        "i16x8" | "f16x8" => 8,
        "i32x4" | "f32x4" => 4,
        _ => 2,
    }
}

/// Truncation toward zero of `x` to i32 (signed) or u32: the saturated
/// answer when out of range or NaN, or (the relaxed alternatives) the
/// "integer indefinite" 0x8000_0000 or all ones.
fn trunc_allowed(x: f64, signed: bool) -> Vec<u64> {
    let (lo, hi) = if signed {
        (i32::MIN as f64, i32::MAX as f64)
    } else {
        (0.0, u32::MAX as f64)
    };
    let t = x.trunc();
    if !x.is_nan() && t >= lo && t <= hi {
        return vec![if signed {
            t as i64 as u64 & 0xffff_ffff
        } else {
            t as u64
        }];
    }
    let sat = if x.is_nan() {
        0
    } else if signed {
        (if x < 0.0 {
            i32::MIN as i64
        } else {
            i32::MAX as i64
        }) as u64
            & 0xffff_ffff
    } else if x < 0.0 {
        0
    } else {
        u32::MAX as u64
    };
    vec![sat, 0x8000_0000, 0xffff_ffff]
}

/// The bit patterns of `values` as lanes (f32 or f64); a NaN allows any
/// NaN, so it is spelled as the canonical one and checked by `is_nan`.
fn float_set(values: &[f64], f32_lanes: bool) -> Vec<u64> {
    values
        .iter()
        .map(|v| {
            if f32_lanes {
                u64::from((*v as f32).to_bits())
            } else {
                v.to_bits()
            }
        })
        .collect()
}

/// min/max: wasm's answer (NaN if either is, -0 below +0), or either
/// operand when one is NaN or both are zeros of any sign.
fn minmax_allowed(a: f64, b: f64, max: bool, f32_lanes: bool) -> Vec<u64> {
    let strict = if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        // -0 orders below +0.
        let either_positive = a.is_sign_positive() || b.is_sign_positive();
        let either_negative = a.is_sign_negative() || b.is_sign_negative();
        match (max, either_positive, either_negative) {
            (true, true, _) | (false, _, false) => 0.0,
            _ => -0.0,
        }
    } else if max {
        a.max(b)
    } else {
        a.min(b)
    };
    let mut ok = vec![strict];
    if a.is_nan() || b.is_nan() || (a == 0.0 && b == 0.0) {
        ok.extend([a, b]);
    }
    float_set(&ok, f32_lanes)
}

/// One i16 lane of the dot product of adjacent i8 pairs: the second
/// operand's bytes signed or unsigned, the sum wrapping or saturating.
fn dot16_allowed(ins: &[u128], lane: usize) -> Vec<i64> {
    let a = lanes::<16>(ins[0]);
    let b = lanes::<16>(ins[1]);
    let mut ok = Vec::new();
    for b_signed in [true, false] {
        let p = |i: usize| {
            let x = sext(a[i], 8);
            let y = if b_signed { sext(b[i], 8) } else { b[i] as i64 };
            x * y
        };
        let s = p(2 * lane) + p(2 * lane + 1);
        ok.push(sext(s as u64 & 0xffff, 16));
        ok.push(s.clamp(-0x8000, 0x7fff));
    }
    ok
}

fn check(op: &str, ins: &[u128], got: u128, exact: Option<u128>, what: &str) {
    if let Some(want) = exact {
        let float = op.starts_with('f');
        let same = if float {
            let n = lane_count(op);
            (0..n).all(|l| lane_eq(op, got, want, l))
        } else {
            got == want
        };
        assert!(
            same,
            "{what} {op}{ins:x?}: {got:#034x}, deterministic answer {want:#034x}"
        );
    }
    let n = lane_count(op);
    for l in 0..n {
        let bits = 128 / n;
        let lane = lane_bits(got, bits, l);
        let ok = allowed(op, ins, l);
        let nan = |x: u64| {
            if bits == 32 {
                f32::from_bits(x as u32).is_nan()
            } else {
                f64::from_bits(x).is_nan()
            }
        };
        let fine =
            ok.contains(&lane) || (op.starts_with('f') && nan(lane) && ok.iter().any(|o| nan(*o)));
        assert!(
            fine,
            "{what} {op}{ins:x?}: lane {l} is {lane:#x}, allowed {ok:x?}"
        );
    }
}

fn lane_eq(op: &str, x: u128, y: u128, l: usize) -> bool {
    if op.starts_with("f32") {
        let (a, b) = (lanes::<4>(x)[l], lanes::<4>(y)[l]);
        a == b || (f32::from_bits(a as u32).is_nan() && f32::from_bits(b as u32).is_nan())
    } else {
        let (a, b) = (lanes::<2>(x)[l], lanes::<2>(y)[l]);
        a == b || (f64::from_bits(a).is_nan() && f64::from_bits(b).is_nan())
    }
}

/// The deterministic answer of `op`: [`allowed`] lists it first for
/// every lane (each operator's strict counterpart, fused madd, both dot
/// operands signed with wrapping sums).
fn deterministic(op: &str, ins: &[u128]) -> u128 {
    let n = lane_count(op);
    let bits = 128 / n;
    (0..n).fold(0u128, |r, l| {
        r | u128::from(allowed(op, ins, l)[0]) << (l * bits)
    })
}

fn call(i: &mut Instance, op: &str, ins: &[u128]) -> u128 {
    let args: Vec<Val> = ins.iter().map(|v| Val::V128(*v)).collect();
    match i.run(op, &args).expect("call").as_slice() {
        [Val::V128(v)] => *v,
        other => panic!("{op} returned {other:?}"),
    }
}

/// The lane width each operand of `op` is generated with.
fn input_lanes(op: &str, arg: usize) -> usize {
    match op {
        "i8x16.relaxed_swizzle" => 1,
        _ if op.contains("dot") => {
            if arg == 2 {
                4
            } else {
                1
            }
        }
        _ if op.contains("f32x4") => 4,
        _ if op.contains("f64x2") => 8,
        _ => 16 / lane_count(op),
    }
}

#[test]
fn every_answer_is_an_allowed_one() {
    let mut runs = vec![
        ("deterministic, baseline CPU", instance(true, false)),
        ("native lowering, baseline CPU", instance(false, false)),
    ];
    if std::env::var_os("LUCET_TEST_NO_NATIVE").is_none() {
        runs.push(("deterministic, this CPU", instance(true, true)));
        runs.push(("native lowering, this CPU", instance(false, true)));
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        for (op, n) in OPS {
            let ins: Vec<u128> = (0..*n).map(|a| rng.v128(input_lanes(op, a))).collect();
            let want = deterministic(op, &ins);
            for (what, (_, i)) in runs.iter_mut() {
                let got = call(i, op, &ins);
                let exact = what.starts_with("deterministic").then_some(want);
                check(op, &ins, got, exact, what);
            }
        }
    }
}
