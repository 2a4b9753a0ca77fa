//! `lucet-serve`: an HTTP server that answers every request from a fresh
//! WebAssembly instance.
//!
//! Routes map paths to WASI command modules (compiled ahead of time by
//! `lucetc`, or from `.wasm` at startup). For each request a worker thread
//! takes a slot in a pre-reserved [`lucet_runtime::Region`], instantiates
//! the module, runs `_start` with the request presented CGI style (see
//! [`cgi`]), and drops the instance; the guest's stdout becomes the
//! response. Per-route limits (deadline, heap, instruction budget, body and
//! output size, concurrency) confine a misbehaving guest to its own
//! request: it gets a 500 (504 past the deadline) and everyone else is
//! served as before.
//!
//! ```no_run
//! use lucet_serve::{ConfigBuilder, Server};
//! # fn main() -> anyhow::Result<()> {
//! let config = ConfigBuilder::new()
//!     .listen("127.0.0.1:8080")
//!     .deadline("50ms")
//!     .route("/hello", "lucet-serve/handlers/wasm/hello.wasm")
//!     .build()?;
//! let server = Server::new(config)?;
//! tokio::runtime::Runtime::new()?.block_on(server.run(async {
//!     let _ = tokio::signal::ctrl_c().await;
//! }))
//! # }
//! ```
//!
//! Design, in short:
//! - Guest code never runs on the async runtime: a fixed pool of worker
//!   threads runs one instance each, fed by a bounded queue; when the
//!   queue is full the request gets 503 at once.
//! - Each route has a region of its own with one slot per worker, so
//!   instantiation never waits, and a slot is always reused for the same
//!   module, which keeps its heap image mapped (see `Routes::load` for the
//!   measurement behind this).
//! - Deadlines: a supervisor thread stops a run (through the instance's
//!   interrupt handle, which reaches a guest waiting in a WASI call too)
//!   when its deadline passes. It sleeps until the earliest deadline but
//!   never longer than the shortest configured one, so starting a run
//!   never wakes it. (When this was written, `Instance::set_deadline` woke
//!   the runtime's watchdog thread on every run, about a tenth of the
//!   server's CPU at 15,000 requests/s.)
//! - Noisy neighbours: a route whose guest ran into its deadline or
//!   instruction budget spends the next `penalty` (10 s) in the slow lane,
//!   `SCHED_IDLE` threads with their own tiny queue, so a tenant
//!   that burns CPU until it is stopped gets little CPU while well-behaved
//!   routes want it, and its excess requests get 503.

#![warn(missing_docs)]

pub mod cgi;
pub mod config;
mod conn;
mod cpu_clock;
pub mod logging;
pub mod metrics;
mod outcome;
mod output;
mod pool;
mod route;
mod sched;
mod server;

pub use config::{Config, ConfigBuilder, RouteConfig, RouteLimits};
pub use outcome::{Failure, FailureKind};
pub use server::Server;
