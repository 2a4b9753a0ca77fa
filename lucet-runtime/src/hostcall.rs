//! Host functions: Rust closures the guest can import.

use crate::caller::Caller;
use crate::error::Error;
use crate::exception::Thrown;
use crate::val::Val;
use crate::vm::active_run::{Awaited, Awaiting, HostFuture, HostFutureThen, ResumeWith, Suspend};
use crate::vm::execute;
use crate::vm::instance_state::InstanceState;
use lucet_module::FuncType;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// The signature of a host function: the calling instance, the arguments,
/// and room for the results. Returning an error ends the guest's run with
/// that error (use [`Error::Exit`] for a clean exit, [`Error::Host`] for the
/// embedder's own errors).
pub type HostFn = dyn Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), Error> + Send + Sync;

/// A host function record. Compiled code uses its address as the callee's
/// vmctx: the host trampoline loads `dispatch` from offset 0 and calls
/// `dispatch(record, caller_vmctx, values)`.
#[repr(C)]
pub(crate) struct HostFuncRecord {
    dispatch: Dispatch,
    pub(crate) ty: FuncType,
    pub(crate) func: HostKind,
}

/// A host function body.
pub(crate) enum HostKind {
    /// Immediate, on `Val`s.
    Sync(Box<HostFn>),
    /// Producing a future to await.
    Async(Box<AsyncHostFn>),
    /// Producing a future to await, then finished with the caller.
    AsyncThen(Box<AsyncThenHostFn>),
    /// A typed closure, called by its own `dispatch` (see [`crate::typed`]).
    Typed(Box<dyn Any + Send + Sync>),
}

/// An async host function: given the caller and the arguments, a future of
/// the results. The future cannot borrow the caller: copy what it needs.
pub type AsyncHostFn = dyn Fn(&mut Caller<'_>, &[Val]) -> HostFuture + Send + Sync;

/// An async host function whose future ends in a
/// [`HostCompletion`](crate::vm::active_run::HostCompletion) run with the caller.
pub type AsyncThenHostFn = dyn Fn(&mut Caller<'_>, &[Val]) -> HostFutureThen + Send + Sync;

const _: () = assert!(std::mem::offset_of!(HostFuncRecord, dispatch) == 0);

/// A host function's dispatcher, as the host trampoline calls it: it
/// returns an exception for the trampoline to throw, or 0.
pub(crate) type Dispatch = unsafe extern "C" fn(*mut u8, *mut u8, *mut u128) -> u64;

impl HostFuncRecord {
    pub(crate) fn new(ty: FuncType, func: HostKind) -> Arc<HostFuncRecord> {
        Self::with_dispatch(ty, func, host_dispatch)
    }

    pub(crate) fn with_dispatch(
        ty: FuncType,
        func: HostKind,
        dispatch: Dispatch,
    ) -> Arc<HostFuncRecord> {
        Arc::new(HostFuncRecord { dispatch, ty, func })
    }

    /// The pointer compiled code uses as this function's vmctx.
    pub(crate) fn vmctx(&self) -> usize {
        self as *const HostFuncRecord as usize
    }

    /// The record behind a host function's vmctx.
    ///
    /// # Safety
    /// `vmctx` must come from [`vmctx`](Self::vmctx) of a record that is
    /// still alive (the importing instance keeps it).
    pub(crate) unsafe fn from_vmctx<'a>(vmctx: *mut u8) -> &'a HostFuncRecord {
        // SAFETY: as the caller promises.
        unsafe { &*(vmctx as *const HostFuncRecord) }
    }
}

/// Values for one hostcall: inline up to eight, else on the heap.
// The inline variant is meant to be large: it lives on the stack.
#[allow(clippy::large_enum_variant)]
enum ValBuf {
    Inline([Val; 8], usize),
    Heap(Vec<Val>),
}

impl ValBuf {
    fn new(n: usize) -> ValBuf {
        if n <= 8 {
            ValBuf::Inline([Val::I32(0); 8], n)
        } else {
            ValBuf::Heap(vec![Val::I32(0); n])
        }
    }
}

impl std::ops::Deref for ValBuf {
    type Target = [Val];
    fn deref(&self) -> &[Val] {
        match self {
            ValBuf::Inline(a, n) => &a[..*n],
            ValBuf::Heap(v) => v,
        }
    }
}

impl std::ops::DerefMut for ValBuf {
    fn deref_mut(&mut self) -> &mut [Val] {
        match self {
            ValBuf::Inline(a, n) => &mut a[..*n],
            ValBuf::Heap(v) => v,
        }
    }
}

/// Called by the host trampoline on the guest stack.
///
/// # Safety
/// `callee` is a live [`HostFuncRecord`]'s vmctx, `caller_vmctx` the vmctx
/// of the instance importing it (its domain running on this thread), and
/// `values` has a slot per parameter and per result of the record's type.
unsafe extern "C" fn host_dispatch(
    callee: *mut u8,
    caller_vmctx: *mut u8,
    values: *mut u128,
) -> u64 {
    // SAFETY: `callee` is the vmctx of a HostFuncRecord kept alive by the
    // instance that imported it; `caller_vmctx` is that live instance's
    // vmctx, and its domain is running on this thread.
    let (record, state) = unsafe {
        (
            HostFuncRecord::from_vmctx(callee),
            InstanceState::from_vmctx(caller_vmctx),
        )
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<(), Error> {
        let ty = &record.ty;
        let domain = state.domain;
        // Most hostcalls have few values: keep them on the stack.
        let mut params = ValBuf::new(ty.params.len());
        for (i, (p, t)) in params.iter_mut().zip(&ty.params).enumerate() {
            // SAFETY: `values` has a slot per parameter.
            *p = Val::from_raw(*t, unsafe { values.add(i).read_unaligned() }, domain);
        }
        let mut results = ValBuf::new(ty.results.len());
        for (r, t) in results.iter_mut().zip(&ty.results) {
            *r = Val::default_for(*t);
        }
        let mut caller = Caller { state };
        match &record.func {
            HostKind::Sync(f) => f(&mut caller, &params, &mut results)?,
            HostKind::Async(f) => {
                let fut = Awaiting::Values(f(&mut caller, &params));
                await_results(&mut caller, fut, &mut results)?
            }
            HostKind::AsyncThen(f) => {
                let fut = Awaiting::Then(f(&mut caller, &params));
                await_results(&mut caller, fut, &mut results)?
            }
            HostKind::Typed(_) => {
                return Err(Error::InvalidState(
                    "a typed host function called untyped".into(),
                ))
            }
        }
        for (i, (r, t)) in results.iter().zip(&ty.results).enumerate() {
            if r.ty() != *t {
                return Err(Error::InvalidState(format!(
                    "host function returned {} where {t} was declared",
                    r.ty()
                )));
            }
            let raw = r.to_raw(domain)?;
            // SAFETY: `values` has a slot per result.
            unsafe { values.add(i).write_unaligned(raw) };
        }
        Ok(())
    }));
    if matches!(outcome, Ok(Ok(()))) {
        return 0;
    }
    // SAFETY: on the guest stack; this frame's values are dropped or
    // moved.
    unsafe { finish_hostcall(state, outcome) }
}

/// Suspend the guest until `fut` is ready, and put what it gave (finished
/// with the caller, for a completion) into `results`.
fn await_results(caller: &mut Caller<'_>, fut: Awaiting, results: &mut [Val]) -> Result<(), Error> {
    // SAFETY: on the guest stack of a live execution (called from the
    // dispatcher); nothing of the host closure is left on the stack, only
    // the dispatcher's frame and this one.
    let r = match unsafe { execute::suspend(Suspend::Await(fut)) } {
        ResumeWith::Ready(r) => match r? {
            Awaited::Values(v) => v,
            // The guest is suspended in this hostcall again: the caller
            // is what a synchronous hostcall gets.
            Awaited::Then(done) => done(caller)?,
        },
        ResumeWith::Start => {
            return Err(Error::InvalidState("an awaiting call resumed anew".into()))
        }
    };
    if r.len() != results.len() {
        return Err(Error::InvalidState(format!(
            "async host function returned {} results, {} declared",
            r.len(),
            results.len()
        )));
    }
    results.copy_from_slice(&r);
    Ok(())
}

/// The message a panic was raised with, if it is a string.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Return to the guest if the hostcall succeeded (0) or threw an exception
/// of `state`'s (the exception, for the trampoline to throw); otherwise end
/// the run with its error (a panic becomes [`Error::Host`]).
///
/// # Safety
/// Must be called last in a hostcall of `state`, on the guest stack, with
/// nothing left in the caller's frame that needs dropping.
#[cold]
pub(crate) unsafe fn finish_hostcall(
    state: &InstanceState,
    outcome: std::thread::Result<Result<(), Error>>,
) -> u64 {
    let error = match outcome {
        Ok(Ok(())) => return 0,
        Ok(Err(Error::Thrown(t))) => match thrown_record(&t, state) {
            Some(exn) => return exn,
            None => Error::InvalidState(
                "a host function returned an exception made by another call".into(),
            ),
        },
        Ok(Err(e)) => e,
        Err(panic) => {
            Error::Host(format!("host function panicked: {}", panic_message(&*panic)).into())
        }
    };
    // SAFETY: called on the guest stack at the end of a hostcall, whose
    // frame owns nothing more that needs dropping: everything was dropped
    // or moved into `error`.
    unsafe { execute::end_run(error) };
}

/// The record of an exception a host function of `state` threw, if it was
/// made by a call of `state` and the instance has not been reset since.
fn thrown_record(t: &Thrown, state: &InstanceState) -> Option<u64> {
    // SAFETY: called in a hostcall of `state`, whose domain this run
    // holds; no other borrow of its mutable state is live.
    let generation = unsafe { state.mutable().exceptions.generation() };
    (t.vmctx == state.vmctx as usize && t.generation == generation).then_some(t.record)
}
