//! Inputs whose data may not have arrived yet (a request body still on
//! the wire), and an in-memory pipe that is one.
//!
//! A guest's stdin can be an [`AsyncInput`]
//! ([`WasiCtxBuilder::stdin_async`](crate::WasiCtxBuilder::stdin_async)).
//! Under [`add_to_linker_async`](crate::add_to_linker_async) a read or a
//! `poll_oneoff` that finds no data suspends the guest until the input's
//! waker fires, so no thread waits; under the synchronous
//! [`add_to_linker`](crate::add_to_linker) the call waits on its thread,
//! and a deadline or interrupt still ends the wait at once.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A byte stream the guest reads that may have nothing to give yet.
///
/// The methods take `&self`: the descriptor table and a suspended call's
/// future both hold the input (behind an `Arc`), so implementations keep
/// their state behind a lock.
pub trait AsyncInput: Send + Sync + 'static {
    /// Read what has arrived into `buf`: `Ok(n)` with `n > 0`, `Ok(0)` at
    /// the end of the input, `Err` of kind [`io::ErrorKind::WouldBlock`]
    /// when nothing has arrived yet. Other errors reach the guest as their
    /// errno.
    fn read_now(&self, buf: &mut [u8]) -> io::Result<usize>;

    /// `Ready(n)` once [`read_now`](Self::read_now) would not say
    /// `WouldBlock`, with `n` the bytes it could return at once (a hint
    /// for `poll_oneoff`; 0 at the end of the input or on an error).
    /// Otherwise `Pending`, and `cx`'s waker is woken when that changes:
    /// only the waker of the latest call need be kept.
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<u64>;
}

/// What the two ends of an [`async_pipe`] share.
#[derive(Default)]
struct PipeState {
    data: VecDeque<u8>,
    /// The writer finished: after the data, end of input.
    finished: bool,
    /// The writer went away without finishing: after the data, an error.
    broken: bool,
    waker: Option<Waker>,
}

#[derive(Default)]
struct PipeShared {
    state: Mutex<PipeState>,
}

impl PipeShared {
    fn lock(&self) -> MutexGuard<'_, PipeState> {
        // The state stays consistent whatever panicked while it was held.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(mut state: MutexGuard<'_, PipeState>) {
        let waker = state.waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// An in-memory pipe whose reading end is an [`AsyncInput`]: the embedder
/// writes bytes as they arrive (a request body, say) and then
/// [`finish`](AsyncPipeWriter::finish)es it; the guest reads them as its
/// stdin, suspended (or waiting) while the pipe is empty. A writer
/// dropped without finishing ends the input with an I/O error after the
/// bytes written, so a guest can tell a body cut short from a whole one.
pub fn async_pipe() -> (AsyncPipeWriter, AsyncPipeReader) {
    let shared = Arc::new(PipeShared::default());
    (
        AsyncPipeWriter {
            shared: shared.clone(),
        },
        AsyncPipeReader { shared },
    )
}

/// The writing end of an [`async_pipe`].
pub struct AsyncPipeWriter {
    shared: Arc<PipeShared>,
}

impl AsyncPipeWriter {
    /// Append `bytes` for the reader, waking it.
    pub fn write(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut s = self.shared.lock();
        s.data.extend(bytes);
        PipeShared::wake(s);
    }

    /// End the input: the reader sees end-of-file after the data.
    pub fn finish(self) {
        let mut s = self.shared.lock();
        s.finished = true;
        PipeShared::wake(s);
        // (Drop sees `finished` and does nothing more.)
    }
}

impl Drop for AsyncPipeWriter {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        if !s.finished {
            s.broken = true;
            PipeShared::wake(s);
        }
    }
}

/// The reading end of an [`async_pipe`], to give to
/// [`WasiCtxBuilder::stdin_async`](crate::WasiCtxBuilder::stdin_async).
pub struct AsyncPipeReader {
    shared: Arc<PipeShared>,
}

impl AsyncInput for AsyncPipeReader {
    fn read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = self.shared.lock();
        if !s.data.is_empty() {
            let n = buf.len().min(s.data.len());
            for (b, d) in buf.iter_mut().zip(s.data.drain(..n)) {
                *b = d;
            }
            return Ok(n);
        }
        if s.finished {
            Ok(0)
        } else if s.broken {
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the input was cut short",
            ))
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<u64> {
        let mut s = self.shared.lock();
        if !s.data.is_empty() || s.finished || s.broken {
            return Poll::Ready(s.data.len() as u64);
        }
        match &mut s.waker {
            Some(w) => w.clone_from(cx.waker()),
            None => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn pipe_reads_data_then_end_or_error() {
        let (w, r) = async_pipe();
        let mut cx = Context::from_waker(Waker::noop());
        let mut buf = [0u8; 4];
        assert_eq!(
            r.read_now(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert!(r.poll_readable(&mut cx).is_pending());
        w.write(b"hello");
        assert_eq!(r.poll_readable(&mut cx), Poll::Ready(5));
        assert_eq!(r.read_now(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"hell");
        assert_eq!(r.read_now(&mut buf).unwrap(), 1);
        w.finish();
        assert_eq!(r.poll_readable(&mut cx), Poll::Ready(0));
        assert_eq!(r.read_now(&mut buf).unwrap(), 0);

        let (w, r) = async_pipe();
        w.write(b"ab");
        drop(w);
        assert_eq!(r.read_now(&mut buf).unwrap(), 2);
        assert_eq!(
            r.read_now(&mut buf).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn a_write_wakes_the_last_waker() {
        struct Flag(std::sync::atomic::AtomicBool);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let (w, r) = async_pipe();
        let flag = Arc::new(Flag(false.into()));
        let waker = Waker::from(flag.clone());
        assert!(r
            .poll_readable(&mut Context::from_waker(&waker))
            .is_pending());
        w.write(b"x");
        assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst));
    }
}
