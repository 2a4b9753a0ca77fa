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
//! An asynchronous variant (a server running guests on an event loop) needs
//! only another [`Stop::wait`]: readiness of the same descriptors as a
//! future, raced with the stop.

use crate::errno::{Errno, HostError, HostResult};
use rustix::event::{PollFd, PollFlags};
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
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
}
