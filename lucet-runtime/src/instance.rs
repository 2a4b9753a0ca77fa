//! Instances: a module's code bound to its own memory, globals and tables.

use crate::code_registry;
use crate::execute::{Execution, HostFuture, ResumeWith, SlotStack, Step};
use crate::linker::{Extern, Func, FuncKind, Global, Linker, Memory, Table};
use crate::region::{Region, Slot};
use crate::run_control::{InterruptHandle, RunControl, Termination};
use crate::trap::Trap;
use crate::{builtins, Error, Limits, Module, Val};
use lucet_module::{
    funcref, imported_func, memory_def, table_def, ConstExpr, ConstOp, ElemItems, ExportKind,
    ImportKind, MemoryType, SegmentMode, TableType, TrapCode, ValType, VmctxOffsets,
    WASM_PAGE_SIZE,
};
use std::any::Any;
use std::cell::UnsafeCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The memory below an instance's vmctx pointer: its per-instance state,
/// laid out by [`lucet_module::VmctxLayout`], zeroed, 16-byte aligned.
struct VmctxArea {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl VmctxArea {
    fn new(size: usize) -> Result<VmctxArea, Error> {
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
    fn vmctx(&self) -> *mut u8 {
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

/// Where a memory or table index of this instance really lives.
#[derive(Clone, Copy)]
struct Owned {
    owner: *const InstanceState,
    defined: u32,
}

/// Mutable state only the thread running the instance touches.
struct Mutable {
    tables: Vec<Vec<u64>>,
    dropped_data: Vec<bool>,
    dropped_elems: Vec<bool>,
    context: Option<Box<dyn Any + Send>>,
    /// Instances that may have stored references to their functions in
    /// this one's tables or globals: they must live as long as this one.
    dependents: Vec<Arc<InstanceState>>,
    /// A call suspended in a hostcall, waiting to be resumed.
    suspended: Option<Suspended>,
    /// Wall-clock time allowed per run.
    deadline: Option<Duration>,
    /// The deadline armed for the run in progress.
    armed: Option<Instant>,
}

/// A suspended call: its coroutine and where its results will land.
struct Suspended {
    exec: Execution,
    values: Box<[u128]>,
    results: Vec<ValType>,
    /// A future the guest awaits (async runs only).
    awaiting: Option<HostFuture>,
}

/// Everything an instance owns. Shared (through `Arc`) with instances that
/// import its exports, which keeps it alive as long as they are.
pub(crate) struct InstanceState {
    module: Arc<Module>,
    slot: Slot,
    vmctx: *mut u8,
    _vmctx_area: VmctxArea,
    /// The run in progress and what may stop it; shared with interrupt
    /// handles and the watchdog.
    control: Arc<RunControl>,
    heap_max: u64,
    memories: Vec<Owned>,
    tables: Vec<Owned>,
    mutable: UnsafeCell<Mutable>,
    /// Host functions and other instances this one imports from.
    _keepalive: Vec<Arc<dyn Any + Send + Sync>>,
}

// SAFETY: the raw pointers point into memory this state owns or keeps
// alive; mutation happens only on the thread running the instance (the
// public `Instance` hands out `&mut` for runs), plus atomics for interrupts.
unsafe impl Send for InstanceState {}
// SAFETY: as above.
unsafe impl Sync for InstanceState {}

/// A running or runnable instance of a module.
pub struct Instance {
    state: Arc<InstanceState>,
}

/// What a resumable run produced.
#[derive(Debug, PartialEq)]
pub enum RunResult {
    /// The function returned these results.
    Returned(Vec<Val>),
    /// A hostcall yielded this value; [`Instance::resume`] continues.
    Yielded(Val),
}

fn page_bytes(pages: u64) -> u64 {
    pages.saturating_mul(WASM_PAGE_SIZE)
}

impl InstanceState {
    /// The run in progress is over (returned, trapped, ended or abandoned):
    /// disarm its deadline and drop any stop aimed at it.
    fn end_run(&self) {
        // SAFETY: called with `&mut Instance`: the instance is not running.
        if let Some(when) = unsafe { self.mutable().armed.take() } {
            crate::watchdog::disarm(&self.control, when);
        }
        self.control.end();
    }

    /// The state behind a vmctx pointer.
    ///
    /// # Safety
    /// `vmctx` must be the vmctx of a live instance.
    pub(crate) unsafe fn from_vmctx<'a>(vmctx: *mut u8) -> &'a InstanceState {
        &*(*(vmctx.offset(VmctxOffsets::INSTANCE as isize) as *const *const InstanceState))
    }

    fn field<T>(&self, offset: i32) -> *mut T {
        // SAFETY: offsets come from the module's VmctxLayout, which lies
        // inside the slot's vmctx area.
        unsafe { self.vmctx.offset(offset as isize) as *mut T }
    }

    #[allow(clippy::mut_from_ref)]
    unsafe fn mutable(&self) -> &mut Mutable {
        &mut *self.mutable.get()
    }

    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn context_mut<T: Any + Send>(&self) -> Option<&mut T> {
        self.mutable().context.as_mut()?.downcast_mut()
    }

    /// Base and length of memory index 0 (own or imported).
    fn memory0(&self) -> Option<(*mut u8, usize)> {
        if self.memories.is_empty() {
            return None;
        }
        let def: *mut u8 = unsafe { *self.field::<*mut u8>(self.module.layout().memory_ptr(0)) };
        // SAFETY: memory_ptr(0) points at a live memory definition.
        unsafe {
            let base = *(def.offset(memory_def::BASE as isize) as *const *mut u8);
            let len = *(def.offset(memory_def::LENGTH as isize) as *const u64);
            Some((base, len as usize))
        }
    }

    /// The whole accessible memory.
    ///
    /// # Safety
    /// No other reference to the memory may be live, and the guest must not
    /// be running.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn memory_slice(&self) -> &mut [u8] {
        match self.memory0() {
            Some((base, len)) => std::slice::from_raw_parts_mut(base, len),
            None => &mut [],
        }
    }

    pub(crate) fn memory_type_now(&self) -> MemoryType {
        let len = self.memory0().map_or(0, |m| m.1) as u64;
        let declared = self.module.data().memory_type(0);
        MemoryType {
            min_pages: len / WASM_PAGE_SIZE,
            max_pages: declared.and_then(|m| m.max_pages),
        }
    }

    pub(crate) fn table_type_now(&self, defined: u32) -> TableType {
        let t = self.module.data().tables[defined as usize];
        // SAFETY: reading this instance's own table length.
        let len = unsafe { self.mutable().tables[defined as usize].len() } as u32;
        TableType { min: len, ..t }
    }

    fn table_def_ptr(&self, defined: u32) -> *mut u8 {
        self.field(self.module.layout().table_def(defined))
    }

    /// Write defined table `defined`'s base and length into its definition.
    unsafe fn sync_table_def(&self, defined: u32) {
        let t = &mut self.mutable().tables[defined as usize];
        let def = self.table_def_ptr(defined);
        *(def.offset(table_def::BASE as isize) as *mut *mut u64) = t.as_mut_ptr();
        *(def.offset(table_def::LENGTH as isize) as *mut u32) = t.len() as u32;
    }

    fn funcref_addr(&self, func: u32) -> u64 {
        let slot = self
            .module
            .data()
            .escaping_functions
            .binary_search(&func)
            .expect("validated: referenced functions escape");
        self.field::<u8>(self.module.layout().funcref(slot as u32)) as u64
    }

    fn global_ptr(&self, index: u32) -> *mut u128 {
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

    /// The value a constant operator pushes, or `None` for arithmetic.
    fn eval_leaf(&self, op: ConstOp) -> Option<u128> {
        Some(match op {
            ConstOp::I32Const(v) => v as u32 as u128,
            ConstOp::I64Const(v) => v as u64 as u128,
            ConstOp::F32Const(v) => v as u128,
            ConstOp::F64Const(v) => v as u128,
            ConstOp::V128Const(v) => v,
            ConstOp::RefNull => 0,
            ConstOp::RefFunc(f) => self.funcref_addr(f) as u128,
            // SAFETY: validated index; the storage is live.
            ConstOp::GlobalGet(g) => unsafe { self.global_ptr(g).read_unaligned() },
            _ => return None,
        })
    }

    fn eval(&self, expr: &ConstExpr) -> u128 {
        // Nearly every initializer is one operator: no stack to allocate on
        // the instantiation path.
        if let [op] = expr.0.as_slice() {
            if let Some(v) = self.eval_leaf(*op) {
                return v;
            }
        }
        let mut stack: Vec<u128> = Vec::with_capacity(expr.0.len());
        for op in &expr.0 {
            let v = match self.eval_leaf(*op) {
                Some(v) => v,
                None => {
                    let b = stack.pop().unwrap_or(0);
                    let a = stack.pop().unwrap_or(0);
                    let (a32, b32, a64, b64) = (a as u32, b as u32, a as u64, b as u64);
                    match *op {
                        ConstOp::I32Add => a32.wrapping_add(b32) as u128,
                        ConstOp::I32Sub => a32.wrapping_sub(b32) as u128,
                        ConstOp::I32Mul => a32.wrapping_mul(b32) as u128,
                        ConstOp::I64Add => a64.wrapping_add(b64) as u128,
                        ConstOp::I64Sub => a64.wrapping_sub(b64) as u128,
                        _ => a64.wrapping_mul(b64) as u128,
                    }
                }
            };
            stack.push(v);
        }
        stack.pop().unwrap_or(0)
    }

    fn elem_items(&self, items: &ElemItems) -> Vec<u64> {
        match items {
            ElemItems::Funcs(fs) => fs.iter().map(|f| self.funcref_addr(*f)).collect(),
            ElemItems::Exprs(es) => es.iter().map(|e| self.eval(e) as u64).collect(),
        }
    }

    fn table_owner(&self, index: u32) -> (&InstanceState, u32) {
        let o = self.tables[index as usize];
        // SAFETY: owners are this state or states kept alive by it.
        (unsafe { &*o.owner }, o.defined)
    }

    /// The elements of table `index` (own or imported).
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn table_mut(&self, index: u32) -> (&InstanceState, &mut Vec<u64>, u32) {
        let (owner, defined) = self.table_owner(index);
        (
            owner,
            &mut owner.mutable().tables[defined as usize],
            defined,
        )
    }

    /// Grow table `index` by `delta` elements set to `init`; the old length,
    /// or `None` if that exceeds its maximum or the limits.
    pub(crate) fn table_grow(&self, index: u32, delta: u32, init: u64) -> Option<u32> {
        // SAFETY: the instance is running on this thread.
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

    /// The state owning memory `index`.
    fn memory_owner(&self, index: u32) -> &InstanceState {
        // SAFETY: owners are this state or states kept alive by it.
        unsafe { &*self.memories[index as usize].owner }
    }

    /// Grow memory `index` by `delta` pages; the old size in pages, or
    /// `None` past the maximum.
    pub(crate) fn memory_grow(&self, index: u32, delta: u64) -> Option<u64> {
        let owner = self.memory_owner(index);
        let def: *mut u64 = owner.field(owner.module.layout().memory_def(0) + memory_def::LENGTH);
        // SAFETY: the definition is live and only touched by this thread.
        let old = unsafe { *def };
        let new = old.checked_add(delta.checked_mul(WASM_PAGE_SIZE)?)?;
        if new > owner.heap_max {
            return None;
        }
        owner.slot.heap_grow(old as usize, new as usize).ok()?;
        // SAFETY: as above.
        unsafe { *def = new };
        Some(old / WASM_PAGE_SIZE)
    }

    /// Memory `index`'s accessible bytes.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn memory_at(&self, index: u32) -> &mut [u8] {
        let owner = self.memory_owner(index);
        owner.memory_slice()
    }

    pub(crate) fn data_segment(&self, seg: u32) -> &[u8] {
        // SAFETY: the instance is running on this thread.
        let dropped = unsafe { self.mutable().dropped_data.get(seg as usize).copied() };
        match dropped {
            Some(false) => &self.module.data().data[seg as usize].bytes,
            _ => &[],
        }
    }

    pub(crate) fn drop_data(&self, seg: u32) {
        // SAFETY: the instance is running on this thread.
        if let Some(d) = unsafe { self.mutable().dropped_data.get_mut(seg as usize) } {
            *d = true;
        }
    }

    pub(crate) fn elem_segment(&self, seg: u32) -> Vec<u64> {
        // SAFETY: the instance is running on this thread.
        let dropped = unsafe { self.mutable().dropped_elems.get(seg as usize).copied() };
        match dropped {
            Some(false) => self.elem_items(&self.module.data().elements[seg as usize].items),
            _ => Vec::new(),
        }
    }

    pub(crate) fn drop_elem(&self, seg: u32) {
        // SAFETY: the instance is running on this thread.
        if let Some(d) = unsafe { self.mutable().dropped_elems.get_mut(seg as usize) } {
            *d = true;
        }
    }

    /// Set defined state to what instantiation produces: memory zeroed and
    /// sized, globals, tables and segments initialized. Returns a trap if a
    /// segment does not fit.
    fn initialize(&self) -> Result<(), Error> {
        let data = self.module.data();
        let layout = self.module.layout();
        // SAFETY: called before the guest runs, on the owning thread.
        let m = unsafe { self.mutable() };
        let image = self.module.heap_image();
        if let Some(spec) = data.heap_spec() {
            self.slot.heap_setup(image, spec.initial_bytes() as usize)?;
            let def = self.field::<u64>(layout.memory_def(0) + memory_def::LENGTH);
            // SAFETY: the definition lies in this instance's vmctx area.
            unsafe { *def = spec.initial_bytes() };
        }
        let imported_globals = data.num_imported_globals();
        for (i, g) in data.globals.iter().enumerate() {
            let v = self.eval(&g.init);
            // SAFETY: the global's 16-byte slot is in the vmctx area.
            unsafe {
                self.global_ptr(imported_globals + i as u32)
                    .write_unaligned(v)
            };
        }
        m.tables = data
            .tables
            .iter()
            .map(|t| vec![0u64; t.min as usize])
            .collect();
        for d in 0..data.tables.len() as u32 {
            // SAFETY: the table vector was just created.
            unsafe { self.sync_table_def(d) };
        }
        m.dropped_data = vec![false; data.data.len()];
        m.dropped_elems = vec![false; data.elements.len()];
        // Function references of escaping functions.
        let imported_funcs = data.num_imported_funcs();
        for (slot, &f) in data.escaping_functions.iter().enumerate() {
            let rec = self.field::<u8>(layout.funcref(slot as u32));
            let (code, vmctx) = if f < imported_funcs {
                let pair = self.field::<u8>(layout.imported_func(f));
                // SAFETY: the pair was filled at instantiation.
                unsafe {
                    (
                        *(pair.offset(imported_func::CODE as isize) as *const usize),
                        *(pair.offset(imported_func::VMCTX as isize) as *const usize),
                    )
                }
            } else {
                (
                    self.module.function_addr(f - imported_funcs),
                    self.vmctx as usize,
                )
            };
            let sig = self.module.sig_ids()[data.func_type_index(f).unwrap() as usize];
            // SAFETY: the record lies in the vmctx area.
            unsafe {
                *(rec.offset(funcref::CODE as isize) as *mut usize) = code;
                *(rec.offset(funcref::VMCTX as isize) as *mut usize) = vmctx;
                *(rec.offset(funcref::SIG_ID as isize) as *mut u32) = sig;
            }
        }
        // Segments, in order; a segment that does not fit traps and leaves
        // earlier ones applied (visible through shared imports).
        for (i, seg) in data.elements.iter().enumerate() {
            match &seg.mode {
                SegmentMode::Active { index, offset } => {
                    let at = self.eval(offset) as u32 as usize;
                    let items = self.elem_items(&seg.items);
                    // SAFETY: on the owning thread, guest not running.
                    let (_, table, _) = unsafe { self.table_mut(*index) };
                    let end = at.checked_add(items.len()).filter(|e| *e <= table.len());
                    let Some(end) = end else {
                        return Err(Error::Trap(Trap::new(TrapCode::TableOutOfBounds)));
                    };
                    table[at..end].copy_from_slice(&items);
                    m.dropped_elems[i] = true;
                }
                SegmentMode::Declared => m.dropped_elems[i] = true,
                SegmentMode::Passive => {}
            }
        }
        for (i, seg) in data.data.iter().enumerate() {
            if let SegmentMode::Active { index, offset } = &seg.mode {
                if image.is_some() {
                    // Already in the heap image.
                    m.dropped_data[i] = true;
                    continue;
                }
                let at = self.eval(offset) as u32 as usize;
                // SAFETY: on the owning thread, guest not running.
                let mem = unsafe { self.memory_at(*index) };
                let end = at.checked_add(seg.bytes.len()).filter(|e| *e <= mem.len());
                let Some(end) = end else {
                    return Err(Error::Trap(Trap::new(TrapCode::HeapOutOfBounds)));
                };
                mem[at..end].copy_from_slice(&seg.bytes);
                m.dropped_data[i] = true;
            }
        }
        Ok(())
    }
}

fn mismatch(module: &str, field: &str, reason: String) -> Error {
    Error::ImportMismatch {
        module: module.into(),
        field: field.into(),
        reason,
    }
}

fn limits_match(min: u64, max: Option<u64>, want_min: u64, want_max: Option<u64>) -> bool {
    min >= want_min
        && match want_max {
            None => true,
            Some(wm) => max.is_some_and(|m| m <= wm),
        }
}

impl Instance {
    /// Instantiate `module` with imports from `linker` in a region of its
    /// own, within `limits`. Servers creating many instances should share a
    /// [`Region`] instead.
    pub fn new(module: &Arc<Module>, linker: &Linker, limits: Limits) -> Result<Instance, Error> {
        Region::new(1, limits)?.instantiate(module, linker)
    }

    /// Instantiate in a slot of `region`: check the module fits the limits
    /// and every import, take a slot, initialize globals, tables and
    /// memory, and run the start function.
    pub(crate) fn in_region(
        region: &Region,
        module: &Arc<Module>,
        linker: &Linker,
    ) -> Result<Instance, Error> {
        let limits = *region.limits();
        let data = module.data();
        let layout = *module.layout();
        if layout.size() as usize > limits.vmctx_size {
            return Err(Error::LimitExceeded(format!(
                "module needs {} bytes of instance state, the limit is {}",
                layout.size(),
                limits.vmctx_size
            )));
        }
        for t in &data.tables {
            if t.min > limits.table_elements {
                return Err(Error::LimitExceeded(format!(
                    "table of {} elements exceeds the limit of {}",
                    t.min, limits.table_elements
                )));
            }
        }
        let heap_spec = data.heap_spec();
        if let Some(spec) = heap_spec {
            let needed = spec.reserved_size + spec.guard_size;
            if needed > limits.heap_address_space_size {
                return Err(Error::LimitExceeded(format!(
                    "module was compiled for {needed} bytes of heap address space, the limit is {}",
                    limits.heap_address_space_size
                )));
            }
            if spec.initial_bytes() > limits.heap_memory_size {
                return Err(Error::LimitExceeded(format!(
                    "initial memory of {} pages exceeds the heap limit of {} bytes",
                    spec.initial_pages, limits.heap_memory_size
                )));
            }
        }
        let heap_max = heap_spec.map_or(0, |s| {
            page_bytes(s.max_pages.unwrap_or(65536))
                .min(limits.heap_memory_size)
                .min(s.reserved_size)
        });

        // Resolve imports before touching memory.
        let mut resolved = Vec::with_capacity(data.imports.len());
        for import in &data.imports {
            let (m, f) = (import.module.as_str(), import.field.as_str());
            let item = linker.get(m, f).ok_or_else(|| Error::MissingImport {
                module: m.into(),
                field: f.into(),
            })?;
            let ok = match (&import.kind, item) {
                (ImportKind::Func(t), Extern::Func(func)) => {
                    let want = &data.types[*t as usize];
                    if func.ty() != want {
                        return Err(mismatch(
                            m,
                            f,
                            format!("expected {want}, found {}", func.ty()),
                        ));
                    }
                    true
                }
                (ImportKind::Global(want), Extern::Global(g)) => {
                    if g.ty != *want {
                        return Err(mismatch(
                            m,
                            f,
                            format!("expected {want:?}, found {:?}", g.ty),
                        ));
                    }
                    true
                }
                (ImportKind::Memory(want), Extern::Memory(mem)) => {
                    let have = mem.ty();
                    if !limits_match(
                        have.min_pages,
                        have.max_pages,
                        want.min_pages,
                        want.max_pages,
                    ) {
                        return Err(mismatch(m, f, format!("expected {want:?}, found {have:?}")));
                    }
                    true
                }
                (ImportKind::Table(want), Extern::Table(t)) => {
                    let have = t.ty();
                    if have.elem != want.elem
                        || !limits_match(
                            have.min as u64,
                            have.max.map(u64::from),
                            want.min as u64,
                            want.max.map(u64::from),
                        )
                    {
                        return Err(mismatch(m, f, format!("expected {want:?}, found {have:?}")));
                    }
                    true
                }
                _ => false,
            };
            if !ok {
                return Err(mismatch(
                    m,
                    f,
                    format!("expected {:?}, found a {}", import.kind, item.kind_name()),
                ));
            }
            resolved.push(item.clone());
        }

        let slot: Slot = region.take_slot()?;
        let vmctx_area = VmctxArea::new(layout.size() as usize)?;
        let vmctx = vmctx_area.vmctx();
        let mut keepalive: Vec<Arc<dyn Any + Send + Sync>> = Vec::new();
        let mut memories = Vec::new();
        let mut tables = Vec::new();
        let mut fill: Vec<(i32, usize)> = Vec::new();
        let (mut nf, mut ng) = (0u32, 0u32);
        for item in &resolved {
            match item {
                Extern::Func(func) => {
                    let off = layout.imported_func(nf);
                    nf += 1;
                    let (code, cvmctx) = match &func.kind {
                        FuncKind::Host(rec) => {
                            keepalive.push(rec.clone());
                            // Host functions are called through this
                            // module's trampoline for their type.
                            let t = data.func_type_index(nf - 1).unwrap();
                            (module.host_trampoline(t), rec.vmctx())
                        }
                        FuncKind::Guest {
                            code, vmctx, owner, ..
                        } => {
                            keepalive.push(owner.clone());
                            (*code, *vmctx)
                        }
                    };
                    fill.push((off + imported_func::CODE, code));
                    fill.push((off + imported_func::VMCTX, cvmctx));
                }
                Extern::Global(g) => {
                    keepalive.push(g.owner.clone());
                    fill.push((layout.global_ptr(ng), g.ptr));
                    ng += 1;
                }
                Extern::Memory(mem) => {
                    keepalive.push(mem.owner.clone());
                    let o = &mem.owner;
                    fill.push((
                        layout.memory_ptr(memories.len() as u32),
                        o.field::<u8>(o.module.layout().memory_def(0)) as usize,
                    ));
                    memories.push(Owned {
                        owner: Arc::as_ptr(o),
                        defined: 0,
                    });
                }
                Extern::Table(t) => {
                    keepalive.push(t.owner.clone());
                    fill.push((
                        layout.table_ptr(tables.len() as u32),
                        t.owner.table_def_ptr(t.defined) as usize,
                    ));
                    tables.push(Owned {
                        owner: Arc::as_ptr(&t.owner),
                        defined: t.defined,
                    });
                }
            }
        }

        let state = Arc::new_cyclic(|weak: &std::sync::Weak<InstanceState>| {
            let me = weak.as_ptr();
            for d in 0..data.memories.len() as u32 {
                memories.push(Owned {
                    owner: me,
                    defined: d,
                });
            }
            for d in 0..data.tables.len() as u32 {
                tables.push(Owned {
                    owner: me,
                    defined: d,
                });
            }
            InstanceState {
                module: module.clone(),
                slot,
                vmctx,
                _vmctx_area: vmctx_area,
                control: RunControl::new(),
                heap_max,
                memories,
                tables,
                mutable: UnsafeCell::new(Mutable {
                    tables: Vec::new(),
                    dropped_data: Vec::new(),
                    dropped_elems: Vec::new(),
                    context: None,
                    dependents: Vec::new(),
                    suspended: None,
                    deadline: None,
                    armed: None,
                }),
                _keepalive: keepalive,
            }
        });
        let st = &*state;
        // SAFETY: every offset is from the module's layout, inside the
        // slot's vmctx area, which is mapped read-write.
        unsafe {
            let put = |off: i32, v: usize| *(st.field::<usize>(off)) = v;
            put(VmctxOffsets::INSTANCE, Arc::as_ptr(&state) as usize);
            put(VmctxOffsets::BUILTINS, builtins::table() as usize);
            put(VmctxOffsets::SIG_IDS, module.sig_ids().as_ptr() as usize);
            put(
                VmctxOffsets::RUN_LIMITS,
                &st.control.limits as *const _ as usize,
            );
            for (off, v) in fill {
                put(off, v);
            }
            if !data.memories.is_empty() {
                let def = layout.memory_def(0);
                put(def + memory_def::BASE, st.slot.heap_base() as usize);
                put(def + memory_def::LENGTH, 0);
                put(
                    layout.memory_ptr(data.num_imported_memories()),
                    st.field::<u8>(def) as usize,
                );
            }
            let imported_tables = data.num_imported_tables();
            for d in 0..data.tables.len() as u32 {
                put(
                    layout.table_ptr(imported_tables + d),
                    st.table_def_ptr(d) as usize,
                );
            }
        }
        // An importer of a table (or a reference-typed global) may store
        // references to its own functions there, even if its
        // instantiation then fails: the exporter keeps it alive. (Such
        // instances form a cycle and are never freed; sharing tables is
        // rare outside test suites.)
        for item in &resolved {
            let owner = match item {
                Extern::Table(t) => Some(t.owner.clone()),
                Extern::Global(g) if g.ty.ty.is_ref() => {
                    g.owner.clone().downcast::<InstanceState>().ok()
                }
                _ => None,
            };
            if let Some(owner) = owner {
                // SAFETY: instantiation runs on one thread; the exporter's
                // dependents list is only touched here.
                unsafe { owner.mutable().dependents.push(state.clone()) };
            }
        }
        let mut instance = Instance { state };
        instance.state.initialize()?;
        if let Some(start) = data.start {
            instance.call_index(start, &[])?;
        }
        Ok(instance)
    }

    /// The module this is an instance of.
    pub fn module(&self) -> &Arc<Module> {
        &self.state.module
    }

    /// Call exported function `name` with `args`.
    ///
    /// A hostcall awaiting a future is waited for on this thread. If a
    /// hostcall yields, the call stays suspended and this returns
    /// [`Error::Yielded`]; continue it with [`Instance::resume`].
    pub fn run(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        match self.run_resumable(name, args)? {
            RunResult::Returned(v) => Ok(v),
            RunResult::Yielded(v) => Err(Error::Yielded(v)),
        }
    }

    /// Call exported function `name`, returning when it returns or when a
    /// hostcall yields a value to the host.
    pub fn run_resumable(&mut self, name: &str, args: &[Val]) -> Result<RunResult, Error> {
        let index = self.export_func_index(name)?;
        self.start(index, args).map_err(|err| match err {
            Error::ArgumentMismatch { reason, .. } => Error::ArgumentMismatch {
                name: name.into(),
                reason,
            },
            other => other,
        })?;
        self.drive(ResumeWith::Start)
    }

    /// Continue a call suspended by a yielding hostcall, which receives `val`.
    pub fn resume(&mut self, val: Val) -> Result<RunResult, Error> {
        // SAFETY: `&mut self`: the instance is not running.
        let m = unsafe { self.state.mutable() };
        match &m.suspended {
            Some(s) if s.awaiting.is_none() => self.drive(ResumeWith::Value(val)),
            _ => Err(Error::InvalidState("no yielded call to resume".into())),
        }
    }

    /// Whether a call is suspended, waiting for [`Instance::resume`].
    pub fn is_suspended(&self) -> bool {
        // SAFETY: reading a flag the running thread alone writes; `&self`
        // means no run is in progress on another thread through `&mut`.
        unsafe { self.state.mutable().suspended.is_some() }
    }

    /// Call exported function `name` as a future: hostcalls that await
    /// futures (see [`Func::wrap_async`](crate::Func::wrap_async)) suspend
    /// the guest instead of blocking the thread, and the returned future is
    /// pending until theirs are ready.
    pub fn run_async<'a>(
        &'a mut self,
        name: &str,
        args: &[Val],
    ) -> impl std::future::Future<Output = Result<Vec<Val>, Error>> + Send + 'a {
        let started = self
            .export_func_index(name)
            .and_then(|index| self.start(index, args));
        AsyncRun {
            instance: self,
            started: Some(started),
        }
    }

    fn export_func_index(&self, name: &str) -> Result<u32, Error> {
        self.state
            .module
            .data()
            .export(name)
            .filter(|e| e.kind == ExportKind::Func)
            .map(|e| e.index)
            .ok_or_else(|| Error::NoSuchExport {
                kind: "function",
                name: name.into(),
            })
    }

    /// Call function `index` to completion (start functions).
    fn call_index(&mut self, index: u32, args: &[Val]) -> Result<Vec<Val>, Error> {
        self.start(index, args)?;
        match self.drive(ResumeWith::Start)? {
            RunResult::Returned(v) => Ok(v),
            RunResult::Yielded(v) => Err(Error::Yielded(v)),
        }
    }

    /// Set up a call of function `index` as a suspended execution.
    fn start(&mut self, index: u32, args: &[Val]) -> Result<(), Error> {
        let st = &*self.state;
        // SAFETY: `&mut self`: the instance is not running.
        if unsafe { st.mutable().suspended.is_some() } {
            return Err(Error::InvalidState(
                "a call is suspended: resume it, or reset the instance".into(),
            ));
        }
        let data = st.module.data();
        let type_index = data
            .func_type_index(index)
            .expect("validated function index");
        let ty = &data.types[type_index as usize];
        if args.len() != ty.params.len() || args.iter().zip(&ty.params).any(|(a, t)| a.ty() != *t) {
            let given: Vec<String> = args.iter().map(|a| a.ty().to_string()).collect();
            return Err(Error::ArgumentMismatch {
                name: format!("function {index}"),
                reason: format!("expected {ty}, given ({})", given.join(" ")),
            });
        }
        let imported = data.num_imported_funcs();
        let (code, callee_vmctx) = if index < imported {
            let pair = st.field::<u8>(st.module.layout().imported_func(index));
            // SAFETY: filled at instantiation.
            unsafe {
                (
                    *(pair.offset(imported_func::CODE as isize) as *const usize),
                    *(pair.offset(imported_func::VMCTX as isize) as *const usize),
                )
            }
        } else {
            (st.module.function_addr(index - imported), st.vmctx as usize)
        };
        let trampoline = st.module.entry_trampoline(type_index);
        let mut values: Box<[u128]> = vec![0; ty.params.len().max(ty.results.len()).max(1)].into();
        for (slot, a) in values.iter_mut().zip(args) {
            *slot = a.to_raw();
        }
        let guard = st.slot.stack_guard();
        let stack = SlotStack {
            top: st.slot.stack_top(),
            bottom: guard.0,
        };
        let limits_ptr = &st.control.limits as *const _ as usize;
        // SAFETY: the callee vmctx (ours, another instance's, or a host
        // record) has a writable run-limits field at RUN_LIMITS.
        unsafe {
            *((callee_vmctx as *mut u8).offset(VmctxOffsets::RUN_LIMITS as isize) as *mut usize) =
                limits_ptr;
        }
        let caller_vmctx = st.vmctx as usize;
        let values_ptr = values.as_mut_ptr() as usize;
        let heap = (
            st.slot.heap_base() as usize,
            st.slot.heap_base() as usize + st.slot.heap_reservation(),
        );
        let exec = Execution::new(stack, guard, heap, st.control.clone(), move || {
            // SAFETY: the trampoline has the entry signature for this type,
            // `code` is a function of that type, the vmctx pointers are live
            // and `values` (kept in the Suspended record) has room for every
            // argument and result.
            unsafe {
                let f: extern "C" fn(usize, usize, usize, usize) = std::mem::transmute(trampoline);
                f(code, callee_vmctx, caller_vmctx, values_ptr);
            }
        });
        // The run begins: a clean slate of limits, and its own deadline.
        let run = st
            .control
            .begin(st.slot.stack_bottom() + st.slot.limits().hostcall_stack_reserve);
        // SAFETY: `&mut self`: the instance is not running.
        let m = unsafe { st.mutable() };
        m.armed = m
            .deadline
            .map(|limit| crate::watchdog::arm(&st.control, run, limit));
        m.suspended = Some(Suspended {
            exec,
            values,
            results: ty.results.clone(),
            awaiting: None,
        });
        Ok(())
    }

    /// Resume the suspended execution until it returns, traps, ends or
    /// yields; futures it awaits are waited for on this thread.
    fn drive(&mut self, mut input: ResumeWith) -> Result<RunResult, Error> {
        loop {
            match self.step(input)? {
                Some(r) => return Ok(r),
                None => {
                    // SAFETY: `&mut self`: the guest is suspended.
                    let m = unsafe { self.state.mutable() };
                    let fut = m
                        .suspended
                        .as_mut()
                        .and_then(|s| s.awaiting.take())
                        .expect("an awaiting call has a future");
                    input = ResumeWith::Ready(crate::block_on::block_on(fut, &self.state.control));
                }
            }
        }
    }

    /// One resume. `Ok(None)`: the guest awaits the future now stored in
    /// the Suspended record.
    fn step(&mut self, input: ResumeWith) -> Result<Option<RunResult>, Error> {
        let st = &*self.state;
        // SAFETY: `&mut self`: the instance is not running.
        let m = unsafe { st.mutable() };
        let s = m
            .suspended
            .as_mut()
            .ok_or_else(|| Error::InvalidState("no call in progress".into()))?;
        let outcome = s.exec.resume(input);
        let result = match outcome {
            Step::Yielded(v) => return Ok(Some(RunResult::Yielded(v))),
            Step::Await(f) => {
                s.awaiting = Some(f);
                return Ok(None);
            }
            Step::Returned => Ok(RunResult::Returned(
                s.results
                    .iter()
                    .zip(s.values.iter())
                    .map(|(t, raw)| Val::from_raw(*t, *raw))
                    .collect(),
            )),
            Step::Trapped(rec) => Err(self.trap_error(rec)),
            Step::Ended(e) => Err(e),
        };
        // The call is over.
        m.suspended = None;
        st.end_run();
        result.map(Some)
    }

    /// Poll the future the suspended guest awaits; what to resume it with
    /// once it is ready, or at once if the run was stopped (the future is
    /// then abandoned and the hostcall ends the run).
    fn poll_awaited(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<ResumeWith, Error>> {
        use std::task::Poll;
        // SAFETY: `&mut self`: the guest is suspended, not running.
        let m = unsafe { self.state.mutable() };
        let Some(s) = m.suspended.as_mut() else {
            return Poll::Ready(Err(Error::InvalidState("polled after completion".into())));
        };
        let Some(fut) = s.awaiting.as_mut() else {
            return Poll::Ready(Err(Error::InvalidState("no future awaited".into())));
        };
        let ready = match self.state.control.set_waker(cx.waker()) {
            Err(why) => Err(Error::Terminated(why)),
            Ok(()) => match fut.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            },
        };
        s.awaiting = None;
        Poll::Ready(Ok(ResumeWith::Ready(ready)))
    }

    fn trap_error(&self, rec: crate::execute::TrapRecord) -> Error {
        let st = &self.state;
        if rec.code == TrapCode::Interrupt {
            let limits = &st.control.limits;
            let budget = limits.instruction_budget.load(Ordering::Relaxed);
            return Error::Terminated(match st.control.stopped() {
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

    /// Stop every run that lasts longer than `deadline` (wall-clock time
    /// from its start, suspensions included) with [`Error::Terminated`].
    /// `None` removes the deadline.
    pub fn set_deadline(&mut self, deadline: Option<Duration>) {
        // SAFETY: `&mut self`: the instance is not running.
        unsafe { self.state.mutable().deadline = deadline };
    }

    /// Limit runs to `budget` executed wasm instructions (modules compiled
    /// with instruction counting only; others ignore it). `None` removes it.
    pub fn set_instruction_budget(&mut self, budget: Option<u64>) {
        self.state
            .control
            .limits
            .instruction_budget
            .store(budget.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Wasm instructions the last (or current) run executed, for modules
    /// compiled with instruction counting.
    pub fn instruction_count(&self) -> u64 {
        self.state
            .control
            .limits
            .instruction_count
            .load(Ordering::Relaxed)
    }

    /// Bring the instance back to its freshly instantiated state: memory
    /// zeroed and re-initialized, globals, tables and segments reset, start
    /// function run again. Imported state is not reset.
    pub fn reset(&mut self) -> Result<(), Error> {
        // SAFETY: `&mut self`: the instance is not running. A suspended
        // call is abandoned, and its run with it.
        if unsafe { self.state.mutable().suspended.take() }.is_some() {
            self.state.end_run();
        }
        self.state.slot.heap_clean()?;
        self.state.initialize()?;
        if let Some(start) = self.state.module.data().start {
            self.call_index(start, &[])?;
        }
        Ok(())
    }

    /// A handle another thread can use to stop this instance's runs.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        InterruptHandle {
            control: self.state.control.clone(),
        }
    }

    /// Set the embedder's per-instance context, readable by hostcalls
    /// through [`Caller::context`](crate::Caller::context).
    pub fn set_context<T: Any + Send>(&mut self, ctx: T) {
        // SAFETY: `&mut self`: the instance is not running.
        unsafe { self.state.mutable().context = Some(Box::new(ctx)) };
    }

    /// The embedder's context of type `T`, if set.
    pub fn context_mut<T: Any + Send>(&mut self) -> Option<&mut T> {
        // SAFETY: `&mut self`: the instance is not running.
        unsafe { self.state.context_mut() }
    }

    /// Remove and return the embedder's context of type `T`.
    pub fn take_context<T: Any + Send>(&mut self) -> Option<T> {
        // SAFETY: `&mut self`: the instance is not running.
        let m = unsafe { self.state.mutable() };
        match m.context.take()?.downcast::<T>() {
            Ok(b) => Some(*b),
            Err(other) => {
                m.context = Some(other);
                None
            }
        }
    }

    /// The instance's linear memory (empty if it has none).
    pub fn memory(&mut self) -> &mut [u8] {
        // SAFETY: `&mut self`: the guest is not running.
        unsafe { self.state.memory_slice() }
    }

    /// Names of all exports.
    pub fn export_names(&self) -> Vec<String> {
        self.state
            .module
            .data()
            .exports
            .iter()
            .map(|e| e.name.clone())
            .collect()
    }

    /// The value of exported global `name`.
    pub fn global(&self, name: &str) -> Result<Val, Error> {
        match self.get_export(name) {
            Some(Extern::Global(g)) => Ok(g.get()),
            _ => Err(Error::NoSuchExport {
                kind: "global",
                name: name.into(),
            }),
        }
    }

    /// Export `name`, to bind into another instance's imports.
    pub fn get_export(&self, name: &str) -> Option<Extern> {
        let st = &self.state;
        let data = st.module.data();
        let e = data.export(name)?;
        Some(match e.kind {
            ExportKind::Func => {
                let ty = data.func_type(e.index)?.clone();
                let imported = data.num_imported_funcs();
                let (code, vmctx) = if e.index < imported {
                    let pair = st.field::<u8>(st.module.layout().imported_func(e.index));
                    // SAFETY: filled at instantiation.
                    unsafe {
                        (
                            *(pair.offset(imported_func::CODE as isize) as *const usize),
                            *(pair.offset(imported_func::VMCTX as isize) as *const usize),
                        )
                    }
                } else {
                    (
                        st.module.function_addr(e.index - imported),
                        st.vmctx as usize,
                    )
                };
                Extern::Func(Func {
                    kind: FuncKind::Guest {
                        code,
                        vmctx,
                        ty,
                        owner: st.clone(),
                    },
                })
            }
            ExportKind::Global => Extern::Global(Global {
                ptr: st.global_ptr(e.index) as usize,
                ty: data.global_type(e.index)?,
                owner: st.clone(),
            }),
            ExportKind::Memory => Extern::Memory(Memory {
                owner: owner_arc(st.memory_owner(e.index), st),
            }),
            ExportKind::Table => {
                let (owner, defined) = st.table_owner(e.index);
                Extern::Table(Table {
                    owner: owner_arc(owner, st),
                    defined,
                })
            }
        })
    }
}

/// An `Arc` to `owner`, which is `st` itself or a state `st` keeps alive.
fn owner_arc(owner: &InstanceState, st: &Arc<InstanceState>) -> Arc<InstanceState> {
    if std::ptr::eq(owner, &**st) {
        return st.clone();
    }
    for k in &st._keepalive {
        if let Ok(other) = k.clone().downcast::<InstanceState>() {
            if std::ptr::eq(owner, &*other) {
                return other;
            }
        }
    }
    st.clone()
}

/// The future behind [`Instance::run_async`].
struct AsyncRun<'a> {
    instance: &'a mut Instance,
    started: Option<Result<(), Error>>,
}

impl std::future::Future for AsyncRun<'_> {
    type Output = Result<Vec<Val>, Error>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let mut input = match self.started.take() {
            Some(Err(e)) => return Poll::Ready(Err(e)),
            Some(Ok(())) => ResumeWith::Start,
            None => match self.instance.poll_awaited(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(r)) => r,
            },
        };
        loop {
            match self.instance.step(input) {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(Some(RunResult::Returned(v))) => return Poll::Ready(Ok(v)),
                Ok(Some(RunResult::Yielded(v))) => return Poll::Ready(Err(Error::Yielded(v))),
                Ok(None) => match self.instance.poll_awaited(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(r)) => input = r,
                },
            }
        }
    }
}
