//! `random_get`: bytes from the host's CSPRNG.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostResult};
use crate::memory::GuestMemory;
use rustix::rand::{getrandom, GetRandomFlags};

pub(crate) fn random_get(
    _cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    buf: u32,
    len: u32,
) -> HostResult {
    let mut out = mem.slice_mut(buf, len)?;
    while !out.is_empty() {
        match getrandom(&mut *out, GetRandomFlags::empty()) {
            Ok(n) => out = &mut out[n..],
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Errno::from(e).into()),
        }
    }
    Ok(())
}
