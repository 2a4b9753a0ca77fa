//! A fault signal is a guest trap only when the kernel raised it for the
//! guest's own instruction: a SIGSEGV that another thread or process sends
//! (`kill`, `tgkill`) while guest code runs must go on to the handler that
//! was installed before the runtime's, and the guest runs on.
//!
//! Its own test binary: the handler it installs first must be the one the
//! runtime finds and forwards to.

use lucet_runtime::{Error, Termination};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

static FORWARDED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    FORWARDED.fetch_add(1, Ordering::SeqCst);
}

/// A loop of loads: most of its instructions are heap accesses, which are
/// declared trap sites, so a signal that arrives while it runs lands on
/// one almost every time.
const LOADS: &str = r#"(module (memory 1)
  (func (export "loads") (local i32)
    (loop $l
      (local.set 0 (i32.add (local.get 0) (i32.load offset=0 (i32.const 0))))
      (local.set 0 (i32.add (local.get 0) (i32.load offset=8 (i32.const 0))))
      (local.set 0 (i32.add (local.get 0) (i32.load offset=16 (i32.const 0))))
      (local.set 0 (i32.add (local.get 0) (i32.load offset=24 (i32.const 0))))
      (local.set 0 (i32.add (local.get 0) (i32.load offset=32 (i32.const 0))))
      (local.set 0 (i32.add (local.get 0) (i32.load offset=40 (i32.const 0))))
      (local.set 0 (i32.add (local.get 0) (i32.load offset=48 (i32.const 0))))
      (local.set 0 (i32.add (local.get 0) (i32.load offset=56 (i32.const 0))))
      (br $l))))"#;

#[test]
fn a_sent_sigsegv_is_not_a_trap() {
    // SAFETY: installing a handler that only counts, before the runtime
    // installs its own (which then forwards to it).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = count as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut()),
            0
        );
    }
    let (_c, mut inst) = lucet_tests::instantiate(LOADS);
    const SENT: usize = 200;
    let (tx, rx) = mpsc::channel::<libc::pthread_t>();
    let h = inst.interrupt_handle();
    let sender = std::thread::spawn(move || {
        let guest = rx.recv().unwrap();
        // Wait for the run to begin, then send while it runs.
        while h.current_run().is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        for i in 0..SENT {
            // SAFETY: the guest thread lives until the run ends, which it
            // cannot before this loop's interrupt below.
            assert_eq!(unsafe { libc::pthread_kill(guest, libc::SIGSEGV) }, 0);
            // One at a time: a signal sent while the last is still pending
            // would merge with it.
            let sent = std::time::Instant::now();
            while FORWARDED.load(Ordering::SeqCst) <= i && sent.elapsed() < Duration::from_secs(5) {
                std::thread::yield_now();
            }
        }
        assert!(h.interrupt());
    });
    // SAFETY: pthread_self has no preconditions.
    tx.send(unsafe { libc::pthread_self() }).unwrap();
    let r = inst.run("loads", &[]);
    sender.join().unwrap();
    assert!(
        matches!(r, Err(Error::Terminated(Termination::Interrupted))),
        "a signal sent to the thread was taken for a guest fault: {r:?}"
    );
    assert_eq!(FORWARDED.load(Ordering::SeqCst), SENT);
}
