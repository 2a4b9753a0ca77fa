//! Float inputs: corners, edge cases of a format (NaNs with payloads,
//! subnormals, the greatest finite, halves for rounding, 2^mantissa),
//! powers of two a few ulps either side, and values around the limits of
//! float-to-integer conversion.

use crate::rng::Rng;

/// +0, -0, 1, -1.5, +inf, -inf, a signalling NaN, the least subnormal.
pub(super) const F32_CORNERS: [u32; 8] = [
    0,
    0x8000_0000,
    0x3f80_0000,
    0xbfc0_0000,
    0x7f80_0000,
    0xff80_0000,
    0x7fa0_0000,
    1,
];
pub(super) const F64_CORNERS: [u64; 8] = [
    0,
    1 << 63,
    0x3ff0_0000_0000_0000,
    0xbff8_0000_0000_0000,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x7ff4_0000_0000_0000,
    1,
];

/// Float edges beyond the corners, generic over the format: `exp` and
/// `man` are the exponent and mantissa widths.
pub(super) fn float_edges(exp: u32, man: u32) -> Vec<u64> {
    let sign = 1u64 << (exp + man);
    let inf = mask(exp) << man;
    let quiet = 1u64 << (man - 1);
    let one = (mask(exp - 1)) << man;
    let half = one - (1 << man);
    vec![
        inf | quiet,                           // canonical NaN
        sign | inf | quiet,                    // negative canonical NaN
        inf | quiet | 1,                       // quiet NaN with a payload
        sign | inf | 1,                        // negative signalling NaN
        inf | mask(man),                       // all-ones payload
        mask(man),                             // greatest subnormal
        1 << man,                              // least normal
        (inf - 1),                             // greatest finite
        sign | (inf - 1),                      // least finite
        half,                                  // 0.5
        sign | half,                           // -0.5
        one | (1 << (man - 1)),                // 1.5
        (one + (1 << man)) | (1 << (man - 2)), // 2.5
        sign | one,                            // -1
        (one + ((man as u64) << man)),         // 2^man: no fraction bits left
        (one + ((man as u64) << man)) - 1,     // just below: a half
        sign | 1,                              // -least subnormal
    ]
}

pub(super) fn f32_bits(rng: &mut Rng) -> u32 {
    float_bits(rng, 8, 23, |i, k| {
        (i as f32 / (1u32 << k) as f32).to_bits() as u64
    }) as u32
}

pub(super) fn f64_bits(rng: &mut Rng) -> u64 {
    float_bits(rng, 11, 52, |i, k| {
        (i as f64 / (1u64 << k) as f64).to_bits()
    })
}

/// A float of the format with `exp` exponent and `man` mantissa bits.
/// `nice(i, k)` is the bits of `i / 2^k`.
fn float_bits(rng: &mut Rng, exp: u32, man: u32, nice: fn(i64, u32) -> u64) -> u64 {
    let sign = (rng.below(2)) << (exp + man);
    let bias = mask(exp - 1);
    match rng.below(10) {
        0 | 1 => {
            let edges = float_edges(exp, man);
            *rng.pick(&edges)
        }
        2 => {
            let c: Vec<u64> = if man == 23 {
                F32_CORNERS.iter().map(|&b| b as u64).collect()
            } else {
                F64_CORNERS.to_vec()
            };
            *rng.pick(&c)
        }
        // A power of two, a few ulps either side.
        3 => {
            let e = bias + rng.below(70);
            sign | ((e << man).wrapping_add(rng.below(5)).wrapping_sub(2) & mask(exp + man))
        }
        // Small values with short fractions: rounding, and integral results.
        4 | 5 => nice(rng.below(4001) as i64 - 2000, rng.below(4) as u32),
        6 => sign | (rng.next_u64() & mask(man)),
        // NaN with a random payload (never zero: that would be infinity).
        7 => sign | (mask(exp) << man) | (rng.next_u64() & mask(man)).max(1),
        _ => rng.next_u64() & mask(exp + man + 1),
    }
}

/// The integer conversion limits: ±2^31, 2^32, ±2^63, 2^64, and -1.
const CONV_LIMITS: [f64; 7] = [
    2147483648.0,
    -2147483648.0,
    4294967296.0,
    9223372036854775808.0,
    -9223372036854775808.0,
    18446744073709551616.0,
    -1.0,
];

pub(super) fn f32_conv_corners() -> Vec<u32> {
    let mut v = vec![
        0x7fc0_0000,
        0x7f80_0000,
        0xff80_0000,
        0x8000_0000,
        0xbf7f_ffff,
    ];
    for l in CONV_LIMITS {
        let b = (l as f32).to_bits();
        v.extend([b, b - 1, b + 1]);
    }
    v
}

pub(super) fn f64_conv_corners() -> Vec<u64> {
    let mut v = vec![
        0x7ff8_0000_0000_0000,
        0x7ff0_0000_0000_0000,
        0xfff0_0000_0000_0000,
        1 << 63,
        0xbfef_ffff_ffff_ffff,
    ];
    for l in CONV_LIMITS {
        let b = l.to_bits();
        v.extend([b, b - 1, b + 1]);
    }
    // Where f64 has room for fractions: a limit ± 0.5 and ± 1.
    for l in [2147483648.0f64, -2147483648.0, 4294967296.0] {
        v.extend([l - 1.0, l - 0.5, l + 0.5, l + 1.0].map(f64::to_bits));
    }
    v
}

pub(super) fn f32_conv(rng: &mut Rng) -> u32 {
    match rng.below(4) {
        0 | 1 => {
            let b = (*rng.pick(&CONV_LIMITS) as f32).to_bits();
            b.wrapping_add(rng.below(9) as u32).wrapping_sub(4)
        }
        2 => *rng.pick(&f32_conv_corners()),
        _ => f32_bits(rng),
    }
}

pub(super) fn f64_conv(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => {
            let b = rng.pick(&CONV_LIMITS).to_bits();
            b.wrapping_add(rng.below(9)).wrapping_sub(4)
        }
        // f64 has room for fractions near the 32-bit limits.
        1 => (rng.pick(&CONV_LIMITS) + (rng.below(9) as f64 - 4.0) * 0.25).to_bits(),
        2 => *rng.pick(&f64_conv_corners()),
        _ => f64_bits(rng),
    }
}

/// The low `bits` bits set.
pub(super) fn mask(bits: u32) -> u64 {
    if bits == 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_of_their_format() {
        assert!(float_edges(8, 23).iter().all(|&b| b <= u32::MAX as u64));
        assert!(f32::from_bits(float_edges(8, 23)[0] as u32).is_nan());
        assert_eq!(f64::from_bits(float_edges(11, 52)[9]), 0.5);
        assert_eq!(f32::from_bits(float_edges(8, 23)[12] as u32), 2.5);
        assert_eq!(f64::from_bits(float_edges(11, 52)[14]), 4503599627370496.0);
    }
}
