//! `lucet-runtime`: load shared objects compiled by `lucetc` and run them in
//! instances with guard-paged memories, turning faults into typed traps.
//!
//! ```no_run
//! use lucet_runtime::{Instance, Limits, Linker, Module, Val};
//! // SAFETY: add.so is our own lucetc's output, in a directory only we
//! // write. (`Module::load_verified` checks a signature instead, safely.)
//! let module = unsafe { Module::load_unverified("add.so")? };
//! let mut instance = Instance::new(&module, &Linker::new(), Limits::default())?;
//! let results = instance.run("add", &[Val::I32(2), Val::I32(3)])?;
//! assert_eq!(results, vec![Val::I32(5)]);
//! # Ok::<(), lucet_runtime::Error>(())
//! ```
//!
//! This crate knows nothing of wasm bytecode: it trusts only what
//! `lucet_module` describes, after checking it.

#![deny(unsafe_op_in_unsafe_fn)]

mod call;
mod caller;
mod domain;
mod domain_id;
mod error;
mod exception;
mod externs;
mod hostcall;
mod instance;
mod instantiate;
mod limits;
mod linker;
mod module;
mod run_control;
mod signature;
mod store;
mod tag;
mod termination;
mod trap;
pub mod typed;
mod val;
mod vm;
mod watchdog;
mod yielding;

pub use call::RunResult;
pub use caller::Caller;
pub use error::Error;
pub use exception::UncaughtException;
pub use externs::{Extern, Func, Global, Memory, Table};
pub use hostcall::{AsyncHostFn, AsyncThenHostFn, HostFn};
pub use instance::Instance;
pub use limits::Limits;
pub use linker::Linker;
pub use lucet_module::{FuncType, GlobalType, MemoryType, TableType, TrapCode, ValType};
pub use module::{
    inspect, signature_path, Inspection, KeyId, LoadOptions, Module, PublicKey, SignatureInfo,
    SignatureStatus, TrustedKeys, DEFAULT_MAX_FILE_SIZE,
};
pub use run_control::{InterruptHandle, RunId, StopSignal};
pub use store::{InstanceId, InstanceMut, Store};
pub use tag::Tag;
pub use termination::Termination;
pub use trap::Trap;
pub use typed::{ExternRef, IntoFunc, WasmResults, WasmTy};
pub use val::{ExnRef, FuncRef, Val};
pub use vm::active_run::{HostCompletion, HostFuture, HostFutureThen};
pub use vm::region::Region;
pub use yielding::{yield_value, YieldValue};
