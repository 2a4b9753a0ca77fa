//! `sock_*`: TCP on sockets the host handed the guest.
//!
//! The guest cannot create, bind or connect sockets (preview1 has no such
//! calls): it gets listening sockets from its embedder
//! ([`WasiCtxBuilder::preopened_socket`](crate::WasiCtxBuilder::preopened_socket),
//! `lucet-wasi --tcplisten`), accepts connections on them, and reads and
//! writes those. Every host socket is non-blocking; waits go through
//! [`crate::block`], so a stop ends them.

// The parameters mirror the WASI signatures one to one.
#![allow(clippy::too_many_arguments)]

use crate::abi::{fdflags, riflags, rights, sdflags};
use crate::block;
use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostResult};
use crate::fd_table::{Entry, Kind, Socket};
use crate::memory::GuestMemory;
use rustix::event::PollFlags;
use std::io::{self, IoSlice, IoSliceMut, Read};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsFd;

/// The connected socket `fd` holding `needed` rights: `EBADF` if there is
/// no such descriptor, `ENOTSOCK` if it is not a socket (or a listener,
/// where a connection is needed).
fn stream(entry: &Entry, needed: u64) -> Result<&TcpStream, Errno> {
    match &entry.kind {
        Kind::Socket(Socket::Stream(s)) => {
            entry.require(needed)?;
            Ok(s)
        }
        Kind::Socket(Socket::Listener(_)) => Err(Errno::NotConn),
        _ => Err(Errno::NotSock),
    }
}

/// Send `bufs` on `s` without raising SIGPIPE when the peer is gone (the
/// guest gets EPIPE instead).
pub(crate) fn send(s: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendFlags};
    Ok(sendmsg(
        s,
        bufs,
        &mut SendAncillaryBuffer::default(),
        SendFlags::NOSIGNAL,
    )?)
}

pub(crate) fn sock_accept(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    flags: u32,
    out: u32,
) -> HostResult {
    let stop = cx.stop;
    let entry = cx.table.get(fd)?;
    let Kind::Socket(Socket::Listener(listener)) = &entry.kind else {
        return Err(if matches!(entry.kind, Kind::Socket(_)) {
            Errno::Inval
        } else {
            Errno::NotSock
        }
        .into());
    };
    entry.require(rights::SOCK_ACCEPT)?;
    if flags & !(fdflags::NONBLOCK as u32) != 0 {
        return Err(Errno::Inval.into());
    }
    mem.slice(out, 4)?;
    cx.table.check_room()?;
    let (conn, _peer) = block::nonblocking(
        &stop,
        listener.as_fd(),
        PollFlags::IN,
        entry.nonblock(),
        || listener.accept(),
    )?;
    conn.set_nonblocking(true)?;
    let mut new = Entry::new(
        Kind::Socket(Socket::Stream(conn)),
        entry.inheriting & rights::SOCKET_STREAM,
        0,
    );
    new.flags = (flags as u16) & fdflags::NONBLOCK;
    let fd = cx.table.insert(new)?;
    mem.write_u32(out, fd)?;
    Ok(())
}

pub(crate) fn sock_recv(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    flags: u32,
    nread: u32,
    oflags: u32,
) -> HostResult {
    let stop = cx.stop;
    let entry = cx.table.get(fd)?;
    let s = stream(entry, rights::FD_READ)?;
    let known = riflags::RECV_PEEK | riflags::RECV_WAITALL;
    if flags & !(known as u32) != 0 {
        return Err(Errno::Inval.into());
    }
    let flags = flags as u16;
    let (iovs, total) = mem.iovecs(iovs, iovs_len)?;
    mem.slice(nread, 4)?;
    mem.slice(oflags, 2)?;
    let mut buf = vec![0u8; total as usize];
    let mut got = 0;
    let nonblock = entry.nonblock();
    let waitall = flags & riflags::RECV_WAITALL != 0 && flags & riflags::RECV_PEEK == 0;
    loop {
        let r = block::nonblocking(&stop, s.as_fd(), PollFlags::IN, nonblock, || {
            if flags & riflags::RECV_PEEK != 0 {
                s.peek(&mut buf[got..])
            } else {
                (&*s).read_vectored(&mut [IoSliceMut::new(&mut buf[got..])])
            }
        });
        let n = match r {
            Ok(n) => n,
            Err(e) if got == 0 => return Err(e),
            // With WAITALL, what arrived before an error (or a stop) still
            // counts; the error shows on the next call.
            Err(_) => break,
        };
        got += n;
        if !waitall || n == 0 || got == buf.len() {
            break;
        }
    }
    let mut done = 0;
    for v in &iovs {
        if done == got {
            break;
        }
        let k = (v.len as usize).min(got - done);
        mem.write_bytes(v.ptr, &buf[done..done + k])?;
        done += k;
    }
    mem.write_u32(nread, got as u32)?;
    // roflags: no data truncation on a stream socket.
    mem.write_bytes(oflags, &0u16.to_le_bytes())?;
    Ok(())
}

pub(crate) fn sock_send(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    flags: u32,
    nwritten: u32,
) -> HostResult {
    let stop = cx.stop;
    let entry = cx.table.get(fd)?;
    let s = stream(entry, rights::FD_WRITE)?;
    // No send flags are defined.
    if flags != 0 {
        return Err(Errno::Inval.into());
    }
    let (iovs, _) = mem.iovecs(iovs, iovs_len)?;
    let bufs = mem.gather(&iovs);
    let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    let n = block::nonblocking(&stop, s.as_fd(), PollFlags::OUT, entry.nonblock(), || {
        send(s, &slices)
    })?;
    mem.write_u32(nwritten, n as u32)?;
    Ok(())
}

pub(crate) fn sock_shutdown(
    cx: &mut WasiCtx,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    how: u32,
) -> HostResult {
    let entry = cx.table.get(fd)?;
    let s = stream(entry, rights::SOCK_SHUTDOWN)?;
    let how = match u8::try_from(how).map_err(|_| Errno::Inval)? {
        sdflags::RD => Shutdown::Read,
        sdflags::WR => Shutdown::Write,
        x if x == sdflags::RD | sdflags::WR => Shutdown::Both,
        _ => return Err(Errno::Inval.into()),
    };
    s.shutdown(how)?;
    Ok(())
}
