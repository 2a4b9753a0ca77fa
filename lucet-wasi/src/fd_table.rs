//! The guest's file descriptors: what each number refers to, and the
//! rights it carries.

use crate::abi::rights;
use crate::errno::Errno;
use crate::stdio::{Input, Output};
use cap_std::fs::Dir;
use std::fs::File;

/// One directory entry as `fd_readdir` reports it.
pub(crate) struct DirEntryInfo {
    pub name: Vec<u8>,
    pub ino: u64,
    pub filetype: u8,
}

/// An open directory.
pub(crate) struct DirFd {
    pub dir: Dir,
    /// The name the guest sees, for preopened directories.
    pub preopen: Option<Vec<u8>>,
    /// Entries listed by the last `fd_readdir` that started at cookie 0,
    /// so that continuing a listing does not read the directory again.
    pub listing: Option<Vec<DirEntryInfo>>,
}

/// What a descriptor refers to.
pub(crate) enum Kind {
    /// A regular file (or device, fifo...) opened through a directory.
    File(File),
    /// A directory.
    Dir(DirFd),
    /// The guest's standard input.
    Stdin(Input),
    /// The guest's standard output or error.
    Stdout(Output),
}

/// A descriptor: the object, and the rights the guest holds on it.
pub(crate) struct Entry {
    pub kind: Kind,
    pub base: u64,
    pub inheriting: u64,
}

impl Entry {
    /// `ENOTCAPABLE` unless every bit of `needed` is among the base rights.
    pub fn require(&self, needed: u64) -> Result<(), Errno> {
        if self.base & needed == needed {
            Ok(())
        } else {
            Err(Errno::NotCapable)
        }
    }

    /// The file, holding `needed` rights. A directory is `EBADF`, like any
    /// other descriptor that is not a file; a stream is `ESPIPE` when the
    /// caller wants positioned I/O.
    pub fn file(&self, needed: u64) -> Result<&File, Errno> {
        match &self.kind {
            Kind::File(f) => {
                self.require(needed)?;
                Ok(f)
            }
            Kind::Stdin(_) | Kind::Stdout(_)
                if needed & (rights::FD_SEEK | rights::FD_TELL) != 0 =>
            {
                Err(Errno::Spipe)
            }
            _ => Err(Errno::Badf),
        }
    }

    /// The directory, holding `needed` rights; `ENOTDIR` for anything else.
    pub fn dir(&self, needed: u64) -> Result<&Dir, Errno> {
        match &self.kind {
            Kind::Dir(d) => {
                self.require(needed)?;
                Ok(&d.dir)
            }
            _ => Err(Errno::NotDir),
        }
    }
}

/// Descriptor numbers to entries. New descriptors get the lowest free
/// number, as in POSIX.
#[derive(Default)]
pub(crate) struct FdTable {
    entries: Vec<Option<Entry>>,
}

impl FdTable {
    /// The entry for `fd`, or `EBADF`.
    pub fn get(&self, fd: u32) -> Result<&Entry, Errno> {
        self.entries
            .get(fd as usize)
            .and_then(Option::as_ref)
            .ok_or(Errno::Badf)
    }

    /// The entry for `fd`, mutably, or `EBADF`.
    pub fn get_mut(&mut self, fd: u32) -> Result<&mut Entry, Errno> {
        self.entries
            .get_mut(fd as usize)
            .and_then(Option::as_mut)
            .ok_or(Errno::Badf)
    }

    /// Add `entry` at the lowest free number.
    pub fn insert(&mut self, entry: Entry) -> Result<u32, Errno> {
        let slot = match self.entries.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.entries.push(None);
                self.entries.len() - 1
            }
        };
        let fd = u32::try_from(slot).map_err(|_| Errno::Mfile)?;
        self.entries[slot] = Some(entry);
        Ok(fd)
    }

    /// Put `entry` at `fd` (used to set up the standard streams).
    pub fn insert_at(&mut self, fd: u32, entry: Entry) {
        let i = fd as usize;
        if self.entries.len() <= i {
            self.entries.resize_with(i + 1, || None);
        }
        self.entries[i] = Some(entry);
    }

    /// Remove and return `fd`'s entry, or `EBADF`.
    pub fn remove(&mut self, fd: u32) -> Result<Entry, Errno> {
        let e = self
            .entries
            .get_mut(fd as usize)
            .and_then(Option::take)
            .ok_or(Errno::Badf)?;
        while matches!(self.entries.last(), Some(None)) {
            self.entries.pop();
        }
        Ok(e)
    }

    /// Move `from` to `to`, closing what `to` referred to. Both must be open.
    pub fn renumber(&mut self, from: u32, to: u32) -> Result<(), Errno> {
        self.get(from)?;
        self.get(to)?;
        if from != to {
            let e = self.remove(from)?;
            self.insert_at(to, e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stdio::HostStream;

    fn stream() -> Entry {
        Entry {
            kind: Kind::Stdout(Output::Inherit(HostStream::Stderr)),
            base: rights::STDIO,
            inheriting: 0,
        }
    }

    #[test]
    fn lowest_free_number_and_renumber() {
        let mut t = FdTable::default();
        assert_eq!(t.insert(stream()).unwrap(), 0);
        assert_eq!(t.insert(stream()).unwrap(), 1);
        assert_eq!(t.insert(stream()).unwrap(), 2);
        t.remove(1).unwrap();
        assert_eq!(t.insert(stream()).unwrap(), 1);
        assert_eq!(t.renumber(0, 5).unwrap_err(), Errno::Badf);
        t.renumber(0, 2).unwrap();
        assert_eq!(t.get(0).err(), Some(Errno::Badf));
        assert!(t.get(2).is_ok());
        assert_eq!(t.remove(7).err(), Some(Errno::Badf));
        assert_eq!(
            t.get(1).unwrap().file(rights::FD_SEEK).err(),
            Some(Errno::Spipe)
        );
        assert_eq!(t.get(1).unwrap().dir(0).err(), Some(Errno::NotDir));
    }
}
