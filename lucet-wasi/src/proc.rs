//! `proc_exit`, `proc_raise` and `sched_yield`.

use crate::abi::SIGNAL_MAX;
use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostError, HostResult};
use crate::memory::GuestMemory;

/// Ends the run with [`lucet_runtime::Error::Exit`].
pub(crate) fn proc_exit(_cx: &mut WasiCtx, _mem: &mut GuestMemory<'_>, code: u32) -> HostResult {
    Err(HostError::Stop(lucet_runtime::Error::Exit(code as i32)))
}

/// Signals are not delivered to guests: `ENOTSUP`, as Wasmtime answers
/// (`EINVAL` for a number that is no signal).
pub(crate) fn proc_raise(_cx: &mut WasiCtx, _mem: &mut GuestMemory<'_>, sig: u32) -> HostResult {
    if sig > SIGNAL_MAX {
        return Err(Errno::Inval.into());
    }
    Err(Errno::NotSup.into())
}

pub(crate) fn sched_yield(_cx: &mut WasiCtx, _mem: &mut GuestMemory<'_>) -> HostResult {
    std::thread::yield_now();
    Ok(())
}
