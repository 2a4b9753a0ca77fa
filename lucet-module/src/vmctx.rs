//! Where per-instance state sits relative to the `vmctx` pointer.
//!
//! Everything compiled code needs of its instance lies just below the vmctx
//! pointer, at negative offsets (the heap base is a field of the memory
//! definition, loaded once and kept in a register by Cranelift). The runtime
//! keeps this area in a small allocation of its own rather than next to the
//! heap: an idle instance then costs a few hundred bytes, not a page and two
//! page-table pages in its gigabytes-wide slot.
//!
//! ```text
//!   lower addresses
//!   ┌──────────────────────────────┐ vmctx - size()
//!   │ defined tags        8 B each │ a tag's identity is its address
//!   │ tag pointers        8 B each │ -> a tag definition (own or imported)
//!   │ funcref records    24 B each │ {code, vmctx, signature id}
//!   │ defined globals    16 B each │ value, little-endian
//!   │ imported globals    8 B each │ -> the exporter's 16-byte slot
//!   │ defined tables     16 B each │ {elements *u64, length u32}
//!   │ table pointers      8 B each │ -> a table definition (own or imported)
//!   │ defined memories   16 B each │ {base, length in bytes}
//!   │ memory pointers     8 B each │ -> a memory definition (own or imported)
//!   │ imported functions 16 B each │ {code, callee vmctx}
//!   │ header             64 B      │ see the FIXED offsets below
//!   └──────────────────────────────┘ vmctx
//! ```
//!
//! Both lucetc (to emit loads) and lucet-runtime (to fill the fields in) use
//! this one computation, so they cannot disagree.

/// Fixed header offsets, negative from vmctx.
#[derive(Clone, Copy, Debug)]
pub struct VmctxOffsets;

impl VmctxOffsets {
    /// `*mut` the runtime's instance state (opaque to compiled code).
    pub const INSTANCE: i32 = -8;
    /// `*const [fn; Builtin::COUNT]`, the builtins table.
    pub const BUILTINS: i32 = -16;
    /// `*const u32`, process-wide signature ids indexed by module type index.
    pub const SIG_IDS: i32 = -24;
    /// `*mut` the [`run_limits`] of the runs of this instance's domain.
    /// Every instance a run can reach (through imports or tables) belongs to
    /// the same domain and points at the same limits, so the limits of the
    /// run govern all the code it reaches without being passed along.
    pub const RUN_LIMITS: i32 = -32;
    /// Size of the fixed header.
    pub const HEADER_SIZE: u32 = 64;
}

/// Offsets of the variable-sized parts of a module's vmctx area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmctxLayout {
    imported_funcs: u32,
    num_imported_funcs: u32,
    memory_ptrs: u32,
    num_memories: u32,
    memory_defs: u32,
    table_ptrs: u32,
    num_tables: u32,
    table_defs: u32,
    global_ptrs: u32,
    num_imported_globals: u32,
    globals: u32,
    funcrefs: u32,
    num_funcrefs: u32,
    tag_ptrs: u32,
    num_tags: u32,
    tag_defs: u32,
    size: u32,
}

/// Size of a funcref record.
pub const FUNCREF_SIZE: u32 = 24;

impl VmctxLayout {
    /// Compute the layout for a module with the given counts. `None` if the
    /// area would be absurdly large (over 1 GiB).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        num_imported_funcs: u32,
        num_imported_memories: u32,
        num_defined_memories: u32,
        num_imported_tables: u32,
        num_defined_tables: u32,
        num_imported_globals: u32,
        num_defined_globals: u32,
        num_funcrefs: u32,
        num_imported_tags: u32,
        num_defined_tags: u32,
    ) -> Option<VmctxLayout> {
        // Areas are laid out downward from the header; `cursor` is the
        // distance below vmctx of the lowest byte allocated so far.
        let mut cursor: u64 = VmctxOffsets::HEADER_SIZE as u64;
        let mut area = |count: u32, size: u64| -> u64 {
            cursor += count as u64 * size;
            cursor = (cursor + 15) & !15;
            cursor
        };
        let imported_funcs = area(num_imported_funcs, 16);
        let num_memories = num_imported_memories + num_defined_memories;
        let memory_ptrs = area(num_memories, 8);
        let memory_defs = area(num_defined_memories, 16);
        let num_tables = num_imported_tables + num_defined_tables;
        let table_ptrs = area(num_tables, 8);
        let table_defs = area(num_defined_tables, 16);
        let global_ptrs = area(num_imported_globals, 8);
        let globals = area(num_defined_globals, 16);
        let funcrefs = area(num_funcrefs, FUNCREF_SIZE as u64);
        let num_tags = num_imported_tags + num_defined_tags;
        let tag_ptrs = area(num_tags, 8);
        let tag_defs = area(num_defined_tags, 8);
        let size = cursor;
        if size > (1 << 30) {
            return None;
        }
        let c = |v: u64| v as u32;
        Some(VmctxLayout {
            imported_funcs: c(imported_funcs),
            num_imported_funcs,
            memory_ptrs: c(memory_ptrs),
            num_memories,
            memory_defs: c(memory_defs),
            table_ptrs: c(table_ptrs),
            num_tables,
            table_defs: c(table_defs),
            global_ptrs: c(global_ptrs),
            num_imported_globals,
            globals: c(globals),
            funcrefs: c(funcrefs),
            num_funcrefs,
            tag_ptrs: c(tag_ptrs),
            num_tags,
            tag_defs: c(tag_defs),
            size: c(size),
        })
    }

    /// The layout for a module described by `data`.
    pub fn for_module(data: &crate::ModuleData) -> Option<VmctxLayout> {
        VmctxLayout::new(
            data.num_imported_funcs(),
            data.num_imported_memories(),
            data.memories.len() as u32,
            data.num_imported_tables(),
            data.tables.len() as u32,
            data.num_imported_globals(),
            data.globals.len() as u32,
            data.escaping_functions.len() as u32,
            data.num_imported_tags(),
            data.tags.len() as u32,
        )
    }

    /// Bytes below vmctx the area occupies (a multiple of 16).
    pub fn size(&self) -> u32 {
        self.size
    }

    fn at(base: u32, index: u32, stride: u32) -> i32 {
        -(base as i32) + (index * stride) as i32
    }

    /// Offset of imported function `i`'s `{code, vmctx}` pair.
    pub fn imported_func(&self, i: u32) -> i32 {
        debug_assert!(i < self.num_imported_funcs);
        Self::at(self.imported_funcs, i, 16)
    }

    /// Offset of the pointer to memory `i`'s definition.
    pub fn memory_ptr(&self, i: u32) -> i32 {
        debug_assert!(i < self.num_memories);
        Self::at(self.memory_ptrs, i, 8)
    }

    /// Offset of defined memory `i`'s `{base, length}` (defined index).
    pub fn memory_def(&self, i: u32) -> i32 {
        Self::at(self.memory_defs, i, 16)
    }

    /// Offset of the pointer to table `i`'s definition.
    pub fn table_ptr(&self, i: u32) -> i32 {
        debug_assert!(i < self.num_tables);
        Self::at(self.table_ptrs, i, 8)
    }

    /// Offset of defined table `i`'s `{elements, length}` (defined index).
    pub fn table_def(&self, i: u32) -> i32 {
        Self::at(self.table_defs, i, 16)
    }

    /// Offset of the pointer to imported global `i`'s storage.
    pub fn global_ptr(&self, i: u32) -> i32 {
        debug_assert!(i < self.num_imported_globals);
        Self::at(self.global_ptrs, i, 8)
    }

    /// Offset of defined global `i`'s 16-byte storage (defined index).
    pub fn global(&self, i: u32) -> i32 {
        Self::at(self.globals, i, 16)
    }

    /// Offset of the pointer to tag `i`'s definition (its identity).
    pub fn tag_ptr(&self, i: u32) -> i32 {
        debug_assert!(i < self.num_tags);
        Self::at(self.tag_ptrs, i, 8)
    }

    /// Offset of defined tag `i`'s definition (defined index): an 8-byte
    /// slot whose address is the tag's identity.
    pub fn tag_def(&self, i: u32) -> i32 {
        Self::at(self.tag_defs, i, 8)
    }

    /// Offset of funcref record `i` (index into `escaping_functions`).
    pub fn funcref(&self, i: u32) -> i32 {
        debug_assert!(i < self.num_funcrefs);
        Self::at(self.funcrefs, i, FUNCREF_SIZE)
    }
}

/// Field offsets within the run limits a vmctx points to.
pub mod run_limits {
    /// `usize`, lowest stack pointer guest code may use; checked in prologues.
    pub const STACK_LIMIT: i32 = 0;
    /// `u64`, non-zero when the embedder asked the guest to stop.
    pub const INTERRUPT: i32 = 8;
    /// `u64`, instructions executed (when counting is compiled in).
    pub const INSTRUCTION_COUNT: i32 = 16;
    /// `u64`, the count at which the run is stopped.
    pub const INSTRUCTION_BUDGET: i32 = 24;
}

/// Field offsets within a memory definition.
pub mod memory_def {
    /// Base address.
    pub const BASE: i32 = 0;
    /// Current length in bytes (u64).
    pub const LENGTH: i32 = 8;
}

/// Field offsets within a table definition.
pub mod table_def {
    /// Pointer to the element array (u64 per element).
    pub const BASE: i32 = 0;
    /// Current length in elements (u32).
    pub const LENGTH: i32 = 8;
}

/// Field offsets within a funcref record.
pub mod funcref {
    /// Code address.
    pub const CODE: i32 = 0;
    /// The vmctx to pass as callee vmctx.
    pub const VMCTX: i32 = 8;
    /// Process-wide signature id (u32).
    pub const SIG_ID: i32 = 16;
}

/// Field offsets within an imported-function pair.
pub mod imported_func {
    /// Code address.
    pub const CODE: i32 = 0;
    /// Callee vmctx.
    pub const VMCTX: i32 = 8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_do_not_overlap_and_stay_below_vmctx() {
        let l = VmctxLayout::new(2, 0, 1, 0, 1, 1, 3, 2, 1, 2).unwrap();
        let mut spans = vec![
            (l.imported_func(0), 32),
            (l.memory_ptr(0), 8),
            (l.memory_def(0), 16),
            (l.table_ptr(0), 8),
            (l.table_def(0), 16),
            (l.global_ptr(0), 8),
            (l.global(0), 48),
            (l.funcref(0), 48),
            (l.tag_ptr(0), 24),
            (l.tag_def(0), 16),
            (-(VmctxOffsets::HEADER_SIZE as i32), 64),
        ];
        spans.sort();
        assert_eq!(spans[0].0, -(l.size() as i32));
        for w in spans.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "{spans:?}");
        }
        let last = spans.last().unwrap();
        assert_eq!(last.0 + last.1, 0);
        assert_eq!(l.global(0) % 16, 0);
    }
}
