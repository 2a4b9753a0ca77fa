//! Which pages of a private file mapping were written: `/proc/self/pagemap`.
//!
//! A heap with a mapped image is a private (copy-on-write) mapping of a
//! sealed memfd. A page the guest only read is the memfd's own page, which
//! no one can change: it still shows the image, and the slot's next tenant
//! of the same module may keep it mapped. A page that was written is a
//! private anonymous copy, and must be discarded. The kernel's page map
//! tells the two apart (the "file page" bit), so a departing tenant's heap
//! is discarded page run by page run instead of whole, and the next tenant
//! faults in only what was written, not every page it reads. (Faulting in
//! a memfd's pages costs about a quarter of a microsecond each here.)

use crate::vm::page::PAGE_SIZE;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

/// Page map entry bits (see the kernel's `pagemap.rst`).
const PRESENT: u64 = 1 << 63;
const SWAPPED: u64 = 1 << 62;
const FILE_OR_SHARED: u64 = 1 << 61;

/// Most pages looked up for one heap: 16 MiB of heap, 32 KiB of entries.
/// Larger heaps are discarded whole, as is any heap whose written pages
/// form more than [`MAX_RUNS`] runs: past that, one `madvise` is cheaper.
pub(crate) const MAX_PAGES: usize = 4096;
const MAX_RUNS: usize = 32;

fn pagemap() -> Option<&'static File> {
    static PAGEMAP: OnceLock<Option<File>> = OnceLock::new();
    PAGEMAP
        .get_or_init(|| File::open("/proc/self/pagemap").ok())
        .as_ref()
}

/// What the page map says of a heap.
pub(crate) struct Written {
    /// Runs `(first page, pages)` holding private copies (written pages,
    /// present or swapped out).
    pub runs: Vec<(usize, usize)>,
    /// Pages mapped and not written: the image's own, kept.
    pub kept: usize,
}

/// The written pages of `[start, start + pages * PAGE_SIZE)`, or `None`
/// if they cannot be told (no page map, too many pages or runs): then the
/// caller discards the whole range.
pub(crate) fn written(start: usize, pages: usize) -> Option<Written> {
    if pages > MAX_PAGES {
        return None;
    }
    let map = pagemap()?;
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut kept = 0;
    let mut entries = [0u64; 512];
    let mut page = 0;
    while page < pages {
        let n = (pages - page).min(entries.len());
        // SAFETY: viewing the entry array as bytes; any bytes are valid u64s.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(entries.as_mut_ptr() as *mut u8, n * 8) };
        let at = ((start / PAGE_SIZE + page) * 8) as u64;
        map.read_exact_at(bytes, at).ok()?;
        for (i, e) in entries[..n].iter().enumerate() {
            let private = (e & (PRESENT | SWAPPED)) != 0 && (e & FILE_OR_SHARED) == 0;
            if !private {
                kept += usize::from(e & PRESENT != 0);
                continue;
            }
            match runs.last_mut() {
                Some((first, len)) if *first + *len == page + i => *len += 1,
                _ => {
                    if runs.len() == MAX_RUNS {
                        return None;
                    }
                    runs.push((page + i, 1));
                }
            }
        }
        page += n;
    }
    Some(Written { runs, kept })
}
