//! Byte-level mutations of valid inputs: what a corrupted file, a
//! truncated download or an attacker produces.

use crate::rng::Rng;

/// Interesting values to overwrite bytes and words with: boundaries of
/// lengths and indices.
const INTERESTING: [u64; 12] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    0x1_0000_0000,
    u64::MAX >> 1,
    u64::MAX,
];

/// Apply one to four random mutations to `input` (bit flips, byte and
/// word overwrites, truncation, insertion, deletion, duplication of a
/// chunk). Returns the mutated bytes and a short description.
pub fn mutate(rng: &mut Rng, input: &[u8]) -> (Vec<u8>, String) {
    let mut out = input.to_vec();
    let mut what = Vec::new();
    for _ in 0..rng.range(1, 4) {
        let len = out.len();
        if len == 0 {
            let n = rng.range(1, 16) as usize;
            out.extend(rng.bytes(n));
            what.push("fill".to_string());
            continue;
        }
        let at = rng.below(len as u64) as usize;
        match rng.below(8) {
            0 | 1 => {
                let bit = rng.below(8);
                out[at] ^= 1 << bit;
                what.push(format!("flip {at}.{bit}"));
            }
            2 => {
                out[at] = rng.next_u64() as u8;
                what.push(format!("byte {at}"));
            }
            3 => {
                let v = *rng.pick(&INTERESTING);
                let width = *rng.pick(&[1usize, 2, 4, 8]);
                for (i, b) in v.to_le_bytes()[..width].iter().enumerate() {
                    if let Some(x) = out.get_mut(at + i) {
                        *x = *b;
                    }
                }
                what.push(format!("word {at}={v:#x}/{width}"));
            }
            4 => {
                out.truncate(at);
                what.push(format!("truncate {at}"));
            }
            5 => {
                let n = rng.range(1, 16) as usize;
                let bytes = rng.bytes(n);
                out.splice(at..at, bytes);
                what.push(format!("insert {n}@{at}"));
            }
            6 => {
                let n = (rng.range(1, 16) as usize).min(len - at);
                out.drain(at..at + n);
                what.push(format!("delete {n}@{at}"));
            }
            _ => {
                let n = (rng.range(1, 64) as usize).min(len - at);
                let chunk = out[at..at + n].to_vec();
                let to = rng.below(out.len() as u64 + 1) as usize;
                out.splice(to..to, chunk);
                what.push(format!("dup {n}@{at}->{to}"));
            }
        }
    }
    (out, what.join(", "))
}

/// Mutations that keep the length (so the result can be patched into a
/// file in place): bit flips, byte and word overwrites.
pub fn mutate_in_place(rng: &mut Rng, input: &[u8]) -> (Vec<u8>, String) {
    let mut out = input.to_vec();
    let mut what = Vec::new();
    if out.is_empty() {
        return (out, String::new());
    }
    for _ in 0..rng.range(1, 3) {
        let at = rng.below(out.len() as u64) as usize;
        if rng.chance(1, 2) {
            let bit = rng.below(8);
            out[at] ^= 1 << bit;
            what.push(format!("flip {at}.{bit}"));
        } else {
            let v = *rng.pick(&INTERESTING);
            let width = *rng.pick(&[1usize, 4, 8]);
            for (i, b) in v.to_le_bytes()[..width].iter().enumerate() {
                if let Some(x) = out.get_mut(at + i) {
                    *x = *b;
                }
            }
            what.push(format!("word {at}={v:#x}/{width}"));
        }
    }
    (out, what.join(", "))
}
