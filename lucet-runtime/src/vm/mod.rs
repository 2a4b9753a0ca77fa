//! The unsafe layer: raw memory, signals, coroutines and the vmctx.
//!
//! Everything here touches what Rust cannot check: address space reserved
//! and remapped by hand (`region`, `heap_image`, `memfd`, `page`,
//! `pagemap`), the per-instance state compiled code reads and writes
//! through raw offsets (`instance_state`, `builtins`, and `const_eval`,
//! which evaluates constant expressions against it), the stack switch into
//! guest code and back (`execute`, `active_run`), the process-wide signal
//! handler and the code it looks faults up in (`signals`, `code_registry`),
//! exception records and the unwinder that carries a throw to its landing
//! pad (`exceptions`), and threads' CPU clocks (`cpu_clock`).
//!
//! What it guarantees to the safe API above it (`instance`, `store`,
//! `call`, `linker`, `externs`, `caller`, `typed`, ...):
//!
//! - A [`region::Slot`] is held by one instance at a time; its heap is
//!   accessible exactly up to the memory's length, everything past it up
//!   to the reservation and guard is `PROT_NONE`, and its next tenant sees
//!   zeros plus its own image (see `region`'s module docs).
//! - An [`instance_state::InstanceState`]'s vmctx fields are at the offsets
//!   `lucet_module::VmctxLayout` gives, written before any guest code runs
//!   and changed only by its domain's thread.
//! - A fault in guest code on a thread running it becomes a trap record and
//!   a return to the host without unwinding guest frames; any other fault
//!   goes to the handler installed before ours (`signals`).
//! - An exception thrown in guest code resumes at the nearest landing pad
//!   up its frame chain, which is always guest code: at the latest the
//!   entry trampoline's, which returns it to the host. No host frame is
//!   ever unwound by it.
//! - Guest code runs on its slot's stack, and a run ends (returns, traps,
//!   ends with an error, or is dropped suspended) without leaving anything
//!   of it on the host's stack (`execute`).
//!
//! It imports three things from above, each for a reason: an instance's
//! state holds the loaded `module::Module` it runs (the loader sits beside
//! this layer and uses its `heap_image`, `memfd` and `code_registry`) and
//! its domain's `run_control::RunControl`, whose run limits its vmctx
//! points at; and a suspended hostcall's completion (`active_run`) is a
//! closure over the `caller::Caller` it will be run with.
//!
//! The layer knows nothing of imports, linkers or domains; the safe API
//! upholds the contracts its `unsafe fn`s state (`# Safety` sections), and
//! its own `unsafe` blocks say why they hold (`// SAFETY:`).

pub(crate) mod active_run;
pub(crate) mod builtins;
pub(crate) mod code_registry;
pub(crate) mod const_eval;
pub(crate) mod cpu_clock;
pub(crate) mod exceptions;
pub(crate) mod execute;
pub(crate) mod extra_heap;
pub(crate) mod heap_image;
pub(crate) mod instance_state;
pub(crate) mod memfd;
pub(crate) mod page;
pub(crate) mod pagemap;
pub(crate) mod region;
pub(crate) mod signals;
