//! Limits on what an instance may use.

/// Per-instance resource limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of linear memory an instance may have accessible. By
    /// default 4 GiB, the most a 32-bit memory can address.
    pub heap_memory_size: u64,
    /// Address space reserved for the heap, guard included. By default
    /// 4 GiB + 32 MiB of guard, which is what lucetc assumes by default;
    /// a module compiled for more cannot be instantiated.
    pub heap_address_space_size: u64,
    /// Bytes of guest stack. By default 512 KiB. Guest code traps with
    /// "call stack exhausted" when it would go below the limit.
    pub stack_size: usize,
    /// Bytes of stack kept free below the guest's limit for hostcalls and
    /// the runtime's builtins, which run on the guest stack. By default
    /// 128 KiB.
    pub hostcall_stack_reserve: usize,
    /// Bytes of per-instance state below vmctx (globals, imports, function
    /// references). By default 1 MiB.
    pub vmctx_size: usize,
    /// Most elements a table may have. By default 1,000,000.
    pub table_elements: u32,
    /// Largest accessible heap that is wiped in place when its instance is
    /// dropped or reset: the pages the guest touched are zeroed and stay
    /// resident for the slot's next tenant, which then faults nothing in,
    /// and no other core's TLB is flushed. Larger heaps are given back to
    /// the kernel instead. Heaps with a mapped image (one larger than
    /// 64 KiB) are not governed by this: the pages their tenant wrote are
    /// given back, those it only read stay mapped (they are the sealed
    /// image's own). By default 1 MiB; 0 gives every heap back. A free slot
    /// keeps at most this much (plus its stack's hot top, and image pages
    /// read) resident.
    pub heap_keep_resident: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            heap_memory_size: 4 << 30,
            heap_address_space_size: (4 << 30) + (32 << 20),
            stack_size: 512 << 10,
            hostcall_stack_reserve: 128 << 10,
            vmctx_size: 1 << 20,
            table_elements: 1_000_000,
            heap_keep_resident: 1 << 20,
        }
    }
}
