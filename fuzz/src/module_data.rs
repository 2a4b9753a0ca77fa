//! Module-data decoding: `ModuleData::deserialize` (which validates) over
//! arbitrary bytes, byte mutations and field mutations of real module
//! data must never panic, and whatever it accepts must instantiate
//! without panicking when patched into the real shared object.

use crate::mutate::mutate_in_place;
use crate::rng::Rng;
use crate::{lucet, Finding};
use lucet_module::{ConstOp, ElemItems, ExportKind, ModuleData, SegmentMode, ValType};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A real compiled module: its shared object and where its module data
/// lies in the file.
pub struct Seed {
    /// The shared object's bytes.
    pub so: Vec<u8>,
    /// Offset of the serialized module data in `so`.
    pub at: usize,
    /// The serialized module data.
    pub data: Vec<u8>,
    /// The decoded module data.
    pub decoded: ModuleData,
}

impl Seed {
    /// Compile `wasm` and find its module data in the shared object.
    /// Modules with a start function are refused: with data that no
    /// longer matches the code, running it would test the code hash
    /// (issue 11), not validation.
    pub fn new(wasm: &[u8]) -> Result<Seed, String> {
        let so = lucet::compile(
            wasm,
            &lucetc::Options {
                threads: Some(1),
                ..Default::default()
            },
        )
        .map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&so.path).map_err(|e| e.to_string())?;
        if so.data.start.is_some() {
            return Err("has a start function".into());
        }
        // The file's copy differs in its last bytes, the code hash lucetc
        // patched in after linking: find the rest, then take the file's.
        let data = so.data.serialize();
        let prefix = &data[..data.len() - lucet_module::code_hash::CODE_HASH_LEN];
        let at = bytes
            .windows(prefix.len())
            .position(|w| w == prefix)
            .ok_or("module data not found in the shared object")?;
        let data = bytes[at..at + data.len()].to_vec();
        Ok(Seed {
            so: bytes,
            at,
            data,
            decoded: so.data,
        })
    }
}

/// Counts over a campaign.
#[derive(Clone, Debug, Default)]
pub struct DataStats {
    /// Inputs decoded.
    pub inputs: u64,
    /// Of those, accepted by deserialize + validate.
    pub accepted: u64,
    /// Accepted inputs different from their seed (and no longer) that
    /// were patched into the shared object, loaded and instantiated.
    pub instantiated: u64,
    /// Of those, instantiation refused with an error (limits, traps).
    pub instantiate_refused: u64,
    /// Panics.
    pub findings: Vec<Finding>,
    /// Findings so far (including those already taken out of `findings`).
    pub found: u64,
}

impl DataStats {
    /// Record a finding.
    pub fn add(&mut self, f: Finding) {
        self.found += 1;
        self.findings.push(f);
    }

    /// One line of figures.
    pub fn summary(&self) -> String {
        format!(
            "module data: {} inputs, {} accepted, {} changed ones loaded and instantiated ({} refused with an error); {} findings",
            self.inputs,
            self.accepted,
            self.instantiated,
            self.instantiate_refused,
            self.found
        )
    }
}

/// Change one field of `d` to a nearby or boundary value.
fn mutate_fields(rng: &mut Rng, d: &mut ModuleData) -> String {
    let small = |rng: &mut Rng| *rng.pick(&[0u32, 1, 2, 3, 7, 100, u32::MAX]);
    let ty = |rng: &mut Rng| {
        *rng.pick(&[
            ValType::I32,
            ValType::I64,
            ValType::F64,
            ValType::V128,
            ValType::FuncRef,
            ValType::ExternRef,
        ])
    };
    match rng.below(12) {
        0 if !d.escaping_functions.is_empty() => {
            let i = rng.below(d.escaping_functions.len() as u64) as usize;
            d.escaping_functions.remove(i);
            "escaping: remove".into()
        }
        1 => {
            let v = small(rng);
            d.escaping_functions.push(v);
            format!("escaping: push {v}")
        }
        2 if !d.exports.is_empty() => {
            let e = rng.below(d.exports.len() as u64) as usize;
            d.exports[e].index = small(rng);
            d.exports[e].kind = *rng.pick(&[
                ExportKind::Func,
                ExportKind::Global,
                ExportKind::Memory,
                ExportKind::Table,
            ]);
            "export".into()
        }
        3 if !d.elements.is_empty() => {
            let e = rng.below(d.elements.len() as u64) as usize;
            let seg = &mut d.elements[e];
            match rng.below(3) {
                0 => seg.elem = ty(rng),
                1 => {
                    seg.mode = SegmentMode::Active {
                        index: small(rng),
                        offset: lucet_module::ConstExpr(vec![ConstOp::I32Const(small(rng) as i32)]),
                    }
                }
                _ => match &mut seg.items {
                    ElemItems::Funcs(f) => f.push(small(rng)),
                    ElemItems::Exprs(x) => {
                        x.push(lucet_module::ConstExpr(vec![ConstOp::RefFunc(small(rng))]))
                    }
                },
            }
            "element".into()
        }
        4 if !d.globals.is_empty() => {
            let g = rng.below(d.globals.len() as u64) as usize;
            if rng.chance(1, 2) {
                d.globals[g].ty.ty = ty(rng);
            } else {
                let (f, g2) = (small(rng), small(rng));
                d.globals[g].init.0 = vec![*rng.pick(&[
                    ConstOp::I32Const(0x1234),
                    ConstOp::RefFunc(f),
                    ConstOp::GlobalGet(g2),
                    ConstOp::I64Const(1),
                    ConstOp::RefNull,
                    ConstOp::I32Add,
                ])];
            }
            "global".into()
        }
        5 if !d.data.is_empty() => {
            let s = rng.below(d.data.len() as u64) as usize;
            d.data[s].mode = SegmentMode::Active {
                index: small(rng) % 2,
                offset: lucet_module::ConstExpr(vec![ConstOp::I32Const(small(rng) as i32)]),
            };
            "data".into()
        }
        6 if !d.functions.is_empty() => {
            let f = rng.below(d.functions.len() as u64) as usize;
            d.functions[f].type_index = small(rng);
            "function type".into()
        }
        7 => {
            d.options.heap_guard_size = *rng.pick(&[0, 4096, 1 << 40, !4095]);
            d.options.heap_reserved_size = *rng.pick(&[0, 4 << 30, 1 << 46, !4095]);
            "heap options".into()
        }
        8 if !d.memories.is_empty() => {
            d.memories[0].min_pages = *rng.pick(&[0, 1, 65536, 65537, u64::MAX]);
            "memory".into()
        }
        9 if !d.tables.is_empty() => {
            let t = rng.below(d.tables.len() as u64) as usize;
            d.tables[t].min = small(rng);
            d.tables[t].elem = ty(rng);
            "table".into()
        }
        10 => {
            d.start = Some(small(rng));
            "start".into()
        }
        _ => {
            let v = small(rng);
            if let Some(f) = d.functions.first_mut() {
                f.traps.push(lucet_module::TrapSite {
                    offset: v,
                    code: lucet_module::TrapCode::Unreachable,
                });
            }
            "trap site".into()
        }
    }
}

/// The input of case `seed`: byte mutations of a seed's module data
/// (same length), field mutations, or a valid header and random payload.
pub fn input(seed: u64, seeds: &[Seed]) -> (usize, Vec<u8>, String) {
    let mut rng = Rng::new(seed ^ 0xda7a);
    let s = rng.below(seeds.len() as u64) as usize;
    let base = &seeds[s];
    match rng.below(8) {
        0 => {
            let mut b = base.data[..24].to_vec();
            let n = rng.range(0, 512);
            b[16..24].copy_from_slice(&n.to_le_bytes());
            b.extend(rng.bytes(n as usize));
            (s, b, "header + random payload".into())
        }
        1..=3 => {
            let mut d = base.decoded.clone();
            let what = mutate_fields(&mut rng, &mut d);
            (s, d.serialize(), what)
        }
        _ => {
            let (b, what) = mutate_in_place(&mut rng, &base.data);
            (s, b, what)
        }
    }
}

/// Decode the input of `seed`; if accepted, changed, no longer than the
/// seed's and without a start function, patch it into the shared object,
/// load and instantiate it.
pub fn run_case(seed: u64, seeds: &[Seed], stats: &mut DataStats) {
    let (s, bytes, how) = input(seed, seeds);
    let base = &seeds[s];
    stats.inputs += 1;
    let finding = |kind: &str, detail: String| Finding {
        target: "module-data",
        seed,
        kind: kind.into(),
        detail,
        log: how.clone(),
        input: bytes.clone(),
    };
    let decoded = match catch_unwind(|| ModuleData::deserialize(&bytes)) {
        Err(panic) => {
            stats.add(finding(
                "panic in deserialize",
                crate::panic_message(&panic),
            ));
            return;
        }
        Ok(Err(_)) => return,
        Ok(Ok(d)) => d,
    };
    stats.accepted += 1;
    if bytes == base.data || bytes.len() > base.data.len() || decoded.start.is_some() {
        return;
    }
    // The loader reads the header's payload length and ignores the rest
    // of the symbol: shorter data is padded with zeros.
    let mut so = base.so.clone();
    so[base.at..base.at + bytes.len()].copy_from_slice(&bytes);
    so[base.at + bytes.len()..base.at + base.data.len()].fill(0);
    // Recompute the code hash over the patched file, as an attacker who can
    // write the file could, so the loader's later checks (decode,
    // validate, instantiate) are what is exercised. A header too broken to
    // find the hash in is refused by the loader anyway.
    if lucetc::record_code_hash(&mut so).is_err() {
        return;
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return stats.add(finding("harness", e.to_string())),
    };
    let path = dir.path().join("patched.so");
    if let Err(e) = std::fs::write(&path, &so) {
        return stats.add(finding("harness", e.to_string()));
    }
    let r = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: lucetc's code with mutated module data: what this target
        // checks is that the loader and instantiation refuse or accept
        // such data safely; the code itself is lucetc's.
        let m = unsafe { lucet::load(&path) }.map_err(|e| e.to_string())?;
        lucet::Lucet::instantiate(&m, lucet_runtime::Limits::default())
            .map(|_| ())
            .map_err(|o| o.to_string())
    }));
    match r {
        Err(panic) => stats.add(finding(
            "panic loading or instantiating",
            crate::panic_message(&panic),
        )),
        Ok(r) => {
            stats.instantiated += 1;
            stats.instantiate_refused += r.is_err() as u64;
        }
    }
}
