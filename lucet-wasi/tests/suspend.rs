//! Asynchronous WASI (`add_to_linker_async`): guests that sleep, poll or
//! read an input still arriving are suspended, not blocking their thread;
//! deadlines still end them; the same linker works under a blocking `run`;
//! and the synchronous linker reads an async input on its thread. The
//! guest is tests/conformance/c/suspend.c.

mod common;

use common::*;
use lucet_runtime::{Error, Instance, Limits, Linker, Module, Termination};
use lucet_wasi::{async_pipe, AsyncPipeReader, ThreadTimer, WasiCtxBuilder, WritePipe};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

fn module() -> Arc<Module> {
    static M: OnceLock<Arc<Module>> = OnceLock::new();
    // SAFETY: the object was just compiled by this test's lucetc and nothing else writes its directory.
    M.get_or_init(|| unsafe { Module::load_unverified(compiled_conformance("suspend")) }.unwrap())
        .clone()
}

fn async_linker() -> Linker {
    let mut l = Linker::new();
    lucet_wasi::add_to_linker_async(&mut l, ThreadTimer);
    l
}

fn sync_linker() -> Linker {
    let mut l = Linker::new();
    lucet_wasi::add_to_linker(&mut l);
    l
}

struct Guest {
    instance: Instance,
    out: WritePipe,
    err: WritePipe,
}

fn guest(linker: &Linker, args: &[&str], stdin: Option<AsyncPipeReader>) -> Guest {
    let (out, err) = (WritePipe::new(), WritePipe::new());
    let mut b = WasiCtxBuilder::new()
        .arg("suspend")
        .args(args)
        .stdout(out.clone())
        .stderr(err.clone());
    if let Some(s) = stdin {
        b = b.stdin_async(s);
    }
    let mut instance = Instance::new(&module(), linker, Limits::default()).unwrap();
    instance.set_context(b.build().unwrap());
    Guest { instance, out, err }
}

/// Wakes the polling thread and notes that it did.
struct Wakeup {
    thread: std::thread::Thread,
    woken: AtomicBool,
}

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

type Run<'a> = Pin<Box<dyn Future<Output = Result<Vec<lucet_runtime::Val>, Error>> + Send + 'a>>;

/// Poll every run on this one thread until all are done (at most 20 s);
/// their results, and how many times the thread found none of them ready.
fn run_all(mut runs: Vec<Run<'_>>) -> (Vec<Result<Vec<lucet_runtime::Val>, Error>>, usize) {
    let wakeup = Arc::new(Wakeup {
        thread: std::thread::current(),
        woken: AtomicBool::new(true),
    });
    let waker = Waker::from(wakeup.clone());
    let mut cx = Context::from_waker(&waker);
    let mut results: Vec<Option<Result<_, _>>> = runs.iter().map(|_| None).collect();
    let mut idle = 0;
    let end = Instant::now() + Duration::from_secs(20);
    while results.iter().any(Option::is_none) {
        assert!(Instant::now() < end, "runs not done in 20 s");
        if !wakeup.woken.swap(false, Ordering::SeqCst) {
            idle += 1;
            std::thread::park_timeout(Duration::from_millis(100));
            continue;
        }
        for (run, result) in runs.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                if let Poll::Ready(r) = run.as_mut().poll(&mut cx) {
                    *result = Some(r);
                }
            }
        }
    }
    (results.into_iter().map(Option::unwrap).collect(), idle)
}

fn text(p: &WritePipe) -> String {
    String::from_utf8_lossy(&p.contents()).into_owned()
}

#[test]
fn sleeping_guests_share_one_thread() {
    let linker = async_linker();
    let mut guests: Vec<Guest> = (0..50)
        .map(|_| guest(&linker, &["sleep", "200"], None))
        .collect();
    let start = Instant::now();
    let runs: Vec<Run<'_>> = guests
        .iter_mut()
        .map(|g| Box::pin(g.instance.run_async("_start", &[])) as Run<'_>)
        .collect();
    let (results, idle) = run_all(runs);
    let took = start.elapsed();
    for r in results {
        r.unwrap();
    }
    for g in &guests {
        assert_eq!(text(&g.out), "slept 200\n");
    }
    // One after the other they would take 10 s; suspended, they overlap.
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(idle > 0, "the thread was never free while they slept");
}

#[test]
fn a_body_arriving_in_pieces_is_read_in_order() {
    // Generated inputs: random bodies cut into random pieces that arrive
    // at random times, read in random sizes.
    let mut rng = fastrand::Rng::with_seed(13);
    let linker = async_linker();
    for round in 0..8 {
        let len = rng.usize(0..40_000);
        let body: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        let chunk = rng.usize(1..5000).to_string();
        let (w, r) = async_pipe();
        let mut g = guest(&linker, &["cat", &chunk], Some(r));
        let mut pieces = Vec::new();
        let mut at = 0;
        while at < body.len() {
            let n = rng.usize(1..=(body.len() - at).min(9000));
            pieces.push((body[at..at + n].to_vec(), rng.u64(0..15)));
            at += n;
        }
        let feeder = std::thread::spawn(move || {
            for (piece, delay) in pieces {
                std::thread::sleep(Duration::from_millis(delay));
                w.write(&piece);
            }
            w.finish();
        });
        let (results, _) = run_all(vec![Box::pin(g.instance.run_async("_start", &[]))]);
        feeder.join().unwrap();
        results.into_iter().next().unwrap().unwrap_or_else(|e| {
            panic!("round {round}: {e}: {}", text(&g.err));
        });
        assert!(
            g.out.contents() == body,
            "round {round}: the body came out changed"
        );
    }
}

#[test]
fn a_body_cut_short_is_a_read_error() {
    let linker = async_linker();
    let (w, r) = async_pipe();
    let mut g = guest(&linker, &["cat", "100"], Some(r));
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        w.write(b"partial");
        drop(w);
    });
    let (results, _) = run_all(vec![Box::pin(g.instance.run_async("_start", &[]))]);
    feeder.join().unwrap();
    assert!(
        matches!(results[0], Err(Error::Exit(1))),
        "{:?}",
        results[0]
    );
    assert_eq!(text(&g.out), "partial");
    assert!(text(&g.err).starts_with("read error: "), "{}", text(&g.err));
}

#[test]
fn poll_oneoff_waits_for_the_input_or_the_clock() {
    let linker = async_linker();
    // Nothing arrives: the timeout.
    let (w, r) = async_pipe();
    let mut g = guest(&linker, &["poll-stdin", "50"], Some(r));
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        w.write(b"later");
        w.finish();
    });
    let start = Instant::now();
    let (results, _) = run_all(vec![Box::pin(g.instance.run_async("_start", &[]))]);
    feeder.join().unwrap();
    results[0].as_ref().unwrap();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(text(&g.out), "timeout\nlater");

    // Input comes first.
    let (w, r) = async_pipe();
    let mut g = guest(&linker, &["poll-stdin", "5000"], Some(r));
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        w.write(b"data");
        w.finish();
    });
    let start = Instant::now();
    let (results, _) = run_all(vec![Box::pin(g.instance.run_async("_start", &[]))]);
    feeder.join().unwrap();
    results[0].as_ref().unwrap();
    assert!(start.elapsed() < Duration::from_secs(4));
    assert_eq!(text(&g.out), "ready\ndata");

    // Two clocks: the earlier fires alone.
    let mut g = guest(&linker, &["clocks"], None);
    let (results, _) = run_all(vec![Box::pin(g.instance.run_async("_start", &[]))]);
    results[0].as_ref().unwrap();
    assert_eq!(text(&g.out), "clock 1 fired\n");
}

#[test]
fn deadlines_end_suspended_guests() {
    let linker = async_linker();
    let limit = Duration::from_millis(50);
    let (_w, r) = async_pipe();
    let mut reader = guest(&linker, &["cat", "10"], Some(r));
    let mut sleeper = guest(&linker, &["sleep", "3600000"], None);
    reader.instance.set_deadline(Some(limit));
    sleeper.instance.set_deadline(Some(limit));
    let start = Instant::now();
    let (results, _) = run_all(vec![
        Box::pin(reader.instance.run_async("_start", &[])),
        Box::pin(sleeper.instance.run_async("_start", &[])),
    ]);
    let took = start.elapsed();
    for r in results {
        assert!(
            matches!(r, Err(Error::Terminated(Termination::Deadline { .. }))),
            "{r:?}"
        );
    }
    assert!(took >= limit && took < Duration::from_secs(5), "{took:?}");
    assert!(!sleeper.instance.is_suspended() && !reader.instance.is_suspended());
}

#[test]
fn sched_yield_lets_the_thread_run_something_else() {
    let linker = async_linker();
    let mut g = guest(&linker, &["yield", "3"], None);
    let mut run = Box::pin(g.instance.run_async("_start", &[]));
    let mut cx = Context::from_waker(Waker::noop());
    let mut pending = 0;
    let r = loop {
        match run.as_mut().poll(&mut cx) {
            Poll::Ready(r) => break r,
            Poll::Pending => pending += 1,
        }
        assert!(pending < 100);
    };
    drop(run);
    r.unwrap();
    assert_eq!(pending, 3);
    assert_eq!(text(&g.out), "yielded 3\n");
}

#[test]
fn the_async_linker_under_a_blocking_run() {
    let linker = async_linker();
    let mut g = guest(&linker, &["sleep", "30"], None);
    let start = Instant::now();
    g.instance.run("_start", &[]).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(text(&g.out), "slept 30\n");

    let (w, r) = async_pipe();
    let mut g = guest(&linker, &["cat", "3"], Some(r));
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        w.write(b"late body");
        w.finish();
    });
    g.instance.run("_start", &[]).unwrap();
    feeder.join().unwrap();
    assert_eq!(text(&g.out), "late body");

    let mut g = guest(&linker, &["sleep", "3600000"], None);
    g.instance.set_deadline(Some(Duration::from_millis(30)));
    assert!(matches!(
        g.instance.run("_start", &[]),
        Err(Error::Terminated(Termination::Deadline { .. }))
    ));
}

#[test]
fn the_sync_linker_reads_an_async_input_on_its_thread() {
    let linker = sync_linker();
    let (w, r) = async_pipe();
    let mut g = guest(&linker, &["cat", "4"], Some(r));
    let feeder = std::thread::spawn(move || {
        for piece in [&b"one "[..], b"two ", b"three"] {
            std::thread::sleep(Duration::from_millis(10));
            w.write(piece);
        }
        w.finish();
    });
    g.instance.run("_start", &[]).unwrap();
    feeder.join().unwrap();
    assert_eq!(text(&g.out), "one two three");

    // poll_oneoff on it, with a timeout, then data.
    let (w, r) = async_pipe();
    let mut g = guest(&linker, &["poll-stdin", "5000"], Some(r));
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        w.write(b"x");
        w.finish();
    });
    g.instance.run("_start", &[]).unwrap();
    feeder.join().unwrap();
    assert_eq!(text(&g.out), "ready\nx");

    // Nothing ever comes: the deadline ends the wait.
    let (_w, r) = async_pipe();
    let mut g = guest(&linker, &["cat", "4"], Some(r));
    g.instance.set_deadline(Some(Duration::from_millis(30)));
    let start = Instant::now();
    assert!(matches!(
        g.instance.run("_start", &[]),
        Err(Error::Terminated(Termination::Deadline { .. }))
    ));
    assert!(start.elapsed() < Duration::from_secs(5));
}
