//! Binding a module's imports: host functions, host globals, and the
//! exports of instances of a store.

use crate::caller::Caller;
use crate::error::Error;
use crate::externs::{Extern, Func};
use crate::typed::IntoFunc;
use crate::val::Val;
use lucet_module::FuncType;
use std::collections::HashMap;

/// Bindings from `(module, field)` import names to host functions, host
/// globals and other instances' exports.
///
/// A linker holding only host items can instantiate into any region or
/// store, from any number of threads. Items taken from a store's instances
/// (see [`Linker::instance`], defined with [`Store`](crate::store::Store)) can
/// only be imported by instances of that store.
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

    /// Bind `module::field` to a host function taking and returning
    /// [`Val`]s (see [`Func::wrap`]).
    pub fn func(
        &mut self,
        module: &str,
        field: &str,
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Error> + Send + Sync + 'static,
    ) -> &mut Self {
        self.define(module, field, Extern::Func(Func::wrap(ty, f)))
    }

    /// Bind `module::field` to a typed host function (see
    /// [`Func::wrap_typed`]): the fastest kind of hostcall.
    pub fn func_wrap<Params, Results>(
        &mut self,
        module: &str,
        field: &str,
        f: impl IntoFunc<Params, Results>,
    ) -> &mut Self {
        self.define(module, field, Extern::Func(Func::wrap_typed(f)))
    }

    /// Bind `module::field` to an async host function (see [`Func::wrap_async`]).
    pub fn func_async(
        &mut self,
        module: &str,
        field: &str,
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val]) -> crate::vm::active_run::HostFuture + Send + Sync + 'static,
    ) -> &mut Self {
        self.define(module, field, Extern::Func(Func::wrap_async(ty, f)))
    }

    /// Bind `module::field` to an async host function finished with the
    /// caller (see [`Func::wrap_async_then`]).
    pub fn func_async_then(
        &mut self,
        module: &str,
        field: &str,
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val]) -> crate::vm::active_run::HostFutureThen
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        self.define(module, field, Extern::Func(Func::wrap_async_then(ty, f)))
    }

    /// The binding of `module::field`.
    pub fn get(&self, module: &str, field: &str) -> Option<&Extern> {
        self.items.get(module)?.get(field)
    }
}
