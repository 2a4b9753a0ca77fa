//! Names of domains (see [`crate::domain`]).

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

/// A process-unique number naming a domain; never reused, so a handle that
/// outlives its domain matches no other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DomainId(NonZeroU64);

impl DomainId {
    /// No domain: host values, which hold no function references (a null
    /// one at most). Never given to a domain.
    pub const HOST: DomainId = DomainId(NonZeroU64::MAX);

    pub(crate) fn next() -> DomainId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        // 2^64 domains would take centuries at a billion a second.
        DomainId(NonZeroU64::new(NEXT.fetch_add(1, Ordering::Relaxed)).unwrap_or(NonZeroU64::MIN))
    }
}
