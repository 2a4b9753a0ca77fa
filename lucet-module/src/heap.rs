//! How a module's linear memory must be laid out.

use serde::{Deserialize, Serialize};

/// Size of a WebAssembly page.
pub const WASM_PAGE_SIZE: u64 = 65536;
/// Most pages a 32-bit memory can have (4 GiB).
pub const MAX_PAGES_32: u64 = 1 << 16;
/// Most pages a 64-bit memory can have (2^64 bytes).
pub const MAX_PAGES_64: u64 = 1 << 48;

/// The address-space needs of a module's linear memory, fixed at compile time.
///
/// Generated code omits bounds checks for any access `base + u32 index +
/// offset` where `offset + size <= guard_size`: the runtime must reserve
/// `reserved_size + guard_size` bytes of address space and leave everything
/// beyond the accessible size inaccessible, so such an access faults instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapSpec {
    /// Bytes of address space the compiler assumed reserved (4 GiB for a
    /// 32-bit memory: every `u32` index lands inside it).
    pub reserved_size: u64,
    /// Bytes of inaccessible guard the compiler assumed beyond the reservation.
    pub guard_size: u64,
    /// Initial size in wasm pages.
    pub initial_pages: u64,
    /// Maximum size in wasm pages declared by the module, if any.
    pub max_pages: Option<u64>,
    /// Addressed with `i64` indices (memory64): code checks every access
    /// against the reservation, since no guard covers a 64-bit index.
    pub memory64: bool,
}

impl HeapSpec {
    /// Initial accessible size in bytes.
    pub fn initial_bytes(&self) -> u64 {
        self.initial_pages * WASM_PAGE_SIZE
    }

    /// The most pages the memory may have: its declared maximum, or what
    /// its index type can address (before the runtime's own limits).
    pub fn max_pages_or_index_limit(&self) -> u64 {
        self.max_pages.unwrap_or(if self.memory64 {
            MAX_PAGES_64
        } else {
            MAX_PAGES_32
        })
    }
}
