//! `lucet-runtime`: load shared objects compiled by `lucetc` and run them in
//! instances with guard-paged memories, turning faults into typed traps.
//!
//! ```no_run
//! use lucet_runtime::{Instance, Limits, Linker, Module, Val};
//! let module = Module::load_unverified("add.so")?;
//! let mut instance = Instance::new(&module, &Linker::new(), Limits::default())?;
//! let results = instance.run("add", &[Val::I32(2), Val::I32(3)])?;
//! assert_eq!(results, vec![Val::I32(5)]);
//! # Ok::<(), lucet_runtime::Error>(())
//! ```
//!
//! This crate knows nothing of wasm bytecode: it trusts only what
//! `lucet_module` describes, after checking it.

mod block_on;
mod builtins;
mod code_registry;
mod error;
mod execute;
mod heap_image;
mod hostcall;
mod instance;
mod limits;
mod linker;
mod module;
mod region;
mod signals;
mod signature;
mod trap;
mod val;
mod watchdog;

pub use error::Error;
pub use execute::HostFuture;
pub use hostcall::{AsyncHostFn, Caller, HostFn};
pub use instance::{Instance, InterruptHandle, RunResult};
pub use limits::Limits;
pub use linker::{Extern, Func, Global, Linker, Memory, Table};
pub use lucet_module::{FuncType, GlobalType, MemoryType, TableType, TrapCode, ValType};
pub use module::{
    inspect, signature_path, Inspection, KeyId, LoadOptions, Module, PublicKey, SignatureInfo,
    SignatureStatus, TrustedKeys, DEFAULT_MAX_FILE_SIZE,
};
pub use region::Region;
pub use trap::Trap;
pub use val::Val;
