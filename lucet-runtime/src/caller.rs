//! What a host function sees of the instance that called it.

use crate::error::Error;
use crate::exception::Thrown;
use crate::tag::Tag;
use crate::val::Val;
use crate::vm::instance_state::InstanceState;
use std::any::Any;

/// What a host function sees of the instance that called it.
pub struct Caller<'a> {
    pub(crate) state: &'a InstanceState,
}

impl Caller<'_> {
    /// An exception of `tag` carrying `payload`, for the host function to
    /// return as its error (`return Err(caller.throw(&tag, &[..]))`): the
    /// guest code that called it sees the call throw, and may catch it
    /// with a handler for `tag` (which it must import to name) or a
    /// catch-all. Any other error is what went wrong: a payload that does
    /// not match the tag's type, a tag of another store, or the instance's
    /// limit of live exceptions.
    pub fn throw(&mut self, tag: &Tag, payload: &[Val]) -> Error {
        throw(self.state, tag, payload)
    }

    /// The caller's linear memory (empty if it has none). Guest pointers
    /// must be checked against its length: use [`slice::get`] and friends,
    /// or the helpers below, and turn `None` into an error, never a panic.
    pub fn memory(&mut self) -> &mut [u8] {
        // SAFETY: the guest is suspended in this hostcall, so nothing else
        // touches its memory while the borrow lives.
        unsafe { self.state.memory_slice() }
    }

    /// `len` bytes at guest address `ptr`, or `None` if out of bounds.
    pub fn bytes(&mut self, ptr: u32, len: u32) -> Option<&mut [u8]> {
        let start = ptr as usize;
        self.memory()
            .get_mut(start..start.checked_add(len as usize)?)
    }

    /// The little-endian `u32` at `ptr`, if in bounds.
    pub fn read_u32(&mut self, ptr: u32) -> Option<u32> {
        let b = self.bytes(ptr, 4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }

    /// Store a little-endian `u32` at `ptr`; `None` if out of bounds.
    pub fn write_u32(&mut self, ptr: u32, v: u32) -> Option<()> {
        self.bytes(ptr, 4)?.copy_from_slice(&v.to_le_bytes());
        Some(())
    }

    /// The little-endian `u64` at `ptr`, if in bounds.
    pub fn read_u64(&mut self, ptr: u32) -> Option<u64> {
        let b = self.bytes(ptr, 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// Store a little-endian `u64` at `ptr`; `None` if out of bounds.
    pub fn write_u64(&mut self, ptr: u32, v: u64) -> Option<()> {
        self.bytes(ptr, 8)?.copy_from_slice(&v.to_le_bytes());
        Some(())
    }

    /// The caller's memory and the embedder's context together (a hostcall
    /// often needs both at once).
    pub fn memory_and_context<T: Any + Send>(&mut self) -> (&mut [u8], Option<&mut T>) {
        // SAFETY: memory and context are disjoint; the guest is suspended
        // in this hostcall, so nothing else borrows either.
        unsafe { (self.state.memory_slice(), self.state.context_mut()) }
    }

    /// Whether the embedder stopped this run (kill switch or deadline).
    pub fn is_interrupted(&self) -> bool {
        self.state.control.stopped().is_some()
    }

    /// `Err(`[`Error::Terminated`]`)` with the reason if the embedder
    /// stopped this run. A hostcall that waits should return this error
    /// as soon as [`interrupt_fd`](Self::interrupt_fd) becomes readable.
    pub fn check_interrupt(&self) -> Result<(), Error> {
        self.state.control.check()
    }

    /// A descriptor that becomes readable (`POLLIN`) when the embedder stops
    /// this run, and stays readable for the rest of it. A hostcall that
    /// blocks in the kernel (a read from a pipe, a sleep) should wait for it
    /// too, with `poll(2)`, and then return
    /// [`check_interrupt`](Self::check_interrupt)'s error. The descriptor
    /// belongs to the runtime: valid while the hostcall runs, never to be
    /// read, written or closed by it. Created on first use.
    pub fn interrupt_fd(&self) -> Result<std::os::fd::RawFd, Error> {
        self.state.control.event_fd()
    }

    /// An owned handle on this run's stop (see [`StopSignal`](crate::run_control::StopSignal)),
    /// which does not borrow the caller.
    pub fn stop_signal(&self) -> crate::run_control::StopSignal {
        crate::run_control::StopSignal {
            control: self.state.control.clone(),
        }
    }

    /// The embedder's per-instance context of type `T`, if one was set with
    /// [`Instance::set_context`](crate::instance::Instance::set_context).
    pub fn context<T: Any + Send>(&mut self) -> Option<&mut T> {
        // SAFETY: the instance is running on this thread and the guest is
        // suspended; nothing else borrows the context.
        unsafe { self.state.context_mut() }
    }
}

/// Make an exception of `tag` with `payload` in the instance `state`, for
/// a host function to throw.
fn throw(state: &InstanceState, tag: &Tag, payload: &[Val]) -> Error {
    if tag.domain.is_some_and(|d| d != state.domain) {
        return Error::WrongDomain("tag");
    }
    let ty = tag.ty();
    if let Err(given) = crate::val::check_types(payload, &ty.params) {
        return Error::ArgumentMismatch {
            name: "throw".into(),
            reason: format!("the tag takes {ty}, given {given}"),
        };
    }
    let raw = match payload
        .iter()
        .map(|v| v.to_raw(state.domain))
        .collect::<Result<Vec<u128>, _>>()
    {
        Ok(raw) => raw,
        Err(e) => return e.into(),
    };
    // SAFETY: a hostcall of `state` runs on its domain's thread; no other
    // borrow of its mutable state is live.
    let store = unsafe { &mut state.mutable().exceptions };
    if let Some(h) = tag.host() {
        store.keep_tag(h);
    }
    // Host tags have no index in the module: u32::MAX names none.
    let Some(record) = store.alloc(
        tag.identity() as u64,
        state.vmctx as u64,
        u32::MAX,
        raw.into_iter(),
    ) else {
        return Error::Trap(crate::trap::Trap::new(
            lucet_module::TrapCode::ExceptionLimit,
        ));
    };
    Error::Thrown(Thrown::new(
        state.vmctx as usize,
        store.generation(),
        record,
    ))
}
