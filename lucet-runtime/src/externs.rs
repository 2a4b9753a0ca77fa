//! What an import can be bound to: host functions and host globals, which
//! belong to no domain, and the exports of instances, which belong to the
//! domain (the [`Store`](crate::store::Store)) of their instance.
//!
//! A handle to something of a domain is its domain's id plus an address.
//! The address is only followed when the handle is presented together with
//! that domain (a `&Store`, or instantiation into that store), which proves
//! the domain is alive and not running elsewhere; presented with another
//! domain, the handle is an error. So handles are `Send + Sync` and may be
//! cloned and kept anywhere, like indices. (The methods that take a store
//! are defined with [`Store`](crate::store::Store), in `store.rs`.)

use crate::caller::Caller;
use crate::domain_id::DomainId;
use crate::error::Error;
use crate::hostcall::{HostFuncRecord, HostKind};
use crate::tag::Tag;
use crate::val::Val;
use crate::vm::instance_state::InstanceState;
use lucet_module::{FuncType, GlobalType};
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
    /// suspended until it is ready. Under [`Instance::run_async`](crate::instance::Instance::run_async)
    /// the thread is free meanwhile; under `run` it waits. The future is
    /// `Send` (it may be resumed on another thread) and may hand values to
    /// the host on the way with [`yield_value`](crate::yielding::yield_value).
    pub fn wrap_async(
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val]) -> crate::vm::active_run::HostFuture + Send + Sync + 'static,
    ) -> Func {
        Func {
            kind: FuncKind::Host(HostFuncRecord::new(ty, HostKind::Async(Box::new(f)))),
        }
    }

    /// Like [`wrap_async`](Self::wrap_async), for a wait whose results go
    /// into the guest's memory: the future's output is a
    /// [`HostCompletion`](crate::vm::active_run::HostCompletion), which the runtime runs
    /// with the caller once the future is ready, so nothing has to reach
    /// the guest's memory while it is suspended.
    ///
    /// ```
    /// use lucet_runtime::{Caller, Func, FuncType, HostCompletion, ValType, Val};
    /// // `wait(ptr)`: after the wait, store 7 at `ptr`; returns 0.
    /// let ty = FuncType::new([ValType::I32], [ValType::I32]);
    /// let wait = Func::wrap_async_then(ty, |_caller, args| {
    ///     let ptr = args[0].as_i32().unwrap_or(0) as u32;
    ///     Box::pin(async move {
    ///         // ... await whatever the value comes from ...
    ///         let done: HostCompletion = Box::new(move |caller: &mut Caller<'_>| {
    ///             caller
    ///                 .write_u32(ptr, 7)
    ///                 .ok_or_else(|| lucet_runtime::Error::Host("bad pointer".into()))?;
    ///             Ok(vec![Val::I32(0)])
    ///         });
    ///         Ok(done)
    ///     })
    /// });
    /// # let _ = wait;
    /// ```
    pub fn wrap_async_then(
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val]) -> crate::vm::active_run::HostFutureThen
            + Send
            + Sync
            + 'static,
    ) -> Func {
        Func {
            kind: FuncKind::Host(HostFuncRecord::new(ty, HostKind::AsyncThen(Box::new(f)))),
        }
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
    pub value: u128,
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

    /// Its type. A typed function reference exported by an instance
    /// names its function type by the runtime's signature id (the same
    /// for equal types of any module), not by a module's type index.
    pub fn ty(&self) -> GlobalType {
        self.ty
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
    /// Its index among the owner's defined memories.
    pub(crate) defined: u32,
}

impl Memory {
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
    /// An exception tag.
    Tag(Tag),
}

impl Extern {
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Extern::Func(_) => "function",
            Extern::Global(_) => "global",
            Extern::Memory(_) => "memory",
            Extern::Table(_) => "table",
            Extern::Tag(_) => "tag",
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
            Extern::Tag(t) => t.domain,
        }
    }
}
