//! The guest's standard streams: the host's own, or in-memory pipes and
//! any reader or writer the embedder supplies.

use std::io::{self, Cursor, Read, Write};
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
    Inherit,
    /// An embedder-supplied reader; always ready for `poll_oneoff`.
    Reader(Box<dyn Read + Send>),
}

/// Where one standard output goes.
pub(crate) enum Output {
    /// The host's stdout (fd 1) or stderr (fd 2), written without buffering.
    Inherit(HostStream),
    /// An embedder-supplied writer; always ready for `poll_oneoff`.
    Writer(Box<dyn Write + Send>),
}

/// Which of the host's own output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostStream {
    Stdout,
    Stderr,
}

impl Input {
    /// Read into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Inherit => {
                let stdin = io::stdin();
                Ok(rustix::io::read(&stdin, buf)?)
            }
            Input::Reader(r) => r.read(buf),
        }
    }
}

impl Output {
    /// Write all of `bufs`, returning how much was written.
    pub fn write(&mut self, bufs: &[&[u8]]) -> io::Result<usize> {
        match self {
            Output::Inherit(which) => {
                let slices: Vec<io::IoSlice<'_>> =
                    bufs.iter().map(|b| io::IoSlice::new(b)).collect();
                let n = match which {
                    HostStream::Stdout => rustix::io::writev(io::stdout(), &slices)?,
                    HostStream::Stderr => rustix::io::writev(io::stderr(), &slices)?,
                };
                Ok(n)
            }
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
        assert_eq!(out.write(&[b"ab", b"", b"c"]).unwrap(), 3);
        assert_eq!(p.contents(), b"abc");
        assert_eq!(p.take(), b"abc");
        assert!(p.contents().is_empty());
        let mut input = Input::Reader(Box::new(ReadPipe::new("xyz")));
        let mut buf = [0; 8];
        assert_eq!(input.read(&mut buf).unwrap(), 3);
        assert_eq!(input.read(&mut buf).unwrap(), 0);
    }
}
