//! A module's initial heap contents, built once per module from its data
//! segments, in one of two forms:
//!
//! - **Copied** (images up to [`IMAGE_COPY_MAX`]): the bytes are kept in
//!   memory and copied into the heap at instantiation. The heap stays one
//!   anonymous read-write range with the stack, so an instance costs two
//!   mappings (see [`crate::vm::region`]), and a reused slot's pages are
//!   already resident: the copy is a `memcpy`, no page faults. Typical
//!   programs' images are a few pages.
//! - **Mapped** (larger images): an unlinked file mapped copy-on-write over
//!   the slot's stack and accessible heap, so instantiation costs one
//!   `mmap` (none when the slot already maps this image) whatever the size,
//!   and the guest faults in only the pages it touches. The file is sparse:
//!   the image lies [`IMAGE_FILE_OFFSET`] bytes in, after a hole that backs
//!   the stack, and a hole after it backs the rest of the heap up to 4 GiB.
//!   So stack and heap stay one mapping, as with no image, and an instance
//!   still costs two mappings. (Holes read as zeros; their page-cache pages
//!   are shared by every instance of the module.) A process whose
//!   `RLIMIT_FSIZE` is below that file's size copies large images too.
//!   The file is a memfd, written once from the verified module data and
//!   then sealed against any change, so what instances see is what was
//!   verified. (An unlinked file on a disk filesystem faults in faster,
//!   thanks to its large folios, but any process of the same user can
//!   reopen it through `/proc/PID/fd` and, being its owner, make it
//!   writable again; a seal holds against everyone.)

use crate::error::Error;
use crate::vm::page::PAGE_SIZE;
use lucet_module::{ModuleData, SegmentMode};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};

/// Images up to this size are copied into the heap at instantiation rather
/// than mapped: 64 KiB (16 pages).
pub const IMAGE_COPY_MAX: usize = 64 << 10;

/// Where a mapped image starts in its file: after a 1 GiB hole, which
/// backs the stack of each slot that maps it (stacks of up to this size).
pub const IMAGE_FILE_OFFSET: usize = 1 << 30;

/// Bytes of heap a mapped image's file covers from the image's start: all
/// a 32-bit memory can grow to.
pub const IMAGE_FILE_HEAP: usize = 1 << 32;

/// How an image reaches the heap.
pub(crate) enum ImageForm {
    /// Copied: the bytes (not padded to pages).
    Copied(Box<[u8]>),
    /// Mapped: a read-only descriptor of a file with the image's `len`
    /// bytes (a multiple of the page size) at [`IMAGE_FILE_OFFSET`], holes
    /// before and after, [`IMAGE_FILE_HEAP`] bytes from there to its end.
    Mapped(OwnedFd),
}

/// The initial contents of a module's heap.
pub(crate) struct HeapImage {
    pub form: ImageForm,
    /// Bytes of the image: exact when copied, page-rounded when mapped.
    pub len: usize,
    /// Process-unique id, so a slot knows whether it already maps this image.
    pub id: u64,
}

impl HeapImage {
    /// Build the image if the module's data segments allow it: it defines
    /// its one memory, every active segment has a constant offset and fits the
    /// initial size. Otherwise segments are copied at instantiation.
    pub fn build(data: &ModuleData) -> Result<Option<HeapImage>, Error> {
        let Some(spec) = data.heap_spec() else {
            return Ok(None);
        };
        // With several memories, segments may be meant for any of them.
        if data.num_memories() != 1 {
            return Ok(None);
        }
        let initial = spec.initial_bytes();
        let mut end = 0u64;
        for seg in &data.data {
            if let SegmentMode::Active { offset, .. } = &seg.mode {
                let Some(at) = offset.as_i32() else {
                    return Ok(None);
                };
                let seg_end = at as u32 as u64 + seg.bytes.len() as u64;
                if seg_end > initial {
                    return Ok(None);
                }
                if !seg.bytes.is_empty() {
                    end = end.max(seg_end);
                }
            }
        }
        if end == 0 {
            return Ok(None);
        }
        let end = end as usize;
        let padded = end.next_multiple_of(PAGE_SIZE);
        // A process whose file size limit is below the image file's
        // (sparse) size would be killed by SIGXFSZ making it: copy the
        // image instead, slower for large images but the same to the guest.
        let copied = end <= IMAGE_COPY_MAX || !file_size_allowed();
        let mut image = vec![0u8; if copied { end } else { padded }];
        for seg in &data.data {
            let SegmentMode::Active { offset, .. } = &seg.mode else {
                continue;
            };
            // An empty segment may lie past the image's end (it only had
            // to fit the initial size); it contributes nothing.
            if seg.bytes.is_empty() {
                continue;
            }
            let at = offset.as_i32().unwrap_or(0) as u32 as usize;
            image[at..at + seg.bytes.len()].copy_from_slice(&seg.bytes);
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        if copied {
            return Ok(Some(HeapImage {
                len: image.len(),
                form: ImageForm::Copied(image.into_boxed_slice()),
                id,
            }));
        }
        let fd = memfd_image(&image)?;
        Ok(Some(HeapImage {
            form: ImageForm::Mapped(fd),
            len: padded,
            id,
        }))
    }
}

/// Whether `RLIMIT_FSIZE` lets this process make a mapped image's file.
fn file_size_allowed() -> bool {
    crate::vm::memfd::file_size_limit() >= (IMAGE_FILE_OFFSET + IMAGE_FILE_HEAP) as u64
}

/// Give `fd` its layout (see [`ImageForm::Mapped`]): `bytes` at
/// [`IMAGE_FILE_OFFSET`], holes elsewhere.
fn write_image(fd: &OwnedFd, bytes: &[u8]) -> rustix::io::Result<()> {
    let mut written = 0;
    while written < bytes.len() {
        let at = (IMAGE_FILE_OFFSET + written) as u64;
        match rustix::io::pwrite(fd, &bytes[written..], at)? {
            // Nothing written of a non-empty buffer (not seen on a
            // memfd) would loop forever: an I/O error.
            0 => return Err(rustix::io::Errno::IO),
            n => written += n,
        }
    }
    rustix::fs::ftruncate(fd, (IMAGE_FILE_OFFSET + IMAGE_FILE_HEAP) as u64)
}

/// The image in a memfd sealed against any change.
fn memfd_image(bytes: &[u8]) -> Result<OwnedFd, Error> {
    let fd = crate::vm::memfd::create(c"lucet-heap-image")?;
    write_image(&fd, bytes).map_err(|e| Error::os("writing the heap image", e))?;
    crate::vm::memfd::seal(&fd, "the heap image")?;
    Ok(fd)
}
