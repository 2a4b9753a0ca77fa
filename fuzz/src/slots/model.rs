//! What every live instance of a `slots` case must hold: each memory's
//! bytes and limit, each table's entries, each instance's globals and where
//! its imports lead. Pure bookkeeping, kept apart from the runtime, so a
//! check compares the runtime against this and nothing else.

use super::modules::{At, Mem, ModuleSpec, Start, Tab, PAGE};
use lucet_runtime::TrapCode;
use std::collections::BTreeMap;

/// Most elements a table may have (`Limits::default().table_elements`).
pub const TABLE_ELEMENTS: u32 = 1_000_000;

/// A memory: its bytes (its length is its size) and the most pages it may
/// grow to.
#[derive(Clone, Debug)]
pub struct MemModel {
    /// Contents.
    pub bytes: Vec<u8>,
    /// Largest size in pages.
    pub max_pages: u64,
}

/// A table entry: function `$f{func}` of instance `owner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Which of `$f0`..`$f3`.
    pub func: u8,
    /// The instance whose function it is (whose `cg` it reads).
    pub owner: usize,
}

/// A table: its entries (its length is its size) and its largest size.
#[derive(Clone, Debug)]
pub struct TabModel {
    /// Entries; `None` is null.
    pub entries: Vec<Option<Entry>>,
    /// Largest size.
    pub max: u32,
}

/// Where an instance lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A standalone `Instance`.
    Standalone,
    /// Store number `n` of the case; `addressable` is false for an
    /// instance whose instantiation failed after it took its slot (the
    /// store keeps it, the host has no id for it).
    Store {
        /// The case's number for the store.
        store: usize,
        /// Whether the host holds an `InstanceId` for it.
        addressable: bool,
    },
}

/// Where an instance's start function stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    /// Not run yet.
    Pending,
    /// Ran (or there is none): exports may run.
    Done,
    /// Trapped or was stopped, or a reset failed: exports refuse to run.
    Failed,
}

/// One instance.
#[derive(Clone, Debug)]
pub struct Inst {
    /// The case's number for it (`#id`).
    pub id: usize,
    /// Index of its module among the case's.
    pub module: usize,
    /// Where it lives.
    pub place: Place,
    /// The instance whose memory is its memory 0 (itself, or the peer's
    /// memory's owner).
    pub mem: Option<usize>,
    /// Likewise for table 0.
    pub tab: Option<usize>,
    /// The peer whose `cg` its `pcg` and `pcall` read.
    pub peer: Option<usize>,
    /// `cg`.
    pub cg: i32,
    /// What `cg` may be instead, when no one can tell (a start function
    /// of a failed store instance stopped by a deadline, at its entry or
    /// after its writes).
    pub cg_alt: Option<i32>,
    /// `gi` (the imported `env.off`).
    pub gi: i32,
    /// `env.off` and `env.toff` as bound.
    pub off: u32,
    /// See `off`.
    pub toff: u32,
    /// Its start function.
    pub started: Started,
    /// Neither has guest code of it run, nor has the host been handed its
    /// memory: the runtime may assume its heap holds only what
    /// instantiation wrote. Its memory is not looked at (that would end
    /// it), only its globals.
    pub silent: bool,
    /// Its heap base, once seen (instances with a memory of their own).
    pub heap_base: Option<usize>,
    /// The step that made it.
    pub born: usize,
    /// It was reset, a memory or table grown through it, a call of it
    /// trapped: for the statistics of what instances are dropped after.
    pub was_reset: bool,
    /// See `was_reset`.
    pub grew: bool,
    /// See `was_reset`.
    pub trapped: bool,
}

impl Inst {
    /// Whether the host can run its exports.
    pub fn runnable(&self) -> bool {
        self.addressable() && self.started == Started::Done
    }

    /// Whether the host can name it.
    pub fn addressable(&self) -> bool {
        !matches!(
            self.place,
            Place::Store {
                addressable: false,
                ..
            }
        )
    }
}

/// Every live instance, memory and table.
#[derive(Default)]
pub struct Model {
    /// Instances by id, failed store instances included (they hold slots).
    pub insts: BTreeMap<usize, Inst>,
    /// Memories by owning instance.
    pub mems: BTreeMap<usize, MemModel>,
    /// Tables by owning instance.
    pub tabs: BTreeMap<usize, TabModel>,
}

impl Model {
    /// `id`'s memory.
    pub fn mem(&self, id: usize) -> Option<&MemModel> {
        self.mems.get(&self.insts.get(&id)?.mem?)
    }

    /// `id`'s table.
    pub fn tab(&self, id: usize) -> Option<&TabModel> {
        self.tabs.get(&self.insts.get(&id)?.tab?)
    }

    /// Forget `id` and what it owns.
    pub fn remove(&mut self, id: usize) {
        self.insts.remove(&id);
        self.mems.remove(&id);
        self.tabs.remove(&id);
    }

    /// What instantiation does to `id` (already in `insts` with its
    /// imports bound) and to what it imports: its own memory zeroed at its
    /// initial size, its own table null, `cg` its initial value, then
    /// element and data segments in order, until one does not fit: the trap
    /// and how many segments were applied before it. (`reset` does the
    /// same.)
    pub fn initialize(&mut self, id: usize, spec: &ModuleSpec) -> Result<(), (TrapCode, usize)> {
        if let Mem::Own { min, max } = spec.memory {
            let max_pages = max.map_or(65536, u64::from).min(spec.reserved / PAGE);
            self.mems.insert(
                id,
                MemModel {
                    bytes: vec![0; (min as u64 * PAGE) as usize],
                    max_pages,
                },
            );
        }
        if let Tab::Own { min, max } = spec.table {
            self.tabs.insert(
                id,
                TabModel {
                    entries: vec![None; min as usize],
                    max: max.unwrap_or(u32::MAX).min(TABLE_ELEMENTS),
                },
            );
        }
        let inst = self.insts.get_mut(&id).expect("instance");
        inst.cg = spec.cg_init;
        inst.cg_alt = None;
        inst.gi = inst.off as i32;
        let (off, toff, mem, tab) = (inst.off, inst.toff, inst.mem, inst.tab);
        let mut applied = 0;
        for e in &spec.elems {
            let at = match e.at {
                At::Const(c) => c,
                At::Global => toff,
            } as u64;
            let t = self.tabs.get_mut(&tab.expect("table")).expect("table");
            if at + e.funcs.len() as u64 > t.entries.len() as u64 {
                return Err((TrapCode::TableOutOfBounds, applied));
            }
            for (i, f) in e.funcs.iter().enumerate() {
                t.entries[at as usize + i] = Some(Entry {
                    func: *f,
                    owner: id,
                });
            }
            applied += 1;
        }
        for d in &spec.data {
            let at = match d.at {
                At::Const(c) => c,
                At::Global => off,
            } as u64;
            let m = self.mems.get_mut(&mem.expect("memory")).expect("memory");
            if at + d.bytes.len() as u64 > m.bytes.len() as u64 {
                return Err((TrapCode::HeapOutOfBounds, applied));
            }
            m.bytes[at as usize..at as usize + d.bytes.len()].copy_from_slice(&d.bytes);
            applied += 1;
        }
        Ok(())
    }

    /// What `id`'s start function does before it returns, traps or loops.
    pub fn start(&mut self, id: usize, spec: &ModuleSpec) {
        if spec.start == Start::None {
            return;
        }
        let inst = self.insts.get_mut(&id).expect("instance");
        inst.cg = spec.start_cg;
        if let Some(owner) = inst.mem {
            self.write(owner, spec.start_addr as u64, spec.start_val as u32);
        }
    }

    /// Store `val` at `addr` of the memory `owner` owns.
    pub fn write(&mut self, owner: usize, addr: u64, val: u32) {
        let m = self.mems.get_mut(&owner).expect("memory");
        m.bytes[addr as usize..addr as usize + 4].copy_from_slice(&val.to_le_bytes());
    }

    /// What `tprobe` returns for an entry: 0 for null, else the function's
    /// number and its owner's `cg`; and what else it may return while that
    /// `cg` is uncertain.
    pub fn probe(&self, e: Option<Entry>) -> (i32, Option<i32>) {
        let Some(e) = e else {
            return (0, None);
        };
        let value = |cg: i32| (((e.func as u32 + 1) << 24) | (cg as u32 & 0xff_ffff)) as i32;
        match self.insts.get(&e.owner) {
            Some(i) => (value(i.cg), i.cg_alt.map(value)),
            None => (value(0), None),
        }
    }

    /// The word at `addr` of `id`'s memory.
    pub fn word(&self, id: usize, addr: u32) -> Option<u32> {
        let m = self.mem(id)?;
        let a = addr as usize;
        Some(u32::from_le_bytes(m.bytes[a..a + 4].try_into().ok()?))
    }
}
