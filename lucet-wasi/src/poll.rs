//! `poll_oneoff`: wait for clocks and for descriptors to become ready.

use crate::abi::{eventrwflags, eventtype, size, subclockflags};
use crate::clock;
use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostError, HostResult};
use crate::fd_table::Kind;
use crate::memory::GuestMemory;
use crate::stdio::{HostStream, Input, Output};
use rustix::event::{PollFd, PollFlags};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

/// Longest stretch slept without checking for cancellation.
const SLICE: Duration = Duration::from_millis(50);

/// One `event` to report.
#[derive(Clone, Copy, Debug, Default)]
struct Event {
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

/// A subscription on one of the host's own standard streams.
struct HostWait {
    userdata: u64,
    kind: u8,
    stream: Option<HostStream>, // None: stdin
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

pub(crate) fn poll_oneoff(
    cx: &mut WasiCtx,
    mem: &mut GuestMemory<'_>,
    subs: u32,
    out: u32,
    nsubs: u32,
    nevents: u32,
) -> HostResult {
    if nsubs == 0 {
        return Err(Errno::Inval.into());
    }
    let in_len = nsubs.checked_mul(size::SUBSCRIPTION).ok_or(Errno::Fault)?;
    let out_len = nsubs.checked_mul(size::EVENT).ok_or(Errno::Fault)?;
    let input = mem.slice(subs, in_len)?.to_vec();
    mem.slice(out, out_len)?;
    mem.slice(nevents, 4)?;

    let start = Instant::now();
    let mut ready: Vec<Event> = Vec::new();
    let mut clocks: Vec<(u64, Instant)> = Vec::new();
    let mut waits: Vec<HostWait> = Vec::new();
    for sub in input.chunks_exact(size::SUBSCRIPTION as usize) {
        let userdata = le_u64(sub, 0);
        let kind = sub[8];
        let mut ev = Event {
            userdata,
            kind,
            ..Event::default()
        };
        match kind {
            eventtype::CLOCK => {
                let id = le_u32(sub, 16);
                let timeout = le_u64(sub, 24);
                let flags = u16::from_le_bytes([sub[40], sub[41]]);
                let wait = if flags & subclockflags::ABSTIME != 0 {
                    clock::now(id).map(|now| timeout.saturating_sub(now))
                } else {
                    clock::host_clock(id).map(|_| timeout)
                };
                match wait {
                    Ok(ns) => clocks.push((userdata, start + Duration::from_nanos(ns))),
                    Err(e) => {
                        ev.error = e as u16;
                        ready.push(ev);
                    }
                }
            }
            eventtype::FD_READ | eventtype::FD_WRITE => {
                let fd = le_u32(sub, 16);
                match fd_readiness(cx, fd, kind) {
                    Ok(Readiness::Now(nbytes)) => {
                        ev.nbytes = nbytes;
                        ready.push(ev);
                    }
                    Ok(Readiness::Host(stream)) => waits.push(HostWait {
                        userdata,
                        kind,
                        stream,
                    }),
                    Err(e) => {
                        ev.error = e as u16;
                        ready.push(ev);
                    }
                }
            }
            _ => {
                ev.error = Errno::Inval as u16;
                ready.push(ev);
            }
        }
    }

    let deadline = clocks.iter().map(|c| c.1).min();
    loop {
        let now = Instant::now();
        let expired = deadline.is_some_and(|d| d <= now);
        let immediate = !ready.is_empty() || expired;
        let wait = if immediate {
            Duration::ZERO
        } else {
            deadline.map_or(SLICE, |d| (d - now).min(SLICE))
        };
        if !waits.is_empty() {
            host_poll(&waits, wait, &mut ready)?;
        } else if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        for (userdata, d) in &clocks {
            if *d <= now {
                ready.push(Event {
                    userdata: *userdata,
                    kind: eventtype::CLOCK,
                    ..Event::default()
                });
            }
        }
        if !ready.is_empty() {
            break;
        }
        if cx.cancelled() {
            return Err(HostError::Stop(lucet_runtime::Error::Terminated(
                lucet_runtime::Termination::Interrupted,
            )));
        }
    }

    for (i, ev) in ready.iter().enumerate() {
        mem.write_bytes(out + i as u32 * size::EVENT, &ev.encode())?;
    }
    mem.write_u32(nevents, ready.len() as u32)?;
    Ok(())
}

enum Readiness {
    /// Ready now, with this many bytes (a hint).
    Now(u64),
    /// One of the host's standard streams: ask the host. `None` is stdin.
    Host(Option<HostStream>),
}

fn fd_readiness(cx: &WasiCtx, fd: u32, kind: u8) -> Result<Readiness, Errno> {
    // Readiness reveals nothing the descriptor's other rights do not, so
    // POLL_FD_READWRITE is not required (programs rarely ask for it).
    let entry = cx.table.get(fd)?;
    let reading = kind == eventtype::FD_READ;
    Ok(match &entry.kind {
        Kind::File(f) => {
            // Regular files are always ready; for reading, say how much is
            // left after the current position.
            let mut left = 0;
            if reading {
                let size = f.metadata().map(|m| m.size()).unwrap_or(0);
                let pos = rustix::fs::seek(f, rustix::fs::SeekFrom::Current(0)).unwrap_or(size);
                left = size.saturating_sub(pos);
            }
            Readiness::Now(left)
        }
        Kind::Dir(_) => return Err(Errno::Badf),
        Kind::Stdin(Input::Inherit) if reading => Readiness::Host(None),
        Kind::Stdout(Output::Inherit(s)) if !reading => Readiness::Host(Some(*s)),
        Kind::Stdin(_) if reading => Readiness::Now(0),
        Kind::Stdout(_) if !reading => Readiness::Now(0),
        _ => return Err(Errno::Badf),
    })
}

/// Poll the host's standard streams for up to `wait`, adding an event for
/// each that is ready.
fn host_poll(waits: &[HostWait], wait: Duration, ready: &mut Vec<Event>) -> HostResult {
    let (stdin, stdout, stderr) = (io::stdin(), io::stdout(), io::stderr());
    let mut fds: Vec<PollFd<'_>> = waits
        .iter()
        .map(|w| {
            let flags = if w.kind == eventtype::FD_READ {
                PollFlags::IN
            } else {
                PollFlags::OUT
            };
            match w.stream {
                None => PollFd::new(&stdin, flags),
                Some(HostStream::Stdout) => PollFd::new(&stdout, flags),
                Some(HostStream::Stderr) => PollFd::new(&stderr, flags),
            }
        })
        .collect();
    let timeout = rustix::time::Timespec {
        tv_sec: wait.as_secs() as i64,
        tv_nsec: wait.subsec_nanos() as _,
    };
    match rustix::event::poll(&mut fds, Some(&timeout)) {
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        Err(e) => return Err(e.into()),
    }
    for (w, p) in waits.iter().zip(&fds) {
        let r = p.revents();
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
        } else if r.contains(PollFlags::ERR) {
            ev.error = Errno::Io as u16;
        } else if r.contains(PollFlags::HUP) {
            ev.flags = eventrwflags::FD_READWRITE_HANGUP;
        }
        ready.push(ev);
    }
    Ok(())
}
