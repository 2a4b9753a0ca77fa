//! Asynchronous WASI: calls that would wait suspend the guest instead of
//! holding its thread ([`add_to_linker_async`]).
//!
//! Three calls are registered as the runtime's async hostcalls
//! ([`Linker::func_async_then`]):
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
//! The futures never touch the guest's memory: what a wait brings (the
//! events, the bytes read) is kept in the future and written by its
//! [`HostCompletion`], which the runtime runs with the caller once the
//! guest is resumed ([`Linker::func_async_then`]).
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
use lucet_runtime::{Caller, HostCompletion, HostFutureThen, Linker, Val};
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
/// use lucet_runtime::{Limits, Linker, Module, PublicKey, Region, TrustedKeys};
/// use lucet_wasi::{async_pipe, ThreadTimer, WasiCtxBuilder, WritePipe};
/// use std::time::Duration;
/// # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = TrustedKeys::new().with(PublicKey::from_file("lucet.pub")?);
/// let module = Module::load_verified("handler.so", &keys)?;
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
                linker.func_async_then(MODULE, f.name, f.ty(), move |caller, args| {
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
) -> HostFutureThen {
    let suspended = match caller.memory_and_context::<WasiCtx>() {
        (mem, Some(cx)) => match f.name {
            "fd_read" => suspend_read(cx, mem, args),
            "poll_oneoff" => suspend_poll(cx, mem, timer, args),
            "sched_yield" => Some(Box::pin(YieldOnce(false)) as HostFutureThen),
            _ => None,
        },
        (_, None) => None,
    };
    if let Some(fut) = suspended {
        return fut;
    }
    let mut results = [Val::I32(0)];
    let n = usize::from(f.returns_errno());
    let r = dispatch(caller, f, true, args, &mut results[..n]).map(|()| results[..n].to_vec());
    Box::pin(std::future::ready(Ok(values(r))))
}

/// `fd_read` that suspends: when `fd` is an [`AsyncInput`] in blocking
/// mode with nothing to read yet, and the buffers are valid. Anything else
/// (including every error) is left to the synchronous call.
fn suspend_read(cx: &mut WasiCtx, mem: &mut [u8], args: &[Val]) -> Option<HostFutureThen> {
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
) -> Option<HostFutureThen> {
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
        out,
        nevents,
    }))
}

/// A completion that only gives `r` as the results.
fn values(r: Result<Vec<Val>, lucet_runtime::Error>) -> HostCompletion {
    Box::new(move |_: &mut Caller<'_>| r)
}

/// A completion that does `write` on the guest's memory and gives its
/// errno.
fn write_then(
    write: impl FnOnce(&mut GuestMemory<'_>) -> Result<(), HostError> + Send + 'static,
) -> HostCompletion {
    Box::new(move |caller: &mut Caller<'_>| {
        errno_result(write(&mut GuestMemory::new(caller.memory())))
    })
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

/// The most a resumed `fd_read` of an [`AsyncInput`] takes at once (a
/// short read, as from a pipe).
const READ_MAX: usize = 64 << 10;

/// A suspended `fd_read` of an [`AsyncInput`]: the bytes are taken when
/// the input is readable and written into the guest's buffers by the
/// completion.
struct ReadFuture {
    input: Arc<dyn AsyncInput>,
    iovs: Vec<IoVec>,
    total: u32,
    nread: u32,
}

impl Future for ReadFuture {
    type Output = Result<HostCompletion, lucet_runtime::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            let Poll::Ready(available) = this.input.poll_readable(cx) else {
                return Poll::Pending;
            };
            let want = (this.total as usize)
                .min(READ_MAX)
                .min(usize::try_from(available).unwrap_or(usize::MAX).max(1));
            let mut data = vec![0u8; want];
            match this.input.read_now(&mut data) {
                // Readable, and yet nothing: wait again.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Ok(write_then(move |_| Err(HostError::from(e))))),
                Ok(n) => {
                    data.truncate(n);
                    let (iovs, nread) = (std::mem::take(&mut this.iovs), this.nread);
                    return Poll::Ready(Ok(write_then(move |mem| {
                        let n = crate::fd::scatter_read(mem, &iovs, data.len() as u32, |buf| {
                            let k = buf.len().min(data.len());
                            buf[..k].copy_from_slice(&data[..k]);
                            Ok(k)
                        })?;
                        Ok(mem.write_u32(nread, n)?)
                    })));
                }
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
    out: u32,
    nevents: u32,
}

impl Future for PollFuture {
    type Output = Result<HostCompletion, lucet_runtime::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            let mut ready: Vec<Event> = this.inputs.iter().filter_map(|i| i.poll(cx)).collect();
            ready.extend(poll::due_clocks(&this.clocks, Instant::now()));
            if !ready.is_empty() {
                let (out, nevents) = (this.out, this.nevents);
                return Poll::Ready(Ok(write_then(move |mem| {
                    poll::write_events(mem, out, nevents, &ready)
                })));
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
    type Output = Result<HostCompletion, lucet_runtime::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.0 {
            return Poll::Ready(Ok(values(Ok(vec![Val::I32(Errno::Success as i32)]))));
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
