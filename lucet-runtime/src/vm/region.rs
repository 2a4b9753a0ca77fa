//! Regions: address space for many instances, reserved once, handed out
//! slot by slot. One concern, a slot's memory from reservation to reuse
//! (which is why it is long): the region and its free list, then a slot's
//! mappings, its heap's setup, growth and cleaning, and its stack's.
//!
//! ```text
//!  region base
//!  ├─ slot 0 ─────────────────────────────────────────────────────────────┐
//!  │ guard page │ stack (hot top ▲) │ heap: image, zeros │ rest + guard    │
//!  │  PROT_NONE │        read-write, one mapping         │  PROT_NONE      │
//!  ├─ slot 1 ─────────────────────────────────────────────────────────────┤
//!  │ guard page │ stack             │ heap ...           │ ...             │
//!  └───────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! **Two mappings per instance.** A slot's stack and accessible heap are one
//! contiguous anonymous read-write range, and its heap reservation, guard and
//! the next slot's stack guard page one inaccessible range. A small heap
//! image (up to [`IMAGE_COPY_MAX`](crate::vm::heap_image::IMAGE_COPY_MAX)) is
//! copied into the heap rather than mapped, so it costs no mapping of its
//! own; a large one is mapped copy-on-write from a sparse file that also
//! backs the stack and the rest of the heap with holes (see
//! [`crate::vm::heap_image`]), so stack and heap are still one mapping, and
//! growing the heap maps more of that file, which joins it. Against the
//! kernel's default `vm.max_map_count` of 65,530 that fits 30,000 instances
//! of a typical program, which is also about what the 47-bit address space
//! holds at 4 GiB a slot. An instance's vmctx state is not in its slot but in
//! a small allocation of its own: slots are gigabytes apart, and a page
//! touched in every slot would cost each idle instance a page of memory and
//! two pages of page tables.
//!
//! **Pages given back, pages kept.** A slot is prepared when first used and
//! then reused, its mappings and protections left in place.
//! - The stack keeps its hot top ([`STACK_HOT_BYTES`]) resident. After each
//!   run, if the run went deeper (it wrote to the lowest page of the hot
//!   top, which is otherwise zero), everything but the top page is
//!   discarded with `madvise`: a deep recursion does not leave an idle
//!   instance, or a free slot, holding hundreds of KiB.
//! - The heap of a departing tenant is wiped in place when its accessible
//!   size is at most [`Limits::heap_keep_resident`]: the pages it touched
//!   (found with one `mincore`) are zeroed with `memset` and stay resident,
//!   so the next tenant faults nothing back in and no other core has its TLB
//!   flushed. Larger heaps are discarded with `madvise`. A heap with a
//!   mapped image has the pages that were written discarded (if guest code
//!   ran or the host had it), found in the page map as private copies (see
//!   [`crate::vm::pagemap`]), which restores the image and the zeros past it;
//!   pages only read stay mapped, the sealed image's own, for the next
//!   tenant of the same module. (Past 16 MiB, or when the written pages
//!   are scattered, the heap is discarded whole.)
//! - Free slots remember the module they last held: a module gets back one
//!   of its own recently freed slots if there is one (its image already
//!   mapped, its pages warm), else the most recently freed slot.

use crate::error::Error;
use crate::limits::Limits;
use crate::vm::heap_image::{HeapImage, ImageForm, IMAGE_FILE_HEAP, IMAGE_FILE_OFFSET};
use crate::vm::page::{round_up, PAGE_SIZE};
use rustix::mm::{
    madvise, mmap, mmap_anonymous, mprotect, munmap, Advice, MapFlags, MprotectFlags, ProtFlags,
};
use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::ptr;
use std::sync::{Arc, Mutex};

/// Bytes at the top of each slot's stack that runs may leave resident:
/// 16 KiB (four pages), enough for the usual call depth of guest code and
/// its hostcalls, which then costs no system call and no page fault per
/// run. A run that goes deeper leaves only the top page resident.
pub const STACK_HOT_BYTES: usize = 16 << 10;

/// What a slot's memory looks like between uses.
#[derive(Default)]
struct SlotMeta {
    /// The stack is mapped read-write.
    prepared: bool,
    /// Heap bytes `[0, heap_accessible)` are read-write.
    heap_accessible: usize,
    /// The heap image whose file is mapped over the stack and the
    /// accessible heap, if any: (id, length). Otherwise they are anonymous.
    mapped_image: Option<(u64, usize)>,
    /// The mapped image's descriptor, valid while the current tenant (whose
    /// module owns it) lives: for `heap_grow`.
    image_fd: RawFd,
    /// The current tenant has a memory, so the heap may be dirty.
    heap_in_use: bool,
    /// Bytes of a copied image written at the heap base by `heap_setup`.
    copied_image: usize,
    /// Guest code ran, or the host was given the heap: it may be dirty
    /// anywhere, not just where `heap_setup` copied an image.
    touched: bool,
    /// Cleans of a mapped image's heap left to do whole before the page
    /// map is read again: reading it costs more than it saves when the
    /// slot's tenants read few of the image's pages (see `heap_clean`).
    pagemap_skip: u32,
}

/// Free slots, most recently freed last, each with the module that last
/// held it (its `Module` address: a hint only, what a slot really holds is
/// in its `SlotMeta`; 0 for never used).
#[derive(Default)]
struct FreeSlots {
    slots: Vec<(usize, usize)>,
}

/// How far back `FreeSlots::take` looks for a slot of the same module.
const AFFINITY_SCAN: usize = 16;

impl FreeSlots {
    /// A slot for `module`: the most recently freed one it held among the
    /// last few freed, else the most recently freed of all. (A region
    /// serving one module always finds its own at once; one shared by a
    /// few alternating modules mostly does. No hashing on this path.)
    fn take(&mut self, module: usize) -> Option<usize> {
        let n = self.slots.len();
        let found = self.slots[n.saturating_sub(AFFINITY_SCAN)..]
            .iter()
            .rposition(|s| s.1 == module)
            .map(|i| i + n.saturating_sub(AFFINITY_SCAN));
        match found {
            Some(i) => Some(self.slots.remove(i).0),
            None => self.slots.pop().map(|s| s.0),
        }
    }

    fn put(&mut self, index: usize, module: usize) {
        self.slots.push((index, module));
    }

    fn len(&self) -> usize {
        self.slots.len()
    }
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
    free: Mutex<FreeSlots>,
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
        if stack_size > IMAGE_FILE_OFFSET {
            // A mapped heap image's file backs the stack with a hole of
            // this size (see `heap_image`).
            return Err(Error::LimitExceeded(format!(
                "a stack of {stack_size} bytes: at most {IMAGE_FILE_OFFSET}"
            )));
        }
        let heap_size = round_up(limits.heap_address_space_size as usize);
        let slot_size = PAGE_SIZE + stack_size + heap_size;
        let chunk_slots = ((1usize << 40) / slot_size).clamp(1, capacity);
        let mut chunks: Vec<*mut u8> = Vec::new();
        let mut reserved = 0;
        while reserved < capacity {
            let n = chunk_slots.min(capacity - reserved);
            // SAFETY: an anonymous PROT_NONE reservation; nothing is accessed.
            let base = unsafe {
                mmap_anonymous(
                    ptr::null_mut(),
                    n * slot_size,
                    ProtFlags::empty(),
                    MapFlags::PRIVATE | MapFlags::NORESERVE,
                )
            };
            let base = match base {
                Ok(base) => base,
                Err(err) => {
                    for (i, c) in chunks.iter().enumerate() {
                        let len = chunk_slots.min(capacity - i * chunk_slots) * slot_size;
                        // SAFETY: unmapping our own reservations.
                        let _ = unsafe { munmap(c.cast(), len) };
                    }
                    return Err(Error::os(
                        &format!(
                            "reserving address space for {capacity} slots of {slot_size} \
                             bytes (got {reserved})"
                        ),
                        err,
                    ));
                }
            };
            chunks.push(base.cast());
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
                free: Mutex::new(FreeSlots {
                    slots: (0..capacity).rev().map(|i| (i, 0)).collect(),
                }),
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

    /// A free slot for an instance of the module whose address is `key`,
    /// preferring one it held (the key is a hint only: what a slot holds is
    /// in its metadata).
    pub(crate) fn take_slot(&self, key: usize) -> Result<Slot, Error> {
        let index = self
            .inner
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(key)
            .ok_or(Error::RegionFull(self.inner.capacity))?;
        let slot = Slot {
            region: self.inner.clone(),
            index,
            module: key,
            _not_sync: PhantomData,
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
            let _ = unsafe { munmap(c.cast(), len) };
        }
    }
}

/// One instance's share of a region.
///
/// `Send` but not `Sync`: its methods change the slot's metadata through
/// `&self` (memory.grow reaches it through a shared reference to the
/// instance that owns the memory), which is sound only while one thread at
/// a time uses the slot, as its domain guarantees.
pub(crate) struct Slot {
    region: Arc<RegionInner>,
    index: usize,
    /// The tenant's module, to file the slot under when it is freed.
    module: usize,
    _not_sync: PhantomData<Cell<()>>,
}

/// The two protections a slot's pages have: `PROT_NONE` or
/// `PROT_READ | PROT_WRITE` (rustix spells them differently for `mmap`
/// and `mprotect`).
#[derive(Clone, Copy)]
enum Access {
    Inaccessible,
    ReadWrite,
}

const NONE: Access = Access::Inaccessible;
const RW: Access = Access::ReadWrite;

impl Access {
    fn map(self) -> ProtFlags {
        match self {
            Access::Inaccessible => ProtFlags::empty(),
            Access::ReadWrite => ProtFlags::READ | ProtFlags::WRITE,
        }
    }

    fn protect(self) -> MprotectFlags {
        match self {
            Access::Inaccessible => MprotectFlags::empty(),
            Access::ReadWrite => MprotectFlags::READ | MprotectFlags::WRITE,
        }
    }
}

fn protect(start: *mut u8, len: usize, access: Access) -> Result<(), Error> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: callers pass page-aligned ranges inside a slot.
    unsafe { mprotect(start.cast(), len, access.protect()) }.map_err(|e| Error::os("mprotect", e))
}

/// Fresh anonymous pages with `access` over `[at, at + len)`, replacing what
/// was mapped there. (`MAP_NORESERVE` like the reservation, so that
/// inaccessible neighbours merge into one mapping.)
fn map_anon(at: *mut u8, len: usize, access: Access) -> Result<(), Error> {
    map_fixed(at, len, access, None, "mmap")
}

/// `fd` from `offset` mapped copy-on-write, read-write, over
/// `[at, at + len)`. Mapped next to an earlier mapping of the same file at
/// the adjoining offset, the two are one mapping.
fn map_file(at: *mut u8, len: usize, fd: RawFd, offset: usize) -> Result<(), Error> {
    map_fixed(at, len, RW, Some((fd, offset)), "mapping the heap image")
}

fn map_fixed(
    at: *mut u8,
    len: usize,
    access: Access,
    file: Option<(RawFd, usize)>,
    what: &str,
) -> Result<(), Error> {
    if len == 0 {
        return Ok(());
    }
    let flags = MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::NORESERVE;
    // SAFETY: callers pass page-aligned ranges inside a slot, which no one
    // uses while it is being remapped; a file is a heap image's, open for
    // the call (its module is the slot's tenant's) and long enough
    // (`IMAGE_FILE_OFFSET + IMAGE_FILE_HEAP` bytes) for every range mapped.
    let r = unsafe {
        match file {
            Some((fd, offset)) => mmap(
                at.cast(),
                len,
                access.map(),
                flags,
                BorrowedFd::borrow_raw(fd),
                offset as u64,
            ),
            // MAP_ANONYMOUS is implied.
            None => mmap_anonymous(at.cast(), len, access.map(), flags),
        }
    };
    r.map(drop).map_err(|e| Error::os(what, e))
}

impl Slot {
    fn base(&self) -> *mut u8 {
        let r = &self.region;
        let chunk = r.chunks[self.index / r.chunk_slots];
        // SAFETY: index < capacity, so the slot lies inside its chunk.
        unsafe { chunk.add((self.index % r.chunk_slots) * r.slot_size) }
    }

    /// The slot's metadata.
    ///
    /// # Safety
    /// No other reference to it is live: each method that needs it takes
    /// it once, first, and hands it to the helpers it calls. (The slot is
    /// the only holder of its index, and it is not `Sync`.)
    #[allow(clippy::mut_from_ref)]
    unsafe fn meta(&self) -> &mut SlotMeta {
        // SAFETY: as the caller promises.
        unsafe { &mut *self.region.meta[self.index].get() }
    }

    fn prepare(&self) -> Result<(), Error> {
        // SAFETY: the only reference to the metadata in this method.
        let meta = unsafe { self.meta() };
        if !meta.prepared {
            let start = self.stack_bottom() as *mut u8;
            protect(start, self.region.stack_size, RW)?;
            meta.prepared = true;
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
        // SAFETY: the only reference to the metadata in this method.
        let meta = unsafe { self.meta() };
        if to > meta.heap_accessible {
            self.make_accessible(meta, meta.heap_accessible.max(from), to)?;
            meta.heap_accessible = to;
        }
        Ok(())
    }

    /// Make heap bytes `[from, to)` read-write: more of the image's file
    /// if one is mapped (so stack and heap stay one mapping), else the
    /// reservation's own pages.
    fn make_accessible(&self, meta: &SlotMeta, from: usize, to: usize) -> Result<(), Error> {
        // SAFETY: inside the heap reservation.
        let start = unsafe { self.heap_base().add(from) };
        match meta.mapped_image {
            Some(_) if to > IMAGE_FILE_HEAP => Err(Error::LimitExceeded(format!(
                "a heap of {to} bytes with a mapped image"
            ))),
            Some(_) => map_file(start, to - from, meta.image_fd, IMAGE_FILE_OFFSET + from),
            None => protect(start, to - from, RW),
        }
    }

    /// Set the heap up for a new instance: `image` at the base (or zeros),
    /// exactly `initial` bytes accessible. The slot's heap must be clean
    /// (as `heap_clean` leaves it).
    pub fn heap_setup(&self, image: Option<&HeapImage>, initial: usize) -> Result<(), Error> {
        // SAFETY: the only reference to the metadata in this method.
        let meta = unsafe { self.meta() };
        let base = self.heap_base();
        let stack = self.stack_bottom() as *mut u8;
        let stack_size = self.region.stack_size;
        let mapped = match image {
            Some(HeapImage {
                form: ImageForm::Mapped(fd),
                id,
                len,
            }) => Some((fd.as_raw_fd(), (*id, *len))),
            _ => None,
        };
        if meta.mapped_image != mapped.map(|m| m.1) {
            if meta.mapped_image.take().is_some() {
                // Back to anonymous zero pages, stack and heap one mapping.
                map_anon(stack, stack_size + meta.heap_accessible, RW)?;
            }
            if let Some((fd, image)) = mapped {
                // The file over stack and accessible heap, so that the
                // image lands at the heap base: one mapping, as without.
                map_file(
                    stack,
                    stack_size + meta.heap_accessible,
                    fd,
                    IMAGE_FILE_OFFSET - stack_size,
                )?;
                meta.mapped_image = Some(image);
                // A new image: look at what its tenants leave mapped.
                meta.pagemap_skip = 0;
            }
        }
        if let Some((fd, _)) = mapped {
            // The current tenant's module owns it: valid for `heap_grow`.
            meta.image_fd = fd;
        }
        let accessible = meta.heap_accessible;
        if accessible < initial {
            self.make_accessible(meta, accessible, initial)?;
        } else if accessible > initial {
            // SAFETY: inside the heap reservation.
            let from = unsafe { base.add(initial) };
            if meta.mapped_image.is_some() {
                // Inaccessible anonymous pages, one with the rest.
                map_anon(from, accessible - initial, NONE)?;
            } else {
                protect(from, accessible - initial, NONE)?;
            }
        }
        meta.heap_accessible = initial;
        meta.heap_in_use = true;
        meta.touched = false;
        meta.copied_image = 0;
        if let Some(HeapImage {
            form: ImageForm::Copied(bytes),
            ..
        }) = image
        {
            // SAFETY: the image fits the initial size (HeapImage::build),
            // which was just made accessible; nothing else uses the heap.
            unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), base, bytes.len()) };
            meta.copied_image = bytes.len();
        }
        Ok(())
    }

    /// The heap may now be written anywhere: guest code is about to run, or
    /// the host is handed the memory.
    pub fn mark_touched(&self) {
        // SAFETY: the only reference to the metadata in this method.
        unsafe { self.meta() }.touched = true;
    }

    /// Discard everything the heap's user wrote: zero pages come back
    /// zero, mapped image pages come back as the image. Small heaps are
    /// zeroed in place and stay resident (see the module docs).
    pub fn heap_clean(&self) -> Result<(), Error> {
        // SAFETY: the only reference to the metadata in this method.
        let meta = unsafe { self.meta() };
        if !meta.heap_in_use {
            // A tenant without a memory cannot have touched the heap, which
            // the previous tenant left clean.
            return Ok(());
        }
        meta.heap_in_use = false;
        let base = self.heap_base();
        let dirty = meta.heap_accessible;
        let keep = self.region.limits.heap_keep_resident;
        // A mapped image's file backs the whole accessible heap, whose
        // written pages are private copies: discarding them brings the
        // image (and zeros past it) back. The page map says which they are
        // (see `pagemap`); pages only read stay mapped for the slot's next
        // tenant, which sees the same sealed image there. Page residency
        // says nothing of what was written, so it is never wiped in place.
        let (discard, wipe) = match meta.mapped_image {
            Some(_) if meta.touched && meta.pagemap_skip > 0 => {
                meta.pagemap_skip -= 1;
                (dirty, 0)
            }
            Some(_) if meta.touched => {
                match crate::vm::pagemap::written(base as usize, dirty / PAGE_SIZE) {
                    Some(w) => {
                        for (first, pages) in w.runs {
                            // SAFETY: the run lies in the accessible heap.
                            let at = unsafe { base.add(first * PAGE_SIZE) };
                            discard_pages(at, pages * PAGE_SIZE)?;
                        }
                        // Tenants that leave few image pages mapped gain
                        // little from keeping them: discard whole for a
                        // while, then look again.
                        if w.kept < PAGEMAP_WORTH_PAGES {
                            meta.pagemap_skip = PAGEMAP_SKIP;
                        }
                        (0, 0)
                    }
                    None => (dirty, 0),
                }
            }
            Some(_) => (0, 0),
            None if dirty <= keep => (0, dirty),
            None => (dirty, 0),
        };
        discard_pages(base, discard)?;
        if wipe > 0 && !meta.touched {
            // Nothing but the copied image was written.
            // SAFETY: the image's bytes lie in the accessible heap.
            unsafe { ptr::write_bytes(base, 0, meta.copied_image) };
        } else if wipe > 0 {
            // SAFETY: `[0, dirty)` is accessible heap of this slot,
            // page-aligned, and no one uses it (the tenant is gone).
            unsafe { zero_resident_pages(base, wipe) }?;
        }
        meta.copied_image = 0;
        Ok(())
    }

    /// The stack a call runs on, and what to give back after it.
    pub fn stack_release(&self) -> StackRelease {
        StackRelease {
            bottom: self.stack_bottom(),
            hot: self.stack_top() - STACK_HOT_BYTES.min(self.region.stack_size),
            top_page: self.stack_top() - PAGE_SIZE,
        }
    }
}

/// Image pages a tenant must leave mapped for reading the page map to pay
/// (about what faulting them back in costs more than the read), and how
/// many cleans are done whole when it did not pay.
const PAGEMAP_WORTH_PAGES: usize = 16;
const PAGEMAP_SKIP: u32 = 256;

/// Give the pages of `[start, start + len)`, inside a slot's heap, back
/// to the kernel: anonymous ones read as zeros again, a mapped image's
/// as the image.
fn discard_pages(start: *mut u8, len: usize) -> Result<(), Error> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: callers pass page-aligned ranges of a slot's heap that no
    // one uses (its tenant is gone).
    unsafe { madvise(start.cast(), len, Advice::LinuxDontNeed) }
        .map_err(|e| Error::os("madvise", e))
}

/// Zero the resident pages of `[start, start + len)`, leaving the others
/// untouched (and unallocated).
///
/// # Safety
/// The range is page-aligned, mapped read-write, and not in use.
unsafe fn zero_resident_pages(start: *mut u8, len: usize) -> Result<(), Error> {
    const CHUNK: usize = 256;
    let mut resident = [0u8; CHUNK];
    let pages = len / PAGE_SIZE;
    let mut page = 0;
    while page < pages {
        let n = (pages - page).min(CHUNK);
        // SAFETY: as the caller promises; `addr` is page-aligned.
        let addr = unsafe { start.add(page * PAGE_SIZE) };
        // libc: rustix has no mincore.
        // SAFETY: `resident` has room for `n` entries.
        if unsafe {
            libc::mincore(
                addr as *mut libc::c_void,
                n * PAGE_SIZE,
                resident.as_mut_ptr(),
            )
        } != 0
        {
            return Err(Error::last_os("mincore"));
        }
        for (i, r) in resident[..n].iter().enumerate() {
            if r & 1 != 0 {
                // SAFETY: a resident page of the range.
                unsafe { ptr::write_bytes(addr.add(i * PAGE_SIZE), 0, PAGE_SIZE) };
            }
        }
        page += n;
    }
    Ok(())
}

/// The part of a slot's stack a run may leave resident, and the rest.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StackRelease {
    /// Lowest usable stack address.
    bottom: usize,
    /// Lowest address of the hot top, whose first page is zero unless a
    /// run went (about) that deep.
    hot: usize,
    /// The top page, kept even after a deep run.
    top_page: usize,
}

impl StackRelease {
    /// After a run: if it used the stack below the hot top, give back all
    /// but the top page. A run that went that deep wrote to the lowest page
    /// of the hot top on its way down: every frame stores its return
    /// address and saved frame pointer at its top, and wasm frames are
    /// small (a guest's own data lives in linear memory), so the top
    /// [`DEPTH_PROBE_BYTES`] of that page, otherwise zero, cannot be
    /// crossed without a write. (A run whose frames there are all larger
    /// is missed: its pages are kept until a later deep run is seen, never
    /// shown to anyone, as stacks are not observable by guest code.)
    ///
    /// # Safety
    /// The slot the range belongs to is alive and no run uses its stack.
    pub unsafe fn after_run(&self) {
        let probe = self.hot + PAGE_SIZE - DEPTH_PROBE_BYTES;
        // SAFETY: the hot top is mapped read-write and idle, as promised.
        let words =
            unsafe { std::slice::from_raw_parts(probe as *const u64, DEPTH_PROBE_BYTES / 8) };
        // One pass without early exit, which the compiler vectorizes.
        if words.iter().fold(0u64, |acc, w| acc | w) == 0 {
            return;
        }
        // A failure leaves the pages resident: nothing to undo.
        // SAFETY: as above; `[bottom, top_page)` is the stack below its
        // top page. Discarded pages read back as zeros (anonymous ones, and
        // a mapped image file's hole), the hot top's lowest page included.
        let _ = unsafe {
            madvise(
                self.bottom as *mut c_void,
                self.top_page - self.bottom,
                Advice::LinuxDontNeed,
            )
        };
    }
}

/// Bytes at the top of the hot stack's lowest page read after each run to
/// tell whether it went deeper: 1 KiB, sixteen cache lines.
const DEPTH_PROBE_BYTES: usize = 1024;

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
            .put(self.index, self.module);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot changes its metadata through `&self`: it may move with its
    /// instance, never be shared. This stops compiling if `Slot` becomes
    /// `Sync` (`Ambiguous<_>` then has two applicable impls).
    #[test]
    fn slots_move_between_threads_but_are_never_shared() {
        fn is_send<T: Send>() {}
        is_send::<Slot>();
        trait Ambiguous<A> {
            fn check() {}
        }
        impl<T: ?Sized> Ambiguous<()> for T {}
        impl<T: ?Sized + Sync> Ambiguous<u8> for T {}
        <Slot as Ambiguous<_>>::check();
    }
}
