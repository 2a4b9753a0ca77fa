//! Reading a module file once, into memory nobody can change.
//!
//! The path is resolved exactly once, to an `O_PATH` descriptor that opens
//! nothing: anything but a regular file (a FIFO, a device such as
//! `/dev/zero`, a directory, a socket) is refused from `fstat` before it is
//! opened for reading, so no driver's `open` runs and nothing blocks. The
//! regular file is then opened through that descriptor (the same inode,
//! whatever happens to the name meanwhile) and copied, at most
//! `max_size` bytes, into a memfd that is then sealed against writes,
//! growth and shrinking. Every check runs on those sealed bytes, and the
//! dynamic loader maps the same memfd: what runs is what was checked.

use crate::error::Error;
use memmap2::Mmap;
use rustix::fs::{fstat, open, FileType, Mode, OFlags, Stat};
use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The default bound on a module file's size (`LoadOptions::max_file_size`):
/// 256 MiB, far above any real module (the WASI hello program is 72 KB, a
/// large C program a few MB) while keeping a wrong path such as a huge log
/// file from filling memory.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 256 << 20;

/// A file's contents in a sealed memfd, with a read-only view of them.
pub(crate) struct SealedFile {
    map: Mmap,
    fd: OwnedFd,
}

fn kind_of(st: &Stat) -> &'static str {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => "a directory",
        FileType::Fifo => "a FIFO",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Socket => "a socket",
        _ => "not a regular file",
    }
}

fn is_regular(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
}

/// Open `path` for reading if it is a regular file of at most `max_size`
/// bytes, without opening it at all otherwise.
fn open_regular(path: &Path, max_size: u64) -> Result<File, Error> {
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains a NUL byte"),
    })?;
    let io = |e: rustix::io::Errno| Error::io(path, e.into());
    // O_PATH opens no file, only names the inode.
    let named = open(&*cpath, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).map_err(io)?;
    let st = fstat(&named).map_err(io)?;
    if !is_regular(&st) {
        return Err(Error::NotRegularFile {
            path: path.display().to_string(),
            kind: kind_of(&st),
        });
    }
    if st.st_size as u64 > max_size {
        return Err(Error::TooLarge {
            path: path.display().to_string(),
            limit: max_size,
        });
    }
    // Reopening through /proc opens the inode the O_PATH descriptor holds,
    // not whatever the name points to by now.
    let reopen = format!("/proc/thread-self/fd/{}", named.as_raw_fd());
    // O_NOCTTY: opening can never make a terminal ours.
    let file = File::from(
        open(
            reopen.as_str(),
            OFlags::RDONLY | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io)?,
    );
    let again = fstat(&file).map_err(io)?;
    if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino) || !is_regular(&again) {
        return Err(Error::InvalidModule {
            path: path.display().to_string(),
            reason: "the file changed while it was being opened".into(),
        });
    }
    Ok(file)
}

/// Read all of the regular file `path`, at most `max_size` bytes (for
/// small companions such as signatures and keys).
pub(crate) fn read_regular(path: &Path, max_size: u64) -> Result<Vec<u8>, Error> {
    let file = open_regular(path, max_size)?;
    let mut bytes = Vec::new();
    file.take(max_size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max_size {
        return Err(Error::TooLarge {
            path: path.display().to_string(),
            limit: max_size,
        });
    }
    Ok(bytes)
}

impl SealedFile {
    /// Copy the regular file `path` (at most `max_size` bytes) into a
    /// sealed memfd.
    pub fn read(path: &Path, max_size: u64) -> Result<SealedFile, Error> {
        let source = open_regular(path, max_size)?;
        // Writing the copy past the process's file size limit would kill
        // it with SIGXFSZ: refuse such a file, and never copy more.
        let fsize = crate::vm::memfd::file_size_limit();
        let len = source.metadata().map_err(|e| Error::io(path, e))?.len();
        if len > fsize {
            let why = format!(
                "{len} bytes, more than this process's file size limit (RLIMIT_FSIZE, {fsize} \
                 bytes), which the loader's in-memory copy is subject to"
            );
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::FileTooLarge, why),
            ));
        }
        let fd = crate::vm::memfd::create(c"lucet-module")?;
        let mut sink = File::from(fd);
        // std copies file to file inside the kernel (copy_file_range or
        // sendfile) when it can.
        let take = max_size.saturating_add(1).min(fsize);
        let copied =
            std::io::copy(&mut source.take(take), &mut sink).map_err(|e| Error::io(path, e))?;
        if copied > max_size {
            return Err(Error::TooLarge {
                path: path.display().to_string(),
                limit: max_size,
            });
        }
        if copied == 0 {
            return Err(Error::InvalidModule {
                path: path.display().to_string(),
                reason: "the file is empty".into(),
            });
        }
        sink.flush().map_err(|e| Error::io(path, e))?;
        crate::vm::memfd::seal(&sink, "the module's memfd")?;
        // SAFETY: the memfd is sealed: its contents and size cannot change
        // while the map lives, which is what makes the slice sound.
        let map = unsafe { Mmap::map(&sink) }.map_err(|e| Error::io(path, e))?;
        Ok(SealedFile {
            map,
            fd: OwnedFd::from(sink),
        })
    }

    /// The bytes, exactly as they will be loaded.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// A path naming the memfd, for `dlopen`: unique while the memfd is
    /// open, since no other open file has its descriptor number.
    pub fn proc_path(&self) -> CString {
        CString::new(format!("/proc/thread-self/fd/{}", self.fd.as_raw_fd()))
            .expect("no NUL in a formatted number")
    }

    /// Keep only the descriptor (the loaded object maps it; the view used
    /// for checking is no longer needed).
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}
