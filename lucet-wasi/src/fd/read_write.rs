//! Reading, writing and seeking: `fd_read`, `fd_pread`, `fd_write`,
//! `fd_pwrite`, `fd_seek`, `fd_tell`.

use super::*;

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
