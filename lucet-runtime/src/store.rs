//! Stores: domains of instances that import each other's exports.
//!
//! ```
//! # fn main() -> Result<(), lucet_runtime::Error> { Ok(()) }
//! # fn example(region: &lucet_runtime::Region,
//! #            provider: &std::sync::Arc<lucet_runtime::Module>,
//! #            user: &std::sync::Arc<lucet_runtime::Module>) -> Result<(), lucet_runtime::Error> {
//! use lucet_runtime::{Linker, Store, Val};
//! let mut store = Store::new();
//! let p = store.instantiate(region, provider, &Linker::new())?;
//! let mut linker = Linker::new();
//! linker.instance(&store, "provider", p)?;     // p's exports, for this store only
//! let u = store.instantiate(region, user, &linker)?;
//! let out = store.instance(u)?.run("main", &[Val::I32(1)])?;
//! # Ok(()) }
//! ```
//!
//! A store keeps every instance made in it (even one whose instantiation
//! failed half way, whose functions may already sit in a shared table)
//! until it is dropped, runs one guest at a time (`&mut`), and may move
//! between threads but not be shared by them (`Send`, not `Sync`).

use crate::domain::Domain;
use crate::domain_id::DomainId;
use crate::error::Error;
use crate::externs::{Extern, Func, FuncKind, Global, GlobalKind, Memory, Table};
use crate::instance;
use crate::instance::instance_methods;
use crate::instantiate;
use crate::instantiate::canonical_ref;
use crate::linker::Linker;
use crate::module::Module;
use crate::tag::Tag;
use crate::val::Val;
use crate::vm::instance_state::{InstanceState, StartState};
use crate::vm::region::Region;
use lucet_module::{ExportKind, GlobalType, MemoryType, TableType};
use std::cell::UnsafeCell;
use std::sync::Arc;

/// A domain of instances that may share memories, tables, globals and
/// functions, and the globals the host made for them.
pub struct Store {
    /// Declared first: a suspended call is dropped before the instances.
    domain: Domain,
    // Boxed: instances and globals are pointed at (by vmctx areas, other
    // instances and handles), so they must not move when the Vec grows.
    #[allow(clippy::vec_box)]
    instances: Vec<Box<InstanceState>>,
    #[allow(clippy::vec_box)]
    globals: Vec<Box<UnsafeCell<u128>>>,
}

// SAFETY: the store owns its instances and globals, and their raw pointers
// reach only into the store itself or into `Send + Sync` things they keep
// alive (modules, host functions, host globals); only the run control is
// shared with other threads, and it is `Sync`. A suspended call is `Send`
// (see `Execution`).
unsafe impl Send for Store {}

/// Names an instance of a [`Store`]: valid with that store only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InstanceId {
    domain: DomainId,
    index: usize,
}

/// An instance of a store, borrowed with the store: the same methods as a
/// standalone [`Instance`](crate::instance::Instance). Limits (deadline, budget,
/// interrupt handle) are the store's.
pub struct InstanceMut<'s> {
    domain: &'s mut Domain,
    state: &'s InstanceState,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store {
            domain: Domain::new(),
            instances: Vec::new(),
            globals: Vec::new(),
        }
    }

    /// Instantiate `module` in a slot of `region`, with imports from
    /// `linker` (host items, and exports of this store's instances), and
    /// run its start function under the store's deadline and budget.
    ///
    /// If initialization or the start function fails, the error is
    /// returned and the half-made instance stays in the store (what it
    /// already wrote to shared tables or memories stays valid).
    pub fn instantiate(
        &mut self,
        region: &Region,
        module: &Arc<Module>,
        linker: &Linker,
    ) -> Result<InstanceId, Error> {
        let mut state = instantiate::create(region, module, linker, &self.domain, true)?;
        instantiate::place(&mut state);
        self.instances.push(state);
        let index = self.instances.len() - 1;
        let st = &self.instances[index];
        if let Err(e) = instantiate::initialize(st) {
            st.start.set(StartState::Failed);
            return Err(e);
        }
        instance::run_start(&mut self.domain, st)?;
        Ok(InstanceId {
            domain: self.domain.id,
            index,
        })
    }

    /// Instance `id` of this store.
    pub fn instance(&mut self, id: InstanceId) -> Result<InstanceMut<'_>, Error> {
        self.check(id.domain, "an instance")?;
        Ok(InstanceMut {
            domain: &mut self.domain,
            state: &self.instances[id.index],
        })
    }

    /// Stop every run of the store's instances (start functions included)
    /// that lasts longer than `deadline`; `None` (the default) removes it.
    pub fn set_deadline(&mut self, deadline: Option<std::time::Duration>) {
        self.domain.deadline = deadline;
    }

    /// Stop every run of the store's instances that uses more than `limit`
    /// of CPU time (see
    /// [`Instance::set_cpu_time_limit`](crate::instance::Instance::set_cpu_time_limit));
    /// `None` (the default) removes it.
    pub fn set_cpu_time_limit(&mut self, limit: Option<std::time::Duration>) {
        self.domain.cpu_limit = limit;
    }

    /// Limit each run of the store's instances to `budget` wasm
    /// instructions (modules compiled with instruction counting); `None`
    /// (the default) removes it.
    pub fn set_instruction_budget(&mut self, budget: Option<u64>) {
        self.domain.control.limits.instruction_budget.store(
            budget.unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// A handle another thread can use to stop the store's runs.
    pub fn interrupt_handle(&self) -> crate::run_control::InterruptHandle {
        crate::run_control::InterruptHandle {
            control: self.domain.control.clone(),
        }
    }

    /// Number of instances, failed ones included.
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// Whether the store has no instances.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// A new global owned by this store, holding `value`: instances of the
    /// store can import it, and the host reads and writes it through the
    /// store ([`Global::get`], [`Global::set`]).
    pub fn new_global(&mut self, ty: GlobalType, value: Val) -> Result<Global, Error> {
        if value.ty() != ty.ty {
            return Err(Error::InvalidState(format!(
                "global of type {} given a {}",
                ty.ty,
                value.ty()
            )));
        }
        let raw = value.to_raw(self.domain.id)?;
        let cell = Box::new(UnsafeCell::new(raw));
        let ptr = cell.get() as usize;
        self.globals.push(cell);
        Ok(Global {
            kind: GlobalKind::Domain {
                domain: self.domain.id,
                ptr,
            },
            ty,
        })
    }

    /// Export `name` of instance `id`, to bind into other instances of this
    /// store (see [`Linker::instance`]).
    pub fn get_export(&self, id: InstanceId, name: &str) -> Option<Extern> {
        self.check(id.domain, "an instance").ok()?;
        let st = &self.instances[id.index];
        let e = st.module.data().export(name)?;
        self.export_of(st, e.kind, e.index)
    }

    /// Every export of instance `id`.
    pub(crate) fn exports(&self, id: InstanceId) -> Result<Vec<(String, Extern)>, Error> {
        self.check(id.domain, "an instance")?;
        let st = &self.instances[id.index];
        Ok(st
            .module
            .data()
            .exports
            .iter()
            .filter_map(|e| Some((e.name.clone(), self.export_of(st, e.kind, e.index)?)))
            .collect())
    }

    fn export_of(&self, st: &InstanceState, kind: ExportKind, index: u32) -> Option<Extern> {
        let domain = self.domain.id;
        let data = st.module.data();
        Some(match kind {
            ExportKind::Func => {
                let (code, vmctx) = st.func_code(index);
                Extern::Func(Func {
                    kind: FuncKind::Guest {
                        domain,
                        code,
                        vmctx,
                        ty: data.func_type(index)?.clone(),
                    },
                })
            }
            ExportKind::Global => {
                // Numbered by the runtime, so it compares with any
                // module's (see `canonical_ref`).
                let ty = data.global_type(index)?;
                let ty = GlobalType {
                    ref_type: canonical_ref(&st.module, ty.ty, ty.ref_type),
                    ..ty
                };
                Extern::Global(Global {
                    kind: GlobalKind::Domain {
                        domain,
                        ptr: st.global_ptr(index) as usize,
                    },
                    ty,
                })
            }
            ExportKind::Memory => {
                let (owner, defined) = st.memory_owner(index);
                Extern::Memory(Memory {
                    domain,
                    owner: owner as *const InstanceState as usize,
                    defined,
                })
            }
            ExportKind::Tag => {
                let ty = data.tag_type_index(index)?;
                // SAFETY: the tag pointer lies in the vmctx area, written
                // at instantiation.
                let identity = unsafe { *st.field::<usize>(st.module.layout().tag_ptr(index)) };
                Extern::Tag(Tag {
                    domain: Some(domain),
                    identity,
                    host: None,
                    ty: data.types.get(ty as usize)?.clone(),
                })
            }
            ExportKind::Table => {
                let (owner, defined) = st.table_owner(index);
                Extern::Table(Table {
                    domain,
                    owner: owner as *const InstanceState as usize,
                    defined,
                })
            }
        })
    }

    /// `Ok` if `domain` is this store's, else a [`Error::WrongDomain`]
    /// naming `what`.
    pub(crate) fn check(&self, domain: DomainId, what: &'static str) -> Result<(), Error> {
        if domain == self.domain.id {
            Ok(())
        } else {
            Err(Error::WrongDomain(what))
        }
    }
}

// Methods of store-owned handles and of the linker that need the store:
// defined here so that the handle and linker modules know nothing of stores.

impl Global {
    /// Its current value. A global of a store is read through that store.
    pub fn get(&self, store: &Store) -> Result<Val, Error> {
        match &self.kind {
            GlobalKind::Host(h) => Ok(Val::from_raw(self.ty.ty, h.value, DomainId::HOST)),
            GlobalKind::Domain { domain, ptr } => {
                store.check(*domain, "a global")?;
                // SAFETY: the store owns the storage and is borrowed, so no
                // guest runs and the storage is live.
                let raw = unsafe { (*ptr as *const u128).read_unaligned() };
                Ok(Val::from_raw(self.ty.ty, raw, *domain))
            }
        }
    }

    /// Set a mutable global of `store` to `value`.
    pub fn set(&self, store: &mut Store, value: Val) -> Result<(), Error> {
        if !self.ty.mutable {
            return Err(Error::InvalidState("the global is immutable".into()));
        }
        if value.ty() != self.ty.ty {
            return Err(Error::InvalidState(format!(
                "global of type {} given a {}",
                self.ty.ty,
                value.ty()
            )));
        }
        match &self.kind {
            GlobalKind::Host(_) => Err(Error::InvalidState("the global is immutable".into())),
            GlobalKind::Domain { domain, ptr } => {
                store.check(*domain, "a global")?;
                let raw = value.to_raw(*domain)?;
                // SAFETY: the store is borrowed mutably: no guest runs, and
                // the storage it owns is live.
                unsafe { (*ptr as *mut u128).write_unaligned(raw) };
                Ok(())
            }
        }
    }
}

impl Memory {
    /// Its current limits: size in pages and declared maximum.
    pub fn ty(&self, store: &Store) -> Result<MemoryType, Error> {
        store.check(self.domain, "a memory")?;
        // SAFETY: the owner belongs to the borrowed store, which keeps it.
        Ok(unsafe { self.owner() }.memory_type_now(self.defined))
    }
}

impl Table {
    /// Its current limits.
    pub fn ty(&self, store: &Store) -> Result<TableType, Error> {
        store.check(self.domain, "a table")?;
        // SAFETY: the owner belongs to the borrowed store, which keeps it.
        Ok(unsafe { self.owner() }.table_type_now(self.defined))
    }
}

impl Linker {
    /// Bind every export of instance `id` of `store` under the module name
    /// `module`. The items can only be imported by instances of that store.
    pub fn instance(
        &mut self,
        store: &Store,
        module: &str,
        id: InstanceId,
    ) -> Result<&mut Self, Error> {
        for (name, item) in store.exports(id)? {
            self.define(module, &name, item);
        }
        Ok(self)
    }
}

impl InstanceMut<'_> {
    fn parts(&mut self) -> (&mut Domain, &InstanceState) {
        (self.domain, self.state)
    }

    fn parts_ref(&self) -> (&Domain, &InstanceState) {
        (self.domain, self.state)
    }

    instance_methods!();
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("instances", &self.instances.len())
            .finish_non_exhaustive()
    }
}
