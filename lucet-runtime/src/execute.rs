//! Running guest code on its own stack, and getting back from it.
//!
//! Guest code runs inside a corosensei coroutine on the instance's stack.
//! It comes back three ways: by returning; by a trap, when the signal
//! handler (see [`crate::signals`]) rewrites the faulting context so the
//! coroutine returns [`Outcome::Trapped`] without unwinding guest frames; or
//! by a hostcall suspending it with [`Suspend::End`] when the embedder's
//! code ends the run, after which the coroutine is discarded.

use crate::signals;
use crate::Error;
use corosensei::stack::{Stack, StackPointer};
use corosensei::trap::CoroutineTrapHandler;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use lucet_module::TrapCode;
use std::cell::{Cell, RefCell};
use std::ptr;

/// How the coroutine finished.
pub(crate) enum Outcome {
    /// The guest function returned.
    Returned,
    /// The signal handler redirected a trap here.
    Trapped,
}

/// Why the guest suspended.
pub(crate) enum Suspend {
    /// A hostcall ended the run; the error is in the instance.
    End,
}

pub(crate) type GuestYielder = Yielder<(), Suspend>;

/// What the signal handler records about a trap.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrapRecord {
    pub code: TrapCode,
    pub pc: usize,
}

/// The run in progress on this thread, as the signal handler sees it.
pub(crate) struct ActiveRun {
    pub handler: CoroutineTrapHandler<Outcome>,
    pub trap: Cell<Option<TrapRecord>>,
    /// The guest stack's guard page.
    pub stack_guard: (usize, usize),
    /// The heap reservation of the instance entered.
    pub heap: (usize, usize),
    pub yielder: Cell<*const GuestYielder>,
    /// The error a hostcall ended the run with.
    pub ended: RefCell<Option<Error>>,
}

thread_local! {
    static CURRENT: Cell<*const ActiveRun> = const { Cell::new(ptr::null()) };
}

/// The run in progress on this thread, if any.
pub(crate) fn current() -> *const ActiveRun {
    CURRENT.with(|c| c.get())
}

/// A stack inside an instance's slot.
#[derive(Clone, Copy)]
pub(crate) struct SlotStack {
    pub top: usize,
    pub bottom: usize,
}

// SAFETY: `top` and `bottom` delimit mapped, writable memory that outlives
// the coroutine (it belongs to the instance, which is borrowed for the run),
// and a guard page lies below `bottom`.
unsafe impl Stack for SlotStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.top).expect("stack top is non-null")
    }
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.bottom).expect("stack bottom is non-null")
    }
}

/// How a run ended, before the instance turns it into a result.
pub(crate) enum RunEnd {
    Returned,
    Trapped(TrapRecord),
    Ended(Error),
}

/// Run `body` on `stack`. `body` must only call into guest code and must
/// own nothing that needs dropping: a trap abandons its frames.
pub(crate) fn run_on_stack(
    stack: SlotStack,
    stack_guard: (usize, usize),
    heap: (usize, usize),
    body: impl FnOnce() + 'static,
) -> RunEnd {
    signals::ensure_installed();
    let mut co: Coroutine<(), Suspend, Outcome, SlotStack> =
        Coroutine::with_stack(stack, move |yielder: &GuestYielder, ()| {
            let run = current();
            // SAFETY: `run` points at the ActiveRun below, alive for the
            // whole resume.
            unsafe { (*run).yielder.set(yielder as *const _) };
            body();
            Outcome::Returned
        });
    let run = ActiveRun {
        handler: co.trap_handler(),
        trap: Cell::new(None),
        stack_guard,
        heap,
        yielder: Cell::new(ptr::null()),
        ended: RefCell::new(None),
    };
    let prev = CURRENT.with(|c| c.replace(&run));
    let result = co.resume(());
    CURRENT.with(|c| c.set(prev));
    match result {
        CoroutineResult::Return(Outcome::Returned) => RunEnd::Returned,
        CoroutineResult::Return(Outcome::Trapped) => match run.trap.get() {
            Some(t) => RunEnd::Trapped(t),
            None => RunEnd::Trapped(TrapRecord {
                code: TrapCode::Unreachable,
                pc: 0,
            }),
        },
        CoroutineResult::Yield(Suspend::End) => {
            // SAFETY: the hostcall that suspended dropped everything it
            // owned first, and guest frames own nothing.
            unsafe { co.force_reset() };
            let e = run.ended.borrow_mut().take();
            RunEnd::Ended(
                e.unwrap_or_else(|| Error::InvalidState("run ended without an error".into())),
            )
        }
    }
}

/// End the current run from inside a hostcall with `error`: control goes
/// back to the host and never returns here.
///
/// # Safety
/// Must be called on the guest stack of a run started by [`run_on_stack`],
/// with nothing else on the stack that needs dropping.
pub(crate) unsafe fn end_run(error: Error) -> ! {
    let run = current();
    *(*run).ended.borrow_mut() = Some(error);
    let yielder = (*run).yielder.get();
    (*yielder).suspend(Suspend::End);
    unreachable!("an ended run is never resumed");
}
