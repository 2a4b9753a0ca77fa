//! Asynchronous WASI: calls that would wait suspend the guest instead of
//! holding its thread ([`add_to_linker_async`]).
//!
//! Three calls are registered as the runtime's async hostcalls
//! ([`Linker::func_async`]):
//! - `poll_oneoff` (sleeps included) whose subscriptions are clocks and
//!   reads of [`AsyncInput`]s, none ready: the guest awaits the embedder's
//!   [`Timer`] and the inputs' wakers;
//! - `fd_read` of an [`AsyncInput`] stdin that has nothing yet: the guest
//!   awaits the input;
//! - `sched_yield`: the guest lets the executor run something else once.
//!
//! Each call first looks at what it would wait for, at the time of the
//! call, exactly as the synchronous call does: anything ready now, any
//! descriptor the host must poll (a pipe, a socket: these still wait in
//! [`crate::block`], interruptible, on the calling thread), and every other
//! function, run synchronously. Only a wait that would really happen on a
//! timer or an input becomes a future. Under [`Instance::run_async`] the
//! run is then pending and its thread is free; under `Instance::run` the
//! runtime waits for the future on the thread. Either way a deadline or an
//! interrupt abandons the future at once and ends the run with
//! [`Error::Terminated`](lucet_runtime::Error::Terminated).
//!
//! When the awaited future completes, it writes its results (the events,
//! the bytes read) into the guest's memory itself: the runtime gives an
//! async hostcall's future no access to the caller, so the future keeps a
//! [`DetachedMemory`] taken at the time of the call (see its safety
//! argument). A completion step that received the `Caller` again would
//! make that unnecessary.
//!
//! [`Instance::run_async`]: lucet_runtime::Instance::run_async

use crate::abi::{rights, MODULE};
use crate::async_input::AsyncInput;
use crate::ctx::WasiCtx;
use crate::errno::{Errno, HostError};
use crate::fd_table::Kind;
use crate::funcs::{dispatch, WasiFunc, FUNCS};
use crate::memory::{GuestMemory, IoVec};
use crate::poll::{self, Event, InputWait};
use crate::stdio::Input;
use crate::timer::{SleepFuture, Timer};
use lucet_runtime::{Caller, HostFuture, Linker, Val};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// Register every `wasi_snapshot_preview1` function in `linker`, with the
/// calls that wait for a clock or an [`AsyncInput`] as async hostcalls that
/// suspend the guest: `poll_oneoff` whose subscriptions are all clocks and
/// reads of `AsyncInput`s, none ready yet (sleeps included); `fd_read` of
/// an `AsyncInput` stdin with nothing yet; and `sched_yield` (pending
/// once). Each looks at what it would wait for when called, exactly as the
/// synchronous call does: anything ready now, a wait on a host descriptor
/// (a pipe, a socket: interruptible, on the calling thread), and every
/// other function behave exactly as with [`add_to_linker`](crate::add_to_linker).
/// A deadline or interrupt abandons a suspended call at once; the run
/// ends with [`Error::Terminated`](lucet_runtime::Error::Terminated).
/// Sleeps and `poll_oneoff` timeouts wait on futures from `timer` (for
/// instance [`ThreadTimer`](crate::ThreadTimer), or one from the
/// embedder's async runtime).
///
/// Run instances with [`Instance::run_async`](lucet_runtime::Instance::run_async)
/// to free the thread while a guest waits; `run` works too, waiting on the
/// thread.
///
/// ```no_run
/// use lucet_runtime::{Limits, Linker, Module, Region};
/// use lucet_wasi::{async_pipe, ThreadTimer, WasiCtxBuilder, WritePipe};
/// use std::time::Duration;
/// # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
/// let module = Module::load_unverified("handler.so")?;
/// let mut linker = Linker::new();
/// lucet_wasi::add_to_linker_async(&mut linker, ThreadTimer);
/// let region = Region::new(1000, Limits::default())?;
/// let (body, stdin) = async_pipe();
/// let stdout = WritePipe::new();
/// let mut instance = region.instantiate(&module, &linker)?;
/// let ctx = WasiCtxBuilder::new()
///     .stdin_async(stdin)
///     .stdout(stdout.clone())
///     .build()?;
/// instance.set_context(ctx);
/// instance.set_deadline(Some(Duration::from_secs(10)));
/// // Elsewhere, as the request body arrives:
/// body.write(b"the first bytes");
/// body.finish();
/// // Pending (the thread free for other guests) while the guest waits.
/// instance.run_async("_start", &[]).await?;
/// # Ok(()) }
/// ```
pub fn add_to_linker_async(linker: &mut Linker, timer: impl Timer) {
    let timer: Arc<dyn Timer> = Arc::new(timer);
    for f in FUNCS {
        match f.name {
            "fd_read" | "poll_oneoff" | "sched_yield" => {
                let timer = timer.clone();
                linker.func_async(MODULE, f.name, f.ty(), move |caller, args| {
                    dispatch_async(caller, f, &timer, args)
                });
            }
            _ => {
                let may_wait = crate::funcs::may_wait(f.name);
                linker.func(MODULE, f.name, f.ty(), move |caller, args, results| {
                    dispatch(caller, f, may_wait, args, results)
                });
            }
        }
    }
}

fn arg(args: &[Val], i: usize) -> Option<u32> {
    args.get(i)?.as_i32().map(|v| v as u32)
}

/// A call of `f` that may suspend: a future if it would wait on a timer or
/// an input, else the synchronous call, done now.
fn dispatch_async(
    caller: &mut Caller<'_>,
    f: &'static WasiFunc,
    timer: &Arc<dyn Timer>,
    args: &[Val],
) -> HostFuture {
    let suspended = match caller.memory_and_context::<WasiCtx>() {
        (mem, Some(cx)) => match f.name {
            "fd_read" => suspend_read(cx, mem, args),
            "poll_oneoff" => suspend_poll(cx, mem, timer, args),
            "sched_yield" => Some(Box::pin(YieldOnce(false)) as HostFuture),
            _ => None,
        },
        (_, None) => None,
    };
    if let Some(fut) = suspended {
        return fut;
    }
    let mut results = [Val::I32(0)];
    let n = usize::from(f.returns_errno);
    let r = dispatch(caller, f, true, args, &mut results[..n]);
    Box::pin(std::future::ready(r.map(|()| results[..n].to_vec())))
}

/// `fd_read` that suspends: when `fd` is an [`AsyncInput`] in blocking
/// mode with nothing to read yet, and the buffers are valid. Anything else
/// (including every error) is left to the synchronous call.
fn suspend_read(cx: &mut WasiCtx, mem: &mut [u8], args: &[Val]) -> Option<HostFuture> {
    let (fd, iovs, iovs_len, nread) = (arg(args, 0)?, arg(args, 1)?, arg(args, 2)?, arg(args, 3)?);
    let entry = cx.table.get(fd).ok()?;
    let Kind::Stdin(Input::Async(input)) = &entry.kind else {
        return None;
    };
    if entry.nonblock() || entry.base & rights::FD_READ == 0 {
        return None;
    }
    if input
        .poll_readable(&mut Context::from_waker(Waker::noop()))
        .is_ready()
    {
        return None;
    }
    let (iovs, total) = GuestMemory::new(mem).iovecs(iovs, iovs_len).ok()?;
    Some(Box::pin(ReadFuture {
        input: input.clone(),
        mem: DetachedMemory::new(mem),
        iovs,
        total,
        nread,
    }))
}

/// `poll_oneoff` that suspends: when every subscription is a clock or a
/// read of an [`AsyncInput`], and none is ready yet.
fn suspend_poll(
    cx: &mut WasiCtx,
    mem: &mut [u8],
    timer: &Arc<dyn Timer>,
    args: &[Val],
) -> Option<HostFuture> {
    let (subs, out, nsubs, nevents) = (arg(args, 0)?, arg(args, 1)?, arg(args, 2)?, arg(args, 3)?);
    let input = poll::read_subscriptions(&GuestMemory::new(mem), subs, out, nsubs, nevents).ok()?;
    let start = Instant::now();
    let s = poll::subscriptions(cx, &input, start).ok()?;
    if !s.ready.is_empty() || s.needs_host_poll() {
        return None;
    }
    let mut noop = Context::from_waker(Waker::noop());
    if s.inputs.iter().any(|i| i.poll(&mut noop).is_some())
        || poll::due_clocks(&s.clocks, start).next().is_some()
    {
        return None;
    }
    Some(Box::pin(PollFuture {
        clocks: s.clocks,
        inputs: s.inputs,
        timer: timer.clone(),
        sleep: None,
        mem: DetachedMemory::new(mem),
        out,
        nevents,
    }))
}

/// The guest's memory, as a future of a suspended call reaches it.
///
/// The runtime gives an async hostcall's future no borrow of the caller,
/// so the future keeps the memory's address and length from the time of
/// the call. This is sound because of how the runtime drives such a
/// future (`lucet-runtime`'s `call.rs`): it is owned by the suspended call
/// and polled only by the runtime, with the instance (or store) borrowed
/// mutably, while the guest is suspended in the very hostcall that made
/// it. So while it is polled, no guest code runs (nothing grows, shrinks
/// or touches the memory), the embedder cannot borrow the memory, and the
/// slot the memory lives in is alive (a suspended call is dropped before
/// its slot, and a stopped run drops the future without polling it).
/// The base address of a memory never moves.
struct DetachedMemory {
    base: *mut u8,
    len: usize,
}

// SAFETY: the pointer is only dereferenced in `get`, under the conditions
// above, on whichever thread polls the future; the memory is plain bytes
// of this process, not tied to a thread.
unsafe impl Send for DetachedMemory {}

impl DetachedMemory {
    fn new(mem: &mut [u8]) -> DetachedMemory {
        DetachedMemory {
            base: mem.as_mut_ptr(),
            len: mem.len(),
        }
    }

    /// The memory again.
    ///
    /// # Safety
    /// Only from the `poll` of the future that holds it, which only the
    /// runtime calls, while the call that made it is suspended (see the
    /// type's docs).
    unsafe fn get(&mut self) -> GuestMemory<'_> {
        // SAFETY: as the caller promises: the memory is alive, unchanged in
        // size and borrowed by nobody else while the future is polled;
        // `base` came from a slice, so it is non-null and aligned.
        GuestMemory::new(unsafe { std::slice::from_raw_parts_mut(self.base, self.len) })
    }
}

fn errno_result(r: Result<(), HostError>) -> Result<Vec<Val>, lucet_runtime::Error> {
    let errno = match r {
        Ok(()) => Errno::Success,
        Err(HostError::Errno(e)) => e,
        Err(HostError::Stop(e)) => return Err(e),
        // Nothing here waits on the stop event: the runtime abandons the
        // future itself when the run is stopped.
        Err(HostError::Stopped) => Errno::Intr,
    };
    Ok(vec![Val::I32(errno as i32)])
}

/// A suspended `fd_read` of an [`AsyncInput`].
struct ReadFuture {
    input: Arc<dyn AsyncInput>,
    mem: DetachedMemory,
    iovs: Vec<IoVec>,
    total: u32,
    nread: u32,
}

impl Future for ReadFuture {
    type Output = Result<Vec<Val>, lucet_runtime::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            if this.input.poll_readable(cx).is_pending() {
                return Poll::Pending;
            }
            // SAFETY: polled by the runtime while the call is suspended.
            let mut mem = unsafe { this.mem.get() };
            let input = &this.input;
            let read = crate::fd::scatter_read(&mut mem, &this.iovs, this.total, |buf| {
                Ok(input.read_now(buf)?)
            });
            match read {
                // Readable, and yet nothing: wait again.
                Err(HostError::Errno(Errno::Again)) => continue,
                Ok(n) => {
                    let r = mem.write_u32(this.nread, n).map_err(HostError::from);
                    return Poll::Ready(errno_result(r));
                }
                Err(e) => return Poll::Ready(errno_result(Err(e))),
            }
        }
    }
}

/// A suspended `poll_oneoff` on clocks and [`AsyncInput`]s.
struct PollFuture {
    clocks: Vec<(u64, Instant)>,
    inputs: Vec<InputWait>,
    timer: Arc<dyn Timer>,
    /// The timer future for the earliest clock, once made.
    sleep: Option<SleepFuture>,
    mem: DetachedMemory,
    out: u32,
    nevents: u32,
}

impl Future for PollFuture {
    type Output = Result<Vec<Val>, lucet_runtime::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            let mut ready: Vec<Event> = this.inputs.iter().filter_map(|i| i.poll(cx)).collect();
            ready.extend(poll::due_clocks(&this.clocks, Instant::now()));
            if !ready.is_empty() {
                // SAFETY: polled by the runtime while the call is suspended.
                let mut mem = unsafe { this.mem.get() };
                let r = poll::write_events(&mut mem, this.out, this.nevents, &ready);
                return Poll::Ready(errno_result(r));
            }
            let Some(next) = this.clocks.iter().map(|c| c.1).min() else {
                // Inputs only: their wakers bring us back.
                return Poll::Pending;
            };
            let timer = &this.timer;
            let sleep = this.sleep.get_or_insert_with(|| timer.sleep_until(next));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The timer fired: a clock is due (or, with an early timer,
            // the next round waits for the rest).
            this.sleep = None;
        }
    }
}

/// `sched_yield`: pending once (waking itself at once), so an executor
/// polling the run can run something else in between.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = Result<Vec<Val>, lucet_runtime::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.0 {
            return Poll::Ready(Ok(vec![Val::I32(Errno::Success as i32)]));
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
