//! `v128` memory operators: whole loads and stores, extending loads,
//! splatting and zeroing loads, and single-lane loads and stores (at the
//! first and last lane), at the offsets and addresses the scalar memory
//! families use.

use super::memory::{addr, memory};
use super::{Family, Gen, Lane, Op, Ty};

/// Offsets for `v128` accesses: the scalar ones but the one under the
/// guard's end.
const OFFSETS: [u32; 4] = [0, 3, 0x8000, 0xffff_fff0];

const LOADS: [(&str, u32); 13] = [
    ("v128.load", 16),
    ("v128.load8x8_s", 8),
    ("v128.load8x8_u", 8),
    ("v128.load16x4_s", 8),
    ("v128.load16x4_u", 8),
    ("v128.load32x2_s", 8),
    ("v128.load32x2_u", 8),
    ("v128.load8_splat", 1),
    ("v128.load16_splat", 2),
    ("v128.load32_splat", 4),
    ("v128.load64_splat", 8),
    ("v128.load32_zero", 4),
    ("v128.load64_zero", 8),
];

/// Lane widths in bytes with the lane count.
const LANES: [(u32, u32); 4] = [(1, 16), (2, 8), (4, 4), (8, 2)];

fn loads() -> Family {
    let mut ops = Vec::new();
    for (name, width) in LOADS {
        for offset in OFFSETS {
            ops.push(Op::new(
                format!("{name} offset={offset:#x}"),
                &[addr(width, offset, 1)],
                &[Ty::V128],
                &format!("local.get 0 {name} offset={offset}"),
            ));
        }
    }
    for (bytes, n) in LANES {
        let name = format!("v128.load{}_lane", bytes * 8);
        for lane in [0, n - 1] {
            for offset in [0, 3, 0xffff_fff0] {
                ops.push(Op::new(
                    format!("{name} offset={offset:#x} {lane}"),
                    &[addr(bytes, offset, 1), Gen::V128(Lane::I8)],
                    &[Ty::V128],
                    &format!("local.get 0 local.get 1 {name} offset={offset} {lane}"),
                ));
            }
        }
    }
    Family {
        prelude: memory(1, 1),
        memory: true,
        ..Family::new("v128 load", ops)
    }
}

fn stores() -> Family {
    let mut ops = Vec::new();
    for offset in OFFSETS {
        ops.push(Op::new(
            format!("v128.store offset={offset:#x}"),
            &[addr(16, offset, 1), Gen::V128(Lane::I32)],
            &[],
            &format!("local.get 0 local.get 1 v128.store offset={offset}"),
        ));
    }
    for (bytes, n) in LANES {
        let name = format!("v128.store{}_lane", bytes * 8);
        for lane in [0, n - 1] {
            for offset in [0, 3, 0xffff_fff0] {
                ops.push(Op::new(
                    format!("{name} offset={offset:#x} {lane}"),
                    &[addr(bytes, offset, 1), Gen::V128(Lane::I8)],
                    &[],
                    &format!("local.get 0 local.get 1 {name} offset={offset} {lane}"),
                ));
            }
        }
    }
    Family {
        prelude: memory(1, 1),
        memory: true,
        ..Family::new("v128 store", ops)
    }
}

/// The `v128` memory families.
pub fn families() -> Vec<Family> {
    vec![loads(), stores()]
}
