//! Calls into the guest: setting one up on the entered instance's stack,
//! driving it through its suspensions (to completion on this thread, step
//! by step with yields, or as a future), and turning how it ended into
//! results or an error.
//!
//! Every call is one run of its domain (see [`crate::run_control`]): it
//! begins with a clean slate of limits and its own deadline, and whatever
//! way it ends (return, trap, error, or abandoned by `reset` or drop) the
//! run ends with it.

use crate::domain::{Domain, Suspended};
use crate::domain_id::DomainId;
use crate::error::Error;
use crate::exception::UncaughtException;
use crate::run_control::RunControl;
use crate::termination::Termination;
use crate::trap::Trap;
use crate::val::Val;
use crate::vm::active_run::{Awaited, ResumeWith, TrapRecord};
use crate::vm::code_registry;
use crate::vm::exceptions;
use crate::vm::execute::{Execution, SlotStack, Step};
use crate::vm::instance_state::InstanceState;
use crate::vm::region::StackRelease;
use crate::yielding::{self, YieldState};
use lucet_module::TrapCode;
use lucet_module::{ExportKind, ImportKind};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// What a resumable run produced.
#[derive(Debug, PartialEq)]
pub enum RunResult {
    /// The function returned these results.
    Returned(Vec<Val>),
    /// A hostcall yielded this value (see [`yield_value`](crate::yielding::yield_value));
    /// `resume` continues the call.
    Yielded(Val),
}

/// What waiting for an awaited future came to.
enum Waited {
    /// Its output (or the run's stop), to resume the guest with.
    Ready(Result<Awaited, Error>),
    /// It yielded this value to the host.
    Yielded(Val),
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

impl Domain {
    /// Whether a call is suspended.
    pub fn is_suspended(&self) -> bool {
        self.call.is_some()
    }

    /// Set up a call of function `index` of `st` (an instance of this
    /// domain) as a run that has not started.
    pub fn begin_call(
        &mut self,
        st: &InstanceState,
        index: u32,
        args: &[Val],
    ) -> Result<(), Error> {
        if self.call.is_some() {
            return Err(Error::InvalidState(
                "a call is suspended: resume it, or reset the instance".into(),
            ));
        }
        let data = st.module.data();
        let type_index = data
            .func_type_index(index)
            .ok_or_else(|| Error::InvalidState(format!("no function {index}")))?;
        let ty = &data.types[type_index as usize];
        if let Err(given) = crate::val::check_types(args, &ty.params) {
            return Err(Error::ArgumentMismatch {
                name: format!("function {index}"),
                reason: format!("expected {ty}, given {given}"),
            });
        }
        self.values.clear();
        // The slots for arguments and results, then one for an uncaught
        // exception (zero if none).
        let slots = ty.params.len().max(ty.results.len());
        self.values.resize(slots + 1, 0);
        for (slot, a) in self.values.iter_mut().zip(args) {
            *slot = a.to_raw(self.id)?;
        }
        st.slot.mark_touched();
        let (code, callee_vmctx) = st.func_code(index);
        let trampoline = st.module.entry_trampoline(type_index);
        let guard = st.slot.stack_guard();
        let stack = SlotStack {
            top: st.slot.stack_top(),
            bottom: guard.0,
        };
        let caller_vmctx = st.vmctx as usize;
        let values_ptr = self.values.as_mut_ptr() as usize;
        let heap = (
            st.slot.heap_base() as usize,
            st.slot.heap_base() as usize + st.slot.heap_reservation(),
        );
        let exec = Execution::new(stack, guard, heap, move || {
            // SAFETY: the trampoline has the entry signature for this type,
            // `code` is a function of that type, the vmctx pointers are live
            // (the domain holds their instances) and `values` (the domain's,
            // not resized while the call lasts) has room for every argument
            // and result, and one more for the uncaught exception.
            unsafe {
                let f: extern "C" fn(usize, usize, usize, usize) -> u64 =
                    std::mem::transmute(trampoline);
                let exn = f(code, callee_vmctx, caller_vmctx, values_ptr);
                *(values_ptr as *mut u128).add(slots) = u128::from(exn);
            }
        });
        // The run begins: a clean slate of limits, and its own deadline.
        let run = self
            .control
            .begin(st.slot.stack_bottom() + st.slot.limits().hostcall_stack_reserve);
        self.armed = self
            .deadline
            .map(|limit| crate::watchdog::arm(&self.control, run, limit));
        if let Some(limit) = self.cpu_limit {
            crate::watchdog::arm_cpu(&self.control, run, limit);
            self.cpu_armed = true;
        }
        self.call = Some(Suspended {
            exec,
            results: &ty.results[..] as *const [lucet_module::ValType],
            awaiting: None,
            yielding: YieldState::Idle,
            stack: st.slot.stack_release(),
            entered: st,
        });
        Ok(())
    }

    /// Run the call until it returns or yields; futures it awaits are
    /// waited for on this thread.
    pub fn drive(&mut self, mut input: ResumeWith) -> Result<RunResult, Error> {
        loop {
            match self.step(input)? {
                Some(r) => return Ok(r),
                None => match self.wait() {
                    Waited::Yielded(v) => return Ok(RunResult::Yielded(v)),
                    Waited::Ready(r) => input = ResumeWith::Ready(r),
                },
            }
        }
    }

    /// Continue a call suspended by a yield; the yielding future receives
    /// `val`.
    pub fn resume(&mut self, val: Val) -> Result<RunResult, Error> {
        match self.call.as_mut() {
            Some(s) if matches!(s.yielding, YieldState::Waiting) => {
                s.yielding = YieldState::Resumed(Box::new(val));
            }
            _ => return Err(Error::InvalidState("no yielded call to resume".into())),
        }
        match self.wait() {
            Waited::Yielded(v) => Ok(RunResult::Yielded(v)),
            Waited::Ready(r) => self.drive(ResumeWith::Ready(r)),
        }
    }

    /// Abandon a suspended call, if there is one, and end its run.
    pub fn abandon(&mut self) {
        if let Some(s) = self.call.take() {
            let stack = s.stack;
            drop(s);
            self.end_run(stack);
        }
    }

    /// The run is over (its coroutine dropped): disarm its deadline, drop
    /// any stop aimed at it, give back the stack it used deep down.
    fn end_run(&mut self, stack: StackRelease) {
        if let Some(when) = self.armed.take() {
            crate::watchdog::disarm(&self.control, when);
        }
        if std::mem::take(&mut self.cpu_armed) {
            crate::watchdog::disarm_cpu(&self.control);
        }
        self.control.end();
        // SAFETY: the stack's slot belongs to an instance of this domain,
        // alive while the domain is (calls are dropped first), and the
        // coroutine that ran on it is gone.
        unsafe { stack.after_run() };
    }

    /// One resume of the coroutine. `Ok(None)`: the guest awaits a future,
    /// now in the suspended call.
    fn step(&mut self, input: ResumeWith) -> Result<Option<RunResult>, Error> {
        let s = self
            .call
            .as_mut()
            .ok_or_else(|| Error::InvalidState("no call in progress".into()))?;
        // A run with a CPU-time limit is billed for this thread's CPU time
        // while the guest runs (guest code and hostcalls), not for waits.
        let metered = self.cpu_armed;
        if metered {
            self.control.cpu_resume_begins();
        }
        let step = s.exec.resume(input);
        if metered {
            self.control.cpu_resume_ends();
        }
        let result = match step {
            Step::Await(f) => {
                s.awaiting = Some(f);
                return Ok(None);
            }
            Step::Returned if self.values.last().is_some_and(|e| *e != 0) => {
                let exn = self.values.last().copied().unwrap_or(0) as u64;
                // SAFETY: the trampoline returned an exception record of
                // an instance of this domain, which this call holds.
                Err(Error::Exception(unsafe { uncaught(exn, self.id) }))
            }
            Step::Returned => {
                // SAFETY: see `Suspended::results`: the module is alive.
                let results = unsafe { &*s.results };
                Ok(RunResult::Returned(
                    results
                        .iter()
                        .zip(&self.values)
                        .map(|(t, raw)| Val::from_raw(*t, *raw, self.id))
                        .collect(),
                ))
            }
            Step::Trapped(rec) => Err(trap_error(&self.control, rec)),
            Step::Ended(e) => Err(e),
        };
        // The call is over.
        let (stack, entered) = (s.stack, s.entered);
        self.call = None;
        self.end_run(stack);
        // SAFETY: the domain keeps the entered instance alive, and holds
        // it: its guest is no longer running.
        unsafe { reclaim_exceptions(&*entered) };
        result.map(Some)
    }

    /// Poll the awaited future once with `cx`, unless the run was stopped
    /// (then the future is abandoned and the hostcall ends the run).
    fn poll_awaited(&mut self, cx: &mut Context<'_>) -> Poll<Waited> {
        let stopped = self.control.set_waker(cx.waker());
        let Some(s) = self.call.as_mut() else {
            return Poll::Ready(Waited::Ready(Err(Error::InvalidState(
                "no call in progress".into(),
            ))));
        };
        if let Err(why) = stopped {
            s.awaiting = None;
            s.yielding = YieldState::Idle;
            return Poll::Ready(Waited::Ready(Err(Error::Terminated(why))));
        }
        if matches!(s.yielding, YieldState::Waiting) {
            // The host has not answered the yield: only `resume` goes on.
            return Poll::Pending;
        }
        let Some(fut) = s.awaiting.as_mut() else {
            return Poll::Ready(Waited::Ready(Err(Error::InvalidState(
                "no future awaited".into(),
            ))));
        };
        // A future that panics is abandoned with the call's other state,
        // and the run ends with the panic as its error, as for a host
        // function that panics: nothing of it is polled again.
        let polled = catch_unwind(AssertUnwindSafe(|| {
            yielding::with_slot(&mut s.yielding, || fut.poll(cx))
        }));
        let polled = match polled {
            Ok(p) => p,
            Err(panic) => {
                s.awaiting = None;
                s.yielding = YieldState::Idle;
                let msg = crate::hostcall::panic_message(&*panic);
                return Poll::Ready(Waited::Ready(Err(Error::Host(
                    format!("host future panicked: {msg}").into(),
                ))));
            }
        };
        match polled {
            Poll::Ready(r) => {
                s.awaiting = None;
                Poll::Ready(Waited::Ready(r))
            }
            Poll::Pending => match std::mem::take(&mut s.yielding) {
                YieldState::Yielding(v) => {
                    s.yielding = YieldState::Waiting;
                    Poll::Ready(Waited::Yielded(*v))
                }
                other => {
                    s.yielding = other;
                    Poll::Pending
                }
            },
        }
    }

    /// Wait on this thread for the awaited future (or the run's stop).
    fn wait(&mut self) -> Waited {
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            match self.poll_awaited(&mut cx) {
                Poll::Ready(w) => return w,
                Poll::Pending => std::thread::park(),
            }
        }
    }

    /// The call as a future (see `Instance::run_async`); `started` is how
    /// setting it up went.
    pub fn run_async(&mut self, started: Result<(), Error>) -> AsyncRun<'_> {
        AsyncRun {
            owns_call: started.is_ok(),
            domain: self,
            started: Some(started),
        }
    }
}

/// The error for a trap record: a trap with its location, or the reason
/// the embedder stopped the run.
fn trap_error(control: &RunControl, rec: TrapRecord) -> Error {
    if rec.code == TrapCode::Interrupt {
        let limits = &control.limits;
        let budget = limits.instruction_budget.load(Ordering::Relaxed);
        return Error::Terminated(match control.stopped() {
            Some(why) => why,
            None if limits.instruction_count.load(Ordering::Relaxed) > budget => {
                Termination::InstructionBudget { budget }
            }
            None => Termination::Interrupted,
        });
    }
    let mut trap = Trap::new(rec.code);
    code_registry::with_code_at(rec.pc, |map| {
        if let Some(info) = map.lookup(rec.pc) {
            trap.func_index = Some(info.function.index);
            trap.func_name = info.function.name.clone();
            trap.code_offset = Some((rec.pc - info.function.addr) as u32);
        }
    });
    Error::Trap(trap)
}

/// The future behind `run_async`: it holds the domain, which is `Send`, so
/// the future is too.
pub(crate) struct AsyncRun<'a> {
    domain: &'a mut Domain,
    started: Option<Result<(), Error>>,
    /// The call in the domain is this future's, until it has given its
    /// output: dropped before that, the future abandons it, so its run
    /// ends (its deadline disarmed) and the domain can run again.
    owns_call: bool,
}

impl Drop for AsyncRun<'_> {
    fn drop(&mut self) {
        if self.owns_call {
            self.domain.abandon();
        }
    }
}

impl Future for AsyncRun<'_> {
    type Output = Result<Vec<Val>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = self.as_mut().poll_run(cx);
        if out.is_ready() {
            // Finished, or left suspended by a yield for `resume`.
            self.owns_call = false;
        }
        out
    }
}

impl AsyncRun<'_> {
    fn poll_run(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Vec<Val>, Error>> {
        let mut input = match self.started.take() {
            Some(Err(e)) => return Poll::Ready(Err(e)),
            Some(Ok(())) => ResumeWith::Start,
            None => match self.domain.poll_awaited(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Waited::Yielded(v)) => return Poll::Ready(Err(Error::Yielded(v))),
                Poll::Ready(Waited::Ready(r)) => ResumeWith::Ready(r),
            },
        };
        loop {
            match self.domain.step(input) {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(Some(RunResult::Returned(v))) => return Poll::Ready(Ok(v)),
                Ok(Some(RunResult::Yielded(v))) => return Poll::Ready(Err(Error::Yielded(v))),
                Ok(None) => match self.domain.poll_awaited(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Waited::Yielded(v)) => return Poll::Ready(Err(Error::Yielded(v))),
                    Poll::Ready(Waited::Ready(r)) => input = ResumeWith::Ready(r),
                },
            }
        }
    }
}

/// Read the exception record `exn`, thrown during a run of `domain`.
///
/// # Safety
/// `exn` must be a record of a live instance of `domain`, which the
/// caller holds (a run of it has just returned it).
unsafe fn uncaught(exn: u64, domain: DomainId) -> UncaughtException {
    // SAFETY: as the caller promises.
    let parts = unsafe { exceptions::parts(exn) };
    // SAFETY: the record names the live instance that allocated it.
    let st = unsafe { InstanceState::from_vmctx(parts.vmctx) };
    let data = st.module.data();
    // The index of the tag in that instance: by identity, so that a
    // host tag it imports is named too.
    let identity = parts.identity;
    let index = (0..data.num_tags())
        .find(|i| {
            // SAFETY: tag pointers lie in the vmctx area.
            unsafe { *st.field::<u64>(st.module.layout().tag_ptr(*i)) == identity }
        })
        .unwrap_or(parts.tag_index);
    let tag = data
        .exports
        .iter()
        .find(|e| e.kind == ExportKind::Tag && e.index == index)
        .map(|e| format!("{:?}", e.name))
        .or_else(|| {
            data.imports
                .iter()
                .filter(|i| matches!(i.kind, ImportKind::Tag(_)))
                .nth(index as usize)
                .map(|i| format!("{}.{}", i.module, i.field))
        })
        .unwrap_or_else(|| match index {
            u32::MAX => "of the host".to_string(),
            _ => format!("#{index}"),
        });
    let types = data
        .tag_type_index(index)
        .and_then(|t| data.types.get(t as usize))
        .map(|t| t.params.clone())
        .unwrap_or_default();
    let payload = types
        .iter()
        .zip(&parts.payload)
        .map(|(t, raw)| Val::from_raw(*t, *raw, domain))
        .collect();
    UncaughtException { tag, payload }
}

/// Free the exceptions of a standalone instance that nothing can reach
/// once its call is over: its stack is gone, so only its exnref globals
/// and tables can hold one (host functions cannot keep one: `Val::ExnRef`
/// does not go back in). An instance of a store keeps its exceptions
/// until the store is dropped (another instance may hold one).
///
/// # Safety
/// `st` is held by the caller, and no guest code of its domain is running
/// or suspended.
unsafe fn reclaim_exceptions(st: &InstanceState) {
    if st.in_store {
        return;
    }
    // SAFETY: as the caller promises.
    let m = unsafe { st.mutable() };
    if m.exceptions.is_empty() {
        return;
    }
    let data = st.module.data();
    let imported = data.num_imported_globals();
    let mut live = std::collections::HashSet::new();
    for (i, g) in data.globals.iter().enumerate() {
        if g.ty.ty == lucet_module::ValType::ExnRef {
            // SAFETY: the global's slot lies in the vmctx area.
            let v = unsafe { st.global_ptr(imported + i as u32).read_unaligned() } as u64;
            live.insert(v);
        }
    }
    for (t, table) in data.tables.iter().zip(&m.tables) {
        if t.elem == lucet_module::ValType::ExnRef {
            live.extend(table.iter().copied());
        }
    }
    m.exceptions.sweep(&live);
}
