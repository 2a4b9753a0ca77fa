//! Deadlines: one thread for the process interrupts runs that outlast theirs.

use crate::instance::{InstanceState, INTERRUPT_DEADLINE};
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

struct Watchdog {
    /// Armed deadlines: (when, instance address) -> the instance.
    armed: Mutex<BTreeMap<(Instant, usize), Weak<InstanceState>>>,
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
            if let Some(state) = entry.remove().upgrade() {
                state.interrupt(INTERRUPT_DEADLINE);
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

fn key(state: &Arc<InstanceState>) -> usize {
    Arc::as_ptr(state) as usize
}

/// Interrupt `state`'s run once `after` has passed, unless disarmed.
/// Returns the deadline, which [`disarm`] needs.
pub(crate) fn arm(state: &Arc<InstanceState>, after: Duration) -> Instant {
    let w = watchdog();
    let when = Instant::now() + after;
    let mut armed = w.armed.lock().unwrap_or_else(|e| e.into_inner());
    let earliest = armed.keys().next().map(|k| k.0);
    armed.insert((when, key(state)), Arc::downgrade(state));
    // The thread sleeps until the earliest deadline: wake it only if this
    // one comes sooner, not on every run.
    if earliest.is_none_or(|e| when < e) {
        w.wake.notify_one();
    }
    when
}

/// Forget the deadline `when` armed for `state` (its run ended).
pub(crate) fn disarm(state: &Arc<InstanceState>, when: Instant) {
    if let Some(w) = WATCHDOG.get() {
        let mut armed = w.armed.lock().unwrap_or_else(|e| e.into_inner());
        armed.remove(&(when, key(state)));
    }
}
