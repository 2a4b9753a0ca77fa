//! `clock_res_get` and `clock_time_get`.

use crate::abi::clockid;
use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostResult};
use crate::memory::GuestMemory;
use rustix::time::{clock_getres, clock_gettime, ClockId, Timespec};

/// The host clock behind a WASI clock id; `EINVAL` for an unknown id.
pub(crate) fn host_clock(id: u32) -> Result<ClockId, Errno> {
    Ok(match id {
        clockid::REALTIME => ClockId::Realtime,
        clockid::MONOTONIC => ClockId::Monotonic,
        clockid::PROCESS_CPUTIME_ID => ClockId::ProcessCPUTime,
        clockid::THREAD_CPUTIME_ID => ClockId::ThreadCPUTime,
        _ => return Err(Errno::Inval),
    })
}

fn nanos(t: Timespec) -> u64 {
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

/// The current time of clock `id` in nanoseconds.
pub(crate) fn now(id: u32) -> Result<u64, Errno> {
    Ok(nanos(clock_gettime(host_clock(id)?)))
}

pub(crate) fn clock_res_get(
    _cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    id: u32,
    res: u32,
) -> HostResult {
    let r = nanos(clock_getres(host_clock(id)?)).max(1);
    mem.write_u64(res, r)?;
    Ok(())
}

pub(crate) fn clock_time_get(
    _cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    id: u32,
    _precision: u64,
    time: u32,
) -> HostResult {
    mem.write_u64(time, now(id)?)?;
    Ok(())
}
