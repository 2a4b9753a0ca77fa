//! Functions compiled code calls for work it does not do inline
//! (see [`lucet_module::abi::Builtin`] for their contract).
//!
//! They run on the guest stack and must not unwind: out-of-bounds accesses
//! return a non-zero status and the generated code raises the trap.
//!
//! # Safety
//! Every builtin is an `unsafe extern "C" fn` with one contract: it is
//! called only by compiled code, with the calling instance's vmctx, during
//! a run of that instance's domain on this thread (so the domain's state is
//! held exclusively and no Rust reference into it is live).

use crate::vm::instance_state::InstanceState;
use lucet_module::abi::Builtin;

/// The table whose address goes into every vmctx.
pub(crate) fn table() -> *const *const () {
    struct Table([*const (); Builtin::COUNT]);
    // SAFETY: function addresses, never written.
    unsafe impl Sync for Table {}
    static TABLE: Table = Table([
        memory_grow as *const (),
        memory_copy as *const (),
        memory_fill as *const (),
        memory_init as *const (),
        data_drop as *const (),
        table_grow as *const (),
        table_copy as *const (),
        table_fill as *const (),
        table_init as *const (),
        elem_drop as *const (),
        exn_alloc as *const (),
        crate::vm::exceptions::lucet_exn_throw as *const (),
    ]);
    TABLE.0.as_ptr()
}

/// The instance whose code called.
///
/// # Safety
/// `vmctx` must be the caller's vmctx, as the module's contract says.
unsafe fn state<'a>(vmctx: *mut u8) -> &'a InstanceState {
    // SAFETY: as the caller promises.
    unsafe { InstanceState::from_vmctx(vmctx) }
}

fn range(start: u64, len: u64, bound: usize) -> Option<std::ops::Range<usize>> {
    let end = start.checked_add(len)?;
    (end <= bound as u64).then_some(start as usize..end as usize)
}

/// Copy `len` items from `src[src_at..]` into `dst[dst_at..]` when both
/// ranges are in bounds: the status a builtin returns (0, or 1 to trap).
fn copy_checked<T: Copy>(dst: &mut [T], dst_at: u64, src: &[T], src_at: u64, len: u64) -> u32 {
    match (range(src_at, len, src.len()), range(dst_at, len, dst.len())) {
        (Some(s), Some(d)) => {
            dst[d].copy_from_slice(&src[s]);
            0
        }
        _ => 1,
    }
}

/// `memory.grow`: the old size in pages, or -1.
///
/// # Safety
/// The builtin contract (see the module docs).
unsafe extern "C" fn memory_grow(vmctx: *mut u8, mem: u32, delta: u64) -> i64 {
    // SAFETY: the builtin contract (see the module docs).
    unsafe {
        state(vmctx)
            .memory_grow(mem, delta)
            .map_or(-1, |old| old as i64)
    }
}

/// `memory.copy`: 0, or 1 if out of bounds.
///
/// # Safety
/// The builtin contract (see the module docs).
unsafe extern "C" fn memory_copy(
    vmctx: *mut u8,
    dst_mem: u32,
    src_mem: u32,
    dst: u64,
    src: u64,
    len: u64,
) -> u32 {
    // SAFETY: the builtin contract (see the module docs).
    let st = unsafe { state(vmctx) };
    // Two memories may be one (imported twice), so no slices: bounds
    // checked, then a copy that allows overlap.
    let (Some((to, to_len)), Some((from, from_len))) =
        (st.memory_of(dst_mem), st.memory_of(src_mem))
    else {
        return 1;
    };
    match (range(src, len, from_len), range(dst, len, to_len)) {
        (Some(s), Some(d)) => {
            // SAFETY: both ranges lie in the accessible part of their
            // memories, and the guest is suspended in this call.
            unsafe { std::ptr::copy(from.add(s.start), to.add(d.start), s.len()) };
            0
        }
        _ => 1,
    }
}

/// `memory.fill`: 0, or 1 if out of bounds.
///
/// # Safety
/// The builtin contract (see the module docs).
unsafe extern "C" fn memory_fill(vmctx: *mut u8, mem: u32, dst: u64, val: u32, len: u64) -> u32 {
    // SAFETY: the builtin contract (see the module docs).
    unsafe {
        let m = state(vmctx).memory_at(mem);
        match range(dst, len, m.len()) {
            Some(d) => {
                m[d].fill(val as u8);
                0
            }
            None => 1,
        }
    }
}

/// `memory.init`: 0, or 1 if out of bounds.
///
/// # Safety
/// The builtin contract (see the module docs).
unsafe extern "C" fn memory_init(
    vmctx: *mut u8,
    mem: u32,
    seg: u32,
    dst: u64,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: the builtin contract (see the module docs).
    unsafe {
        let st = state(vmctx);
        let data = st.data_segment(seg);
        let m = st.memory_at(mem);
        copy_checked(m, dst, data, src.into(), len.into())
    }
}

/// `data.drop`.
///
/// # Safety
/// The builtin contract (see the module docs).
unsafe extern "C" fn data_drop(vmctx: *mut u8, seg: u32) {
    // SAFETY: the builtin contract (see the module docs).
    unsafe {
        state(vmctx).drop_data(seg);
    }
}

/// `table.grow`: the old size, or -1.
///
/// # Safety
/// The builtin contract (see the module docs).
unsafe extern "C" fn table_grow(vmctx: *mut u8, table: u32, delta: u32, init: u64) -> i32 {
    // SAFETY: the builtin contract (see the module docs).
    unsafe {
        state(vmctx)
            .table_grow(table, delta, init)
            .map_or(-1, |old| old as i32)
    }
}

/// `table.copy`: 0, or 1 if out of bounds.
///
/// # Safety
/// The builtin contract (see the module docs).
unsafe extern "C" fn table_copy(
    vmctx: *mut u8,
    dst_t: u32,
    src_t: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: the builtin contract (see the module docs).
    unsafe {
        let st = state(vmctx);
        let src_items: Vec<u64> = {
            let (_, s, _) = st.table_mut(src_t);
            match range(src as u64, len as u64, s.len()) {
                Some(r) => s[r].to_vec(),
                None => return 1,
            }
        };
        let (_, d, _) = st.table_mut(dst_t);
        match range(dst as u64, len as u64, d.len()) {
            Some(r) => {
                d[r].copy_from_slice(&src_items);
                0
            }
            None => 1,
        }
    }
}

/// `table.fill`: 0, or 1 if out of bounds.
///
/// # Safety
/// The builtin contract (see the module docs).
unsafe extern "C" fn table_fill(vmctx: *mut u8, table: u32, dst: u32, val: u64, len: u32) -> u32 {
    // SAFETY: the builtin contract (see the module docs).
    unsafe {
        let (_, t, _) = state(vmctx).table_mut(table);
        match range(dst as u64, len as u64, t.len()) {
            Some(r) => {
                t[r].fill(val);
                0
            }
            None => 1,
        }
    }
}

/// `table.init`: 0, or 1 if out of bounds.
///
/// # Safety
/// The builtin contract (see the module docs).
unsafe extern "C" fn table_init(
    vmctx: *mut u8,
    table: u32,
    seg: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: the builtin contract (see the module docs).
    unsafe {
        let st = state(vmctx);
        let items = match st.elem_segment(seg) {
            Some(items) => match crate::vm::const_eval::elem_items(st, items) {
                Ok(items) => items,
                Err(_) => return 1,
            },
            None => Vec::new(),
        };
        let (_, t, _) = st.table_mut(table);
        copy_checked(t, dst.into(), &items, src.into(), len.into())
    }
}

/// `elem.drop`.
///
/// # Safety
/// The builtin contract (see the module docs).
unsafe extern "C" fn elem_drop(vmctx: *mut u8, seg: u32) {
    // SAFETY: the builtin contract (see the module docs).
    unsafe {
        state(vmctx).drop_elem(seg);
    }
}

/// A new exception of tag `tag`: its record's address, or 0 at the limit.
///
/// # Safety
/// The builtin contract (see the module docs).
unsafe extern "C" fn exn_alloc(vmctx: *mut u8, tag: u32) -> u64 {
    // SAFETY: the builtin contract (see the module docs).
    let st = unsafe { state(vmctx) };
    let data = st.module.data();
    let len = data
        .tag_type_index(tag)
        .and_then(|t| data.types.get(t as usize))
        .map_or(0, |t| t.params.len() as u32);
    // SAFETY: the tag pointer lies in the vmctx area, written at
    // instantiation.
    let identity = unsafe { *st.field::<u64>(st.module.layout().tag_ptr(tag)) };
    // SAFETY: the domain is held by this run; no other borrow is live.
    let store = unsafe { &mut st.mutable().exceptions };
    store
        .alloc(
            identity,
            vmctx as u64,
            tag,
            std::iter::repeat_n(0, len as usize),
        )
        .unwrap_or(0)
}
