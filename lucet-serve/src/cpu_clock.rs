//! Threads' CPU time, which guests are accounted and limited by.

/// A thread's CPU-time clock, readable from any thread while that thread
/// lives (`pthread_getcpuclockid`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ThreadClock(libc::clockid_t);

impl ThreadClock {
    /// The calling thread's clock.
    pub fn current() -> std::io::Result<ThreadClock> {
        let mut id: libc::clockid_t = 0;
        // SAFETY: pthread_self is always valid for the caller; the id is
        // written into a live local.
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        Ok(ThreadClock(id))
    }

    /// CPU nanoseconds the thread has used (0 if the clock cannot be read,
    /// e.g. the thread has exited).
    pub fn now_ns(self) -> u64 {
        read(self.0)
    }
}

/// CPU nanoseconds the calling thread has used.
pub(crate) fn thread_cpu_ns() -> u64 {
    read(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into a live timespec.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_threads_clock_counts_its_work_only() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(ThreadClock::current().unwrap()).unwrap();
            go_rx.recv().unwrap();
            let start = thread_cpu_ns();
            let mut x = 0u64;
            while thread_cpu_ns() - start < 20_000_000 {
                x = x.wrapping_add(1);
            }
            std::hint::black_box(x);
            go_rx.recv().unwrap();
        });
        let clock = rx.recv().unwrap();
        let before = clock.now_ns();
        std::thread::sleep(std::time::Duration::from_millis(10));
        // Asleep, it used (almost) nothing.
        assert!(clock.now_ns() - before < 5_000_000);
        go_tx.send(()).unwrap();
        while clock.now_ns() - before < 20_000_000 {
            std::thread::yield_now();
        }
        go_tx.send(()).unwrap();
        t.join().unwrap();
    }
}
