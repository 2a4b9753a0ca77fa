//! Steps that write: canaries into memories, globals and tables, pokes
//! (in bounds, just past the memory, far past it, into the next slot), and
//! grows of memories and tables.

use super::model::Entry;
use super::modules::{PAGE, WILD_OFFSET};
use super::{outcome, Case, Fail};
use lucet_runtime::Val;
use std::fmt::Write;

impl Case<'_> {
    /// Write `id`'s canary into its memory (a few places), its `cg` and an
    /// entry of its table.
    pub(super) fn write_canary(&mut self, id: usize) -> Result<(), Fail> {
        let c = self.canary(id);
        let cg = (c & 0xff_ffff) as i32;
        self.call(id, "set_cg", &[Val::I32(cg)])?;
        self.model.insts.get_mut(&id).expect("instance").cg = cg;
        let mut wrote = Vec::new();
        if let Some(owner) = self.model.insts[&id].mem {
            let len = self.model.mems[&owner].bytes.len() as u64;
            for _ in 0..self.rng.range(1, 3) {
                let addr = match self.rng.below(4) {
                    0 => 0,
                    1 => len - 4,
                    _ => self.rng.below(len / 4) * 4,
                };
                self.call(id, "w", &[Val::I32(addr as i32), Val::I32(c as i32)])?;
                self.model.write(owner, addr, c);
                wrote.push(format!("{addr:#x}"));
            }
            // One past the end traps, and writes nothing.
            let addr = len - self.rng.range(0, 3);
            let r = self.run(id, "w", &[Val::I32(addr as i32), Val::I32(c as i32)]);
            self.model.insts.get_mut(&id).expect("instance").trapped = true;
            if outcome(&r) != "trap HeapOutOfBounds" {
                return self.fail(
                    "outcome",
                    format!(
                        "{}.w({addr:#x}) past its {len}-byte memory: {}",
                        self.describe(id),
                        outcome(&r)
                    ),
                );
            }
        }
        if let Some(owner) = self.model.insts[&id].tab {
            let n = self.model.tabs[&owner].entries.len() as u64;
            if n > 0 {
                let i = self.rng.below(n);
                let f = (c & 3) as u8;
                self.call(id, "tset", &[Val::I32(i as i32), Val::I32(f as i32)])?;
                self.model.tabs.get_mut(&owner).expect("table").entries[i as usize] =
                    Some(Entry { func: f, owner: id });
                wrote.push(format!("table[{i}]"));
            }
        }
        self.stats.canaries += 1;
        self.log(format!("#{id} canary {c:#x} -> cg, {}", wrote.join(", ")));
        Ok(())
    }

    /// A `poke` (a store with the module's static offset): inside the
    /// memory, just past it, far past it, or aimed at the next slot's
    /// stack or heap. Everything past the memory must trap.
    pub(super) fn poke(&mut self, id: usize) -> Result<(), Fail> {
        let spec = self.spec(id).clone();
        let owner = self.model.insts[&id].mem.expect("memory");
        let len = self.model.mems[&owner].bytes.len() as u64;
        let off = spec.poke_offset as u64;
        let c = self.canary(id);
        let mut aim = String::new();
        // A module compiled for the wild offset aims at the next slot more.
        let wild = spec.poke_offset == WILD_OFFSET;
        let mut addr = match self.rng.below(if wild { 10 } else { 6 }) {
            0 | 5 if off + 4 <= len => self.rng.below((len - off) / 4) * 4,
            1 => len.saturating_sub(off),
            2 => *self.rng.pick(&[0xffff_fffc, 0xffff_0000, 0x8000_0000]),
            _ => u64::MAX,
        };
        let hb = self.heap_base_of(owner)?;
        let k = self.slot_of(hb)?;
        if addr == u64::MAX {
            // The next slot: its stack's low end, or its tenant's heap
            // (from the last slot: as far as the region goes).
            addr = 0xffff_fffc;
            if k + 1 < self.region.capacity() {
                let next = self.base + (k + 1) * self.slot_size;
                let tenant = self.model.insts.values().find(|i| {
                    i.mem == Some(i.id)
                        && i.heap_base
                            .is_some_and(|b| self.slot_of(b).ok() == Some(k + 1))
                });
                let (target, what) = match tenant {
                    Some(t) if self.rng.chance(2, 3) => {
                        let x = *self.rng.pick(&[0x100u64, 0, 0x2000]);
                        (
                            next + 4096 + self.stack + x as usize,
                            format!("#{}'s heap at {x:#x} in slot {}", t.id, k + 1),
                        )
                    }
                    _ => (
                        next + 4096 + 0x2000,
                        format!("the low end of slot {}'s stack", k + 1),
                    ),
                };
                let eff = (target - hb) as u64;
                if eff >= off && eff - off <= 0xffff_fffc {
                    addr = eff - off;
                    aim = format!(" aimed at {what}");
                    self.stats.wild_next_slot += 1;
                }
            }
        }
        // Never past the region's end: a write that escapes its slot must
        // land in another slot (where the checks see it), not in memory
        // of the test itself.
        let room = (self.base + self.region.capacity() * self.slot_size - hb) as u64;
        if addr + off + 4 > room {
            addr = room - 4 - off;
        }
        let eff = addr + off;
        let inside = eff + 4 <= len;
        let res = self.run(
            id,
            "poke",
            &[Val::I32(addr as u32 as i32), Val::I32(c as i32)],
        );
        let got = outcome(&res);
        self.log(format!(
            "#{id}.poke({addr:#x}) offset {off:#x} = heap + {eff:#x} of #{owner}'s {len:#x}{aim} -> {got}"
        ));
        if inside {
            if got != "ok" {
                return self.fail(
                    "outcome",
                    format!(
                        "{}: an in-bounds poke at {eff:#x}: {got}",
                        self.describe(id)
                    ),
                );
            }
            self.model.write(owner, eff, c);
            self.stats.pokes_in_bounds += 1;
            return Ok(());
        }
        if got == "trap HeapOutOfBounds" {
            self.model.insts.get_mut(&id).expect("instance").trapped = true;
            self.stats.wild_writes += 1;
            if spec.reserved + spec.guard > self.limits.heap_address_space_size {
                self.stats.wild_bigger_guard += 1;
            }
            return Ok(());
        }
        // Say what else the write reached.
        let mut also = String::new();
        let ids: Vec<usize> = self.model.insts.keys().copied().collect();
        for o in ids {
            let i = &self.model.insts[&o];
            if o == id || !i.addressable() || i.silent || i.mem != Some(o) {
                continue;
            }
            let (_, found) = self.read_memory(o);
            if let Some(d) = self.memory_diff(o, &found) {
                let _ = write!(also, "; and {}'s memory now differs: {d}", self.describe(o));
            }
        }
        let imported = if owner == id {
            String::new()
        } else {
            format!(
                " (imported from {}, which was compiled with reserved {:#x} guard {:#x})",
                self.describe(owner),
                self.spec(owner).reserved,
                self.spec(owner).guard
            )
        };
        self.fail(
            "isolation",
            format!(
                "wild write not stopped: {} (compiled with reserved {:#x} guard {:#x}) poke({addr:#x}) with static offset {off:#x} \
                 stores at heap base + {eff:#x}{aim}, past its {len:#x}-byte memory{imported}, \
                 whose slot reserves {:#x} bytes of heap: {got}, expected trap HeapOutOfBounds{also}",
                self.describe(id),
                spec.reserved,
                spec.guard,
                self.limits.heap_address_space_size
            ),
        )
    }

    /// The heap base of `owner` (an instance with a memory of its own,
    /// which the host may look at: it is not silent, or is about to run).
    fn heap_base_of(&mut self, owner: usize) -> Result<usize, Fail> {
        if let Some(hb) = self.model.insts[&owner].heap_base {
            return Ok(hb);
        }
        let (hb, _) = self.read_memory(owner);
        self.slot_of(hb)?;
        self.model
            .insts
            .get_mut(&owner)
            .expect("instance")
            .heap_base = Some(hb);
        Ok(hb)
    }

    /// `memory.grow` by a few pages, or by more than can be.
    pub(super) fn grow(&mut self, id: usize) -> Result<(), Fail> {
        let owner = self.model.insts[&id].mem.expect("memory");
        let m = &self.model.mems[&owner];
        let pages = m.bytes.len() as u64 / PAGE;
        let max = m.max_pages;
        let delta = if pages >= 6 {
            *self.rng.pick(&[0u64, 65536])
        } else {
            *self.rng.pick(&[0u64, 1, 1, 2, 65536])
        };
        let want = if pages + delta <= max {
            pages as i32
        } else {
            -1
        };
        let got = self.call(id, "grow", &[Val::I32(delta as i32)])?;
        self.log(format!(
            "#{id}.grow({delta}) of #{owner}'s {pages} pages -> {got}"
        ));
        if got != want {
            return self.fail(
                "outcome",
                format!(
                    "{}.grow({delta}) of {pages} pages (max {max}): {got}, expected {want}",
                    self.describe(id)
                ),
            );
        }
        if want < 0 {
            self.stats.grows_refused += 1;
        } else {
            self.stats.grows += 1;
            self.model.insts.get_mut(&id).expect("instance").grew = true;
            let m = self.model.mems.get_mut(&owner).expect("memory");
            m.bytes.resize(((pages + delta) * PAGE) as usize, 0);
        }
        Ok(())
    }

    /// `table.grow` by a few null entries, or by more than can be.
    pub(super) fn table_grow(&mut self, id: usize) -> Result<(), Fail> {
        let owner = self.model.insts[&id].tab.expect("table");
        let t = &self.model.tabs[&owner];
        let n = t.entries.len() as u64;
        let max = t.max as u64;
        let delta = if n >= 10 {
            *self.rng.pick(&[0u64, 2_000_000])
        } else {
            *self.rng.pick(&[0u64, 1, 2, 2_000_000])
        };
        let want = if n + delta <= max { n as i32 } else { -1 };
        let got = self.call(id, "tgrow", &[Val::I32(delta as i32)])?;
        self.log(format!("#{id}.tgrow({delta}) of #{owner}'s {n} -> {got}"));
        if got != want {
            return self.fail(
                "outcome",
                format!(
                    "{}.tgrow({delta}) of {n} (max {max}): {got}, expected {want}",
                    self.describe(id)
                ),
            );
        }
        if want < 0 {
            self.stats.table_grows_refused += 1;
        } else {
            self.stats.table_grows += 1;
            self.model.insts.get_mut(&id).expect("instance").grew = true;
            let t = self.model.tabs.get_mut(&owner).expect("table");
            t.entries.resize((n + delta) as usize, None);
        }
        Ok(())
    }
}
