//! Regions: address space for many instances, reserved once, handed out
//! slot by slot.
//!
//! ```text
//!  region base
//!  ├─ slot 0 ───────────────────────────────────────────────────┐
//!  │ guard page │ stack │ heap ... │ rest of reservation + guard │
//!  ├─ slot 1 ───────────────────────────────────────────────────┤
//!  │ guard page │ stack │ heap ... │ ...                         │
//!  └─────────────────────────────────────────────────────────────┘
//! ```
//!
//! Each slot's stack and accessible heap are one contiguous read-write
//! range, and its heap reservation, guard and the next slot's stack guard
//! page one inaccessible range: two mappings per slot (three with a
//! copy-on-write heap image), which keeps 20,000 slots well within the
//! kernel's default `vm.max_map_count` of 65,530. An instance's vmctx state
//! is not in its slot but in a small allocation of its own: slots are
//! gigabytes apart, and a page touched in every slot would cost each idle
//! instance a page of memory and two pages of page tables.
//!
//! A slot is prepared when first used and then reused: dropping an instance
//! discards the pages its heap dirtied with `madvise`, leaving mappings and
//! protections for the next instance, which changes only what differs (its
//! heap size, its image). Reusing a slot for the same module costs no system
//! call at instantiation.

use crate::heap_image::HeapImage;
use crate::page::{round_up, PAGE_SIZE};
use crate::{Error, Limits};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::{Arc, Mutex};

/// What a slot's memory looks like between uses.
#[derive(Default)]
struct SlotMeta {
    /// The stack is mapped read-write.
    prepared: bool,
    /// Heap bytes `[0, heap_accessible)` are read-write.
    heap_accessible: usize,
    /// The heap image mapped at the heap base, if any: (id, length).
    image: Option<(u64, usize)>,
    /// The current tenant has a memory, so the heap may be dirty.
    heap_in_use: bool,
}

pub(crate) struct RegionInner {
    /// Reservations of up to `chunk_slots` slots each: the address space is
    /// fragmented by the program and its libraries, so one reservation of
    /// tens of TiB would not fit.
    chunks: Vec<*mut u8>,
    chunk_slots: usize,
    slot_size: usize,
    stack_size: usize,
    heap_size: usize,
    capacity: usize,
    limits: Limits,
    free: Mutex<Vec<usize>>,
    meta: Box<[UnsafeCell<SlotMeta>]>,
}

// SAFETY: the reservation is owned by the region; a slot's metadata is only
// touched by the one instance holding the slot (the free list hands each
// slot to one holder at a time, under its mutex).
unsafe impl Send for RegionInner {}
// SAFETY: as above.
unsafe impl Sync for RegionInner {}

/// A pool of pre-reserved instance slots. Clone it freely (it is an `Arc`);
/// share it between threads. Modules from any number of shared objects can
/// use one region.
#[derive(Clone)]
pub struct Region {
    pub(crate) inner: Arc<RegionInner>,
}

impl Region {
    /// Reserve address space for `capacity` instances within `limits`.
    pub fn new(capacity: usize, limits: Limits) -> Result<Region, Error> {
        if capacity == 0 {
            return Err(Error::InvalidState(
                "a region needs at least one slot".into(),
            ));
        }
        let stack_size = round_up(limits.stack_size + limits.hostcall_stack_reserve);
        let heap_size = round_up(limits.heap_address_space_size as usize);
        let slot_size = PAGE_SIZE + stack_size + heap_size;
        let chunk_slots = ((1usize << 40) / slot_size).clamp(1, capacity);
        let mut chunks: Vec<*mut u8> = Vec::new();
        let mut reserved = 0;
        while reserved < capacity {
            let n = chunk_slots.min(capacity - reserved);
            // SAFETY: an anonymous PROT_NONE reservation; nothing is accessed.
            let base = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    n * slot_size,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                let err = std::io::Error::last_os_error();
                for (i, c) in chunks.iter().enumerate() {
                    let len = chunk_slots.min(capacity - i * chunk_slots) * slot_size;
                    // SAFETY: unmapping our own reservations.
                    unsafe { libc::munmap(*c as *mut libc::c_void, len) };
                }
                return Err(Error::System(format!(
                    "reserving address space for {capacity} slots of {slot_size} bytes \
                     (got {reserved}): {err}"
                )));
            }
            chunks.push(base as *mut u8);
            reserved += n;
        }
        Ok(Region {
            inner: Arc::new(RegionInner {
                chunks,
                chunk_slots,
                slot_size,
                stack_size,
                heap_size,
                capacity,
                limits,
                free: Mutex::new((0..capacity).rev().collect()),
                meta: (0..capacity)
                    .map(|_| UnsafeCell::new(SlotMeta::default()))
                    .collect(),
            }),
        })
    }

    /// How many instances the region holds at once.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Slots in use.
    pub fn used(&self) -> usize {
        self.inner.capacity
            - self
                .inner
                .free
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .len()
    }

    /// The limits every instance in the region is held to.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Instantiate `module` with imports from `linker` in a free slot, and
    /// run its start function (with no deadline: to bound it, use
    /// [`instantiate_unstarted`](Self::instantiate_unstarted)).
    ///
    /// Errors: [`Error::LimitExceeded`] when the module can never fit this
    /// region's limits, [`Error::RegionFull`] when it would but every slot
    /// is in use (wait and retry), import and trap errors as usual.
    pub fn instantiate(
        &self,
        module: &Arc<crate::Module>,
        linker: &crate::Linker,
    ) -> Result<crate::Instance, Error> {
        let mut instance = crate::Instance::unstarted(self, module, linker)?;
        instance.start()?;
        Ok(instance)
    }

    /// Instantiate like [`instantiate`](Self::instantiate), but leave the
    /// start function to [`Instance::start`](crate::Instance::start), so it
    /// runs under a deadline, budget or interrupt handle set first, like
    /// any other run. Exports cannot run until it has.
    pub fn instantiate_unstarted(
        &self,
        module: &Arc<crate::Module>,
        linker: &crate::Linker,
    ) -> Result<crate::Instance, Error> {
        crate::Instance::unstarted(self, module, linker)
    }

    pub(crate) fn take_slot(&self) -> Result<Slot, Error> {
        let index = self
            .inner
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .ok_or(Error::RegionFull(self.inner.capacity))?;
        let slot = Slot {
            region: self.inner.clone(),
            index,
        };
        if let Err(e) = slot.prepare() {
            drop(slot);
            return Err(e);
        }
        Ok(slot)
    }
}

impl Drop for RegionInner {
    fn drop(&mut self) {
        for (i, c) in self.chunks.iter().enumerate() {
            let len = self.chunk_slots.min(self.capacity - i * self.chunk_slots) * self.slot_size;
            // SAFETY: every slot has been returned (slots hold an Arc to us).
            unsafe { libc::munmap(*c as *mut libc::c_void, len) };
        }
    }
}

/// One instance's share of a region.
pub(crate) struct Slot {
    region: Arc<RegionInner>,
    index: usize,
}

fn protect(start: *mut u8, len: usize, prot: i32) -> Result<(), Error> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: callers pass page-aligned ranges inside a slot.
    if unsafe { libc::mprotect(start as *mut libc::c_void, len, prot) } != 0 {
        return Err(Error::last_os("mprotect"));
    }
    Ok(())
}

const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;

impl Slot {
    fn base(&self) -> *mut u8 {
        let r = &self.region;
        let chunk = r.chunks[self.index / r.chunk_slots];
        // SAFETY: index < capacity, so the slot lies inside its chunk.
        unsafe { chunk.add((self.index % r.chunk_slots) * r.slot_size) }
    }

    #[allow(clippy::mut_from_ref)]
    fn meta(&self) -> &mut SlotMeta {
        // SAFETY: this Slot is the only holder of its index.
        unsafe { &mut *self.region.meta[self.index].get() }
    }

    fn prepare(&self) -> Result<(), Error> {
        if !self.meta().prepared {
            let start = self.stack_bottom() as *mut u8;
            protect(start, self.region.stack_size, RW)?;
            self.meta().prepared = true;
        }
        Ok(())
    }

    /// Lowest usable stack address.
    pub fn stack_bottom(&self) -> usize {
        self.base() as usize + PAGE_SIZE
    }

    /// One past the highest stack address.
    pub fn stack_top(&self) -> usize {
        self.stack_bottom() + self.region.stack_size
    }

    /// The stack's guard page.
    pub fn stack_guard(&self) -> (usize, usize) {
        (self.base() as usize, self.stack_bottom())
    }

    /// The heap base.
    pub fn heap_base(&self) -> *mut u8 {
        self.stack_top() as *mut u8
    }

    /// Bytes of heap reservation including the guard.
    pub fn heap_reservation(&self) -> usize {
        self.region.heap_size
    }

    /// The region's limits.
    pub fn limits(&self) -> &Limits {
        &self.region.limits
    }

    /// Make heap bytes `[from, to)` accessible (memory.grow).
    pub fn heap_grow(&self, from: usize, to: usize) -> Result<(), Error> {
        debug_assert!(from <= to && to <= self.region.heap_size);
        let meta = self.meta();
        if to > meta.heap_accessible {
            // SAFETY: inside the heap reservation.
            let start = unsafe { self.heap_base().add(meta.heap_accessible.max(from)) };
            protect(start, to - meta.heap_accessible.max(from), RW)?;
            meta.heap_accessible = to;
        }
        Ok(())
    }

    /// Set the heap up for a new instance: `image` at the base (or zeros),
    /// exactly `initial` bytes accessible. The slot's heap must be clean
    /// (as `release` leaves it).
    pub fn heap_setup(&self, image: Option<&HeapImage>, initial: usize) -> Result<(), Error> {
        let meta = self.meta();
        let base = self.heap_base();
        let wanted = image.map(|i| (i.id, i.len));
        if meta.image != wanted {
            if let Some((_, old_len)) = meta.image.take() {
                // Replace the old image with fresh zero pages.
                let prot = if meta.heap_accessible >= old_len {
                    RW
                } else {
                    libc::PROT_NONE
                };
                // SAFETY: a fixed anonymous mapping over part of our own slot.
                let r = unsafe {
                    libc::mmap(
                        base as *mut libc::c_void,
                        old_len,
                        prot,
                        libc::MAP_PRIVATE
                            | libc::MAP_ANONYMOUS
                            | libc::MAP_FIXED
                            | libc::MAP_NORESERVE,
                        -1,
                        0,
                    )
                };
                if r == libc::MAP_FAILED {
                    return Err(Error::last_os("unmapping a heap image"));
                }
            }
            if let Some(img) = image {
                // SAFETY: a fixed private mapping of the image over the first
                // pages of our own heap; the image fits the initial size.
                let r = unsafe {
                    libc::mmap(
                        base as *mut libc::c_void,
                        img.len,
                        RW,
                        libc::MAP_PRIVATE | libc::MAP_FIXED,
                        img.raw_fd(),
                        0,
                    )
                };
                if r == libc::MAP_FAILED {
                    return Err(Error::last_os("mapping the heap image"));
                }
                meta.image = Some((img.id, img.len));
            }
        }
        let image_len = meta.image.map_or(0, |i| i.1);
        let accessible = meta.heap_accessible.max(image_len);
        if accessible < initial {
            // SAFETY: inside the heap reservation.
            protect(unsafe { base.add(accessible) }, initial - accessible, RW)?;
        } else if accessible > initial {
            let from = initial.max(image_len);
            // SAFETY: inside the heap reservation.
            protect(
                unsafe { base.add(from) },
                accessible - from,
                libc::PROT_NONE,
            )?;
        }
        meta.heap_accessible = initial;
        meta.heap_in_use = true;
        Ok(())
    }

    /// Discard everything the heap's user wrote: zero pages come back
    /// zero, image pages come back as the image.
    pub fn heap_clean(&self) -> Result<(), Error> {
        let meta = self.meta();
        if !meta.heap_in_use {
            // A tenant without a memory cannot have touched the heap, which
            // the previous tenant left clean.
            return Ok(());
        }
        meta.heap_in_use = false;
        let dirty = meta.heap_accessible.max(meta.image.map_or(0, |i| i.1));
        if dirty > 0 {
            // SAFETY: the range is inside this slot's heap reservation.
            let r = unsafe {
                libc::madvise(
                    self.heap_base() as *mut libc::c_void,
                    dirty,
                    libc::MADV_DONTNEED,
                )
            };
            if r != 0 {
                return Err(Error::last_os("madvise"));
            }
        }
        Ok(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.heap_clean().is_err() {
            // A slot whose heap could not be wiped is never reused.
            return;
        }
        self.region
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.index);
    }
}
