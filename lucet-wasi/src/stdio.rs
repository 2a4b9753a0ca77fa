//! The guest's standard streams: the host's own, or in-memory pipes and
//! any reader or writer the embedder supplies.

use crate::async_input::AsyncInput;
use crate::block::{self, Stop};
use crate::errno::{HostError, HostResult};
use rustix::event::PollFlags;
use std::io::{self, Cursor, Read, Write};
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex, MutexGuard};

/// An in-memory input for the guest's stdin: reads `bytes`, then EOF.
#[derive(Debug, Default)]
pub struct ReadPipe {
    cursor: Cursor<Vec<u8>>,
}

impl ReadPipe {
    /// A pipe that yields `bytes` and then end of file.
    pub fn new(bytes: impl Into<Vec<u8>>) -> ReadPipe {
        ReadPipe {
            cursor: Cursor::new(bytes.into()),
        }
    }
}

impl Read for ReadPipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.cursor.read(buf)
    }
}

/// An in-memory output that collects what the guest writes. Clones share
/// the same buffer: keep one, give one to the
/// [`WasiCtxBuilder`](crate::WasiCtxBuilder), and read it after the run.
#[derive(Clone, Debug, Default)]
pub struct WritePipe {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl WritePipe {
    /// An empty pipe.
    pub fn new() -> WritePipe {
        WritePipe::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock cannot leave the Vec inconsistent.
        self.buf.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.lock().clone()
    }

    /// Everything written so far, leaving the pipe empty.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.lock())
    }
}

impl Write for WritePipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where one standard input comes from.
pub(crate) enum Input {
    /// The host process's stdin (fd 0), read without buffering.
    Inherit(HostIo),
    /// An embedder-supplied reader; always ready for `poll_oneoff`.
    Reader(Box<dyn Read + Send>),
    /// An embedder-supplied input whose data may not have arrived yet.
    Async(Arc<dyn AsyncInput>),
}

/// Where one standard output goes.
pub(crate) enum Output {
    /// The host's stdout (fd 1) or stderr (fd 2), written without buffering.
    Inherit(HostIo),
    /// An embedder-supplied writer; always ready for `poll_oneoff`.
    Writer(Box<dyn Write + Send>),
}

/// Which of the host's own standard streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostStream {
    Stdin,
    Stdout,
    Stderr,
}

/// Writes to a host stream that may wait go out in pieces of at most this
/// size: a pipe that `poll` calls writable has room for this much (POSIX's
/// `PIPE_BUF`), so no piece waits in the kernel, out of reach of a stop.
const PIECE: usize = 4096;

/// One of the host's standard streams as the guest uses it.
///
/// These descriptors are shared with whoever started the host (a shell, a
/// pipeline), so they are never switched to non-blocking mode: when they
/// can wait at all (pipes, FIFOs, terminals, sockets), each read or write
/// waits for readiness in [`crate::block`] first and then does not block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HostIo {
    pub stream: HostStream,
    /// Whether I/O on it can wait (anything but a regular file or block
    /// device).
    pub waits: bool,
}

impl HostIo {
    /// The host's `stream`, looked at once.
    pub fn new(stream: HostStream) -> HostIo {
        let waits = match rustix::fs::fstat(stream_fd(stream)) {
            Ok(st) => !matches!(
                rustix::fs::FileType::from_raw_mode(st.st_mode),
                rustix::fs::FileType::RegularFile | rustix::fs::FileType::BlockDevice
            ),
            // Closed: I/O fails at once with EBADF.
            Err(_) => false,
        };
        HostIo { stream, waits }
    }

    /// The host descriptor.
    pub fn fd(&self) -> BorrowedFd<'static> {
        stream_fd(self.stream)
    }

    /// Read into `buf`, waiting (unless `nonblock`) for data.
    pub fn read(&self, stop: &Stop, nonblock: bool, buf: &mut [u8]) -> HostResult<usize> {
        let read = || rustix::io::read(self.fd(), &mut *buf).map_err(io::Error::from);
        if self.waits {
            block::when_ready(stop, self.fd(), PollFlags::IN, nonblock, read)
        } else {
            Ok(retry(read)?)
        }
    }

    /// Write `bufs`, waiting (unless `nonblock`) for room; returns how much
    /// was written (all of it unless `nonblock`).
    pub fn write(&self, stop: &Stop, nonblock: bool, bufs: &[&[u8]]) -> HostResult<usize> {
        if !self.waits {
            let slices: Vec<io::IoSlice<'_>> = bufs.iter().map(|b| io::IoSlice::new(b)).collect();
            return Ok(retry(|| {
                rustix::io::writev(self.fd(), &slices).map_err(io::Error::from)
            })?);
        }
        let mut done = 0;
        for piece in bufs.iter().flat_map(|b| b.chunks(PIECE)) {
            // Once something is written, a non-blocking write stops at
            // the first piece that would wait.
            let result = block::when_ready(stop, self.fd(), PollFlags::OUT, nonblock, || {
                rustix::io::write(self.fd(), piece).map_err(io::Error::from)
            });
            match result {
                Ok(n) => {
                    done += n;
                    if n < piece.len() {
                        break;
                    }
                }
                Err(HostError::Stopped) => return Err(HostError::Stopped),
                // What went out before an error (or before a non-blocking
                // write would wait) counts; an error shows on the next call.
                Err(_) if done > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

fn stream_fd(stream: HostStream) -> BorrowedFd<'static> {
    let fd = match stream {
        HostStream::Stdin => 0,
        HostStream::Stdout => 1,
        HostStream::Stderr => 2,
    };
    // SAFETY: the standard descriptor numbers belong to the process for
    // its whole life; if one is closed, calls on it fail with EBADF.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

impl Input {
    /// Read into `buf`.
    pub fn read(&mut self, stop: &Stop, nonblock: bool, buf: &mut [u8]) -> HostResult<usize> {
        match self {
            Input::Inherit(host) => host.read(stop, nonblock, buf),
            Input::Reader(r) => Ok(retry(|| r.read(buf))?),
            Input::Async(a) => block::read_async_input(stop, &**a, nonblock, buf),
        }
    }
}

impl Output {
    /// Write `bufs`, returning how much was written.
    pub fn write(&mut self, stop: &Stop, nonblock: bool, bufs: &[&[u8]]) -> HostResult<usize> {
        match self {
            Output::Inherit(host) => host.write(stop, nonblock, bufs),
            Output::Writer(w) => {
                let mut n = 0;
                for b in bufs {
                    w.write_all(b)?;
                    n += b.len();
                }
                w.flush()?;
                Ok(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_share_their_buffer() {
        let p = WritePipe::new();
        let mut out = Output::Writer(Box::new(p.clone()));
        let stop = Stop::default();
        assert_eq!(out.write(&stop, false, &[b"ab", b"", b"c"]).unwrap(), 3);
        assert_eq!(p.contents(), b"abc");
        assert_eq!(p.take(), b"abc");
        assert!(p.contents().is_empty());
        let mut input = Input::Reader(Box::new(ReadPipe::new("xyz")));
        let mut buf = [0; 8];
        assert_eq!(input.read(&stop, false, &mut buf).unwrap(), 3);
        assert_eq!(input.read(&stop, false, &mut buf).unwrap(), 0);
    }
}
