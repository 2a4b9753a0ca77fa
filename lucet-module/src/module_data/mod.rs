//! The serialized description of a compiled module: its parts, their
//! encoding, and lookups by index. What makes a description consistent,
//! and the checks that say so, are in [`validate`].

mod validate;

pub use validate::MAX_HEAP_ADDRESS_SPACE;

use crate::code_hash::CODE_HASH_LEN;
use crate::{
    CallSite, ConstExpr, ConstOp, Error, FuncType, GlobalType, HeapSpec, TrapCode, ValType,
};
use bincode::Options;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};

/// First bytes of serialized module data.
pub const MAGIC: [u8; 8] = *b"LUCETMOD";
/// Version of the serialized format; bumped on any incompatible change.
/// (2: `code_hash`; `spectre_guards`; run limits shared by a domain
/// instead of passed along on calls. 3: code from lucetc's own translator
/// on Cranelift 0.135, whose calls between wasm functions with more results
/// than return registers pass a hidden return-area pointer. 4: memories
/// and tables say whether they are 64-bit. 5: exception tags, `exnref`,
/// the landing pads of calls inside `try` blocks and of the entry
/// trampolines, which now return an uncaught exception. 6: tables'
/// initializer expressions.)
pub const FORMAT_VERSION: u32 = 6;
/// Header: magic, version, reserved word, payload length.
const HEADER_LEN: usize = 8 + 4 + 4 + 8;

/// Everything the runtime needs to know about a compiled module.
///
/// Index spaces follow WebAssembly: imported functions (tables, memories,
/// globals) come first, then the module's own definitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModuleData {
    /// Module name from the name section, if any.
    pub name: Option<String>,
    /// Function types, indexed by type index.
    pub types: Vec<FuncType>,
    /// Imports, in declaration order.
    pub imports: Vec<Import>,
    /// Defined functions, in order (index space offset by imported functions).
    pub functions: Vec<FunctionEntry>,
    /// Defined tables.
    pub tables: Vec<TableType>,
    /// Each defined table's initial element, when its definition gives
    /// one (function references: a table of non-nullable references must);
    /// null otherwise.
    pub table_inits: Vec<Option<ConstExpr>>,
    /// Defined memories (the first lives in an instance's slot, the
    /// others in reservations of their own).
    pub memories: Vec<MemoryType>,
    /// Defined globals.
    pub globals: Vec<GlobalDef>,
    /// Exports.
    pub exports: Vec<Export>,
    /// Start function index.
    pub start: Option<u32>,
    /// Defined exception tags, by the type index of their payload
    /// (index space offset by imported tags).
    pub tags: Vec<u32>,
    /// Element segments.
    pub elements: Vec<ElementSegment>,
    /// Data segments.
    pub data: Vec<DataSegment>,
    /// Functions that may be referenced as values (tables, `ref.func`,
    /// exports); each gets a funcref record in the vmctx, in this order.
    pub escaping_functions: Vec<u32>,
    /// The landing pad of each entry trampoline's call (indexed by type
    /// index), where an exception no wasm handler caught ends up.
    pub entry_landings: Vec<CallSite>,
    /// Options the module was compiled with that the runtime must honour.
    pub options: CompileOptions,
    /// SHA-256 of the linked shared object, taken with these 32 bytes as
    /// zeros (see [`crate::code_hash`]): lucetc fills it in after linking.
    /// All zeros until then. It must stay the last field: it is then the
    /// last 32 bytes of the serialized form, where the linked file can be
    /// patched without reserializing.
    pub code_hash: [u8; CODE_HASH_LEN],
}

/// Compile options the runtime must honour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompileOptions {
    /// Bytes of heap address space the code assumes reserved.
    pub heap_reserved_size: u64,
    /// Bytes of guard the code assumes beyond the reservation.
    pub heap_guard_size: u64,
    /// Whether loop headers and function entries check the interrupt flag.
    pub interruptible: bool,
    /// Whether executed instructions are counted in the vmctx.
    pub count_instructions: bool,
    /// Whether explicit bounds checks (table indices, and heap accesses the
    /// guard does not cover) also clamp the address with a conditional move,
    /// so a mispredicted check cannot read out of bounds speculatively
    /// (Spectre variant 1).
    pub spectre_guards: bool,
    /// CPU features the code uses beyond baseline x86-64 (Cranelift's
    /// names, such as `has_avx`); the runtime refuses to load the module on
    /// a CPU without them.
    pub cpu_features: Vec<String>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            heap_reserved_size: 4 << 30,
            // Static offsets below 32 MiB (all of a typical program's static
            // data) need no bounds check; larger ones get one compare. A
            // smaller guard keeps slots near 4 GiB, so 20,000 instances fit
            // in the 47-bit address space.
            heap_guard_size: 32 << 20,
            interruptible: true,
            count_instructions: false,
            spectre_guards: true,
            cpu_features: Vec::new(),
        }
    }
}

/// An import.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Import {
    /// Module name.
    pub module: String,
    /// Field name.
    pub field: String,
    /// What is imported.
    pub kind: ImportKind,
}

/// What an import is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ImportKind {
    /// A function of the given type index.
    Func(u32),
    /// A global.
    Global(GlobalType),
    /// A linear memory.
    Memory(MemoryType),
    /// A table.
    Table(TableType),
    /// An exception tag whose payload has the given type index.
    Tag(u32),
}

/// Limits of a linear memory, in pages, and its index type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryType {
    /// Initial pages.
    pub min_pages: u64,
    /// Maximum pages, if declared.
    pub max_pages: Option<u64>,
    /// Addressed with `i64` (memory64) rather than `i32`.
    pub memory64: bool,
}

/// A table type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableType {
    /// Element type (a reference type).
    pub elem: ValType,
    /// Initial elements.
    pub min: u32,
    /// Maximum elements, if declared.
    pub max: Option<u32>,
    /// Indexed with `i64` (table64) rather than `i32`.
    pub table64: bool,
    /// The exact element type where it is not the nullable abstract one
    /// `elem` names (see [`GlobalType::ref_type`]).
    pub ref_type: Option<crate::RefType>,
}

/// A defined global.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GlobalDef {
    /// Its type.
    pub ty: GlobalType,
    /// Its initializer.
    pub init: ConstExpr,
}

/// An export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Export {
    /// Export name.
    pub name: String,
    /// What is exported.
    pub kind: ExportKind,
    /// Index in the kind's index space.
    pub index: u32,
}

/// Kinds of exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportKind {
    /// A function.
    Func,
    /// A table.
    Table,
    /// A memory.
    Memory,
    /// A global.
    Global,
    /// An exception tag.
    Tag,
}

/// How a segment is applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SegmentMode {
    /// Copied into table or memory `index` at `offset` during instantiation.
    Active {
        /// Table or memory index.
        index: u32,
        /// Offset expression.
        offset: ConstExpr,
    },
    /// Available to `table.init` / `memory.init`.
    Passive,
    /// Only declares functions referenceable by `ref.func`.
    Declared,
}

/// Items of an element segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ElemItems {
    /// Function indices.
    Funcs(Vec<u32>),
    /// Constant expressions producing references.
    Exprs(Vec<ConstExpr>),
}

impl ElemItems {
    /// Number of items.
    pub fn len(&self) -> usize {
        match self {
            ElemItems::Funcs(v) => v.len(),
            ElemItems::Exprs(v) => v.len(),
        }
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An element segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ElementSegment {
    /// How it is applied.
    pub mode: SegmentMode,
    /// Element type.
    pub elem: ValType,
    /// Items.
    pub items: ElemItems,
}

/// A data segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSegment {
    /// How it is applied.
    pub mode: SegmentMode,
    /// Bytes.
    pub bytes: Vec<u8>,
}

/// A defined function's manifest entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionEntry {
    /// Type index.
    pub type_index: u32,
    /// Name from the name section, if any.
    pub name: Option<String>,
    /// Length of its machine code in bytes.
    pub code_len: u32,
    /// Trap sites, sorted by offset.
    pub traps: Vec<TrapSite>,
    /// Calls made inside a `try` block, sorted by return offset: where
    /// the unwinder resumes when the callee throws.
    pub call_sites: Vec<CallSite>,
}

/// An instruction that may trap, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrapSite {
    /// Offset from the start of the function's code.
    pub offset: u32,
    /// The trap it raises.
    pub code: TrapCode,
}

fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
}

impl ModuleData {
    /// A module with nothing in it yet, compiled with `options` (a
    /// compiler fills it in as it reads the wasm).
    pub fn empty(options: CompileOptions) -> ModuleData {
        ModuleData {
            name: None,
            types: Vec::new(),
            imports: Vec::new(),
            functions: Vec::new(),
            tables: Vec::new(),
            table_inits: Vec::new(),
            memories: Vec::new(),
            globals: Vec::new(),
            exports: Vec::new(),
            start: None,
            tags: Vec::new(),
            elements: Vec::new(),
            data: Vec::new(),
            escaping_functions: Vec::new(),
            entry_landings: Vec::new(),
            options,
            code_hash: [0; crate::code_hash::CODE_HASH_LEN],
        }
    }

    /// Serialize with the header (magic, version, length).
    pub fn serialize(&self) -> Vec<u8> {
        let payload = codec()
            .serialize(self)
            .expect("serializing plain data cannot fail");
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Read serialized module data back, checking the header, every length,
    /// and the consistency of every index (see [`ModuleData::validate`]).
    pub fn deserialize(bytes: &[u8]) -> Result<ModuleData, Error> {
        if bytes.len() < 8 || bytes[..8] != MAGIC {
            return Err(Error::BadMagic);
        }
        if bytes.len() < HEADER_LEN {
            return Err(Error::Truncated(format!(
                "{} bytes, header needs {HEADER_LEN}",
                bytes.len()
            )));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        if version != FORMAT_VERSION {
            return Err(Error::Version {
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        let len = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
        let available = (bytes.len() - HEADER_LEN) as u64;
        if len > available {
            return Err(Error::Truncated(format!(
                "payload of {len} bytes declared, {available} present"
            )));
        }
        let payload = &bytes[HEADER_LEN..HEADER_LEN + len as usize];
        let data: ModuleData = codec()
            .with_limit(len)
            .deserialize(payload)
            .map_err(|e| Error::Decode(e.to_string()))?;
        data.validate()?;
        Ok(data)
    }

    /// Offset of the code hash in serialized module data `bytes` (whose
    /// header must be intact): the last [`CODE_HASH_LEN`] bytes of the
    /// payload the header declares.
    pub fn code_hash_offset(bytes: &[u8]) -> Option<usize> {
        let len = u64::from_le_bytes(bytes.get(16..HEADER_LEN)?.try_into().ok()?);
        let end = (HEADER_LEN as u64).checked_add(len)?;
        if bytes.len() as u64 != end || len < CODE_HASH_LEN as u64 {
            return None;
        }
        Some(end as usize - CODE_HASH_LEN)
    }

    /// Number of imported functions.
    pub fn num_imported_funcs(&self) -> u32 {
        self.count_imports(|k| matches!(k, ImportKind::Func(_)))
    }

    /// Number of imported tables.
    pub fn num_imported_tables(&self) -> u32 {
        self.count_imports(|k| matches!(k, ImportKind::Table(_)))
    }

    /// Number of imported memories.
    pub fn num_imported_memories(&self) -> u32 {
        self.count_imports(|k| matches!(k, ImportKind::Memory(_)))
    }

    /// Number of imported globals.
    pub fn num_imported_globals(&self) -> u32 {
        self.count_imports(|k| matches!(k, ImportKind::Global(_)))
    }

    /// Number of imported exception tags.
    pub fn num_imported_tags(&self) -> u32 {
        self.count_imports(|k| matches!(k, ImportKind::Tag(_)))
    }

    /// Total exception tags (imported + defined).
    pub fn num_tags(&self) -> u32 {
        self.num_imported_tags() + self.tags.len() as u32
    }

    /// Payload type index of exception tag `index`.
    pub fn tag_type_index(&self, index: u32) -> Option<u32> {
        match index.checked_sub(self.num_imported_tags()) {
            None => self.nth_import(index, |k| match k {
                ImportKind::Tag(t) => Some(*t),
                _ => None,
            }),
            Some(d) => self.tags.get(d as usize).copied(),
        }
    }

    fn count_imports(&self, f: impl Fn(&ImportKind) -> bool) -> u32 {
        self.imports.iter().filter(|i| f(&i.kind)).count() as u32
    }

    /// Total functions (imported + defined).
    pub fn num_funcs(&self) -> u32 {
        self.num_imported_funcs() + self.functions.len() as u32
    }

    /// Total tables.
    pub fn num_tables(&self) -> u32 {
        self.num_imported_tables() + self.tables.len() as u32
    }

    /// Total memories.
    pub fn num_memories(&self) -> u32 {
        self.num_imported_memories() + self.memories.len() as u32
    }

    /// Total globals.
    pub fn num_globals(&self) -> u32 {
        self.num_imported_globals() + self.globals.len() as u32
    }

    /// The `index`-th import of the kind `pick` selects.
    fn nth_import<T>(&self, index: u32, pick: impl Fn(&ImportKind) -> Option<T>) -> Option<T> {
        self.imports
            .iter()
            .filter_map(|i| pick(&i.kind))
            .nth(index as usize)
    }

    /// Type index of function `index` in the function index space.
    pub fn func_type_index(&self, index: u32) -> Option<u32> {
        match index.checked_sub(self.num_imported_funcs()) {
            None => self.nth_import(index, |k| match k {
                ImportKind::Func(t) => Some(*t),
                _ => None,
            }),
            Some(d) => self.functions.get(d as usize).map(|f| f.type_index),
        }
    }

    /// Type of function `index`.
    pub fn func_type(&self, index: u32) -> Option<&FuncType> {
        self.func_type_index(index)
            .and_then(|t| self.types.get(t as usize))
    }

    /// Type of global `index`.
    pub fn global_type(&self, index: u32) -> Option<GlobalType> {
        match index.checked_sub(self.num_imported_globals()) {
            None => self.nth_import(index, |k| match k {
                ImportKind::Global(g) => Some(*g),
                _ => None,
            }),
            Some(d) => self.globals.get(d as usize).map(|g| g.ty),
        }
    }

    /// Type of table `index`.
    pub fn table_type(&self, index: u32) -> Option<TableType> {
        match index.checked_sub(self.num_imported_tables()) {
            None => self.nth_import(index, |k| match k {
                ImportKind::Table(t) => Some(*t),
                _ => None,
            }),
            Some(d) => self.tables.get(d as usize).copied(),
        }
    }

    /// Type of memory `index`.
    pub fn memory_type(&self, index: u32) -> Option<MemoryType> {
        match index.checked_sub(self.num_imported_memories()) {
            None => self.nth_import(index, |k| match k {
                ImportKind::Memory(m) => Some(*m),
                _ => None,
            }),
            Some(d) => self.memories.get(d as usize).copied(),
        }
    }

    /// The heap of this module's first defined memory, if it defines one
    /// (the one in an instance's slot).
    pub fn heap_spec(&self) -> Option<HeapSpec> {
        self.heap_spec_of(self.num_imported_memories())
    }

    /// The heap of memory `index`, if the module defines it: every defined
    /// memory is compiled for the same reservation and guard.
    pub fn heap_spec_of(&self, index: u32) -> Option<HeapSpec> {
        let defined = index.checked_sub(self.num_imported_memories())?;
        self.memories.get(defined as usize).map(|m| HeapSpec {
            reserved_size: self.options.heap_reserved_size,
            guard_size: self.options.heap_guard_size,
            initial_pages: m.min_pages,
            max_pages: m.max_pages,
            memory64: m.memory64,
        })
    }

    /// Look up an export by name.
    pub fn export(&self, name: &str) -> Option<&Export> {
        self.exports.iter().find(|e| e.name == name)
    }
}
