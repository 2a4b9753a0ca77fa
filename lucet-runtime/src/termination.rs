//! Why the embedder stopped a run: [`Termination`], what
//! [`Error::Terminated`](crate::error::Error::Terminated) carries.

use std::time::Duration;

/// Why the embedder stopped a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Termination {
    /// The run outlasted its deadline.
    Deadline {
        /// The deadline that was set: wall-clock time from the run's start.
        limit: Duration,
    },
    /// [`InterruptHandle::interrupt`] was called during the run.
    Interrupted,
    /// The guest executed more instructions than its budget allows
    /// (modules compiled with instruction counting).
    InstructionBudget {
        /// The budget that was set.
        budget: u64,
    },
    /// The run used more CPU time than its limit (see
    /// [`Instance::set_cpu_time_limit`](crate::instance::Instance::set_cpu_time_limit)).
    CpuTime {
        /// The limit that was set.
        limit: Duration,
    },
}

impl std::fmt::Display for Termination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Termination::Deadline { limit } => write!(f, "deadline of {limit:?} exceeded"),
            Termination::Interrupted => f.write_str("interrupted by the embedder"),
            Termination::InstructionBudget { budget } => {
                write!(f, "instruction budget of {budget} exhausted")
            }
            Termination::CpuTime { limit } => write!(f, "CPU time limit of {limit:?} exceeded"),
        }
    }
}
