//! The worker pool: a fixed set of threads that run guest code, fed by a
//! bounded queue, so guests never block the async runtime and load beyond
//! `workers + queue` requests is refused instead of piling up.
//!
//! Each worker creates a fresh instance for its job in the route's region,
//! runs `_start` with the request on stdin and in the environment, drops
//! the instance, and sends the captured stdout back.

use crate::metrics::{Metrics, Rejection};
use crate::route::Route;
use bytes::{Buf, Bytes};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use hyper::StatusCode;
use lucet_runtime::{Error, InterruptHandle, Linker, Termination};
use lucet_wasi::WasiCtxBuilder;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Bytes of a guest's stderr kept for the log.
const STDERR_KEEP: usize = 2048;

/// One request for a worker.
pub(crate) struct Job {
    pub route: Arc<Route>,
    pub env: Vec<(String, String)>,
    pub body: Bytes,
    pub reply: oneshot::Sender<Outcome>,
    /// Released when the job is done (or dropped unrun).
    pub permit: Option<crate::route::Permit>,
}

/// Why a guest produced no response.
#[derive(Debug)]
pub struct Failure {
    /// What the client gets: 500, 504 for the deadline, 503 without a slot.
    pub status: StatusCode,
    /// A short label for metrics and logs: a trap code such as
    /// `heap_out_of_bounds`, or `deadline`, `instruction_budget`, `exit`,
    /// `output_limit`, `instantiate`, ...
    pub kind: String,
    /// The full cause.
    pub message: String,
}

impl Failure {
    fn new(status: StatusCode, kind: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            status,
            kind: kind.into(),
            message: message.into(),
        }
    }
}

/// What a worker sends back.
pub(crate) struct Outcome {
    /// Time to instantiate, if it got that far.
    pub instantiate: Option<Duration>,
    /// Time running the guest.
    pub run: Duration,
    /// The guest's stdout, or why there is none.
    pub result: Result<Vec<u8>, Failure>,
    /// The start of the guest's stderr.
    pub stderr: Vec<u8>,
}

/// An in-memory stdout or stderr that keeps at most `limit` bytes. Writes
/// past the limit fail (the guest sees an I/O error), or with `truncate`
/// are silently dropped.
#[derive(Clone)]
struct CappedPipe {
    inner: Arc<Mutex<(Vec<u8>, bool)>>,
    limit: usize,
    truncate: bool,
}

impl CappedPipe {
    fn new(limit: usize, truncate: bool) -> CappedPipe {
        CappedPipe {
            inner: Arc::new(Mutex::new((Vec::new(), false))),
            limit,
            truncate,
        }
    }

    fn lock(&self) -> MutexGuard<'_, (Vec<u8>, bool)> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The contents, and whether a write went over the limit.
    fn take(&self) -> (Vec<u8>, bool) {
        std::mem::take(&mut *self.lock())
    }
}

impl Write for CappedPipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (limit, truncate) = (self.limit, self.truncate);
        let mut g = self.lock();
        let room = limit.saturating_sub(g.0.len());
        if buf.len() > room {
            g.1 = true;
            if !truncate {
                return Err(std::io::Error::other("output limit reached"));
            }
            g.0.extend_from_slice(&buf[..room]);
            return Ok(buf.len());
        }
        g.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a worker is running, for the supervisor.
struct Running {
    deadline: Option<Instant>,
    fired: bool,
    interrupt: InterruptHandle,
}

/// Sizes and policies of the pool.
#[derive(Clone, Debug)]
pub(crate) struct PoolConfig {
    /// Threads of the normal lane.
    pub workers: usize,
    /// Jobs that may wait for them.
    pub queue: usize,
    /// Low-priority threads for routes in the penalty box (0: no slow lane).
    pub slow_workers: usize,
    /// Jobs that may wait for them.
    pub slow_queue: usize,
    /// How long a route that ran out its deadline or instruction budget
    /// stays in the slow lane (`None`: never).
    pub penalty: Option<Duration>,
    /// The shortest deadline of any route: the supervisor looks at least
    /// this often, so a new run never has to wake it.
    pub min_deadline: Option<Duration>,
}

struct Shared {
    linker: Linker,
    metrics: Arc<Metrics>,
    /// One entry per worker, normal lane first.
    running: Vec<Mutex<Option<Running>>>,
    stop: AtomicBool,
    /// The supervisor's longest sleep.
    tick: Duration,
    /// Time origin for penalties.
    epoch: Instant,
    penalty: Option<Duration>,
}

impl Shared {
    fn running(&self, worker: usize) -> MutexGuard<'_, Option<Running>> {
        self.running[worker]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

/// The pool of guest-running threads: a normal lane, and a slow lane of
/// low-priority threads for routes whose guests recently ran into their
/// deadline or instruction budget, so a tenant burning CPU until it is
/// stopped gets only the CPU nobody else needs.
pub(crate) struct Pool {
    fast: Sender<Job>,
    slow: Option<Sender<Job>>,
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Make the calling thread a slow-lane thread: `SCHED_IDLE`, so it runs
/// only on CPU time no normal thread wants and yields at once when one
/// wakes up. (A niced thread is not enough: at nice 10 a looping guest
/// still took close to half of a saturated core, filling every gap and
/// delaying wake-ups of the I/O thread.)
fn lower_priority() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, policy)
    {
        tracing::warn!(error = ?e, "cannot lower the slow lane's priority");
    }
}

impl Pool {
    /// Start the threads.
    pub fn new(config: &PoolConfig, metrics: Arc<Metrics>) -> std::io::Result<Pool> {
        let mut linker = Linker::new();
        lucet_wasi::add_to_linker(&mut linker);
        let slow_workers = if config.penalty.is_some() {
            config.slow_workers
        } else {
            0
        };
        let total = config.workers + slow_workers;
        let tick = config
            .min_deadline
            .unwrap_or(Duration::MAX)
            .min(Duration::from_millis(100));
        let shared = Arc::new(Shared {
            linker,
            metrics,
            running: (0..total).map(|_| Mutex::new(None)).collect(),
            stop: AtomicBool::new(false),
            tick,
            epoch: Instant::now(),
            penalty: config.penalty,
        });
        let mut threads = Vec::with_capacity(total + 1);
        let spawn = |name: String, rx: Receiver<Job>, w: usize, slow: bool| {
            let shared = shared.clone();
            std::thread::Builder::new().name(name).spawn(move || {
                if slow {
                    lower_priority();
                }
                worker(w, rx, shared)
            })
        };
        let (fast, rx) = crossbeam_channel::bounded::<Job>(config.queue);
        for w in 0..config.workers {
            threads.push(spawn(format!("lucet-worker-{w}"), rx.clone(), w, false)?);
        }
        let slow = if slow_workers > 0 {
            let (tx, rx) = crossbeam_channel::bounded::<Job>(config.slow_queue);
            for i in 0..slow_workers {
                let w = config.workers + i;
                threads.push(spawn(format!("lucet-slow-{i}"), rx.clone(), w, true)?);
            }
            Some(tx)
        } else {
            None
        };
        let s = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("lucet-supervisor".into())
                .spawn(move || supervisor(s))?,
        );
        Ok(Pool {
            fast,
            slow,
            shared,
            threads: Mutex::new(threads),
        })
    }

    /// The linker every instance is created with (WASI).
    pub fn linker(&self) -> &Linker {
        &self.shared.linker
    }

    /// Queue `job` in its lane, or refuse it at once when that lane's
    /// queue is full.
    pub fn submit(&self, job: Job) -> Result<(), Rejection> {
        if self.shared.stop.load(Ordering::Relaxed) {
            return Err(Rejection::ShuttingDown);
        }
        let (tx, full) = match &self.slow {
            Some(slow) if job.route.penalized(self.shared.now_ms()) => {
                self.shared
                    .metrics
                    .route(job.route.index)
                    .slow_lane
                    .fetch_add(1, Ordering::Relaxed);
                (slow, Rejection::SlowLaneFull)
            }
            _ => (&self.fast, Rejection::QueueFull),
        };
        self.shared.metrics.queued.fetch_add(1, Ordering::Relaxed);
        match tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.shared.metrics.queued.fetch_sub(1, Ordering::Relaxed);
                Err(match e {
                    TrySendError::Full(_) => full,
                    TrySendError::Disconnected(_) => Rejection::ShuttingDown,
                })
            }
        }
    }

    /// Stop every guest now, in its own code or waiting in a WASI call.
    pub fn kill_all(&self) {
        for w in 0..self.shared.running.len() {
            if let Some(r) = &*self.shared.running(w) {
                r.interrupt.interrupt();
            }
        }
    }

    /// Let the workers finish their current job and exit; wait for them.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

fn worker(w: usize, rx: Receiver<Job>, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        let job = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(job) => job,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        };
        shared.metrics.queued.fetch_sub(1, Ordering::Relaxed);
        if job.reply.is_closed() {
            // The client went away while the request waited.
            continue;
        }
        let mut job = job;
        let outcome = execute(w, &mut job, &shared);
        drop(job.permit);
        let _ = job.reply.send(outcome);
    }
}

/// Enforces deadlines: interrupts a run (in guest code or waiting in a WASI
/// call) once its deadline passes.
///
/// It sleeps until the earliest deadline of the runs in progress, but never
/// longer than the shortest configured deadline, so a run that starts
/// while it sleeps cannot have an earlier deadline than its wake-up, and
/// starting a run never has to wake it: no cross-thread wake-up per
/// request. (Until lucet-runtime 316cbbb the runtime's `Instance::set_deadline`
/// woke its watchdog thread on every run, a context switch per request.)
fn supervisor(shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let mut next = now + shared.tick;
        for w in 0..shared.running.len() {
            let mut running = shared.running(w);
            let Some(r) = running.as_mut() else { continue };
            match r.deadline {
                Some(d) if d <= now && !r.fired => {
                    // An interrupt reaches only a run in progress: if this
                    // one has not begun yet, try again next tick.
                    r.fired = r.interrupt.interrupt();
                }
                Some(d) if d > now => next = next.min(d),
                _ => {}
            }
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// Run one job in a fresh instance.
fn execute(w: usize, job: &mut Job, shared: &Shared) -> Outcome {
    let route = job.route.clone();
    let limits = &route.config.limits;
    let started = Instant::now();
    let mut outcome = Outcome {
        instantiate: None,
        run: Duration::ZERO,
        result: Ok(Vec::new()),
        stderr: Vec::new(),
    };
    let mut instance = match route.region.instantiate(&route.module, &shared.linker) {
        Ok(i) => i,
        Err(e) => {
            outcome.result = Err(match e {
                Error::RegionFull(_) => {
                    shared.metrics.reject(Rejection::RegionFull);
                    Failure::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "region_full",
                        e.to_string(),
                    )
                }
                e => Failure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "instantiate",
                    e.to_string(),
                ),
            });
            return outcome;
        }
    };
    let instantiated = Instant::now();
    outcome.instantiate = Some(instantiated - started);
    shared
        .metrics
        .live_instances
        .fetch_add(1, Ordering::Relaxed);

    let stdout = CappedPipe::new(limits.max_output, false);
    let stderr = CappedPipe::new(STDERR_KEEP, true);
    let ctx = WasiCtxBuilder::new()
        .arg(route.config.path.as_str())
        .envs(std::mem::take(&mut job.env))
        .stdin(job.body.clone().reader())
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .build();
    let result = match ctx {
        Err(e) => Err(Error::InvalidState(format!("WASI context: {e}"))),
        Ok(ctx) => {
            instance.set_context(ctx);
            if limits.instruction_budget.is_some() {
                instance.set_instruction_budget(limits.instruction_budget);
            }
            let deadline = limits.deadline.map(|d| instantiated + d);
            *shared.running(w) = Some(Running {
                deadline,
                fired: false,
                interrupt: instance.interrupt_handle(),
            });
            let r = instance.run("_start", &[]);
            *shared.running(w) = None;
            r
        }
    };
    let ran = Instant::now();
    outcome.run = ran - instantiated;
    drop(instance);
    shared
        .metrics
        .live_instances
        .fetch_sub(1, Ordering::Relaxed);

    let (out, overflowed) = stdout.take();
    outcome.stderr = stderr.take().0;
    let past_deadline = limits.deadline.is_some_and(|d| outcome.run >= d);
    let err = |status, kind: &str, message: String| Err(Failure::new(status, kind, message));
    outcome.result = match result {
        Ok(_) | Err(Error::Exit(0)) if overflowed => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "output_limit",
            format!("output exceeds {} bytes", limits.max_output),
        ),
        Ok(_) | Err(Error::Exit(0)) => Ok(out),
        Err(Error::Terminated(why @ Termination::Deadline { .. })) => err(
            StatusCode::GATEWAY_TIMEOUT,
            "deadline",
            format!(
                "deadline of {:?} exceeded after {:?} ({why})",
                limits.deadline.unwrap_or_default(),
                outcome.run
            ),
        ),
        Err(Error::Terminated(why)) if past_deadline => err(
            StatusCode::GATEWAY_TIMEOUT,
            "deadline",
            format!(
                "deadline of {:?} exceeded after {:?} ({why})",
                limits.deadline.unwrap_or_default(),
                outcome.run
            ),
        ),
        Err(Error::Terminated(why @ Termination::InstructionBudget { .. })) => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "instruction_budget",
            why.to_string(),
        ),
        Err(_) if overflowed => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "output_limit",
            format!("output exceeds {} bytes", limits.max_output),
        ),
        Err(Error::Terminated(why)) => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "terminated",
            why.to_string(),
        ),
        Err(Error::Exit(code)) => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "exit",
            format!("exited with status {code}"),
        ),
        Err(Error::Trap(trap)) => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            trap.code.id(),
            format!("trap: {trap}"),
        ),
        Err(e @ Error::Host(_)) => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "host_error",
            e.to_string(),
        ),
        Err(e) => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "runtime_error",
            e.to_string(),
        ),
    };
    if let (Err(f), Some(penalty)) = (&outcome.result, shared.penalty) {
        if f.kind == "deadline" || f.kind == "instruction_budget" {
            let now = shared.now_ms();
            let until = now + penalty.as_millis() as u64;
            if !route.penalize(now, until) {
                tracing::warn!(
                    route = %route.config.path,
                    kind = f.kind.as_str(),
                    penalty = ?penalty,
                    "route moved to the slow lane"
                );
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_pipe() {
        let mut p = CappedPipe::new(5, false);
        p.write_all(b"abc").unwrap();
        assert!(p.write_all(b"def").is_err());
        assert_eq!(p.take(), (b"abc".to_vec(), true));
        let mut t = CappedPipe::new(5, true);
        t.write_all(b"abcdefgh").unwrap();
        assert_eq!(t.take(), (b"abcde".to_vec(), true));
    }
}
