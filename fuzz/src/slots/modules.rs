//! The modules of the `slots` target: a family of small modules whose
//! every piece of state can be written with a canary and read back through
//! exports, drawn with random heap options, memories, tables, segments,
//! imports and start functions, and compiled once per process.
//!
//! Every module exports `cg` (a mutable i32 global, the canary global),
//! `k` (an immutable i64), `gi` (initialised from the imported global
//! `env.off`), `get_cg`/`set_cg`, and, when it has them, its memory (`mem`)
//! and table (`tab`), own or imported, so importers can re-export them.
//! Memory exports: `w(addr, val)` (a plain store), `poke(addr, val)` (a
//! store with the module's large static offset), `grow(pages)`. Table
//! exports: `tset(i, k)` (function `$fk` into slot `i`), `tprobe(i)` (what
//! slot `i` holds: 0 for null, else `(k + 1) << 24 | cg & 0xffffff` of the
//! instance owning the function), `tgrow(n)`, `tsize()`. Importers of a
//! peer's global and function export `pcg` and `pcall`, which read them.

use crate::lucet;
use crate::rng::Rng;
use lucet_runtime::Module;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// A wasm page.
pub const PAGE: u64 = 65536;
/// lucetc's default heap guard: what `Limits::default()` reserves beyond 4 GiB.
pub const DEFAULT_GUARD: u64 = 32 << 20;
/// A static offset no default-guarded access may use unchecked, but one
/// compiled for a 64 MiB guard does: from an address near 4 GiB it reaches
/// past a default slot's reservation.
pub const WILD_OFFSET: u32 = 48 << 20;
/// Data segments larger than this give a mapped heap image (the runtime's
/// `IMAGE_COPY_MAX`); smaller ones a copied one.
pub const IMAGE_COPY_MAX: usize = 64 << 10;

/// The module's memory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Mem {
    /// None.
    None,
    /// Its own, in pages.
    Own {
        /// Initial pages.
        min: u32,
        /// Declared maximum.
        max: Option<u32>,
    },
    /// A peer's (`peer.mem`), of at least `min` pages.
    Imported {
        /// Least size accepted.
        min: u32,
    },
}

/// The module's table of `funcref`s: as for memories, in elements.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Tab {
    /// None.
    None,
    /// Its own.
    Own {
        /// Initial elements.
        min: u32,
        /// Declared maximum.
        max: Option<u32>,
    },
    /// A peer's (`peer.tab`).
    Imported {
        /// Least size accepted.
        min: u32,
    },
}

/// Where an active segment goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum At {
    /// A constant offset.
    Const(u32),
    /// The value of an imported global: `env.off` for data, `env.toff`
    /// for elements. The host chooses it per instantiation, in bounds or
    /// not, so one module can trap on its last segment or not.
    Global,
}

/// An active data segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DataSeg {
    /// Where.
    pub at: At,
    /// What.
    pub bytes: Vec<u8>,
}

/// An active element segment of the module's functions `$f0`..`$f3`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ElemSeg {
    /// Where.
    pub at: At,
    /// Which functions (0..4).
    pub funcs: Vec<u8>,
}

/// The start function. Each one first sets `cg` to `start_cg` and, with a
/// memory, stores `start_val` at `start_addr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Start {
    /// No start function.
    None,
    /// Writes and returns.
    Write,
    /// Writes, then `unreachable`.
    WriteTrap,
    /// Writes, then loops forever: only a deadline or an instruction
    /// budget ends it.
    WriteLoop,
}

/// One generated module.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModuleSpec {
    /// lucetc `heap_reserved_size`.
    pub reserved: u64,
    /// lucetc `heap_guard_size`.
    pub guard: u64,
    /// lucetc `count_instructions` (so a looping start can be stopped by a
    /// budget).
    pub count_instructions: bool,
    /// Memory.
    pub memory: Mem,
    /// Table.
    pub table: Tab,
    /// Data segments in order: constant offsets first, at most one at
    /// `env.off`, last.
    pub data: Vec<DataSeg>,
    /// Element segments, likewise.
    pub elems: Vec<ElemSeg>,
    /// Imports the peer's mutable global `cg` (read by `pcg`).
    pub peer_global: bool,
    /// Imports the peer's function `get_cg` (called by `pcall`).
    pub peer_func: bool,
    /// `cg`'s initial value.
    pub cg_init: i32,
    /// `k`'s value.
    pub k: i64,
    /// The start function.
    pub start: Start,
    /// Where the start function writes (in the memory's declared minimum).
    pub start_addr: u32,
    /// What it writes there.
    pub start_val: i32,
    /// What it sets `cg` to.
    pub start_cg: i32,
    /// The static offset of `poke`'s store.
    pub poke_offset: u32,
}

/// What becomes of a module's data segments at load time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// No data (or no memory of its own).
    Nothing,
    /// A heap image copied at instantiation.
    Copied,
    /// A heap image mapped copy-on-write.
    Mapped,
    /// No image: the segments are copied by instantiation itself (an
    /// offset from an imported global, or one past the initial size).
    Segments,
}

/// What a module is drawn for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Standalone instances: imports only host globals.
    Alone,
    /// A store's first instances: defines what others import.
    Exporter,
    /// Imports a store peer's memory, table, global or function.
    Importer,
}

/// Bytes no one else's data has: from `tag`, never zero (so what leaks
/// into a zeroed heap shows).
pub fn pattern(tag: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(tag ^ 0x5107_da7a);
    (0..len).map(|_| (rng.next_u64() as u8).max(1)).collect()
}

impl ModuleSpec {
    /// Draw a module for `role`. `tag` makes its data its own (its
    /// segments use `tag` to `tag + 7`).
    pub fn draw(rng: &mut Rng, role: Role, tag: u64) -> ModuleSpec {
        let large = role != Role::Importer && rng.chance(1, 5);
        let memory = match role {
            Role::Importer if rng.chance(3, 4) => Mem::Imported {
                min: rng.range(1, 2) as u32,
            },
            Role::Alone if rng.chance(1, 8) => Mem::None,
            _ => {
                let min = rng.range(if large { 2 } else { 1 }, 3) as u32;
                Mem::Own {
                    min,
                    max: *rng.pick(&[None, Some(min + 1), Some(min + 3)]),
                }
            }
        };
        // More heap address space than a default slot has (a 64 MiB guard,
        // an 8 GiB reservation): a module with a memory of its own is
        // refused (so this is rare), one importing a memory is the question.
        let importer = matches!(memory, Mem::Imported { .. });
        let bigger = if importer {
            *rng.pick(&[0, 0, 1, 2])
        } else {
            match rng.below(20) {
                18 => 1,
                19 => 2,
                _ => 0,
            }
        };
        let guard = if bigger == 1 {
            64 << 20
        } else {
            *rng.pick(&[DEFAULT_GUARD, DEFAULT_GUARD, DEFAULT_GUARD, 4096, 0])
        };
        let reserved = if bigger == 2 { 8 << 30 } else { 4 << 30 };
        let table = match role {
            Role::Importer if rng.chance(1, 2) => Tab::Imported {
                min: rng.range(1, 3) as u32,
            },
            _ if rng.chance(1, 4) => Tab::None,
            _ => {
                let min = rng.range(2, 5) as u32;
                Tab::Own {
                    min,
                    max: *rng.pick(&[None, Some(min + 2)]),
                }
            }
        };
        let mem_min = match memory {
            Mem::Own { min, .. } | Mem::Imported { min } => min as u64 * PAGE,
            Mem::None => 0,
        };
        let mut data = Vec::new();
        if mem_min > 0 {
            if large {
                let len = rng.range(80 << 10, 100 << 10) as usize;
                let at = rng.below((mem_min - len as u64) / 4096) as u32 * 4096;
                data.push(DataSeg {
                    at: At::Const(at),
                    bytes: pattern(tag, len),
                });
            }
            for i in 0..rng.below(3) {
                let len = rng.range(8, 48) as usize;
                let at = rng.below(mem_min - len as u64) as u32;
                data.push(DataSeg {
                    at: At::Const(at),
                    bytes: pattern(tag + 1 + i, len),
                });
            }
            if !large && rng.chance(1, 2) {
                let len = rng.range(8, 40) as usize;
                data.push(DataSeg {
                    at: At::Global,
                    bytes: pattern(tag + 7, len),
                });
            }
        }
        let tab_min = match table {
            Tab::Own { min, .. } | Tab::Imported { min } => min,
            Tab::None => 0,
        };
        let mut elems = Vec::new();
        if tab_min > 0 {
            if rng.chance(2, 3) {
                let n = rng.range(1, tab_min.min(3) as u64) as u32;
                let funcs = (0..n).map(|_| rng.below(4) as u8).collect();
                let at = rng.below((tab_min - n + 1) as u64) as u32;
                elems.push(ElemSeg {
                    at: At::Const(at),
                    funcs,
                });
            }
            if rng.chance(1, 2) {
                let n = rng.range(1, 2);
                let funcs = (0..n).map(|_| rng.below(4) as u8).collect();
                elems.push(ElemSeg {
                    at: At::Global,
                    funcs,
                });
            }
        }
        // Exporters mostly start, so others have something to import.
        let fails = if role == Role::Exporter { 1 } else { 4 };
        let start = match rng.below(16) {
            n if n < fails / 2 => Start::WriteTrap,
            n if n < fails => Start::WriteLoop,
            n if n < 10 => Start::None,
            _ => Start::Write,
        };
        ModuleSpec {
            reserved,
            guard,
            count_instructions: rng.chance(1, 3),
            memory,
            table,
            data,
            elems,
            peer_global: role == Role::Importer && rng.chance(1, 2),
            peer_func: role == Role::Importer && rng.chance(1, 2),
            cg_init: rng.below(1 << 23) as i32,
            k: rng.next_u64() as i64,
            start,
            start_addr: if mem_min > 0 {
                rng.below(mem_min / 4) as u32 * 4
            } else {
                0
            },
            start_val: rng.next_u64() as i32 | 1,
            // Unlike `cg_init`, so one can tell whether it ran.
            start_cg: (rng.below(1 << 24) as i32) | 1 << 23,
            poke_offset: if importer && rng.chance(2, 3) {
                WILD_OFFSET
            } else {
                *rng.pick(&[16, (DEFAULT_GUARD - 64) as u32, WILD_OFFSET])
            },
        }
    }

    /// A module with a zeroed memory of `pages` and nothing else to speak
    /// of, compiled with default options: what a slot's next tenant
    /// should see is all zeros.
    pub fn plain(pages: u32) -> ModuleSpec {
        ModuleSpec {
            reserved: 4 << 30,
            guard: DEFAULT_GUARD,
            count_instructions: false,
            memory: Mem::Own {
                min: pages,
                max: None,
            },
            table: Tab::None,
            data: Vec::new(),
            elems: Vec::new(),
            peer_global: false,
            peer_func: false,
            cg_init: 0,
            k: 0,
            start: Start::None,
            start_addr: 0,
            start_val: 0,
            start_cg: 0,
            poke_offset: 16,
        }
    }

    /// Whether it has a memory (its own or imported).
    pub fn has_memory(&self) -> bool {
        self.memory != Mem::None
    }

    /// Whether it has a table (its own or imported).
    pub fn has_table(&self) -> bool {
        self.table != Tab::None
    }

    /// Whether it imports anything from a peer.
    pub fn imports_peer(&self) -> bool {
        matches!(self.memory, Mem::Imported { .. })
            || matches!(self.table, Tab::Imported { .. })
            || self.peer_global
            || self.peer_func
    }

    /// What the runtime will make of its data segments (mirrors
    /// `HeapImage::build`: an image needs a memory of its own and every
    /// segment at a constant offset inside the initial size).
    pub fn image(&self) -> ImageKind {
        let Mem::Own { min, .. } = self.memory else {
            return ImageKind::Nothing;
        };
        if self.data.is_empty() {
            return ImageKind::Nothing;
        }
        let mut end = 0;
        for d in &self.data {
            match d.at {
                At::Global => return ImageKind::Segments,
                At::Const(at) => {
                    let e = at as u64 + d.bytes.len() as u64;
                    if e > min as u64 * PAGE {
                        return ImageKind::Segments;
                    }
                    end = end.max(e);
                }
            }
        }
        if end as usize <= IMAGE_COPY_MAX {
            ImageKind::Copied
        } else {
            ImageKind::Mapped
        }
    }

    /// The lucetc options it is compiled with.
    pub fn options(&self) -> lucetc::Options {
        lucetc::Options {
            heap_reserved_size: self.reserved,
            heap_guard_size: self.guard,
            count_instructions: self.count_instructions,
            interruptible: true,
            threads: Some(1),
            ..lucetc::Options::default()
        }
    }

    /// One line: options and shape.
    pub fn describe(&self) -> String {
        let mb = |b: u64| {
            if b >= 1 << 20 {
                format!("{}MiB", b >> 20)
            } else {
                format!("{b}B")
            }
        };
        let mut s = format!(
            "reserved {}GiB guard {}{}; memory {:?}; table {:?}; image {:?}",
            self.reserved >> 30,
            mb(self.guard),
            if self.count_instructions {
                " counted"
            } else {
                ""
            },
            self.memory,
            self.table,
            self.image(),
        );
        for d in &self.data {
            let _ = write!(s, "; data {:?}+{}", d.at, d.bytes.len());
        }
        for e in &self.elems {
            let _ = write!(s, "; elem {:?} {:?}", e.at, e.funcs);
        }
        if self.peer_global {
            s.push_str("; imports peer.cg");
        }
        if self.peer_func {
            s.push_str("; imports peer.get_cg");
        }
        let _ = write!(
            s,
            "; start {:?}; poke offset {:#x}",
            self.start, self.poke_offset
        );
        s
    }

    /// Its text.
    pub fn wat(&self) -> String {
        let mut w = String::from("(module\n  (type $ri (func (result i32)))\n");
        w.push_str("  (import \"env\" \"off\" (global $off i32))\n");
        w.push_str("  (import \"env\" \"toff\" (global $toff i32))\n");
        if self.peer_global {
            w.push_str("  (import \"peer\" \"cg\" (global $pcg (mut i32)))\n");
        }
        if self.peer_func {
            w.push_str("  (import \"peer\" \"get_cg\" (func $pget (type $ri)))\n");
        }
        // Imports first, as the text format wants.
        if let Mem::Imported { min } = self.memory {
            let _ = writeln!(w, "  (import \"peer\" \"mem\" (memory $m {min}))");
        }
        if let Tab::Imported { min } = self.table {
            let _ = writeln!(w, "  (import \"peer\" \"tab\" (table $t {min} funcref))");
        }
        match self.memory {
            Mem::None => {}
            Mem::Own { min, max } => {
                let max = max.map(|m| format!(" {m}")).unwrap_or_default();
                let _ = writeln!(w, "  (memory $m (export \"mem\") {min}{max})");
            }
            Mem::Imported { .. } => w.push_str("  (export \"mem\" (memory $m))\n"),
        }
        match self.table {
            Tab::None => {}
            Tab::Own { min, max } => {
                let max = max.map(|m| format!(" {m}")).unwrap_or_default();
                let _ = writeln!(w, "  (table $t (export \"tab\") {min}{max} funcref)");
            }
            Tab::Imported { .. } => w.push_str("  (export \"tab\" (table $t))\n"),
        }
        let _ = writeln!(
            w,
            "  (global $cg (export \"cg\") (mut i32) (i32.const {}))",
            self.cg_init
        );
        let _ = writeln!(w, "  (global $k (export \"k\") i64 (i64.const {}))", self.k);
        w.push_str("  (global $gi (export \"gi\") i32 (global.get $off))\n");
        for f in 0..4u32 {
            let _ = writeln!(
                w,
                "  (func $f{f} (type $ri) (i32.or (i32.const {}) (i32.and (global.get $cg) (i32.const 0xffffff))))",
                (f + 1) << 24
            );
        }
        w.push_str("  (elem declare func $f0 $f1 $f2 $f3)\n");
        w.push_str("  (func (export \"get_cg\") (result i32) (global.get $cg))\n");
        w.push_str("  (func (export \"set_cg\") (param i32) (global.set $cg (local.get 0)))\n");
        if self.has_memory() {
            w.push_str(
                "  (func (export \"w\") (param i32 i32) (i32.store (local.get 0) (local.get 1)))\n",
            );
            let _ = writeln!(
                w,
                "  (func (export \"poke\") (param i32 i32) (i32.store offset={} (local.get 0) (local.get 1)))",
                self.poke_offset
            );
            w.push_str(
                "  (func (export \"grow\") (param i32) (result i32) (memory.grow (local.get 0)))\n",
            );
        }
        if self.has_table() {
            w.push_str(concat!(
                "  (func (export \"tset\") (param i32 i32)\n",
                "    (table.set $t (local.get 0)\n",
                "      (select (result funcref)\n",
                "        (select (result funcref) (ref.func $f3) (ref.func $f2) (i32.and (local.get 1) (i32.const 1)))\n",
                "        (select (result funcref) (ref.func $f1) (ref.func $f0) (i32.and (local.get 1) (i32.const 1)))\n",
                "        (i32.and (local.get 1) (i32.const 2)))))\n",
                "  (func (export \"tprobe\") (param i32) (result i32)\n",
                "    (if (result i32) (ref.is_null (table.get $t (local.get 0)))\n",
                "      (then (i32.const 0))\n",
                "      (else (call_indirect $t (type $ri) (local.get 0)))))\n",
                "  (func (export \"tgrow\") (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0)))\n",
                "  (func (export \"tsize\") (result i32) (table.size $t))\n",
            ));
        }
        if self.peer_global {
            w.push_str("  (func (export \"pcg\") (result i32) (global.get $pcg))\n");
        }
        if self.peer_func {
            w.push_str("  (func (export \"pcall\") (result i32) (call $pget))\n");
        }
        if self.start != Start::None {
            let _ = write!(
                w,
                "  (func $start (global.set $cg (i32.const {}))",
                self.start_cg
            );
            if self.has_memory() {
                let _ = write!(
                    w,
                    " (i32.store (i32.const {}) (i32.const {}))",
                    self.start_addr, self.start_val
                );
            }
            match self.start {
                Start::WriteTrap => w.push_str(" (unreachable)"),
                Start::WriteLoop => w.push_str(" (loop $l (br $l))"),
                _ => {}
            }
            w.push_str(")\n  (start $start)\n");
        }
        for e in &self.elems {
            let at = match e.at {
                At::Const(c) => format!("(i32.const {c})"),
                At::Global => "(global.get $toff)".into(),
            };
            let funcs: Vec<String> = e.funcs.iter().map(|f| format!("$f{f}")).collect();
            let _ = writeln!(w, "  (elem (table $t) {at} func {})", funcs.join(" "));
        }
        for d in &self.data {
            let at = match d.at {
                At::Const(c) => format!("(i32.const {c})"),
                At::Global => "(global.get $off)".into(),
            };
            let _ = write!(w, "  (data {at} \"");
            for b in &d.bytes {
                let _ = write!(w, "\\{b:02x}");
            }
            w.push_str("\")\n");
        }
        w.push_str(")\n");
        w
    }
}

/// A compiled and loaded module.
pub struct Compiled {
    /// The loaded module. Loading seals the object's bytes into memory, so
    /// its file is deleted at once: the cache below is a static, never
    /// dropped, and would otherwise leave a directory in /tmp per module
    /// at every run.
    pub module: Arc<Module>,
}

/// Compiled modules by text and options, for the whole process. A case's
/// modules are its own (their data is drawn from its seed), so this spares
/// compiling the plain module of every case, and any case run again.
type Cache = HashMap<(String, String), Arc<Compiled>>;

/// Entries kept before the cache starts over (a campaign's memory).
const CACHE_MAX: usize = 2048;

/// `spec` compiled and loaded, from the process-wide cache when it was
/// compiled before; `Ok((module, true))` when it was compiled now.
pub fn compile(spec: &ModuleSpec) -> Result<(Arc<Compiled>, bool), String> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let wat = spec.wat();
    let options = spec.options();
    let key = (wat, format!("{options:?}"));
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok((c.clone(), false));
    }
    let wasm = wat::parse_str(&key.0).map_err(|e| format!("wat: {e}"))?;
    let so = lucet::compile(&wasm, &options).map_err(|e| format!("lucetc: {e}"))?;
    // SAFETY: lucetc just wrote this file into a fresh temporary directory
    // of ours.
    let module = unsafe { lucet::load(&so.path) }.map_err(|e| format!("load: {e}"))?;
    drop(so);
    let c = Arc::new(Compiled { module });
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= CACHE_MAX {
        map.clear();
    }
    map.insert(key, c.clone());
    Ok((c, true))
}
