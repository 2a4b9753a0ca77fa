//! `filestat` and file types: converting host metadata for the guest.

use crate::abi::{filetype, fstflags, size};
use crate::errno::Errno;
use crate::memory::GuestMemory;
use cap_std::fs::FileTypeExt;
use cap_std::fs::{FileType, Metadata, MetadataExt};
use rustix::fs::{FileType as RawType, Stat};

/// A WASI `filestat` (64 bytes in guest memory).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Filestat {
    pub dev: u64,
    pub ino: u64,
    pub filetype: u8,
    pub nlink: u64,
    pub size: u64,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

fn nanos(sec: i64, nsec: i64) -> u64 {
    (sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(nsec as u64)
}

/// The WASI file type of a host `st_mode`.
pub(crate) fn mode_filetype(mode: u32) -> u8 {
    match RawType::from_raw_mode(mode) {
        RawType::RegularFile => filetype::REGULAR_FILE,
        RawType::Directory => filetype::DIRECTORY,
        RawType::Symlink => filetype::SYMBOLIC_LINK,
        RawType::CharacterDevice => filetype::CHARACTER_DEVICE,
        RawType::BlockDevice => filetype::BLOCK_DEVICE,
        RawType::Socket => filetype::SOCKET_STREAM,
        _ => filetype::UNKNOWN,
    }
}

/// The WASI file type of a cap-std file type.
pub(crate) fn cap_filetype(t: FileType) -> u8 {
    if t.is_file() {
        filetype::REGULAR_FILE
    } else if t.is_dir() {
        filetype::DIRECTORY
    } else if t.is_symlink() {
        filetype::SYMBOLIC_LINK
    } else if t.is_char_device() {
        filetype::CHARACTER_DEVICE
    } else if t.is_block_device() {
        filetype::BLOCK_DEVICE
    } else if t.is_socket() {
        filetype::SOCKET_STREAM
    } else {
        filetype::UNKNOWN
    }
}

impl Filestat {
    /// From `fstat`.
    pub fn from_stat(st: &Stat) -> Filestat {
        Filestat {
            dev: st.st_dev,
            ino: st.st_ino,
            filetype: mode_filetype(st.st_mode),
            nlink: st.st_nlink,
            size: st.st_size as u64,
            atim: nanos(st.st_atime, st.st_atime_nsec as i64),
            mtim: nanos(st.st_mtime, st.st_mtime_nsec as i64),
            ctim: nanos(st.st_ctime, st.st_ctime_nsec as i64),
        }
    }

    /// From path metadata.
    pub fn from_metadata(m: &Metadata) -> Filestat {
        Filestat {
            dev: m.dev(),
            ino: m.ino(),
            filetype: cap_filetype(m.file_type()),
            nlink: m.nlink(),
            size: m.size(),
            atim: nanos(m.atime(), m.atime_nsec()),
            mtim: nanos(m.mtime(), m.mtime_nsec()),
            ctim: nanos(m.ctime(), m.ctime_nsec()),
        }
    }

    /// Store at `ptr` in the guest's layout.
    pub fn write(&self, mem: &mut GuestMemory<'_>, ptr: u32) -> Result<(), Errno> {
        let mut b = [0u8; size::FILESTAT as usize];
        b[0..8].copy_from_slice(&self.dev.to_le_bytes());
        b[8..16].copy_from_slice(&self.ino.to_le_bytes());
        b[16] = self.filetype;
        b[24..32].copy_from_slice(&self.nlink.to_le_bytes());
        b[32..40].copy_from_slice(&self.size.to_le_bytes());
        b[40..48].copy_from_slice(&self.atim.to_le_bytes());
        b[48..56].copy_from_slice(&self.mtim.to_le_bytes());
        b[56..64].copy_from_slice(&self.ctim.to_le_bytes());
        mem.write_bytes(ptr, &b)
    }
}

/// A requested change of one timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeChange {
    /// Leave it.
    Keep,
    /// Set it to the current time.
    Now,
    /// Set it to this many nanoseconds since the epoch.
    At(u64),
}

/// Decode `fstflags` with the two timestamps; `EINVAL` for unknown bits or
/// for both "set" and "now" on one timestamp.
pub(crate) fn time_changes(
    atim: u64,
    mtim: u64,
    flags: u32,
) -> Result<(TimeChange, TimeChange), Errno> {
    let all = fstflags::ATIM | fstflags::ATIM_NOW | fstflags::MTIM | fstflags::MTIM_NOW;
    if flags & !(all as u32) != 0 {
        return Err(Errno::Inval);
    }
    let flags = flags as u16;
    let one = |set: u16, now: u16, t: u64| match (flags & set != 0, flags & now != 0) {
        (true, true) => Err(Errno::Inval),
        (true, false) => Ok(TimeChange::At(t)),
        (false, true) => Ok(TimeChange::Now),
        (false, false) => Ok(TimeChange::Keep),
    };
    Ok((
        one(fstflags::ATIM, fstflags::ATIM_NOW, atim)?,
        one(fstflags::MTIM, fstflags::MTIM_NOW, mtim)?,
    ))
}

impl TimeChange {
    /// As a `timespec` for `utimensat`/`futimens`.
    pub fn timespec(self) -> rustix::fs::Timespec {
        match self {
            TimeChange::Keep => rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            TimeChange::Now => rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_NOW,
            },
            TimeChange::At(ns) => rustix::fs::Timespec {
                tv_sec: (ns / 1_000_000_000) as i64,
                tv_nsec: (ns % 1_000_000_000) as _,
            },
        }
    }

    /// As cap-std's time specification.
    pub fn spec(self) -> Option<cap_fs_ext::SystemTimeSpec> {
        use cap_fs_ext::SystemTimeSpec;
        match self {
            TimeChange::Keep => None,
            TimeChange::Now => Some(SystemTimeSpec::SymbolicNow),
            TimeChange::At(ns) => Some(SystemTimeSpec::Absolute(
                cap_std::time::SystemTime::from_std(
                    std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns),
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstflags_are_validated() {
        assert_eq!(
            time_changes(1, 2, 0).unwrap(),
            (TimeChange::Keep, TimeChange::Keep)
        );
        assert_eq!(
            time_changes(1, 2, (fstflags::ATIM | fstflags::MTIM_NOW) as u32).unwrap(),
            (TimeChange::At(1), TimeChange::Now)
        );
        assert_eq!(
            time_changes(1, 2, (fstflags::ATIM | fstflags::ATIM_NOW) as u32),
            Err(Errno::Inval)
        );
        assert_eq!(time_changes(1, 2, 1 << 4), Err(Errno::Inval));
    }

    #[test]
    fn filestat_layout() {
        let mut buf = vec![0u8; 64];
        let mut m = GuestMemory::new(&mut buf);
        let st = Filestat {
            dev: 1,
            ino: 2,
            filetype: filetype::REGULAR_FILE,
            nlink: 3,
            size: 4,
            atim: 5,
            mtim: 6,
            ctim: 7,
        };
        st.write(&mut m, 0).unwrap();
        assert_eq!(buf[16], 4);
        assert_eq!(buf[24], 3);
        assert_eq!(buf[32], 4);
        assert_eq!(buf[56], 7);
    }
}
