//! What the model predicts of an instantiation before it takes a slot:
//! the imported offsets a history hands it, and the refusals (missing or
//! mismatched imports, limits, a full region) it must or may meet.

use super::modules::{At, Mem, ModuleSpec, Tab, PAGE};
use super::{before_slot, Case, Fail};

/// What an instantiation must or may be refused for before it takes a slot.
#[derive(Default)]
pub(super) struct Refusals {
    /// It must be refused with one of these.
    pub must: Vec<&'static str>,
    /// It may be refused with one of these (an imported memory under other
    /// heap options than its owner's).
    pub may: Vec<&'static str>,
    /// Why, for the log.
    pub why: Vec<String>,
}

impl Case<'_> {
    /// `env.off`/`env.toff` for an instance of `spec` whose memory and
    /// table have these sizes: a place for its segment at the imported
    /// offset, at times one where it does not fit.
    pub(super) fn offsets(&mut self, spec: &ModuleSpec, mem: u64, tab: u64) -> (u32, u32) {
        let mut at = |len: u64, n: Option<usize>| -> u32 {
            let Some(n) = n.map(|n| n as u64) else {
                return self.rng.below(PAGE) as u32;
            };
            if len < n || self.rng.chance(1, 5) {
                return *self.rng.pick(&[
                    (len + 1).saturating_sub(n),
                    len,
                    len + PAGE,
                    0x8000_0000,
                    0xffff_fff0,
                ]) as u32;
            }
            match self.rng.below(4) {
                0 => 0,
                1 => (len - n) as u32,
                _ => self.rng.below(len - n + 1) as u32,
            }
        };
        let d = spec.data.iter().find(|d| d.at == At::Global);
        let e = spec.elems.iter().find(|e| e.at == At::Global);
        let off = at(mem, d.map(|d| d.bytes.len()));
        let toff = at(tab, e.map(|e| e.funcs.len()));
        (off, toff)
    }

    /// Why an instantiation of `spec` importing from `peer` (of this
    /// store or not) must or may be refused before it takes a slot.
    pub(super) fn refusals(
        &self,
        spec: &ModuleSpec,
        peer: Option<(usize, bool)>,
        omit: bool,
    ) -> Refusals {
        let mut r = Refusals::default();
        let space = self.limits.heap_address_space_size;
        if let Mem::Own { .. } = spec.memory {
            if spec.reserved + spec.guard > space {
                r.must.push("LimitExceeded");
                r.why
                    .push("compiled for more heap address space than a slot has".into());
            }
        }
        if matches!(spec.memory, Mem::Imported { .. }) && spec.reserved + spec.guard > space {
            // Whatever it would import: the runtime may refuse it first.
            r.may.push("ImportMismatch");
            r.may.push("LimitExceeded");
            r.why.push(
                "imports a memory, compiled for more heap address space than a slot has".into(),
            );
        }
        if omit {
            r.must.push("MissingImport");
            r.why.push("an env global left out".into());
        }
        if !spec.imports_peer() {
            return r;
        }
        let Some((p, same_store)) = peer else {
            r.must.push("MissingImport");
            r.why.push("imports a peer, none bound".into());
            return r;
        };
        if !same_store {
            r.must.push("ImportMismatch");
            r.why
                .push(format!("peer #{p} is of another store or instance"));
        }
        let pi = &self.model.insts[&p];
        if let Mem::Imported { min } = spec.memory {
            match pi.mem {
                None => {
                    r.must.push("MissingImport");
                    r.why.push(format!("peer #{p} has no memory"));
                }
                Some(o) => {
                    let len = self.model.mems[&o].bytes.len() as u64;
                    if len < min as u64 * PAGE {
                        r.must.push("ImportMismatch");
                        r.why
                            .push(format!("peer memory of {len} bytes < {min} pages"));
                    }
                    let mine = (spec.reserved, spec.guard);
                    let owner = self.spec(o);
                    let peer = self.spec(p);
                    if mine != (owner.reserved, owner.guard) || mine != (peer.reserved, peer.guard)
                    {
                        r.may.push("ImportMismatch");
                        r.may.push("LimitExceeded");
                        r.why.push(format!(
                            "imports #{o}'s memory (reserved {:#x} guard {:#x}) compiled for reserved {:#x} guard {:#x}",
                            owner.reserved, owner.guard, spec.reserved, spec.guard
                        ));
                    }
                }
            }
        }
        if let Tab::Imported { min } = spec.table {
            match pi.tab {
                None => {
                    r.must.push("MissingImport");
                    r.why.push(format!("peer #{p} has no table"));
                }
                Some(o) => {
                    let len = self.model.tabs[&o].entries.len();
                    if len < min as usize {
                        r.must.push("ImportMismatch");
                        r.why.push(format!("peer table of {len} < {min}"));
                    }
                }
            }
        }
        r
    }

    /// Compare an instantiation's result with what must or may happen
    /// before it takes a slot. `Ok(true)`: it took a slot (its outcome is
    /// for the model of its initialization to judge).
    pub(super) fn judge_refusal(
        &mut self,
        got: &str,
        r: &Refusals,
        what: &str,
    ) -> Result<bool, Fail> {
        let full = self.model.insts.len() >= self.region.capacity();
        let mut allowed: Vec<&str> = r.must.iter().chain(&r.may).copied().collect();
        if full {
            allowed.push("RegionFull");
        }
        if before_slot(got) {
            if !allowed.contains(&got) {
                return self.fail(
                    "outcome",
                    format!(
                        "{what}: refused with {got}, which nothing explains (may: {allowed:?})"
                    ),
                );
            }
            self.stats.fail(got.to_string());
            return Ok(false);
        }
        if !r.must.is_empty() || full {
            let mut must = r.must.clone();
            if full {
                must.push("RegionFull");
            }
            return self.fail(
                "outcome",
                format!(
                    "{what}: {got}, but it must be refused ({must:?}: {})",
                    r.why.join("; ")
                ),
            );
        }
        Ok(true)
    }
}
