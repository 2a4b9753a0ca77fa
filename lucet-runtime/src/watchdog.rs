//! Deadlines: one thread for the process stops runs that outlast theirs.

use crate::run_control::{RunControl, Target, Termination};
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// An armed deadline: which run of which instance, and the limit it had.
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
    /// When the thread will wake up by itself, if it sleeps with a timeout.
    /// A deadline later than that needs no wake-up: the thread will see it
    /// then. (Runs usually end long before their deadline, so most armed
    /// deadlines are disarmed without the thread ever waking for them.)
    planned: Option<Instant>,
}

static WATCHDOG: OnceLock<&'static Watchdog> = OnceLock::new();

fn watchdog() -> &'static Watchdog {
    WATCHDOG.get_or_init(|| {
        let w: &'static Watchdog = Box::leak(Box::new(Watchdog {
            state: Mutex::new(State {
                armed: BTreeMap::new(),
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
    let mut due: Vec<Armed> = Vec::new();
    let mut state = w.lock();
    loop {
        let now = Instant::now();
        while let Some(entry) = state.armed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        if !due.is_empty() {
            // Stopped without the lock: stopping a run wakes its waker,
            // which may poll the run to its end inline, and ending a run
            // disarms its deadline, which takes this lock.
            drop(state);
            for a in due.drain(..) {
                stop(a);
            }
            state = w.lock();
            continue;
        }
        let next = state.armed.keys().next().map(|k| k.0);
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

/// Stop the run a deadline was armed for. A waker that panics is the
/// embedder's bug, and must not take the one thread that fires every
/// deadline of the process down with it.
fn stop(a: Armed) {
    if let Some(control) = a.control.upgrade() {
        let limit = a.limit;
        let run = a.run;
        // Aimed at that run only: if it has ended, nothing happens.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            control.stop(Termination::Deadline { limit }, Target::Run(run));
        }));
    }
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
