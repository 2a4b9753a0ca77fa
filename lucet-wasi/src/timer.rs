//! What asynchronous WASI sleeps on: a [`Timer`] the embedder supplies (so
//! lucet-wasi needs no async runtime), and [`ThreadTimer`], one thread for
//! the process, for embedders without a timer of their own.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// A future that is ready at an instant.
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Makes the futures a suspended guest's sleeps and `poll_oneoff` timeouts
/// wait on (see [`add_to_linker_async`](crate::add_to_linker_async)).
///
/// With tokio, for instance: `Box::pin(tokio::time::sleep_until(at.into()))`
/// (created inside the runtime's context). A future that completes a
/// little late only makes the guest's sleep a little longer; one that
/// completes early is waited on again for the rest.
pub trait Timer: Send + Sync + 'static {
    /// A future ready at `at` (or at once if it has passed).
    fn sleep_until(&self, at: Instant) -> SleepFuture;
}

/// A [`Timer`] served by one thread for the whole process, started on first
/// use. Cheap to create and copy: every `ThreadTimer` uses the same thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadTimer;

struct TimerState {
    /// (when, id) -> the waker of the future waiting for it.
    armed: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
}

struct TimerThread {
    state: Mutex<TimerState>,
    wake: Condvar,
}

impl TimerThread {
    fn lock(&self) -> MutexGuard<'_, TimerState> {
        // The map stays consistent whatever panicked while it was held.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

static THREAD: OnceLock<&'static TimerThread> = OnceLock::new();

fn timer_thread() -> &'static TimerThread {
    THREAD.get_or_init(|| {
        let t: &'static TimerThread = Box::leak(Box::new(TimerThread {
            state: Mutex::new(TimerState {
                armed: BTreeMap::new(),
                next_id: 0,
            }),
            wake: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("lucet-wasi-timer".into())
            .spawn(move || run(t))
            .expect("spawning the WASI timer thread");
        t
    })
}

fn run(t: &'static TimerThread) {
    let mut due = Vec::new();
    let mut state = t.lock();
    loop {
        let now = Instant::now();
        while let Some(entry) = state.armed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        if !due.is_empty() {
            // Wake outside the lock: a waker may poll, and so re-arm, at once.
            drop(state);
            for w in due.drain(..) {
                w.wake();
            }
            state = t.lock();
            continue;
        }
        state = match state.armed.keys().next() {
            Some(&(when, _)) => {
                t.wake
                    .wait_timeout(state, when.saturating_duration_since(now))
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => t.wake.wait(state).unwrap_or_else(|e| e.into_inner()),
        };
    }
}

impl Timer for ThreadTimer {
    fn sleep_until(&self, at: Instant) -> SleepFuture {
        Box::pin(Sleep { at, key: None })
    }
}

/// The future of [`ThreadTimer::sleep_until`].
struct Sleep {
    at: Instant,
    /// Its entry in the timer's map, once armed.
    key: Option<(Instant, u64)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            self.disarm();
            return Poll::Ready(());
        }
        let t = timer_thread();
        let mut state = t.lock();
        if let Some(key) = self.key {
            if let Some(w) = state.armed.get_mut(&key) {
                w.clone_from(cx.waker());
                return Poll::Pending;
            }
            // Fired (and woken) between the time check and the lock.
            drop(state);
            self.key = None;
            return Poll::Ready(());
        }
        let id = state.next_id;
        state.next_id += 1;
        let key = (self.at, id);
        let earliest = state.armed.keys().next().is_none_or(|k| key < *k);
        state.armed.insert(key, cx.waker().clone());
        drop(state);
        self.key = Some(key);
        // The thread sleeps until the earliest entry: wake it only if this
        // one comes sooner.
        if earliest {
            t.wake.notify_one();
        }
        Poll::Pending
    }
}

impl Sleep {
    fn disarm(&mut self) {
        if let Some(key) = self.key.take() {
            timer_thread().lock().armed.remove(&key);
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    fn block_on(mut f: SleepFuture) {
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        while f.as_mut().poll(&mut cx).is_pending() {
            std::thread::park_timeout(Duration::from_secs(5));
        }
    }

    #[test]
    fn sleeps_end_on_time_in_any_order() {
        let start = Instant::now();
        let ats: Vec<Instant> = [30u64, 10, 20, 0]
            .iter()
            .map(|ms| start + Duration::from_millis(*ms))
            .collect();
        let handles: Vec<_> = ats
            .iter()
            .map(|&at| {
                std::thread::spawn(move || {
                    block_on(ThreadTimer.sleep_until(at));
                    Instant::now()
                })
            })
            .collect();
        for (h, at) in handles.into_iter().zip(ats) {
            let woke = h.join().unwrap();
            assert!(woke >= at, "woke early");
            assert!(
                woke - at < Duration::from_secs(2),
                "woke {:?} late",
                woke - at
            );
        }
    }

    #[test]
    fn a_dropped_sleep_leaves_nothing_armed() {
        let mut f = Box::pin(Sleep {
            at: Instant::now() + Duration::from_secs(3600),
            key: None,
        });
        let mut cx = Context::from_waker(Waker::noop());
        assert!(f.as_mut().poll(&mut cx).is_pending());
        let key = f.key.expect("armed");
        assert!(timer_thread().lock().armed.contains_key(&key));
        drop(f);
        assert!(!timer_thread().lock().armed.contains_key(&key));
    }
}
