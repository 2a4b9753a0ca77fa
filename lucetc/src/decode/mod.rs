//! Decoding and validating a wasm binary into the module description and the
//! function bodies still to be compiled.

mod encoding;
mod gc_scan;
mod proposals;

use crate::Error;
use lucet_module::{
    CompileOptions, ConstExpr, ConstOp, DataSegment, ElemItems, ElementSegment, Export, ExportKind,
    FuncType, GlobalDef, GlobalType, Import, ImportKind, MemoryType, ModuleData, SegmentMode,
    TableType, ValType,
};
use std::collections::BTreeSet;
use wasmparser::{
    BinaryReaderError, FuncToValidate, FunctionBody, Parser, Payload, ValidPayload, Validator,
    ValidatorResources, WasmFeatures,
};

/// Features this compiler accepts.
pub fn features() -> WasmFeatures {
    WasmFeatures::WASM2
        | WasmFeatures::EXTENDED_CONST
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::RELAXED_SIMD
        | WasmFeatures::MEMORY64
        | WasmFeatures::EXCEPTIONS
        | WasmFeatures::LEGACY_EXCEPTIONS
        | WasmFeatures::FUNCTION_REFERENCES
        | WasmFeatures::MULTI_MEMORY
}

/// Report a validation failure caused only by a proposal we do not
/// implement as [`Error::Unsupported`] (see [`proposals`]).
pub(crate) fn refine(wasm: &[u8], error: Error) -> Error {
    proposals::refine(wasm, features(), error)
}

/// A function body with what is needed to validate it while translating.
pub struct PendingFunction<'a> {
    /// Validation state for the body.
    pub validator: FuncToValidate<ValidatorResources>,
    /// The body.
    pub body: FunctionBody<'a>,
}

/// A decoded module: its description (without code) and its bodies.
pub struct DecodedModule<'a> {
    /// The description, with `functions[i].code_len` and traps still empty.
    pub data: ModuleData,
    /// Bodies of the defined functions, in order.
    pub bodies: Vec<PendingFunction<'a>>,
}

fn err(e: BinaryReaderError) -> Error {
    Error::from_wasmparser(e)
}

fn val_type(t: wasmparser::ValType, offset: usize) -> Result<ValType, Error> {
    use wasmparser::ValType as W;
    Ok(match t {
        W::I32 => ValType::I32,
        W::I64 => ValType::I64,
        W::F32 => ValType::F32,
        W::F64 => ValType::F64,
        W::V128 => ValType::V128,
        W::Ref(r) => ref_type(r, offset)?,
    })
}

/// The runtime's type for a reference type. Typed function references
/// (`(ref $t)`, `(ref null func)`, ...) are all function references to
/// the runtime: the translator knows their signatures, `call_ref` checks
/// the callee's all the same, and nullness matters only to validation.
fn ref_type(r: wasmparser::RefType, _offset: usize) -> Result<ValType, Error> {
    use wasmparser::{AbstractHeapType as A, HeapType as H};
    match r.heap_type() {
        H::Concrete(_) | H::Exact(_) => Ok(ValType::FuncRef),
        H::Abstract {
            shared: false,
            ty: A::Func | A::NoFunc,
        } => Ok(ValType::FuncRef),
        H::Abstract {
            shared: false,
            ty: A::Extern | A::NoExtern,
        } => Ok(ValType::ExternRef),
        H::Abstract {
            shared: false,
            ty: A::Exn | A::NoExn,
        } => Ok(ValType::ExnRef),
        _ => Err(Error::Unsupported(format!("gc (reference type {r})"))),
    }
}

fn const_expr(e: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr, Error> {
    use wasmparser::Operator as O;
    let mut ops = Vec::new();
    let mut reader = e.get_operators_reader();
    while !reader.eof() {
        let op = reader.read().map_err(err)?;
        ops.push(match op {
            O::I32Const { value } => ConstOp::I32Const(value),
            O::I64Const { value } => ConstOp::I64Const(value),
            O::F32Const { value } => ConstOp::F32Const(value.bits()),
            O::F64Const { value } => ConstOp::F64Const(value.bits()),
            O::V128Const { value } => ConstOp::V128Const(u128::from_le_bytes(*value.bytes())),
            O::RefNull { .. } => ConstOp::RefNull,
            O::RefFunc { function_index } => ConstOp::RefFunc(function_index),
            O::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
            O::I32Add => ConstOp::I32Add,
            O::I32Sub => ConstOp::I32Sub,
            O::I32Mul => ConstOp::I32Mul,
            O::I64Add => ConstOp::I64Add,
            O::I64Sub => ConstOp::I64Sub,
            O::I64Mul => ConstOp::I64Mul,
            O::End => continue,
            other => {
                return Err(Error::Unsupported(format!(
                    "constant expression operator {other:?}"
                )))
            }
        });
    }
    Ok(ConstExpr(ops))
}

/// The exact type of reference type `r` where it is not the nullable
/// abstract one its `ValType` names.
fn exact_ref(r: wasmparser::RefType) -> Option<lucet_module::RefType> {
    use lucet_module::HeapType as L;
    use wasmparser::{AbstractHeapType as A, HeapType as H};
    let heap = match r.heap_type() {
        H::Concrete(i) | H::Exact(i) => L::Concrete(i.as_module_index()?),
        H::Abstract { ty: A::Func, .. } => L::Func,
        H::Abstract { ty: A::NoFunc, .. } => L::NoFunc,
        H::Abstract { ty: A::Extern, .. } => L::Extern,
        H::Abstract {
            ty: A::NoExtern, ..
        } => L::NoExtern,
        H::Abstract { ty: A::Exn, .. } => L::Exn,
        H::Abstract { ty: A::NoExn, .. } => L::NoExn,
        _ => return None,
    };
    let exact = lucet_module::RefType {
        nullable: r.is_nullable(),
        heap,
    };
    let plain = matches!(heap, L::Func | L::Extern | L::Exn) && exact.nullable;
    (!plain).then_some(exact)
}

/// [`exact_ref`] of a value type, if it is a reference.
fn exact_val(t: wasmparser::ValType) -> Option<lucet_module::RefType> {
    match t {
        wasmparser::ValType::Ref(r) => exact_ref(r),
        _ => None,
    }
}

fn memory_type(m: &wasmparser::MemoryType) -> Result<MemoryType, Error> {
    if m.shared {
        return Err(Error::Unsupported("shared memory (threads)".into()));
    }
    if m.page_size_log2.is_some_and(|p| p != 16) {
        return Err(Error::Unsupported("custom page sizes".into()));
    }
    Ok(MemoryType {
        min_pages: m.initial,
        max_pages: m.maximum,
        memory64: m.memory64,
    })
}

fn table_type(t: &wasmparser::TableType) -> Result<TableType, Error> {
    // Elements are counted in u32 at run time; a 64-bit table's limits
    // beyond that are an implementation limit (a larger maximum is
    // clamped: growth past u32 fails as it would past any runtime limit).
    let min = u32::try_from(t.initial)
        .map_err(|_| Error::Unsupported(format!("table of {} initial elements", t.initial)))?;
    Ok(TableType {
        elem: ref_type(t.element_type, 0)?,
        min,
        max: t.maximum.map(|m| u32::try_from(m).unwrap_or(u32::MAX)),
        table64: t.table64,
        ref_type: exact_ref(t.element_type),
    })
}

/// Decode and validate `wasm`, collecting the module description and the
/// function bodies.
pub fn decode(wasm: &[u8], options: CompileOptions) -> Result<DecodedModule<'_>, Error> {
    match decode_with(wasm, &options, features()) {
        // WebAssembly 3.0 lets constant expressions read the module's own
        // immutable globals, which wasmparser allows only under GC's
        // rules: validate under them, then refuse GC itself. Only such
        // modules pay for the second pass.
        Err(Error::Invalid { message, .. })
            if message.contains("global.get of locally defined global") =>
        {
            let decoded = decode_with(wasm, &options, features() | WasmFeatures::GC);
            // Valid, or refused as it was decoded (a struct type, say):
            // GC's first use is what to report.
            if matches!(decoded, Ok(_) | Err(Error::Unsupported(_))) {
                if let Some((what, offset)) = gc_scan::first_use(wasm) {
                    return Err(Error::Unsupported(format!(
                        "gc ({what}) at offset {offset}"
                    )));
                }
            }
            decoded
        }
        other => other,
    }
}

fn decode_with<'a>(
    wasm: &'a [u8],
    options: &CompileOptions,
    features: WasmFeatures,
) -> Result<DecodedModule<'a>, Error> {
    let mut validator = Validator::new_with_features(features);
    let mut data = ModuleData::empty(options.clone());
    let mut bodies = Vec::new();
    let mut escaping = BTreeSet::new();
    let mut func_names: Vec<(u32, String)> = Vec::new();

    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(err)?;
        match validator.payload(&payload).map_err(err)? {
            ValidPayload::Func(validator, body) => {
                encoding::check_memory_immediates(&body)?;
                bodies.push(PendingFunction { validator, body });
                continue;
            }
            ValidPayload::Ok | ValidPayload::End(_) => {}
            ValidPayload::Parser(_) => {
                return Err(Error::Unsupported("nested modules or components".into()))
            }
        }
        match payload {
            Payload::TypeSection(reader) => {
                for group in reader {
                    let group = group.map_err(err)?;
                    for sub in group.into_types() {
                        let wasmparser::CompositeInnerType::Func(f) = &sub.composite_type.inner
                        else {
                            return Err(Error::Unsupported("GC types".into()));
                        };
                        let conv = |ts: &[wasmparser::ValType]| -> Result<Vec<ValType>, Error> {
                            ts.iter().map(|t| val_type(*t, 0)).collect()
                        };
                        data.types
                            .push(FuncType::new(conv(f.params())?, conv(f.results())?));
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(err)?;
                    use wasmparser::TypeRef;
                    let kind = match import.ty {
                        TypeRef::Func(t) => ImportKind::Func(t),
                        TypeRef::Table(t) => ImportKind::Table(table_type(&t)?),
                        TypeRef::Memory(m) => ImportKind::Memory(memory_type(&m)?),
                        TypeRef::Global(g) => ImportKind::Global(GlobalType {
                            ty: val_type(g.content_type, 0)?,
                            mutable: g.mutable,
                            ref_type: exact_val(g.content_type),
                        }),
                        TypeRef::Tag(t) => ImportKind::Tag(t.func_type_idx),
                        TypeRef::FuncExact(_) => {
                            return Err(Error::Unsupported("exact function imports".into()))
                        }
                    };
                    data.imports.push(Import {
                        module: import.module.to_string(),
                        field: import.name.to_string(),
                        kind,
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                for t in reader {
                    data.functions.push(lucet_module::FunctionEntry {
                        type_index: t.map_err(err)?,
                        name: None,
                        code_len: 0,
                        traps: Vec::new(),
                        call_sites: Vec::new(),
                    });
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    let table = table.map_err(err)?;
                    let init = match &table.init {
                        wasmparser::TableInit::RefNull => None,
                        wasmparser::TableInit::Expr(e) => {
                            let e = const_expr(e)?;
                            note_refs(&e, &mut escaping);
                            Some(e)
                        }
                    };
                    data.tables.push(table_type(&table.ty)?);
                    data.table_inits.push(init);
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    data.memories.push(memory_type(&m.map_err(err)?)?);
                }
            }
            Payload::GlobalSection(reader) => {
                for g in reader {
                    let g = g.map_err(err)?;
                    let init = const_expr(&g.init_expr)?;
                    note_refs(&init, &mut escaping);
                    data.globals.push(GlobalDef {
                        ty: GlobalType {
                            ty: val_type(g.ty.content_type, 0)?,
                            mutable: g.ty.mutable,
                            ref_type: exact_val(g.ty.content_type),
                        },
                        init,
                    });
                }
            }
            Payload::ExportSection(reader) => {
                for e in reader {
                    let e = e.map_err(err)?;
                    use wasmparser::ExternalKind as K;
                    let kind = match e.kind {
                        K::Func | K::FuncExact => ExportKind::Func,
                        K::Table => ExportKind::Table,
                        K::Memory => ExportKind::Memory,
                        K::Global => ExportKind::Global,
                        K::Tag => ExportKind::Tag,
                    };
                    if kind == ExportKind::Func {
                        escaping.insert(e.index);
                    }
                    data.exports.push(Export {
                        name: e.name.to_string(),
                        kind,
                        index: e.index,
                    });
                }
            }
            Payload::StartSection { func, .. } => data.start = Some(func),
            Payload::TagSection(reader) => {
                for t in reader {
                    data.tags.push(t.map_err(err)?.func_type_idx);
                }
            }
            Payload::ElementSection(reader) => {
                for el in reader {
                    let el = el.map_err(err)?;
                    let mode = match el.kind {
                        wasmparser::ElementKind::Passive => SegmentMode::Passive,
                        wasmparser::ElementKind::Declared => SegmentMode::Declared,
                        wasmparser::ElementKind::Active {
                            table_index,
                            offset_expr,
                        } => SegmentMode::Active {
                            index: table_index.unwrap_or(0),
                            offset: const_expr(&offset_expr)?,
                        },
                    };
                    let (elem, items) = match el.items {
                        wasmparser::ElementItems::Functions(r) => {
                            let fs = r
                                .into_iter()
                                .collect::<Result<Vec<u32>, _>>()
                                .map_err(err)?;
                            escaping.extend(fs.iter().copied());
                            (ValType::FuncRef, ElemItems::Funcs(fs))
                        }
                        wasmparser::ElementItems::Expressions(ty, r) => {
                            let mut es = Vec::new();
                            for e in r {
                                let e = const_expr(&e.map_err(err)?)?;
                                note_refs(&e, &mut escaping);
                                es.push(e);
                            }
                            (ref_type(ty, 0)?, ElemItems::Exprs(es))
                        }
                    };
                    data.elements.push(ElementSegment { mode, elem, items });
                }
            }
            Payload::DataSection(reader) => {
                for d in reader {
                    let d = d.map_err(err)?;
                    let mode = match d.kind {
                        wasmparser::DataKind::Passive => SegmentMode::Passive,
                        wasmparser::DataKind::Active {
                            memory_index,
                            offset_expr,
                        } => SegmentMode::Active {
                            index: memory_index,
                            offset: const_expr(&offset_expr)?,
                        },
                    };
                    data.data.push(DataSegment {
                        mode,
                        bytes: d.data.to_vec(),
                    });
                }
            }
            Payload::CustomSection(c) if c.name() == "name" => {
                // Names only decorate error messages: a broken name section
                // is ignored, as the spec requires.
                let reader = wasmparser::NameSectionReader::new(wasmparser::BinaryReader::new(
                    c.data(),
                    c.data_offset(),
                ));
                for name in reader.into_iter().flatten() {
                    match name {
                        wasmparser::Name::Module { name, .. } => data.name = Some(name.to_string()),
                        wasmparser::Name::Function(map) => {
                            for n in map.into_iter().flatten() {
                                func_names.push((n.index, n.name.to_string()));
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    let imported = data.num_imported_funcs();
    for (index, name) in func_names {
        if let Some(f) = index
            .checked_sub(imported)
            .and_then(|i| data.functions.get_mut(i as usize))
        {
            f.name = Some(name);
        }
    }
    data.escaping_functions = escaping.into_iter().collect();
    Ok(DecodedModule { data, bodies })
}

fn note_refs(e: &ConstExpr, escaping: &mut BTreeSet<u32>) {
    for op in &e.0 {
        if let ConstOp::RefFunc(f) = op {
            escaping.insert(*f);
        }
    }
}
