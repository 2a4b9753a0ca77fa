//! `args_*` and `environ_*`: the guest's command line and environment.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostResult};
use crate::memory::GuestMemory;

/// Write `strings` as NUL-terminated C strings at `buf`, and pointers to
/// them at `ptrs`.
fn write_strings(
    mem: &mut GuestMemory<'_>,
    strings: &[Vec<u8>],
    ptrs: u32,
    buf: u32,
) -> HostResult {
    let mut at = buf;
    for (i, s) in strings.iter().enumerate() {
        let slot = ptrs.checked_add(4 * i as u32).ok_or(Errno::Fault)?;
        mem.write_u32(slot, at)?;
        mem.write_bytes(at, s)?;
        let nul = at.checked_add(s.len() as u32).ok_or(Errno::Fault)?;
        mem.write_u8(nul, 0)?;
        at = nul + 1;
    }
    Ok(())
}

/// Write the count of `strings` and the bytes they need with their NULs.
fn write_sizes(
    mem: &mut GuestMemory<'_>,
    strings: &[Vec<u8>],
    count_ptr: u32,
    size_ptr: u32,
) -> HostResult {
    let bytes: usize = strings.iter().map(|s| s.len() + 1).sum();
    let count = u32::try_from(strings.len()).map_err(|_| Errno::Overflow)?;
    let bytes = u32::try_from(bytes).map_err(|_| Errno::Overflow)?;
    mem.write_u32(count_ptr, count)?;
    mem.write_u32(size_ptr, bytes)?;
    Ok(())
}

pub(crate) fn args_get(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    argv: u32,
    buf: u32,
) -> HostResult {
    write_strings(mem, &cx.args, argv, buf)
}

pub(crate) fn args_sizes_get(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    argc: u32,
    size: u32,
) -> HostResult {
    write_sizes(mem, &cx.args, argc, size)
}

pub(crate) fn environ_get(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    environ: u32,
    buf: u32,
) -> HostResult {
    write_strings(mem, &cx.env, environ, buf)
}

pub(crate) fn environ_sizes_get(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    count: u32,
    size: u32,
) -> HostResult {
    write_sizes(mem, &cx.env, count, size)
}
