//! Instances: a module's code bound to its own memory, globals and tables.
//!
//! An [`Instance`] stands alone: it is a domain of its own (see
//! [`crate::domain`]), imports only host functions and host globals, and is
//! the cheap common case of one instance per request. Instances that import
//! each other's exports live in a [`Store`](crate::store::Store), which hands out
//! an [`InstanceMut`](crate::store::InstanceMut) with the same methods.

use crate::call::RunResult;
use crate::domain::Domain;
use crate::error::Error;
use crate::instantiate;
use crate::limits::Limits;
use crate::linker::Linker;
use crate::module::Module;
use crate::val::Val;
use crate::vm::instance_state::{InstanceState, StartState};
use crate::vm::region::Region;
use lucet_module::ExportKind;
use std::mem::MaybeUninit;
use std::sync::Arc;

/// A standalone instance of a module, in a slot of a [`Region`].
///
/// `Send`, so it can move between threads (with a suspended call, too), but
/// not `Sync`: runs need `&mut`.
///
/// ```no_run
/// # fn main() -> Result<(), lucet_runtime::Error> {
/// use lucet_runtime::{Limits, Linker, Module, PublicKey, Region, TrustedKeys, Val};
/// use std::time::Duration;
/// let keys = TrustedKeys::new().with(PublicKey::from_file("lucet.pub")?);
/// let module = Module::load_verified("handler.so", &keys)?;
/// let region = Region::new(1000, Limits::default())?;
/// let mut instance = region.instantiate_unstarted(&module, &Linker::new())?;
/// instance.set_deadline(Some(Duration::from_millis(100)));
/// instance.start()?; // the start function, under the deadline
/// let out = instance.run("handle", &[Val::I32(1)])?;
/// # Ok(()) }
/// ```
pub struct Instance {
    /// One allocation for both, so the instance moves as a pointer.
    inner: Box<Standalone>,
}

struct Standalone {
    /// Declared first: a suspended call is dropped before the slot it runs on.
    domain: Domain,
    state: InstanceState,
}

impl Standalone {
    /// A new domain and an instance of `module` in it, both written
    /// straight into their box: together they are most of a kilobyte, and
    /// building them elsewhere and moving them in cost a fifth of an
    /// instantiation.
    fn create(region: &Region, module: &Arc<Module>, linker: &Linker) -> Result<Box<Self>, Error> {
        let mut uninit = Box::<Standalone>::new_uninit();
        let p = uninit.as_mut_ptr();
        // SAFETY: `p` points at the box's allocation, sized and aligned
        // for a `Standalone`; `addr_of_mut!` names the fields without
        // making references to uninitialized memory, and the two fields
        // are disjoint, so the shared borrow of the domain (written first)
        // and the exclusive one of the state coexist. `MaybeUninit<T>` has
        // `T`'s layout.
        let (domain, state) = unsafe {
            let domain = std::ptr::addr_of_mut!((*p).domain);
            domain.write(Domain::new());
            let state = std::ptr::addr_of_mut!((*p).state).cast::<MaybeUninit<InstanceState>>();
            (&*domain, &mut *state)
        };
        if let Err(e) = instantiate::create_in(state, region, module, linker, domain, false) {
            // SAFETY: the domain was written above and is dropped only
            // here; the state was not written, and the box is freed
            // without dropping a `Standalone`.
            unsafe { std::ptr::drop_in_place(std::ptr::addr_of_mut!((*p).domain)) };
            return Err(e);
        }
        // SAFETY: both fields are written: the domain above, the state by
        // `create_in`, which returned `Ok`.
        Ok(unsafe { uninit.assume_init() })
    }
}

// SAFETY: the instance owns its state and everything its raw pointers reach
// (its slot, its vmctx area) or keeps it alive with `Send + Sync` handles
// (its module, host functions and globals); nothing of it is shared with
// another thread except the run control, which is `Sync`. A suspended call
// is `Send` (see `Execution`).
unsafe impl Send for Instance {}

/// Export `name` of `st`, if it is a function: its index.
fn export_func_index(st: &InstanceState, name: &str) -> Result<u32, Error> {
    st.module
        .data()
        .export(name)
        .filter(|e| e.kind == ExportKind::Func)
        .map(|e| e.index)
        .ok_or_else(|| Error::NoSuchExport {
            kind: "function",
            name: name.into(),
        })
}

/// Set up a call of export `name`.
pub(crate) fn begin_export_call(
    domain: &mut Domain,
    st: &InstanceState,
    name: &str,
    args: &[Val],
) -> Result<(), Error> {
    match st.start.get() {
        StartState::Done => {}
        StartState::Pending => {
            return Err(Error::InvalidState(
                "the start function has not run: call `start` first".into(),
            ))
        }
        StartState::Failed => {
            return Err(Error::InvalidState(
                "the start function failed: reset the instance".into(),
            ))
        }
    }
    let index = export_func_index(st, name)?;
    domain.begin_call(st, index, args).map_err(|err| match err {
        Error::ArgumentMismatch { reason, .. } => Error::ArgumentMismatch {
            name: name.into(),
            reason,
        },
        other => other,
    })
}

/// Run `st`'s start function if it has not run, under the domain's limits.
pub(crate) fn run_start(domain: &mut Domain, st: &InstanceState) -> Result<(), Error> {
    if st.start.get() != StartState::Pending {
        return Ok(());
    }
    let Some(start) = st.module.data().start else {
        st.start.set(StartState::Done);
        return Ok(());
    };
    st.start.set(StartState::Failed);
    domain.begin_call(st, start, &[])?;
    match domain.drive(crate::vm::active_run::ResumeWith::Start) {
        Ok(RunResult::Returned(_)) => {
            st.start.set(StartState::Done);
            Ok(())
        }
        Ok(RunResult::Yielded(v)) => {
            domain.abandon();
            Err(Error::Yielded(v))
        }
        Err(e) => Err(e),
    }
}

/// Run `st`'s start function if it has not run, as a future (see
/// `Instance::start_async`).
pub(crate) fn run_start_async<'a>(
    domain: &'a mut Domain,
    st: &'a InstanceState,
) -> impl std::future::Future<Output = Result<(), Error>> + Send + 'a {
    let start = (st.start.get() == StartState::Pending)
        .then_some(st.module.data().start)
        .flatten();
    if st.start.get() == StartState::Pending && start.is_none() {
        st.start.set(StartState::Done);
    }
    let began = start.map(|index| {
        st.start.set(StartState::Failed);
        domain.begin_call(st, index, &[])
    });
    let cell = &st.start;
    async move {
        let Some(began) = began else {
            return Ok(());
        };
        let ran = domain.run_async(began).await;
        if let Err(Error::Yielded(_)) = ran {
            // As under `start`: a start function's yield cannot be
            // answered, so its call is abandoned and the instance stays
            // failed until reset (not left suspended, where a resume
            // would finish it with the instance still marked failed).
            domain.abandon();
        }
        ran?;
        cell.set(StartState::Done);
        Ok(())
    }
}

/// Bring `st` back to its freshly instantiated state. Until that has
/// succeeded, the instance is failed: a reset whose re-initialization
/// fails (a segment that traps against an imported table or memory) leaves
/// no half-initialized instance runnable.
pub(crate) fn reset(domain: &mut Domain, st: &InstanceState) -> Result<(), Error> {
    domain.abandon();
    st.start.set(StartState::Failed);
    st.slot.heap_clean()?;
    instantiate::initialize(st)?;
    st.start.set(if st.module.data().start.is_some() {
        StartState::Pending
    } else {
        StartState::Done
    });
    run_start(domain, st)
}

/// The methods common to [`Instance`] and [`InstanceMut`](crate::store::InstanceMut):
/// each provides `parts(&mut self) -> (&mut Domain, &InstanceState)` and
/// `parts_ref(&self) -> (&Domain, &InstanceState)`.
macro_rules! instance_methods {
    () => {
        /// The module this is an instance of.
        pub fn module(&self) -> &std::sync::Arc<$crate::Module> {
            &self.parts_ref().1.module
        }

        /// Run the start function if it has not run yet (an instance made
        /// by [`Region::instantiate_unstarted`](crate::vm::region::Region::instantiate_unstarted)),
        /// under the deadline, budget and interrupt handle already set, like
        /// any other run. Exports cannot run before it has.
        pub fn start(&mut self) -> Result<(), $crate::Error> {
            let (domain, st) = self.parts();
            $crate::instance::run_start(domain, st)
        }

        /// [`start`](Self::start) as a future: a start function that awaits
        /// (sleeps, reads input still arriving) suspends instead of holding
        /// the thread, like [`run_async`](Self::run_async).
        pub fn start_async<'a>(
            &'a mut self,
        ) -> impl std::future::Future<Output = Result<(), $crate::Error>> + Send + 'a {
            let (domain, st) = self.parts();
            $crate::instance::run_start_async(domain, st)
        }

        /// Call exported function `name` with `args`.
        ///
        /// A hostcall awaiting a future is waited for on this thread. If a
        /// hostcall yields, the call stays suspended and this returns
        /// [`Error::Yielded`](crate::error::Error::Yielded); continue it with
        /// `resume`.
        pub fn run(
            &mut self,
            name: &str,
            args: &[$crate::Val],
        ) -> Result<Vec<$crate::Val>, $crate::Error> {
            match self.run_resumable(name, args)? {
                $crate::RunResult::Returned(v) => Ok(v),
                $crate::RunResult::Yielded(v) => Err($crate::Error::Yielded(v)),
            }
        }

        /// Call exported function `name`, returning when it returns or when
        /// a hostcall yields a value to the host (see
        /// [`yield_value`](crate::yielding::yield_value)).
        pub fn run_resumable(
            &mut self,
            name: &str,
            args: &[$crate::Val],
        ) -> Result<$crate::RunResult, $crate::Error> {
            let (domain, st) = self.parts();
            $crate::instance::begin_export_call(domain, st, name, args)?;
            domain.drive($crate::vm::active_run::ResumeWith::Start)
        }

        /// Continue a call suspended by a yield; the yielding hostcall
        /// receives `val`.
        pub fn resume(&mut self, val: $crate::Val) -> Result<$crate::RunResult, $crate::Error> {
            self.parts().0.resume(val)
        }

        /// Whether a call is suspended, waiting for `resume`.
        pub fn is_suspended(&self) -> bool {
            self.parts_ref().0.is_suspended()
        }

        /// Call exported function `name` as a future: hostcalls that await
        /// futures (see [`Func::wrap_async`](crate::externs::Func::wrap_async))
        /// suspend the guest instead of blocking the thread, and the
        /// returned future is pending until theirs are ready. A deadline or
        /// interrupt ends it, abandoning the awaited future.
        pub fn run_async<'a>(
            &'a mut self,
            name: &str,
            args: &[$crate::Val],
        ) -> impl std::future::Future<Output = Result<Vec<$crate::Val>, $crate::Error>> + Send + 'a
        {
            let (domain, st) = self.parts();
            let started = $crate::instance::begin_export_call(domain, st, name, args);
            domain.run_async(started)
        }

        /// Stop every run that lasts longer than `deadline` (wall-clock
        /// time from its start, suspensions included) with
        /// [`Error::Terminated`](crate::error::Error::Terminated). `None` (the
        /// default) removes the deadline. For an instance of a store, this
        /// is the store's deadline.
        pub fn set_deadline(&mut self, deadline: Option<std::time::Duration>) {
            self.parts().0.deadline = deadline;
        }

        /// Stop every run that uses more than `limit` of CPU time with
        /// [`Error::Terminated`](crate::error::Error::Terminated) and
        /// [`Termination::CpuTime`](crate::termination::Termination::CpuTime). A run is
        /// billed for the CPU time of the thread running it while it runs:
        /// guest code and hostcalls, not time blocked in the kernel (a WASI
        /// read or sleep), suspended on a future, or waiting for a core on a
        /// busy machine. The process's watchdog thread checks every few
        /// milliseconds (an eighth of the limit, from 1 to 10 ms), so a run
        /// may overshoot by about that; guest code pays nothing, and a run
        /// with a limit pays two clock reads per resume. `None` (the
        /// default) removes it. For an instance of a store, this is the
        /// store's limit.
        pub fn set_cpu_time_limit(&mut self, limit: Option<std::time::Duration>) {
            self.parts().0.cpu_limit = limit;
        }

        /// CPU time the last (or current) run used, if it ran with a
        /// CPU-time limit (otherwise it is not measured, and this is zero).
        pub fn cpu_time_used(&self) -> std::time::Duration {
            self.parts_ref().0.control.cpu_used()
        }

        /// Limit each run to `budget` executed wasm instructions (modules
        /// compiled with instruction counting only; others ignore it).
        /// `None` (the default) removes it.
        pub fn set_instruction_budget(&mut self, budget: Option<u64>) {
            self.parts().0.control.limits.instruction_budget.store(
                budget.unwrap_or(u64::MAX),
                std::sync::atomic::Ordering::Relaxed,
            );
        }

        /// Wasm instructions the last (or current) run executed, for
        /// modules compiled with instruction counting.
        pub fn instruction_count(&self) -> u64 {
            self.parts_ref()
                .0
                .control
                .limits
                .instruction_count
                .load(std::sync::atomic::Ordering::Relaxed)
        }

        /// A handle another thread can use to stop this instance's runs
        /// (for an instance of a store: the store's runs).
        pub fn interrupt_handle(&self) -> $crate::InterruptHandle {
            $crate::InterruptHandle {
                control: self.parts_ref().0.control.clone(),
            }
        }

        /// Bring the instance back to its freshly instantiated state:
        /// memory zeroed and re-initialized, globals, tables and segments
        /// reset, start function run again (under the limits set). Imported
        /// state is not reset. A suspended call is abandoned.
        pub fn reset(&mut self) -> Result<(), $crate::Error> {
            let (domain, st) = self.parts();
            $crate::instance::reset(domain, st)
        }

        /// Set the embedder's per-instance context, readable by hostcalls
        /// through [`Caller::context`](crate::caller::Caller::context).
        pub fn set_context<T: std::any::Any + Send>(&mut self, ctx: T) {
            let (_, st) = self.parts();
            // SAFETY: `&mut self` holds the domain: nothing runs, nothing
            // else borrows the mutable state.
            unsafe { st.mutable() }.context = Some(Box::new(ctx));
        }

        /// The embedder's context of type `T`, if set.
        pub fn context_mut<T: std::any::Any + Send>(&mut self) -> Option<&mut T> {
            let (_, st) = self.parts();
            // SAFETY: as for `set_context`; the borrow is tied to `&mut self`.
            unsafe { st.context_mut() }
        }

        /// Remove and return the embedder's context of type `T`.
        pub fn take_context<T: std::any::Any + Send>(&mut self) -> Option<T> {
            let (_, st) = self.parts();
            // SAFETY: as for `set_context`.
            let m = unsafe { st.mutable() };
            match m.context.take()?.downcast::<T>() {
                Ok(b) => Some(*b),
                Err(other) => {
                    m.context = Some(other);
                    None
                }
            }
        }

        /// The instance's linear memory (empty if it has none): the one
        /// exported as `memory`, else memory 0, as host functions see it.
        pub fn memory(&mut self) -> &mut [u8] {
            let (_, st) = self.parts();
            st.slot.mark_touched();
            // SAFETY: `&mut self` holds the domain: the guest is not
            // running and the borrow is tied to `&mut self`.
            unsafe { st.memory_slice() }
        }

        /// The memory exported as `name`, if there is one (a module may
        /// have several memories).
        pub fn exported_memory(&mut self, name: &str) -> Option<&mut [u8]> {
            let (_, st) = self.parts();
            let index = st
                .module
                .data()
                .export(name)
                .filter(|e| e.kind == lucet_module::ExportKind::Memory)?
                .index;
            st.memory_owner(index).0.slot.mark_touched();
            // SAFETY: as for `memory`.
            Some(unsafe { st.memory_at(index) })
        }

        /// Names of all exports.
        pub fn export_names(&self) -> Vec<String> {
            self.parts_ref()
                .1
                .module
                .data()
                .exports
                .iter()
                .map(|e| e.name.clone())
                .collect()
        }

        /// The function a reference stands for, as an index in this
        /// instance's function index space, if it refers to one of this
        /// instance's functions (made by its `ref.func` or element
        /// segments; a reference to an import made here names the import).
        pub fn funcref_index(&self, r: &$crate::FuncRef) -> Option<u32> {
            let (domain, st) = self.parts_ref();
            st.funcref_index(r.record_in(domain.id).ok()?)
        }

        /// The value of exported global `name`.
        pub fn global(&self, name: &str) -> Result<$crate::Val, $crate::Error> {
            let (domain, st) = self.parts_ref();
            let data = st.module.data();
            let not_found = || $crate::Error::NoSuchExport {
                kind: "global",
                name: name.into(),
            };
            let e = data
                .export(name)
                .filter(|e| e.kind == lucet_module::ExportKind::Global)
                .ok_or_else(not_found)?;
            let ty = data.global_type(e.index).ok_or_else(not_found)?;
            // SAFETY: the storage is live (own vmctx area, or an import kept
            // by the domain) and `&self` means no run is in progress.
            let raw = unsafe { st.global_ptr(e.index).read_unaligned() };
            Ok($crate::Val::from_raw(ty.ty, raw, domain.id))
        }
    };
}

pub(crate) use instance_methods;

impl Instance {
    /// Instantiate `module` with imports from `linker` in a region of its
    /// own, within `limits`, and run its start function. Servers creating
    /// many instances should share a [`Region`] instead.
    pub fn new(module: &Arc<Module>, linker: &Linker, limits: Limits) -> Result<Instance, Error> {
        Region::new(1, limits)?.instantiate(module, linker)
    }

    /// Instantiate in a slot of `region` without running the start
    /// function (see [`Region::instantiate_unstarted`]).
    pub(crate) fn unstarted(
        region: &Region,
        module: &Arc<Module>,
        linker: &Linker,
    ) -> Result<Instance, Error> {
        let mut inner = Standalone::create(region, module, linker)?;
        instantiate::place(&mut inner.state);
        instantiate::initialize(&inner.state)?;
        Ok(Instance { inner })
    }

    fn parts(&mut self) -> (&mut Domain, &InstanceState) {
        let inner = &mut *self.inner;
        (&mut inner.domain, &inner.state)
    }

    fn parts_ref(&self) -> (&Domain, &InstanceState) {
        (&self.inner.domain, &self.inner.state)
    }

    instance_methods!();
}

/// Instantiation in a region's slots (the region itself is in the vm
/// layer, which knows nothing of instances).
impl Region {
    /// Instantiate `module` with imports from `linker` in a free slot, and
    /// run its start function (with no deadline: to bound it, use
    /// [`instantiate_unstarted`](Self::instantiate_unstarted)).
    ///
    /// Errors: [`Error::LimitExceeded`] when the module can never fit this
    /// region's limits, [`Error::RegionFull`] when it would but every slot
    /// is in use (wait and retry), import and trap errors as usual.
    pub fn instantiate(&self, module: &Arc<Module>, linker: &Linker) -> Result<Instance, Error> {
        let mut instance = Instance::unstarted(self, module, linker)?;
        instance.start()?;
        Ok(instance)
    }

    /// Instantiate like [`instantiate`](Self::instantiate), but leave the
    /// start function to [`Instance::start`], so it
    /// runs under a deadline, budget or interrupt handle set first, like
    /// any other run. Exports cannot run until it has.
    pub fn instantiate_unstarted(
        &self,
        module: &Arc<Module>,
        linker: &Linker,
    ) -> Result<Instance, Error> {
        Instance::unstarted(self, module, linker)
    }
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("module", &self.inner.state.module)
            .finish_non_exhaustive()
    }
}
