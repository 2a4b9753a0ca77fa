//! The worker pool: a fixed set of threads that run guest code, so guests
//! never run on the async runtime, and a slow lane of low-priority threads
//! for routes over their share.
//!
//! Each request becomes a task (see [`crate::sched`]): a future that
//! instantiates the route's module in a slot of its region (without
//! running its start function), sets the deadline, instruction budget and
//! WASI context, runs the start function (under those limits) and then
//! `_start` with [`Instance::run_async`](lucet_runtime::Instance::run_async).
//! WASI is linked with [`lucet_wasi::add_to_linker_async`]: a guest that
//! sleeps, waits in `poll_oneoff` or reads a request body that has not
//! arrived is suspended, holding its instance but no thread, and the worker
//! runs other requests meanwhile.
//!
//! Limits are the runtime's, set per run: the start function and `_start`
//! each get a deadline of what is left of the request's (counted from
//! instantiation, suspensions included) and a CPU-time limit of what is
//! left of its CPU budget (the budget less the runtime's
//! `cpu_time_used()` of the runs before). The runtime's one watchdog
//! thread stops a run at either, in guest code, blocked in a WASI call or
//! suspended alike, and the run ends with a typed [`Termination`] that
//! [`crate::outcome`] turns into the response. The runtime bills a run for
//! the CPU time of the thread running the guest while it runs, not for
//! sleeps, waits for the body or time waiting for a core.
//!
//! The server itself stops guests only through their interrupt handles:
//! when the client goes away, and at shutdown ([`Pool::kill_all`]).
//!
//! CPU time is also *accounted* per poll with the worker thread's clock
//! (instantiation and the host's work around the guest included), for
//! the metrics, the scheduler's fair shares and the slow lane: a request
//! that runs into a limit or traps, or uses more CPU time or memory than
//! its route's `penalty_cpu`/`penalty_memory`, sends its route to the slow
//! lane for the `penalty` time.

use crate::config::RouteLimits;
use crate::cpu_clock::thread_cpu_ns;
use crate::metrics::{Metrics, Rejection};
use crate::outcome::{classify, Failure, FailureKind, RunFacts};
use crate::output::CappedPipe;
use crate::route::{Permit, Route, Routes};
use crate::sched::{Completion, GuestFuture, Lane, TaskInfo};
use bytes::{Buf, Bytes};
use lucet_runtime::{Error, Instance, Linker, Termination};
use lucet_wasi::{AsyncPipeReader, ThreadTimer, WasiCtxBuilder};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Bytes of a guest's stderr kept for the log.
const STDERR_KEEP: usize = 2048;

/// What the guest reads on stdin.
pub(crate) enum Stdin {
    /// The whole body, already here (or none).
    Bytes(Bytes),
    /// A body still arriving.
    Streaming(AsyncPipeReader),
}

/// One request for a worker.
pub(crate) struct Job {
    pub route: Arc<Route>,
    pub env: Vec<(String, String)>,
    pub stdin: Stdin,
    pub reply: oneshot::Sender<Outcome>,
    /// Released when the job is done (or dropped unrun).
    pub permit: Permit,
}

/// What a worker sends back.
pub(crate) struct Outcome {
    /// Time to instantiate, if it got that far.
    pub instantiate: Option<Duration>,
    /// Wall-clock time running the guest (start function and `_start`,
    /// suspensions included).
    pub run: Duration,
    /// CPU time the request used (instantiation included).
    pub cpu: Duration,
    /// The guest's stdout, or why there is none.
    pub result: Result<Vec<u8>, Failure>,
    /// The start of the guest's stderr.
    pub stderr: Vec<u8>,
}

/// Sizes and policies of the pool.
#[derive(Clone, Debug)]
pub(crate) struct PoolConfig {
    /// Threads of the normal lane.
    pub workers: usize,
    /// New requests that may wait for them.
    pub queue: usize,
    /// Low-priority threads for routes in the penalty box (0: no slow lane).
    pub slow_workers: usize,
    /// New requests that may wait for them.
    pub slow_queue: usize,
    /// How long a route over its share stays in the slow lane (`None`:
    /// never).
    pub penalty: Option<Duration>,
    /// The share of a core the slow lane uses at most, on average.
    pub slow_lane_cpu: f64,
}

/// The linker every instance is created with: WASI, with sleeps, polls and
/// body reads that suspend.
pub(crate) fn linker() -> Linker {
    let mut linker = Linker::new();
    lucet_wasi::add_to_linker_async(&mut linker, ThreadTimer);
    linker
}

struct Shared {
    linker: Linker,
    metrics: Arc<Metrics>,
    /// Every request with an instance, by a number of its own: for
    /// `kill_all`.
    live: Mutex<HashMap<u64, Arc<TaskInfo>>>,
    next_id: AtomicU64,
    stop: AtomicBool,
    penalty: Option<Duration>,
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, HashMap<u64, Arc<TaskInfo>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The pool of guest-running threads: a normal lane, and a slow lane of
/// low-priority threads for routes over their share, so a tenant burning
/// CPU until it is stopped gets only the CPU nobody else needs.
pub(crate) struct Pool {
    fast: Arc<Lane>,
    slow: Option<Arc<Lane>>,
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
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
    /// Start the threads for `routes`, whose instances were made with
    /// `linker`.
    pub fn new(
        config: &PoolConfig,
        routes: &Routes,
        linker: Linker,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Pool> {
        let slow_workers = if config.penalty.is_some() {
            config.slow_workers
        } else {
            0
        };
        let total = config.workers + slow_workers;
        let shared = Arc::new(Shared {
            linker,
            metrics: metrics.clone(),
            live: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            stop: AtomicBool::new(false),
            penalty: config.penalty,
        });
        let max_running: Vec<usize> = routes.all().iter().map(|r| r.max_running).collect();
        let slow = (slow_workers > 0).then(|| {
            Lane::new(
                &vec![slow_workers; max_running.len()],
                config.slow_queue,
                Rejection::SlowLaneFull,
                metrics.clone(),
                None,
                Some(config.slow_lane_cpu),
            )
        });
        let fast = Lane::new(
            &max_running,
            config.queue,
            Rejection::QueueFull,
            metrics.clone(),
            slow.clone(),
            None,
        );
        let mut threads = Vec::with_capacity(total);
        let spawn = |name: String, lane: Arc<Lane>, low: bool| {
            let shared = shared.clone();
            std::thread::Builder::new().name(name).spawn(move || {
                if low {
                    lower_priority();
                }
                worker(&lane, &shared)
            })
        };
        for w in 0..config.workers {
            threads.push(spawn(format!("lucet-worker-{w}"), fast.clone(), false)?);
        }
        if let Some(slow) = &slow {
            for i in 0..slow_workers {
                threads.push(spawn(format!("lucet-slow-{i}"), slow.clone(), true)?);
            }
        }
        Ok(Pool {
            fast,
            slow,
            shared,
            workers: Mutex::new(threads),
        })
    }

    /// Queue `job` in its lane, or refuse it at once when that lane's
    /// queue is full. What the request's handler may use to stop it.
    pub fn submit(&self, job: Job) -> Result<Arc<TaskInfo>, Rejection> {
        if self.shared.stop.load(Ordering::Relaxed) {
            return Err(Rejection::ShuttingDown);
        }
        let route = job.route.index;
        let rm = self.shared.metrics.route(route);
        let lane = match &self.slow {
            Some(slow) if penalized(rm, self.shared.metrics.now_ms()) => {
                rm.slow_lane.fetch_add(1, Ordering::Relaxed);
                slow
            }
            _ => &self.fast,
        };
        let info = Arc::new(TaskInfo::default());
        let fut: GuestFuture = Box::pin(run_job(job, info.clone(), self.shared.clone()));
        lane.submit(route, info.clone(), fut)
            .map(|()| info)
            .map_err(|(why, _)| why)
    }

    /// Stop every guest now: running, suspended, or between its start
    /// function and `_start`.
    pub fn kill_all(&self) {
        for info in self.shared.live().values() {
            info.kill();
        }
    }

    /// Stop: queued and suspended requests are dropped (their clients, if
    /// any are left, get 503), guests still running are interrupted, and
    /// the workers exit after their current poll; wait for them.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.fast.stop();
        if let Some(s) = &self.slow {
            s.stop();
        }
        self.kill_all();
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for t in workers {
            let _ = t.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.fast.stop();
        if let Some(s) = &self.slow {
            s.stop();
        }
    }
}

/// Whether a route is in the slow lane at `now_ms`.
fn penalized(rm: &crate::metrics::RouteMetrics, now_ms: u64) -> bool {
    rm.penalized_until_ms.load(Ordering::Relaxed) > now_ms
}

fn worker(lane: &Lane, shared: &Shared) {
    while let Some(task) = lane.next() {
        let route = task.route;
        let rm = shared.metrics.route(route);
        let start = Instant::now();
        let cpu0 = thread_cpu_ns();
        task.info.slice_start.store(cpu0, Ordering::Relaxed);
        rm.running.fetch_add(1, Ordering::Relaxed);
        let done = task.poll();
        rm.running.fetch_sub(1, Ordering::Relaxed);
        let cpu = thread_cpu_ns().saturating_sub(cpu0);
        task.info.cpu_ns.fetch_add(cpu, Ordering::Relaxed);
        rm.cpu_ns.fetch_add(cpu, Ordering::Relaxed);
        rm.worker_ns
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        lane.done(route, cpu);
        // Answer only now, so that the metrics count the whole request.
        if let Some(done) = done {
            done();
        }
    }
}

/// Removes a request from the live set when dropped.
struct Live<'a>(&'a Shared, u64);

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.0.live().remove(&self.1);
    }
}

/// The reply to send once the worker is done with the request.
fn reply_with(reply: oneshot::Sender<Outcome>, outcome: Outcome) -> Completion {
    Box::new(move || {
        let _ = reply.send(outcome);
    })
}

/// What is left of a request's deadline and CPU time, shared out between
/// its runs (start function, then `_start`) as the runtime's per-run
/// limits.
struct LimitsLeft {
    /// When the request's deadline falls, and the route's deadline.
    deadline: Option<(Instant, Duration)>,
    /// The CPU time the request may still use, and the route's limit.
    cpu: Option<(Duration, Duration)>,
}

impl LimitsLeft {
    /// The route's limits for a request whose instance exists since
    /// `instantiated` (the deadline counts from there, as it always has).
    fn new(limits: &RouteLimits, instantiated: Instant) -> LimitsLeft {
        LimitsLeft {
            deadline: limits.deadline.map(|d| (instantiated + d, d)),
            cpu: limits.cpu_time.map(|c| (c, c)),
        }
    }

    /// Give the instance's next run what is left, or say which limit has
    /// run out already (so a run never starts with nothing left: the
    /// runtime would stop it only at its watchdog's next look).
    fn arm(&self, instance: &mut Instance) -> Result<(), Error> {
        let deadline = match self.deadline {
            None => None,
            Some((when, limit)) => {
                let left = when.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Terminated(Termination::Deadline { limit }));
                }
                Some(left)
            }
        };
        let cpu = match self.cpu {
            None => None,
            Some((left, limit)) => {
                if left.is_zero() {
                    return Err(Error::Terminated(Termination::CpuTime { limit }));
                }
                Some(left)
            }
        };
        instance.set_deadline(deadline);
        instance.set_cpu_time_limit(cpu);
        Ok(())
    }

    /// Subtract the CPU time of the run that just ended (measured by the
    /// runtime for runs with a CPU-time limit, which every run here has
    /// when the route has one).
    fn charge(&mut self, instance: &Instance) {
        if let Some((left, _)) = &mut self.cpu {
            *left = left.saturating_sub(instance.cpu_time_used());
        }
    }
}

/// Before each run: stop here if the server or the client already asked
/// (an interrupt between runs reaches no run, so it is noticed by its
/// flag), else arm the run's limits.
fn before_run(
    info: &TaskInfo,
    reply: &oneshot::Sender<Outcome>,
    left: &LimitsLeft,
    instance: &mut Instance,
) -> Result<(), Error> {
    if reply.is_closed() {
        info.abandoned.store(true, Ordering::SeqCst);
    }
    if info.abandoned.load(Ordering::SeqCst) || info.killed.load(Ordering::SeqCst) {
        return Err(Error::Terminated(Termination::Interrupted));
    }
    left.arm(instance)
}

/// One request, from instantiation to the reply.
async fn run_job(job: Job, info: Arc<TaskInfo>, shared: Arc<Shared>) -> Completion {
    let Job {
        route,
        env,
        stdin,
        reply,
        permit,
    } = job;
    if reply.is_closed() {
        // The client went away while the request waited.
        return Box::new(|| ());
    }
    if let Some(&why) = info.refused.get() {
        shared.metrics.reject(why);
        let outcome = Outcome {
            instantiate: None,
            run: Duration::ZERO,
            cpu: Duration::ZERO,
            result: Err(Failure::new(FailureKind::Refused(why), why.as_str())),
            stderr: Vec::new(),
        };
        return reply_with(reply, outcome);
    }
    let rm = shared.metrics.route(route.index);
    let limits = &route.config.limits;
    let started = Instant::now();
    let mut outcome = Outcome {
        instantiate: None,
        run: Duration::ZERO,
        cpu: Duration::ZERO,
        result: Ok(Vec::new()),
        stderr: Vec::new(),
    };
    let mut instance = match route
        .region
        .instantiate_unstarted(&route.module, &shared.linker)
    {
        Ok(i) => i,
        Err(e) => {
            let kind = match e {
                Error::RegionFull(_) => {
                    shared.metrics.reject(Rejection::RegionFull);
                    FailureKind::RegionFull
                }
                _ => FailureKind::Instantiate,
            };
            outcome.result = Err(Failure::new(kind, e.to_string()));
            return reply_with(reply, outcome);
        }
    };
    let instantiated = Instant::now();
    outcome.instantiate = Some(instantiated - started);
    shared.metrics.live_instances.inc();

    let stdout = CappedPipe::new(limits.max_output, false);
    let stderr = CappedPipe::new(STDERR_KEEP, true);
    let builder = WasiCtxBuilder::new()
        .arg(route.config.path.as_str())
        .envs(env)
        .stdout(stdout.clone())
        .stderr(stderr.clone());
    let builder = match stdin {
        Stdin::Bytes(b) => builder.stdin(b.reader()),
        Stdin::Streaming(r) => builder.stdin_async(r),
    };
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let result = match builder.build() {
        Err(e) => Err(Error::InvalidState(format!("WASI context: {e}"))),
        Ok(ctx) => {
            instance.set_context(ctx);
            instance.set_instruction_budget(limits.instruction_budget);
            let _ = info.interrupt.set(instance.interrupt_handle());
            shared.live().insert(id, info.clone());
            let _live = Live(&shared, id);
            let mut left = LimitsLeft::new(limits, instantiated);
            // The start function, if any, runs under the request's limits
            // (and, if it waits, without holding the worker); `_start` gets
            // what is left of them.
            let mut r = before_run(&info, &reply, &left, &mut instance);
            if r.is_ok() {
                r = instance.start_async().await;
                left.charge(&instance);
            }
            if r.is_ok() {
                if let Some(b) = limits.instruction_budget {
                    instance.set_instruction_budget(Some(
                        b.saturating_sub(instance.instruction_count()),
                    ));
                }
                r = before_run(&info, &reply, &left, &mut instance);
            }
            if r.is_ok() {
                r = instance.run_async("_start", &[]).await.map(drop);
            }
            r
        }
    };
    let ran = Instant::now();
    outcome.run = ran - instantiated;
    let memory = instance.memory().len() as u64;
    rm.instructions
        .fetch_add(instance.instruction_count(), Ordering::Relaxed);
    drop(instance);
    shared.metrics.live_instances.dec();
    let cpu = info.cpu_used(thread_cpu_ns());
    outcome.cpu = Duration::from_nanos(cpu);
    rm.cpu.observe(outcome.cpu);
    rm.memory_bytes.fetch_add(memory, Ordering::Relaxed);
    rm.memory_max_bytes.fetch_max(memory, Ordering::Relaxed);

    let (out, overflowed) = stdout.take();
    outcome.stderr = stderr.take().0;
    let facts = RunFacts {
        deadline: limits.deadline,
        cpu_limit: limits.cpu_time,
        ran: outcome.run,
        cpu: outcome.cpu,
        abandoned: info.abandoned.load(Ordering::SeqCst),
        overflowed,
        max_output: limits.max_output,
    };
    let failure = classify(&result, &facts);
    if info.abandoned.load(Ordering::SeqCst) {
        // Nobody will log this one: its client is gone.
        rm.failure(FailureKind::ClientGone.as_str());
    }
    // Over its share? The first reason found sends the route to the slow
    // lane.
    let over = match &failure {
        Some(f) if f.kind.over_share() => Some(f.kind.as_str()),
        _ if outcome.cpu > limits.penalty_cpu => Some("cpu_share"),
        _ if memory > limits.penalty_memory => Some("memory_share"),
        _ => None,
    };
    if let (Some(reason), Some(penalty)) = (over, shared.penalty) {
        let now = shared.metrics.now_ms();
        let until = now + penalty.as_millis() as u64;
        if rm.penalized_until_ms.fetch_max(until, Ordering::Relaxed) <= now {
            rm.penalty(reason);
            tracing::warn!(
                route = %route.config.path,
                reason,
                penalty = ?penalty,
                "route moved to the slow lane"
            );
        }
    }
    outcome.result = match failure {
        Some(f) => Err(f),
        None => Ok(out),
    };
    drop(permit);
    reply_with(reply, outcome)
}
