//! The contract between the compiler (`lucetc`) and the runtime (`lucet-runtime`).
//!
//! Everything the runtime must know about a compiled module lives in one
//! versioned, serialized [`ModuleData`] embedded in the shared object under the
//! exported symbol [`symbols::MODULE_DATA`]. Both sides also agree here on the
//! native calling convention ([`abi`]), on where the runtime's per-instance
//! state sits relative to the `vmctx` pointer ([`VmctxLayout`]) and on the
//! meaning of trap codes ([`TrapCode`]). [`wasi_preview1`] is the list of
//! WASI functions (signatures only) that `lucetc-wasi` allows and
//! `lucet-wasi` implements; [`units`] is how every command reads sizes and
//! durations.
//!
//! This crate knows nothing of Cranelift, of dlopen or of signals: it is data
//! and arithmetic on that data, so it can be checked in isolation.

pub mod abi;
pub mod code_hash;
mod const_expr;
mod error;
pub mod exceptions;
mod heap;
mod module_data;
pub mod symbols;
mod trap;
mod types;
pub mod units;
mod vmctx;
pub mod wasi_preview1;

pub use const_expr::{ConstExpr, ConstOp};
pub use error::Error;
pub use exceptions::CallSite;
pub use heap::{HeapSpec, WASM_PAGE_SIZE};
pub use module_data::{
    CompileOptions, DataSegment, ElemItems, ElementSegment, Export, ExportKind, FunctionEntry,
    GlobalDef, Import, ImportKind, MemoryType, ModuleData, SegmentMode, TableType, TrapSite,
    FORMAT_VERSION, MAGIC, MAX_HEAP_ADDRESS_SPACE,
};
pub use trap::TrapCode;
pub use types::{FuncType, GlobalType, HeapType, RefType, ValType};
pub use vmctx::{
    funcref, imported_func, memory_def, run_limits, table_def, VmctxLayout, VmctxOffsets,
    FUNCREF_SIZE,
};
