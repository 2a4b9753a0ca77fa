//! `path_*`: operations on paths relative to a directory descriptor.
//!
//! Every path is resolved by cap-std inside its directory: absolute paths,
//! `..` above the directory and symlinks that lead out of it are refused
//! (`EPERM`), whatever the guest's rights.

// The parameters mirror the WASI signatures one to one.
#![allow(clippy::too_many_arguments)]

use crate::abi::{fdflags, lookupflags, oflags, rights};
use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostResult};
use crate::fd_table::{DirFd, Entry, Kind};
use crate::filestat::{time_changes, Filestat};
use crate::memory::GuestMemory;
use cap_fs_ext::{
    DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt, OpenOptionsSyncExt,
};
use cap_std::fs::{Dir, OpenOptions};
use std::os::unix::ffi::OsStrExt;

/// Rights that let a descriptor change a file's contents.
const WRITE_RIGHTS: u64 =
    rights::FD_WRITE | rights::FD_DATASYNC | rights::FD_ALLOCATE | rights::FD_FILESTAT_SET_SIZE;

fn follows(flags: u32) -> bool {
    flags & lookupflags::SYMLINK_FOLLOW != 0
}

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
    let oflags = u16::try_from(oflags).map_err(|_| Errno::Inval)?;
    let fdflags = u16::try_from(fdflags).map_err(|_| Errno::Inval)?;
    let mut needed = rights::PATH_OPEN;
    if oflags & oflags::CREAT != 0 {
        needed |= rights::PATH_CREATE_FILE;
    }
    if oflags & oflags::TRUNC != 0 {
        needed |= rights::PATH_FILESTAT_SET_SIZE;
    }
    let dir = parent.dir(needed)?;
    let path = mem.path(path, path_len)?;
    // What the new descriptor may do: what was asked, within what the
    // directory passes on.
    let base = base & parent.inheriting;
    let inheriting = inheriting & parent.inheriting;
    let read = base & (rights::FD_READ | rights::FD_READDIR) != 0;
    let write =
        base & WRITE_RIGHTS != 0 || fdflags & fdflags::APPEND != 0 || oflags & oflags::TRUNC != 0;
    let follow = if follows(dirflags) {
        FollowSymlinks::Yes
    } else {
        FollowSymlinks::No
    };

    if oflags & oflags::DIRECTORY != 0 {
        if oflags & (oflags::CREAT | oflags::TRUNC) != 0 {
            return Err(Errno::Inval.into());
        }
        if write {
            return Err(Errno::IsDir.into());
        }
        let sub = match follow {
            FollowSymlinks::Yes => dir.open_dir(path)?,
            FollowSymlinks::No => dir.open_dir_nofollow(path)?,
        };
        return insert_dir(cx, mem, sub, base, inheriting, out);
    }

    let mut opts = OpenOptions::new();
    opts.read(read || !write)
        .write(write)
        .append(fdflags & fdflags::APPEND != 0)
        .truncate(oflags & oflags::TRUNC != 0)
        .follow(follow)
        .maybe_dir(!write)
        .nonblock(fdflags & fdflags::NONBLOCK != 0)
        .dsync(fdflags & fdflags::DSYNC != 0)
        .sync(fdflags & fdflags::SYNC != 0)
        .rsync(fdflags & fdflags::RSYNC != 0);
    if oflags & oflags::CREAT != 0 {
        if oflags & oflags::EXCL != 0 {
            opts.create_new(true);
        } else {
            opts.create(true);
        }
    }
    let file = dir.open_with(path, &opts)?.into_std();
    if file.metadata()?.is_dir() {
        return insert_dir(cx, mem, Dir::from_std_file(file), base, inheriting, out);
    }
    let entry = Entry {
        kind: Kind::File(file),
        base: base & rights::REGULAR_FILE,
        inheriting,
    };
    let new = cx.table.insert(entry)?;
    mem.write_u32(out, new)?;
    Ok(())
}

fn insert_dir(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    dir: Dir,
    base: u64,
    inheriting: u64,
    out: u32,
) -> HostResult {
    let entry = Entry {
        kind: Kind::Dir(DirFd {
            dir,
            preopen: None,
            listing: None,
        }),
        base: base & rights::DIRECTORY,
        inheriting,
    };
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
    dir.remove_dir(mem.path(path, len)?)?;
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
