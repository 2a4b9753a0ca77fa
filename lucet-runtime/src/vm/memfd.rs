//! Sealed memfds: memory-backed files whose contents can no longer change
//! once written, for what must stay exactly as it was checked (a loaded
//! module's bytes, a heap image).

use crate::error::Error;
use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A new, empty memfd named `name` that can be sealed.
pub(crate) fn create(name: &CStr) -> Result<OwnedFd, Error> {
    // SAFETY: memfd_create with a NUL-terminated name; the result is checked
    // and owned below.
    let raw =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if raw < 0 {
        return Err(Error::last_os("memfd_create"));
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The most bytes this process may write to a file (`RLIMIT_FSIZE`; writing
/// past it kills the process with SIGXFSZ), which the files the runtime
/// makes (memfds, heap image files) are subject to like any other.
pub(crate) fn file_size_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return u64::MAX;
    }
    limit.rlim_cur
}

/// Seal `fd` (made by [`create`]) against writes, growing, shrinking and
/// further seals: from now on its contents are what they are.
pub(crate) fn seal(fd: &impl AsRawFd, what: &str) -> Result<(), Error> {
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on a descriptor we own.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(Error::last_os(&format!("sealing {what}")));
    }
    Ok(())
}
