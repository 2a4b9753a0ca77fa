//! What an import can be bound to: host functions and host globals, which
//! belong to no domain, and the exports of instances, which belong to the
//! domain (the [`Store`](crate::Store)) of their instance.
//!
//! A handle to something of a domain is its domain's id plus an address.
//! The address is only followed when the handle is presented together with
//! that domain (a `&Store`, or instantiation into that store), which proves
//! the domain is alive and not running elsewhere; presented with another
//! domain, the handle is an error. So handles are `Send + Sync` and may be
//! cloned and kept anywhere, like indices.

use crate::domain::DomainId;
use crate::hostcall::{Caller, HostFuncRecord, HostKind};
use crate::instance_state::InstanceState;
use crate::store::Store;
use crate::typed::IntoFunc;
use crate::{Error, Val};
use lucet_module::{FuncType, GlobalType, MemoryType, TableType};
use std::sync::Arc;

/// A function that can satisfy a function import.
#[derive(Clone)]
pub struct Func {
    pub(crate) kind: FuncKind,
}

#[derive(Clone)]
pub(crate) enum FuncKind {
    /// A host function: belongs to no domain.
    Host(Arc<HostFuncRecord>),
    /// An instance's function.
    Guest {
        domain: DomainId,
        code: usize,
        vmctx: usize,
        ty: FuncType,
    },
}

impl Func {
    /// A host function of type `ty`, called with the arguments as [`Val`]s.
    /// For the fastest calls and types checked at compile time, use
    /// [`Func::wrap_typed`].
    pub fn wrap(
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Func {
        Func {
            kind: FuncKind::Host(HostFuncRecord::new(ty, HostKind::Sync(Box::new(f)))),
        }
    }

    /// A host function of type `ty` that returns a future: the guest is
    /// suspended until it is ready. Under [`Instance::run_async`](crate::Instance::run_async)
    /// the thread is free meanwhile; under `run` it waits. The future is
    /// `Send` (it may be resumed on another thread) and may hand values to
    /// the host on the way with [`yield_value`](crate::yield_value).
    pub fn wrap_async(
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val]) -> crate::HostFuture + Send + Sync + 'static,
    ) -> Func {
        Func {
            kind: FuncKind::Host(HostFuncRecord::new(ty, HostKind::Async(Box::new(f)))),
        }
    }

    /// A typed host function: a closure over wasm types (see
    /// [`crate::typed`] for the types), with an optional `&mut Caller` first
    /// argument and an optional `Result` around its results. Its type is
    /// checked against imports at instantiation; calls convert nothing and
    /// allocate nothing.
    pub fn wrap_typed<Params, Results>(f: impl IntoFunc<Params, Results>) -> Func {
        f.into_func()
    }

    pub(crate) fn from_record(record: Arc<HostFuncRecord>) -> Func {
        Func {
            kind: FuncKind::Host(record),
        }
    }

    /// Its type.
    pub fn ty(&self) -> &FuncType {
        match &self.kind {
            FuncKind::Host(r) => &r.ty,
            FuncKind::Guest { ty, .. } => ty,
        }
    }

    pub(crate) fn domain(&self) -> Option<DomainId> {
        match &self.kind {
            FuncKind::Host(_) => None,
            FuncKind::Guest { domain, .. } => Some(*domain),
        }
    }
}

/// The storage of a host global: immutable, so it can be shared by
/// instances on any number of threads.
pub(crate) struct HostGlobal {
    value: u128,
}

/// A global that can satisfy a global import.
#[derive(Clone)]
pub struct Global {
    pub(crate) kind: GlobalKind,
    pub(crate) ty: GlobalType,
}

#[derive(Clone)]
pub(crate) enum GlobalKind {
    /// Immutable, host-owned.
    Host(Arc<HostGlobal>),
    /// An instance's global or one made by a store: 16 bytes of storage
    /// owned by the domain.
    Domain { domain: DomainId, ptr: usize },
}

impl Global {
    /// An immutable host global holding `value`, which can be imported by
    /// any instance. A mutable global belongs to a store: make it with
    /// [`Store::new_global`]. A function reference cannot be given here
    /// (it belongs to a store too); a null one can.
    pub fn new(ty: GlobalType, value: Val) -> Result<Global, Error> {
        if value.ty() != ty.ty {
            return Err(Error::InvalidState(format!(
                "global of type {} given a {}",
                ty.ty,
                value.ty()
            )));
        }
        if ty.mutable {
            return Err(Error::InvalidState(
                "a mutable global belongs to a store: use Store::new_global".into(),
            ));
        }
        let value = match value {
            Val::FuncRef(Some(_)) => return Err(Error::WrongDomain("a function reference")),
            v => v.to_raw(DomainId::HOST)?,
        };
        Ok(Global {
            kind: GlobalKind::Host(Arc::new(HostGlobal { value })),
            ty,
        })
    }

    /// Its type.
    pub fn ty(&self) -> GlobalType {
        self.ty
    }

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

    /// Address of its storage, for a domain allowed to use it.
    pub(crate) fn storage(&self, domain: DomainId) -> Result<usize, Error> {
        match &self.kind {
            GlobalKind::Host(h) => Ok(&h.value as *const u128 as usize),
            GlobalKind::Domain { domain: d, ptr } if *d == domain => Ok(*ptr),
            GlobalKind::Domain { .. } => Err(Error::WrongDomain("a global")),
        }
    }

    /// The host global to keep alive, if it is one.
    pub(crate) fn host(&self) -> Option<Arc<HostGlobal>> {
        match &self.kind {
            GlobalKind::Host(h) => Some(h.clone()),
            GlobalKind::Domain { .. } => None,
        }
    }
}

/// An instance's linear memory, exported.
#[derive(Clone)]
pub struct Memory {
    pub(crate) domain: DomainId,
    pub(crate) owner: usize,
}

impl Memory {
    /// Its current limits: size in pages and declared maximum.
    pub fn ty(&self, store: &Store) -> Result<MemoryType, Error> {
        store.check(self.domain, "a memory")?;
        // SAFETY: the owner belongs to the borrowed store, which keeps it.
        Ok(unsafe { self.owner() }.memory_type_now())
    }

    /// The owning instance.
    ///
    /// # Safety
    /// Its domain must be alive and held by the caller.
    pub(crate) unsafe fn owner(&self) -> &InstanceState {
        // SAFETY: as the caller promises.
        unsafe { &*(self.owner as *const InstanceState) }
    }
}

/// An instance's table, exported.
#[derive(Clone)]
pub struct Table {
    pub(crate) domain: DomainId,
    pub(crate) owner: usize,
    pub(crate) defined: u32,
}

impl Table {
    /// Its current limits.
    pub fn ty(&self, store: &Store) -> Result<TableType, Error> {
        store.check(self.domain, "a table")?;
        // SAFETY: the owner belongs to the borrowed store, which keeps it.
        Ok(unsafe { self.owner() }.table_type_now(self.defined))
    }

    /// The owning instance.
    ///
    /// # Safety
    /// Its domain must be alive and held by the caller.
    pub(crate) unsafe fn owner(&self) -> &InstanceState {
        // SAFETY: as the caller promises.
        unsafe { &*(self.owner as *const InstanceState) }
    }
}

/// Anything an import can be bound to.
#[derive(Clone)]
pub enum Extern {
    /// A function.
    Func(Func),
    /// A global.
    Global(Global),
    /// A memory.
    Memory(Memory),
    /// A table.
    Table(Table),
}

impl Extern {
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Extern::Func(_) => "function",
            Extern::Global(_) => "global",
            Extern::Memory(_) => "memory",
            Extern::Table(_) => "table",
        }
    }

    /// The domain it belongs to, if any.
    pub(crate) fn domain(&self) -> Option<DomainId> {
        match self {
            Extern::Func(f) => f.domain(),
            Extern::Global(g) => match &g.kind {
                GlobalKind::Host(_) => None,
                GlobalKind::Domain { domain, .. } => Some(*domain),
            },
            Extern::Memory(m) => Some(m.domain),
            Extern::Table(t) => Some(t.domain),
        }
    }
}
