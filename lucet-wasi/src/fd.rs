//! `fd_*`: operations on open descriptors.

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

pub(crate) fn fd_read(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    len: u32,
    nread: u32,
) -> HostResult {
    let (iovs, total) = mem.iovecs(iovs, len)?;
    let stop = cx.stop;
    let entry = cx.table.get_mut(fd)?;
    let (base, nonblock) = (entry.base, entry.nonblock());
    let n = match &mut entry.kind {
        Kind::File(f) => {
            require_access(base, rights::FD_READ)?;
            let file: &File = &f.file;
            if f.fifo {
                scatter_read(mem, &iovs, total, |buf| {
                    read_fifo(&stop, file, nonblock, buf)
                })?
            } else if f.stream {
                scatter_read(mem, &iovs, total, |buf| {
                    block::nonblocking(&stop, file.as_fd(), PollFlags::IN, nonblock, || {
                        io_read(file, &mut *buf)
                    })
                })?
            } else {
                scatter_read(mem, &iovs, total, |buf| {
                    Ok(retry(|| io_read(file, &mut *buf))?)
                })?
            }
        }
        Kind::Stdin(input) => {
            require_access(base, rights::FD_READ)?;
            scatter_read(mem, &iovs, total, |buf| input.read(&stop, nonblock, buf))?
        }
        Kind::Socket(Socket::Stream(s)) => {
            require_access(base, rights::FD_READ)?;
            let s: &TcpStream = s;
            scatter_read(mem, &iovs, total, |buf| {
                block::nonblocking(&stop, s.as_fd(), PollFlags::IN, nonblock, || {
                    io_read(s, &mut *buf)
                })
            })?
        }
        Kind::Dir(_) | Kind::Stdout(_) | Kind::Socket(Socket::Listener(_)) => {
            return Err(Errno::Badf.into())
        }
    };
    mem.write_u32(nread, n)?;
    Ok(())
}

/// Read a FIFO the way a blocking read does. In non-blocking mode, a FIFO
/// no writer has opened yet reads as end-of-file at once; `poll` tells it
/// apart from a writer that came and went (which is a hangup), and the read
/// then waits for a writer to write or leave.
fn read_fifo(stop: &Stop, file: &File, nonblock: bool, buf: &mut [u8]) -> HostResult<usize> {
    loop {
        let n = block::nonblocking(stop, file.as_fd(), PollFlags::IN, nonblock, || {
            io_read(file, &mut *buf)
        })?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        let idle = !stop.wait_for(file.as_fd(), PollFlags::IN, Some(Duration::ZERO))?;
        if !idle {
            return Ok(0);
        }
        if nonblock {
            return Err(Errno::Again.into());
        }
        stop.wait_for(file.as_fd(), PollFlags::IN, None)?;
    }
}

pub(crate) fn fd_pread(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    len: u32,
    offset: u64,
    nread: u32,
) -> HostResult {
    let (iovs, total) = mem.iovecs(iovs, len)?;
    let entry = cx.table.get(fd)?;
    if let Kind::File(_) = entry.kind {
        require_access(entry.base, rights::FD_READ)?;
    }
    let f = entry.file(rights::FD_READ | rights::FD_SEEK)?;
    let n = scatter_read(mem, &iovs, total, |buf| {
        Ok(retry(|| f.read_at(buf, offset))?)
    })?;
    mem.write_u32(nread, n)?;
    Ok(())
}

/// Write all of `bufs` to a non-blocking descriptor of the guest's own,
/// waiting for room (or, with `nonblock`, as much as fits now).
fn write_nonblocking(
    stop: &Stop,
    fd: BorrowedFd<'_>,
    nonblock: bool,
    bufs: &[&[u8]],
    mut write: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
) -> HostResult<usize> {
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    let mut done = 0;
    loop {
        // The buffers still to go, from `done` on.
        let mut skip = done;
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(bufs.len());
        for b in bufs {
            if skip >= b.len() {
                skip -= b.len();
                continue;
            }
            slices.push(IoSlice::new(&b[skip..]));
            skip = 0;
        }
        if slices.is_empty() {
            return Ok(done);
        }
        let r = block::nonblocking(stop, fd, PollFlags::OUT, nonblock, || write(&slices));
        match r {
            Ok(0) => return Ok(done),
            Ok(n) => done += n,
            Err(HostError::Errno(Errno::Again)) if done > 0 => return Ok(done),
            Err(e) if done > 0 && !matches!(e, HostError::Stopped) => return Ok(done),
            Err(e) => return Err(e),
        }
        if done >= total || nonblock {
            return Ok(done);
        }
    }
}

pub(crate) fn fd_write(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    len: u32,
    nwritten: u32,
) -> HostResult {
    let (iovs, _) = mem.iovecs(iovs, len)?;
    let stop = cx.stop;
    let entry = cx.table.get_mut(fd)?;
    let (base, nonblock) = (entry.base, entry.nonblock());
    let n = {
        let bufs = mem.gather(&iovs);
        match &mut entry.kind {
            Kind::File(f) => {
                require_access(base, rights::FD_WRITE)?;
                let file: &File = &f.file;
                if f.stream {
                    write_nonblocking(&stop, file.as_fd(), nonblock, &bufs, |s| {
                        (&*file).write_vectored(s)
                    })?
                } else {
                    let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
                    retry(|| (&*file).write_vectored(&slices))?
                }
            }
            Kind::Stdout(out) => {
                require_access(base, rights::FD_WRITE)?;
                out.write(&stop, nonblock, &bufs)?
            }
            Kind::Socket(Socket::Stream(s)) => {
                require_access(base, rights::FD_WRITE)?;
                let s: &TcpStream = s;
                write_nonblocking(&stop, s.as_fd(), nonblock, &bufs, |sl| sock::send(s, sl))?
            }
            Kind::Dir(_) | Kind::Stdin(_) | Kind::Socket(Socket::Listener(_)) => {
                return Err(Errno::Badf.into())
            }
        }
    };
    mem.write_u32(nwritten, n as u32)?;
    Ok(())
}

pub(crate) fn fd_pwrite(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    len: u32,
    offset: u64,
    nwritten: u32,
) -> HostResult {
    let (iovs, _) = mem.iovecs(iovs, len)?;
    let entry = cx.table.get(fd)?;
    if let Kind::File(_) = entry.kind {
        require_access(entry.base, rights::FD_WRITE)?;
    }
    let f = entry.file(rights::FD_WRITE | rights::FD_SEEK)?;
    let bufs = mem.gather(&iovs);
    let n = match bufs.iter().filter(|b| !b.is_empty()).count() {
        0 => 0,
        1 => {
            let b = bufs
                .iter()
                .find(|b| !b.is_empty())
                .copied()
                .unwrap_or_default();
            retry(|| f.write_at(b, offset))?
        }
        _ => {
            let data = joined(&bufs);
            retry(|| f.write_at(&data, offset))?
        }
    };
    mem.write_u32(nwritten, n as u32)?;
    Ok(())
}

pub(crate) fn fd_seek(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    offset: u64,
    whence: u32,
    newoffset: u32,
) -> HostResult {
    let offset = offset as i64;
    let entry = cx.table.get(fd)?;
    let f = if whence == whence::CUR && offset == 0 {
        tellable(entry)?
    } else {
        entry.file(rights::FD_SEEK)?
    };
    let pos = match whence {
        whence::SET => SeekFrom::Start(u64::try_from(offset).map_err(|_| Errno::Inval)?),
        whence::CUR => SeekFrom::Current(offset),
        whence::END => SeekFrom::End(offset),
        _ => return Err(Errno::Inval.into()),
    };
    let at = rustix::fs::seek(f, pos)?;
    mem.write_u64(newoffset, at)?;
    Ok(())
}

/// The file, for asking its position: `FD_TELL` or the stronger `FD_SEEK`
/// will do.
fn tellable(entry: &Entry) -> Result<&File, Errno> {
    entry.file(rights::FD_TELL).or_else(|e| {
        if e == Errno::NotCapable {
            entry.file(rights::FD_SEEK)
        } else {
            Err(e)
        }
    })
}

pub(crate) fn fd_tell(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    out: u32,
) -> HostResult {
    let f = tellable(cx.table.get(fd)?)?;
    let at = rustix::fs::seek(f, SeekFrom::Current(0))?;
    mem.write_u64(out, at)?;
    Ok(())
}

/// The WASI file type of a host descriptor.
fn fd_filetype(fd: impl AsFd) -> Result<u8, Errno> {
    Ok(mode_filetype(rustix::fs::fstat(fd)?.st_mode))
}

/// What a standard stream looks like to the guest: a character device if
/// it is a terminal, else unknown.
fn stream_filetype(kind: &Kind) -> u8 {
    let tty = match kind {
        Kind::Stdin(Input::Inherit(h)) | Kind::Stdout(Output::Inherit(h)) => {
            rustix::termios::isatty(h.fd())
        }
        _ => false,
    };
    if tty {
        filetype::CHARACTER_DEVICE
    } else {
        filetype::UNKNOWN
    }
}

/// The flags of a host file the guest sees (its own `NONBLOCK` aside).
fn oflags_to_fdflags(fl: OFlags) -> u16 {
    let mut out = 0;
    if fl.contains(OFlags::APPEND) {
        out |= fdflags::APPEND;
    }
    if fl.contains(OFlags::SYNC) {
        out |= fdflags::SYNC;
    } else if fl.contains(OFlags::DSYNC) {
        out |= fdflags::DSYNC;
    }
    if fl.contains(OFlags::RSYNC) && fl.contains(OFlags::SYNC) {
        out |= fdflags::RSYNC;
    }
    out
}

pub(crate) fn fd_fdstat_get(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    out: u32,
) -> HostResult {
    let entry = cx.table.get(fd)?;
    let (ft, flags) = match &entry.kind {
        Kind::File(f) => (
            fd_filetype(&f.file)?,
            oflags_to_fdflags(rustix::fs::fcntl_getfl(&f.file)?) | entry.flags,
        ),
        Kind::Dir(_) => (filetype::DIRECTORY, 0),
        k @ (Kind::Stdin(_) | Kind::Stdout(_)) => (stream_filetype(k), entry.flags),
        Kind::Socket(_) => (filetype::SOCKET_STREAM, entry.flags),
    };
    let mut b = [0u8; size::FDSTAT as usize];
    b[0] = ft;
    b[2..4].copy_from_slice(&flags.to_le_bytes());
    b[8..16].copy_from_slice(&entry.base.to_le_bytes());
    b[16..24].copy_from_slice(&entry.inheriting.to_le_bytes());
    mem.write_bytes(out, &b)?;
    Ok(())
}

pub(crate) fn fd_fdstat_set_flags(
    cx: &mut WasiCtx,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    flags: u32,
) -> HostResult {
    let entry = cx.table.get_mut(fd)?;
    let known =
        fdflags::APPEND | fdflags::DSYNC | fdflags::NONBLOCK | fdflags::RSYNC | fdflags::SYNC;
    if flags & !(known as u32) != 0 {
        return Err(Errno::Inval.into());
    }
    let flags = flags as u16;
    if let Kind::Dir(_) = entry.kind {
        // Nothing to set on a directory (Wasmtime's answer too).
        return Err(Errno::Badf.into());
    }
    entry.require(rights::FD_FDSTAT_SET_FLAGS)?;
    if flags & (fdflags::DSYNC | fdflags::RSYNC | fdflags::SYNC) != 0 {
        // Linux cannot change these on an open file; Wasmtime says EINVAL.
        return Err(Errno::Inval.into());
    }
    match &entry.kind {
        Kind::File(f) => {
            // Append mode is the host's; non-blocking mode is the guest's
            // own (a host descriptor that may wait is non-blocking anyway).
            let mut fl = rustix::fs::fcntl_getfl(&f.file)?;
            fl.set(OFlags::APPEND, flags & fdflags::APPEND != 0);
            rustix::fs::fcntl_setfl(&f.file, fl)?;
            entry.flags = flags & fdflags::NONBLOCK;
        }
        // The host's standard streams keep their host flags (they are
        // shared with other processes): the guest's are emulated.
        Kind::Stdin(_) | Kind::Stdout(_) | Kind::Socket(_) => entry.flags = flags,
        Kind::Dir(_) => {}
    }
    Ok(())
}

pub(crate) fn fd_fdstat_set_rights(
    cx: &mut WasiCtx,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    base: u64,
    inheriting: u64,
) -> HostResult {
    let entry = cx.table.get_mut(fd)?;
    if base & !entry.base != 0 || inheriting & !entry.inheriting != 0 {
        return Err(Errno::NotCapable.into());
    }
    entry.base = base;
    entry.inheriting = inheriting;
    Ok(())
}

fn entry_filestat(entry: &Entry) -> Result<Filestat, Errno> {
    Ok(match &entry.kind {
        Kind::File(f) => Filestat::from_stat(&rustix::fs::fstat(&f.file)?),
        Kind::Dir(d) => Filestat::from_stat(&rustix::fs::fstat(&d.dir)?),
        Kind::Socket(Socket::Listener(l)) => Filestat::from_stat(&rustix::fs::fstat(l)?),
        Kind::Socket(Socket::Stream(s)) => Filestat::from_stat(&rustix::fs::fstat(s)?),
        // A standard stream is a stream, whatever the host's is: its type
        // and nothing else (no host inode, size or times), as Wasmtime
        // answers.
        k @ (Kind::Stdin(_) | Kind::Stdout(_)) => Filestat {
            filetype: stream_filetype(k),
            ..Filestat::default()
        },
    })
}

pub(crate) fn fd_filestat_get(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    out: u32,
) -> HostResult {
    let entry = cx.table.get(fd)?;
    entry.require(rights::FD_FILESTAT_GET)?;
    entry_filestat(entry)?.write(mem, out)?;
    Ok(())
}

pub(crate) fn fd_filestat_set_size(
    cx: &mut WasiCtx,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    size: u64,
) -> HostResult {
    let f = cx.table.get(fd)?.file(rights::FD_FILESTAT_SET_SIZE)?;
    retry(|| f.set_len(size))?;
    Ok(())
}

pub(crate) fn fd_filestat_set_times(
    cx: &mut WasiCtx,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    atim: u64,
    mtim: u64,
    flags: u32,
) -> HostResult {
    let entry = cx.table.get(fd)?;
    let (a, m) = time_changes(atim, mtim, flags)?;
    let times = Timestamps {
        last_access: a.timespec(),
        last_modification: m.timespec(),
    };
    match &entry.kind {
        Kind::File(f) => {
            entry.require(rights::FD_FILESTAT_SET_TIMES)?;
            rustix::fs::futimens(&f.file, &times)?;
        }
        Kind::Dir(d) => {
            entry.require(rights::FD_FILESTAT_SET_TIMES)?;
            rustix::fs::futimens(&d.dir, &times)?;
        }
        _ => return Err(Errno::Badf.into()),
    }
    Ok(())
}

pub(crate) fn fd_advise(
    cx: &mut WasiCtx,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    offset: u64,
    len: u64,
    adv: u32,
) -> HostResult {
    let f = cx.table.get(fd)?.file(rights::FD_ADVISE)?;
    let adv = match adv {
        advice::NORMAL => Advice::Normal,
        advice::SEQUENTIAL => Advice::Sequential,
        advice::RANDOM => Advice::Random,
        advice::WILLNEED => Advice::WillNeed,
        advice::DONTNEED => Advice::DontNeed,
        advice::NOREUSE => Advice::NoReuse,
        _ => return Err(Errno::Inval.into()),
    };
    rustix::fs::fadvise(f, offset, NonZeroU64::new(len), adv)?;
    Ok(())
}

pub(crate) fn fd_allocate(
    cx: &mut WasiCtx,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    offset: u64,
    len: u64,
) -> HostResult {
    let f = cx.table.get(fd)?.file(rights::FD_ALLOCATE)?;
    let end = offset.checked_add(len).ok_or(Errno::Fbig)?;
    if len == 0 || end > i64::MAX as u64 {
        return Err(Errno::Inval.into());
    }
    match rustix::fs::fallocate(f, FallocateFlags::empty(), offset, len) {
        Ok(()) => {}
        // Filesystems without fallocate: at least make the file long enough.
        Err(rustix::io::Errno::OPNOTSUPP) => {
            if f.metadata()?.len() < end {
                f.set_len(end)?;
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
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
