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
    /// Armed deadlines: (when, run control address) -> what to stop.
    armed: Mutex<BTreeMap<(Instant, usize), Armed>>,
    wake: Condvar,
}

static WATCHDOG: OnceLock<&'static Watchdog> = OnceLock::new();

fn watchdog() -> &'static Watchdog {
    WATCHDOG.get_or_init(|| {
        let w: &'static Watchdog = Box::leak(Box::new(Watchdog {
            armed: Mutex::new(BTreeMap::new()),
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
    let mut armed = w.armed.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let now = Instant::now();
        while let Some(entry) = armed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let a = entry.remove();
            if let Some(control) = a.control.upgrade() {
                // Aimed at that run only: if it has ended, nothing happens.
                control.stop(Termination::Deadline { limit: a.limit }, Target::Run(a.run));
            }
        }
        armed = match armed.keys().next() {
            Some((when, _)) => {
                let wait = when.saturating_duration_since(now);
                w.wake
                    .wait_timeout(armed, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => w.wake.wait(armed).unwrap_or_else(|e| e.into_inner()),
        };
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
    let mut armed = w.armed.lock().unwrap_or_else(|e| e.into_inner());
    let earliest = armed.keys().next().map(|k| k.0);
    armed.insert(
        (when, key(control)),
        Armed {
            control: Arc::downgrade(control),
            run,
            limit,
        },
    );
    // The thread sleeps until the earliest deadline: wake it only if this
    // one comes sooner, not on every run.
    if earliest.is_none_or(|e| when < e) {
        w.wake.notify_one();
    }
    when
}

/// Forget the deadline `when` armed for `control` (its run ended).
pub(crate) fn disarm(control: &Arc<RunControl>, when: Instant) {
    if let Some(w) = WATCHDOG.get() {
        let mut armed = w.armed.lock().unwrap_or_else(|e| e.into_inner());
        armed.remove(&(when, key(control)));
    }
}
