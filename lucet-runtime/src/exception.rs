//! Exceptions as the host sees them: one the guest threw and did not
//! catch, and one a host function throws to its caller.

use crate::val::Val;
use std::fmt;

/// An exception that left the function the host called: its tag, named
/// as the module that threw it knows it, and its payload.
#[derive(Clone, Debug, PartialEq)]
pub struct UncaughtException {
    /// The tag: the name its module exports it under, else the import it
    /// came from (`module.field`), else its index (`#3`).
    pub tag: String,
    /// The values thrown with it.
    pub payload: Vec<Val>,
}

impl fmt::Display for UncaughtException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tag {}", self.tag)?;
        if !self.payload.is_empty() {
            let values: Vec<String> = self.payload.iter().map(|v| v.to_string()).collect();
            write!(f, " with payload ({})", values.join(" "))?;
        }
        Ok(())
    }
}

/// An exception made by [`Caller::throw`](crate::caller::Caller::throw),
/// in [`Error::Thrown`](crate::Error::Thrown): returned by the host function, it is thrown to
/// the guest code that called it.
#[derive(Debug)]
pub struct Thrown {
    /// The vmctx of the instance whose call made it.
    pub(crate) vmctx: usize,
    /// Its exception store's generation then.
    pub(crate) generation: u64,
    /// The record.
    pub(crate) record: u64,
}

impl Thrown {
    /// The exception at `record`, made by a call of the instance at
    /// `vmctx` when its exception store was at `generation`.
    pub(crate) fn new(vmctx: usize, generation: u64, record: u64) -> Thrown {
        Thrown {
            vmctx,
            generation,
            record,
        }
    }
}
