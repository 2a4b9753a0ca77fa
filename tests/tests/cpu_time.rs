//! CPU-time limits: a run is billed for the CPU time of the thread running
//! it, so a guest that spins is stopped, one that waits is not billed for
//! the wait, and one on a busy machine is not stopped for the time it
//! spent waiting for a core.

use lucet_runtime::{Error, FuncType, Instance, Limits, Linker, Termination, Val};
use std::time::{Duration, Instant};

const GUEST: &[u8] = br#"(module
  (import "host" "sleep" (func $sleep))
  (func (export "spin") (loop $l (br $l)))
  (func (export "sleep_then_work") (param i32) (result i32)
    (call $sleep)
    (call $work (local.get 0)))
  (func $work (export "work") (param i32) (result i32) (local i32)
    (loop $l
      (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
    (local.get 1)))"#;

fn instance() -> (lucet_tests::Compiled, Instance) {
    let c = lucet_tests::compile(GUEST);
    let mut linker = Linker::new();
    linker.func("host", "sleep", FuncType::new([], []), |_, _, _| {
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    });
    // SAFETY: this test's lucetc just compiled the object into its own
    // temporary directory.
    let m = unsafe { lucet_runtime::Module::load_unverified(&c.path) }.unwrap();
    let i = Instance::new(&m, &linker, Limits::default()).unwrap();
    (c, i)
}

fn cpu_stopped(r: &Result<Vec<Val>, Error>, limit: Duration) -> bool {
    matches!(r, Err(Error::Terminated(Termination::CpuTime { limit: l })) if *l == limit)
}

#[test]
fn a_spinning_guest_is_stopped_after_its_cpu_time() {
    let (_c, mut i) = instance();
    let limit = Duration::from_millis(50);
    i.set_cpu_time_limit(Some(limit));
    let start = Instant::now();
    let r = i.run("spin", &[]);
    assert!(cpu_stopped(&r, limit), "{r:?}");
    let used = i.cpu_time_used();
    assert!(used >= limit, "stopped after {used:?} of CPU");
    assert!(start.elapsed() < Duration::from_secs(10));
    // The next run starts with a clean slate.
    assert_eq!(
        i.run("work", &[Val::I32(1000)]).unwrap(),
        vec![Val::I32(1000)]
    );
    assert!(i.cpu_time_used() < limit);
}

#[test]
fn time_blocked_in_a_hostcall_is_not_billed() {
    let (_c, mut i) = instance();
    // 300 ms asleep in the hostcall, a little work, under a 100 ms limit.
    i.set_cpu_time_limit(Some(Duration::from_millis(100)));
    let start = Instant::now();
    assert_eq!(
        i.run("sleep_then_work", &[Val::I32(1000)]).unwrap(),
        vec![Val::I32(1000)]
    );
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(i.cpu_time_used() < Duration::from_millis(100));
    // A deadline of the same length would have stopped it.
    i.set_cpu_time_limit(None);
    i.set_deadline(Some(Duration::from_millis(100)));
    assert!(matches!(
        i.run("sleep_then_work", &[Val::I32(1000)]),
        Err(Error::Terminated(Termination::Deadline { .. }))
    ));
}

#[test]
fn a_guest_on_a_busy_machine_is_not_stopped_for_waiting_for_a_core() {
    let (_c, mut i) = instance();
    // How much CPU a fixed piece of work takes here, alone.
    let n = Val::I32(200_000_000);
    i.set_cpu_time_limit(Some(Duration::from_secs(60)));
    i.run("work", &[n]).unwrap();
    let alone = i.cpu_time_used();
    // Half as much again as the limit, with six times as many spinning
    // threads as cores: the work gets a core a small fraction of the
    // time, so its wall time is several times its CPU time, which stays
    // under the limit. (If the scheduler still gave it more, the machine
    // was not busy enough to tell: try again, busier.)
    let limit = alone * 3 / 2 + Duration::from_millis(20);
    i.set_cpu_time_limit(Some(limit));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    for attempt in 1..=3 {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinners: Vec<_> = (0..6 * attempt * cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        // Let them all get going first.
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        let r = i.run("work", &[n]);
        let wall = start.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for s in spinners {
            s.join().unwrap();
        }
        assert_eq!(r.unwrap(), vec![n], "stopped on a busy machine");
        assert!(i.cpu_time_used() < limit);
        if wall > limit {
            return;
        }
        eprintln!("attempt {attempt}: {wall:?} wall, limit {limit:?}: not busy enough");
    }
    panic!("the machine never got busy enough to tell wall time from CPU time");
}
