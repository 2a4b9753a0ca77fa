//! How a guest's run ended, as a response status and a fixed label.
//!
//! Classified from the runtime's typed errors only
//! ([`Error::Terminated`]`(`[`Termination`]`)`, [`TrapCode::id`]): no
//! message is parsed and no `Debug` output becomes a label. Deadlines, CPU
//! time and instruction budgets are the runtime's own limits, so each comes
//! back as its own `Termination`; an interrupt is the server's doing (the
//! client went away, or shutdown), told apart by the flag the server set
//! before interrupting.

use crate::metrics::Rejection;
use hyper::StatusCode;
use lucet_runtime::{Error, Termination, TrapCode};
use std::time::Duration;

/// Why a guest produced no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Ran past its deadline (in guest code, its start function, or
    /// suspended in WASI). 504.
    Deadline,
    /// Used more CPU time than its route's `cpu_time`. 500.
    CpuTime,
    /// Executed more instructions than its budget. 500.
    InstructionBudget,
    /// Trapped. 500.
    Trap(TrapCode),
    /// Stopped by the server (shutdown timeout). 500.
    Terminated,
    /// Stopped because its client went away (nobody gets the status).
    ClientGone,
    /// Exited with a non-zero status. 500.
    Exit,
    /// Wrote more than `max_output`. 500.
    OutputLimit,
    /// Wrote a malformed header block. 500.
    BadOutput,
    /// Could not be instantiated. 500.
    Instantiate,
    /// No free slot in the route's region (should not happen: a slot per
    /// admitted request). 503.
    RegionFull,
    /// Turned away before it started (its route went to the slow lane
    /// while it waited, and the slow lane was full). 503.
    Refused(Rejection),
    /// A host function failed. 500.
    HostError,
    /// Any other runtime error. 500.
    RuntimeError,
}

impl FailureKind {
    /// The label in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Deadline => "deadline",
            FailureKind::CpuTime => "cpu_time",
            FailureKind::InstructionBudget => "instruction_budget",
            FailureKind::Trap(code) => code.id(),
            FailureKind::Terminated => "terminated",
            FailureKind::ClientGone => "client_gone",
            FailureKind::Exit => "exit",
            FailureKind::OutputLimit => "output_limit",
            FailureKind::BadOutput => "bad_output",
            FailureKind::Instantiate => "instantiate",
            FailureKind::RegionFull => "region_full",
            FailureKind::Refused(why) => why.as_str(),
            FailureKind::HostError => "host_error",
            FailureKind::RuntimeError => "runtime_error",
        }
    }

    /// What the client gets.
    pub fn status(self) -> StatusCode {
        match self {
            FailureKind::Deadline => StatusCode::GATEWAY_TIMEOUT,
            FailureKind::RegionFull | FailureKind::Refused(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the failure says the route is over its share (and so goes
    /// to the slow lane): it ran out a limit, or trapped.
    pub fn over_share(self) -> bool {
        matches!(
            self,
            FailureKind::Deadline
                | FailureKind::CpuTime
                | FailureKind::InstructionBudget
                | FailureKind::Trap(_)
        )
    }
}

/// Why a guest produced no response.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub kind: FailureKind,
    /// The full cause, for the log.
    pub message: String,
}

impl Failure {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }

    /// What the client gets.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }
}

/// What is known about a run besides its result.
pub(crate) struct RunFacts {
    /// The route's deadline.
    pub deadline: Option<Duration>,
    /// The route's CPU time limit.
    pub cpu_limit: Option<Duration>,
    /// Wall-clock time of the run.
    pub ran: Duration,
    /// CPU time used.
    pub cpu: Duration,
    /// The handler stopped the run: its client went away.
    pub abandoned: bool,
    /// The guest wrote more than `max_output`.
    pub overflowed: bool,
    /// The output limit.
    pub max_output: usize,
}

/// The failure a run's result means, if any.
pub(crate) fn classify(result: &Result<(), Error>, f: &RunFacts) -> Option<Failure> {
    let deadline = |why: &dyn std::fmt::Display| {
        Failure::new(
            FailureKind::Deadline,
            format!(
                "deadline of {:?} exceeded after {:?} ({why})",
                f.deadline.unwrap_or_default(),
                f.ran
            ),
        )
    };
    let output_limit = || {
        Failure::new(
            FailureKind::OutputLimit,
            format!("output exceeds {} bytes", f.max_output),
        )
    };
    Some(match result {
        Ok(()) | Err(Error::Exit(0)) if f.overflowed => output_limit(),
        Ok(()) | Err(Error::Exit(0)) => return None,
        Err(Error::Terminated(why @ Termination::Deadline { .. })) => deadline(why),
        Err(Error::Terminated(Termination::Interrupted)) if f.abandoned => {
            Failure::new(FailureKind::ClientGone, "the client went away")
        }
        Err(Error::Terminated(why @ Termination::CpuTime { .. })) => Failure::new(
            FailureKind::CpuTime,
            format!(
                "CPU time limit of {:?} exceeded: {:?} used ({why})",
                f.cpu_limit.unwrap_or_default(),
                f.cpu
            ),
        ),
        Err(Error::Terminated(why @ Termination::InstructionBudget { .. })) => {
            Failure::new(FailureKind::InstructionBudget, why.to_string())
        }
        Err(_) if f.overflowed => output_limit(),
        Err(Error::Terminated(why)) => Failure::new(FailureKind::Terminated, why.to_string()),
        Err(Error::Exit(code)) => {
            Failure::new(FailureKind::Exit, format!("exited with status {code}"))
        }
        Err(Error::Trap(trap)) => {
            Failure::new(FailureKind::Trap(trap.code), format!("trap: {trap}"))
        }
        Err(e @ Error::Host(_)) => Failure::new(FailureKind::HostError, e.to_string()),
        Err(e) => Failure::new(FailureKind::RuntimeError, e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> RunFacts {
        RunFacts {
            deadline: Some(Duration::from_millis(10)),
            cpu_limit: Some(Duration::from_millis(5)),
            ran: Duration::from_millis(11),
            cpu: Duration::from_millis(6),
            abandoned: false,
            overflowed: false,
            max_output: 100,
        }
    }

    fn kind(r: Result<(), Error>, f: &RunFacts) -> Option<&'static str> {
        classify(&r, f).map(|x| x.kind.as_str())
    }

    #[test]
    fn typed_errors_become_fixed_labels() {
        let f = facts();
        assert_eq!(kind(Ok(()), &f), None);
        assert_eq!(kind(Err(Error::Exit(0)), &f), None);
        assert_eq!(kind(Err(Error::Exit(3)), &f), Some("exit"));
        let deadline = Termination::Deadline {
            limit: Duration::from_millis(10),
        };
        assert_eq!(kind(Err(Error::Terminated(deadline)), &f), Some("deadline"));
        assert_eq!(
            kind(Err(Error::Terminated(Termination::Interrupted)), &f),
            Some("terminated")
        );
        // The runtime's CPU-time limit (of what was left of the request's
        // budget when the run began).
        let cpu = Termination::CpuTime {
            limit: Duration::from_millis(2),
        };
        assert_eq!(kind(Err(Error::Terminated(cpu)), &f), Some("cpu_time"));
        // An interrupt after the client went away is not a failure of the
        // guest's; one without (shutdown) is `terminated`.
        let gone = RunFacts {
            abandoned: true,
            ..facts()
        };
        assert_eq!(
            kind(Err(Error::Terminated(Termination::Interrupted)), &gone),
            Some("client_gone")
        );
        // A limit that stopped the run first is that limit, whatever the
        // client did afterwards (the runtime keeps the first stop).
        assert_eq!(
            kind(Err(Error::Terminated(deadline)), &gone),
            Some("deadline")
        );
        assert_eq!(kind(Err(Error::Terminated(cpu)), &gone), Some("cpu_time"));
        let budget = Termination::InstructionBudget { budget: 9 };
        assert_eq!(
            kind(Err(Error::Terminated(budget)), &f),
            Some("instruction_budget")
        );
        let overflowed = RunFacts {
            overflowed: true,
            ..facts()
        };
        assert_eq!(kind(Ok(()), &overflowed), Some("output_limit"));
        assert_eq!(kind(Err(Error::Exit(1)), &overflowed), Some("output_limit"));
        assert_eq!(kind(Err(Error::Host("x".into())), &f), Some("host_error"));
        assert_eq!(
            FailureKind::Trap(TrapCode::StackOverflow).as_str(),
            "stack_overflow"
        );
        assert_eq!(FailureKind::Deadline.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(FailureKind::Trap(TrapCode::HeapOutOfBounds).over_share());
        assert!(!FailureKind::Exit.over_share());
    }
}
