//! Deadlines and CPU-time limits: one thread for the process stops runs
//! that outlast their deadline or use more CPU time than their limit.
//!
//! Deadlines sit in a map ordered by when they fall due; the thread sleeps
//! until the first. A run with a CPU-time limit is looked at every few
//! milliseconds while it is armed ([`cpu_tick`]): its CPU time is read from
//! the clocks of the threads that ran it (see [`crate::vm::cpu_clock`]), so a
//! run overshoots its limit by at most about a tick, guest code pays
//! nothing, and time the run spent waiting is never billed.

use crate::run_control::{RunControl, Target};
use crate::termination::Termination;
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// An armed limit: which run of which instance, and the limit it had.
struct Armed {
    control: Weak<RunControl>,
    run: u64,
    limit: Duration,
}

struct Watchdog {
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    /// Armed deadlines: (when, run control address) -> what to stop.
    armed: BTreeMap<(Instant, usize), Armed>,
    /// Armed CPU-time limits, by run control address. The control is held
    /// strongly until its run ends and disarms it, so that a look at
    /// every armed run is one atomic load each (`cpu_running`): a server
    /// with thousands of runs suspended on futures pays nothing for them.
    cpu: BTreeMap<usize, CpuArmed>,
    /// When the thread will wake up by itself, if it sleeps with a timeout.
    /// A deadline later than that needs no wake-up: the thread will see it
    /// then. (Runs usually end long before their deadline, so most armed
    /// deadlines are disarmed without the thread ever waking for them.)
    planned: Option<Instant>,
}

/// An armed CPU-time limit.
struct CpuArmed {
    control: Arc<RunControl>,
    run: u64,
    limit: Duration,
}

/// How often runs with a CPU-time limit are looked at: an eighth of the
/// smallest limit armed, between 1 and 10 ms.
fn cpu_tick(cpu: &BTreeMap<usize, CpuArmed>) -> Option<Duration> {
    let min = cpu.values().map(|a| a.limit).min()?;
    Some((min / 8).clamp(Duration::from_millis(1), Duration::from_millis(10)))
}

static WATCHDOG: OnceLock<&'static Watchdog> = OnceLock::new();

fn watchdog() -> &'static Watchdog {
    WATCHDOG.get_or_init(|| {
        let w: &'static Watchdog = Box::leak(Box::new(Watchdog {
            state: Mutex::new(State {
                armed: BTreeMap::new(),
                cpu: BTreeMap::new(),
                planned: None,
            }),
            wake: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("lucet-watchdog".into())
            .spawn(move || run(w))
            .expect("spawning the watchdog thread");
        w
    })
}

fn run(w: &'static Watchdog) {
    let mut due: Vec<(Arc<RunControl>, u64, Termination)> = Vec::new();
    let mut metered: Vec<(usize, u64, Arc<RunControl>, Duration)> = Vec::new();
    let mut next_cpu_look: Option<Instant> = None;
    let mut state = w.lock();
    loop {
        let now = Instant::now();
        while let Some(entry) = state.armed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let a = entry.remove();
            // A control already dropped has no run left to stop.
            if let Some(control) = a.control.upgrade() {
                due.push((control, a.run, Termination::Deadline { limit: a.limit }));
            }
        }
        if state.cpu.is_empty() {
            next_cpu_look = None;
        } else if next_cpu_look.is_none_or(|t| t <= now) {
            // Only runs being resumed now can have used more; their clocks
            // are read without the lock (each read is a system call).
            metered.extend(
                state
                    .cpu
                    .iter()
                    .filter(|(_, a)| a.control.cpu_running())
                    .map(|(k, a)| (*k, a.run, a.control.clone(), a.limit)),
            );
            drop(state);
            let over: Vec<(usize, u64)> = metered
                .drain(..)
                .filter(|(_, _, c, limit)| c.cpu_used() >= *limit)
                .map(|(k, run, _, _)| (k, run))
                .collect();
            state = w.lock();
            for (k, run) in over {
                // Unless that run ended meanwhile and another was armed.
                if state.cpu.get(&k).is_some_and(|a| a.run == run) {
                    if let Some(a) = state.cpu.remove(&k) {
                        due.push((a.control, a.run, Termination::CpuTime { limit: a.limit }));
                    }
                }
            }
            next_cpu_look = cpu_tick(&state.cpu).map(|t| now + t);
        }
        if !due.is_empty() {
            // Stopped without the lock: stopping a run wakes its waker,
            // which may poll the run to its end inline, and ending a run
            // disarms its limits, which takes this lock.
            drop(state);
            for (control, run, why) in due.drain(..) {
                stop(&control, run, why);
            }
            state = w.lock();
            continue;
        }
        let next = state.armed.keys().next().map(|k| k.0);
        let next = match (next, next_cpu_look) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        state.planned = next;
        state = match next {
            Some(when) => {
                let wait = when.saturating_duration_since(now);
                w.wake
                    .wait_timeout(state, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => w.wake.wait(state).unwrap_or_else(|e| e.into_inner()),
        };
    }
}

/// Stop the run a limit was armed for. A waker that panics is the
/// embedder's bug, and must not take the one thread that fires every
/// deadline of the process down with it.
fn stop(control: &RunControl, run: u64, why: Termination) {
    // Aimed at that run only: if it has ended, nothing happens.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        control.stop(why, Target::Run(run));
    }));
}

impl Watchdog {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics under this lock (wakers run outside it).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn key(control: &Arc<RunControl>) -> usize {
    Arc::as_ptr(control) as usize
}

/// Stop run number `run` of `control` once `limit` has passed, unless
/// disarmed. Returns the deadline, which [`disarm`] needs.
pub(crate) fn arm(control: &Arc<RunControl>, run: u64, limit: Duration) -> Instant {
    let w = watchdog();
    let when = Instant::now() + limit;
    let mut state = w.lock();
    state.armed.insert(
        (when, key(control)),
        Armed {
            control: Arc::downgrade(control),
            run,
            limit,
        },
    );
    // Wake the thread only if it would otherwise sleep past this deadline:
    // not on every run.
    if state.planned.is_none_or(|p| when < p) {
        state.planned = Some(when);
        w.wake.notify_one();
    }
    when
}

/// Forget the deadline `when` armed for `control` (its run ended). The
/// thread is not woken: if it planned to wake for this deadline, it wakes,
/// finds nothing due, and sleeps until the next one.
pub(crate) fn disarm(control: &Arc<RunControl>, when: Instant) {
    if let Some(w) = WATCHDOG.get() {
        let mut state = w.lock();
        state.armed.remove(&(when, key(control)));
    }
}

/// Stop run number `run` of `control` once it has used `limit` of CPU
/// time, unless disarmed first. The run's resumes must be metered
/// (`RunControl::cpu_resume_begins`/`_ends`).
pub(crate) fn arm_cpu(control: &Arc<RunControl>, run: u64, limit: Duration) {
    let w = watchdog();
    let mut state = w.lock();
    state.cpu.insert(
        key(control),
        CpuArmed {
            control: control.clone(),
            run,
            limit,
        },
    );
    // The thread must look within this limit's tick: wake it if it sleeps
    // longer. (Not the smallest tick of all armed: that is a scan of
    // every armed run, which the thread does once per look, not every
    // run once per arm.)
    let tick = (limit / 8).clamp(Duration::from_millis(1), Duration::from_millis(10));
    let soon = Instant::now() + tick;
    if state.planned.is_none_or(|p| soon < p) {
        state.planned = Some(soon);
        w.wake.notify_one();
    }
}

/// Forget the CPU-time limit armed for `control` (its run ended).
pub(crate) fn disarm_cpu(control: &Arc<RunControl>) {
    if let Some(w) = WATCHDOG.get() {
        // Dropped outside the lock: it may be the last reference.
        let armed = w.lock().cpu.remove(&key(control));
        drop(armed);
    }
}
