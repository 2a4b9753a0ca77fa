//! What makes module data consistent: [`ModuleData::validate`], which the
//! runtime runs on every module it loads before trusting any index, length
//! or type in it. One concern, the checks and the tests that each check
//! refuses what it should; that is why it is long.

use super::*;

impl ModuleData {
    /// Check that every index, length and type is consistent, so the
    /// runtime can rely on them without further checks. It accepts exactly
    /// the shapes lucetc produces:
    ///
    /// - memory limits within 65,536 pages (2^48 for 64-bit ones) and the
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
        self.validate_options()?;
        let exact = self
            .imports
            .iter()
            .filter_map(|i| match &i.kind {
                ImportKind::Global(g) => Some((g.ty, g.ref_type)),
                ImportKind::Table(t) => Some((t.elem, t.ref_type)),
                _ => None,
            })
            .chain(self.globals.iter().map(|g| (g.ty.ty, g.ty.ref_type)))
            .chain(self.tables.iter().map(|t| (t.elem, t.ref_type)));
        for (ty, r) in exact {
            if let Some(r) = r {
                self.check_ref_type(ty, r).map_err(Error::Invalid)?;
            }
        }
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
                ImportKind::Tag(t) => self
                    .check_tag_type(t)
                    .map_err(|e| Error::Invalid(format!("{}: {e}", what())))?,
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
            let mut last = None;
            for s in &f.call_sites {
                if s.ret_offset > f.code_len
                    || s.handler_offset >= f.code_len
                    || last.is_some_and(|l| s.ret_offset <= l)
                {
                    return bad(format!(
                        "function {i} has a call site out of order or range"
                    ));
                }
                last = Some(s.ret_offset);
            }
        }
        for (i, t) in self.tags.iter().enumerate() {
            self.check_tag_type(*t)
                .map_err(|e| Error::Invalid(format!("tag {i}: {e}")))?;
        }
        if self.entry_landings.len() != self.types.len() {
            return bad(format!(
                "{} entry landing pads for {ntypes} types",
                self.entry_landings.len()
            ));
        }
        if self.table_inits.len() != self.tables.len() {
            return bad(format!(
                "{} table initializers for {} tables",
                self.table_inits.len(),
                self.tables.len()
            ));
        }
        for (i, (t, init)) in self.tables.iter().zip(&self.table_inits).enumerate() {
            check_table(t).map_err(|e| Error::Invalid(format!("table {i}: {e}")))?;
            if let Some(init) = init {
                // The table section precedes the globals: only imports.
                self.check_const(init, t.elem, self.num_imported_globals())
                    .map_err(|e| Error::Invalid(format!("initializer of table {i}: {e}")))?;
            }
        }
        for m in &self.memories {
            check_memory(m, self.options.heap_reserved_size)
                .map_err(|e| Error::Invalid(format!("memory: {e}")))?;
        }
        for (i, g) in self.globals.iter().enumerate() {
            // A global's initializer sees the globals before it.
            let readable = self.num_imported_globals() + i as u32;
            self.check_const(&g.init, g.ty.ty, readable)
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
                ExportKind::Tag => self.num_tags(),
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
                let at = if table.table64 {
                    ValType::I64
                } else {
                    ValType::I32
                };
                self.check_const(offset, at, self.num_globals())
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
                        self.check_const(e, seg.elem, self.num_globals())
                            .map_err(fail)?;
                    }
                }
            }
        }
        for (i, seg) in self.data.iter().enumerate() {
            if let SegmentMode::Active { index, offset } = &seg.mode {
                if *index >= nmems {
                    return bad(format!("data segment {i} for memory {index} of {nmems}"));
                }
                let memory64 = self.memory_type(*index).is_some_and(|m| m.memory64);
                let at = if memory64 { ValType::I64 } else { ValType::I32 };
                self.check_const(offset, at, self.num_globals())
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

    /// An exact reference type refines `ty` and names a type that exists.
    fn check_ref_type(&self, ty: ValType, r: crate::RefType) -> Result<(), String> {
        use crate::HeapType::*;
        let kind = match r.heap {
            Func | NoFunc | Concrete(_) => ValType::FuncRef,
            Extern | NoExtern => ValType::ExternRef,
            Exn | NoExn => ValType::ExnRef,
        };
        if kind != ty {
            return Err(format!("reference type {r:?} given for {ty}"));
        }
        match r.heap {
            Concrete(t) if t as usize >= self.types.len() => {
                Err(format!("reference to type {t} of {}", self.types.len()))
            }
            _ => Ok(()),
        }
    }

    /// A tag's payload is the parameters of a type with no results.
    fn check_tag_type(&self, t: u32) -> Result<(), String> {
        match self.types.get(t as usize) {
            None => Err(format!("type {t} of {}", self.types.len())),
            Some(ty) if !ty.results.is_empty() => Err(format!("type {t} has results")),
            Some(_) => Ok(()),
        }
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
        self.table_inits.iter().flatten().for_each(&mut note);
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
    /// only immutable globals among the first `readable` (those initialized
    /// before it is evaluated).
    fn check_const(&self, e: &ConstExpr, want: ValType, readable: u32) -> Result<(), String> {
        // `None` is the type of a null reference.
        let mut stack: Vec<Option<ValType>> = Vec::new();
        let nfuncs = self.num_funcs();
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
                    Some(t) if g < readable && !t.mutable => (None, Some(t.ty)),
                    _ => {
                        return Err(format!(
                            "global.get {g}: not an immutable global of the first {readable}"
                        ))
                    }
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

fn check_memory(m: &MemoryType, reserved: u64) -> Result<(), String> {
    use crate::heap::{MAX_PAGES_32, MAX_PAGES_64};
    let most = if m.memory64 {
        MAX_PAGES_64
    } else {
        MAX_PAGES_32
    };
    if m.min_pages > most || m.max_pages.is_some_and(|x| x > most || x < m.min_pages) {
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
                        ref_type: None,
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
                    call_sites: vec![CallSite {
                        ret_offset: 7,
                        handler_offset: 12,
                        frame_offset: 16,
                    }],
                },
                FunctionEntry {
                    type_index: 1,
                    name: Some("start".into()),
                    code_len: 4,
                    traps: vec![],
                    call_sites: vec![],
                },
            ],
            tables: vec![TableType {
                elem: ValType::FuncRef,
                min: 4,
                max: Some(8),
                table64: false,
                ref_type: None,
            }],
            table_inits: vec![Some(ConstExpr(vec![ConstOp::RefFunc(0)]))],
            memories: vec![MemoryType {
                min_pages: 1,
                max_pages: Some(2),
                memory64: false,
            }],
            globals: vec![
                GlobalDef {
                    ty: GlobalType {
                        ty: ValType::I32,
                        mutable: true,
                        ref_type: None,
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
                        ref_type: None,
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
            tags: vec![1],
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
            entry_landings: vec![
                CallSite {
                    ret_offset: 20,
                    handler_offset: 30,
                    frame_offset: 16,
                };
                2
            ],
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

    fn active(op: ConstOp) -> SegmentMode {
        SegmentMode::Active {
            index: 0,
            offset: ConstExpr(vec![op]),
        }
    }

    #[test]
    fn constant_expressions_may_read_earlier_immutable_globals() {
        // WebAssembly 3.0: a defined global, not only an import.
        let mut d = sample();
        d.globals.push(GlobalDef {
            ty: GlobalType {
                ty: ValType::FuncRef,
                mutable: false,
                ref_type: None,
            },
            init: ConstExpr(vec![ConstOp::GlobalGet(2)]),
        });
        d.elements[1].items = ElemItems::Exprs(vec![ConstExpr(vec![ConstOp::GlobalGet(3)])]);
        d.escaping_functions = d.referenced_functions().into_iter().collect();
        d.validate().unwrap();
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
        // Only immutable globals initialized before may be read: not the
        // global itself, nor a later or a mutable one.
        rejected(|d| d.globals[1].init = ConstExpr(vec![ConstOp::GlobalGet(2)]));
        rejected(|d| d.globals[0].init = ConstExpr(vec![ConstOp::GlobalGet(1)]));
        rejected(|d| d.globals[0].init = ConstExpr(vec![ConstOp::GlobalGet(2)]));
        rejected(|d| d.data[0].mode = active(ConstOp::GlobalGet(1)));
        // Table initializers come before every defined global.
        rejected(|d| d.table_inits[0] = Some(ConstExpr(vec![ConstOp::GlobalGet(2)])));
        rejected(|d| {
            d.imports[1].kind = ImportKind::Global(GlobalType {
                ty: ValType::I32,
                mutable: true,
                ref_type: None,
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
        rejected(|d| d.functions[0].call_sites[0].handler_offset = 16);
        rejected(|d| {
            let site = d.functions[0].call_sites[0];
            d.functions[0].call_sites.push(site)
        });
        rejected(|d| d.tags[0] = 7);
        rejected(|d| d.entry_landings.pop().map(drop).unwrap_or(()));
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
        // A 64-bit memory may have more pages than a 32-bit one, and its
        // segments' offsets are i64s.
        let mut d = sample();
        d.memories[0].memory64 = true;
        d.memories[0].max_pages = Some(65537);
        d.options.heap_reserved_size = 8 << 30;
        assert!(d.validate().unwrap_err().to_string().contains("offset"));
        for seg in &mut d.data {
            if let SegmentMode::Active { offset, .. } = &mut seg.mode {
                *offset = ConstExpr(vec![ConstOp::I64Const(16)]);
            }
        }
        d.validate().unwrap();
        // A second memory is fine (multi-memory), an ill-sized one is not.
        let mut d = sample();
        d.memories.push(d.memories[0]);
        d.validate().unwrap();
        rejected(|d| {
            d.memories.push(d.memories[0]);
            d.memories[1].min_pages = 65537;
        });
        rejected(|d| d.tables[0].max = Some(3));
        rejected(|d| {
            d.imports.push(Import {
                module: "env".into(),
                field: "t".into(),
                kind: ImportKind::Table(TableType {
                    elem: ValType::F64,
                    min: 0,
                    max: None,
                    table64: false,
                    ref_type: None,
                }),
            })
        });
        rejected(|d| d.options.heap_reserved_size = 1 << 20);
        rejected(|d| d.options.heap_reserved_size = !4095);
        rejected(|d| d.options.heap_guard_size = !4095);
        rejected(|d| d.options.heap_guard_size = 100);
    }
}
