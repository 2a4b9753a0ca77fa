//! What an embedder's mistakes cannot break: host futures and wakers that
//! panic, wakers that poll inline, futures dropped half way, stops that
//! come late, start functions that yield. Each was a finding of the second
//! isolation review (issue 19), and each test here failed before its fix.

use lucet_runtime::{
    yield_value, Error, FuncType, Instance, Limits, Linker, Region, Termination, Val, ValType,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

const WAIT: &[u8] = br#"(module
  (import "host" "wait" (func $w))
  (func (export "f") (call $w))
  (func (export "spin") (loop $l (br $l))))"#;

/// A future that never completes.
struct Never;
impl Future for Never {
    type Output = Result<Vec<Val>, Error>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}

fn never_linker() -> Linker {
    let mut linker = Linker::new();
    linker.func_async("host", "wait", FuncType::new([], []), |_, _| {
        Box::pin(Never)
    });
    linker
}

/// Run `f` on a thread of its own, failing if it takes longer than
/// `limit` (a deadlock would otherwise hang the suite).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("did not finish in time: deadlocked or stuck")
}

#[test]
fn a_host_future_that_panics_ends_the_run_and_leaves_no_dangling_yield_slot() {
    let (_c, m) = lucet_tests::load(WAIT);
    let mut linker = Linker::new();
    linker.func_async("host", "wait", FuncType::new([], []), |_, _| {
        Box::pin(async { panic!("the host future's bug") })
    });
    let mut inst = Instance::new(&m, &linker, Limits::default()).unwrap();
    match inst.run("f", &[]) {
        Err(Error::Host(e)) => assert!(e.to_string().contains("the host future's bug"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(!inst.is_suspended());
    // The call is gone: the instance runs again.
    assert!(inst.run("f", &[]).is_err());
    drop(inst);
    // A yield polled on this thread now, outside any call, must not write
    // into the dropped call's state: it stays pending, and touches nothing.
    let mut fut = Box::pin(yield_value(Val::I32(7)));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
}

/// A run's future, owning its instance.
type RunFuture = Pin<Box<dyn Future<Output = Result<Vec<Val>, Error>> + Send>>;

/// A waker that polls the run's future inline when woken, as some
/// executors do for a task woken from its own thread.
struct InlinePoller {
    fut: Mutex<Option<RunFuture>>,
    done: mpsc::Sender<Result<Vec<Val>, Error>>,
    me: Mutex<Option<Waker>>,
}

impl Wake for InlinePoller {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let waker = self.me.lock().unwrap().clone().unwrap();
        let mut cx = Context::from_waker(&waker);
        let mut slot = self.fut.lock().unwrap();
        if let Some(f) = slot.as_mut() {
            if let Poll::Ready(r) = f.as_mut().poll(&mut cx) {
                *slot = None;
                let _ = self.done.send(r);
            }
        }
    }
}

#[test]
fn a_waker_that_polls_inline_when_the_deadline_fires_does_not_deadlock_the_watchdog() {
    let (_c, m) = lucet_tests::load(WAIT);
    let region = Region::new(2, Limits::default()).unwrap();
    let mut inst = region.instantiate(&m, &never_linker()).unwrap();
    inst.set_deadline(Some(Duration::from_millis(20)));
    let (tx, rx) = mpsc::channel();
    let poller = Arc::new(InlinePoller {
        fut: Mutex::new(Some(Box::pin(async move {
            let mut inst = inst;
            inst.run_async("f", &[]).await
        }))),
        done: tx,
        me: Mutex::new(None),
    });
    *poller.me.lock().unwrap() = Some(Waker::from(poller.clone()));
    // The first poll suspends the guest on `Never`; the watchdog's stop
    // wakes the waker, which polls the run to its end on the watchdog's
    // thread (ending the run disarms its deadline).
    poller.wake_by_ref();
    let r = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("never ended");
    assert!(
        matches!(r, Err(Error::Terminated(Termination::Deadline { .. }))),
        "{r:?}"
    );
    // The watchdog is alive and still fires deadlines.
    let (_c2, spin) = lucet_tests::load(WAIT);
    let r = within(Duration::from_secs(10), move || {
        let mut i = Instance::new(&spin, &spin_linker(), Limits::default()).unwrap();
        i.set_deadline(Some(Duration::from_millis(10)));
        i.run("spin", &[])
    });
    assert!(matches!(
        r,
        Err(Error::Terminated(Termination::Deadline { .. }))
    ));
}

/// A linker binding `host.wait` to a no-op, for modules that import it
/// but whose export under test (`spin`) never calls it.
fn spin_linker() -> Linker {
    let mut linker = Linker::new();
    linker.func("host", "wait", FuncType::new([], []), |_, _, _| Ok(()));
    linker
}

struct PanickingWaker(AtomicBool);
impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
        panic!("the embedder's waker panicked");
    }
}

#[test]
fn a_waker_that_panics_does_not_take_the_watchdog_down() {
    let (_c, m) = lucet_tests::load(WAIT);
    let mut inst = Instance::new(&m, &never_linker(), Limits::default()).unwrap();
    inst.set_deadline(Some(Duration::from_millis(10)));
    let woken = Arc::new(PanickingWaker(AtomicBool::new(false)));
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    {
        let mut fut = Box::pin(inst.run_async("f", &[]));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let start = Instant::now();
        while !woken.0.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(woken.0.load(Ordering::SeqCst), "the deadline never fired");
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(Err(Error::Terminated(Termination::Deadline { .. }))) => {}
            other => panic!("{other:?}"),
        }
    }
    // Deadlines still fire, for this instance and any other.
    let r = within(Duration::from_secs(10), move || {
        inst.set_deadline(Some(Duration::from_millis(10)));
        inst.run("spin", &[])
    });
    assert!(matches!(
        r,
        Err(Error::Terminated(Termination::Deadline { .. }))
    ));
}

#[test]
fn a_dropped_run_future_abandons_its_call_and_disarms_its_deadline() {
    let (_c, m) = lucet_tests::load(WAIT);
    let mut inst = Instance::new(&m, &never_linker(), Limits::default()).unwrap();
    let stop = Arc::new(AtomicUsize::new(0));
    // Dropped after suspending in the hostcall, and dropped unpolled.
    for polls in [1, 0] {
        inst.set_deadline(Some(Duration::from_millis(30)));
        {
            let mut fut = Box::pin(inst.run_async("f", &[]));
            let mut cx = Context::from_waker(Waker::noop());
            for _ in 0..polls {
                assert!(fut.as_mut().poll(&mut cx).is_pending());
            }
        }
        assert!(!inst.is_suspended(), "the call outlived its future");
        // The domain runs again at once, and the old deadline, had it
        // stayed armed, would have nothing to stop: this run has none and
        // is stopped only by the interrupt below, after the old one's time.
        inst.set_deadline(None);
        let h = inst.interrupt_handle();
        let s = stop.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(60));
            while !h.interrupt() {
                std::thread::sleep(Duration::from_millis(1));
            }
            s.fetch_add(1, Ordering::SeqCst);
        });
        let r = inst.run("spin", &[]);
        t.join().unwrap();
        assert!(
            matches!(r, Err(Error::Terminated(Termination::Interrupted))),
            "{r:?}"
        );
    }
    assert_eq!(stop.load(Ordering::SeqCst), 2);
}

#[test]
fn a_start_function_that_yields_under_start_async_is_abandoned_like_under_start() {
    let (_c, m) = lucet_tests::load(lucet_tests::START_ASKS);
    let mut linker = Linker::new();
    linker.func_async(
        "host",
        "ask",
        FuncType::new([ValType::I32], [ValType::I32]),
        |_, args| {
            let q = args[0];
            Box::pin(async move { Ok(vec![yield_value(q).await]) })
        },
    );
    let region = Region::new(1, Limits::default()).unwrap();
    let mut inst = region.instantiate_unstarted(&m, &linker).unwrap();
    let mut fut = Box::pin(inst.start_async());
    let r = match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => panic!("a yield is returned, not waited for"),
    };
    drop(fut);
    assert!(matches!(r, Err(Error::Yielded(Val::I32(1)))), "{r:?}");
    // Not left suspended (a resume would finish it with the instance still
    // marked failed), and exports refuse until a reset.
    assert!(!inst.is_suspended());
    assert!(inst.resume(Val::I32(5)).is_err());
    match inst.run("g", &[]) {
        Err(Error::InvalidState(msg)) => assert!(msg.contains("start function failed"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_stop_bound_to_a_run_never_reaches_the_next_one() {
    let (_c, m) = lucet_tests::load(WAIT);
    let mut inst = Instance::new(&m, &spin_linker(), Limits::default()).unwrap();
    let h = inst.interrupt_handle();
    assert_eq!(h.current_run(), None, "no run between runs");
    // Take the id of a run in progress, from another thread, then stop it.
    let (tx, rx) = mpsc::channel();
    let h2 = h.clone();
    let t = std::thread::spawn(move || {
        let id = loop {
            if let Some(id) = h2.current_run() {
                break id;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        assert!(h2.interrupt_run(id));
        tx.send(id).unwrap();
    });
    assert!(matches!(
        inst.run("spin", &[]),
        Err(Error::Terminated(Termination::Interrupted))
    ));
    t.join().unwrap();
    let old = rx.recv().unwrap();
    // A late stop aimed at the ended run does nothing to the next one,
    // which a second handle then stops by its own id.
    let h3 = h.clone();
    let t = std::thread::spawn(move || {
        let id = loop {
            match h3.current_run() {
                Some(id) if id != old => break id,
                _ => std::thread::sleep(Duration::from_millis(1)),
            }
        };
        assert!(!h3.interrupt_run(old), "a late stop reached the next run");
        std::thread::sleep(Duration::from_millis(20));
        assert!(h3.interrupt_run(id));
    });
    let start = Instant::now();
    assert!(matches!(
        inst.run("spin", &[]),
        Err(Error::Terminated(Termination::Interrupted))
    ));
    assert!(start.elapsed() >= Duration::from_millis(20));
    t.join().unwrap();
}
