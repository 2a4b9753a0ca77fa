//! Stopping and suspending guests: kill switch, deadline, instruction
//! budget, yield/resume, async hostcalls.

use lucet_runtime::{
    Caller, Error, FuncType, HostCompletion, Instance, Limits, Linker, RunResult, Termination, Val,
    ValType,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

const SPIN: &str = r#"(module
  (func (export "forever") (loop $l (br $l)))
  (func (export "count") (param i32) (result i32) (local i32)
    (loop $l
      (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
    (local.get 1)))"#;

#[test]
fn a_deadline_stops_an_infinite_loop() {
    let (_c, mut inst) = lucet_tests::instantiate(SPIN);
    inst.set_deadline(Some(Duration::from_millis(30)));
    let start = Instant::now();
    match inst.run("forever", &[]) {
        Err(Error::Terminated(why)) => assert_eq!(
            why,
            Termination::Deadline {
                limit: Duration::from_millis(30)
            }
        ),
        other => panic!("{other:?}"),
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(30) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // The instance still works, and quick runs are not stopped.
    assert_eq!(
        inst.run("count", &[Val::I32(1000)]).unwrap(),
        vec![Val::I32(1000)]
    );
    inst.set_deadline(None);
    assert_eq!(
        inst.run("count", &[Val::I32(10)]).unwrap(),
        vec![Val::I32(10)]
    );
}

#[test]
fn the_kill_switch_stops_a_run_within_a_millisecond_and_a_kill_between_runs_does_nothing() {
    let (_c, mut inst) = lucet_tests::instantiate(SPIN);
    let handle = inst.interrupt_handle();
    let killed_at = Arc::new(std::sync::Mutex::new(None));
    let k = killed_at.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        *k.lock().unwrap() = Some(Instant::now());
        while !handle.interrupt() {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    assert!(matches!(
        inst.run("forever", &[]),
        Err(Error::Terminated(Termination::Interrupted))
    ));
    let latency = killed_at.lock().unwrap().unwrap().elapsed();
    t.join().unwrap();
    assert!(
        latency < Duration::from_millis(50),
        "stopped {latency:?} after the kill"
    );
    // A kill sent between runs reaches no run: a late kill never stops
    // the next, unrelated run.
    assert!(!inst.interrupt_handle().interrupt());
    assert_eq!(
        inst.run("count", &[Val::I32(5)]).unwrap(),
        vec![Val::I32(5)]
    );
}

#[test]
fn instructions_are_counted_and_budgeted() {
    let options = lucetc::Options {
        count_instructions: true,
        ..lucetc::Options::default()
    };
    let c = lucet_tests::compile_with(SPIN.as_bytes(), &options);
    // SAFETY: the object was just compiled by this test's lucetc and nothing else writes its directory.
    let m = unsafe { lucet_runtime::Module::load_unverified(&c.path) }.unwrap();
    let mut inst = Instance::new(&m, &Linker::new(), Limits::default()).unwrap();
    inst.run("count", &[Val::I32(100)]).unwrap();
    let hundred = inst.instruction_count();
    inst.run("count", &[Val::I32(1000)]).unwrap();
    let thousand = inst.instruction_count();
    // Eight instructions per iteration, plus four around the loop.
    assert_eq!((hundred, thousand), (8 * 100 + 4, 8 * 1000 + 4));
    inst.set_instruction_budget(Some(5000));
    match inst.run("count", &[Val::I32(1000)]) {
        Err(Error::Terminated(why)) => {
            assert_eq!(why, Termination::InstructionBudget { budget: 5000 })
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        inst.run("forever", &[]),
        Err(Error::Terminated(_))
    ));
    assert_eq!(
        inst.run("count", &[Val::I32(10)]).unwrap(),
        vec![Val::I32(10)]
    );
}

const ASKER: &str = r#"(module
  (import "host" "ask" (func $ask (param i32) (result i32)))
  (func (export "conversation") (result i32)
    (i32.add (call $ask (i32.const 1)) (call $ask (i32.const 2)))))"#;

#[test]
fn hostcalls_yield_values_and_the_host_resumes_with_values() {
    let (_c, m) = lucet_tests::load(ASKER.as_bytes());
    let mut linker = Linker::new();
    // A yield happens inside the hostcall's future: what the host keeps
    // across it (here `question`) lives in that `Send` future.
    linker.func_async(
        "host",
        "ask",
        FuncType::new([ValType::I32], [ValType::I32]),
        |_caller, args| {
            let question = args[0];
            Box::pin(async move { Ok(vec![lucet_runtime::yield_value(question).await]) })
        },
    );
    let mut inst = Instance::new(&m, &linker, Limits::default()).unwrap();
    assert_eq!(
        inst.run_resumable("conversation", &[]).unwrap(),
        RunResult::Yielded(Val::I32(1))
    );
    assert!(inst.is_suspended());
    // Another call cannot start while one is suspended.
    assert!(matches!(
        inst.run("conversation", &[]),
        Err(Error::InvalidState(_))
    ));
    assert_eq!(
        inst.resume(Val::I32(40)).unwrap(),
        RunResult::Yielded(Val::I32(2))
    );
    assert_eq!(
        inst.resume(Val::I32(2)).unwrap(),
        RunResult::Returned(vec![Val::I32(42)])
    );
    assert!(!inst.is_suspended());
    assert!(matches!(
        inst.resume(Val::I32(0)),
        Err(Error::InvalidState(_))
    ));
    // Abandoning a suspended call: reset, or drop, is clean.
    assert!(matches!(
        inst.run_resumable("conversation", &[]),
        Ok(RunResult::Yielded(_))
    ));
    inst.reset().unwrap();
    assert!(matches!(
        inst.run("conversation", &[]),
        Err(Error::Yielded(Val::I32(1)))
    ));
    drop(inst);
}

/// A future that is pending `n` times (waking itself), then yields `v`.
struct Later {
    n: usize,
    v: i32,
    polls: Arc<AtomicUsize>,
}

impl Future for Later {
    type Output = Result<Vec<Val>, Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        if self.n == 0 {
            Poll::Ready(Ok(vec![Val::I32(self.v)]))
        } else {
            self.n -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[test]
fn async_hostcalls_suspend_the_guest_not_the_thread() {
    let (_c, m) = lucet_tests::load(ASKER.as_bytes());
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    let mut linker = Linker::new();
    linker.func_async(
        "host",
        "ask",
        FuncType::new([ValType::I32], [ValType::I32]),
        move |_caller, args| {
            let v = args[0].as_i32().unwrap() * 10;
            Box::pin(Later {
                n: 3,
                v,
                polls: p.clone(),
            })
        },
    );
    let mut inst = Instance::new(&m, &linker, Limits::default()).unwrap();
    let mut fut = Box::pin(inst.run_async("conversation", &[]));
    let mut cx = Context::from_waker(Waker::noop());
    let mut pending = 0;
    let result = loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(r) => break r,
            Poll::Pending => pending += 1,
        }
    };
    assert_eq!(result.unwrap(), vec![Val::I32(30)]);
    assert_eq!(
        pending, 6,
        "the guest was suspended while each future was pending"
    );
    assert_eq!(polls.load(Ordering::Relaxed), 8);
    drop(fut);
    // The same hostcalls under a blocking run are simply waited for.
    assert_eq!(inst.run("conversation", &[]).unwrap(), vec![Val::I32(30)]);
}

/// `fill(ptr, n)`: an async hostcall that waits, then writes `n` bytes at
/// `ptr` through its completion; the guest sums what it finds there.
const FILLER: &str = r#"(module
  (import "host" "fill" (func $fill (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "sum") (param $ptr i32) (param $n i32) (result i32) (local $i i32) (local $s i32)
    (if (i32.ne (call $fill (local.get $ptr) (local.get $n)) (i32.const 0)) (then (return (i32.const -1))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $s (i32.add (local.get $s) (i32.load8_u (i32.add (local.get $ptr) (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $s)))"#;

fn filler_linker(completions: Arc<AtomicUsize>) -> Linker {
    let mut linker = Linker::new();
    linker.func_async_then(
        "host",
        "fill",
        FuncType::new([ValType::I32, ValType::I32], [ValType::I32]),
        move |_caller, args| {
            let (ptr, n) = (
                args[0].as_i32().unwrap() as u32,
                args[1].as_i32().unwrap() as u32,
            );
            let wait = Later {
                n: 2,
                v: 0,
                polls: Arc::new(AtomicUsize::new(0)),
            };
            let completions = completions.clone();
            Box::pin(async move {
                wait.await?;
                let done: HostCompletion = Box::new(move |caller: &mut Caller<'_>| {
                    completions.fetch_add(1, Ordering::Relaxed);
                    let bytes = caller
                        .bytes(ptr, n)
                        .ok_or_else(|| Error::Host("fill out of bounds".into()))?;
                    for (i, b) in bytes.iter_mut().enumerate() {
                        *b = i as u8 + 1;
                    }
                    Ok(vec![Val::I32(0)])
                });
                Ok(done)
            })
        },
    );
    linker
}

#[test]
fn an_async_completion_writes_guest_memory_with_the_caller() {
    let (_c, m) = lucet_tests::load(FILLER.as_bytes());
    let completions = Arc::new(AtomicUsize::new(0));
    let linker = filler_linker(completions.clone());
    let mut inst = Instance::new(&m, &linker, Limits::default()).unwrap();
    let args = [Val::I32(100), Val::I32(10)];
    // Under run_async: pending while the future waits, then the
    // completion fills the buffer the guest reads.
    let mut fut = Box::pin(inst.run_async("sum", &args));
    let mut cx = Context::from_waker(Waker::noop());
    let mut pending = 0;
    let r = loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(r) => break r,
            Poll::Pending => pending += 1,
        }
    };
    drop(fut);
    assert_eq!(r.unwrap(), vec![Val::I32(55)]);
    assert_eq!(pending, 2);
    // Under a blocking run, the same.
    assert_eq!(
        inst.run("sum", &[Val::I32(7), Val::I32(4)]).unwrap(),
        vec![Val::I32(10)]
    );
    assert_eq!(completions.load(Ordering::Relaxed), 2);
    // A completion's error ends the run with it, and nothing was written.
    assert!(matches!(
        inst.run("sum", &[Val::I32(65_530), Val::I32(10)]),
        Err(Error::Host(e)) if e.to_string() == "fill out of bounds"
    ));
}

#[test]
fn a_stopped_run_never_runs_the_completion() {
    let (_c, m) = lucet_tests::load(FILLER.as_bytes());
    let completions = Arc::new(AtomicUsize::new(0));
    let linker = filler_linker(completions.clone());
    let mut inst = Instance::new(&m, &linker, Limits::default()).unwrap();
    let handle = inst.interrupt_handle();
    let mut fut = Box::pin(inst.run_async("sum", &[Val::I32(0), Val::I32(8)]));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(handle.interrupt());
    assert!(matches!(
        fut.as_mut().poll(&mut cx),
        Poll::Ready(Err(Error::Terminated(Termination::Interrupted)))
    ));
    drop(fut);
    assert_eq!(completions.load(Ordering::Relaxed), 0);
    assert_eq!(inst.memory()[..8], [0; 8]);
}

#[test]
fn hostcalls_see_interrupts() {
    let (_c, m) = lucet_tests::load(
        br#"(module (import "host" "wait" (func $w)) (func (export "f") (call $w)))"#,
    );
    let mut linker = Linker::new();
    linker.func("host", "wait", FuncType::new([], []), |caller, _, _| {
        let start = Instant::now();
        while !caller.is_interrupted() {
            if start.elapsed() > Duration::from_secs(5) {
                return Err(Error::Host("never interrupted".into()));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(Error::Host("host noticed".into()))
    });
    let mut inst = Instance::new(&m, &linker, Limits::default()).unwrap();
    inst.set_deadline(Some(Duration::from_millis(20)));
    assert!(matches!(inst.run("f", &[]), Err(Error::Host(w)) if w.to_string() == "host noticed"));
}

const WAIT: &[u8] = br#"(module (import "host" "wait" (func $w)) (func (export "f") (call $w)))"#;

#[test]
fn a_deadline_wakes_a_hostcall_blocked_in_the_kernel() {
    let (_c, m) = lucet_tests::load(WAIT);
    let mut linker = Linker::new();
    linker.func("host", "wait", FuncType::new([], []), |caller, _, _| {
        // Block in poll(2) on the run's interrupt descriptor, as a WASI
        // read from an idle pipe would, with no timeout of our own.
        let mut p = libc::pollfd {
            fd: caller.interrupt_fd()?,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        let n = unsafe { libc::poll(&mut p, 1, 10_000) };
        assert_eq!(n, 1, "poll timed out: the deadline never woke it");
        caller.check_interrupt()
    });
    let mut inst = Instance::new(&m, &linker, Limits::default()).unwrap();
    let limit = Duration::from_millis(30);
    inst.set_deadline(Some(limit));
    for _ in 0..3 {
        let start = Instant::now();
        assert!(matches!(
            inst.run("f", &[]),
            Err(Error::Terminated(Termination::Deadline { limit: l })) if l == limit
        ));
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}

/// A future that is never ready.
struct Never;
impl Future for Never {
    type Output = Result<Vec<Val>, Error>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}

#[test]
fn a_deadline_abandons_an_awaited_future_in_sync_and_async_runs() {
    let (_c, m) = lucet_tests::load(WAIT);
    let mut linker = Linker::new();
    linker.func_async("host", "wait", FuncType::new([], []), |_, _| {
        Box::pin(Never)
    });
    let mut inst = Instance::new(&m, &linker, Limits::default()).unwrap();
    let limit = Duration::from_millis(20);
    inst.set_deadline(Some(limit));
    let stopped = |r: Result<Vec<Val>, Error>| {
        matches!(r, Err(Error::Terminated(Termination::Deadline { .. })))
    };
    assert!(stopped(inst.run("f", &[])));
    assert!(!inst.is_suspended());
    // Under run_async, the poller is woken by the stop and sees it.
    let waker = Waker::from(Arc::new(ThreadUnpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(inst.run_async("f", &[]));
    let result = loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(r) => break r,
            Poll::Pending => std::thread::park_timeout(Duration::from_secs(5)),
        }
    };
    drop(fut);
    assert!(stopped(result));
    // A later run without a deadline is untouched by the old one.
    inst.set_deadline(None);
    let h = inst.interrupt_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        while !h.interrupt() {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    assert!(matches!(
        inst.run("f", &[]),
        Err(Error::Terminated(Termination::Interrupted))
    ));
    t.join().unwrap();
}

struct ThreadUnpark(std::thread::Thread);
impl std::task::Wake for ThreadUnpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

#[test]
fn a_stop_signal_reaches_a_helper_thread_while_guest_memory_is_borrowed() {
    let (_c, m) = lucet_tests::load(
        br#"(module (import "host" "wait" (func $w)) (memory 1) (func (export "f") (call $w)))"#,
    );
    let mut linker = Linker::new();
    linker.func("host", "wait", FuncType::new([], []), |caller, _, _| {
        let stop = caller.stop_signal();
        let mem = caller.memory();
        mem[0] = 1;
        // Another thread waits for the stop on the owned handle.
        let waiter = std::thread::spawn(move || {
            let mut p = libc::pollfd {
                fd: stop.fd().unwrap(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one live pollfd.
            unsafe { libc::poll(&mut p, 1, 10_000) };
            stop.check()
        });
        let r = waiter.join().unwrap();
        mem[1] = 2;
        r
    });
    let mut inst = Instance::new(&m, &linker, Limits::default()).unwrap();
    inst.set_deadline(Some(Duration::from_millis(20)));
    assert!(matches!(
        inst.run("f", &[]),
        Err(Error::Terminated(Termination::Deadline { .. }))
    ));
    assert_eq!(&inst.memory()[..2], &[1, 2]);
}

/// The watchdog sleeps until the earliest deadline and is woken only for
/// an earlier one: a short deadline armed while a long one is pending, and
/// the long one after it, both fire on time.
#[test]
fn deadlines_fire_in_order_whatever_order_they_are_armed_in() {
    let (_c, m) = lucet_tests::load(SPIN.as_bytes());
    let long = std::thread::spawn({
        let m = m.clone();
        move || {
            let mut inst = Instance::new(&m, &Linker::new(), Limits::default()).unwrap();
            inst.set_deadline(Some(Duration::from_millis(600)));
            let start = Instant::now();
            let r = inst.run("forever", &[]);
            (r, start.elapsed())
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    // Many short runs that end before their deadline: nothing fires.
    let mut quick = Instance::new(&m, &Linker::new(), Limits::default()).unwrap();
    quick.set_deadline(Some(Duration::from_secs(5)));
    for _ in 0..1000 {
        quick.run("count", &[Val::I32(10)]).unwrap();
    }
    // A deadline earlier than the pending one.
    let mut short = Instance::new(&m, &Linker::new(), Limits::default()).unwrap();
    short.set_deadline(Some(Duration::from_millis(50)));
    let start = Instant::now();
    assert!(matches!(
        short.run("forever", &[]),
        Err(Error::Terminated(Termination::Deadline { .. }))
    ));
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(400),
        "short deadline took {took:?}"
    );
    let (r, took) = long.join().unwrap();
    assert!(matches!(
        r,
        Err(Error::Terminated(Termination::Deadline { .. }))
    ));
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_secs(3),
        "long deadline took {took:?}"
    );
}

/// Poll `fut` on this thread until it is ready; how many times it was
/// pending.
fn poll_to_end<F: Future>(fut: F) -> (F::Output, usize) {
    let waker = Waker::from(Arc::new(ThreadUnpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(fut);
    let mut pending = 0;
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(r) => return (r, pending),
            Poll::Pending => {
                pending += 1;
                std::thread::park_timeout(Duration::from_secs(5));
            }
        }
    }
}

#[test]
fn a_start_function_that_awaits_suspends_under_start_async_and_obeys_the_deadline() {
    let (_c, m) = lucet_tests::load(lucet_tests::START_ASKS);
    let mut linker = Linker::new();
    linker.func_async(
        "host",
        "ask",
        FuncType::new([ValType::I32], [ValType::I32]),
        |_, _| {
            Box::pin(Later {
                n: 3,
                v: 42,
                polls: Arc::new(AtomicUsize::new(0)),
            })
        },
    );
    let region = lucet_runtime::Region::new(2, Limits::default()).unwrap();
    let mut inst = region.instantiate_unstarted(&m, &linker).unwrap();
    let (r, pending) = poll_to_end(inst.start_async());
    r.unwrap();
    assert!(
        pending >= 3,
        "the start function was suspended, not waited for"
    );
    assert_eq!(inst.run("g", &[]).unwrap(), vec![Val::I32(42)]);
    // A start function awaiting forever is stopped by the deadline.
    let mut never = Linker::new();
    never.func_async(
        "host",
        "ask",
        FuncType::new([ValType::I32], [ValType::I32]),
        |_, _| Box::pin(Never),
    );
    let mut inst = region.instantiate_unstarted(&m, &never).unwrap();
    inst.set_deadline(Some(Duration::from_millis(20)));
    let (r, _) = poll_to_end(inst.start_async());
    assert!(matches!(
        r,
        Err(Error::Terminated(Termination::Deadline { .. }))
    ));
    assert!(matches!(inst.run("g", &[]), Err(Error::InvalidState(_))));
}
