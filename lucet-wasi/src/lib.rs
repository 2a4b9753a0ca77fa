//! WASI (`wasi_snapshot_preview1`) for lucet-runtime, and the pieces of
//! the `lucet-wasi` and `lucetc-wasi` commands.
//!
//! An embedder builds a [`WasiCtx`] per instance with [`WasiCtxBuilder`]
//! (arguments, environment, preopened directories, standard streams),
//! registers the functions once with [`add_to_linker`], and sets the
//! context on each instance. File access goes through cap-std: the guest
//! reaches only the directories it was given.

#![warn(missing_docs)]

#[allow(missing_docs)]
pub mod abi;
mod args;
pub mod cli;
mod clock;
mod ctx;
mod errno;
mod fd;
mod fd_table;
mod filestat;
mod funcs;
pub mod invoke;
mod memory;
mod path;
mod poll;
mod proc;
mod random;
mod sock;
mod stdio;

pub use ctx::{CancelHandle, CtxError, WasiCtx, WasiCtxBuilder};
pub use errno::Errno;
pub use funcs::{add_to_linker, allowed_imports, signatures};
pub use stdio::{ReadPipe, WritePipe};
