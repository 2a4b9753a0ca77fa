//! Running guest code on its own stack, and getting back from it.
//!
//! Guest code runs inside a corosensei coroutine on the instance's stack.
//! It comes back three ways: by returning; by a trap, when the signal
//! handler (see [`crate::vm::signals`]) rewrites the faulting context so the
//! coroutine returns [`Outcome::Trapped`] without unwinding guest frames; by
//! a hostcall suspending it to await a future, to be resumed later; or by a
//! hostcall ending the run with an error, after which the coroutine is
//! discarded without unwinding.

use crate::error::Error;
use crate::vm::active_run::{
    current, replace_current, ActiveRun, Awaiting, GuestYielder, Outcome, ResumeWith, Suspend,
    TrapRecord,
};
use crate::vm::signals;
use corosensei::stack::{Stack, StackPointer};
use corosensei::{Coroutine, CoroutineResult};
use lucet_module::TrapCode;
use std::cell::{Cell, RefCell};
use std::ptr;

/// A stack inside an instance's slot.
#[derive(Clone, Copy)]
pub(crate) struct SlotStack {
    pub top: usize,
    /// Lowest address, guard page included (corosensei's contract).
    pub bottom: usize,
}

// SAFETY: `top` and `bottom` delimit mapped memory, writable above the
// guard page, that outlives the coroutine (the instance owns both).
unsafe impl Stack for SlotStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.top).expect("stack top is non-null")
    }
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.bottom).expect("stack bottom is non-null")
    }
}

/// One step of a run.
pub(crate) enum Step {
    Returned,
    Trapped(TrapRecord),
    Ended(Error),
    Await(Awaiting),
}

/// A guest call that may be suspended and resumed.
pub(crate) struct Execution {
    co: Coroutine<ResumeWith, Suspend, Outcome, SlotStack>,
    /// Inline: only its address during `resume` matters (CURRENT points at
    /// it then), and `resume` holds `&mut self`, so it cannot move then.
    run: ActiveRun,
}

// SAFETY: a suspended coroutine's stack holds guest frames (plain data) and,
// at its top, the runtime's own hostcall dispatch frame, suspended awaiting
// a future: its locals are `Val`s, a `Caller` (a pointer to the instance,
// which moves with the domain that owns the execution) and the record of
// the host function (`Send + Sync`). No host closure frame is ever
// suspended (closures return a `Send` future to await instead), and nothing
// on the stack refers to thread-local state: the signal stack and CURRENT
// are set up afresh on whichever thread resumes it.
unsafe impl Send for Execution {}

impl Execution {
    /// Prepare to run `body` on `stack`. `body` must only call into guest
    /// code and own nothing that needs dropping: a trap abandons its frames.
    pub fn new(
        stack: SlotStack,
        stack_guard: (usize, usize),
        heap: (usize, usize),
        body: impl FnOnce() + 'static,
    ) -> Execution {
        let co: Coroutine<ResumeWith, Suspend, Outcome, SlotStack> =
            Coroutine::with_stack(stack, move |yielder: &GuestYielder, _start| {
                let run = current();
                // SAFETY: `run` is the ActiveRun of this execution, installed
                // as CURRENT for the duration of every resume.
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
        Execution { co, run }
    }

    /// Run until the guest returns, traps, ends or suspends.
    pub fn resume(&mut self, input: ResumeWith) -> Step {
        signals::ensure_installed();
        let prev = replace_current(&self.run);
        let result = self.co.resume(input);
        replace_current(prev);
        match result {
            CoroutineResult::Return(Outcome::Returned) => Step::Returned,
            CoroutineResult::Return(Outcome::Trapped) => {
                Step::Trapped(self.run.trap.get().unwrap_or(TrapRecord {
                    code: TrapCode::Unreachable,
                    pc: 0,
                }))
            }
            CoroutineResult::Yield(Suspend::End) => {
                // SAFETY: the hostcall that suspended dropped everything it
                // owned first, and guest frames own nothing.
                unsafe { self.co.force_reset() };
                let e = self.run.ended.borrow_mut().take();
                Step::Ended(e.map_or_else(
                    || Error::InvalidState("run ended without an error".into()),
                    |e| *e,
                ))
            }
            CoroutineResult::Yield(Suspend::Await(f)) => Step::Await(f),
        }
    }
}

impl Drop for Execution {
    fn drop(&mut self) {
        if self.co.started() && !self.co.done() {
            // A suspended guest cannot be unwound (guest frames have no
            // unwind information): abandon its stack. Whatever the
            // suspended hostcall owned is leaked, never used again.
            // SAFETY: nothing on the stack is accessed after this.
            unsafe { self.co.force_reset() };
        }
    }
}

/// Suspend the current run from inside a hostcall, handing `s` to the host.
/// Returns what the host resumes it with.
///
/// # Safety
/// Must be called on the guest stack of a running [`Execution`].
pub(crate) unsafe fn suspend(s: Suspend) -> ResumeWith {
    let run = current();
    // SAFETY: as the caller promises, a run is current on this thread, and
    // its yielder was set when its coroutine started.
    unsafe {
        let yielder = (*run).yielder.get();
        (*yielder).suspend(s)
    }
}

/// End the current run from inside a hostcall with `error`: control goes
/// back to the host and never returns here.
///
/// # Safety
/// Must be called on the guest stack of a running [`Execution`], with
/// nothing else on the stack that needs dropping.
pub(crate) unsafe fn end_run(error: Error) -> ! {
    let run = current();
    // SAFETY: as the caller promises, a run is current on this thread; the
    // coroutine is reset, never resumed, once it suspends with End.
    unsafe {
        *(*run).ended.borrow_mut() = Some(Box::new(error));
        suspend(Suspend::End);
    }
    unreachable!("an ended run is never resumed");
}
