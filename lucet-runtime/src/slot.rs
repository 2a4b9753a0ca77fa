//! The memory of one instance: one reservation holding its stack, its vmctx
//! state and its heap.
//!
//! ```text
//!  low ┌───────────────┐
//!      │ guard page    │ PROT_NONE: stack overflow faults here
//!      │ stack         │ read-write, grows down from the top
//!      │ vmctx state   │ read-write, ends at vmctx
//!      ├───────────────┤ vmctx == heap base (page aligned)
//!      │ heap          │ read-write up to the current memory size
//!      │ rest of the   │ PROT_NONE: any u32 index + offset lands in the
//!      │ reservation + │ reservation or the guard, so out-of-bounds
//!      │ guard         │ accesses fault instead of needing checks
//! high └───────────────┘
//! ```
//! Three mappings per slot at most (the kernel merges neighbours of equal
//! protection), which matters against `vm.max_map_count`.

use crate::Error;
use std::ptr;

/// Page size assumed for protections (x86-64 Linux).
pub const PAGE_SIZE: usize = 4096;

fn round_up(n: usize) -> usize {
    (n + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// One instance's reserved address space.
pub struct Slot {
    base: *mut u8,
    len: usize,
    stack_bottom: *mut u8,
    stack_top: *mut u8,
    heap_base: *mut u8,
    heap_reservation: usize,
}

// SAFETY: a Slot is plain memory owned by one instance.
unsafe impl Send for Slot {}
// SAFETY: as above; concurrent access is governed by the instance.
unsafe impl Sync for Slot {}

impl Slot {
    /// Reserve a slot with `stack` bytes of stack, `vmctx` bytes of state
    /// below the heap base, and `heap` bytes of heap reservation + guard.
    pub fn new(stack: usize, vmctx: usize, heap: usize) -> Result<Slot, Error> {
        let stack = round_up(stack);
        let vmctx = round_up(vmctx.max(1));
        let heap = round_up(heap);
        let len = PAGE_SIZE + stack + vmctx + heap;
        // SAFETY: an anonymous PROT_NONE reservation; nothing is accessed.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::last_os("reserving instance address space"));
        }
        let base = base as *mut u8;
        // SAFETY: all offsets are within the reservation of `len` bytes.
        let (stack_bottom, stack_top, heap_base) = unsafe {
            let stack_bottom = base.add(PAGE_SIZE);
            (stack_bottom, stack_bottom.add(stack), stack_bottom.add(stack + vmctx))
        };
        let slot = Slot {
            base,
            len,
            stack_bottom,
            stack_top,
            heap_base,
            heap_reservation: heap,
        };
        slot.protect(stack_bottom, stack + vmctx, libc::PROT_READ | libc::PROT_WRITE)?;
        Ok(slot)
    }

    fn protect(&self, start: *mut u8, len: usize, prot: i32) -> Result<(), Error> {
        if len == 0 {
            return Ok(());
        }
        // SAFETY: callers pass ranges inside this slot's reservation.
        if unsafe { libc::mprotect(start as *mut libc::c_void, len, prot) } != 0 {
            return Err(Error::last_os("mprotect"));
        }
        Ok(())
    }

    /// Lowest usable stack address.
    pub fn stack_bottom(&self) -> usize {
        self.stack_bottom as usize
    }

    /// One past the highest stack address.
    pub fn stack_top(&self) -> usize {
        self.stack_top as usize
    }

    /// The stack's guard page.
    pub fn stack_guard(&self) -> (usize, usize) {
        (self.base as usize, self.stack_bottom as usize)
    }

    /// The heap base, which is also the vmctx.
    pub fn heap_base(&self) -> *mut u8 {
        self.heap_base
    }

    /// Bytes of heap reservation including the guard.
    pub fn heap_reservation(&self) -> usize {
        self.heap_reservation
    }

    /// Make heap bytes `[from, to)` accessible.
    pub fn heap_grow(&self, from: usize, to: usize) -> Result<(), Error> {
        debug_assert!(from <= to && to <= self.heap_reservation);
        // SAFETY: within the reservation, as asserted by the caller's checks.
        let start = unsafe { self.heap_base.add(from) };
        self.protect(start, to - from, libc::PROT_READ | libc::PROT_WRITE)
    }

    /// Zero the heap and make only its first `accessible` bytes accessible,
    /// discarding the pages (the kernel hands back zero pages on touch).
    pub fn heap_reset(&self, current: usize, accessible: usize) -> Result<(), Error> {
        if current > 0 {
            // SAFETY: the range is inside the heap reservation.
            let r = unsafe {
                libc::madvise(self.heap_base as *mut libc::c_void, current, libc::MADV_DONTNEED)
            };
            if r != 0 {
                return Err(Error::last_os("madvise"));
            }
        }
        if current > accessible {
            // SAFETY: the range is inside the heap reservation.
            let start = unsafe { self.heap_base.add(accessible) };
            self.protect(start, current - accessible, libc::PROT_NONE)?;
        } else {
            self.heap_grow(current, accessible)?;
        }
        Ok(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // SAFETY: the reservation is ours and nothing refers into it anymore.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}
