//! `containerd-shim-lucet-v1`: a containerd shim (runtime
//! `io.containerd.lucet.v1`) that runs WASI programs with lucet, built on
//! runwasi's `containerd-shim-wasm`.
//!
//! A container whose entrypoint is a `.wasm` (or `.wat`) file runs it
//! compiled by lucetc, on first use, into a cache keyed by the module's
//! digest ([`cache`]); one whose entrypoint is a lucetc `.so` runs it if
//! its signature verifies with a key from the shim's configuration
//! ([`config`]). The guest gets the spec's arguments and environment, the
//! container's root as `/`, and containerd's standard streams; its exit
//! code is the container's ([`run`]). Pod annotations bound it
//! ([`limits`]), and containerd's kill stops it at once ([`signals`]).
//!
//! runwasi runs the guest inside the container's process; what the shim
//! needs from the host is read before that ([`host`]).

#![warn(missing_docs)]

pub mod cache;
pub mod config;
pub mod entrypoint;
pub mod host;
pub mod limits;
pub mod run;
pub mod shim;
pub mod signals;
