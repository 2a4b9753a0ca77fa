//! WASI (`wasi_snapshot_preview1`) for lucet-runtime, and the pieces of
//! the `lucet-wasi` command. The functions' signatures are
//! `lucet_module::wasi_preview1`'s, the table `lucetc-wasi` allows.
//!
//! An embedder builds a [`WasiCtx`] per instance with [`WasiCtxBuilder`]
//! (arguments, environment, preopened directories, standard streams),
//! registers the functions once with [`add_to_linker`], and sets the
//! context on each instance. File access goes through cap-std: the guest
//! reaches only the directories it was given. Calls that wait (reads from
//! pipes and sockets, sleeps, `poll_oneoff`...) end as soon as the
//! instance's run is stopped by its deadline or interrupt handle, and a
//! guest holds at most a bounded number of descriptors.
//!
//! For servers running many guests on few threads,
//! [`add_to_linker_async`] registers the same functions with sleeps,
//! `poll_oneoff` timeouts and reads of an input still arriving
//! ([`AsyncInput`], e.g. an [`async_pipe`] fed with a request body) as
//! async hostcalls: under `Instance::run_async` the guest is suspended and
//! its thread is free until a [`Timer`] or the input wakes it. lucet-wasi
//! depends on no async runtime: the embedder supplies the timer (or uses
//! [`ThreadTimer`]).

#![warn(missing_docs)]

#[allow(missing_docs)]
pub mod abi;
mod args;
mod async_input;
mod block;
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
mod suspend;
mod timer;

pub use async_input::{async_pipe, AsyncInput, AsyncPipeReader, AsyncPipeWriter};
pub use ctx::{CtxError, WasiCtx, WasiCtxBuilder};
pub use errno::Errno;
pub use fd_table::DEFAULT_MAX_FDS;
pub use funcs::add_to_linker;
pub use stdio::{ReadPipe, WritePipe};
pub use suspend::add_to_linker_async;
pub use timer::{SleepFuture, ThreadTimer, Timer};
