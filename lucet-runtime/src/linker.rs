//! Binding a module's imports: host functions and other instances' exports.

use crate::hostcall::{Caller, HostFuncRecord, HostKind};
use crate::instance::InstanceState;
use crate::{Error, Val};
use lucet_module::{FuncType, GlobalType, MemoryType, TableType};
use std::any::Any;
use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::Arc;

/// A function that can satisfy a function import.
#[derive(Clone)]
pub struct Func {
    pub(crate) kind: FuncKind,
}

#[derive(Clone)]
pub(crate) enum FuncKind {
    Host(Arc<HostFuncRecord>),
    Guest {
        code: usize,
        vmctx: usize,
        ty: FuncType,
        owner: Arc<InstanceState>,
    },
}

impl Func {
    /// A host function of type `ty`.
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
    /// the thread is free meanwhile; under `run` it waits.
    pub fn wrap_async(
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val]) -> crate::HostFuture + Send + Sync + 'static,
    ) -> Func {
        Func {
            kind: FuncKind::Host(HostFuncRecord::new(ty, HostKind::Async(Box::new(f)))),
        }
    }

    /// Its type.
    pub fn ty(&self) -> &FuncType {
        match &self.kind {
            FuncKind::Host(r) => &r.ty,
            FuncKind::Guest { ty, .. } => ty,
        }
    }
}

/// Storage of a global: either in an instance's vmctx or host-owned.
#[derive(Clone)]
pub struct Global {
    pub(crate) ptr: usize,
    pub(crate) ty: GlobalType,
    pub(crate) owner: Arc<dyn Any + Send + Sync>,
}

struct HostGlobalCell(UnsafeCell<u128>);
// SAFETY: the cell is only written by guest code of instances importing it
// and read through `Global::get`; wasm without threads has no data races.
unsafe impl Sync for HostGlobalCell {}

impl Global {
    /// A host-owned global holding `value`.
    pub fn new(ty: GlobalType, value: Val) -> Result<Global, Error> {
        if value.ty() != ty.ty {
            return Err(Error::InvalidState(format!(
                "global of type {} given a {}",
                ty.ty,
                value.ty()
            )));
        }
        let cell = Arc::new(HostGlobalCell(UnsafeCell::new(value.to_raw())));
        Ok(Global {
            ptr: cell.0.get() as usize,
            ty,
            owner: cell,
        })
    }

    /// Its type.
    pub fn ty(&self) -> GlobalType {
        self.ty
    }

    /// Its current value.
    pub fn get(&self) -> Val {
        // SAFETY: `ptr` points to 16 bytes of global storage kept alive by
        // `owner`.
        Val::from_raw(self.ty.ty, unsafe {
            (self.ptr as *const u128).read_unaligned()
        })
    }
}

/// An instance's linear memory, exported.
#[derive(Clone)]
pub struct Memory {
    pub(crate) owner: Arc<InstanceState>,
}

impl Memory {
    /// Its current limits: size in pages and declared maximum.
    pub fn ty(&self) -> MemoryType {
        self.owner.memory_type_now()
    }
}

/// An instance's table, exported.
#[derive(Clone)]
pub struct Table {
    pub(crate) owner: Arc<InstanceState>,
    pub(crate) defined: u32,
}

impl Table {
    /// Its current limits.
    pub fn ty(&self) -> TableType {
        self.owner.table_type_now(self.defined)
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
}

/// Bindings from `(module, field)` import names to host functions and
/// other instances' exports.
#[derive(Clone, Default)]
pub struct Linker {
    /// module -> field -> item, so lookups by `&str` allocate nothing.
    items: HashMap<String, HashMap<String, Extern>>,
}

impl Linker {
    /// An empty linker.
    pub fn new() -> Linker {
        Linker::default()
    }

    /// Bind `module::field` to `item`, replacing any earlier binding.
    pub fn define(&mut self, module: &str, field: &str, item: Extern) -> &mut Self {
        self.items
            .entry(module.to_string())
            .or_default()
            .insert(field.to_string(), item);
        self
    }

    /// Bind `module::field` to a host function.
    pub fn func(
        &mut self,
        module: &str,
        field: &str,
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Error> + Send + Sync + 'static,
    ) -> &mut Self {
        self.define(module, field, Extern::Func(Func::wrap(ty, f)))
    }

    /// Bind `module::field` to an async host function (see [`Func::wrap_async`]).
    pub fn func_async(
        &mut self,
        module: &str,
        field: &str,
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val]) -> crate::HostFuture + Send + Sync + 'static,
    ) -> &mut Self {
        self.define(module, field, Extern::Func(Func::wrap_async(ty, f)))
    }

    /// Bind every export of `instance` under the module name `module`.
    pub fn instance(&mut self, module: &str, instance: &crate::Instance) -> &mut Self {
        for name in instance.export_names() {
            if let Some(item) = instance.get_export(&name) {
                self.define(module, &name, item);
            }
        }
        self
    }

    /// The binding of `module::field`.
    pub fn get(&self, module: &str, field: &str) -> Option<&Extern> {
        self.items.get(module)?.get(field)
    }
}
