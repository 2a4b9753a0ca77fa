//! Making an instance: checking the module fits the limits, binding and
//! type-checking every import, filling in the vmctx, and initializing
//! memory, globals, tables and segments.

use crate::domain::Domain;
use crate::domain_id::DomainId;
use crate::error::Error;
use crate::externs::{Extern, FuncKind};
use crate::limits::Limits;
use crate::linker::Linker;
use crate::module::Module;
use crate::trap::Trap;
use crate::vm::builtins;
use crate::vm::const_eval;
use crate::vm::extra_heap::ExtraHeap;
use crate::vm::instance_state::{InstanceState, Mutable, Owned, StartCell, StartState, VmctxArea};
use crate::vm::region::Region;
use lucet_module::{
    funcref, imported_func, memory_def, GlobalType, HeapType, ImportKind, RefType, SegmentMode,
    TrapCode, ValType, VmctxOffsets,
};
use std::any::Any;
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::Arc;

fn mismatch(module: &str, field: &str, reason: String) -> Error {
    Error::ImportMismatch {
        module: module.into(),
        field: field.into(),
        reason,
    }
}

/// An active segment's offset, from its constant expression's value (raw
/// bits, of which an offset uses the low 64): an `i32` (low 32 bits,
/// unsigned) or, for a 64-bit memory or table, an `i64`; `usize::MAX`
/// (never in bounds) if it does not fit the address space.
fn segment_offset(value: u64, index64: bool) -> usize {
    let v = if index64 {
        value
    } else {
        u64::from(value as u32)
    };
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn limits_match(min: u64, max: Option<u64>, want_min: u64, want_max: Option<u64>) -> bool {
    min >= want_min
        && match want_max {
            None => true,
            Some(wm) => max.is_some_and(|m| m <= wm),
        }
}

/// Refuse a module that can never fit `limits`, naming what and by how much.
fn check_limits(module: &Module, limits: &Limits) -> Result<(), Error> {
    let data = module.data();
    let layout = module.layout();
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
    if let Some(spec) = data.heap_spec() {
        let needed = spec.reserved_size.saturating_add(spec.guard_size);
        if needed > limits.heap_address_space_size {
            return Err(Error::LimitExceeded(format!(
                "module was compiled for {needed} bytes of heap address space, the limit is {}",
                limits.heap_address_space_size
            )));
        }
    }
    // Every defined memory is held to the heap limit.
    let imported = data.num_imported_memories();
    for d in 0..data.memories.len() as u32 {
        let Some(spec) = data.heap_spec_of(imported + d) else {
            continue;
        };
        if spec.initial_bytes() > limits.heap_memory_size {
            return Err(Error::LimitExceeded(format!(
                "initial memory of {} pages exceeds the heap limit of {} bytes",
                spec.initial_pages, limits.heap_memory_size
            )));
        }
    }
    Ok(())
}

/// The exact type of a reference of type `ty` in `module` (`exact`, or
/// the nullable abstract type), with a concrete function type numbered by
/// the runtime's signature ids, so that two modules' types compare;
/// `None` if `ty` is not a reference.
pub(crate) fn canonical_ref(
    module: &Module,
    ty: ValType,
    exact: Option<RefType>,
) -> Option<RefType> {
    let r = exact.or_else(|| RefType::of(ty))?;
    Some(match r.heap {
        HeapType::Concrete(t) => RefType {
            heap: HeapType::Concrete(
                module
                    .sig_ids()
                    .get(t as usize)
                    .copied()
                    .unwrap_or(u32::MAX),
            ),
            ..r
        },
        _ => r,
    })
}

/// Whether a global of (canonical) type `have` satisfies an import of
/// `want`: a mutable one has exactly that type, an immutable one may hold
/// a subtype.
fn global_matches(have: GlobalType, want: GlobalType) -> bool {
    let refs = match (have.ref_type.or(RefType::of(have.ty)), want.ref_type) {
        (Some(h), Some(w)) if want.mutable => h == w,
        (Some(h), Some(w)) => h.is_subtype_of(w),
        (None, None) => true,
        _ => false,
    };
    have.ty == want.ty && have.mutable == want.mutable && refs
}

/// Find every import's binding and check its type; items of a domain must
/// be of `domain`.
fn resolve<'l>(
    module: &Module,
    linker: &'l Linker,
    domain: DomainId,
) -> Result<Vec<&'l Extern>, Error> {
    let data = module.data();
    let mut resolved = Vec::with_capacity(data.imports.len());
    for import in &data.imports {
        let (m, f) = (import.module.as_str(), import.field.as_str());
        let item = linker.get(m, f).ok_or_else(|| Error::MissingImport {
            module: m.into(),
            field: f.into(),
        })?;
        if item.domain().is_some_and(|d| d != domain) {
            return Err(mismatch(
                m,
                f,
                format!(
                    "the {} belongs to another store: an instance can only import \
                     from instances of its own store",
                    item.kind_name()
                ),
            ));
        }
        match (&import.kind, item) {
            (ImportKind::Func(t), Extern::Func(func)) => {
                let want = &data.types[*t as usize];
                if func.ty() != want {
                    return Err(mismatch(
                        m,
                        f,
                        format!("expected {want}, found {}", func.ty()),
                    ));
                }
            }
            (ImportKind::Global(want), Extern::Global(g)) => {
                let want = GlobalType {
                    ref_type: canonical_ref(module, want.ty, want.ref_type),
                    ..*want
                };
                if !global_matches(g.ty, want) {
                    return Err(mismatch(
                        m,
                        f,
                        format!("expected {want:?}, found {:?}", g.ty),
                    ));
                }
            }
            (ImportKind::Memory(want), Extern::Memory(mem)) => {
                // SAFETY: the memory's domain is `domain`, which the caller
                // holds and which keeps the owner alive.
                let owner = unsafe { mem.owner() };
                // This module's code reaches the memory unchecked as far as
                // it was compiled to assume reserved and guarded; the
                // exporter's slot must back all of it, or those accesses
                // land in the next slot.
                let assumed = data
                    .options
                    .heap_reserved_size
                    .saturating_add(data.options.heap_guard_size);
                let backed = owner.memory_reservation(mem.defined) as u64;
                if assumed > backed {
                    return Err(Error::LimitExceeded(format!(
                        "imported memory {m}.{f}: the module was compiled for {assumed} bytes \
                         of heap address space (reservation and guard), the exporter's slot \
                         backs {backed}"
                    )));
                }
                let have = owner.memory_type_now(mem.defined);
                if have.memory64 != want.memory64
                    || !limits_match(
                        have.min_pages,
                        have.max_pages,
                        want.min_pages,
                        want.max_pages,
                    )
                {
                    return Err(mismatch(m, f, format!("expected {want:?}, found {have:?}")));
                }
            }
            (ImportKind::Tag(t), Extern::Tag(tag)) => {
                let want = &data.types[*t as usize];
                if tag.ty() != want {
                    return Err(mismatch(
                        m,
                        f,
                        format!("expected a tag of {want}, found one of {}", tag.ty()),
                    ));
                }
            }
            (ImportKind::Table(want), Extern::Table(t)) => {
                // SAFETY: as for memories.
                let owner = unsafe { t.owner() };
                let have = owner.table_type_now(t.defined);
                // Tables are read and written: the element types must be
                // the same.
                if canonical_ref(&owner.module, have.elem, have.ref_type)
                    != canonical_ref(module, want.elem, want.ref_type)
                    || have.elem != want.elem
                    || have.table64 != want.table64
                    || !limits_match(
                        have.min as u64,
                        have.max.map(u64::from),
                        want.min as u64,
                        want.max.map(u64::from),
                    )
                {
                    return Err(mismatch(m, f, format!("expected {want:?}, found {have:?}")));
                }
            }
            _ => {
                return Err(mismatch(
                    m,
                    f,
                    format!("expected {:?}, found a {}", import.kind, item.kind_name()),
                ))
            }
        }
        resolved.push(item);
    }
    Ok(resolved)
}

/// Create an instance of `module` in a slot of `region`, in `domain`, with
/// imports bound from `linker`, in a box of its own. Its vmctx is filled in
/// but for what points back at the state itself, which [`place`] writes;
/// its memory, globals and tables are not initialized yet (see
/// [`initialize`]).
pub(crate) fn create(
    region: &Region,
    module: &Arc<Module>,
    linker: &Linker,
    domain: &Domain,
    in_store: bool,
) -> Result<Box<InstanceState>, Error> {
    let mut state = Box::new_uninit();
    create_in(&mut state, region, module, linker, domain, in_store)?;
    // SAFETY: `create_in` returned `Ok`, so it wrote the state.
    Ok(unsafe { state.assume_init() })
}

/// [`create`], writing the state into `out` (where the caller means it to
/// stay) instead of returning it: an `InstanceState` is a few hundred
/// bytes, and copying it into its box was a tenth of an instantiation.
/// `out` is initialized exactly when this returns `Ok`.
pub(crate) fn create_in(
    out: &mut MaybeUninit<InstanceState>,
    region: &Region,
    module: &Arc<Module>,
    linker: &Linker,
    domain: &Domain,
    in_store: bool,
) -> Result<(), Error> {
    let limits = *region.limits();
    check_limits(module, &limits)?;
    let data = module.data();
    let layout = *module.layout();
    // Resolve imports before touching memory.
    let resolved = resolve(module, linker, domain.id)?;

    let slot = region.take_slot(Arc::as_ptr(module) as usize)?;
    let vmctx_area = VmctxArea::new(layout.size() as usize)?;
    let vmctx = vmctx_area.vmctx();
    let mut keepalive: Vec<Arc<dyn Any + Send + Sync>> = Vec::new();
    let mut memories = Vec::with_capacity(data.num_memories() as usize);
    let mut tables = Vec::with_capacity(data.num_tables() as usize);
    let mut fill: Vec<(i32, usize)> = Vec::with_capacity(2 * resolved.len());
    let (mut nf, mut ng, mut nt) = (0u32, 0u32, 0u32);
    for item in &resolved {
        match item {
            Extern::Func(func) => {
                let off = layout.imported_func(nf);
                let (code, cvmctx) = match &func.kind {
                    FuncKind::Host(rec) => {
                        keepalive.push(rec.clone());
                        // Host functions are called through this module's
                        // trampoline for their type.
                        let t = data.func_type_index(nf).unwrap_or(0);
                        (module.host_trampoline(t), rec.vmctx())
                    }
                    FuncKind::Guest { code, vmctx, .. } => (*code, *vmctx),
                };
                nf += 1;
                fill.push((off + imported_func::CODE, code));
                fill.push((off + imported_func::VMCTX, cvmctx));
            }
            Extern::Global(g) => {
                if let Some(h) = g.host() {
                    keepalive.push(h);
                }
                fill.push((layout.global_ptr(ng), g.storage(domain.id)?));
                ng += 1;
            }
            Extern::Memory(mem) => {
                // SAFETY: checked to be of `domain` by `resolve`.
                let o = unsafe { mem.owner() };
                fill.push((
                    layout.memory_ptr(memories.len() as u32),
                    o.field::<u8>(o.module.layout().memory_def(mem.defined)) as usize,
                ));
                memories.push(Owned {
                    owner: o,
                    defined: mem.defined,
                });
            }
            Extern::Tag(tag) => {
                if let Some(h) = tag.host() {
                    keepalive.push(h);
                }
                fill.push((layout.tag_ptr(nt), tag.identity()));
                nt += 1;
            }
            Extern::Table(t) => {
                // SAFETY: checked to be of `domain` by `resolve`.
                let o = unsafe { t.owner() };
                fill.push((
                    layout.table_ptr(tables.len() as u32),
                    o.table_def_ptr(t.defined) as usize,
                ));
                tables.push(Owned {
                    owner: o,
                    defined: t.defined,
                });
            }
        }
    }

    // Defined memories after the first get reservations of their own, as
    // large as the code assumes. (A plain loop: this is every
    // instantiation's path, and most modules have one memory or none.)
    let mut extra_heaps = Vec::new();
    if data.memories.len() > 1 {
        let span = data
            .options
            .heap_reserved_size
            .saturating_add(data.options.heap_guard_size);
        let span = usize::try_from(span)
            .map_err(|_| Error::LimitExceeded(format!("a reservation of {span} bytes")))?;
        for _ in 1..data.memories.len() {
            extra_heaps.push(ExtraHeap::new(span)?);
        }
    }
    // Nothing below fails: `out` is written exactly when this returns `Ok`.
    let st = out.write(InstanceState {
        module: module.clone(),
        domain: domain.id,
        in_store,
        control: domain.control.clone(),
        slot,
        vmctx,
        _vmctx_area: vmctx_area,
        heap_limit: limits.heap_memory_size,
        memories,
        extra_heaps,
        tables,
        mutable: UnsafeCell::new(Mutable::default()),
        start: StartCell::new(if data.start.is_some() {
            StartState::Pending
        } else {
            StartState::Done
        }),
        _keepalive: keepalive,
    });
    // SAFETY: every offset is from the module's layout, inside the vmctx
    // area, which is allocated read-write and aligned.
    unsafe {
        let put = |off: i32, v: usize| *(st.field::<usize>(off)) = v;
        put(VmctxOffsets::BUILTINS, builtins::table() as usize);
        put(VmctxOffsets::SIG_IDS, module.sig_ids().as_ptr() as usize);
        put(
            VmctxOffsets::RUN_LIMITS,
            &domain.control.limits as *const _ as usize,
        );
        for (off, v) in fill {
            put(off, v);
        }
        let imported_memories = data.num_imported_memories();
        for d in 0..data.memories.len() as u32 {
            let def = layout.memory_def(d);
            let base = match d.checked_sub(1) {
                None => st.slot.heap_base(),
                Some(extra) => st.extra_heaps[extra as usize].base(),
            };
            put(def + memory_def::BASE, base as usize);
            put(def + memory_def::LENGTH, 0);
            put(
                layout.memory_ptr(imported_memories + d),
                st.field::<u8>(def) as usize,
            );
        }
        // A defined tag's identity is the address of its definition.
        let imported_tags = data.num_imported_tags();
        for d in 0..data.tags.len() as u32 {
            put(
                layout.tag_ptr(imported_tags + d),
                st.field::<u8>(layout.tag_def(d)) as usize,
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
    Ok(())
}

/// Point the vmctx and the state's own memories and tables at the state, at
/// the address it will keep for the rest of its life (in a `Box`).
pub(crate) fn place(st: &mut InstanceState) {
    let me: *const InstanceState = st;
    let data = st.module.data();
    for d in 0..data.memories.len() as u32 {
        st.memories.push(Owned {
            owner: me,
            defined: d,
        });
    }
    for d in 0..data.tables.len() as u32 {
        st.tables.push(Owned {
            owner: me,
            defined: d,
        });
    }
    // SAFETY: the INSTANCE field is in the vmctx area's header.
    unsafe { *(st.field::<usize>(VmctxOffsets::INSTANCE)) = me as usize };
}

/// Set defined state to what instantiation produces: memory zeroed and
/// sized, globals, tables, function references and segments initialized.
/// A segment that does not fit is a trap, and leaves earlier ones applied
/// (visible through shared imports).
///
/// The caller holds `st`'s domain exclusively, and the guest is not running.
pub(crate) fn initialize(st: &InstanceState) -> Result<(), Error> {
    let data = st.module.data();
    let layout = st.module.layout();
    let image = st.module.heap_image();
    if let Some(spec) = data.heap_spec() {
        st.slot.heap_setup(image, spec.initial_bytes() as usize)?;
        if st.in_store {
            // Code of a store's other instances may write this heap in
            // their own calls: always assume it written.
            st.slot.mark_touched();
        }
        let def = st.field::<u64>(layout.memory_def(0) + memory_def::LENGTH);
        // SAFETY: the definition lies in this instance's vmctx area.
        unsafe { *def = spec.initial_bytes() };
    }
    // Further memories: fresh zeros, sized, wherever they are mapped now.
    let imported_memories = data.num_imported_memories();
    for (extra, heap) in st.extra_heaps.iter().enumerate() {
        let defined = extra as u32 + 1;
        let initial = data
            .heap_spec_of(imported_memories + defined)
            .map_or(0, |s| s.initial_bytes());
        // SAFETY: the guest is not running and no borrow of the memory is
        // live (the caller holds the domain).
        unsafe { heap.reset()? };
        heap.grow(initial as usize)?;
        let def = layout.memory_def(defined);
        // SAFETY: the definition lies in this instance's vmctx area.
        unsafe {
            *st.field::<usize>(def + memory_def::BASE) = heap.base() as usize;
            *st.field::<u64>(def + memory_def::LENGTH) = initial;
        }
    }
    // Function references of escaping functions, before anything that may
    // refer to them.
    for (slot, &f) in data.escaping_functions.iter().enumerate() {
        let rec = st.field::<u8>(layout.funcref(slot as u32));
        let (code, vmctx) = st.func_code(f);
        let type_index = data
            .func_type_index(f)
            .ok_or_else(|| Error::InvalidState(format!("escaping function {f} has no type")))?;
        let sig = st.module.sig_ids()[type_index as usize];
        // SAFETY: the record lies in the vmctx area.
        unsafe {
            *(rec.offset(funcref::CODE as isize) as *mut usize) = code;
            *(rec.offset(funcref::VMCTX as isize) as *mut usize) = vmctx;
            *(rec.offset(funcref::SIG_ID as isize) as *mut u32) = sig;
        }
    }
    let imported_globals = data.num_imported_globals();
    for (i, g) in data.globals.iter().enumerate() {
        let v = const_eval::eval(st, &g.init)?;
        // SAFETY: the global's 16-byte slot is in the vmctx area.
        unsafe {
            st.global_ptr(imported_globals + i as u32)
                .write_unaligned(v)
        };
    }
    {
        // SAFETY: the caller holds the domain; no other borrow is live.
        let m = unsafe { st.mutable() };
        m.tables = data
            .tables
            .iter()
            .map(|t| vec![0u64; t.min as usize])
            .collect();
    }
    // Tables with an initializer start out filled with it (evaluated with
    // no borrow of the tables live: it may read globals).
    for (d, init) in data.table_inits.iter().enumerate() {
        if let Some(init) = init {
            let v = const_eval::eval(st, init)? as u64;
            // SAFETY: the caller holds the domain; no other borrow is live.
            unsafe { st.mutable() }.tables[d].fill(v);
        }
    }
    {
        // SAFETY: the caller holds the domain; no other borrow is live.
        let m = unsafe { st.mutable() };
        m.dropped_data = vec![false; data.data.len()];
        m.dropped_elems = vec![false; data.elements.len()];
        // An instance of a store keeps its exceptions until the store is
        // dropped: another instance may hold a reference to one.
        if !st.in_store {
            m.exceptions.clear();
        }
    }
    for d in 0..data.tables.len() as u32 {
        // SAFETY: the table vector was just created; no borrow is live.
        unsafe { st.sync_table_def(d) };
    }
    for (i, seg) in data.elements.iter().enumerate() {
        let applied = match &seg.mode {
            SegmentMode::Active { index, offset } => {
                let table64 = data.table_type(*index).is_some_and(|t| t.table64);
                let at = segment_offset(const_eval::eval(st, offset)? as u64, table64);
                let items = const_eval::elem_items(st, &seg.items)?;
                // SAFETY: the domain is held, guest not running, no borrow.
                let (_, table, _) = unsafe { st.table_mut(*index) };
                let end = at.checked_add(items.len()).filter(|e| *e <= table.len());
                let Some(end) = end else {
                    return Err(Error::Trap(Trap::new(TrapCode::TableOutOfBounds)));
                };
                table[at..end].copy_from_slice(&items);
                true
            }
            SegmentMode::Declared => true,
            SegmentMode::Passive => false,
        };
        if applied {
            st.drop_elem(i as u32);
        }
    }
    for (i, seg) in data.data.iter().enumerate() {
        if let SegmentMode::Active { index, offset } = &seg.mode {
            if image.is_none() {
                let memory64 = data.memory_type(*index).is_some_and(|m| m.memory64);
                let at = segment_offset(const_eval::eval(st, offset)? as u64, memory64);
                // Written here, not by guest code: the slot must still be
                // wiped for its next tenant, whether this instance ever
                // runs, traps on a later segment or is dropped unstarted.
                if !seg.bytes.is_empty() {
                    st.memory_owner(*index).0.slot.mark_touched();
                }
                // SAFETY: the domain is held, guest not running, no borrow.
                let mem = unsafe { st.memory_at(*index) };
                let end = at.checked_add(seg.bytes.len()).filter(|e| *e <= mem.len());
                let Some(end) = end else {
                    return Err(Error::Trap(Trap::new(TrapCode::HeapOutOfBounds)));
                };
                mem[at..end].copy_from_slice(&seg.bytes);
            }
            // Applied now, or already in the heap image.
            st.drop_data(i as u32);
        }
    }
    Ok(())
}
