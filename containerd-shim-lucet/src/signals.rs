//! Stopping the guest when containerd signals its container.
//!
//! `ctr task kill`, `kubectl delete` and the like send SIGTERM (SIGKILL
//! only after a grace period) to the container's process, which runs the
//! guest. That process is PID 1 of the container's PID namespace, and the
//! kernel drops signals PID 1 has no handler for: without this, a guest in
//! an infinite loop would ignore SIGTERM until the grace period ends. So
//! the shim handles SIGTERM, SIGINT and SIGHUP on a thread of its own (fed
//! by signal-hook's self-pipe) that stops the run through the instance's
//! interrupt handle. Guest code checks the interrupt flag at every
//! function entry and loop header, and WASI calls that wait return, so the
//! run ends within microseconds; the shim then exits with 128 + the
//! signal's number, as a process killed by it would.

use lucet_runtime::InterruptHandle;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The signals that stop the guest.
pub const STOP_SIGNALS: [i32; 3] = [SIGTERM, SIGINT, SIGHUP];

#[derive(Default)]
struct Shared {
    /// The signal received (0: none yet).
    signal: AtomicI32,
    /// The guest's interrupt handle, once there is a guest.
    handle: Mutex<Option<InterruptHandle>>,
}

/// The signal handling of one run. Installed before anything slow (a
/// compile) so that a signal is never lost.
pub struct SignalStop {
    shared: Arc<Shared>,
}

impl SignalStop {
    /// Handle the stop signals from now on. A signal before
    /// [`arm`](Self::arm) ends the process at once: there is no guest to
    /// stop yet, only the shim's own work.
    pub fn install() -> std::io::Result<SignalStop> {
        let shared = Arc::new(Shared::default());
        let mut signals = Signals::new(STOP_SIGNALS)?;
        let s = shared.clone();
        std::thread::Builder::new()
            .name("lucet-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    s.signal.store(sig, Ordering::SeqCst);
                    let handle = s.handle.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    let Some(handle) = handle else {
                        eprintln!("lucet: stopped by signal {sig} before the guest started");
                        std::process::exit(128 + sig);
                    };
                    // `interrupt` stops the run in progress; between two
                    // runs (the start function's and the entrypoint's) it
                    // does nothing, so repeat until the process exits.
                    // The main thread starts no run once the signal is
                    // recorded.
                    loop {
                        handle.interrupt();
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            })?;
        Ok(SignalStop { shared })
    }

    /// Stop the guest behind `handle` when a signal comes (or now, if one
    /// came already).
    pub fn arm(&self, handle: InterruptHandle) {
        let mut h = self.shared.handle.lock().unwrap_or_else(|e| e.into_inner());
        *h = Some(handle);
    }

    /// The stop signal received, if any.
    pub fn received(&self) -> Option<i32> {
        match self.shared.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

/// A signal's name, for messages.
pub fn name(sig: i32) -> String {
    match sig {
        SIGTERM => "SIGTERM".into(),
        SIGINT => "SIGINT".into(),
        SIGHUP => "SIGHUP".into(),
        n => format!("signal {n}"),
    }
}
