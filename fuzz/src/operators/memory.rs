//! Memory families: loads and stores of every width and sign at static
//! offsets from 0 to past 4 GiB, at addresses near 0, around the last
//! in-bounds one and out of bounds; `memory.size` and `memory.grow`
//! (from an empty memory, with accesses after each grow); and the bulk
//! operators (`memory.fill`, `memory.copy`, `memory.init`, `data.drop`).
//!
//! Every family here exports its memory, compared whole after each call,
//! and runs twice: with the default guard region and with none (explicit
//! bounds checks).

use super::{Family, Gen, Op, Ty};
use crate::rng::Rng;

/// Bytes in a page.
pub const PAGE: u32 = 65536;

/// Static offsets: none, unaligned, inside the memory, just under the
/// default 32 MiB guard (the last the guard covers), and one that wraps
/// 32 bits with any address but the smallest.
pub const OFFSETS: [u32; 5] = [0, 3, 0x8000, 0x01ff_fff0, 0xffff_fff0];

/// A data segment's string for `bytes`.
pub fn data_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// A memory of `min`..`max` pages exported as `mem`, with its first and
/// last 64 bytes (when it has any) fixed random bytes, so loads see sign
/// bits both set and clear.
pub fn memory(min: u32, max: u32) -> String {
    let mut rng = Rng::new(0xda7a);
    let mut s = format!("(memory (export \"mem\") {min} {max})\n");
    if min > 0 {
        s.push_str(&format!(
            "(data (i32.const 0) \"{}\")\n(data (i32.const {}) \"{}\")\n",
            data_string(&rng.bytes(64)),
            min * PAGE - 64,
            data_string(&rng.bytes(64))
        ));
    }
    s
}

/// The address parameter of an access of `width` bytes at `offset` in a
/// memory of `pages`.
pub fn addr(width: u32, offset: u32, pages: u32) -> Gen {
    Gen::Addr {
        width,
        offset,
        size: pages * PAGE,
    }
}

/// Loads: name, bytes, result type, and how a float result is turned
/// into its bits.
const LOADS: [(&str, u32, Ty, &str); 14] = [
    ("i32.load", 4, Ty::I32, ""),
    ("i64.load", 8, Ty::I64, ""),
    ("f32.load", 4, Ty::I32, "i32.reinterpret_f32"),
    ("f64.load", 8, Ty::I64, "i64.reinterpret_f64"),
    ("i32.load8_s", 1, Ty::I32, ""),
    ("i32.load8_u", 1, Ty::I32, ""),
    ("i32.load16_s", 2, Ty::I32, ""),
    ("i32.load16_u", 2, Ty::I32, ""),
    ("i64.load8_s", 1, Ty::I64, ""),
    ("i64.load8_u", 1, Ty::I64, ""),
    ("i64.load16_s", 2, Ty::I64, ""),
    ("i64.load16_u", 2, Ty::I64, ""),
    ("i64.load32_s", 4, Ty::I64, ""),
    ("i64.load32_u", 4, Ty::I64, ""),
];

/// Stores: name, bytes, value generator.
const STORES: [(&str, u32, Gen); 9] = [
    ("i32.store", 4, Gen::I32),
    ("i32.store8", 1, Gen::I32),
    ("i32.store16", 2, Gen::I32),
    ("i64.store", 8, Gen::I64),
    ("i64.store8", 1, Gen::I64),
    ("i64.store16", 2, Gen::I64),
    ("i64.store32", 4, Gen::I64),
    ("f32.store", 4, Gen::F32),
    ("f64.store", 8, Gen::F64),
];

fn loads() -> Family {
    let mut ops = Vec::new();
    for (name, width, ty, bits) in LOADS {
        for offset in OFFSETS {
            ops.push(Op::new(
                format!("{name} offset={offset:#x}"),
                &[addr(width, offset, 1)],
                &[ty],
                &format!("local.get 0 {name} offset={offset} {bits}"),
            ));
        }
    }
    Family {
        prelude: memory(1, 1),
        memory: true,
        ..Family::new("memory load", ops)
    }
}

fn stores() -> Family {
    let mut ops = Vec::new();
    for (name, width, g) in STORES {
        for offset in OFFSETS {
            ops.push(Op::new(
                format!("{name} offset={offset:#x}"),
                &[addr(width, offset, 1), g],
                &[],
                &format!("local.get 0 local.get 1 {name} offset={offset}"),
            ));
        }
    }
    // A NaN made from integer bits keeps them through a float store.
    for (t, it, g, width) in [("f32", "i32", Gen::I32, 4), ("f64", "i64", Gen::I64, 8)] {
        ops.push(Op::new(
            format!("{t}.store of {t}.reinterpret_{it}"),
            &[addr(width, 0, 1), g],
            &[],
            &format!("local.get 0 local.get 1 {t}.reinterpret_{it} {t}.store"),
        ));
    }
    Family {
        prelude: memory(1, 1),
        memory: true,
        ..Family::new("memory store", ops)
    }
}

/// From an empty memory of at most 3 pages: size, accesses before and
/// after growing, and growing and accessing in one function (the bound
/// must be reloaded after a grow).
fn grow() -> Family {
    let any = |w| addr(w, 0, 3);
    let ops = vec![
        Op::new("memory.size (empty)", &[], &[Ty::I32], "memory.size"),
        Op::new(
            "i32.load (empty memory)",
            &[addr(4, 0, 0)],
            &[Ty::I32],
            "local.get 0 i32.load",
        ),
        Op::new(
            "memory.grow",
            &[Gen::Grow],
            &[Ty::I32],
            "local.get 0 memory.grow",
        ),
        Op::new("memory.size", &[], &[Ty::I32], "memory.size"),
        Op::new(
            "i64.load after memory.grow",
            &[any(8)],
            &[Ty::I64],
            "local.get 0 i64.load",
        ),
        Op::new(
            "i32.store after memory.grow",
            &[any(4), Gen::I32],
            &[],
            "local.get 0 local.get 1 i32.store",
        ),
        Op::new(
            "memory.grow then i64.load in one function",
            &[Gen::Grow, any(8)],
            &[Ty::I32, Ty::I64],
            "local.get 0 memory.grow local.get 1 i64.load",
        ),
        Op::new(
            "memory.grow then memory.size in one function",
            &[Gen::Grow],
            &[Ty::I32, Ty::I32],
            "memory.size local.get 0 memory.grow drop memory.size",
        ),
    ];
    Family {
        prelude: memory(0, 3),
        memory: true,
        ..Family::new("memory.size and memory.grow", ops)
    }
}

fn bulk() -> Family {
    let mut rng = Rng::new(0xb01c);
    let prelude = format!(
        "{}(data $p \"{}\")\n(data $dropped \"{}\")\n",
        memory(1, 1),
        data_string(&rng.bytes(64)),
        data_string(&rng.bytes(16))
    );
    let d = addr(1, 0, 1);
    let len = Gen::Len { size: PAGE };
    let near = Gen::Index { n: 64 };
    let short = Gen::Len { size: 64 };
    let ops = vec![
        Op::new(
            "memory.fill",
            &[d, Gen::I32, len],
            &[],
            "local.get 0 local.get 1 local.get 2 memory.fill",
        ),
        Op::new(
            "memory.fill of 16 bytes",
            &[d, Gen::I32],
            &[],
            "local.get 0 local.get 1 i32.const 16 memory.fill",
        ),
        Op::new(
            "memory.copy",
            &[d, d, len],
            &[],
            "local.get 0 local.get 1 local.get 2 memory.copy",
        ),
        // Overlapping copies, in both directions.
        Op::new(
            "memory.copy within 64 bytes",
            &[near, near, short],
            &[],
            "local.get 0 local.get 1 local.get 2 memory.copy",
        ),
        Op::new(
            "memory.copy of 8 bytes",
            &[d, d],
            &[],
            "local.get 0 local.get 1 i32.const 8 memory.copy",
        ),
        Op::new(
            "memory.init",
            &[d, near, short],
            &[],
            "local.get 0 local.get 1 local.get 2 memory.init $p",
        ),
        // After the first call the segment is empty: only an empty
        // initialisation from offset 0 succeeds.
        Op::new(
            "data.drop then memory.init",
            &[d, Gen::Index { n: 16 }, Gen::Len { size: 16 }],
            &[],
            "data.drop $dropped local.get 0 local.get 1 local.get 2 memory.init $dropped",
        ),
    ];
    Family {
        prelude,
        memory: true,
        ..Family::new("memory bulk operations", ops)
    }
}

/// The memory families.
pub fn families() -> Vec<Family> {
    vec![loads(), stores(), grow(), bulk()]
}
