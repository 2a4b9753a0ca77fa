//! Generated slot histories: instances of generated modules come and go in
//! the slots of one small `Region`, alone and in stores that import each
//! other's memories, tables, globals and functions, and nothing one does
//! may show in another's state.
//!
//! A case is a pure function of its seed: a region of 3-6 slots (default
//! limits; at times a 64 MiB heap guard, or other resident-heap sizes), a
//! handful of modules drawn by [`modules`] (random heap reservation and
//! guard, copied, mapped or no heap images, data and element segments at
//! constant and imported offsets, tables, start functions that write, trap
//! or loop), then a random history: standalone instances (observed, or
//! left silent: never run nor looked at), store instantiations with random
//! import graphs, instantiations that fail at every point (missing or
//! mismatched imports, limits, a full region, a trapping element or data
//! segment after an earlier one applied, a trapping start, a looping start
//! stopped by a deadline or an instruction budget), canaries (unique per
//! instance) written into memories, globals and tables, wild writes aimed
//! past the memory owner's slot into the next one's stack or heap, grows,
//! resets, starts, drops of instances and of whole stores; at the end, a
//! fresh instance in every slot.
//!
//! [`model`] holds what each live instance must contain. After every step
//! every instance is compared with it (memory byte for byte unless silent,
//! globals, table entries through `tprobe`, imports through
//! `pcg`/`pcall`), a fresh instance before it runs anything: zeros plus its
//! own segments, globals at their initialisers, tables holding their
//! segments' functions. Runtime outcomes (errors, traps, grow results) must
//! be those the model predicts. Importing a memory under other heap
//! options than its owner's may be refused; a wild write that does not
//! trap never passes. The steps are in `lifecycle` (making, starting,
//! resetting and dropping instances and stores) and `writes` (canaries,
//! pokes, grows), what an instantiation must or may be refused for in
//! `refusals`, the comparisons in `checks`.

mod checks;
mod lifecycle;
pub mod model;
pub mod modules;
mod refusals;
mod writes;

use crate::rng::Rng;
use crate::{panic_message, Finding};
use lucet_runtime::{
    Error, Global, GlobalType, Instance, InstanceId, Limits, Linker, Region, Store, Termination,
    Val, ValType,
};
use model::{Inst, Model, Place, Started};
use modules::{Compiled, ModuleSpec, Role, Start};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

/// Counts over a campaign: what the histories did, so a test can check
/// the generator still does it.
#[derive(Clone, Debug, Default)]
pub struct SlotStats {
    /// Cases run.
    pub cases: u64,
    /// Steps taken.
    pub steps: u64,
    /// Modules compiled (not found in the process-wide cache).
    pub compiled: u64,
    /// Time spent compiling and loading them.
    pub compile_time: Duration,
    /// Standalone instances made.
    pub standalone: u64,
    /// Store instances made (instantiations that returned an id).
    pub store_instances: u64,
    /// Stores made.
    pub stores: u64,
    /// Stores dropped whole.
    pub stores_dropped: u64,
    /// Failed instantiations (and resets) by what stopped them.
    pub failed: BTreeMap<String, u64>,
    /// Instantiated modules by heap image.
    pub images: BTreeMap<String, u64>,
    /// Imports bound in successful store instantiations, by kind.
    pub imports: BTreeMap<&'static str, u64>,
    /// Memories imported by a module compiled for more heap address space
    /// than the region's slots reserve: accepted.
    pub bigger_guard_accepted: u64,
    /// Likewise, refused (the runtime's right).
    pub bigger_guard_refused: u64,
    /// Instantiations that trapped on a segment after applying an earlier
    /// one.
    pub partial_inits: u64,
    /// Instances dropped (alone or with their store) by what they had been
    /// through: unstarted, start failed, after a trap, after a reset,
    /// after a grow, silent.
    pub drops: BTreeMap<&'static str, u64>,
    /// Standalone instances dropped silent: neither run nor looked at.
    pub silent_drops: u64,
    /// Of those, with data segments copied by instantiation (no image).
    pub silent_drops_copied: u64,
    /// Resets.
    pub resets: u64,
    /// `memory.grow`s that grew, and that were refused.
    pub grows: u64,
    /// See `grows`.
    pub grows_refused: u64,
    /// `table.grow`s that grew, and that were refused.
    pub table_grows: u64,
    /// See `table_grows`.
    pub table_grows_refused: u64,
    /// Canaries written (each into memory, `cg` and a table entry).
    pub canaries: u64,
    /// In-bounds `poke`s (the large static offset inside the memory).
    pub pokes_in_bounds: u64,
    /// Wild writes: `poke`s past the memory, which all trapped.
    pub wild_writes: u64,
    /// Of those, aimed at the next slot's stack or heap.
    pub wild_next_slot: u64,
    /// Of those, from an instance whose imported memory it was compiled
    /// with a bigger guard (or reservation) for than the slot reserves.
    pub wild_bigger_guard: u64,
    /// Memories compared byte for byte with the model.
    pub memory_checks: u64,
    /// Of those, of instances that had not run anything yet.
    pub fresh_checks: u64,
    /// Table entries probed.
    pub probes: u64,
    /// Isolation failures, wrong outcomes, panics.
    pub findings: Vec<Finding>,
    /// Findings so far (including those already taken out of `findings`).
    pub found: u64,
}

impl SlotStats {
    /// Record a finding.
    pub fn add(&mut self, f: Finding) {
        self.found += 1;
        self.findings.push(f);
    }

    fn fail(&mut self, what: String) {
        *self.failed.entry(what).or_default() += 1;
    }

    /// One line of figures.
    pub fn summary(&self) -> String {
        format!(
            "slots: {} cases, {} steps, {} modules compiled in {:.1?}; {} standalone and {} store instances in {} stores ({} dropped whole); \
             failed instantiations {:?} ({} after an earlier segment); images {:?}; imports {:?}; \
             bigger-guard memory imports {} accepted, {} refused; drops {:?}; \
             {} silent drops ({} with copied segments); {} resets; grows {}+{} refused, table grows {}+{} refused; \
             {} canaries; pokes {} in bounds, {} wild ({} at the next slot, {} through a bigger guard), all trapped; \
             {} memory checks ({} fresh), {} table probes; {} findings",
            self.cases,
            self.steps,
            self.compiled,
            self.compile_time,
            self.standalone,
            self.store_instances,
            self.stores,
            self.stores_dropped,
            self.failed,
            self.partial_inits,
            self.images,
            self.imports,
            self.bigger_guard_accepted,
            self.bigger_guard_refused,
            self.drops,
            self.silent_drops,
            self.silent_drops_copied,
            self.resets,
            self.grows,
            self.grows_refused,
            self.table_grows,
            self.table_grows_refused,
            self.canaries,
            self.pokes_in_bounds,
            self.wild_writes,
            self.wild_next_slot,
            self.wild_bigger_guard,
            self.memory_checks,
            self.fresh_checks,
            self.probes,
            self.found
        )
    }
}

/// What broke: a kind and a description.
struct Fail {
    kind: &'static str,
    detail: String,
}

fn fail<T>(kind: &'static str, detail: String) -> Result<T, Fail> {
    Err(Fail { kind, detail })
}

/// The history so far and the modules, kept outside the case so a panic
/// leaves them readable.
#[derive(Default)]
struct Record {
    log: Vec<String>,
    modules: Vec<String>,
    wat: String,
}

/// Run the case of `seed`.
pub fn run_case(seed: u64, stats: &mut SlotStats) {
    stats.cases += 1;
    let mut rec = Record::default();
    let outcome = catch_unwind(AssertUnwindSafe(|| history(seed, stats, &mut rec)));
    let failure = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(f)) => f,
        Err(p) => Fail {
            kind: "panic",
            detail: panic_message(&p),
        },
    };
    let mut log = String::from("modules:\n");
    for (i, m) in rec.modules.iter().enumerate() {
        let _ = writeln!(log, "  M{i}: {m}");
    }
    log.push_str("history:\n");
    for l in &rec.log {
        let _ = writeln!(log, "  {l}");
    }
    let _ = write!(log, "FAILED ({}): {}", failure.kind, failure.detail);
    stats.add(Finding {
        target: "slots",
        seed,
        kind: failure.kind.to_string(),
        detail: failure.detail,
        log,
        input: rec.wat.into_bytes(),
    });
}

/// Error kinds as the model names them.
fn kind(e: &Error) -> String {
    match e {
        Error::MissingImport { .. } => "MissingImport".into(),
        Error::ImportMismatch { .. } => "ImportMismatch".into(),
        Error::LimitExceeded(_) => "LimitExceeded".into(),
        Error::RegionFull(_) => "RegionFull".into(),
        Error::InvalidState(_) => "InvalidState".into(),
        Error::Trap(t) => format!("trap {:?}", t.code),
        Error::Terminated(Termination::Deadline { .. }) => "deadline".into(),
        Error::Terminated(Termination::InstructionBudget { .. }) => "budget".into(),
        other => format!("error: {other}"),
    }
}

/// Errors an instantiation returns before it takes a slot (or for want
/// of one).
fn before_slot(k: &str) -> bool {
    matches!(
        k,
        "MissingImport" | "ImportMismatch" | "LimitExceeded" | "RegionFull"
    )
}

fn outcome<T>(r: &Result<T, Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => kind(e),
    }
}

/// What a step does to an existing instance.
#[derive(Clone, Copy)]
enum Act {
    Canary,
    Poke,
    Grow,
    TableGrow,
    Reset,
    Start,
    Drop,
}

/// What may stop a looping start function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    Deadline,
    Budget,
}

const DEADLINE: Duration = Duration::from_millis(5);
const BUDGET: u64 = 10_000;

/// How the start function of `spec` ends under `limit`.
fn start_outcome(spec: &ModuleSpec, limit: Limit) -> String {
    match spec.start {
        Start::None | Start::Write => "ok".into(),
        Start::WriteTrap => "trap Unreachable".into(),
        Start::WriteLoop => match limit {
            Limit::Deadline => "deadline".into(),
            Limit::Budget => "budget".into(),
        },
    }
}

struct CaseModule {
    spec: ModuleSpec,
    role: Role,
    compiled: Arc<Compiled>,
}

struct CaseStore {
    store: Store,
    ids: BTreeMap<usize, InstanceId>,
    members: Vec<usize>,
}

struct Case<'a> {
    rng: Rng,
    region: Region,
    limits: Limits,
    /// Address of slot 0 (its guard page), slot size, stack size.
    base: usize,
    slot_size: usize,
    stack: usize,
    modules: Vec<CaseModule>,
    plain: Arc<Compiled>,
    model: Model,
    standalone: BTreeMap<usize, Instance>,
    stores: BTreeMap<usize, CaseStore>,
    next_id: usize,
    next_store: usize,
    step: usize,
    tag: u32,
    stats: &'a mut SlotStats,
    rec: &'a mut Record,
}

fn history(seed: u64, stats: &mut SlotStats, rec: &mut Record) -> Result<(), Fail> {
    let mut rng = Rng::new(seed ^ 0x5107_5107);
    let capacity = rng.range(3, 6) as usize;
    let limits = Limits {
        heap_address_space_size: if rng.chance(1, 6) {
            (4 << 30) + (64 << 20)
        } else {
            Limits::default().heap_address_space_size
        },
        heap_keep_resident: *rng.pick(&[1 << 20, 1 << 20, 1 << 20, 64 << 10, 0]),
        ..Limits::default()
    };
    let region = match Region::new(capacity, limits) {
        Ok(r) => r,
        Err(e) => return fail("region", format!("Region::new: {e}")),
    };
    let mut modules = Vec::new();
    let n = rng.range(4, 6);
    for i in 0..n {
        let role = match i {
            0 => Role::Alone,
            1 => Role::Exporter,
            2 => Role::Importer,
            _ => *rng.pick(&[Role::Alone, Role::Exporter, Role::Importer, Role::Importer]),
        };
        let spec = ModuleSpec::draw(&mut rng, role, seed.wrapping_mul(64).wrapping_add(i * 8));
        rec.modules.push(format!("{role:?}: {}", spec.describe()));
        let _ = write!(rec.wat, ";; M{i}\n{}\n", spec.wat());
        let compiled = load(&spec, stats)?;
        modules.push(CaseModule {
            spec,
            role,
            compiled,
        });
    }
    let plain = load(&ModuleSpec::plain(4), stats)?;
    rec.log.push(format!(
        "region: {capacity} slots, heap address space {:#x}, keep resident {:#x}",
        limits.heap_address_space_size, limits.heap_keep_resident
    ));
    let stack = (limits.stack_size + limits.hostcall_stack_reserve).next_multiple_of(4096);
    let mut case = Case {
        rng,
        base: 0,
        slot_size: 4096 + stack + limits.heap_address_space_size as usize,
        stack,
        region,
        limits,
        modules,
        plain,
        model: Model::default(),
        standalone: BTreeMap::new(),
        stores: BTreeMap::new(),
        next_id: 0,
        next_store: 0,
        step: 0,
        tag: (seed as u32) & 0xff,
        stats,
        rec,
    };
    case.find_base()?;
    let steps = case.rng.range(20, 40);
    for _ in 0..steps {
        case.step += 1;
        case.stats.steps += 1;
        case.random_step()?;
        case.check_all()?;
    }
    case.sweep()
}

/// `spec` compiled (or from the cache); a refusal by lucetc is a finding.
fn load(spec: &ModuleSpec, stats: &mut SlotStats) -> Result<Arc<Compiled>, Fail> {
    let t = std::time::Instant::now();
    let r = modules::compile(spec);
    stats.compile_time += t.elapsed();
    match r {
        Ok((c, fresh)) => {
            stats.compiled += fresh as u64;
            Ok(c)
        }
        Err(e) => fail("compile", format!("{e}\n{}", spec.wat())),
    }
}

/// A linker with the host globals every module imports (`omit` left out).
fn env_linker(off: u32, toff: u32, omit: Option<&str>) -> Linker {
    let mut l = Linker::new();
    let ty = GlobalType {
        ty: ValType::I32,
        mutable: false,
        ref_type: None,
    };
    for (name, v) in [("off", off), ("toff", toff)] {
        if omit != Some(name) {
            let g = Global::new(ty, Val::I32(v as i32)).expect("an immutable i32 global");
            l.define("env", name, lucet_runtime::Extern::Global(g));
        }
    }
    l
}

impl Case<'_> {
    fn log(&mut self, line: String) {
        self.rec.log.push(format!("s{}: {line}", self.step));
    }

    fn fail<T>(&self, kind: &'static str, detail: String) -> Result<T, Fail> {
        fail(kind, format!("step {}: {detail}", self.step))
    }

    fn spec(&self, id: usize) -> &ModuleSpec {
        &self.modules[self.model.insts[&id].module].spec
    }

    /// The canary of instance `id`: unique in the case, and recognisable
    /// (`0xc5` in its top byte, the id in its low 16 bits).
    fn canary(&self, id: usize) -> u32 {
        0xc500_0000 | (self.tag << 16) | (id as u32 & 0xffff)
    }

    /// Slot 0's address: a plain instance takes slot 0 of a fresh region.
    fn find_base(&mut self) -> Result<(), Fail> {
        let linker = env_linker(0, 0, None);
        let mut i = match self
            .region
            .instantiate_unstarted(&self.plain.module, &linker)
        {
            Ok(i) => i,
            Err(e) => return fail("probe", format!("instantiating a plain module: {e}")),
        };
        let hb = i.memory().as_ptr() as usize;
        self.base = hb - 4096 - self.stack;
        self.rec.log.push(format!(
            "slot 0 at {:#x}, {:#x} bytes a slot",
            self.base, self.slot_size
        ));
        Ok(())
    }

    /// Which slot a heap base is in; a base off the layout is a finding
    /// (the test's layout assumptions, or the runtime's, are wrong).
    fn slot_of(&self, hb: usize) -> Result<usize, Fail> {
        let rel = hb.wrapping_sub(self.base + 4096 + self.stack);
        let k = rel / self.slot_size;
        if !rel.is_multiple_of(self.slot_size) || k >= self.region.capacity() {
            return self.fail(
                "layout",
                format!(
                    "heap base {hb:#x} is not a slot's heap base (slot 0 at {:#x})",
                    self.base
                ),
            );
        }
        Ok(k)
    }

    fn slot_name(&self, id: usize) -> String {
        let owner = self.model.insts.get(&id).and_then(|i| i.mem);
        match owner.and_then(|o| self.model.insts.get(&o)?.heap_base) {
            Some(hb) if owner == Some(id) => self
                .slot_of(hb)
                .map_or("slot ?".into(), |k| format!("slot {k}")),
            _ => "slot ?".into(),
        }
    }

    fn describe(&self, id: usize) -> String {
        let i = &self.model.insts[&id];
        let place = match i.place {
            Place::Standalone => "standalone".into(),
            Place::Store { store, .. } => format!("store {store}"),
        };
        format!(
            "#{id} (M{}, {place}, {}, made in s{})",
            i.module,
            self.slot_name(id),
            i.born
        )
    }

    /// Run export `name` of `id` (which is then no longer silent).
    fn run(&mut self, id: usize, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        self.model.insts.get_mut(&id).expect("instance").silent = false;
        match self.model.insts[&id].place {
            Place::Standalone => self
                .standalone
                .get_mut(&id)
                .expect("live standalone")
                .run(name, args),
            Place::Store { store, .. } => {
                let cs = self.stores.get_mut(&store).expect("live store");
                let iid = cs.ids[&id];
                cs.store.instance(iid)?.run(name, args)
            }
        }
    }

    /// Call an export that must return; its i32 result, if any.
    fn call(&mut self, id: usize, name: &str, args: &[Val]) -> Result<i32, Fail> {
        match self.run(id, name, args) {
            Ok(v) => Ok(v.first().and_then(Val::as_i32).unwrap_or(0)),
            Err(e) => self.fail(
                "outcome",
                format!("{}.{name}{args:?} failed: {e}", self.describe(id)),
            ),
        }
    }

    fn global(&mut self, id: usize, name: &str) -> Result<Val, Error> {
        match self.model.insts[&id].place {
            Place::Standalone => self.standalone[&id].global(name),
            Place::Store { store, .. } => {
                let cs = self.stores.get_mut(&store).expect("live store");
                let iid = cs.ids[&id];
                cs.store.instance(iid)?.global(name)
            }
        }
    }

    /// A copy of `id`'s memory and its base address. Hands the memory to
    /// the host: the instance is no longer silent.
    fn read_memory(&mut self, id: usize) -> (usize, Vec<u8>) {
        self.model.insts.get_mut(&id).expect("instance").silent = false;
        match self.model.insts[&id].place {
            Place::Standalone => {
                let m = self.standalone.get_mut(&id).expect("live").memory();
                (m.as_ptr() as usize, m.to_vec())
            }
            Place::Store { store, .. } => {
                let cs = self.stores.get_mut(&store).expect("live store");
                let iid = cs.ids[&id];
                let mut im = cs.store.instance(iid).expect("an instance of its store");
                let m = im.memory();
                (m.as_ptr() as usize, m.to_vec())
            }
        }
    }

    fn pick_inst(&mut self, f: impl Fn(&Inst) -> bool) -> Option<usize> {
        let c: Vec<usize> = self
            .model
            .insts
            .values()
            .filter(|i| f(i))
            .map(|i| i.id)
            .collect();
        (!c.is_empty()).then(|| c[self.rng.below(c.len() as u64) as usize])
    }

    /// One step, drawn: mostly instantiations, canaries and pokes; drops
    /// when the region is full.
    fn random_step(&mut self) -> Result<(), Fail> {
        let full = self.model.insts.len() >= self.region.capacity();
        let mut r = self.rng.below(100);
        if full && self.rng.chance(3, 4) {
            r = 80 + self.rng.below(20);
        }
        let pick = match r {
            0..=13 => return self.new_standalone(),
            14..=33 => return self.store_instantiate(),
            34..=39 => return self.store_chain(),
            40..=51 => self.pick_inst(|i| i.runnable()).map(|id| (Act::Canary, id)),
            // Pokes, mostly through imported memories, by modules compiled
            // for more heap address space than a slot has first.
            52..=57 => {
                let space = self.limits.heap_address_space_size;
                let bigger: Vec<bool> = self
                    .modules
                    .iter()
                    .map(|m| m.spec.reserved + m.spec.guard > space)
                    .collect();
                let importing = |i: &Inst| i.runnable() && i.mem.is_some_and(|m| m != i.id);
                self.pick_inst(|i| importing(i) && bigger[i.module])
                    .or_else(|| self.pick_inst(importing))
                    .or_else(|| self.pick_inst(|i| i.runnable() && i.mem.is_some()))
                    .map(|id| (Act::Poke, id))
            }
            58..=63 => self
                .pick_inst(|i| i.runnable() && i.mem.is_some())
                .map(|id| (Act::Poke, id)),
            64..=68 => self
                .pick_inst(|i| i.runnable() && i.mem.is_some())
                .map(|id| (Act::Grow, id)),
            69..=72 => self
                .pick_inst(|i| i.runnable() && i.tab.is_some())
                .map(|id| (Act::TableGrow, id)),
            73..=77 => self
                .pick_inst(|i| i.addressable())
                .map(|id| (Act::Reset, id)),
            78..=81 => self
                .pick_inst(|i| i.place == Place::Standalone && i.started == Started::Pending)
                .map(|id| (Act::Start, id)),
            82..=93 => self
                .pick_inst(|i| i.place == Place::Standalone)
                .map(|id| (Act::Drop, id)),
            _ => None,
        };
        match pick {
            Some((Act::Canary, id)) => self.write_canary(id),
            Some((Act::Poke, id)) => self.poke(id),
            Some((Act::Grow, id)) => self.grow(id),
            Some((Act::TableGrow, id)) => self.table_grow(id),
            Some((Act::Reset, id)) => self.reset(id),
            Some((Act::Start, id)) => self.start(id),
            Some((Act::Drop, id)) => {
                self.drop_standalone(id);
                Ok(())
            }
            // Nothing to do that to: drop a store, or make an instance.
            None if !self.stores.is_empty() && (r >= 94 || full) => {
                let k: Vec<usize> = self.stores.keys().copied().collect();
                let s = k[self.rng.below(k.len() as u64) as usize];
                self.drop_store(s);
                Ok(())
            }
            None => self.new_standalone(),
        }
    }

    /// A module of one of `roles`, or (1 in `other`) any.
    fn pick_module(&mut self, roles: &[Role], other: u64) -> usize {
        let c: Vec<usize> = (0..self.modules.len())
            .filter(|&m| roles.contains(&self.modules[m].role))
            .collect();
        if c.is_empty() || self.rng.chance(1, other) {
            return self.rng.below(self.modules.len() as u64) as usize;
        }
        c[self.rng.below(c.len() as u64) as usize]
    }
}
