//! `lucet-objdump`: what a lucetc-compiled shared object holds, read with
//! the runtime's own checks ([`lucet_runtime::inspect`]) and without
//! running any of it: the module data (format version, compile options,
//! heap, imports and exports with their types, functions with code sizes
//! and trap sites, tables, globals, segments, heap image), the code size
//! and hash, and the signature's status and key.

use lucet_module::code_hash::to_hex;
use lucet_module::{
    ConstExpr, ConstOp, ElemItems, ExportKind, ImportKind, ModuleData, SegmentMode,
};
use lucet_runtime::{Inspection, SignatureStatus};
use serde::Serialize;
use std::fmt::Write;

/// Everything the tool reports, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The file.
    pub file: String,
    /// Its size in bytes.
    pub file_size: u64,
    /// Version of the module data format.
    pub format_version: u32,
    /// Module name from the name section.
    pub name: Option<String>,
    /// Options the code was compiled with.
    pub compile_options: CompileOptions,
    /// The heap the module defines, if any.
    pub heap: Option<Heap>,
    /// Bytes of the initial heap image mapped into each instance (`None`
    /// when data segments are copied at instantiation instead).
    pub heap_image_size: Option<u64>,
    /// Bytes of executable code (functions and trampolines).
    pub code_size: u64,
    /// The code hash.
    pub code_hash: CodeHash,
    /// The signature.
    pub signature: Signature,
    /// Libraries the object needs.
    pub needed: Vec<String>,
    /// Imports.
    pub imports: Vec<Import>,
    /// Exports.
    pub exports: Vec<Export>,
    /// Defined functions.
    pub functions: Vec<Function>,
    /// Defined tables.
    pub tables: Vec<Table>,
    /// Defined globals.
    pub globals: Vec<Global>,
    /// Start function index.
    pub start: Option<u32>,
    /// Element segments.
    pub element_segments: Vec<Segment>,
    /// Data segments.
    pub data_segments: Vec<Segment>,
}

/// Compile options.
#[derive(Debug, Serialize)]
pub struct CompileOptions {
    /// Heap address space assumed reserved per instance.
    pub heap_reserved_size: u64,
    /// Guard assumed beyond it.
    pub heap_guard_size: u64,
    /// Interrupt checks compiled in.
    pub interruptible: bool,
    /// Instruction counting compiled in.
    pub count_instructions: bool,
    /// CPU features required beyond baseline x86-64.
    pub cpu_features: Vec<String>,
}

/// The defined heap.
#[derive(Debug, Serialize)]
pub struct Heap {
    /// Initial size in 64 KiB pages.
    pub initial_pages: u64,
    /// Maximum size in pages, if declared.
    pub max_pages: Option<u64>,
}

/// Recorded and computed code hashes.
#[derive(Debug, Serialize)]
pub struct CodeHash {
    /// SHA-256 recorded by lucetc, hex.
    pub recorded: String,
    /// SHA-256 of the file as it is, hex.
    pub computed: String,
    /// Whether they agree.
    pub matches: bool,
}

/// The signature's status.
#[derive(Debug, Serialize)]
pub struct Signature {
    /// `unsigned`, `unchecked` (no key given), `verified` or `rejected`.
    pub status: &'static str,
    /// The signing key's ID, as minisign prints it.
    pub key_id: Option<String>,
    /// The signed trusted comment.
    pub trusted_comment: Option<String>,
    /// Why it was rejected.
    pub reason: Option<String>,
}

/// An import.
#[derive(Debug, Serialize)]
pub struct Import {
    /// Module name.
    pub module: String,
    /// Field name.
    pub field: String,
    /// `func`, `global`, `memory` or `table`.
    pub kind: &'static str,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: String,
}

/// An export.
#[derive(Debug, Serialize)]
pub struct Export {
    /// Name.
    pub name: String,
    /// `func`, `global`, `memory` or `table`.
    pub kind: &'static str,
    /// Index in its kind's index space.
    pub index: u32,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: String,
}

/// A defined function.
#[derive(Debug, Serialize)]
pub struct Function {
    /// Index in the function index space.
    pub index: u32,
    /// Name from the name section.
    pub name: Option<String>,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Bytes of machine code.
    pub code_size: u32,
    /// Trap sites in it.
    pub trap_sites: usize,
}

/// A defined table.
#[derive(Debug, Serialize)]
pub struct Table {
    /// Element type.
    pub elem: String,
    /// Initial elements.
    pub min: u32,
    /// Maximum elements.
    pub max: Option<u32>,
}

/// A defined global.
#[derive(Debug, Serialize)]
pub struct Global {
    /// Index in the global index space.
    pub index: u32,
    /// Its type, e.g. `mut i32`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Its initializer.
    pub init: String,
}

/// An element or data segment.
#[derive(Debug, Serialize)]
pub struct Segment {
    /// `active`, `passive` or `declared`.
    pub mode: &'static str,
    /// Table or memory index (active segments).
    pub target: Option<u32>,
    /// Offset expression (active segments).
    pub offset: Option<String>,
    /// Elements, or bytes.
    pub size: usize,
}

fn expr(e: &ConstExpr) -> String {
    let ops: Vec<String> =
        e.0.iter()
            .map(|op| match op {
                ConstOp::I32Const(v) => format!("i32.const {v}"),
                ConstOp::I64Const(v) => format!("i64.const {v}"),
                ConstOp::GlobalGet(g) => format!("global.get {g}"),
                ConstOp::RefFunc(f) => format!("ref.func {f}"),
                ConstOp::RefNull => "ref.null".into(),
                other => format!("{other:?}").to_lowercase(),
            })
            .collect();
    ops.join(" ")
}

fn segment(mode: &SegmentMode, size: usize) -> Segment {
    let (mode, target, offset) = match mode {
        SegmentMode::Active { index, offset } => ("active", Some(*index), Some(expr(offset))),
        SegmentMode::Passive => ("passive", None, None),
        SegmentMode::Declared => ("declared", None, None),
    };
    Segment {
        mode,
        target,
        offset,
        size,
    }
}

/// The heap image the runtime builds: active segments at constant offsets
/// within the initial memory, up to the last non-empty one, in pages.
fn heap_image_size(data: &ModuleData) -> Option<u64> {
    let initial = data.heap_spec()?.initial_bytes();
    let mut end = 0u64;
    for seg in &data.data {
        if let SegmentMode::Active { offset, .. } = &seg.mode {
            let at = offset.as_i32()? as u32 as u64;
            let seg_end = at + seg.bytes.len() as u64;
            if seg_end > initial {
                return None;
            }
            if !seg.bytes.is_empty() {
                end = end.max(seg_end);
            }
        }
    }
    (end > 0).then(|| end.next_multiple_of(4096))
}

fn kind_name(k: ExportKind) -> &'static str {
    match k {
        ExportKind::Func => "func",
        ExportKind::Table => "table",
        ExportKind::Memory => "memory",
        ExportKind::Global => "global",
        ExportKind::Tag => "tag",
    }
}

/// A tag's type: the type of its payload.
fn tag_type(d: &lucet_module::ModuleData, t: u32) -> String {
    d.types
        .get(t as usize)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn global_type(g: lucet_module::GlobalType) -> String {
    if g.mutable {
        format!("mut {}", g.ty)
    } else {
        g.ty.to_string()
    }
}

fn limits(min: u64, max: Option<u64>) -> String {
    match max {
        Some(m) => format!("{min}..{m}"),
        None => format!("{min}.."),
    }
}

impl Report {
    /// The report for the inspection of `file`.
    pub fn new(file: &str, i: &Inspection) -> Report {
        let d = &i.data;
        let imports = d
            .imports
            .iter()
            .map(|imp| {
                let (kind, ty) = match &imp.kind {
                    ImportKind::Func(t) => (
                        "func",
                        d.types
                            .get(*t as usize)
                            .map(|t| t.to_string())
                            .unwrap_or_default(),
                    ),
                    ImportKind::Global(g) => ("global", global_type(*g)),
                    ImportKind::Memory(m) => (
                        "memory",
                        format!("pages {}", limits(m.min_pages, m.max_pages)),
                    ),
                    ImportKind::Table(t) => (
                        "table",
                        format!("{} {}", t.elem, limits(t.min.into(), t.max.map(Into::into))),
                    ),
                    ImportKind::Tag(t) => ("tag", tag_type(d, *t)),
                };
                Import {
                    module: imp.module.clone(),
                    field: imp.field.clone(),
                    kind,
                    ty,
                }
            })
            .collect();
        let exports = d
            .exports
            .iter()
            .map(|e| Export {
                name: e.name.clone(),
                kind: kind_name(e.kind),
                index: e.index,
                ty: match e.kind {
                    ExportKind::Func => d.func_type(e.index).map(|t| t.to_string()),
                    ExportKind::Global => d.global_type(e.index).map(global_type),
                    ExportKind::Memory => d
                        .memory_type(e.index)
                        .map(|m| format!("pages {}", limits(m.min_pages, m.max_pages))),
                    ExportKind::Table => d.table_type(e.index).map(|t| {
                        format!("{} {}", t.elem, limits(t.min.into(), t.max.map(Into::into)))
                    }),
                    ExportKind::Tag => d.tag_type_index(e.index).map(|t| tag_type(d, t)),
                }
                .unwrap_or_default(),
            })
            .collect();
        let imported = d.num_imported_funcs();
        let functions = d
            .functions
            .iter()
            .enumerate()
            .map(|(i, f)| Function {
                index: imported + i as u32,
                name: f.name.clone(),
                ty: d
                    .types
                    .get(f.type_index as usize)
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                code_size: f.code_len,
                trap_sites: f.traps.len(),
            })
            .collect();
        let (status, info, reason) = match &i.signature {
            SignatureStatus::Unsigned => ("unsigned", None, None),
            SignatureStatus::Unchecked(s) => ("unchecked", Some(s), None),
            SignatureStatus::Verified(s) => ("verified", Some(s), None),
            SignatureStatus::Rejected { info, reason } => {
                ("rejected", info.as_ref(), Some(reason.clone()))
            }
        };
        Report {
            file: file.to_string(),
            file_size: i.file_size,
            format_version: lucet_module::FORMAT_VERSION,
            name: d.name.clone(),
            compile_options: CompileOptions {
                heap_reserved_size: d.options.heap_reserved_size,
                heap_guard_size: d.options.heap_guard_size,
                interruptible: d.options.interruptible,
                count_instructions: d.options.count_instructions,
                cpu_features: d.options.cpu_features.clone(),
            },
            heap: d.heap_spec().map(|h| Heap {
                initial_pages: h.initial_pages,
                max_pages: h.max_pages,
            }),
            heap_image_size: heap_image_size(d),
            code_size: i.code_size,
            code_hash: CodeHash {
                recorded: to_hex(&i.recorded_hash),
                computed: to_hex(&i.computed_hash),
                matches: i.hash_matches(),
            },
            signature: Signature {
                status,
                key_id: info.map(|s| s.key_id.to_string()),
                trusted_comment: info.map(|s| s.trusted_comment.clone()),
                reason,
            },
            needed: i.needed.clone(),
            imports,
            exports,
            functions,
            tables: d
                .tables
                .iter()
                .map(|t| Table {
                    elem: t.elem.to_string(),
                    min: t.min,
                    max: t.max,
                })
                .collect(),
            globals: d
                .globals
                .iter()
                .enumerate()
                .map(|(n, g)| Global {
                    index: d.num_imported_globals() + n as u32,
                    ty: global_type(g.ty),
                    init: expr(&g.init),
                })
                .collect(),
            start: d.start,
            element_segments: d
                .elements
                .iter()
                .map(|e| {
                    segment(
                        &e.mode,
                        match &e.items {
                            ElemItems::Funcs(f) => f.len(),
                            ElemItems::Exprs(x) => x.len(),
                        },
                    )
                })
                .collect(),
            data_segments: d
                .data
                .iter()
                .map(|s| segment(&s.mode, s.bytes.len()))
                .collect(),
        }
    }

    /// Whether a tool should treat the file as sound: the hash matches and
    /// the signature, if keys were given, verified.
    pub fn ok(&self) -> bool {
        self.code_hash.matches && self.signature.status != "rejected"
    }

    /// The report as text for people.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let mib = |b: u64| format!("{b} bytes ({:.1} MiB)", b as f64 / (1 << 20) as f64);
        let _ = writeln!(
            o,
            "file:            {} ({} bytes)",
            self.file, self.file_size
        );
        let _ = writeln!(o, "format version:  {}", self.format_version);
        if let Some(n) = &self.name {
            let _ = writeln!(o, "name:            {n}");
        }
        let c = &self.compile_options;
        let _ = writeln!(
            o,
            "compile options: heap reserved {}, guard {}, interruptible {}, instruction counting {}",
            mib(c.heap_reserved_size),
            mib(c.heap_guard_size),
            c.interruptible,
            c.count_instructions
        );
        let features = if c.cpu_features.is_empty() {
            "baseline x86-64".to_string()
        } else {
            c.cpu_features.join(" ")
        };
        let _ = writeln!(o, "cpu features:    {features}");
        match &self.heap {
            Some(h) => {
                let max = h.max_pages.map_or("none".into(), |m| m.to_string());
                let _ = writeln!(
                    o,
                    "heap:            {} pages initial, maximum {max}",
                    h.initial_pages
                );
            }
            None => {
                let _ = writeln!(o, "heap:            none defined");
            }
        }
        let image = self
            .heap_image_size
            .map_or("none (segments copied at instantiation)".into(), |b| {
                format!("{b} bytes")
            });
        let _ = writeln!(o, "heap image:      {image}");
        let _ = writeln!(o, "code:            {} bytes", self.code_size);
        let verdict = if self.code_hash.matches {
            "matches the file".to_string()
        } else {
            format!("MISMATCH: the file hashes to {}", self.code_hash.computed)
        };
        let _ = writeln!(
            o,
            "code hash:       {} ({verdict})",
            self.code_hash.recorded
        );
        let s = &self.signature;
        let key = s.key_id.as_deref().unwrap_or("?");
        let sig = match s.status {
            "unsigned" => "none".to_string(),
            "unchecked" => format!("by key {key}, not verified (no --verify-key given)"),
            "verified" => format!("by key {key}, verified"),
            _ => format!(
                "REJECTED: {}",
                s.reason.as_deref().unwrap_or("unknown reason")
            ),
        };
        let _ = writeln!(o, "signature:       {sig}");
        if let Some(t) = &s.trusted_comment {
            let _ = writeln!(o, "  trusted comment: {}", t.replace('\t', " "));
        }
        if !self.needed.is_empty() {
            let _ = writeln!(o, "needs:           {}", self.needed.join(" "));
        }
        let _ = writeln!(o, "\nimports ({}):", self.imports.len());
        for i in &self.imports {
            let _ = writeln!(o, "  {}::{}  {} {}", i.module, i.field, i.kind, i.ty);
        }
        let _ = writeln!(o, "\nexports ({}):", self.exports.len());
        for e in &self.exports {
            let _ = writeln!(o, "  {}  {} {} {}", e.name, e.kind, e.index, e.ty);
        }
        let traps: usize = self.functions.iter().map(|f| f.trap_sites).sum();
        let _ = writeln!(
            o,
            "\nfunctions ({}, {traps} trap sites):",
            self.functions.len()
        );
        for f in &self.functions {
            let _ = writeln!(
                o,
                "  [{}] {}  {}  {} bytes, {} trap sites",
                f.index,
                f.name.as_deref().unwrap_or("-"),
                f.ty,
                f.code_size,
                f.trap_sites
            );
        }
        let _ = writeln!(o, "\ntables ({}):", self.tables.len());
        for t in &self.tables {
            let _ = writeln!(
                o,
                "  {} {}",
                t.elem,
                limits(t.min.into(), t.max.map(Into::into))
            );
        }
        let _ = writeln!(o, "\nglobals ({}):", self.globals.len());
        for g in &self.globals {
            let _ = writeln!(o, "  [{}] {} = {}", g.index, g.ty, g.init);
        }
        if let Some(s) = self.start {
            let _ = writeln!(o, "\nstart function: {s}");
        }
        for (title, segs, unit) in [
            ("element segments", &self.element_segments, "elements"),
            ("data segments", &self.data_segments, "bytes"),
        ] {
            let _ = writeln!(o, "\n{title} ({}):", segs.len());
            for s in segs {
                let place = match (&s.target, &s.offset) {
                    (Some(t), Some(off)) => format!(" {t} at {off}"),
                    _ => String::new(),
                };
                let _ = writeln!(o, "  {}{place}: {} {unit}", s.mode, s.size);
            }
        }
        o
    }
}
