//! What a run in progress shares with the signal handler and hostcalls on
//! its thread: the [`ActiveRun`] record, the ways a guest suspends, and
//! what it is resumed with.

use crate::caller::Caller;
use crate::error::Error;
use crate::val::Val;
use corosensei::trap::CoroutineTrapHandler;
use corosensei::Yielder;
use lucet_module::TrapCode;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll};

/// A future a hostcall awaits; its output is the hostcall's results. It must
/// be `Send`: whatever it holds may be resumed on another thread.
pub type HostFuture = Pin<Box<dyn Future<Output = Result<Vec<Val>, Error>> + Send>>;

/// The last step of an async hostcall whose future is a
/// [`HostFutureThen`]: run with the caller again once the future is ready,
/// on the guest's side of the suspension, it writes what the wait brought
/// into the guest's memory and gives the hostcall's results.
pub type HostCompletion = Box<dyn FnOnce(&mut Caller<'_>) -> Result<Vec<Val>, Error> + Send>;

/// A future a hostcall awaits whose output is finished with the caller (a
/// [`HostCompletion`]): for a wait whose results go into the guest's
/// memory, which the future itself cannot reach.
pub type HostFutureThen = Pin<Box<dyn Future<Output = Result<HostCompletion, Error>> + Send>>;

/// What a suspended hostcall awaits.
pub(crate) enum Awaiting {
    Values(HostFuture),
    Then(HostFutureThen),
}

/// What an awaited future gave.
pub(crate) enum Awaited {
    Values(Vec<Val>),
    Then(HostCompletion),
}

impl Awaiting {
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Awaited, Error>> {
        match self {
            Awaiting::Values(f) => f.as_mut().poll(cx).map(|r| r.map(Awaited::Values)),
            Awaiting::Then(f) => f.as_mut().poll(cx).map(|r| r.map(Awaited::Then)),
        }
    }
}

/// How the coroutine finished.
pub(crate) enum Outcome {
    /// The guest function returned.
    Returned,
    /// The signal handler redirected a trap here.
    Trapped,
}

/// Why the guest suspended.
pub(crate) enum Suspend {
    /// A hostcall ended the run; the error is in the ActiveRun.
    End,
    /// A hostcall awaits a future. Nothing but the runtime's own dispatch
    /// frame lies between the guest frames and the suspension point: what
    /// the host keeps across the wait is inside the (`Send`) future.
    Await(Awaiting),
}

/// What a suspended guest is resumed with.
pub(crate) enum ResumeWith {
    /// The first resume.
    Start,
    /// The awaited future's output.
    Ready(Result<Awaited, Error>),
}

pub(crate) type GuestYielder = Yielder<ResumeWith, Suspend>;

/// What the signal handler records about a trap.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrapRecord {
    pub code: TrapCode,
    pub pc: usize,
}

/// A run in progress, as the signal handler and hostcalls see it.
pub(crate) struct ActiveRun {
    pub handler: CoroutineTrapHandler<Outcome>,
    pub trap: Cell<Option<TrapRecord>>,
    /// The guest stack's guard page.
    pub stack_guard: (usize, usize),
    /// The heap reservation of the instance entered.
    pub heap: (usize, usize),
    pub yielder: Cell<*const GuestYielder>,
    /// The error a hostcall ended the run with. Boxed: an `Error` is 80
    /// bytes, and this record is part of every domain's call slot, which
    /// idle instances carry too; ending a run this way is rare.
    pub ended: RefCell<Option<Box<Error>>>,
}

thread_local! {
    static CURRENT: Cell<*const ActiveRun> = const { Cell::new(ptr::null()) };
}

// The two accessors below are never inlined. Guest code runs on a
// coroutine that may suspend on one thread and resume on another (an
// awaited future, a yielded call moved with its domain); a caller that
// inlined the thread-local access could compute this thread's slot address
// before the switch and use it after, reading or writing the old thread's
// record. A call computes the address afresh on the thread that makes it.

/// The run executing on this thread, if any.
#[inline(never)]
pub(crate) fn current() -> *const ActiveRun {
    CURRENT.with(|c| c.get())
}

/// Make `run` the current one; returns the previous.
#[inline(never)]
pub(crate) fn replace_current(run: *const ActiveRun) -> *const ActiveRun {
    CURRENT.with(|c| c.replace(run))
}
