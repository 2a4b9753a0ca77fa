//! The page size that protections and mappings work in.

/// Page size assumed for protections (x86-64 Linux).
pub const PAGE_SIZE: usize = 4096;

/// `n` rounded up to a whole number of pages.
pub fn round_up(n: usize) -> usize {
    n.next_multiple_of(PAGE_SIZE)
}
