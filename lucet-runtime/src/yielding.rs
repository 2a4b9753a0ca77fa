//! Handing values to the host in the middle of a hostcall, and getting an
//! answer back: [`yield_value`].
//!
//! A yield happens inside an async hostcall's future, never in a host
//! closure's own frame: whatever the host keeps across the suspension lives
//! in that future, which is `Send`, so an instance with a yielded call may
//! move to another thread and be resumed there. (A yield that suspended
//! arbitrary host frames could carry an `Rc` or a `MutexGuard` across
//! threads.)
//!
//! The runtime polls the awaited future with this thread's yield slot
//! pointing into the suspended call: a [`YieldValue`] future parks its
//! value there and stays pending; the runtime sees the value, returns
//! [`RunResult::Yielded`](crate::call::RunResult::Yielded), and on
//! [`resume`](crate::instance::Instance::resume) puts the answer in the slot and
//! polls again.

use crate::val::Val;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Where a suspended call's yield stands.
#[derive(Debug, Default)]
pub(crate) enum YieldState {
    /// No yield in progress.
    #[default]
    Idle,
    /// The future handed this value to the host. Boxed, as is the answer:
    /// every idle instance's call slot holds a `YieldState`, and a yield is
    /// rare enough to pay for an allocation.
    Yielding(Box<Val>),
    /// The host has the value; the call waits for `resume`.
    Waiting,
    /// The host's answer, for the future to pick up.
    Resumed(Box<Val>),
}

thread_local! {
    static SLOT: Cell<*mut YieldState> = const { Cell::new(std::ptr::null_mut()) };
}

/// Poll `f` with this thread's yield slot set to `state`. The slot is
/// restored however `f` ends: a panicking poll must not leave it pointing
/// into a call that is about to be freed.
pub(crate) fn with_slot<R>(state: &mut YieldState, f: impl FnOnce() -> R) -> R {
    struct Restore(*mut YieldState);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_slot(self.0);
        }
    }
    let _restore = Restore(set_slot(state));
    f()
}

/// Point this thread's yield slot at `state`; returns what it pointed at.
/// Not inlined: the future may be polled on one thread and, after a
/// suspension, on another, and the thread-local's address must be looked
/// up on the thread that runs this, not cached from before.
#[inline(never)]
fn set_slot(state: *mut YieldState) -> *mut YieldState {
    SLOT.with(|s| s.replace(state))
}

/// This thread's yield slot (see [`set_slot`] for why it is not inlined).
#[inline(never)]
fn slot() -> *mut YieldState {
    SLOT.with(|s| s.get())
}

/// Hand `value` to the host from inside an async hostcall's future
/// ([`Func::wrap_async`](crate::externs::Func::wrap_async)); resolves to the value
/// the host resumes the call with.
///
/// The run returns [`RunResult::Yielded`](crate::call::RunResult::Yielded)`(value)`
/// from [`Instance::run_resumable`](crate::instance::Instance::run_resumable) (or
/// [`Error::Yielded`](crate::error::Error::Yielded) from `run`), and
/// [`Instance::resume`](crate::instance::Instance::resume) continues it. Outside a
/// hostcall's future the returned future never completes.
///
/// ```
/// use lucet_runtime::{yield_value, FuncType, Linker, ValType};
/// let mut linker = Linker::new();
/// linker.func_async("host", "ask", FuncType::new([ValType::I32], [ValType::I32]), |_, args| {
///     let question = args[0];
///     Box::pin(async move { Ok(vec![yield_value(question).await]) })
/// });
/// ```
pub fn yield_value(value: Val) -> YieldValue {
    YieldValue { value: Some(value) }
}

/// The future returned by [`yield_value`].
#[derive(Debug)]
#[must_use = "a yield happens when the future is awaited"]
pub struct YieldValue {
    value: Option<Val>,
}

impl Future for YieldValue {
    type Output = Val;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Val> {
        let slot = slot();
        if slot.is_null() {
            return Poll::Pending;
        }
        // SAFETY: the slot points into the suspended call being polled on
        // this thread (set by `with_slot` for the duration of the poll).
        let state = unsafe { &mut *slot };
        if let Some(v) = self.value.take() {
            *state = YieldState::Yielding(Box::new(v));
            return Poll::Pending;
        }
        match std::mem::take(state) {
            YieldState::Resumed(v) => Poll::Ready(*v),
            other => {
                *state = other;
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_poll_restores_the_slot() {
        let mut state = YieldState::Idle;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_slot(&mut state, || panic!("the host future panicked"))
        }));
        assert!(r.is_err());
        assert!(
            slot().is_null(),
            "the yield slot still points into the call"
        );
    }
}
