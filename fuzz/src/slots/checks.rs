//! Comparing the runtime with the model: every live instance's globals,
//! memory and table entries, and what a start function stopped by a
//! deadline left behind.

use super::modules::ModuleSpec;
use super::{Case, Fail};
use lucet_runtime::Val;
use std::fmt::Write;

/// First and last differing offsets and how many differ.
pub(super) fn diff(found: &[u8], want: &[u8]) -> Option<(usize, usize, usize)> {
    let mut first = None;
    let mut last = 0;
    let mut n = 0;
    for (i, (a, b)) in found.iter().zip(want).enumerate() {
        if a != b {
            first.get_or_insert(i);
            last = i;
            n += 1;
        }
    }
    first.map(|f| (f, last, n))
}

pub(super) fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Case<'_> {
    /// Every live instance against the model, and the region's count.
    pub(super) fn check_all(&mut self) -> Result<(), Fail> {
        let used = self.region.used();
        if used != self.model.insts.len() {
            return self.fail(
                "slot accounting",
                format!(
                    "the region has {used} slots in use, the case holds {} instances",
                    self.model.insts.len()
                ),
            );
        }
        let ids: Vec<usize> = self.model.insts.keys().copied().collect();
        for id in ids {
            self.check(id, false)?;
        }
        Ok(())
    }

    /// `id` against the model: globals, memory (unless silent), table
    /// entries and what it imports (when it can run).
    pub(super) fn check(&mut self, id: usize, fresh: bool) -> Result<(), Fail> {
        let inst = self.model.insts[&id].clone();
        if !inst.addressable() {
            return Ok(());
        }
        let spec = self.spec(id).clone();
        let when = if fresh {
            "fresh instance (nothing of its own has run)"
        } else {
            "instance"
        };
        for (name, want) in [
            ("cg", Val::I32(inst.cg)),
            ("k", Val::I64(spec.k)),
            ("gi", Val::I32(inst.gi)),
        ] {
            match self.global(id, name) {
                Ok(v) if v == want => {}
                got => {
                    return self.fail(
                        "global",
                        format!(
                            "{when} {}: global {name} is {got:?}, expected {want:?}",
                            self.describe(id)
                        ),
                    )
                }
            }
        }
        if let (false, Some(owner)) = (inst.silent, inst.mem) {
            let (hb, found) = self.read_memory(id);
            self.stats.memory_checks += 1;
            self.stats.fresh_checks += fresh as u64;
            if owner == id && self.model.insts[&id].heap_base.is_none() {
                self.slot_of(hb)?;
                self.model.insts.get_mut(&id).expect("instance").heap_base = Some(hb);
            }
            if let Some(detail) = self.memory_diff(owner, &found) {
                return self.fail(
                    "memory",
                    format!(
                        "{when} {}: memory (owned by #{owner}) differs from the model: {detail}",
                        self.describe(id)
                    ),
                );
            }
        }
        // Probes run guest code, which would end a silent instance's
        // silence (the runtime then assumes its heap written).
        if !inst.runnable() || inst.silent {
            return Ok(());
        }
        if let Some(t) = self.model.tab(id).cloned() {
            let size = self.call(id, "tsize", &[])?;
            if size as usize != t.entries.len() {
                return self.fail(
                    "table",
                    format!(
                        "{when} {}: table size {size}, expected {}",
                        self.describe(id),
                        t.entries.len()
                    ),
                );
            }
            for (i, e) in t.entries.iter().enumerate() {
                let got = self.call(id, "tprobe", &[Val::I32(i as i32)])?;
                self.stats.probes += 1;
                let (want, alt) = self.model.probe(*e);
                if got != want && Some(got) != alt {
                    return self.fail(
                        "table",
                        format!(
                            "{when} {}: table entry {i} probes {got:#x}, expected {want:#x} ({e:?})",
                            self.describe(id)
                        ),
                    );
                }
            }
        }
        for (flag, name) in [(spec.peer_global, "pcg"), (spec.peer_func, "pcall")] {
            if !flag {
                continue;
            }
            let peer = inst.peer.expect("peer bound");
            let want = self.model.insts[&peer].cg;
            let got = self.call(id, name, &[])?;
            if got != want {
                return self.fail(
                    "import",
                    format!(
                        "{} reads its peer #{peer}'s cg as {got:#x} through {name}, expected {want:#x}",
                        self.describe(id)
                    ),
                );
            }
        }
        Ok(())
    }

    /// How `found` differs from the model of `owner`'s memory, with a
    /// guess at whose bytes it holds.
    pub(super) fn memory_diff(&self, owner: usize, found: &[u8]) -> Option<String> {
        let want = &self.model.mems[&owner].bytes;
        if found.len() != want.len() {
            return Some(format!("{} bytes, expected {}", found.len(), want.len()));
        }
        let (first, last, n) = diff(found, want)?;
        let end = (first + 16).min(found.len());
        Some(format!(
            "{n} bytes differ in {first:#x}..={last:#x}; at {first:#x} found [{}], expected [{}]{}",
            hex(&found[first..end]),
            hex(&want[first..end]),
            self.attribute(&found[first..=last.min(first + 63)])
        ))
    }

    /// Whose bytes these are, if they look like a canary or a module's data.
    pub(super) fn attribute(&self, bytes: &[u8]) -> String {
        let mut out = String::new();
        for w in bytes.chunks(4) {
            if w.len() == 4 {
                let v = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                if v >> 24 == 0xc5 && (v >> 16) & 0xff == self.tag {
                    let _ = write!(out, "; the canary of #{}", v & 0xffff);
                    break;
                }
            }
        }
        let probe = &bytes[..bytes.len().min(8)];
        if probe.len() >= 4 {
            for (m, cm) in self.modules.iter().enumerate() {
                for (s, d) in cm.spec.data.iter().enumerate() {
                    if let Some(p) = d.bytes.windows(probe.len()).position(|w| w == probe) {
                        let _ = write!(
                            out,
                            "; the bytes of M{m}'s data segment {s} ({:?}) from its byte {p}",
                            d.at
                        );
                        return out;
                    }
                }
            }
        }
        out
    }

    /// A start function stopped by a deadline may have been stopped at
    /// its entry, before it wrote anything (when the deadline passed before
    /// guest code began), or in its loop, after its writes: the model,
    /// which applied them, learns which from what can be seen. `before`:
    /// `cg` and the word at the start address before.
    pub(super) fn settle_deadline(
        &mut self,
        id: usize,
        spec: &ModuleSpec,
        before: (i32, Option<u32>),
    ) -> Result<(), Fail> {
        let inst = self.model.insts[&id].clone();
        if let (Some(owner), Some(word)) = (inst.mem, before.1) {
            let reader = [id, owner]
                .into_iter()
                .find(|r| self.model.insts.get(r).is_some_and(|i| i.addressable()));
            if let Some(r) = reader {
                let (_, m) = self.read_memory(r);
                let a = spec.start_addr as usize;
                let now = u32::from_le_bytes([m[a], m[a + 1], m[a + 2], m[a + 3]]);
                if now == word && now != spec.start_val as u32 {
                    self.model.write(owner, a as u64, word);
                } else if now != spec.start_val as u32 {
                    return self.fail(
                        "memory",
                        format!(
                            "{}: a start function stopped by a deadline left {now:#x} at {a:#x}, \
                             neither what was there ({word:#x}) nor what it writes",
                            self.describe(id)
                        ),
                    );
                }
            }
        }
        if !inst.addressable() {
            // No one can read its `cg`: table probes accept either.
            self.model.insts.get_mut(&id).expect("instance").cg_alt = Some(before.0);
            return Ok(());
        }
        match self.global(id, "cg") {
            Ok(Val::I32(v)) if v == spec.start_cg => Ok(()),
            Ok(Val::I32(v)) if v == before.0 => {
                self.model.insts.get_mut(&id).expect("instance").cg = v;
                Ok(())
            }
            got => self.fail(
                "global",
                format!(
                    "{}: after a start function stopped by a deadline, cg is {got:?}: \
                     neither {:#x} nor {:#x}",
                    self.describe(id),
                    before.0,
                    spec.start_cg
                ),
            ),
        }
    }

    /// `cg` and the start address's word of `id` before its start runs.
    pub(super) fn before_start(&self, id: usize, spec: &ModuleSpec) -> (i32, Option<u32>) {
        (
            self.model.insts[&id].cg,
            self.model.word(id, spec.start_addr),
        )
    }
}
