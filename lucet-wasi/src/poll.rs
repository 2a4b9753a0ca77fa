//! `poll_oneoff`: wait for clocks and for descriptors to become ready.
//!
//! The wait is one `poll(2)` (through [`Stop::wait`]) on every descriptor
//! that may not be ready yet, with the earliest clock as its timeout and the
//! run's stop event beside them: a sleep ends exactly on time or when the
//! run is stopped, whichever comes first.

use crate::abi::{eventrwflags, eventtype, size, subclockflags};
use crate::async_input::AsyncInput;
use crate::block::{EventWaker, Stop};
use crate::clock;
use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostResult};
use crate::fd_table::{Entry, Kind, Socket};
use crate::memory::GuestMemory;
use crate::stdio::{Input, Output};
use rustix::event::{PollFd, PollFlags};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// One `event` to report.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Event {
    userdata: u64,
    error: u16,
    kind: u8,
    nbytes: u64,
    flags: u16,
}

impl Event {
    fn encode(&self) -> [u8; size::EVENT as usize] {
        let mut b = [0u8; size::EVENT as usize];
        b[0..8].copy_from_slice(&self.userdata.to_le_bytes());
        b[8..10].copy_from_slice(&self.error.to_le_bytes());
        b[10] = self.kind;
        b[16..24].copy_from_slice(&self.nbytes.to_le_bytes());
        b[24..26].copy_from_slice(&self.flags.to_le_bytes());
        b
    }
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// How a descriptor subscription is answered.
enum Readiness<'a> {
    /// Ready now, with this many bytes to read (a hint).
    Now(u64),
    /// Ask the host: poll this descriptor for these events.
    Host(BorrowedFd<'a>, PollFlags),
    /// Ask the embedder's input.
    Async(Arc<dyn AsyncInput>),
}

/// A descriptor subscription waiting on the host.
struct HostWait {
    userdata: u64,
    kind: u8,
    /// Index in the poll set.
    slot: usize,
}

/// A read subscription waiting on an [`AsyncInput`].
pub(crate) struct InputWait {
    pub userdata: u64,
    pub input: Arc<dyn AsyncInput>,
}

impl InputWait {
    /// Its event, if the input is readable (registering `cx`'s waker if not).
    pub fn poll(&self, cx: &mut Context<'_>) -> Option<Event> {
        match self.input.poll_readable(cx) {
            Poll::Ready(nbytes) => Some(Event {
                userdata: self.userdata,
                kind: eventtype::FD_READ,
                nbytes,
                ..Event::default()
            }),
            Poll::Pending => None,
        }
    }
}

/// A call's subscriptions, sorted by how each is answered.
pub(crate) struct Subscriptions<'a> {
    /// Events already known.
    pub ready: Vec<Event>,
    /// (userdata, when) of each clock.
    pub clocks: Vec<(u64, Instant)>,
    /// Descriptors to poll on the host, and the subscriptions they answer.
    waits: Vec<HostWait>,
    fds: Vec<PollFd<'a>>,
    /// Reads of inputs that may not have data yet.
    pub inputs: Vec<InputWait>,
}

impl Subscriptions<'_> {
    /// Whether waiting needs the host's `poll(2)` (descriptors the host
    /// must watch).
    pub fn needs_host_poll(&self) -> bool {
        !self.fds.is_empty()
    }
}

/// Check poll_oneoff's pointers and copy the subscriptions in.
pub(crate) fn read_subscriptions(
    mem: &GuestMemory<'_>,
    subs: u32,
    out: u32,
    nsubs: u32,
    nevents: u32,
) -> HostResult<Vec<u8>> {
    if nsubs == 0 {
        return Err(Errno::Inval.into());
    }
    let in_len = nsubs.checked_mul(size::SUBSCRIPTION).ok_or(Errno::Fault)?;
    let out_len = nsubs.checked_mul(size::EVENT).ok_or(Errno::Fault)?;
    let input = mem.slice(subs, in_len)?.to_vec();
    mem.slice(out, out_len)?;
    mem.slice(nevents, 4)?;
    Ok(input)
}

/// Sort the subscriptions in `input` (checked by [`read_subscriptions`]);
/// clock timeouts count from `start`.
pub(crate) fn subscriptions<'a>(
    cx: &'a WasiCtx,
    input: &[u8],
    start: Instant,
) -> HostResult<Subscriptions<'a>> {
    let mut s = Subscriptions {
        ready: Vec::new(),
        clocks: Vec::new(),
        waits: Vec::new(),
        fds: Vec::new(),
        inputs: Vec::new(),
    };
    for sub in input.chunks_exact(size::SUBSCRIPTION as usize) {
        let userdata = le_u64(sub, 0);
        let kind = sub[8];
        match kind {
            eventtype::CLOCK => {
                let id = le_u32(sub, 16);
                let timeout = le_u64(sub, 24);
                let flags = u16::from_le_bytes([sub[40], sub[41]]);
                // A malformed subscription fails the call (as in Wasmtime).
                let ns = if flags & subclockflags::ABSTIME != 0 {
                    timeout.saturating_sub(clock::now(id)?)
                } else {
                    clock::host_clock(id)?;
                    timeout
                };
                let at = start
                    .checked_add(Duration::from_nanos(ns))
                    .unwrap_or(start + Duration::from_secs(u32::MAX as u64));
                s.clocks.push((userdata, at));
            }
            eventtype::FD_READ | eventtype::FD_WRITE => {
                let mut ev = Event {
                    userdata,
                    kind,
                    ..Event::default()
                };
                let fd = le_u32(sub, 16);
                match cx
                    .table
                    .get(fd)
                    .and_then(|e| readiness(e, kind == eventtype::FD_READ))
                {
                    Ok(Readiness::Now(nbytes)) => {
                        ev.nbytes = nbytes;
                        s.ready.push(ev);
                    }
                    Ok(Readiness::Host(host, events)) => {
                        s.waits.push(HostWait {
                            userdata,
                            kind,
                            slot: s.fds.len(),
                        });
                        s.fds.push(PollFd::from_borrowed_fd(host, events));
                    }
                    Ok(Readiness::Async(input)) => s.inputs.push(InputWait { userdata, input }),
                    // A descriptor that cannot be polled is an event with
                    // an error, like POSIX's POLLNVAL.
                    Err(e) => {
                        ev.error = e as u16;
                        s.ready.push(ev);
                    }
                }
            }
            _ => return Err(Errno::Inval.into()),
        }
    }
    Ok(s)
}

/// The events of the clocks due at `now`.
pub(crate) fn due_clocks(
    clocks: &[(u64, Instant)],
    now: Instant,
) -> impl Iterator<Item = Event> + '_ {
    clocks.iter().filter(move |c| c.1 <= now).map(|c| Event {
        userdata: c.0,
        kind: eventtype::CLOCK,
        ..Event::default()
    })
}

/// Report `ready` to the guest (pointers checked by [`read_subscriptions`]).
pub(crate) fn write_events(
    mem: &mut GuestMemory<'_>,
    out: u32,
    nevents: u32,
    ready: &[Event],
) -> HostResult {
    for (i, ev) in ready.iter().enumerate() {
        mem.write_bytes(out + i as u32 * size::EVENT, &ev.encode())?;
    }
    mem.write_u32(nevents, ready.len() as u32)?;
    Ok(())
}

pub(crate) fn poll_oneoff(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    subs: u32,
    out: u32,
    nsubs: u32,
    nevents: u32,
) -> HostResult {
    let input = read_subscriptions(mem, subs, out, nsubs, nevents)?;
    let stop: Stop = cx.stop;
    let start = Instant::now();
    let s = subscriptions(cx, &input, start)?;
    let (mut ready, clocks, waits, inputs) = (s.ready, s.clocks, s.waits, s.inputs);
    // Inputs without a descriptor of their own wake an eventfd, which
    // joins the poll.
    let waker = if inputs.is_empty() {
        None
    } else {
        Some(EventWaker::new()?)
    };
    let mut fds: Vec<PollFd<'_>> = s.fds;
    if let Some(w) = &waker {
        fds.push(PollFd::from_borrowed_fd(w.fd(), PollFlags::IN));
    }

    loop {
        if let Some(w) = &waker {
            // Reset before polling: a wake after the poll is not lost.
            w.reset();
            let mut cx = w.context();
            ready.extend(inputs.iter().filter_map(|i| i.poll(&mut cx)));
        }
        let now = Instant::now();
        let timeout = if !ready.is_empty() {
            Some(Duration::ZERO)
        } else {
            clocks
                .iter()
                .map(|c| c.1.saturating_duration_since(now))
                .min()
        };
        if !fds.is_empty() || timeout != Some(Duration::ZERO) {
            stop.wait(&mut fds, timeout)?;
        }
        for w in &waits {
            let r = fds[w.slot].revents();
            if r.is_empty() {
                continue;
            }
            let mut ev = Event {
                userdata: w.userdata,
                kind: w.kind,
                ..Event::default()
            };
            if r.contains(PollFlags::NVAL) {
                ev.error = Errno::Badf as u16;
            } else if r.contains(PollFlags::HUP) {
                ev.flags = eventrwflags::FD_READWRITE_HANGUP;
            } else if r.contains(PollFlags::ERR) {
                ev.error = Errno::Io as u16;
            } else if w.kind == eventtype::FD_READ {
                ev.nbytes = rustix::io::ioctl_fionread(fds[w.slot].as_fd()).unwrap_or(0);
            }
            ready.push(ev);
        }
        ready.extend(due_clocks(&clocks, Instant::now()));
        if !ready.is_empty() {
            break;
        }
        // Woken early (a signal, rounding, an input's waker): look again.
        for p in &mut fds {
            p.clear_revents();
        }
    }
    write_events(mem, out, nevents, &ready)
}

/// How to find out whether `entry` is ready for reading (or writing).
fn readiness(entry: &Entry, reading: bool) -> Result<Readiness<'_>, Errno> {
    // Readiness reveals nothing the descriptor's other rights do not, so
    // POLL_FD_READWRITE is not required (programs rarely ask for it).
    let events = if reading {
        PollFlags::IN
    } else {
        PollFlags::OUT
    };
    Ok(match &entry.kind {
        Kind::File(f) if f.stream => Readiness::Host(f.file.as_fd(), events),
        Kind::File(f) => {
            // Regular files are always ready; for reading, say how much is
            // left after the current position.
            let mut left = 0;
            if reading {
                let size = f.file.metadata().map(|m| m.size()).unwrap_or(0);
                let pos =
                    rustix::fs::seek(&f.file, rustix::fs::SeekFrom::Current(0)).unwrap_or(size);
                left = size.saturating_sub(pos);
            }
            Readiness::Now(left)
        }
        Kind::Dir(_) => return Err(Errno::Badf),
        Kind::Stdin(Input::Inherit(h)) if reading && h.waits => Readiness::Host(h.fd(), events),
        Kind::Stdin(Input::Async(a)) if reading => Readiness::Async(a.clone()),
        Kind::Stdout(Output::Inherit(h)) if !reading && h.waits => Readiness::Host(h.fd(), events),
        Kind::Stdin(_) if reading => Readiness::Now(0),
        Kind::Stdout(_) if !reading => Readiness::Now(0),
        Kind::Socket(Socket::Stream(s)) => Readiness::Host(s.as_fd(), events),
        // A listener is readable when a connection waits to be accepted.
        Kind::Socket(Socket::Listener(l)) if reading => Readiness::Host(l.as_fd(), events),
        _ => return Err(Errno::Badf),
    })
}
