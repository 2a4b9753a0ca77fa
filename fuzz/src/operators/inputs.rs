//! Inputs: each parameter draws from a [`Gen`] that knows its type's edge
//! cases. A case first tries combinations of each parameter's corners
//! (0, ±1, MIN, MAX, ±0.0, ±inf, NaNs, the last in-bounds address), then
//! random values biased toward edges: powers of two and their
//! neighbours, values one ulp around the conversion limits, NaNs with
//! other payloads, subnormals, halves (for rounding).

use super::floats::{
    f32_bits, f32_conv, f32_conv_corners, f64_bits, f64_conv, f64_conv_corners, mask, F32_CORNERS,
    F64_CORNERS,
};
use super::Ty;
use crate::outcome::Value;
use crate::rng::Rng;

/// How one parameter's values are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gen {
    /// Any `i32`.
    I32,
    /// Any `i64`.
    I64,
    /// Any `f32` (bits, NaN payloads kept).
    F32,
    /// Any `f64`.
    F64,
    /// An `i32` shift or rotate amount (or a SIMD shift's): below and
    /// around the widths, and far beyond.
    Shift32,
    /// An `i64` shift or rotate amount.
    Shift64,
    /// An `f32` to truncate to an integer: mostly near the limits.
    F32Conv,
    /// An `f64` to truncate to an integer.
    F64Conv,
    /// An `i32` condition: zero, one, other truths.
    Cond,
    /// An `i32` address for an access of `width` bytes at static
    /// `offset` in a memory of `size` bytes: near 0, around the last
    /// in-bounds address, just past the end, near 4 GiB (where adding the
    /// offset wraps 32 bits).
    Addr {
        /// Bytes accessed.
        width: u32,
        /// Static offset.
        offset: u32,
        /// Memory size in bytes.
        size: u32,
    },
    /// An `i32` count for a bulk operation over something of `size`
    /// bytes or elements.
    Len {
        /// Size of what is operated on.
        size: u32,
    },
    /// An `i32` index into `n` things (table slots, branch targets):
    /// mostly in range or just past it.
    Index {
        /// How many there are.
        n: u32,
    },
    /// An `i32` number of pages or elements to grow by.
    Grow,
    /// An `i32` call depth: mostly below 100, rarely 100,000 (deeper
    /// than the stack without tail calls; the interpreter takes 50 ms).
    Depth,
    /// A `v128` with lanes drawn as `Lane` says.
    V128(Lane),
}

/// How a `v128`'s lanes are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Sixteen `i8`s.
    I8,
    /// Eight `i16`s.
    I16,
    /// Four `i32`s.
    I32,
    /// Two `i64`s.
    I64,
    /// Four `f32`s.
    F32,
    /// Two `f64`s.
    F64,
    /// Four `f32`s near integer conversion limits.
    F32Conv,
    /// Two `f64`s near integer conversion limits.
    F64Conv,
    /// Sixteen `i8x16.swizzle` indices: mostly in range, some past it.
    Swizzle,
}

impl Gen {
    /// The parameter's type.
    pub fn ty(self) -> Ty {
        match self {
            Gen::I64 | Gen::Shift64 => Ty::I64,
            Gen::F32 | Gen::F32Conv => Ty::F32,
            Gen::F64 | Gen::F64Conv => Ty::F64,
            Gen::V128(_) => Ty::V128,
            _ => Ty::I32,
        }
    }

    /// The values every operator taking this parameter is tried with.
    pub fn corners(self) -> Vec<Value> {
        match self {
            Gen::I32 => int_corners(32).into_iter().map(i32v).collect(),
            Gen::I64 => int_corners(64).into_iter().map(Value::I64).collect(),
            Gen::F32 => F32_CORNERS.iter().map(|&b| Value::F32(b)).collect(),
            Gen::F64 => F64_CORNERS.iter().map(|&b| Value::F64(b)).collect(),
            Gen::Shift32 => [0, 1, 31, 32, 33].map(Value::I32).to_vec(),
            Gen::Shift64 => [0, 1, 63, 64, 65].map(Value::I64).to_vec(),
            Gen::F32Conv => f32_conv_corners().into_iter().map(Value::F32).collect(),
            Gen::F64Conv => f64_conv_corners().into_iter().map(Value::F64).collect(),
            Gen::Cond => [0, 1, 0x8000_0000].map(Value::I32).to_vec(),
            Gen::Addr {
                width,
                offset,
                size,
            } => {
                let end = size.wrapping_sub(width).wrapping_sub(offset);
                [0, end, end.wrapping_add(1), u32::MAX]
                    .map(Value::I32)
                    .to_vec()
            }
            Gen::Len { size } => [0, 1, size, u32::MAX].map(Value::I32).to_vec(),
            Gen::Index { n } => [0, n.saturating_sub(1), n, u32::MAX]
                .map(Value::I32)
                .to_vec(),
            Gen::Grow => [0, 1, u32::MAX].map(Value::I32).to_vec(),
            Gen::Depth => [0, 1, 100_000].map(Value::I32).to_vec(),
            Gen::V128(lane) => v128_corners(lane).into_iter().map(Value::V128).collect(),
        }
    }

    /// A random value, biased toward edge cases.
    pub fn draw(self, rng: &mut Rng) -> Value {
        match self {
            Gen::I32 => i32v(int(rng, 32)),
            Gen::I64 => Value::I64(int(rng, 64)),
            Gen::F32 => Value::F32(f32_bits(rng)),
            Gen::F64 => Value::F64(f64_bits(rng)),
            Gen::Shift32 => Value::I32(shift(rng, 32) as u32),
            Gen::Shift64 => Value::I64(shift(rng, 64)),
            Gen::F32Conv => Value::F32(f32_conv(rng)),
            Gen::F64Conv => Value::F64(f64_conv(rng)),
            Gen::Cond => Value::I32(match rng.below(4) {
                0 => 0,
                1 => 1,
                2 => *rng.pick(&[2, u32::MAX, 0x8000_0000, 0x100]),
                _ => rng.next_u64() as u32,
            }),
            Gen::Addr {
                width,
                offset,
                size,
            } => Value::I32(addr(rng, width, offset, size)),
            Gen::Len { size } => Value::I32(match rng.below(6) {
                0 => *rng.pick(&[0, 1, 2]),
                1 | 2 => rng.below(48) as u32,
                3 => size.wrapping_sub(rng.below(8) as u32),
                4 => size.wrapping_add(rng.below(8) as u32),
                _ => {
                    let r = rng.next_u64() as u32;
                    *rng.pick(&[u32::MAX, 0x8000_0000, r])
                }
            }),
            Gen::Index { n } => Value::I32(match rng.below(8) {
                0..=4 => rng.below(n as u64 + 1) as u32,
                5 => n + rng.below(3) as u32,
                6 => *rng.pick(&[u32::MAX, 0x8000_0000, 0x7fff_ffff]),
                _ => rng.next_u64() as u32,
            }),
            Gen::Grow => Value::I32(match rng.below(4) {
                0 | 1 => rng.below(4) as u32,
                2 => *rng.pick(&[0x1_0000, 0xffff, u32::MAX, 0x8000_0000]),
                _ => rng.below(64) as u32,
            }),
            Gen::Depth => Value::I32(if rng.chance(1, 200) {
                100_000
            } else {
                rng.below(100) as u32
            }),
            Gen::V128(lane) => Value::V128(v128(rng, lane)),
        }
    }
}

/// `n` argument lists for parameters `params`: first the combinations of
/// their corners (all of them if they fit in three quarters of `n`, else
/// a random half's worth), then random draws. No parameters: one call.
pub fn inputs(params: &[Gen], rng: &mut Rng, n: usize) -> Vec<Vec<Value>> {
    if params.is_empty() {
        return vec![vec![]];
    }
    let corners: Vec<Vec<Value>> = params.iter().map(|g| g.corners()).collect();
    let combos = corners
        .iter()
        .try_fold(1usize, |acc, c| acc.checked_mul(c.len()))
        .unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(n);
    if combos <= n * 3 / 4 {
        for mut k in 0..combos {
            let mut args = Vec::with_capacity(params.len());
            for c in &corners {
                args.push(c[k % c.len()]);
                k /= c.len();
            }
            out.push(args);
        }
    } else {
        for _ in 0..n / 2 {
            out.push(corners.iter().map(|c| *rng.pick(c)).collect());
        }
    }
    while out.len() < n {
        // Mostly all random; sometimes one parameter stays at a corner,
        // so corners meet random partners too.
        let fixed = rng
            .chance(1, 3)
            .then(|| rng.below(params.len() as u64) as usize);
        out.push(
            params
                .iter()
                .enumerate()
                .map(|(i, g)| match fixed {
                    Some(f) if f == i => *rng.pick(&corners[i]),
                    _ => g.draw(rng),
                })
                .collect(),
        );
    }
    out
}

fn i32v(bits: u64) -> Value {
    Value::I32(bits as u32)
}

/// 0, 1, -1, MIN, MAX of a `bits`-wide integer.
fn int_corners(bits: u32) -> [u64; 5] {
    let min = 1u64 << (bits - 1);
    [0, 1, mask(bits), min, min - 1]
}

/// A `bits`-wide integer (zero-extended), biased toward edges.
fn int(rng: &mut Rng, bits: u32) -> u64 {
    let min = 1u64 << (bits - 1);
    let v = match rng.below(10) {
        0 | 1 => *rng.pick(&[0, 1, 2, u64::MAX, min, min - 1, min + 1, mask(bits) - 1]),
        2 => 1 << rng.below(bits as u64),
        3 => (1u64 << rng.below(bits as u64)).wrapping_sub(1),
        4 => (1u64 << rng.below(bits as u64)).wrapping_neg(),
        5 => (rng.below(600) as i64 - 300) as u64,
        // Random with a random number of significant bits: small values,
        // and large ones an integer-to-float conversion must round.
        6 | 7 => rng.next_u64() >> rng.below(64),
        _ => rng.next_u64(),
    };
    v & mask(bits)
}

fn shift(rng: &mut Rng, width: u64) -> u64 {
    match rng.below(4) {
        0 | 1 => rng.below(width + 1),
        2 => width + rng.below(width * 2),
        _ => {
            let r = rng.next_u64();
            *rng.pick(&[u64::MAX, 1 << 31, r, width - 1, width * 4])
        }
    }
}

fn addr(rng: &mut Rng, width: u32, offset: u32, size: u32) -> u32 {
    let end = size.wrapping_sub(width).wrapping_sub(offset);
    match rng.below(8) {
        0 | 1 => rng.below(40) as u32,
        2..=4 => end.wrapping_add(rng.below(17) as u32).wrapping_sub(8),
        5 => size.wrapping_add(rng.below(64) as u32),
        6 => u32::MAX - rng.below(32) as u32,
        _ => rng.below(size.max(1) as u64) as u32,
    }
}

/// A lane's width in bits, and how one is drawn.
fn lane_bits(lane: Lane) -> u32 {
    match lane {
        Lane::I8 | Lane::Swizzle => 8,
        Lane::I16 => 16,
        Lane::I32 | Lane::F32 | Lane::F32Conv => 32,
        Lane::I64 | Lane::F64 | Lane::F64Conv => 64,
    }
}

fn lane(rng: &mut Rng, lane: Lane) -> u64 {
    match lane {
        Lane::I8 | Lane::I16 | Lane::I32 | Lane::I64 => int(rng, lane_bits(lane)),
        Lane::F32 => f32_bits(rng) as u64,
        Lane::F64 => f64_bits(rng),
        Lane::F32Conv => f32_conv(rng) as u64,
        Lane::F64Conv => f64_conv(rng),
        Lane::Swizzle => match rng.below(5) {
            0..=2 => rng.below(16),
            3 => 16 + rng.below(16),
            _ => rng.below(256),
        },
    }
}

fn lane_corners(lane: Lane) -> Vec<u64> {
    match lane {
        Lane::I8 | Lane::I16 | Lane::I32 | Lane::I64 => int_corners(lane_bits(lane)).to_vec(),
        Lane::F32 => F32_CORNERS.iter().map(|&b| b as u64).collect(),
        Lane::F64 => F64_CORNERS.to_vec(),
        Lane::F32Conv => f32_conv_corners().into_iter().map(u64::from).collect(),
        Lane::F64Conv => f64_conv_corners(),
        Lane::Swizzle => vec![0, 15, 16, 0x80, 0xff],
    }
}

/// Lanes (low lane first) into a `v128`.
fn pack(lanes: &[u64], bits: u32) -> u128 {
    lanes.iter().enumerate().fold(0, |v, (i, &l)| {
        v | (((l & mask(bits)) as u128) << (i as u32 * bits))
    })
}

fn v128(rng: &mut Rng, l: Lane) -> u128 {
    let bits = lane_bits(l);
    let n = (128 / bits) as usize;
    // A quarter splats one value, so lanes agree with each other too.
    let lanes: Vec<u64> = if rng.chance(1, 4) {
        vec![lane(rng, l); n]
    } else {
        (0..n).map(|_| lane(rng, l)).collect()
    };
    pack(&lanes, bits)
}

/// Zero, all ones, and the lane corners spread across the lanes in two
/// different orders, so lane-wise binary operators meet corner pairs.
fn v128_corners(l: Lane) -> Vec<u128> {
    let bits = lane_bits(l);
    let n = (128 / bits) as usize;
    let c = lane_corners(l);
    let spread: Vec<u64> = (0..n).map(|i| c[i % c.len()]).collect();
    let other: Vec<u64> = (0..n).map(|i| c[(i * 3 + 1) % c.len()]).collect();
    vec![0, u128::MAX, pack(&spread, bits), pack(&other, bits)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corners_come_first_and_fit() {
        let mut rng = Rng::new(1);
        let v = inputs(&[Gen::I32, Gen::I32], &mut rng, 40);
        assert_eq!(v.len(), 40);
        // MIN / -1 and MIN / 0: the trapping divisions are always tried.
        assert!(v.contains(&vec![Value::I32(0x8000_0000), Value::I32(u32::MAX)]));
        assert!(v.contains(&vec![Value::I32(0x8000_0000), Value::I32(0)]));
    }
}
