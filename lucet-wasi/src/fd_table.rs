//! The guest's file descriptors: what each number refers to, and the
//! rights it carries.

use crate::abi::{fdflags, rights};
use crate::errno::Errno;
use crate::stdio::{Input, Output};
use cap_std::fs::Dir;
use std::fs::File;
use std::net::{TcpListener, TcpStream};

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

/// A file opened through a directory.
pub(crate) struct FileFd {
    pub file: File,
    /// A FIFO, terminal or other character device: reads and writes may
    /// wait. The host descriptor is then in non-blocking mode and waits go
    /// through [`crate::block`]; regular files (and block devices) never
    /// wait for long, so they are read and written directly.
    pub stream: bool,
    /// A FIFO: a non-blocking read says end-of-file while no writer has
    /// come yet, where a blocking one waits for the writer.
    pub fifo: bool,
}

/// A socket the guest was given or accepted.
pub(crate) enum Socket {
    /// A listening TCP socket (`--tcplisten`): `sock_accept` only.
    Listener(TcpListener),
    /// A connection.
    Stream(TcpStream),
}

/// What a descriptor refers to.
pub(crate) enum Kind {
    /// A file (or FIFO, device...) opened through a directory.
    File(FileFd),
    /// A directory.
    Dir(DirFd),
    /// The guest's standard input.
    Stdin(Input),
    /// The guest's standard output or error.
    Stdout(Output),
    /// A socket; the host descriptor is in non-blocking mode.
    Socket(Socket),
}

/// A descriptor: the object, the rights the guest holds on it, and the
/// descriptor flags the guest set that the host descriptor does not carry.
pub(crate) struct Entry {
    pub kind: Kind,
    pub base: u64,
    pub inheriting: u64,
    /// `fdflags::NONBLOCK` as the guest sees it (host descriptors that may
    /// wait are always non-blocking), and for streams `fdflags::APPEND`.
    pub flags: u16,
}

impl Entry {
    /// A descriptor with no guest-side flags.
    pub fn new(kind: Kind, base: u64, inheriting: u64) -> Entry {
        Entry {
            kind,
            base,
            inheriting,
            flags: 0,
        }
    }

    /// `ENOTCAPABLE` unless every bit of `needed` is among the base rights.
    pub fn require(&self, needed: u64) -> Result<(), Errno> {
        if self.base & needed == needed {
            Ok(())
        } else {
            Err(Errno::NotCapable)
        }
    }

    /// Whether reading or writing this descriptor can wait for someone
    /// else (a writer, a reader, a peer).
    pub fn may_wait(&self) -> bool {
        match &self.kind {
            Kind::File(f) => f.stream,
            Kind::Stdin(Input::Inherit(h)) | Kind::Stdout(Output::Inherit(h)) => h.waits,
            Kind::Stdin(Input::Reader(_)) | Kind::Stdout(Output::Writer(_)) => false,
            Kind::Stdin(Input::Async(_)) => true,
            Kind::Socket(_) => true,
            Kind::Dir(_) => false,
        }
    }

    /// Whether the guest asked for non-blocking I/O on this descriptor.
    pub fn nonblock(&self) -> bool {
        self.flags & fdflags::NONBLOCK != 0
    }

    /// The file, holding `needed` rights. A directory is `EBADF`, like any
    /// other descriptor that is not a file; a stream is `ESPIPE` when the
    /// caller wants positioned I/O.
    pub fn file(&self, needed: u64) -> Result<&File, Errno> {
        match &self.kind {
            Kind::File(f) => {
                self.require(needed)?;
                Ok(&f.file)
            }
            Kind::Stdin(_) | Kind::Stdout(_) | Kind::Socket(_)
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

/// How many descriptors a guest may hold open unless its embedder says
/// otherwise: the standard streams and preopens count too.
pub const DEFAULT_MAX_FDS: usize = 1024;

/// Descriptor numbers to entries. New descriptors get the lowest free
/// number, as in POSIX; at most `limit` are open at once (`EMFILE`), so one
/// guest cannot take all of the host process's descriptors.
pub(crate) struct FdTable {
    entries: Vec<Option<Entry>>,
    open: usize,
    limit: usize,
}

impl Default for FdTable {
    fn default() -> FdTable {
        FdTable::with_limit(DEFAULT_MAX_FDS)
    }
}

impl FdTable {
    /// An empty table holding at most `limit` descriptors.
    pub fn with_limit(limit: usize) -> FdTable {
        FdTable {
            entries: Vec::new(),
            open: 0,
            limit,
        }
    }

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

    /// `EMFILE` if no descriptor can be added. Calls that open something
    /// check first, so that they do not open a host descriptor in vain.
    pub fn check_room(&self) -> Result<(), Errno> {
        if self.open >= self.limit {
            Err(Errno::Mfile)
        } else {
            Ok(())
        }
    }

    /// Add `entry` at the lowest free number (`EMFILE` past the limit).
    pub fn insert(&mut self, entry: Entry) -> Result<u32, Errno> {
        self.check_room()?;
        let slot = match self.entries.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.entries.push(None);
                self.entries.len() - 1
            }
        };
        let fd = u32::try_from(slot).map_err(|_| Errno::Mfile)?;
        self.entries[slot] = Some(entry);
        self.open += 1;
        Ok(fd)
    }

    /// Put `entry` at `fd`, closing what was there (to set up the standard
    /// streams, and for `fd_renumber`).
    pub fn insert_at(&mut self, fd: u32, entry: Entry) {
        let i = fd as usize;
        if self.entries.len() <= i {
            self.entries.resize_with(i + 1, || None);
        }
        if self.entries[i].replace(entry).is_none() {
            self.open += 1;
        }
    }

    /// Remove and return `fd`'s entry, or `EBADF`.
    pub fn remove(&mut self, fd: u32) -> Result<Entry, Errno> {
        let e = self
            .entries
            .get_mut(fd as usize)
            .and_then(Option::take)
            .ok_or(Errno::Badf)?;
        self.open -= 1;
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

    /// How many descriptors are open.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stdio::{HostIo, HostStream};

    fn stream() -> Entry {
        Entry::new(
            Kind::Stdout(Output::Inherit(HostIo::new(HostStream::Stderr))),
            rights::STDIO,
            0,
        )
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

    #[test]
    fn random_operations_keep_the_table_and_a_model_in_step() {
        use std::collections::BTreeMap;
        for seed in 0..200 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let limit = rng.usize(1..12);
            let mut t = FdTable::with_limit(limit);
            // The model: descriptor number -> a tag held in `inheriting`.
            let mut model: BTreeMap<u32, u64> = BTreeMap::new();
            for step in 0..200u64 {
                let fd = rng.u32(0..14);
                match rng.u8(0..4) {
                    0 => {
                        let r = t.insert(Entry::new(stream().kind, 0, step));
                        if model.len() >= limit {
                            assert_eq!(r, Err(Errno::Mfile), "seed {seed}");
                        } else {
                            let lowest = (0..).find(|n| !model.contains_key(n)).unwrap();
                            assert_eq!(r, Ok(lowest), "seed {seed}");
                            model.insert(lowest, step);
                        }
                    }
                    1 => {
                        let r = t.remove(fd).map(|e| e.inheriting);
                        assert_eq!(r.ok(), model.remove(&fd), "seed {seed}");
                    }
                    2 => {
                        let to = rng.u32(0..14);
                        let r = t.renumber(fd, to);
                        if model.contains_key(&fd) && model.contains_key(&to) {
                            assert_eq!(r, Ok(()), "seed {seed}");
                            let tag = model.remove(&fd).unwrap();
                            model.insert(to, tag);
                        } else {
                            assert_eq!(r, Err(Errno::Badf), "seed {seed}");
                        }
                    }
                    _ => {
                        let r = t.get(fd).map(|e| e.inheriting);
                        assert_eq!(r.ok(), model.get(&fd).copied(), "seed {seed}");
                    }
                }
                assert_eq!(t.len(), model.len(), "seed {seed}");
                assert!(t.len() <= limit);
            }
        }
    }

    #[test]
    fn the_limit_counts_open_descriptors() {
        let mut t = FdTable::with_limit(3);
        for _ in 0..3 {
            t.insert(stream()).unwrap();
        }
        assert_eq!(t.insert(stream()).unwrap_err(), Errno::Mfile);
        assert_eq!(t.len(), 3);
        // Renumbering closes the target: one descriptor fewer.
        t.renumber(0, 2).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.insert(stream()).unwrap(), 0);
        assert_eq!(t.insert(stream()).unwrap_err(), Errno::Mfile);
        t.remove(1).unwrap();
        assert_eq!(t.insert(stream()).unwrap(), 1);
    }
}
