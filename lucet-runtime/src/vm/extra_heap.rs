//! The heaps of a module's second and later defined memories
//! (multi-memory).
//!
//! An instance's first defined memory lives in its slot. Each further one
//! gets a reservation of its own, of the same size and guard the code was
//! compiled to assume (so its accesses are checked exactly like the first
//! memory's: by the guard pages, or against the reservation for a 64-bit
//! memory), mapped when the instance is made and unmapped when it is
//! dropped. Reset maps it afresh: a module with several memories pays a
//! map and an unmap per reset, and modules with one memory pay nothing.

use crate::error::Error;
use crate::vm::page::round_up;
use rustix::mm::{mmap_anonymous, mprotect, munmap, MapFlags, MprotectFlags, ProtFlags};
use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;

/// One memory's reservation: `accessible` bytes read-write from `base`,
/// the rest of `reserved` inaccessible.
pub(crate) struct ExtraHeap {
    base: Cell<*mut u8>,
    reserved: usize,
    accessible: Cell<usize>,
}

fn reserve(reserved: usize) -> Result<*mut u8, Error> {
    // SAFETY: a fresh anonymous mapping, at an address the kernel picks.
    let base = unsafe {
        mmap_anonymous(
            ptr::null_mut(),
            reserved,
            ProtFlags::empty(),
            MapFlags::PRIVATE | MapFlags::NORESERVE,
        )
    }
    .map_err(|e| Error::os("mmap (a memory's reservation)", e))?;
    Ok(base.cast())
}

impl ExtraHeap {
    /// Reserve `reserved` bytes (a whole number of pages) with none
    /// accessible.
    pub fn new(reserved: usize) -> Result<ExtraHeap, Error> {
        let reserved = round_up(reserved);
        Ok(ExtraHeap {
            base: Cell::new(reserve(reserved)?),
            reserved,
            accessible: Cell::new(0),
        })
    }

    /// First byte.
    pub fn base(&self) -> *mut u8 {
        self.base.get()
    }

    /// Bytes reserved (accessible or not).
    pub fn reserved(&self) -> usize {
        self.reserved
    }

    /// Make the first `to` bytes accessible (a whole number of wasm pages,
    /// at most the reservation); what was accessible stays as it was.
    pub fn grow(&self, to: usize) -> Result<(), Error> {
        let from = self.accessible.get();
        if to <= from {
            return Ok(());
        }
        if to > self.reserved {
            return Err(Error::LimitExceeded(format!(
                "a memory of {to} bytes in a reservation of {}",
                self.reserved
            )));
        }
        // SAFETY: inside this reservation, which nothing else maps.
        unsafe {
            mprotect(
                self.base().add(from).cast::<c_void>(),
                to - from,
                MprotectFlags::READ | MprotectFlags::WRITE,
            )
        }
        .map_err(|e| Error::os("mprotect (a memory's growth)", e))?;
        self.accessible.set(to);
        Ok(())
    }

    /// Zeros again, nothing accessible: a fresh reservation in place of the
    /// old one, whose pages the kernel frees.
    ///
    /// # Safety
    /// No reference into the heap may be live, and no guest code may be
    /// running with its address.
    pub unsafe fn reset(&self) -> Result<(), Error> {
        if self.accessible.get() == 0 {
            // Nothing was ever accessible: still zeros.
            return Ok(());
        }
        let fresh = reserve(self.reserved)?;
        // SAFETY: the old reservation is this heap's own; the caller
        // promises nothing uses it.
        unsafe { munmap(self.base().cast(), self.reserved) }
            .map_err(|e| Error::os("munmap (a memory's reservation)", e))?;
        self.base.set(fresh);
        self.accessible.set(0);
        Ok(())
    }
}

impl Drop for ExtraHeap {
    fn drop(&mut self) {
        // SAFETY: the reservation is this heap's own, and the instance that
        // used it is gone.
        let _ = unsafe { munmap(self.base().cast(), self.reserved) };
    }
}
