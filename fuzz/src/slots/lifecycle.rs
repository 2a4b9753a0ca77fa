//! Steps that make, start, reset and drop instances and stores, with what
//! the model says of each outcome: refusals before a slot is taken,
//! traps of segments and start functions, stops by deadline and budget.

use super::model::{Inst, Place, Started};
use super::modules::{ImageKind, Mem, ModuleSpec, Role, Start, Tab, PAGE};
use super::{
    checks::diff, checks::hex, env_linker, outcome, start_outcome, Case, CaseStore, Fail, Limit,
    BUDGET, DEADLINE,
};
use lucet_runtime::Store;
use std::collections::BTreeMap;

impl Case<'_> {
    /// A standalone instance of a random module: observed (checked fresh,
    /// perhaps started) or left silent.
    pub(super) fn new_standalone(&mut self) -> Result<(), Fail> {
        let m = self.pick_module(&[Role::Alone, Role::Exporter], 8);
        let spec = self.modules[m].spec.clone();
        let mem = match spec.memory {
            Mem::Own { min, .. } | Mem::Imported { min } => min as u64 * PAGE,
            Mem::None => 0,
        };
        let tab = match spec.table {
            Tab::Own { min, .. } | Tab::Imported { min } => min as u64,
            Tab::None => 0,
        };
        let (off, toff) = self.offsets(&spec, mem, tab);
        let omit = self
            .rng
            .chance(1, 15)
            .then(|| *self.rng.pick(&["off", "toff"]));
        let mut linker = env_linker(off, toff, omit);
        // A store's exports offered to a standalone instance: refused.
        let mut peer = None;
        if self.rng.chance(1, 2) {
            if let Some(p) = self.pick_inst(|i| i.addressable() && i.place != Place::Standalone) {
                let Place::Store { store, .. } = self.model.insts[&p].place else {
                    unreachable!()
                };
                let cs = &self.stores[&store];
                if let Err(e) = linker.instance(&cs.store, "peer", cs.ids[&p]) {
                    return self.fail("outcome", format!("Linker::instance of #{p}: {e}"));
                }
                peer = Some((p, false));
            }
        }
        let r = self.refusals(&spec, peer, omit.is_some());
        let observe = !self.rng.chance(1, 3);
        let res = self
            .region
            .instantiate_unstarted(&self.modules[m].compiled.module, &linker);
        let got = outcome(&res);
        let what = format!(
            "standalone M{m} off={off:#x} toff={toff:#x}{}{}",
            omit.map(|o| format!(" without env.{o}"))
                .unwrap_or_default(),
            peer.map(|p| format!(" offered #{}'s exports", p.0))
                .unwrap_or_default()
        );
        self.log(format!("{what} -> {got}"));
        if !self.judge_refusal(&got, &r, &what)? {
            return Ok(());
        }
        let id = self.new_inst(m, Place::Standalone, None, off, toff);
        let init = self.model.initialize(id, &spec);
        let mut partial = false;
        let want = match init {
            Ok(()) => "ok".to_string(),
            Err((code, applied)) => {
                partial = applied > 0;
                format!("trap {code:?}")
            }
        };
        if got != want {
            self.model.remove(id);
            return self.fail("outcome", format!("{what}: {got}, the model says {want}"));
        }
        let Ok(instance) = res else {
            // Failed after taking its slot: gone again, with its segments.
            self.model.remove(id);
            self.stats.fail(format!("{got} (standalone)"));
            self.stats.partial_inits += partial as u64;
            return Ok(());
        };
        self.stats.standalone += 1;
        *self
            .stats
            .images
            .entry(format!("{:?}", spec.image()))
            .or_default() += 1;
        self.standalone.insert(id, instance);
        self.model.insts.get_mut(&id).expect("instance").started = if spec.start == Start::None {
            Started::Done
        } else {
            Started::Pending
        };
        if observe {
            self.model.insts.get_mut(&id).expect("instance").silent = false;
            self.check(id, true)?;
            self.log(format!("#{id} is {}", self.slot_name(id)));
            if self.rng.chance(2, 3) {
                return self.start(id);
            }
        } else {
            self.log(format!("#{id} stays silent"));
        }
        Ok(())
    }

    /// Add instance of module `m` to the model (not yet initialized),
    /// importing from `peer`; its id.
    fn new_inst(
        &mut self,
        m: usize,
        place: Place,
        peer: Option<usize>,
        off: u32,
        toff: u32,
    ) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        let spec = &self.modules[m].spec;
        let peer_mem = peer.and_then(|p| self.model.insts[&p].mem);
        let peer_tab = peer.and_then(|p| self.model.insts[&p].tab);
        let inst = Inst {
            id,
            module: m,
            place,
            mem: match spec.memory {
                Mem::None => None,
                Mem::Own { .. } => Some(id),
                Mem::Imported { .. } => peer_mem,
            },
            tab: match spec.table {
                Tab::None => None,
                Tab::Own { .. } => Some(id),
                Tab::Imported { .. } => peer_tab,
            },
            peer,
            cg: spec.cg_init,
            cg_alt: None,
            gi: off as i32,
            off,
            toff,
            started: Started::Pending,
            silent: place == Place::Standalone,
            heap_base: None,
            born: self.step,
            was_reset: false,
            grew: false,
            trapped: false,
        };
        self.model.insts.insert(id, inst);
        id
    }

    /// Set the limit a looping start is stopped by; `None` clears both.
    fn set_limit(&mut self, place: Place, id: usize, limit: Option<Limit>) {
        let deadline = (limit == Some(Limit::Deadline)).then_some(DEADLINE);
        let budget = (limit == Some(Limit::Budget)).then_some(BUDGET);
        match place {
            Place::Standalone => {
                let i = self.standalone.get_mut(&id).expect("live standalone");
                i.set_deadline(deadline);
                i.set_instruction_budget(budget);
            }
            Place::Store { store, .. } => {
                let s = &mut self.stores.get_mut(&store).expect("live store").store;
                s.set_deadline(deadline);
                s.set_instruction_budget(budget);
            }
        }
    }

    /// What stops a looping start of `spec`: a budget only if it counts
    /// instructions.
    fn draw_limit(&mut self, spec: &ModuleSpec) -> Limit {
        if spec.count_instructions && self.rng.chance(1, 2) {
            Limit::Budget
        } else {
            Limit::Deadline
        }
    }

    /// A new, empty store; its number.
    fn new_store(&mut self) -> usize {
        let n = self.next_store;
        self.next_store += 1;
        self.stores.insert(
            n,
            CaseStore {
                store: Store::new(),
                ids: BTreeMap::new(),
                members: Vec::new(),
            },
        );
        self.stats.stores += 1;
        self.log(format!("store {n} made"));
        n
    }

    /// A peer in store `s` for module `m`: mostly one that has what it
    /// imports.
    fn pick_peer(&mut self, s: usize, m: usize) -> Option<usize> {
        let members: Vec<usize> = self.stores[&s].ids.keys().copied().collect();
        let spec = &self.modules[m].spec;
        let fits: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&p| {
                let i = &self.model.insts[&p];
                (!matches!(spec.memory, Mem::Imported { .. }) || i.mem.is_some())
                    && (!matches!(spec.table, Tab::Imported { .. }) || i.tab.is_some())
            })
            .collect();
        let from = if fits.is_empty() || self.rng.chance(1, 6) {
            members
        } else {
            fits
        };
        (!from.is_empty()).then(|| from[self.rng.below(from.len() as u64) as usize])
    }

    /// An instantiation in a store (a new one at times), importing from a
    /// random peer of it (at times of another store, or none).
    pub(super) fn store_instantiate(&mut self) -> Result<(), Fail> {
        if self.stores.is_empty() || (self.stores.len() < 3 && self.rng.chance(1, 8)) {
            self.new_store();
        }
        // Mostly the store with the most instances to import from.
        let mut keys: Vec<usize> = self.stores.keys().copied().collect();
        keys.sort_by_key(|k| std::cmp::Reverse(self.stores[k].ids.len()));
        let s = if self.rng.chance(2, 3) {
            keys[0]
        } else {
            keys[self.rng.below(keys.len() as u64) as usize]
        };
        let m = if !self.stores[&s].ids.is_empty() && self.rng.chance(3, 4) {
            self.pick_module(&[Role::Importer], 6)
        } else {
            self.pick_module(&[Role::Exporter, Role::Alone], 6)
        };
        let mut peer = None;
        if !self.rng.chance(1, 12) {
            peer = self.pick_peer(s, m).map(|p| (p, true));
        }
        if self.rng.chance(1, 12) {
            if let Some(p) = self.pick_inst(|i| {
                i.addressable()
                    && !matches!(i.place, Place::Store { store, .. } if store == s)
                    && i.place != Place::Standalone
            }) {
                peer = Some((p, false));
            }
        }
        self.instantiate_in(s, m, peer)
    }

    /// A new store, an exporter in it and importers of it (if the region
    /// has room for them).
    pub(super) fn store_chain(&mut self) -> Result<(), Fail> {
        let s = self.new_store();
        let e = self.pick_module(&[Role::Exporter], 6);
        self.instantiate_in(s, e, None)?;
        for _ in 0..self.rng.range(1, 3) {
            let m = self.pick_module(&[Role::Importer], 6);
            match self.pick_peer(s, m) {
                Some(p) => self.instantiate_in(s, m, Some((p, true)))?,
                None => break,
            }
        }
        // Then writes through the imported memories.
        let importers: Vec<usize> = self.stores[&s]
            .ids
            .keys()
            .copied()
            .filter(|&i| {
                let i = &self.model.insts[&i];
                i.runnable() && i.mem.is_some_and(|m| m != i.id)
            })
            .collect();
        for i in importers {
            if self.rng.chance(1, 2) {
                self.poke(i)?;
            }
        }
        Ok(())
    }

    /// Instantiate module `m` in store `s`, importing from `peer` (of the
    /// store, or not).
    fn instantiate_in(
        &mut self,
        s: usize,
        m: usize,
        peer: Option<(usize, bool)>,
    ) -> Result<(), Fail> {
        let spec = self.modules[m].spec.clone();
        let peer_id = peer.map(|p| p.0);
        let mem = match spec.memory {
            Mem::Own { min, .. } => min as u64 * PAGE,
            Mem::Imported { min } => peer_id
                .and_then(|p| self.model.mem(p))
                .map_or(min as u64 * PAGE, |m| m.bytes.len() as u64),
            Mem::None => 0,
        };
        let tab = match spec.table {
            Tab::Own { min, .. } => min as u64,
            Tab::Imported { min } => peer_id
                .and_then(|p| self.model.tab(p))
                .map_or(min as u64, |t| t.entries.len() as u64),
            Tab::None => 0,
        };
        let (off, toff) = self.offsets(&spec, mem, tab);
        let omit = self
            .rng
            .chance(1, 20)
            .then(|| *self.rng.pick(&["off", "toff"]));
        let mut linker = env_linker(off, toff, omit);
        if let Some((p, _)) = peer {
            let Place::Store { store, .. } = self.model.insts[&p].place else {
                unreachable!()
            };
            let cs = &self.stores[&store];
            if let Err(e) = linker.instance(&cs.store, "peer", cs.ids[&p]) {
                return self.fail("outcome", format!("Linker::instance of #{p}: {e}"));
            }
        }
        let r = self.refusals(&spec, peer, omit.is_some());
        let bigger = matches!(spec.memory, Mem::Imported { .. })
            && spec.reserved + spec.guard > self.limits.heap_address_space_size
            && r.must.is_empty();
        let limit = self.draw_limit(&spec);
        let looping = spec.start == Start::WriteLoop;
        if looping {
            self.set_limit(
                Place::Store {
                    store: s,
                    addressable: true,
                },
                0,
                Some(limit),
            );
        }
        let module = self.modules[m].compiled.module.clone();
        let res = {
            let cs = self.stores.get_mut(&s).expect("live store");
            cs.store.instantiate(&self.region, &module, &linker)
        };
        if looping {
            self.set_limit(
                Place::Store {
                    store: s,
                    addressable: true,
                },
                0,
                None,
            );
        }
        let got = outcome(&res);
        let what = format!(
            "store {s}: M{m} off={off:#x} toff={toff:#x}{}{}",
            omit.map(|o| format!(" without env.{o}"))
                .unwrap_or_default(),
            match peer {
                Some((p, true)) => format!(" peer #{p}"),
                Some((p, false)) => format!(" peer #{p} of another store"),
                None => String::new(),
            }
        );
        self.log(format!("{what} -> {got}"));
        let took_slot = self.judge_refusal(&got, &r, &what)?;
        if bigger && took_slot {
            self.stats.bigger_guard_accepted += 1;
        } else if bigger && (got == "ImportMismatch" || got == "LimitExceeded") {
            self.stats.bigger_guard_refused += 1;
        }
        if !took_slot {
            return Ok(());
        }
        let place = Place::Store {
            store: s,
            addressable: res.is_ok(),
        };
        let id = self.new_inst(m, place, peer_id, off, toff);
        self.stores
            .get_mut(&s)
            .expect("live store")
            .members
            .push(id);
        let mut before = None;
        let mut partial = false;
        let want = match self.model.initialize(id, &spec) {
            Err((code, applied)) => {
                partial = applied > 0;
                format!("trap {code:?}")
            }
            Ok(()) => {
                before = Some(self.before_start(id, &spec));
                self.model.start(id, &spec);
                start_outcome(&spec, limit)
            }
        };
        if got != want {
            return self.fail("outcome", format!("{what}: {got}, the model says {want}"));
        }
        if let (Some(before), "deadline") = (before, want.as_str()) {
            self.settle_deadline(id, &spec, before)?;
        }
        let inst = self.model.insts.get_mut(&id).expect("instance");
        inst.silent = false;
        match res {
            Ok(iid) => {
                inst.started = Started::Done;
                self.stores
                    .get_mut(&s)
                    .expect("live store")
                    .ids
                    .insert(id, iid);
                self.stats.store_instances += 1;
                *self
                    .stats
                    .images
                    .entry(format!("{:?}", spec.image()))
                    .or_default() += 1;
                for (yes, k) in [
                    (matches!(spec.memory, Mem::Imported { .. }), "memory"),
                    (matches!(spec.table, Tab::Imported { .. }), "table"),
                    (spec.peer_global, "global"),
                    (spec.peer_func, "function"),
                ] {
                    if yes {
                        *self.stats.imports.entry(k).or_default() += 1;
                    }
                }
                self.check(id, false)?;
                self.log(format!("#{id} is {}", self.slot_name(id)));
            }
            Err(_) => {
                inst.started = Started::Failed;
                self.stats.fail(format!("{got} (store)"));
                self.stats.partial_inits += partial as u64;
                self.log(format!("#{id} stays in store {s}, failed"));
            }
        }
        Ok(())
    }

    /// Run the start function of standalone `id`.
    pub(super) fn start(&mut self, id: usize) -> Result<(), Fail> {
        let spec = self.spec(id).clone();
        let limit = self.draw_limit(&spec);
        if spec.start == Start::WriteLoop {
            self.set_limit(Place::Standalone, id, Some(limit));
        }
        let res = self.standalone.get_mut(&id).expect("live").start();
        let got = outcome(&res);
        self.log(format!(
            "#{id}.start() [{:?}{}] -> {got}",
            spec.start,
            if spec.start == Start::WriteLoop {
                format!(" under a {limit:?}")
            } else {
                String::new()
            }
        ));
        let before = self.before_start(id, &spec);
        self.model.start(id, &spec);
        let want = start_outcome(&spec, limit);
        if want == "deadline" && got == want {
            self.settle_deadline(id, &spec, before)?;
        }
        let inst = self.model.insts.get_mut(&id).expect("instance");
        inst.started = if want == "ok" {
            Started::Done
        } else {
            Started::Failed
        };
        if spec.start != Start::None {
            inst.silent = false;
        }
        if got != want {
            return self.fail(
                "outcome",
                format!("#{id}.start(): {got}, the model says {want}"),
            );
        }
        if want != "ok" {
            self.stats.fail(format!("start: {want}"));
        }
        Ok(())
    }

    /// Reset `id`: its own state back to what instantiation made, its
    /// segments and start function again.
    pub(super) fn reset(&mut self, id: usize) -> Result<(), Fail> {
        let spec = self.spec(id).clone();
        let place = self.model.insts[&id].place;
        let limit = self.draw_limit(&spec);
        let looping = spec.start == Start::WriteLoop;
        if looping {
            self.set_limit(place, id, Some(limit));
        }
        let res = match place {
            Place::Standalone => self.standalone.get_mut(&id).expect("live").reset(),
            Place::Store { store, .. } => {
                let cs = self.stores.get_mut(&store).expect("live store");
                let iid = cs.ids[&id];
                cs.store.instance(iid).and_then(|mut i| i.reset())
            }
        };
        if looping && place != Place::Standalone {
            self.set_limit(place, id, None);
        }
        let got = outcome(&res);
        self.stats.resets += 1;
        self.log(format!("#{id}.reset() -> {got}"));
        let init = self.model.initialize(id, &spec);
        let mut before = None;
        let mut partial = false;
        let want = match init {
            Err((code, applied)) => {
                partial = applied > 0;
                format!("trap {code:?}")
            }
            Ok(()) => {
                before = Some(self.before_start(id, &spec));
                self.model.start(id, &spec);
                start_outcome(&spec, limit)
            }
        };
        let inst = self.model.insts.get_mut(&id).expect("instance");
        inst.was_reset = true;
        inst.started = if want == "ok" {
            Started::Done
        } else {
            Started::Failed
        };
        if init.is_ok() && spec.start != Start::None {
            inst.silent = false;
        }
        if got != want {
            return self.fail(
                "outcome",
                format!(
                    "{}.reset(): {got}, the model says {want}",
                    self.describe(id)
                ),
            );
        }
        if let (Some(before), "deadline") = (before, want.as_str()) {
            self.settle_deadline(id, &spec, before)?;
        }
        if want != "ok" {
            self.stats.fail(format!("reset: {want}"));
            self.stats.partial_inits += partial as u64;
        }
        Ok(())
    }

    /// Count what `id` had been through, as it is dropped.
    fn count_drop(&mut self, id: usize) {
        let i = &self.model.insts[&id];
        for (yes, what) in [
            (i.started == Started::Pending, "unstarted"),
            (i.started == Started::Failed, "start failed"),
            (i.trapped, "after a trap"),
            (i.was_reset, "after a reset"),
            (i.grew, "after a grow"),
            (i.silent, "silent"),
        ] {
            if yes {
                *self.stats.drops.entry(what).or_default() += 1;
            }
        }
    }

    /// Drop standalone `id`.
    pub(super) fn drop_standalone(&mut self, id: usize) {
        self.count_drop(id);
        let inst = &self.model.insts[&id];
        let silent = inst.silent;
        let copied = self.modules[inst.module].spec.image() == ImageKind::Segments;
        self.log(format!(
            "drop #{id} ({:?}{})",
            inst.started,
            if silent { ", silent" } else { "" }
        ));
        if silent {
            self.stats.silent_drops += 1;
            self.stats.silent_drops_copied += copied as u64;
        }
        self.standalone.remove(&id);
        self.model.remove(id);
    }

    /// Drop store `s` with all its instances.
    pub(super) fn drop_store(&mut self, s: usize) {
        let cs = self.stores.remove(&s).expect("live store");
        self.log(format!("drop store {s} with {:?}", cs.members));
        drop(cs);
        for id in self.store_members(s) {
            self.count_drop(id);
            self.model.remove(id);
        }
        self.stats.stores_dropped += 1;
    }

    /// The instances the model has in store `s`.
    fn store_members(&self, s: usize) -> Vec<usize> {
        self.model
            .insts
            .values()
            .filter(|i| matches!(i.place, Place::Store { store, .. } if store == s))
            .map(|i| i.id)
            .collect()
    }

    /// Drop everything, then fill every slot with a fresh plain instance,
    /// which must see nothing of the case: zeros.
    pub(super) fn sweep(&mut self) -> Result<(), Fail> {
        self.step += 1;
        let ids: Vec<usize> = self.standalone.keys().copied().collect();
        for id in ids {
            self.drop_standalone(id);
        }
        let stores: Vec<usize> = self.stores.keys().copied().collect();
        for s in stores {
            self.drop_store(s);
        }
        self.check_all()?;
        let linker = env_linker(0, 0, None);
        let mut held = Vec::new();
        for _ in 0..self.region.capacity() {
            let mut i = match self
                .region
                .instantiate_unstarted(&self.plain.module, &linker)
            {
                Ok(i) => i,
                Err(e) => return self.fail("outcome", format!("sweep: a plain instance: {e}")),
            };
            let m = i.memory();
            self.stats.memory_checks += 1;
            self.stats.fresh_checks += 1;
            let hb = m.as_ptr() as usize;
            if let Some((first, last, n)) = diff(m, &vec![0; m.len()]) {
                let end = (first + 16).min(m.len());
                let found = hex(&m[first..end]);
                let who = self.attribute(&m[first..=last.min(first + 63)]);
                let k = self.slot_of(hb)?;
                return self.fail(
                    "memory",
                    format!(
                        "sweep: a fresh plain instance in slot {k} (a zeroed memory) has {n} \
                         nonzero bytes in {first:#x}..={last:#x}: [{found}]{who}"
                    ),
                );
            }
            held.push(i);
        }
        self.log(format!(
            "sweep: {} fresh plain instances, all zero",
            held.len()
        ));
        Ok(())
    }
}
