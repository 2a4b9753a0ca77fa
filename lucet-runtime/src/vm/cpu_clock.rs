//! Threads' CPU-time clocks, which CPU-time limits are measured with.
//!
//! A run is billed for the CPU time of the threads that resume it, from
//! each resume to the suspension or end that follows: time in guest code
//! and hostcalls, not time blocked in the kernel (the thread's clock stands
//! still) nor time suspended on a future, nor time the thread waited for a
//! core. The watchdog reads a running thread's clock from its own thread
//! (`pthread_getcpuclockid`), so guest code pays nothing for it.

use std::cell::Cell;

/// A thread's CPU-time clock, readable from any thread while that thread
/// lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ThreadClock(libc::clockid_t);

thread_local! {
    static THIS_THREAD: Cell<Option<ThreadClock>> = const { Cell::new(None) };
}

impl ThreadClock {
    /// The calling thread's clock (looked up once per thread).
    pub fn this_thread() -> Option<ThreadClock> {
        if let Some(c) = THIS_THREAD.with(|t| t.get()) {
            return Some(c);
        }
        let mut id: libc::clockid_t = 0;
        // libc: rustix has no pthread_getcpuclockid, and its clock ids
        // cannot name another thread's clock.
        // SAFETY: pthread_self is valid for its caller; the id is written
        // into a live local.
        if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) } != 0 {
            return None;
        }
        let c = ThreadClock(id);
        THIS_THREAD.with(|t| t.set(Some(c)));
        Some(c)
    }

    /// CPU nanoseconds the thread has used; `None` if its clock cannot be
    /// read (the thread has exited).
    pub fn now_ns(self) -> Option<u64> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // libc: rustix's `clock_gettime_dynamic` takes no raw clock id, so
        // it cannot read the id `pthread_getcpuclockid` gave.
        // SAFETY: clock_gettime writes one timespec into a live local.
        if unsafe { libc::clock_gettime(self.0, &mut ts) } != 0 {
            return None;
        }
        Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }
}

/// CPU nanoseconds the calling thread has used.
pub(crate) fn this_thread_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_threads_clock_counts_its_work_and_not_its_sleep() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(ThreadClock::this_thread()).unwrap();
            let start = this_thread_ns();
            while this_thread_ns() - start < 30_000_000 {}
            tx.send(None).unwrap();
            // Blocked from here on: its clock stands still.
            wait.recv().unwrap();
        });
        let clock = rx.recv().unwrap().unwrap();
        assert_eq!(rx.recv().unwrap(), None);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let used = clock.now_ns().unwrap();
        assert!((30_000_000..40_000_000).contains(&used), "{used} ns");
        go.send(()).unwrap();
        t.join().unwrap();
    }
}
