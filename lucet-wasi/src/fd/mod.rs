//! `fd_*`: operations on open descriptors. Reading, writing and seeking
//! are in [`read_write`], descriptor and file status in [`stat`]; closing,
//! renumbering, syncing, preopens and directory listings here.

mod read_write;
mod stat;

pub(crate) use read_write::{fd_pread, fd_pwrite, fd_read, fd_seek, fd_tell, fd_write};
pub(crate) use stat::{
    fd_advise, fd_allocate, fd_fdstat_get, fd_fdstat_set_flags, fd_fdstat_set_rights,
    fd_filestat_get, fd_filestat_set_size, fd_filestat_set_times,
};

use crate::abi::{advice, fdflags, filetype, preopentype, rights, size, whence};
use crate::block::{self, Stop};
use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostError, HostResult};
use crate::fd_table::{DirEntryInfo, DirFd, Entry, Kind, Socket};
use crate::filestat::{cap_filetype, mode_filetype, time_changes, Filestat};
use crate::memory::{GuestMemory, IoVec};
use crate::sock;
use crate::stdio::{Input, Output};
use rustix::event::PollFlags;
use rustix::fs::{Advice, FallocateFlags, OFlags, SeekFrom, Timestamps};
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::num::NonZeroU64;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::time::Duration;

/// Reads spanning several buffers go through a bounce buffer of at most
/// this size (beyond it, only the first buffer is filled: a short read).
const BOUNCE_MAX: u32 = 16 << 20;

/// Read with `read` into the guest buffers `iovs` (`total` bytes in all),
/// in one call of `read` so that a pipe or terminal is read at most once.
pub(crate) fn scatter_read(
    mem: &mut GuestMemory<'_>,
    iovs: &[IoVec],
    total: u32,
    mut read: impl FnMut(&mut [u8]) -> HostResult<usize>,
) -> HostResult<u32> {
    let nonempty: Vec<IoVec> = iovs.iter().copied().filter(|v| v.len > 0).collect();
    let n = match nonempty.as_slice() {
        [] => 0,
        [one] => read(mem.slice_mut(one.ptr, one.len)?)?,
        [first, ..] if total > BOUNCE_MAX => read(mem.slice_mut(first.ptr, first.len)?)?,
        _ => {
            let mut bounce = vec![0u8; total as usize];
            let n = read(&mut bounce)?.min(bounce.len());
            let mut done = 0;
            for v in &nonempty {
                if done == n {
                    break;
                }
                let k = (v.len as usize).min(n - done);
                mem.write_bytes(v.ptr, &bounce[done..done + k])?;
                done += k;
            }
            n
        }
    };
    Ok(n as u32)
}

/// The guest buffers of a write, joined when there are several (for the
/// positioned write, which takes one buffer).
fn joined(bufs: &[&[u8]]) -> Vec<u8> {
    bufs.concat()
}

fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

fn require(base: u64, needed: u64) -> Result<(), Errno> {
    if base & needed == needed {
        Ok(())
    } else {
        Err(Errno::NotCapable)
    }
}

/// Reading or writing without the right is `EBADF`, as for a host
/// descriptor opened without that access (and as Wasmtime answers).
fn require_access(base: u64, right: u64) -> Result<(), Errno> {
    if base & right == right {
        Ok(())
    } else {
        Err(Errno::Badf)
    }
}

/// `std` I/O on a descriptor, as the closure [`block::nonblocking`] wants.
fn io_read(mut r: impl Read, buf: &mut [u8]) -> io::Result<usize> {
    r.read(buf)
}

fn sync(cx: &mut WasiCtx, fd: u32, right: u64, data_only: bool) -> HostResult {
    let entry = cx.table.get(fd)?;
    let fd = match &entry.kind {
        Kind::File(f) => f.file.as_fd(),
        Kind::Dir(d) => d.dir.as_fd(),
        Kind::Stdin(_) | Kind::Stdout(_) | Kind::Socket(_) => return Err(Errno::Inval.into()),
    };
    entry.require(right)?;
    if data_only {
        rustix::fs::fdatasync(fd)?;
    } else {
        rustix::fs::fsync(fd)?;
    }
    Ok(())
}

pub(crate) fn fd_datasync(cx: &mut WasiCtx, _mem: &mut GuestMemory<'_>, fd: u32) -> HostResult {
    sync(cx, fd, rights::FD_DATASYNC, true)
}

pub(crate) fn fd_sync(cx: &mut WasiCtx, _mem: &mut GuestMemory<'_>, fd: u32) -> HostResult {
    sync(cx, fd, rights::FD_SYNC, false)
}

pub(crate) fn fd_close(cx: &mut WasiCtx, _mem: &mut GuestMemory<'_>, fd: u32) -> HostResult {
    cx.table.remove(fd)?;
    Ok(())
}

pub(crate) fn fd_renumber(
    cx: &mut WasiCtx,
    _mem: &mut GuestMemory<'_>,
    from: u32,
    to: u32,
) -> HostResult {
    cx.table.renumber(from, to)?;
    Ok(())
}

/// The guest name of a preopened directory; `EBADF` for anything else
/// (as Wasmtime answers; a guest's libc scans descriptors from 3 up until
/// `fd_prestat_get` says `EBADF`).
fn preopen_name(cx: &WasiCtx, fd: u32) -> Result<&[u8], Errno> {
    match &cx.table.get(fd)?.kind {
        Kind::Dir(DirFd {
            preopen: Some(name),
            ..
        }) => Ok(name),
        _ => Err(Errno::Badf),
    }
}

pub(crate) fn fd_prestat_get(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    out: u32,
) -> HostResult {
    let len = preopen_name(cx, fd)?.len() as u32;
    let mut b = [0u8; size::PRESTAT as usize];
    b[0] = preopentype::DIR;
    b[4..8].copy_from_slice(&len.to_le_bytes());
    mem.write_bytes(out, &b)?;
    Ok(())
}

pub(crate) fn fd_prestat_dir_name(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    buf: u32,
    len: u32,
) -> HostResult {
    cx.table.get(fd)?;
    // Not a preopen: ENOTDIR, as Wasmtime answers.
    let name = preopen_name(cx, fd).map_err(|_| Errno::NotDir)?;
    if name.len() > len as usize {
        return Err(Errno::NameTooLong.into());
    }
    mem.write_bytes(buf, name)?;
    Ok(())
}

/// Everything in the directory, `.` and `..` first.
fn list_dir(dir: &cap_std::fs::Dir) -> Result<Vec<DirEntryInfo>, Errno> {
    use rustix::fs::DirEntryExt;
    let ino = rustix::fs::fstat(dir)?.st_ino;
    let mut out = vec![
        DirEntryInfo {
            name: b".".to_vec(),
            ino,
            filetype: filetype::DIRECTORY,
        },
        DirEntryInfo {
            name: b"..".to_vec(),
            ino,
            filetype: filetype::DIRECTORY,
        },
    ];
    for e in dir.entries()? {
        let e = e?;
        let filetype = match e.file_type() {
            Ok(t) => cap_filetype(t),
            // Removed between listing and looking: still report it.
            Err(_) => filetype::UNKNOWN,
        };
        out.push(DirEntryInfo {
            name: e.file_name().as_bytes().to_vec(),
            ino: e.ino(),
            filetype,
        });
    }
    Ok(out)
}

pub(crate) fn fd_readdir(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    buf: u32,
    buf_len: u32,
    cookie: u64,
    bufused: u32,
) -> HostResult {
    let entry = cx.table.get_mut(fd)?;
    let base = entry.base;
    let Kind::Dir(d) = &mut entry.kind else {
        return Err(Errno::NotDir.into());
    };
    require(base, rights::FD_READDIR)?;
    if cookie == 0 || d.listing.is_none() {
        d.listing = Some(list_dir(&d.dir)?);
    }
    let listing = d.listing.as_deref().unwrap_or_default();
    let mut out: Vec<u8> = Vec::new();
    let cap = buf_len as usize;
    for (i, e) in listing
        .iter()
        .enumerate()
        .skip(usize::try_from(cookie).unwrap_or(usize::MAX))
    {
        if out.len() >= cap {
            break;
        }
        let mut head = [0u8; size::DIRENT as usize];
        head[0..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        head[8..16].copy_from_slice(&e.ino.to_le_bytes());
        head[16..20].copy_from_slice(&(e.name.len() as u32).to_le_bytes());
        head[20] = e.filetype;
        out.extend_from_slice(&head);
        out.extend_from_slice(&e.name);
    }
    // A last entry that does not fit is cut off: the guest sees a full
    // buffer and asks again from that entry's cookie.
    out.truncate(cap);
    mem.write_bytes(buf, &out)?;
    mem.write_u32(bufused, out.len() as u32)?;
    Ok(())
}
