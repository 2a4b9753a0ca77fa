//! What stops a run, and how the stop reaches it.
//!
//! A run is one call into the guest, from its start to its return, trap or
//! end, suspensions included. Three things can stop it before that: the
//! embedder's kill switch ([`InterruptHandle`]), its deadline (armed with
//! the [watchdog](crate::watchdog)) and its instruction budget. Each run
//! has a generation number ([`RunId`]) and starts with a clean slate: a
//! stop aimed at a run that has ended is dropped. A deadline is always
//! aimed at its own run, so one that fires as its run returns never
//! touches the next. The kill switch comes in two forms:
//! [`InterruptHandle::interrupt`] stops whatever run is in progress when it
//! is called (between runs it does nothing, but a call that comes after the
//! next run began stops that one), and [`InterruptHandle::interrupt_run`]
//! stops only the run it names, for a supervisor that decides about one run
//! and may act late.
//!
//! A stop reaches the guest three ways:
//! - guest code polls the `interrupt` word of [`RunLimits`] at function
//!   entries and loop headers, and traps;
//! - a hostcall blocked in the kernel waits on [`RunControl::event_fd`] too,
//!   an eventfd that becomes readable when the run is stopped;
//! - a host future the guest awaits is abandoned: the waker of whoever polls
//!   it is woken, and the poller sees the stop before polling again.

use crate::error::Error;
use crate::termination::Termination;
use crate::vm::cpu_clock::{this_thread_ns, ThreadClock};
use rustix::event::{eventfd, EventfdFlags};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

/// Limits of the run in progress, read and written by guest code through
/// the vmctx (layout: [`lucet_module::run_limits`]).
#[repr(C)]
pub(crate) struct RunLimits {
    pub stack_limit: AtomicUsize,
    pub interrupt: AtomicU64,
    pub instruction_count: AtomicU64,
    pub instruction_budget: AtomicU64,
}

const _: () = {
    use lucet_module::run_limits;
    assert!(std::mem::offset_of!(RunLimits, stack_limit) == run_limits::STACK_LIMIT as usize);
    assert!(std::mem::offset_of!(RunLimits, interrupt) == run_limits::INTERRUPT as usize);
    assert!(
        std::mem::offset_of!(RunLimits, instruction_count)
            == run_limits::INSTRUCTION_COUNT as usize
    );
    assert!(
        std::mem::offset_of!(RunLimits, instruction_budget)
            == run_limits::INSTRUCTION_BUDGET as usize
    );
};

/// The bookkeeping of runs, changed only under the lock.
struct RunState {
    /// Number of the current (or last) run.
    generation: u64,
    /// Why the current run was stopped, once it was.
    stopped: Option<Termination>,
    /// Readable once the current run is stopped; created on first use.
    event: Option<OwnedFd>,
    /// Whoever waits for a future the guest awaits.
    waker: Option<Waker>,
    /// CPU time of the current run, when it has a CPU-time limit.
    cpu: CpuMeter,
}

/// The CPU time a run has used: what its finished resumes used, and the
/// resume in progress (the thread running it, and its clock then).
#[derive(Default)]
struct CpuMeter {
    used_ns: u64,
    running: Option<(ThreadClock, u64)>,
}

/// The run state of one instance, shared with its interrupt handles and the
/// watchdog (which may stop it from other threads).
pub(crate) struct RunControl {
    /// Guest code holds a pointer to this: it must not move, hence the
    /// `Arc` every `RunControl` lives in.
    pub limits: RunLimits,
    /// A run is in progress (possibly suspended). Set under the lock when a
    /// run begins; cleared without it when the run ends (a stop that still
    /// sees it set is harmless: the next `begin` clears what it did).
    active: AtomicBool,
    /// A resume is being metered for CPU time (see `cpu_resume_begins`).
    cpu_running: AtomicBool,
    state: Mutex<RunState>,
}

/// The run a stop is aimed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Whatever run is in progress.
    Current,
    /// Run number `n` only.
    Run(u64),
}

impl RunControl {
    pub fn new() -> Arc<RunControl> {
        Arc::new(RunControl {
            limits: RunLimits {
                stack_limit: AtomicUsize::new(0),
                interrupt: AtomicU64::new(0),
                instruction_count: AtomicU64::new(0),
                instruction_budget: AtomicU64::new(u64::MAX),
            },
            active: AtomicBool::new(false),
            cpu_running: AtomicBool::new(false),
            state: Mutex::new(RunState {
                generation: 0,
                stopped: None,
                event: None,
                waker: None,
                cpu: CpuMeter::default(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, RunState> {
        // Nothing panics while holding the lock; if something did, the
        // state is still consistent field by field.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start a run with a clean slate; returns its number.
    pub fn begin(&self, stack_limit: usize) -> u64 {
        let mut s = self.lock();
        s.generation += 1;
        if s.stopped.take().is_some() {
            if let Some(fd) = &s.event {
                drain_event(fd);
            }
        }
        s.waker = None;
        s.cpu = CpuMeter::default();
        // Ordered against stops by the lock; guest code reads the flag with
        // an atomic load.
        self.limits.interrupt.store(0, Ordering::Relaxed);
        self.active.store(true, Ordering::Release);
        self.limits
            .stack_limit
            .store(stack_limit, Ordering::Relaxed);
        self.limits.instruction_count.store(0, Ordering::Relaxed);
        s.generation
    }

    /// The run is over: later stops aimed at it are dropped. No lock: a
    /// stop racing with this may still mark the ended run as stopped (flag,
    /// event, reason), which `begin` clears before the next run starts.
    pub fn end(&self) {
        self.active.store(false, Ordering::Release);
        self.limits.interrupt.store(0, Ordering::Relaxed);
    }

    /// Stop `target` for `why`, if it is in progress and not stopped
    /// already. Returns whether this call stopped it.
    pub fn stop(&self, why: Termination, target: Target) -> bool {
        let waker = {
            let mut s = self.lock();
            let aimed = match target {
                Target::Current => true,
                Target::Run(n) => n == s.generation,
            };
            if !self.active.load(Ordering::Acquire) || !aimed || s.stopped.is_some() {
                return false;
            }
            s.stopped = Some(why);
            self.limits.interrupt.store(1, Ordering::SeqCst);
            if let Some(fd) = &s.event {
                signal_event(fd);
            }
            s.waker.take()
        };
        // Woken outside the lock: a waker may run arbitrary code.
        if let Some(w) = waker {
            w.wake();
        }
        true
    }

    /// A resume of the current run begins on this thread (runs with a
    /// CPU-time limit only: two clock reads per resume).
    pub fn cpu_resume_begins(&self) {
        let Some(clock) = ThreadClock::this_thread() else {
            return;
        };
        let start = this_thread_ns();
        self.lock().cpu.running = Some((clock, start));
        self.cpu_running.store(true, Ordering::Release);
    }

    /// A resume of the current run is metered now: only such runs can be
    /// over their CPU-time limit, so the watchdog looks at no other.
    pub fn cpu_running(&self) -> bool {
        self.cpu_running.load(Ordering::Acquire)
    }

    /// The resume begun on this thread by [`cpu_resume_begins`] is over.
    ///
    /// [`cpu_resume_begins`]: Self::cpu_resume_begins
    pub fn cpu_resume_ends(&self) {
        let now = this_thread_ns();
        self.cpu_running.store(false, Ordering::Release);
        let mut s = self.lock();
        if let Some((_, start)) = s.cpu.running.take() {
            s.cpu.used_ns += now.saturating_sub(start);
        }
    }

    /// CPU time the current (or last) run has used, its resume in progress
    /// included (read from the running thread's clock).
    pub fn cpu_used(&self) -> Duration {
        let (used, running) = {
            let s = self.lock();
            (s.cpu.used_ns, s.cpu.running)
        };
        let now = running.and_then(|(clock, start)| Some(clock.now_ns()?.saturating_sub(start)));
        Duration::from_nanos(used + now.unwrap_or(0))
    }

    /// The number of the run in progress, if one is.
    pub fn current_run(&self) -> Option<u64> {
        let s = self.lock();
        self.active.load(Ordering::Acquire).then_some(s.generation)
    }

    /// Why the current run was stopped, if it was.
    pub fn stopped(&self) -> Option<Termination> {
        if self.limits.interrupt.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.lock().stopped
    }

    /// `Err(Error::Terminated)` if the current run was stopped.
    pub fn check(&self) -> Result<(), Error> {
        match self.stopped() {
            Some(why) => Err(Error::Terminated(why)),
            None => Ok(()),
        }
    }

    /// An eventfd that is readable from the moment the current run is
    /// stopped until the next run begins.
    pub fn event_fd(&self) -> Result<RawFd, Error> {
        let mut s = self.lock();
        if s.event.is_none() {
            let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
                .map_err(|e| Error::os("eventfd", e))?;
            if s.stopped.is_some() {
                signal_event(&fd);
            }
            s.event = Some(fd);
        }
        Ok(s.event.as_ref().map_or(-1, |fd| fd.as_raw_fd()))
    }

    /// Register the waker of whoever waits for a future the guest awaits.
    /// Returns the stop instead if the run was stopped already.
    pub fn set_waker(&self, waker: &Waker) -> Result<(), Termination> {
        let mut s = self.lock();
        if let Some(why) = s.stopped {
            return Err(why);
        }
        match &s.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => s.waker = Some(waker.clone()),
        }
        Ok(())
    }
}

fn signal_event(fd: impl AsFd) {
    // A full counter (EAGAIN) still leaves it readable, which is all that
    // matters.
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

fn drain_event(fd: impl AsFd) {
    // Non-blocking: an unsignalled eventfd (EAGAIN) is drained already.
    let _ = rustix::io::read(fd, &mut [0u8; 8]);
}

/// Stops an instance's run from another thread.
///
/// Cheap to clone; `Send` and `Sync`. [`interrupt`](Self::interrupt) stops
/// the run in progress when it is called, whichever that is: called between
/// runs it does nothing, but a call made late, after the run it was meant
/// for ended and the next began, stops the next one. To stop one run and no
/// other, take its [`RunId`] with [`current_run`](Self::current_run) and
/// stop it with [`interrupt_run`](Self::interrupt_run).
#[derive(Clone)]
pub struct InterruptHandle {
    pub(crate) control: Arc<RunControl>,
}

/// Names one run of an instance (or of a store): see
/// [`InterruptHandle::interrupt_run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RunId(u64);

impl InterruptHandle {
    /// Stop the run in progress: guest code traps at its next function
    /// entry or loop header, a hostcall blocked in a WASI call returns, an
    /// awaited future is abandoned, and the run returns
    /// [`Error::Terminated`] with [`Termination::Interrupted`]. Returns
    /// whether a run was in progress and not already stopped.
    pub fn interrupt(&self) -> bool {
        self.control.stop(Termination::Interrupted, Target::Current)
    }

    /// The run in progress, if any, to stop later with
    /// [`interrupt_run`](Self::interrupt_run).
    pub fn current_run(&self) -> Option<RunId> {
        self.control.current_run().map(RunId)
    }

    /// Stop run `run` as [`interrupt`](Self::interrupt) does, if it is
    /// still in progress; a run that has ended is never stopped, and
    /// neither is any later one. Returns whether this call stopped it.
    pub fn interrupt_run(&self, run: RunId) -> bool {
        self.control
            .stop(Termination::Interrupted, Target::Run(run.0))
    }
}

/// What a hostcall holds to notice that its run was stopped: the owned,
/// `Send + Sync` form of [`Caller::check_interrupt`](crate::caller::Caller::check_interrupt)
/// and [`Caller::interrupt_fd`](crate::caller::Caller::interrupt_fd), for code that
/// must not borrow the caller meanwhile (it is borrowing the guest's memory)
/// or that waits on another thread. It watches the runs of the instance's
/// domain; its descriptor stays valid as long as it lives.
#[derive(Clone)]
pub struct StopSignal {
    pub(crate) control: Arc<RunControl>,
}

impl StopSignal {
    /// Whether the run in progress was stopped.
    pub fn is_stopped(&self) -> bool {
        self.control.stopped().is_some()
    }

    /// `Err(Error::Terminated)` with the reason, if the run in progress was
    /// stopped.
    pub fn check(&self) -> Result<(), Error> {
        self.control.check()
    }

    /// An eventfd that is readable (`POLLIN`) once the run in progress is
    /// stopped, for `poll(2)`; valid while this handle lives. Not to be
    /// read, written or closed.
    pub fn fd(&self) -> Result<RawFd, Error> {
        self.control.event_fd()
    }
}

impl std::fmt::Debug for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopSignal").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for InterruptHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterruptHandle").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::event::{PollFd, PollFlags, Timespec};
    use std::os::fd::BorrowedFd;

    #[test]
    fn a_stop_between_runs_is_dropped() {
        let c = RunControl::new();
        assert!(!c.stop(Termination::Interrupted, Target::Current));
        c.begin(0);
        assert_eq!(c.stopped(), None);
    }

    #[test]
    fn a_stop_aimed_at_an_ended_run_does_not_reach_the_next() {
        let c = RunControl::new();
        let first = c.begin(0);
        c.end();
        c.begin(0);
        assert!(!c.stop(Termination::Interrupted, Target::Run(first)));
        assert_eq!(c.stopped(), None);
        assert!(c.stop(Termination::Interrupted, Target::Current));
        assert!(matches!(
            c.check(),
            Err(Error::Terminated(Termination::Interrupted))
        ));
    }

    #[test]
    fn the_first_stop_wins_and_the_event_is_readable_until_the_next_run() {
        let c = RunControl::new();
        c.begin(0);
        let fd = c.event_fd().unwrap();
        let readable = || {
            // SAFETY: `c`, which owns the eventfd, outlives this borrow.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            let mut p = [PollFd::new(&fd, PollFlags::IN)];
            rustix::event::poll(&mut p, Some(&Timespec::default())).unwrap() == 1
        };
        assert!(!readable());
        let limit = Duration::from_secs(1);
        assert!(c.stop(Termination::Deadline { limit }, Target::Current));
        assert!(!c.stop(Termination::Interrupted, Target::Current));
        assert_eq!(c.stopped(), Some(Termination::Deadline { limit }));
        assert!(readable());
        c.end();
        assert_eq!(c.stopped(), None);
        c.begin(0);
        assert!(!readable());
    }
}
