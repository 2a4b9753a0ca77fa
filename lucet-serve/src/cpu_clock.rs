//! The calling thread's CPU time, which requests and routes are accounted
//! by (per poll, on the worker that polls them). Limits are not enforced
//! from it: the runtime's watchdog does that (see `pool`).

/// CPU nanoseconds the calling thread has used (0 if the clock cannot be
/// read).
pub(crate) fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into a live timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_counts_work_not_sleep() {
        let before = thread_cpu_ns();
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Asleep, the thread used (almost) nothing.
        assert!(thread_cpu_ns() - before < 5_000_000);
        let start = thread_cpu_ns();
        let mut x = 0u64;
        while thread_cpu_ns() - start < 10_000_000 {
            x = x.wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_ns() - before >= 10_000_000);
    }
}
