//! The guest's stdout and stderr: in memory, capped.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

/// An in-memory stdout or stderr that keeps at most `limit` bytes. Writes
/// past the limit fail (the guest sees an I/O error), or with `truncate`
/// are silently dropped.
#[derive(Clone)]
pub(crate) struct CappedPipe {
    inner: Arc<Mutex<(Vec<u8>, bool)>>,
    limit: usize,
    truncate: bool,
}

impl CappedPipe {
    pub fn new(limit: usize, truncate: bool) -> CappedPipe {
        CappedPipe {
            inner: Arc::new(Mutex::new((Vec::new(), false))),
            limit,
            truncate,
        }
    }

    fn lock(&self) -> MutexGuard<'_, (Vec<u8>, bool)> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The contents, and whether a write went over the limit.
    pub fn take(&self) -> (Vec<u8>, bool) {
        std::mem::take(&mut *self.lock())
    }
}

impl Write for CappedPipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (limit, truncate) = (self.limit, self.truncate);
        let mut g = self.lock();
        let room = limit.saturating_sub(g.0.len());
        if buf.len() > room {
            g.1 = true;
            if !truncate {
                return Err(std::io::Error::other("output limit reached"));
            }
            g.0.extend_from_slice(&buf[..room]);
            return Ok(buf.len());
        }
        g.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_pipe() {
        let mut p = CappedPipe::new(5, false);
        p.write_all(b"abc").unwrap();
        assert!(p.write_all(b"def").is_err());
        assert_eq!(p.take(), (b"abc".to_vec(), true));
        let mut t = CappedPipe::new(5, true);
        t.write_all(b"abcdefgh").unwrap();
        assert_eq!(t.take(), (b"abcde".to_vec(), true));
    }
}
