//! Domains: the unit of ownership and of execution.
//!
//! A domain is a set of instances that may share state: a [`Store`] with
//! any number of linked instances, or a standalone [`Instance`], which is a
//! domain of one. The domain is what makes sharing sound:
//!
//! - It owns its instances and frees none of them while it lives, so every
//!   pointer from one instance into another (imported functions, memories,
//!   tables, globals, function references stored anywhere) stays valid.
//! - It runs one guest at a time: every run needs `&mut` the domain, and a
//!   domain is `Send` but not `Sync`, so the instances of one domain are
//!   never touched from two threads at once.
//! - It has one set of run limits, which guest code of all its instances
//!   points at, and at most one call in progress (possibly suspended).
//! - Values that cross from the host into a guest are checked against it:
//!   a function reference from another domain is an error, never a jump.
//!
//! [`Store`]: crate::store::Store
//! [`Instance`]: crate::instance::Instance

use crate::domain_id::DomainId;
use crate::run_control::RunControl;
use crate::vm::active_run::Awaiting;
use crate::vm::execute::Execution;
use crate::vm::region::StackRelease;
use crate::yielding::YieldState;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The state of a domain's runs.
pub(crate) struct Domain {
    pub id: DomainId,
    /// The limits guest code of every instance of the domain reads, and the
    /// stops aimed at its runs.
    pub control: Arc<RunControl>,
    /// Wall-clock time allowed per run.
    pub deadline: Option<Duration>,
    /// The deadline armed for the run in progress.
    pub armed: Option<Instant>,
    /// CPU time allowed per run.
    pub cpu_limit: Option<Duration>,
    /// The run in progress has a CPU-time limit: its resumes are metered.
    pub cpu_armed: bool,
    /// The call in progress, suspended (declared before anything it runs
    /// on, so it is dropped first).
    pub call: Option<Suspended>,
    /// Argument and result slots of calls, kept between calls.
    pub values: Vec<u128>,
}

/// A call in progress, suspended: its coroutine, how to read its results,
/// and what it waits for.
pub(crate) struct Suspended {
    pub exec: Execution,
    /// The called function's result types, in its module's data: the
    /// instance holds the module, and outlives the call (a domain drops its
    /// call before its instances).
    pub results: *const [lucet_module::ValType],
    /// The future a hostcall awaits, if any.
    pub awaiting: Option<Awaiting>,
    /// A yield from inside that future.
    pub yielding: YieldState,
    /// The stack it runs on, to give back after it.
    pub stack: StackRelease,
    /// The instance whose function was called (the domain keeps it alive
    /// longer than the call).
    pub entered: *const crate::vm::instance_state::InstanceState,
}

// SAFETY: `results` points into an immutable module kept alive by the
// domain's instances (`Arc<Module>` is `Send + Sync`), `entered` at one of
// those instances, which move with the domain; the rest is `Send`.
unsafe impl Send for Suspended {}

impl Domain {
    pub fn new() -> Domain {
        Domain {
            id: DomainId::next(),
            control: RunControl::new(),
            deadline: None,
            armed: None,
            cpu_limit: None,
            cpu_armed: false,
            call: None,
            values: Vec::new(),
        }
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        // A suspended call is abandoned before the instances it ran on go.
        self.abandon();
    }
}
