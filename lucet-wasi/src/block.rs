//! Where WASI calls wait.
//!
//! Every call that can block — reads and writes on pipes, FIFOs, terminals
//! and sockets, `poll_oneoff` (sleeps included), `sock_accept`, opening a
//! FIFO — waits here, in one `poll(2)` on its own descriptors plus the
//! run's stop event (an eventfd the runtime makes readable when the run is
//! stopped by its deadline or an interrupt). So a stopped run leaves any
//! WASI call at once, with no polling loop. The wait ends in
//! [`HostError::Stopped`], which the dispatcher turns into the runtime's
//! termination error.
//!
//! An [`AsyncInput`] (a request body still arriving) has no descriptor of
//! its own: a wait on it here registers an [`EventWaker`], whose eventfd
//! joins the same poll. Under [`add_to_linker_async`](crate::add_to_linker_async)
//! waits on timers and async inputs do not come here at all: the guest is
//! suspended on a future instead (see `crate::suspend`), and only waits on
//! host descriptors still take this path.

use crate::async_input::AsyncInput;
use crate::errno::{Errno, HostError, HostResult};
use rustix::event::{PollFd, PollFlags};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

/// The stop event of the run a WASI call belongs to.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stop {
    /// The runtime's eventfd, readable once the run is stopped; `None` for
    /// calls that never wait.
    event: Option<RawFd>,
}

impl Stop {
    /// The stop event `fd`, which must stay open while this value is used
    /// (the runtime keeps it open for the duration of the hostcall).
    pub fn new(fd: RawFd) -> Stop {
        Stop { event: Some(fd) }
    }

    /// Wait until one of `fds` has an event, `timeout` passes (`None`: no
    /// limit) or the run is stopped. Returns the number of ready `fds`
    /// (0: the timeout passed); their `revents` say which.
    pub fn wait(&self, fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> HostResult<usize> {
        let end = timeout.map(|t| Instant::now() + t);
        // SAFETY: the runtime keeps the stop event open while the hostcall
        // runs, and this borrow does not outlive this call.
        let event: Option<BorrowedFd<'static>> =
            self.event.map(|fd| unsafe { BorrowedFd::borrow_raw(fd) });
        let mut all: Vec<PollFd<'_>> = Vec::with_capacity(fds.len() + 1);
        for p in fds.iter() {
            all.push(p.clone());
        }
        if let Some(e) = event {
            all.push(PollFd::from_borrowed_fd(e, PollFlags::IN));
        }
        loop {
            let left = end.map(|e| e.saturating_duration_since(Instant::now()));
            let ts = left.map(|d| rustix::time::Timespec {
                tv_sec: d.as_secs() as i64,
                tv_nsec: d.subsec_nanos() as _,
            });
            match rustix::event::poll(&mut all, ts.as_ref()) {
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if event.is_some() && all.last().is_some_and(|p| !p.revents().is_empty()) {
            return Err(HostError::Stopped);
        }
        let mut ready = 0;
        for (p, q) in fds.iter_mut().zip(&all) {
            *p = q.clone();
            if !q.revents().is_empty() {
                ready += 1;
            }
        }
        Ok(ready)
    }

    /// Wait until `fd` has one of `events` (or an error or hangup), or the
    /// run is stopped; `timeout` as for [`wait`](Self::wait). Whether it
    /// became ready.
    pub fn wait_for(
        &self,
        fd: BorrowedFd<'_>,
        events: PollFlags,
        timeout: Option<Duration>,
    ) -> HostResult<bool> {
        let mut p = [PollFd::new(&fd, events)];
        Ok(self.wait(&mut p, timeout)? > 0)
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Do `op` on `fd`, a descriptor of the guest's own in non-blocking mode,
/// waiting for `events` whenever it would block. A guest that asked for
/// non-blocking I/O (`nonblock`) gets `EAGAIN` instead of a wait.
pub(crate) fn nonblocking<T>(
    stop: &Stop,
    fd: BorrowedFd<'_>,
    events: PollFlags,
    nonblock: bool,
    mut op: impl FnMut() -> io::Result<T>,
) -> HostResult<T> {
    loop {
        match op() {
            Err(e) if would_block(&e) => {
                if nonblock {
                    return Err(Errno::Again.into());
                }
                stop.wait_for(fd, events, None)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return Ok(r?),
        }
    }
}

/// Do `op` on `fd` once it is ready for `events`. For descriptors that must
/// stay in blocking mode because others share them (the host's own
/// standard streams): `op` then does not block, unless another process
/// takes the data or the room in between. With `nonblock`, a descriptor
/// that is not ready at once is `EAGAIN`.
pub(crate) fn when_ready<T>(
    stop: &Stop,
    fd: BorrowedFd<'_>,
    events: PollFlags,
    nonblock: bool,
    mut op: impl FnMut() -> io::Result<T>,
) -> HostResult<T> {
    let timeout = nonblock.then_some(Duration::ZERO);
    if !stop.wait_for(fd, events, timeout)? {
        return Err(Errno::Again.into());
    }
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return Ok(r?),
        }
    }
}

/// A waker that makes an eventfd readable, so that a synchronous wait can
/// poll for an [`AsyncInput`] beside descriptors and the stop event.
pub(crate) struct EventWaker {
    fd: Arc<OwnedFd>,
    waker: Waker,
}

struct EventWake(Arc<OwnedFd>);

impl Wake for EventWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // A full counter (never, in practice) is readable all the same.
        let _ = rustix::io::write(&*self.0, &1u64.to_ne_bytes());
    }
}

impl EventWaker {
    pub fn new() -> HostResult<EventWaker> {
        let fd = Arc::new(rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )?);
        let waker = Waker::from(Arc::new(EventWake(fd.clone())));
        Ok(EventWaker { fd, waker })
    }

    /// A context whose waker makes [`fd`](Self::fd) readable.
    pub fn context(&self) -> Context<'_> {
        Context::from_waker(&self.waker)
    }

    /// Readable once woken.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Make it unreadable again, before polling the input anew.
    pub fn reset(&self) {
        let mut b = [0u8; 8];
        let _ = rustix::io::read(&*self.fd, &mut b);
    }
}

/// Read from an [`AsyncInput`] on this thread: what has arrived, or wait
/// (unless `nonblock`: `EAGAIN`) until something does, the input ends, or
/// the run is stopped.
pub(crate) fn read_async_input(
    stop: &Stop,
    input: &dyn AsyncInput,
    nonblock: bool,
    buf: &mut [u8],
) -> HostResult<usize> {
    let mut waker: Option<EventWaker> = None;
    loop {
        match input.read_now(buf) {
            Err(e) if would_block(&e) => {
                if nonblock {
                    return Err(Errno::Again.into());
                }
                if waker.is_none() {
                    waker = Some(EventWaker::new()?);
                }
                let w = waker.as_ref().expect("just made");
                w.reset();
                if input.poll_readable(&mut w.context()).is_pending() {
                    stop.wait_for(w.fd(), PollFlags::IN, None)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return Ok(r?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, AsRawFd};

    #[test]
    fn a_stop_ends_a_wait_on_an_idle_pipe() {
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let (stop_r, stop_w) = rustix::pipe::pipe().unwrap();
        let stop = Stop::new(stop_r.as_raw_fd());
        // Not stopped: the timeout passes.
        let t = Instant::now();
        assert!(!stop
            .wait_for(r.as_fd(), PollFlags::IN, Some(Duration::from_millis(20)))
            .unwrap());
        assert!(t.elapsed() >= Duration::from_millis(20));
        // Stopped: the wait ends at once, even with no timeout.
        rustix::io::write(&stop_w, b"x").unwrap();
        assert!(matches!(
            stop.wait_for(r.as_fd(), PollFlags::IN, None),
            Err(HostError::Stopped)
        ));
    }

    #[test]
    fn nonblocking_io_waits_or_says_again() {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::NONBLOCK).unwrap();
        let stop = Stop::default();
        let mut buf = [0u8; 4];
        let read = |buf: &mut [u8]| rustix::io::read(&r, buf).map_err(io::Error::from);
        assert!(matches!(
            nonblocking(&stop, r.as_fd(), PollFlags::IN, true, || read(&mut buf)),
            Err(HostError::Errno(Errno::Again))
        ));
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            rustix::io::write(&w, b"hi").unwrap();
        });
        let n = nonblocking(&stop, r.as_fd(), PollFlags::IN, false, || read(&mut buf)).unwrap();
        assert_eq!(&buf[..n], b"hi");
        writer.join().unwrap();
    }

    #[test]
    fn an_async_input_is_waited_for_on_the_thread_and_stoppable() {
        let (w, r) = crate::async_pipe();
        let (stop_r, stop_w) = rustix::pipe::pipe().unwrap();
        let stop = Stop::new(stop_r.as_raw_fd());
        let mut buf = [0u8; 8];
        assert!(matches!(
            read_async_input(&stop, &r, true, &mut buf),
            Err(HostError::Errno(Errno::Again))
        ));
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w.write(b"body");
            w
        });
        let n = read_async_input(&stop, &r, false, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"body");
        let _w = writer.join().unwrap();
        // Nothing more comes: only the stop ends the wait.
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            rustix::io::write(&stop_w, b"x").unwrap();
        });
        assert!(matches!(
            read_async_input(&stop, &r, false, &mut buf),
            Err(HostError::Stopped)
        ));
        stopper.join().unwrap();
    }
}
