//! `lucet-serve`: an HTTP server that answers every request from a fresh
//! WebAssembly instance.
//!
//! Routes map paths to WASI command modules (compiled ahead of time by
//! `lucetc`, or from `.wasm` at startup). For each request a worker thread
//! takes a slot in a pre-reserved [`lucet_runtime::Region`], instantiates
//! the module, runs its start function and `_start` with the request
//! presented CGI style (see [`cgi`]), and drops the instance; the guest's
//! stdout becomes the response. Per-route limits (deadline, CPU time, heap,
//! instruction budget, body and output size, concurrency) confine a
//! misbehaving guest to its own request: it gets a 500 (504 past the
//! deadline) and everyone else is served as before.
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
//! Design, in short (the README says more):
//! - Guest code never runs on the async runtime: a fixed pool of worker
//!   threads polls the requests' guests, each a future running its instance
//!   with `run_async`; a guest that sleeps or waits for its request body is
//!   suspended (asynchronous WASI, [`lucet_wasi::add_to_linker_async`]) and
//!   holds no thread.
//! - Routes share the workers by policy (`sched`): at most `max_running`
//!   guests of a route at once, by default one less than the workers, and
//!   the route that has used the least CPU time first.
//! - Each route has a region of its own with a slot per request it may have
//!   in the server, so instantiation never waits and a slot is reused for
//!   the same module, which keeps its heap image mapped (see `Routes::load`).
//! - Deadlines and CPU-time limits are the runtime's, set per run (start
//!   function, then `_start`) to what is left of the request's, and
//!   enforced by its one watchdog thread; the server stops guests itself
//!   only through their interrupt handles (client gone, shutdown).
//! - Noisy neighbours: a route over its share (a trap, a limit hit, too
//!   much CPU time or memory in one request) spends the next `penalty`
//!   (10 s) in the slow lane, `SCHED_IDLE` threads with their own tiny
//!   queue.
//! - Connections: header-read and idle timeouts, caps in all and per client
//!   address, a large listen backlog (`conn`).

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
