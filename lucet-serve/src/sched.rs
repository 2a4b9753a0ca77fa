//! Which guest a worker runs next: lanes of worker threads, a queue per
//! route in each, and the tasks (one per request) with their wakers.
//!
//! A request is a task: a future that instantiates the route's module and
//! runs it (see `pool`). A worker polls a task until it finishes or
//! suspends (a sleep, a body still arriving); a suspended task holds its
//! instance but no thread, and its waker puts it back in its route's queue.
//!
//! Routes share a lane's workers by policy, not by arrival order:
//! - a route has at most `max_running` guests on workers at once (by
//!   default one less than the workers), so one route never takes them
//!   all and another route's request finds a worker soon;
//! - among routes with work waiting and room to run, the one that has used
//!   the least CPU time goes first (start-time fair queueing, like Linux's
//!   CFS): every slice a route's guest runs adds its CPU time to the
//!   route's virtual time, and a route that was idle starts again at the
//!   lane's current virtual time, so it cannot bank credit. A route that
//!   burns more CPU per second than others is thereby throttled to an
//!   equal share while others want the CPU, and runs freely when they do
//!   not;
//! - within a route, resumed tasks go before new ones (they are older and
//!   hold instances).
//!
//! A lane's state is one mutex, taken twice per poll (pick, done); workers
//! sleep on a condition variable that is signalled only when a worker is
//! idle.

use crate::metrics::{Metrics, Rejection};
use lucet_runtime::InterruptHandle;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

/// What is left to do once a guest has finished, after the worker has
/// accounted for its last slice (answering the client).
pub(crate) type Completion = Box<dyn FnOnce() + Send>;

/// A request's guest, as a future.
pub(crate) type GuestFuture = Pin<Box<dyn Future<Output = Completion> + Send>>;

/// What the worker, the request's handler, the pool and the guest future
/// share about one request.
#[derive(Default)]
pub(crate) struct TaskInfo {
    /// Stops the guest's run (set once the instance exists).
    pub interrupt: OnceLock<InterruptHandle>,
    /// Its client went away: the handler interrupted the run.
    pub abandoned: AtomicBool,
    /// The server stopped it (shutdown): the pool interrupted the run.
    pub killed: AtomicBool,
    /// Refused before it started (its route went to the slow lane while it
    /// waited, and the slow lane's queue was full): answer this at once.
    pub refused: OnceLock<Rejection>,
    /// CPU time of the task's finished slices, in nanoseconds.
    pub cpu_ns: AtomicU64,
    /// The worker thread's CPU clock when the current slice began.
    pub slice_start: AtomicU64,
}

impl TaskInfo {
    /// The client went away: stop the guest (if it has not begun, it sees
    /// the closed reply channel before it runs).
    pub fn abandon(&self) {
        self.stop(&self.abandoned);
    }

    /// The server is stopping: stop the guest.
    pub fn kill(&self) {
        self.stop(&self.killed);
    }

    /// Record why, then interrupt the run in progress. `interrupt`, not a
    /// stop bound to one run: an instance lives for one request, so the
    /// only later run a late stop can reach is the same request's
    /// `_start`, which should stop too; and a stop that falls between the
    /// start function and `_start` (no run to reach) is caught by the
    /// guest future reading the flag before it begins `_start`.
    fn stop(&self, why: &AtomicBool) {
        why.store(true, Ordering::SeqCst);
        if let Some(h) = self.interrupt.get() {
            h.interrupt();
        }
    }

    /// CPU time so far, the current slice included, given the running
    /// thread's clock now.
    pub fn cpu_used(&self, thread_now: u64) -> u64 {
        self.cpu_ns.load(Ordering::Relaxed)
            + thread_now.saturating_sub(self.slice_start.load(Ordering::Relaxed))
    }
}

/// Task states. A wake-up while the task is polled is remembered
/// (`NOTIFIED`) and queues it again once the poll is over, so a task is in
/// at most one queue and polled by at most one worker.
const IDLE: u8 = 0;
const SCHEDULED: u8 = 1;
const RUNNING: u8 = 2;
const NOTIFIED: u8 = 3;
const DONE: u8 = 4;

/// One request on its way through a lane.
pub(crate) struct Task {
    /// Its route's index.
    pub route: usize,
    pub info: Arc<TaskInfo>,
    lane: Arc<Lane>,
    state: AtomicU8,
    /// Only the worker polling the task locks it.
    fut: Mutex<Option<GuestFuture>>,
}

impl Task {
    /// Poll the guest once; its completion if it finished.
    pub fn poll(self: &Arc<Self>) -> Option<Completion> {
        self.state.store(RUNNING, Ordering::SeqCst);
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = self.fut.lock().unwrap_or_else(|e| e.into_inner());
        let f = fut.as_mut()?;
        if let Poll::Ready(done) = f.as_mut().poll(&mut cx) {
            // Dropping the future drops the instance (and with it the
            // runtime's copy of this task's waker).
            *fut = None;
            self.state.store(DONE, Ordering::SeqCst);
            return Some(done);
        }
        drop(fut);
        let rm = self.lane.metrics.route(self.route);
        rm.suspended.fetch_add(1, Ordering::Relaxed);
        if self
            .state
            .compare_exchange(RUNNING, IDLE, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // Woken while polled: straight back in the queue.
            self.state.store(SCHEDULED, Ordering::SeqCst);
            rm.suspended.fetch_sub(1, Ordering::Relaxed);
            self.lane.push_resumed(self.clone());
        }
        None
    }
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut s = self.state.load(Ordering::SeqCst);
        loop {
            let next = match s {
                IDLE => SCHEDULED,
                RUNNING => NOTIFIED,
                _ => return,
            };
            match self
                .state
                .compare_exchange(s, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        if s == IDLE {
            self.lane
                .metrics
                .route(self.route)
                .suspended
                .fetch_sub(1, Ordering::Relaxed);
            self.lane.push_resumed(self.clone());
        }
    }
}

/// A route's share of one lane.
struct RouteQueue {
    /// Tasks woken after a suspension.
    resumed: VecDeque<Arc<Task>>,
    /// Requests not started.
    new: VecDeque<Arc<Task>>,
    running: usize,
    max_running: usize,
    /// CPU nanoseconds charged (see the module docs).
    vtime: u64,
    /// In `LaneState::runnable`.
    listed: bool,
}

struct LaneState {
    routes: Vec<RouteQueue>,
    /// Routes with queued tasks.
    runnable: Vec<usize>,
    /// The virtual time of the last route picked.
    vclock: u64,
    /// New requests waiting, against `queue_cap`.
    waiting_new: usize,
    idle_workers: usize,
    stop: bool,
    /// Nothing is handed out before this (a throttled lane resting).
    rest_until: Option<std::time::Instant>,
}

/// A set of workers and the queues they take tasks from.
pub(crate) struct Lane {
    state: Mutex<LaneState>,
    wake: Condvar,
    queue_cap: usize,
    full: Rejection,
    pub metrics: Arc<Metrics>,
    /// Where requests not yet started go when their route has been sent to
    /// the slow lane meanwhile (the normal lane's only).
    divert: Option<Arc<Lane>>,
    /// The share of a core each worker may use (the slow lane's only).
    cpu_share: Option<f64>,
}

impl Lane {
    /// A lane for routes whose route `r` runs at most `max_running[r]`
    /// guests at once, with room for `queue_cap` new requests waiting
    /// (more are refused with `full`). New requests of a route in the slow
    /// lane by the time a worker would start them go to `divert`.
    pub fn new(
        max_running: &[usize],
        queue_cap: usize,
        full: Rejection,
        metrics: Arc<Metrics>,
        divert: Option<Arc<Lane>>,
        cpu_share: Option<f64>,
    ) -> Arc<Lane> {
        Arc::new(Lane {
            state: Mutex::new(LaneState {
                routes: max_running
                    .iter()
                    .map(|&m| RouteQueue {
                        resumed: VecDeque::new(),
                        new: VecDeque::new(),
                        running: 0,
                        max_running: m.max(1),
                        vtime: 0,
                        listed: false,
                    })
                    .collect(),
                runnable: Vec::new(),
                vclock: 0,
                waiting_new: 0,
                idle_workers: 0,
                stop: false,
                rest_until: None,
            }),
            wake: Condvar::new(),
            queue_cap,
            full,
            metrics,
            divert,
            cpu_share,
        })
    }

    fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue a new request's guest, or refuse it (giving the guest back)
    /// when the lane's queue is full or the lane has stopped.
    pub fn submit(
        self: &Arc<Self>,
        route: usize,
        info: Arc<TaskInfo>,
        fut: GuestFuture,
    ) -> Result<(), (Rejection, GuestFuture)> {
        let mut s = self.lock();
        if s.stop {
            return Err((Rejection::ShuttingDown, fut));
        }
        if s.waiting_new >= self.queue_cap {
            return Err((self.full, fut));
        }
        let task = Arc::new(Task {
            route,
            info,
            lane: self.clone(),
            state: AtomicU8::new(SCHEDULED),
            fut: Mutex::new(Some(fut)),
        });
        s.waiting_new += 1;
        self.metrics.queued.inc();
        self.enqueue(s, task, false);
        Ok(())
    }

    fn push_resumed(&self, task: Arc<Task>) {
        let s = self.lock();
        if s.stop {
            drop(s);
            // Not polled again: drop the guest, breaking the cycle task ->
            // future -> instance -> waker -> task. (Woken from idle, so no
            // worker holds the future.)
            task.fut.lock().unwrap_or_else(|e| e.into_inner()).take();
            return;
        }
        self.enqueue(s, task, true);
    }

    fn enqueue(&self, mut s: MutexGuard<'_, LaneState>, task: Arc<Task>, resumed: bool) {
        let r = task.route;
        self.metrics.route(r).queued.fetch_add(1, Ordering::Relaxed);
        let vclock = s.vclock;
        let q = &mut s.routes[r];
        if resumed {
            q.resumed.push_back(task);
        } else {
            q.new.push_back(task);
        }
        let eligible = q.running < q.max_running;
        if !q.listed {
            q.listed = true;
            // No credit for the time it had nothing to run.
            q.vtime = q.vtime.max(vclock);
            s.runnable.push(r);
        }
        if eligible && s.idle_workers > 0 {
            drop(s);
            self.wake.notify_one();
        }
    }

    /// The next task to poll: wait for one; `None` once the lane stops.
    pub fn next(&self) -> Option<Arc<Task>> {
        let mut s = self.lock();
        loop {
            if s.stop {
                return None;
            }
            if let Some(until) = s.rest_until {
                let now = std::time::Instant::now();
                if until > now {
                    s = self
                        .wake
                        .wait_timeout(s, until - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    continue;
                }
                s.rest_until = None;
            }
            if let Some(t) = self.pick(&mut s) {
                return Some(t);
            }
            s.idle_workers += 1;
            s = self.wake.wait(s).unwrap_or_else(|e| e.into_inner());
            s.idle_workers -= 1;
        }
    }

    /// The least-served route with a task and room to run one. A new
    /// request of a route sent to the slow lane since it was queued goes
    /// there instead (or, if the slow lane is full, is handed out to be
    /// refused at once): its route is over its share.
    fn pick(&self, s: &mut LaneState) -> Option<Arc<Task>> {
        loop {
            let (task, new) = self.pick_one(s)?;
            let Some(divert) = &self.divert else {
                return Some(task);
            };
            let rm = self.metrics.route(task.route);
            let now = self.metrics.now_ms();
            if !new || rm.penalized_until_ms.load(Ordering::Relaxed) <= now {
                return Some(task);
            }
            let Some(fut) = task.fut.lock().unwrap_or_else(|e| e.into_inner()).take() else {
                return Some(task);
            };
            // Not running after all.
            s.routes[task.route].running -= 1;
            match divert.submit(task.route, task.info.clone(), fut) {
                Ok(()) => {
                    rm.slow_lane.fetch_add(1, Ordering::Relaxed);
                }
                Err((why, fut)) => {
                    *task.fut.lock().unwrap_or_else(|e| e.into_inner()) = Some(fut);
                    let _ = task.info.refused.set(why);
                    s.routes[task.route].running += 1;
                    return Some(task);
                }
            }
        }
    }

    /// The next task by the policy, and whether it is a new request.
    fn pick_one(&self, s: &mut LaneState) -> Option<(Arc<Task>, bool)> {
        let (at, r) = s
            .runnable
            .iter()
            .enumerate()
            .filter(|(_, &r)| s.routes[r].running < s.routes[r].max_running)
            .min_by_key(|(_, &r)| s.routes[r].vtime)
            .map(|(at, &r)| (at, r))?;
        let vtime = s.routes[r].vtime;
        s.vclock = s.vclock.max(vtime);
        let q = &mut s.routes[r];
        let (task, new) = match q.resumed.pop_front() {
            Some(t) => (t, false),
            None => (q.new.pop_front()?, true),
        };
        q.running += 1;
        if q.resumed.is_empty() && q.new.is_empty() {
            q.listed = false;
            s.runnable.swap_remove(at);
        }
        self.metrics.route(r).queued.fetch_sub(1, Ordering::Relaxed);
        if new {
            s.waiting_new -= 1;
            self.metrics.queued.dec();
        }
        Some((task, new))
    }

    /// A poll of a task of `route` is over, having used `cpu_ns`.
    pub fn done(&self, route: usize, cpu_ns: u64) {
        let mut s = self.lock();
        if let Some(share) = self.cpu_share {
            // Rest in proportion, so that the lane uses `share` of a core.
            let rest = std::time::Duration::from_nanos(cpu_ns).mul_f64(1.0 / share - 1.0);
            let now = std::time::Instant::now();
            s.rest_until = Some(s.rest_until.unwrap_or(now).max(now) + rest);
        }
        let q = &mut s.routes[route];
        q.running -= 1;
        q.vtime += cpu_ns;
        // A task of this route that waited for room can run now: this
        // worker looks for one at once, so no other needs waking.
    }

    /// Stop handing out tasks; drop every queued one (their requests are
    /// answered "shutting down").
    pub fn stop(&self) {
        let mut s = self.lock();
        s.stop = true;
        let dropped: Vec<Arc<Task>> = s
            .routes
            .iter_mut()
            .flat_map(|q| q.resumed.drain(..).chain(q.new.drain(..)))
            .collect();
        s.runnable.clear();
        drop(s);
        self.wake.notify_all();
        for t in dropped {
            // Break the cycle task -> future -> instance -> waker -> task.
            t.fut.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn lane(max_running: &[usize], queue: usize) -> Arc<Lane> {
        let names: Vec<String> = (0..max_running.len()).map(|i| format!("/r{i}")).collect();
        let metrics = Arc::new(Metrics::new(names.iter().map(String::as_str)));
        Lane::new(
            max_running,
            queue,
            Rejection::QueueFull,
            metrics,
            None,
            None,
        )
    }

    /// A guest that is pending `n` times (woken at once each time), then done.
    fn guest(n: usize, polls: Arc<AtomicUsize>) -> GuestFuture {
        let mut left = n;
        Box::pin(std::future::poll_fn(move |cx| {
            polls.fetch_add(1, Ordering::SeqCst);
            if left == 0 {
                return Poll::Ready(Box::new(|| ()) as Completion);
            }
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }))
    }

    fn submit(l: &Arc<Lane>, route: usize, n: usize) -> Arc<AtomicUsize> {
        let polls = Arc::new(AtomicUsize::new(0));
        assert!(l
            .submit(route, Arc::default(), guest(n, polls.clone()))
            .is_ok());
        polls
    }

    #[test]
    fn a_route_at_its_share_waits_while_others_run() {
        let l = lane(&[1, 1], 16);
        submit(&l, 0, 0);
        submit(&l, 0, 0);
        submit(&l, 1, 0);
        let a = l.next().unwrap();
        assert_eq!(a.route, 0);
        // Route 0 is at its share of one: route 1 goes next although it
        // came later.
        let b = l.next().unwrap();
        assert_eq!(b.route, 1);
        assert!(a.poll().is_some() && b.poll().is_some());
        l.done(0, 0);
        l.done(1, 0);
        assert_eq!(l.next().unwrap().route, 0);
    }

    #[test]
    fn the_route_that_used_less_cpu_goes_first() {
        let l = lane(&[4, 4], 16);
        for _ in 0..3 {
            submit(&l, 0, 0);
            submit(&l, 1, 0);
        }
        // Route 0's first guest was expensive.
        let t = l.next().unwrap();
        assert!(t.poll().is_some());
        l.done(t.route, 1_000_000);
        let order: Vec<usize> = (0..3)
            .map(|_| {
                let t = l.next().unwrap();
                assert!(t.poll().is_some());
                l.done(t.route, 1000);
                t.route
            })
            .collect();
        assert_eq!(order, [1, 1, 1], "route 1 catches up first");
        assert_eq!(l.next().unwrap().route, 0);
    }

    #[test]
    fn a_task_woken_while_polled_is_queued_again_once() {
        let l = lane(&[1], 16);
        let polls = submit(&l, 0, 2);
        let mut n = 0;
        loop {
            let t = l.next().unwrap();
            n += 1;
            let done = t.poll().is_some();
            l.done(0, 0);
            if done {
                break;
            }
        }
        assert_eq!(n, 3);
        assert_eq!(polls.load(Ordering::SeqCst), 3);
        assert_eq!(l.metrics.route(0).suspended.load(Ordering::SeqCst), 0);
        assert_eq!(l.metrics.route(0).queued.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn requests_of_a_route_sent_to_the_slow_lane_meanwhile_go_there() {
        let names = ["/a", "/b"];
        let metrics = Arc::new(Metrics::new(names));
        let slow = Lane::new(
            &[1, 1],
            1,
            Rejection::SlowLaneFull,
            metrics.clone(),
            None,
            None,
        );
        let fast = Lane::new(
            &[1, 1],
            16,
            Rejection::QueueFull,
            metrics.clone(),
            Some(slow.clone()),
            None,
        );
        for _ in 0..2 {
            submit(&fast, 0, 0);
        }
        submit(&fast, 1, 0);
        // Route 0 goes to the slow lane while its requests wait.
        metrics
            .route(0)
            .penalized_until_ms
            .store(metrics.now_ms() + 60_000, Ordering::Relaxed);
        // The first moves to the slow lane; the second finds it full and
        // is handed out to be refused; then route 1's.
        let t = fast.next().unwrap();
        assert_eq!(t.route, 0);
        assert_eq!(t.info.refused.get(), Some(&Rejection::SlowLaneFull));
        fast.done(0, 0);
        let t = fast.next().unwrap();
        assert_eq!(t.route, 1);
        assert!(t.info.refused.get().is_none());
        let moved = slow.next().unwrap();
        assert_eq!(moved.route, 0);
        assert!(moved.poll().is_some());
        assert_eq!(metrics.route(0).slow_lane.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_throttled_lane_rests_in_proportion_to_the_cpu_used() {
        let metrics = Arc::new(Metrics::new(["/a"]));
        let l = Lane::new(&[1], 4, Rejection::QueueFull, metrics, None, Some(0.25));
        submit(&l, 0, 0);
        submit(&l, 0, 0);
        let t = l.next().unwrap();
        assert!(t.poll().is_some());
        // 10 ms of CPU at a quarter of a core: 30 ms of rest.
        l.done(0, 10_000_000);
        let start = std::time::Instant::now();
        let t = l.next().unwrap();
        let rested = start.elapsed();
        assert!(rested >= std::time::Duration::from_millis(29), "{rested:?}");
        assert!(rested < std::time::Duration::from_secs(2), "{rested:?}");
        assert!(t.poll().is_some());
    }

    #[test]
    fn a_full_queue_refuses_and_a_stopped_lane_too() {
        let l = lane(&[1], 2);
        submit(&l, 0, 0);
        submit(&l, 0, 0);
        let r = l.submit(0, Arc::default(), guest(0, Arc::default()));
        assert_eq!(r.err().map(|e| e.0), Some(Rejection::QueueFull));
        l.stop();
        assert!(l.next().is_none());
        let r = l.submit(0, Arc::default(), guest(0, Arc::default()));
        assert_eq!(r.err().map(|e| e.0), Some(Rejection::ShuttingDown));
    }
}
