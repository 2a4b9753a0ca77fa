//! A module's initial heap contents as a memfd, mapped copy-on-write into
//! each instance: instantiation costs one `mmap` (or nothing, when the slot
//! already holds the image), whatever the size of the data.

use crate::Error;
use lucet_module::{ModuleData, SegmentMode};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

/// The initial contents of a module's heap.
pub(crate) struct HeapImage {
    fd: OwnedFd,
    /// Bytes of the image, a multiple of the page size.
    pub len: usize,
    /// Process-unique id, so a slot knows whether it already maps this image.
    pub id: u64,
}

impl HeapImage {
    /// Build the image if the module's data segments allow it: it defines
    /// its memory, every active segment has a constant offset and fits the
    /// initial size. Otherwise segments are copied at instantiation.
    pub fn build(data: &ModuleData) -> Result<Option<HeapImage>, Error> {
        let Some(spec) = data.heap_spec() else {
            return Ok(None);
        };
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
        let len = (end as usize).next_multiple_of(crate::region::PAGE_SIZE);
        let mut image = vec![0u8; len];
        for seg in &data.data {
            if let SegmentMode::Active { offset, .. } = &seg.mode {
                // An empty segment may lie past the image's end (which
                // only covers non-empty segments): nothing to copy.
                if seg.bytes.is_empty() {
                    continue;
                }
                let at = offset.as_i32().unwrap_or(0) as u32 as usize;
                image[at..at + seg.bytes.len()].copy_from_slice(&seg.bytes);
            }
        }
        // SAFETY: memfd_create with a static name; the fd is owned below.
        let raw = unsafe { libc::memfd_create(c"lucet-heap-image".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(Error::last_os("memfd_create"));
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut written = 0;
        while written < len {
            // SAFETY: writing from a live buffer to our descriptor.
            let n = unsafe {
                libc::write(
                    fd.as_raw_fd(),
                    image[written..].as_ptr() as *const libc::c_void,
                    len - written,
                )
            };
            if n <= 0 {
                return Err(Error::last_os("writing the heap image"));
            }
            written += n as usize;
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Ok(Some(HeapImage {
            fd,
            len,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }))
    }

    /// The descriptor to map.
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}
