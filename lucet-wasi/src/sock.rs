//! `sock_*`: the guest is given no sockets, so these only tell a bad
//! descriptor (`EBADF`) from one that is not a socket (`ENOTSOCK`).

// The parameters mirror the WASI signatures one to one.
#![allow(clippy::too_many_arguments)]

use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostResult};
use crate::memory::GuestMemory;

fn not_a_socket(cx: &WasiCtx, fd: u32) -> HostResult {
    cx.table.get(fd)?;
    Err(Errno::NotSock.into())
}

pub(crate) fn sock_accept(
    cx: &mut WasiCtx,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    _flags: u32,
    _out: u32,
) -> HostResult {
    not_a_socket(cx, fd)
}

pub(crate) fn sock_recv(
    cx: &mut WasiCtx,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    _iovs: u32,
    _iovs_len: u32,
    _flags: u32,
    _nread: u32,
    _oflags: u32,
) -> HostResult {
    not_a_socket(cx, fd)
}

pub(crate) fn sock_send(
    cx: &mut WasiCtx,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    _iovs: u32,
    _iovs_len: u32,
    _flags: u32,
    _nwritten: u32,
) -> HostResult {
    not_a_socket(cx, fd)
}

pub(crate) fn sock_shutdown(
    cx: &mut WasiCtx,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    _how: u32,
) -> HostResult {
    not_a_socket(cx, fd)
}
