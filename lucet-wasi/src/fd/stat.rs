//! Descriptor and file status: `fd_fdstat_*`, `fd_filestat_*`,
//! `fd_advise`, `fd_allocate`.

use super::*;

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
