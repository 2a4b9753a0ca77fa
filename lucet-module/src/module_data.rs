//! The serialized description of a compiled module.

use crate::code_hash::CODE_HASH_LEN;
use crate::{ConstExpr, ConstOp, Error, FuncType, GlobalType, HeapSpec, TrapCode, ValType};
use bincode::Options;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};

/// First bytes of serialized module data.
pub const MAGIC: [u8; 8] = *b"LUCETMOD";
/// Version of the serialized format; bumped on any incompatible change.
/// (2: `code_hash`; `spectre_guards`; run limits shared by a domain
/// instead of passed along on calls.)
pub const FORMAT_VERSION: u32 = 2;
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
    /// Defined memories (at most one, alone or imported).
    pub memories: Vec<MemoryType>,
    /// Defined globals.
    pub globals: Vec<GlobalDef>,
    /// Exports.
    pub exports: Vec<Export>,
    /// Start function index.
    pub start: Option<u32>,
    /// Element segments.
    pub elements: Vec<ElementSegment>,
    /// Data segments.
    pub data: Vec<DataSegment>,
    /// Functions that may be referenced as values (tables, `ref.func`,
    /// exports); each gets a funcref record in the vmctx, in this order.
    pub escaping_functions: Vec<u32>,
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
}

/// Limits of a linear memory, in pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryType {
    /// Initial pages.
    pub min_pages: u64,
    /// Maximum pages, if declared.
    pub max_pages: Option<u64>,
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
            memories: Vec::new(),
            globals: Vec::new(),
            exports: Vec::new(),
            start: None,
            elements: Vec::new(),
            data: Vec::new(),
            escaping_functions: Vec::new(),
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

    /// The heap this module defines, if it defines one.
    pub fn heap_spec(&self) -> Option<HeapSpec> {
        self.memories.first().map(|m| HeapSpec {
            reserved_size: self.options.heap_reserved_size,
            guard_size: self.options.heap_guard_size,
            initial_pages: m.min_pages,
            max_pages: m.max_pages,
        })
    }

    /// Look up an export by name.
    pub fn export(&self, name: &str) -> Option<&Export> {
        self.exports.iter().find(|e| e.name == name)
    }

    /// Check that every index, length and type is consistent, so the
    /// runtime can rely on them without further checks. It accepts exactly
    /// the shapes lucetc produces:
    ///
    /// - at most one memory; memory limits within 65,536 pages and the
    ///   initial size within the heap reservation; table limits ordered and
    ///   table elements of a reference type;
    /// - heap reservation of at least 4 GiB, reservation and guard
    ///   multiples of 4 KiB, their sum within the 47-bit address space;
    /// - every type, function, table, memory and global index in range;
    /// - every trap site inside its function, offsets strictly increasing;
    /// - every constant expression well typed for where it is used (global
    ///   initializers of the global's type, offsets `i32`, element items of
    ///   the segment's type), reading only imported immutable globals;
    /// - element segments of the type of the table they initialize;
    /// - unique export names, and a start function of type `[] -> []`;
    /// - `escaping_functions` exactly the sorted, deduplicated set of
    ///   functions referenced by exports, element segments and `ref.func`
    ///   in constant expressions (the runtime finds their records by binary
    ///   search and lucetc by position);
    /// - a vmctx layout that fits ([`crate::VmctxLayout::for_module`]).
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |msg: String| Err(Error::Invalid(msg));
        let ntypes = self.types.len() as u32;
        let nfuncs = self.num_funcs();
        let ntables = self.num_tables();
        let nmems = self.num_memories();
        if nmems > 1 {
            return bad(format!("{nmems} memories; at most one is supported"));
        }
        self.validate_options()?;
        for import in &self.imports {
            let what = || format!("import {}::{}", import.module, import.field);
            match import.kind {
                ImportKind::Func(t) if t >= ntypes => {
                    return bad(format!("{} has type {t} of {ntypes}", what()))
                }
                ImportKind::Memory(m) => check_memory(&m, u64::MAX)
                    .map_err(|e| Error::Invalid(format!("{}: {e}", what())))?,
                ImportKind::Table(t) => {
                    check_table(&t).map_err(|e| Error::Invalid(format!("{}: {e}", what())))?
                }
                _ => {}
            }
        }
        for (i, f) in self.functions.iter().enumerate() {
            if f.type_index >= ntypes {
                return bad(format!(
                    "function {i} has type {} of {ntypes}",
                    f.type_index
                ));
            }
            let mut last = None;
            for t in &f.traps {
                if t.offset >= f.code_len || last.is_some_and(|l| t.offset <= l) {
                    return bad(format!(
                        "function {i} has a trap site out of order or range"
                    ));
                }
                last = Some(t.offset);
            }
        }
        for (i, t) in self.tables.iter().enumerate() {
            check_table(t).map_err(|e| Error::Invalid(format!("table {i}: {e}")))?;
        }
        for m in &self.memories {
            check_memory(m, self.options.heap_reserved_size)
                .map_err(|e| Error::Invalid(format!("memory: {e}")))?;
        }
        for (i, g) in self.globals.iter().enumerate() {
            self.check_const(&g.init, g.ty.ty)
                .map_err(|e| Error::Invalid(format!("initializer of global {i}: {e}")))?;
        }
        let mut names = HashSet::new();
        for e in &self.exports {
            if !names.insert(e.name.as_str()) {
                return bad(format!("duplicate export {:?}", e.name));
            }
            let limit = match e.kind {
                ExportKind::Func => nfuncs,
                ExportKind::Table => ntables,
                ExportKind::Memory => nmems,
                ExportKind::Global => self.num_globals(),
            };
            if e.index >= limit {
                return bad(format!(
                    "export {:?} index {} out of range",
                    e.name, e.index
                ));
            }
        }
        if let Some(s) = self.start {
            match self.func_type(s) {
                Some(t) if t.params.is_empty() && t.results.is_empty() => {}
                _ => {
                    return bad(format!(
                        "start function {s} is missing or has a non-empty type"
                    ))
                }
            }
        }
        for (i, seg) in self.elements.iter().enumerate() {
            let fail = |e: String| Error::Invalid(format!("element segment {i}: {e}"));
            if !seg.elem.is_ref() {
                return Err(fail(format!("element type {}", seg.elem)));
            }
            if let SegmentMode::Active { index, offset } = &seg.mode {
                let Some(table) = self.table_type(*index) else {
                    return Err(fail(format!("table {index} of {ntables}")));
                };
                if table.elem != seg.elem {
                    return Err(fail(format!(
                        "{} elements for a table of {}",
                        seg.elem, table.elem
                    )));
                }
                self.check_const(offset, ValType::I32)
                    .map_err(|e| fail(format!("offset: {e}")))?;
            }
            match &seg.items {
                ElemItems::Funcs(fs) => {
                    if seg.elem != ValType::FuncRef {
                        return Err(fail(format!("function indices as {}", seg.elem)));
                    }
                    if let Some(f) = fs.iter().find(|f| **f >= nfuncs) {
                        return Err(fail(format!("function {f} of {nfuncs}")));
                    }
                }
                ElemItems::Exprs(es) => {
                    for e in es {
                        self.check_const(e, seg.elem).map_err(fail)?;
                    }
                }
            }
        }
        for (i, seg) in self.data.iter().enumerate() {
            if let SegmentMode::Active { index, offset } = &seg.mode {
                if *index >= nmems {
                    return bad(format!("data segment {i} for memory {index} of {nmems}"));
                }
                self.check_const(offset, ValType::I32)
                    .map_err(|e| Error::Invalid(format!("data segment {i} offset: {e}")))?;
            }
        }
        let escaping = self.referenced_functions();
        if !self.escaping_functions.iter().eq(escaping.iter()) {
            return bad(format!(
                "escaping functions {:?} are not the {} referenced ones",
                Abbrev(&self.escaping_functions),
                escaping.len()
            ));
        }
        if crate::VmctxLayout::for_module(self).is_none() {
            return bad("instance state too large".into());
        }
        Ok(())
    }

    fn validate_options(&self) -> Result<(), Error> {
        let o = &self.options;
        if o.heap_reserved_size < (4 << 30) {
            // Code is compiled assuming every u32 index lands in the reservation.
            return Err(Error::Invalid("heap reservation below 4 GiB".into()));
        }
        if !o.heap_reserved_size.is_multiple_of(4096) || !o.heap_guard_size.is_multiple_of(4096) {
            return Err(Error::Invalid(
                "heap reservation or guard not a multiple of 4 KiB".into(),
            ));
        }
        if o.heap_reserved_size
            .checked_add(o.heap_guard_size)
            .is_none_or(|total| total > MAX_HEAP_ADDRESS_SPACE)
        {
            return Err(Error::Invalid(
                "heap reservation and guard exceed the address space".into(),
            ));
        }
        Ok(())
    }

    /// The functions lucetc gives a funcref record: those exported, named
    /// in element segments, or referenced by `ref.func` in a constant
    /// expression (which is also every function `ref.func` in code may
    /// name: wasm requires those to be declared in one of these places).
    pub fn referenced_functions(&self) -> BTreeSet<u32> {
        let mut set = BTreeSet::new();
        let mut note = |e: &ConstExpr| {
            for op in &e.0 {
                if let ConstOp::RefFunc(f) = op {
                    set.insert(*f);
                }
            }
        };
        for g in &self.globals {
            note(&g.init);
        }
        for seg in &self.elements {
            if let ElemItems::Exprs(es) = &seg.items {
                es.iter().for_each(&mut note);
            }
        }
        for seg in &self.elements {
            if let ElemItems::Funcs(fs) = &seg.items {
                set.extend(fs.iter().copied());
            }
        }
        set.extend(
            self.exports
                .iter()
                .filter(|e| e.kind == ExportKind::Func)
                .map(|e| e.index),
        );
        set
    }

    /// Type-check a constant expression: it must leave exactly one value of
    /// type `want` (a null reference has every reference type) and may read
    /// only imported immutable globals.
    fn check_const(&self, e: &ConstExpr, want: ValType) -> Result<(), String> {
        // `None` is the type of a null reference.
        let mut stack: Vec<Option<ValType>> = Vec::new();
        let nfuncs = self.num_funcs();
        let nimported = self.num_imported_globals();
        for op in &e.0 {
            let (operand, result) = match *op {
                ConstOp::I32Const(_) => (None, Some(ValType::I32)),
                ConstOp::I64Const(_) => (None, Some(ValType::I64)),
                ConstOp::F32Const(_) => (None, Some(ValType::F32)),
                ConstOp::F64Const(_) => (None, Some(ValType::F64)),
                ConstOp::V128Const(_) => (None, Some(ValType::V128)),
                ConstOp::RefNull => (None, None),
                ConstOp::RefFunc(f) if f >= nfuncs => {
                    return Err(format!("ref.func {f} of {nfuncs}"))
                }
                ConstOp::RefFunc(_) => (None, Some(ValType::FuncRef)),
                ConstOp::GlobalGet(g) => match self.global_type(g) {
                    Some(t) if g < nimported && !t.mutable => (None, Some(t.ty)),
                    _ => return Err(format!("global.get {g}: not an imported immutable global")),
                },
                ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                    (Some(ValType::I32), Some(ValType::I32))
                }
                ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                    (Some(ValType::I64), Some(ValType::I64))
                }
            };
            if let Some(t) = operand {
                for _ in 0..2 {
                    if stack.pop() != Some(Some(t)) {
                        return Err(format!("{op:?} needs two {t} operands"));
                    }
                }
            }
            stack.push(result);
        }
        match stack.as_slice() {
            [Some(t)] if *t == want => Ok(()),
            [None] if want.is_ref() => Ok(()),
            _ => Err(format!("does not produce one {want}")),
        }
    }
}

/// Highest heap reservation plus guard a module may assume: the 47-bit
/// user address space of x86-64.
pub const MAX_HEAP_ADDRESS_SPACE: u64 = 1 << 47;

/// Most pages a 32-bit memory can have.
const MAX_PAGES: u64 = 65536;

fn check_memory(m: &MemoryType, reserved: u64) -> Result<(), String> {
    if m.min_pages > MAX_PAGES
        || m.max_pages
            .is_some_and(|x| x > MAX_PAGES || x < m.min_pages)
    {
        return Err(format!("limits {}..{:?} pages", m.min_pages, m.max_pages));
    }
    if m.min_pages * crate::WASM_PAGE_SIZE > reserved {
        return Err(format!(
            "{} pages do not fit the heap reservation",
            m.min_pages
        ));
    }
    Ok(())
}

fn check_table(t: &TableType) -> Result<(), String> {
    if !t.elem.is_ref() {
        return Err(format!("element type {}", t.elem));
    }
    if t.max.is_some_and(|m| m < t.min) {
        return Err(format!("limits {}..{:?}", t.min, t.max));
    }
    Ok(())
}

/// A list in an error message, shortened.
struct Abbrev<'a>(&'a [u32]);

impl std::fmt::Debug for Abbrev<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.len() <= 8 {
            write!(f, "{:?}", self.0)
        } else {
            write!(f, "{:?}... ({} in all)", &self.0[..8], self.0.len())
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// A small module using every part of the format: an imported function
    /// and global, a memory, a table, globals, segments of every kind.
    fn sample() -> ModuleData {
        let ft = FuncType::new([ValType::I32], [ValType::I32]);
        let unit = FuncType::default();
        let i32c = |v| ConstExpr(vec![ConstOp::I32Const(v)]);
        ModuleData {
            name: Some("m".into()),
            types: vec![ft, unit],
            imports: vec![
                Import {
                    module: "env".into(),
                    field: "f".into(),
                    kind: ImportKind::Func(0),
                },
                Import {
                    module: "env".into(),
                    field: "g".into(),
                    kind: ImportKind::Global(GlobalType {
                        ty: ValType::I32,
                        mutable: false,
                    }),
                },
            ],
            functions: vec![
                FunctionEntry {
                    type_index: 0,
                    name: None,
                    code_len: 16,
                    traps: vec![
                        TrapSite {
                            offset: 2,
                            code: TrapCode::HeapOutOfBounds,
                        },
                        TrapSite {
                            offset: 9,
                            code: TrapCode::Unreachable,
                        },
                    ],
                },
                FunctionEntry {
                    type_index: 1,
                    name: Some("start".into()),
                    code_len: 4,
                    traps: vec![],
                },
            ],
            tables: vec![TableType {
                elem: ValType::FuncRef,
                min: 4,
                max: Some(8),
            }],
            memories: vec![MemoryType {
                min_pages: 1,
                max_pages: Some(2),
            }],
            globals: vec![
                GlobalDef {
                    ty: GlobalType {
                        ty: ValType::I32,
                        mutable: true,
                    },
                    init: ConstExpr(vec![
                        ConstOp::GlobalGet(0),
                        ConstOp::I32Const(2),
                        ConstOp::I32Add,
                    ]),
                },
                GlobalDef {
                    ty: GlobalType {
                        ty: ValType::FuncRef,
                        mutable: false,
                    },
                    init: ConstExpr(vec![ConstOp::RefFunc(2)]),
                },
            ],
            exports: vec![Export {
                name: "run".into(),
                kind: ExportKind::Func,
                index: 1,
            }],
            start: Some(2),
            elements: vec![
                ElementSegment {
                    mode: SegmentMode::Active {
                        index: 0,
                        offset: i32c(1),
                    },
                    elem: ValType::FuncRef,
                    items: ElemItems::Funcs(vec![0, 1]),
                },
                ElementSegment {
                    mode: SegmentMode::Passive,
                    elem: ValType::FuncRef,
                    items: ElemItems::Exprs(vec![
                        ConstExpr(vec![ConstOp::RefNull]),
                        ConstExpr(vec![ConstOp::RefFunc(1)]),
                    ]),
                },
            ],
            data: vec![DataSegment {
                mode: SegmentMode::Active {
                    index: 0,
                    offset: ConstExpr(vec![ConstOp::GlobalGet(0)]),
                },
                bytes: b"hi".to_vec(),
            }],
            escaping_functions: vec![0, 1, 2],
            options: CompileOptions::default(),
            code_hash: [0; crate::code_hash::CODE_HASH_LEN],
        }
    }

    fn rejected(change: impl FnOnce(&mut ModuleData)) -> String {
        let mut d = sample();
        change(&mut d);
        match d.validate() {
            Err(Error::Invalid(why)) => why,
            other => panic!("expected rejection, got {other:?}"),
        }
    }

    #[test]
    fn sample_is_valid_and_round_trips() {
        let d = sample();
        d.validate().unwrap();
        assert_eq!(ModuleData::deserialize(&d.serialize()).unwrap(), d);
    }

    #[test]
    fn escaping_functions_must_be_exactly_the_referenced_set() {
        assert!(rejected(|d| d.escaping_functions = vec![0, 2]).contains("escaping"));
        assert!(rejected(|d| d.escaping_functions = vec![0, 2, 1]).contains("escaping"));
        assert!(rejected(|d| d.escaping_functions = vec![0, 1, 1, 2]).contains("escaping"));
        assert!(rejected(|d| d.escaping_functions.push(3)).contains("escaping"));
        // A new export must escape too.
        rejected(|d| {
            d.exports.push(Export {
                name: "other".into(),
                kind: ExportKind::Func,
                index: 0,
            });
            d.escaping_functions = vec![1, 2];
        });
    }

    #[test]
    fn constant_expressions_are_typed() {
        // A funcref global initialized with an integer would be a forged pointer.
        rejected(|d| d.globals[1].init = ConstExpr(vec![ConstOp::I32Const(0x1234)]));
        rejected(|d| d.globals[0].init = ConstExpr(vec![ConstOp::RefFunc(0)]));
        rejected(|d| d.globals[0].init = ConstExpr(vec![]));
        rejected(|d| d.globals[0].init = ConstExpr(vec![ConstOp::I32Add]));
        rejected(|d| {
            d.globals[0].init = ConstExpr(vec![ConstOp::I32Const(1), ConstOp::I32Const(1)])
        });
        rejected(|d| {
            d.globals[0].init = ConstExpr(vec![
                ConstOp::I64Const(1),
                ConstOp::I32Const(1),
                ConstOp::I32Add,
            ])
        });
        // Only imported immutable globals may be read.
        rejected(|d| d.globals[1].init = ConstExpr(vec![ConstOp::GlobalGet(2)]));
        rejected(|d| d.globals[0].init = ConstExpr(vec![ConstOp::GlobalGet(1)]));
        rejected(|d| {
            d.imports[1].kind = ImportKind::Global(GlobalType {
                ty: ValType::I32,
                mutable: true,
            })
        });
        rejected(|d| d.globals[1].init = ConstExpr(vec![ConstOp::RefFunc(9)]));
        // Offsets are i32.
        rejected(|d| {
            d.data[0].mode = SegmentMode::Active {
                index: 0,
                offset: ConstExpr(vec![ConstOp::I64Const(0)]),
            }
        });
        // Element items have the segment's type.
        rejected(|d| {
            d.elements[1].items = ElemItems::Exprs(vec![ConstExpr(vec![ConstOp::I32Const(0)])])
        });
    }

    #[test]
    fn segments_match_their_tables() {
        rejected(|d| d.tables[0].elem = ValType::ExternRef);
        rejected(|d| {
            d.elements[1].elem = ValType::ExternRef;
        });
        rejected(|d| d.elements[0].elem = ValType::I32);
        rejected(|d| {
            d.elements[0].mode = SegmentMode::Active {
                index: 1,
                offset: ConstExpr(vec![ConstOp::I32Const(0)]),
            }
        });
        rejected(|d| d.elements[0].items = ElemItems::Funcs(vec![0, 7]));
        rejected(|d| {
            d.data[0].mode = SegmentMode::Active {
                index: 1,
                offset: ConstExpr(vec![ConstOp::I32Const(0)]),
            }
        });
    }

    #[test]
    fn indices_limits_and_options_are_checked() {
        rejected(|d| d.functions[0].type_index = 2);
        rejected(|d| d.imports[0].kind = ImportKind::Func(5));
        rejected(|d| d.functions[0].traps[1].offset = 2);
        rejected(|d| d.functions[0].traps[1].offset = 16);
        rejected(|d| d.exports[0].index = 3);
        rejected(|d| {
            d.exports.push(Export {
                name: "run".into(),
                kind: ExportKind::Memory,
                index: 0,
            })
        });
        rejected(|d| {
            d.exports.push(Export {
                name: "t".into(),
                kind: ExportKind::Table,
                index: 1,
            })
        });
        rejected(|d| d.start = Some(0));
        rejected(|d| d.start = Some(3));
        rejected(|d| d.memories[0].max_pages = Some(0));
        rejected(|d| d.memories[0].min_pages = 65537);
        rejected(|d| d.memories.push(d.memories[0]));
        rejected(|d| d.tables[0].max = Some(3));
        rejected(|d| {
            d.imports.push(Import {
                module: "env".into(),
                field: "t".into(),
                kind: ImportKind::Table(TableType {
                    elem: ValType::F64,
                    min: 0,
                    max: None,
                }),
            })
        });
        rejected(|d| d.options.heap_reserved_size = 1 << 20);
        rejected(|d| d.options.heap_reserved_size = !4095);
        rejected(|d| d.options.heap_guard_size = !4095);
        rejected(|d| d.options.heap_guard_size = 100);
    }
}
