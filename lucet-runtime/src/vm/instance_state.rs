//! The state of one instance: its slot, its vmctx area, and the mutable
//! state guest code and builtins reach through the vmctx pointer.
//!
//! Everything here is reached two ways: by the host through the public
//! `Instance` / `Store` types, which hand out `&mut` for runs, and by guest
//! code and builtins through raw pointers during a run. Both happen on the
//! thread that holds the instance's domain exclusively, never concurrently,
//! which is what the `UnsafeCell` and the raw owner pointers below rely on.

use crate::domain_id::DomainId;
use crate::error::Error;
use crate::module::Module;
use crate::run_control::RunControl;
use crate::vm::region::Slot;
use lucet_module::{
    imported_func, memory_def, table_def, ElemItems, MemoryType, TableType, VmctxOffsets,
    WASM_PAGE_SIZE,
};
use std::any::Any;
use std::cell::UnsafeCell;
use std::sync::Arc;

/// The memory below an instance's vmctx pointer: its per-instance state,
/// laid out by [`lucet_module::VmctxLayout`], zeroed, 16-byte aligned.
pub(crate) struct VmctxArea {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl VmctxArea {
    pub fn new(size: usize) -> Result<VmctxArea, Error> {
        let layout = std::alloc::Layout::from_size_align(size.max(16), 16)
            .map_err(|_| Error::LimitExceeded(format!("instance state of {size} bytes")))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(Error::System(format!(
                "allocating {size} bytes of instance state"
            )));
        }
        Ok(VmctxArea { ptr, layout })
    }

    /// The vmctx pointer: one past the end of the area.
    pub fn vmctx(&self) -> *mut u8 {
        // SAFETY: one past the end of the allocation.
        unsafe { self.ptr.add(self.layout.size()) }
    }
}

impl Drop for VmctxArea {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the instance that
        // used it is gone.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// Where a memory or table index of an instance really lives: in the
/// instance itself, or in another instance of the same domain (which the
/// domain keeps alive as long as this one).
#[derive(Clone, Copy)]
pub(crate) struct Owned {
    pub owner: *const InstanceState,
    pub defined: u32,
}

/// State changed while the instance runs, by guest code (through builtins)
/// and by the host between runs.
#[derive(Default)]
pub(crate) struct Mutable {
    pub tables: Vec<Vec<u64>>,
    pub dropped_data: Vec<bool>,
    pub dropped_elems: Vec<bool>,
    pub context: Option<Box<dyn Any + Send>>,
    /// Exceptions it has thrown (see `vm::exceptions`).
    pub exceptions: crate::vm::exceptions::ExceptionStore,
}

/// Everything an instance owns. It lives in a `Box` owned by its domain
/// and never moves: the vmctx area points back at it.
pub(crate) struct InstanceState {
    pub module: Arc<Module>,
    /// The domain it belongs to.
    pub domain: DomainId,
    /// The domain is a store (other instances may run its code or write
    /// its memory).
    pub in_store: bool,
    /// The domain's run control: what guest code's run limits point at.
    pub control: Arc<RunControl>,
    pub slot: Slot,
    pub vmctx: *mut u8,
    pub _vmctx_area: VmctxArea,
    /// The heap limit every memory of the instance is held to.
    pub heap_limit: u64,
    pub memories: Vec<Owned>,
    /// Defined memories after the first (see `vm::extra_heap`).
    pub extra_heaps: Vec<crate::vm::extra_heap::ExtraHeap>,
    pub tables: Vec<Owned>,
    pub mutable: UnsafeCell<Mutable>,
    /// Where its start function stands.
    pub start: StartCell,
    /// Host functions and host globals this instance imports.
    pub _keepalive: Vec<Arc<dyn Any + Send + Sync>>,
}

/// Where an instance's start function stands: runs of its exports are only
/// allowed once it is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum StartState {
    /// It has a start function that has not run yet.
    Pending,
    /// It ran and returned, or there is none.
    Done,
    /// It trapped or was stopped: the instance is not usable until `reset`.
    Failed,
}

/// A [`StartState`] that can be set from a `Send` future (an atomic, so a
/// reference to it is `Send`).
pub(crate) struct StartCell(std::sync::atomic::AtomicU8);

impl StartCell {
    pub fn new(s: StartState) -> StartCell {
        StartCell(std::sync::atomic::AtomicU8::new(s as u8))
    }

    pub fn get(&self) -> StartState {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            0 => StartState::Pending,
            1 => StartState::Done,
            _ => StartState::Failed,
        }
    }

    pub fn set(&self, s: StartState) {
        self.0.store(s as u8, std::sync::atomic::Ordering::Relaxed);
    }
}

fn page_bytes(pages: u64) -> u64 {
    pages.saturating_mul(WASM_PAGE_SIZE)
}

impl InstanceState {
    /// The state behind a vmctx pointer.
    ///
    /// # Safety
    /// `vmctx` must be the vmctx of a live instance, and the caller must be
    /// running in (or hold exclusively) that instance's domain.
    pub unsafe fn from_vmctx<'a>(vmctx: *mut u8) -> &'a InstanceState {
        // SAFETY: the INSTANCE header field of a live vmctx points at its
        // state (written at instantiation, never changed).
        unsafe {
            &*(*(vmctx.offset(VmctxOffsets::INSTANCE as isize) as *const *const InstanceState))
        }
    }

    /// Address of the vmctx field at `offset`.
    pub fn field<T>(&self, offset: i32) -> *mut T {
        // SAFETY: offsets come from the module's VmctxLayout, which lies
        // inside the vmctx area.
        unsafe { self.vmctx.offset(offset as isize) as *mut T }
    }

    /// The mutable state.
    ///
    /// # Safety
    /// The caller holds the domain exclusively (a run on this thread, or
    /// `&mut` the instance), and no other reference from `mutable` is live.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn mutable(&self) -> &mut Mutable {
        // SAFETY: as the caller promises.
        unsafe { &mut *self.mutable.get() }
    }

    /// The embedder's context, if it is a `T`.
    ///
    /// # Safety
    /// As for [`mutable`](Self::mutable).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn context_mut<T: Any + Send>(&self) -> Option<&mut T> {
        // SAFETY: as the caller promises.
        unsafe { self.mutable() }.context.as_mut()?.downcast_mut()
    }

    /// Code address and callee vmctx of function `index` (own or imported).
    pub fn func_code(&self, index: u32) -> (usize, usize) {
        let imported = self.module.data().num_imported_funcs();
        if index < imported {
            let pair = self.field::<u8>(self.module.layout().imported_func(index));
            // SAFETY: the pair was filled at instantiation.
            unsafe {
                (
                    *(pair.offset(imported_func::CODE as isize) as *const usize),
                    *(pair.offset(imported_func::VMCTX as isize) as *const usize),
                )
            }
        } else {
            (
                self.module.function_addr(index - imported),
                self.vmctx as usize,
            )
        }
    }

    /// Base and length of memory `index` (own or imported), if it has
    /// one.
    pub fn memory_of(&self, index: u32) -> Option<(*mut u8, usize)> {
        if index as usize >= self.memories.len() {
            return None;
        }
        // SAFETY: memory_ptr(index) was filled at instantiation with a
        // live memory definition {base, length}.
        unsafe {
            let def: *mut u8 = *self.field::<*mut u8>(self.module.layout().memory_ptr(index));
            let base = *(def.offset(memory_def::BASE as isize) as *const *mut u8);
            let len = *(def.offset(memory_def::LENGTH as isize) as *const u64);
            Some((base, len as usize))
        }
    }

    /// The accessible bytes of the memory host functions see: the one
    /// exported as `memory` (WASI's), else memory 0.
    ///
    /// # Safety
    /// The caller holds the domain exclusively, no other reference to the
    /// memory is live, and the guest is not running (or is suspended in the
    /// hostcall making this call).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn memory_slice(&self) -> &mut [u8] {
        // SAFETY: as the caller promises.
        unsafe { self.memory_at(self.module.host_memory()) }
    }

    /// Defined memory `defined`'s current size and declared maximum.
    pub fn memory_type_now(&self, defined: u32) -> MemoryType {
        let index = self.module.data().num_imported_memories() + defined;
        let len = self.memory_of(index).map_or(0, |m| m.1) as u64;
        let declared = self.module.data().memory_type(index);
        MemoryType {
            min_pages: len / WASM_PAGE_SIZE,
            max_pages: declared.and_then(|m| m.max_pages),
            memory64: declared.is_some_and(|m| m.memory64),
        }
    }

    /// Bytes of address space behind defined memory `defined`, its guard
    /// included.
    pub fn memory_reservation(&self, defined: u32) -> usize {
        match defined.checked_sub(1) {
            None => self.slot.heap_reservation(),
            Some(extra) => self.extra_heaps[extra as usize].reserved(),
        }
    }

    /// Defined table `defined`'s current size and declared limits.
    pub fn table_type_now(&self, defined: u32) -> TableType {
        let t = self.module.data().tables[defined as usize];
        // SAFETY: reading this instance's own table length, with the domain
        // held by the caller.
        let len = unsafe { self.mutable().tables[defined as usize].len() } as u32;
        TableType { min: len, ..t }
    }

    /// Address of defined table `defined`'s `{elements, length}`.
    pub fn table_def_ptr(&self, defined: u32) -> *mut u8 {
        self.field(self.module.layout().table_def(defined))
    }

    /// Write defined table `defined`'s base and length into its definition.
    ///
    /// # Safety
    /// As for [`mutable`](Self::mutable).
    pub unsafe fn sync_table_def(&self, defined: u32) {
        // SAFETY: as the caller promises; the definition lies in the area.
        unsafe {
            let t = &mut self.mutable().tables[defined as usize];
            let def = self.table_def_ptr(defined);
            *(def.offset(table_def::BASE as isize) as *mut *mut u64) = t.as_mut_ptr();
            *(def.offset(table_def::LENGTH as isize) as *mut u32) = t.len() as u32;
        }
    }

    /// Address of the funcref record of function `func`, which escapes
    /// (validation guarantees every referenced function is listed).
    pub fn funcref_addr(&self, func: u32) -> Result<u64, Error> {
        let slot = self
            .module
            .data()
            .escaping_functions
            .binary_search(&func)
            .map_err(|_| {
                Error::InvalidState(format!("function {func} is referenced but does not escape"))
            })?;
        Ok(self.field::<u8>(self.module.layout().funcref(slot as u32)) as u64)
    }

    /// The function whose funcref record is at `record`, if it is one of
    /// this instance's records.
    pub fn funcref_index(&self, record: usize) -> Option<u32> {
        let escaping = &self.module.data().escaping_functions;
        if escaping.is_empty() {
            return None;
        }
        let first = self.field::<u8>(self.module.layout().funcref(0)) as usize;
        let offset = record.checked_sub(first)?;
        let size = lucet_module::FUNCREF_SIZE as usize;
        if offset % size != 0 {
            return None;
        }
        escaping.get(offset / size).copied()
    }

    /// The 16-byte storage of global `index` (own or imported).
    pub fn global_ptr(&self, index: u32) -> *mut u128 {
        let data = self.module.data();
        let imported = data.num_imported_globals();
        let layout = self.module.layout();
        if index < imported {
            // SAFETY: the import slot was filled at instantiation.
            unsafe { *self.field::<*mut u128>(layout.global_ptr(index)) }
        } else {
            self.field(layout.global(index - imported))
        }
    }

    /// The instance owning table `index`, and its defined index there.
    pub fn table_owner(&self, index: u32) -> (&InstanceState, u32) {
        let o = self.tables[index as usize];
        // SAFETY: owners are this state or states of the same domain, which
        // lives at least as long as `self`.
        (unsafe { &*o.owner }, o.defined)
    }

    /// The elements of table `index` (own or imported), with their owner.
    ///
    /// # Safety
    /// As for [`mutable`](Self::mutable), for the owner too.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn table_mut(&self, index: u32) -> (&InstanceState, &mut Vec<u64>, u32) {
        let (owner, defined) = self.table_owner(index);
        // SAFETY: as the caller promises.
        let table = unsafe { &mut owner.mutable().tables[defined as usize] };
        (owner, table, defined)
    }

    /// Grow table `index` by `delta` elements set to `init`; the old length,
    /// or `None` if that exceeds its maximum or the limits.
    pub fn table_grow(&self, index: u32, delta: u32, init: u64) -> Option<u32> {
        // SAFETY: called by guest code of this domain, on its thread.
        unsafe {
            let (owner, table, defined) = self.table_mut(index);
            let old = table.len() as u32;
            let declared = owner.module.data().tables[defined as usize]
                .max
                .unwrap_or(u32::MAX);
            let new = old.checked_add(delta)?;
            if new > declared || new > owner.slot.limits().table_elements {
                return None;
            }
            table.resize(new as usize, init);
            owner.sync_table_def(defined);
            Some(old)
        }
    }

    /// The state owning memory `index`, and the memory's defined index
    /// there.
    pub fn memory_owner(&self, index: u32) -> (&InstanceState, u32) {
        let o = self.memories[index as usize];
        // SAFETY: owners are this state or states of the same domain.
        (unsafe { &*o.owner }, o.defined)
    }

    /// Grow memory `index` by `delta` pages; the old size in pages, or
    /// `None` past the maximum.
    pub fn memory_grow(&self, index: u32, delta: u64) -> Option<u64> {
        let (owner, defined) = self.memory_owner(index);
        let def: *mut u64 =
            owner.field(owner.module.layout().memory_def(defined) + memory_def::LENGTH);
        // SAFETY: the definition is live and only touched by this thread.
        let old = unsafe { *def };
        let new = old.checked_add(delta.checked_mul(WASM_PAGE_SIZE)?)?;
        let imported = owner.module.data().num_imported_memories();
        if new > owner.heap_max_of(imported + defined) {
            return None;
        }
        match defined.checked_sub(1) {
            None => owner.slot.heap_grow(old as usize, new as usize).ok()?,
            Some(extra) => owner.extra_heaps[extra as usize].grow(new as usize).ok()?,
        }
        // SAFETY: as above.
        unsafe { *def = new };
        Some(old / WASM_PAGE_SIZE)
    }

    /// Memory `index`'s accessible bytes (nothing if there is no such
    /// memory).
    ///
    /// # Safety
    /// As for [`memory_slice`](Self::memory_slice).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn memory_at(&self, index: u32) -> &mut [u8] {
        match self.memory_of(index) {
            // SAFETY: `len` bytes from `base` are mapped read-write (a
            // heap grows its accessible part before the length is stored),
            // and the caller promises no other reference is live.
            Some((base, len)) => unsafe { std::slice::from_raw_parts_mut(base, len) },
            None => &mut [],
        }
    }

    /// The most bytes memory `index` of this module may grow to.
    pub fn heap_max_of(&self, index: u32) -> u64 {
        Self::heap_max_for(&self.module, index, self.heap_limit)
    }

    /// Data segment `seg`'s bytes, or nothing once dropped.
    pub fn data_segment(&self, seg: u32) -> &[u8] {
        // SAFETY: the instance is running on this thread.
        let dropped = unsafe { self.mutable().dropped_data.get(seg as usize).copied() };
        match dropped {
            Some(false) => &self.module.data().data[seg as usize].bytes,
            _ => &[],
        }
    }

    /// `data.drop`.
    pub fn drop_data(&self, seg: u32) {
        // SAFETY: the instance is running on this thread.
        if let Some(d) = unsafe { self.mutable().dropped_data.get_mut(seg as usize) } {
            *d = true;
        }
    }

    /// Element segment `seg`'s items, or `None` once dropped.
    pub fn elem_segment(&self, seg: u32) -> Option<&ElemItems> {
        // SAFETY: the instance is running on this thread.
        let dropped = unsafe { self.mutable().dropped_elems.get(seg as usize).copied() };
        match dropped {
            Some(false) => Some(&self.module.data().elements[seg as usize].items),
            _ => None,
        }
    }

    /// `elem.drop`.
    pub fn drop_elem(&self, seg: u32) {
        // SAFETY: the instance is running on this thread.
        if let Some(d) = unsafe { self.mutable().dropped_elems.get_mut(seg as usize) } {
            *d = true;
        }
    }

    /// The most bytes memory `index` of `module` may grow to, under a
    /// heap limit of `heap_limit` bytes (each memory's own).
    pub fn heap_max_for(module: &Module, index: u32, heap_limit: u64) -> u64 {
        module.data().heap_spec_of(index).map_or(0, |s| {
            page_bytes(s.max_pages_or_index_limit())
                .min(heap_limit)
                .min(s.reserved_size)
        })
    }
}
