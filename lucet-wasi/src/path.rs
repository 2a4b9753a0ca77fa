//! `path_*`: operations on paths relative to a directory descriptor.
//!
//! Every path is resolved by cap-std inside its directory: absolute paths,
//! `..` above the directory and symlinks that lead out of it are refused
//! (`EPERM`), whatever the guest's rights.

// The parameters mirror the WASI signatures one to one.
#![allow(clippy::too_many_arguments)]

use crate::abi::{fdflags, lookupflags, oflags, rights};
use crate::block::Stop;
use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostError, HostResult};
use crate::fd_table::{DirFd, Entry, FileFd, Kind};
use crate::filestat::{time_changes, Filestat};
use crate::memory::GuestMemory;
use cap_fs_ext::{
    DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt, OpenOptionsSyncExt,
};
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;

/// Rights that need the host file open for writing.
const WRITE_RIGHTS: u64 = rights::FD_WRITE | rights::FD_ALLOCATE | rights::FD_FILESTAT_SET_SIZE;

fn follows(flags: u32) -> bool {
    flags & lookupflags::SYMLINK_FOLLOW != 0
}

/// Open `path`. The rights asked for are a ceiling for the new descriptor
/// (cut down to what the directory passes on), not a request to open for
/// writing: only `FD_WRITE` (or a write-only right, append mode, or
/// truncation) opens the host file for writing, so a directory opened with
/// a directory's full set of rights is not refused with `EISDIR`.
///
/// Nothing here waits out of reach of a stop: files are opened in
/// non-blocking mode. A FIFO opened for reading is open at once (its first
/// read waits for a writer, as `poll(2)` sees it); a FIFO opened for
/// writing waits for a reader, interruptibly (see [`open_fifo_for_writing`]).
pub(crate) fn path_open(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    dirflags: u32,
    path: u32,
    path_len: u32,
    oflags: u32,
    base: u64,
    inheriting: u64,
    fdflags: u32,
    out: u32,
) -> HostResult {
    let parent = cx.table.get(fd)?;
    let all_oflags = oflags::CREAT | oflags::DIRECTORY | oflags::EXCL | oflags::TRUNC;
    let oflags = u16::try_from(oflags)
        .ok()
        .filter(|o| o & !all_oflags == 0)
        .ok_or(Errno::Inval)?;
    let all_fdflags =
        fdflags::APPEND | fdflags::DSYNC | fdflags::NONBLOCK | fdflags::RSYNC | fdflags::SYNC;
    let fdflags = u16::try_from(fdflags)
        .ok()
        .filter(|f| f & !all_fdflags == 0)
        .ok_or(Errno::Inval)?;
    let mut needed = rights::PATH_OPEN;
    if oflags & oflags::CREAT != 0 {
        needed |= rights::PATH_CREATE_FILE;
    }
    if oflags & oflags::TRUNC != 0 {
        needed |= rights::PATH_FILESTAT_SET_SIZE;
    }
    let dir = parent.dir(needed)?;
    let path = mem.path(path, path_len)?;
    cx.table.check_room()?;
    // What the new descriptor may do: at most what the directory passes on.
    let ceiling = base & parent.inheriting;
    let inheriting = inheriting & parent.inheriting;
    let follow = if follows(dirflags) {
        FollowSymlinks::Yes
    } else {
        FollowSymlinks::No
    };
    let nonblock = fdflags & fdflags::NONBLOCK != 0;

    if oflags & oflags::DIRECTORY != 0 {
        if oflags & (oflags::CREAT | oflags::TRUNC) != 0 {
            return Err(Errno::Inval.into());
        }
        // Asking to write a directory is refused, as open(2) refuses it.
        if base & rights::FD_WRITE != 0 {
            return Err(Errno::IsDir.into());
        }
        let sub = match follow {
            FollowSymlinks::Yes => dir.open_dir(path)?,
            FollowSymlinks::No => dir.open_dir_nofollow(path)?,
        };
        return insert_dir(cx, mem, sub, ceiling, inheriting, out);
    }

    let asked_to_write = base & rights::FD_WRITE != 0
        || fdflags & fdflags::APPEND != 0
        || oflags & oflags::TRUNC != 0;
    let mut write = asked_to_write || ceiling & WRITE_RIGHTS != 0;
    let mut read = ceiling & (rights::FD_READ | rights::FD_READDIR) != 0 || !write;
    let options = |read: bool, write: bool| {
        let mut opts = OpenOptions::new();
        opts.read(read)
            .write(write)
            .truncate(oflags & oflags::TRUNC != 0)
            .follow(follow)
            .maybe_dir(!write)
            // Never wait in open(2): see above.
            .nonblock(true)
            .dsync(fdflags & fdflags::DSYNC != 0)
            .sync(fdflags & fdflags::SYNC != 0)
            .rsync(fdflags & fdflags::RSYNC != 0);
        // Append mode goes in as a raw flag: `OpenOptions::append` refuses
        // to go with truncation, which O_APPEND|O_TRUNC is fine with. So
        // does creation without write access, which O_RDONLY|O_CREAT is
        // fine with too.
        let mut raw = 0;
        if fdflags & fdflags::APPEND != 0 {
            raw |= libc::O_APPEND;
        }
        if oflags & oflags::CREAT != 0 {
            let excl = oflags & oflags::EXCL != 0;
            if !write {
                raw |= libc::O_CREAT | if excl { libc::O_EXCL } else { 0 };
            } else if excl {
                opts.create_new(true);
            } else {
                opts.create(true);
            }
        }
        opts.custom_flags(raw);
        opts
    };
    let opened = match dir.open_with(path, &options(read, write)) {
        // Only a right such as FD_FILESTAT_SET_SIZE asked for writing, and
        // this is a directory: open it for reading.
        Err(e) if !asked_to_write && e.raw_os_error() == Some(libc::EISDIR) => {
            write = false;
            read = true;
            dir.open_with(path, &options(read, write))
                .map_err(HostError::from)
        }
        // A FIFO without a reader: wait for one, unless the guest asked
        // not to wait.
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) && write && !read && !nonblock => {
            let mut opts = OpenOptions::new();
            opts.read(true).follow(follow).custom_flags(libc::O_PATH);
            let fifo = dir.open_with(path, &opts)?.into_std();
            open_fifo_for_writing(&cx.stop, &fifo, fdflags & fdflags::APPEND != 0)
                .map(cap_std::fs::File::from_std)
        }
        r => r.map_err(HostError::from),
    };
    let file = opened?.into_std();
    let file_type = rustix::fs::FileType::from_raw_mode(rustix::fs::fstat(&file)?.st_mode);
    if file_type == rustix::fs::FileType::Directory {
        return insert_dir(cx, mem, Dir::from_std_file(file), ceiling, inheriting, out);
    }
    // A descriptor opened without write (or read) access has no use for
    // the rights that need it.
    let mut allowed = rights::REGULAR_FILE;
    if !write {
        allowed &= !WRITE_RIGHTS;
    }
    if !read {
        allowed &= !rights::FD_READ;
    }
    let stream = !matches!(
        file_type,
        rustix::fs::FileType::RegularFile | rustix::fs::FileType::BlockDevice
    );
    let fifo = file_type == rustix::fs::FileType::Fifo;
    let mut entry = Entry::new(
        Kind::File(FileFd { file, stream, fifo }),
        ceiling & allowed,
        inheriting,
    );
    entry.flags = fdflags & fdflags::NONBLOCK;
    let new = cx.table.insert(entry)?;
    mem.write_u32(out, new)?;
    Ok(())
}

/// Open a FIFO for writing, waiting until it has a reader (what a blocking
/// open(2) does), but leaving the wait as soon as the run is stopped.
///
/// `fifo` is the FIFO opened with `O_PATH` (no I/O, no wait). The blocking
/// open goes through `/proc/self/fd`, and while it waits, a helper thread
/// watches the stop event: when the run is stopped it opens the FIFO for
/// reading (non-blocking) itself, which completes the open, and the
/// descriptor is closed at once. Without `/proc` the open is not attempted
/// and fails with `ENXIO`, as a non-blocking open would.
fn open_fifo_for_writing(
    stop: &Stop,
    fifo: &std::fs::File,
    append: bool,
) -> HostResult<std::fs::File> {
    use rustix::fs::{Mode, OFlags, CWD};
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    match rustix::fs::stat(path.as_str()) {
        Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Fifo => {
        }
        _ => return Err(Errno::Nxio.into()),
    }
    let (done_r, done_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let released = std::sync::atomic::AtomicBool::new(false);
    let mut flags = OFlags::WRONLY | OFlags::CLOEXEC;
    if append {
        flags |= OFlags::APPEND;
    }
    let opened = std::thread::scope(|s| {
        let helper = s.spawn(|| {
            let done = done_r.as_fd();
            let mut p = [rustix::event::PollFd::new(
                &done,
                rustix::event::PollFlags::IN,
            )];
            if let Err(HostError::Stopped) = stop.wait(&mut p, None) {
                released.store(true, std::sync::atomic::Ordering::SeqCst);
                // Become the reader the open waits for, for a moment.
                let _ = rustix::fs::openat(
                    CWD,
                    path.as_str(),
                    OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
                    Mode::empty(),
                );
            }
        });
        let opened = loop {
            match rustix::fs::openat(CWD, path.as_str(), flags, Mode::empty()) {
                Err(rustix::io::Errno::INTR) => continue,
                r => break r,
            }
        };
        let _ = rustix::io::write(&done_w, b"x");
        let _ = helper.join();
        opened
    });
    if released.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(HostError::Stopped);
    }
    let fd = opened?;
    // Like every descriptor that may wait: non-blocking on the host.
    rustix::fs::fcntl_setfl(&fd, rustix::fs::fcntl_getfl(&fd)? | OFlags::NONBLOCK)?;
    Ok(std::fs::File::from(fd))
}

fn insert_dir(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    dir: Dir,
    base: u64,
    inheriting: u64,
    out: u32,
) -> HostResult {
    let entry = Entry::new(
        Kind::Dir(DirFd {
            dir,
            preopen: None,
            listing: None,
        }),
        base & rights::DIRECTORY,
        inheriting,
    );
    let new = cx.table.insert(entry)?;
    mem.write_u32(out, new)?;
    Ok(())
}

pub(crate) fn path_create_directory(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    len: u32,
) -> HostResult {
    let dir = cx.table.get(fd)?.dir(rights::PATH_CREATE_DIRECTORY)?;
    dir.create_dir(mem.path(path, len)?)?;
    Ok(())
}

pub(crate) fn path_remove_directory(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    len: u32,
) -> HostResult {
    let dir = cx.table.get(fd)?.dir(rights::PATH_REMOVE_DIRECTORY)?;
    // rmdir(2) takes "dir/" for "dir"; cap-std would read it as "dir/.".
    let path = mem.path(path, len)?.as_os_str().as_bytes();
    let end = path
        .iter()
        .rposition(|&c| c != b'/')
        .map_or(path.len(), |i| i + 1);
    dir.remove_dir(std::ffi::OsStr::from_bytes(&path[..end]))?;
    Ok(())
}

pub(crate) fn path_unlink_file(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    len: u32,
) -> HostResult {
    let dir = cx.table.get(fd)?.dir(rights::PATH_UNLINK_FILE)?;
    dir.remove_file(mem.path(path, len)?)?;
    Ok(())
}

pub(crate) fn path_filestat_get(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    flags: u32,
    path: u32,
    len: u32,
    out: u32,
) -> HostResult {
    let dir = cx.table.get(fd)?.dir(rights::PATH_FILESTAT_GET)?;
    let path = mem.path(path, len)?;
    let meta = if follows(flags) {
        dir.metadata(path)?
    } else {
        dir.symlink_metadata(path)?
    };
    Filestat::from_metadata(&meta).write(mem, out)?;
    Ok(())
}

pub(crate) fn path_filestat_set_times(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    flags: u32,
    path: u32,
    len: u32,
    atim: u64,
    mtim: u64,
    fst_flags: u32,
) -> HostResult {
    let dir = cx.table.get(fd)?.dir(rights::PATH_FILESTAT_SET_TIMES)?;
    let path = mem.path(path, len)?;
    let (a, m) = time_changes(atim, mtim, fst_flags)?;
    if follows(flags) {
        dir.set_times(path, a.spec(), m.spec())?;
    } else {
        dir.set_symlink_times(path, a.spec(), m.spec())?;
    }
    Ok(())
}

pub(crate) fn path_link(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    old_fd: u32,
    old_flags: u32,
    old_path: u32,
    old_len: u32,
    new_fd: u32,
    new_path: u32,
    new_len: u32,
) -> HostResult {
    let old_dir = cx.table.get(old_fd)?.dir(rights::PATH_LINK_SOURCE)?;
    let new_dir = cx.table.get(new_fd)?.dir(rights::PATH_LINK_TARGET)?;
    if follows(old_flags) {
        // Linking what a symlink points to is not offered by cap-std.
        return Err(Errno::Inval.into());
    }
    old_dir.hard_link(
        mem.path(old_path, old_len)?,
        new_dir,
        mem.path(new_path, new_len)?,
    )?;
    Ok(())
}

pub(crate) fn path_rename(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    old_fd: u32,
    old_path: u32,
    old_len: u32,
    new_fd: u32,
    new_path: u32,
    new_len: u32,
) -> HostResult {
    let old_dir = cx.table.get(old_fd)?.dir(rights::PATH_RENAME_SOURCE)?;
    let new_dir = cx.table.get(new_fd)?.dir(rights::PATH_RENAME_TARGET)?;
    old_dir.rename(
        mem.path(old_path, old_len)?,
        new_dir,
        mem.path(new_path, new_len)?,
    )?;
    Ok(())
}

pub(crate) fn path_symlink(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    old_path: u32,
    old_len: u32,
    fd: u32,
    new_path: u32,
    new_len: u32,
) -> HostResult {
    let dir = cx.table.get(fd)?.dir(rights::PATH_SYMLINK)?;
    // cap-std refuses absolute targets; relative ones that climb out are
    // created but can never be followed out of the directory.
    dir.symlink(mem.path(old_path, old_len)?, mem.path(new_path, new_len)?)?;
    Ok(())
}

pub(crate) fn path_readlink(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    len: u32,
    buf: u32,
    buf_len: u32,
    bufused: u32,
) -> HostResult {
    let dir = cx.table.get(fd)?.dir(rights::PATH_READLINK)?;
    let target = dir.read_link(mem.path(path, len)?)?;
    let bytes = target.as_os_str().as_bytes();
    let n = bytes.len().min(buf_len as usize);
    mem.write_bytes(buf, &bytes[..n])?;
    mem.write_u32(bufused, n as u32)?;
    Ok(())
}
