//! The native calling convention of compiled code.
//!
//! Every wasm function, defined or imported, is called as
//! `fn(callee_vmctx, caller_vmctx, wasm params...) -> wasm results` with
//! Cranelift's `tail` calling convention (so `return_call` can reuse the
//! frame). Host code never calls them directly: it enters through the
//! per-type entry trampolines, which use the platform's C convention. Passing the caller's vmctx lets a host
//! function reach the memory of the instance that called it even when the
//! callee context is something else (a host function record, or another
//! instance's vmctx for cross-instance imports).
//!
//! Values crossing between host and guest through trampolines occupy one
//! [`VALUE_SLOT_SIZE`]-byte slot each, little-endian, low bytes first.

/// Size of one value slot in trampoline argument arrays.
pub const VALUE_SLOT_SIZE: usize = 16;

/// Builtin functions the runtime provides to compiled code, reached through
/// the table whose address is stored at [`VmctxLayout::builtins`](crate::VmctxLayout).
/// The discriminant is the index into that table. Every builtin takes the
/// caller's vmctx first. Those returning a status return 0 on success and a
/// [`TrapCode`](crate::TrapCode) index + 1 on failure; the generated code traps.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// `(vmctx, mem: u32, delta_pages: u64) -> i64` old size in pages, or -1.
    MemoryGrow = 0,
    /// `(vmctx, dst_mem: u32, src_mem: u32, dst: u64, src: u64, len: u64) -> status`.
    MemoryCopy,
    /// `(vmctx, mem: u32, dst: u64, val: u32, len: u64) -> status`.
    MemoryFill,
    /// `(vmctx, mem: u32, seg: u32, dst: u64, src: u32, len: u32) -> status`.
    MemoryInit,
    /// `(vmctx, seg: u32)`.
    DataDrop,
    /// `(vmctx, table: u32, delta: u32, init: u64) -> i32` old size, or -1.
    TableGrow,
    /// `(vmctx, dst_table: u32, src_table: u32, dst: u32, src: u32, len: u32) -> status`.
    TableCopy,
    /// `(vmctx, table: u32, dst: u32, val: u64, len: u32) -> status`.
    TableFill,
    /// `(vmctx, table: u32, seg: u32, dst: u32, src: u32, len: u32) -> status`.
    TableInit,
    /// `(vmctx, seg: u32)`.
    ElemDrop,
    /// `(vmctx, tag: u32) -> *mut` a new exception of tag `tag` (its
    /// payload slots for the caller to fill; see
    /// [`exceptions::record`](crate::exceptions::record)), or null when
    /// the instance holds [`MAX_LIVE_EXCEPTIONS`](crate::exceptions::MAX_LIVE_EXCEPTIONS).
    ExnAlloc,
    /// `(vmctx, exn: *mut)`, never returns: unwind to the nearest landing
    /// pad of a caller (see [`exceptions`](crate::exceptions)). Reads the
    /// frame pointer and return address of the code that called it.
    Throw,
}

impl Builtin {
    /// Number of builtins; the length of the builtins table.
    pub const COUNT: usize = Builtin::Throw as usize + 1;
}
