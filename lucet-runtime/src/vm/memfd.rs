//! Sealed memfds: memory-backed files whose contents can no longer change
//! once written, for what must stay exactly as it was checked (a loaded
//! module's bytes, a heap image).

use crate::error::Error;
use rustix::fs::{MemfdFlags, SealFlags};
use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};

/// A new, empty memfd named `name` that can be sealed.
pub(crate) fn create(name: &CStr) -> Result<OwnedFd, Error> {
    rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
        .map_err(|e| Error::os("memfd_create", e))
}

/// The most bytes this process may write to a file (`RLIMIT_FSIZE`; writing
/// past it kills the process with SIGXFSZ), which the files the runtime
/// makes (memfds, heap image files) are subject to like any other.
pub(crate) fn file_size_limit() -> u64 {
    // `None` is RLIM_INFINITY.
    rustix::process::getrlimit(rustix::process::Resource::Fsize)
        .current
        .unwrap_or(u64::MAX)
}

/// Seal `fd` (made by [`create`]) against writes, growing, shrinking and
/// further seals: from now on its contents are what they are.
pub(crate) fn seal(fd: impl AsFd, what: &str) -> Result<(), Error> {
    let seals = SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE;
    rustix::fs::fcntl_add_seals(fd, seals).map_err(|e| Error::os(&format!("sealing {what}"), e))
}
