//! Modules using typed function references (`call_ref`,
//! `return_call_ref`, `br_on_null`, `br_on_non_null`, `ref.as_non_null`,
//! `(ref $t)` and `(ref null $t)` everywhere a type goes, non-nullable
//! locals, tables with initializer expressions, typed element segments).
//!
//! wasm-smith generates these only together with GC, which lucetc
//! refuses, so this is a generator of our own: a pure function of the
//! seed whose every module validates (function references on, GC off) and
//! terminates. Nothing is exported but functions taking `i32`/`i64` (what
//! the differential plan can pass), the globals and [`REFUEL`]. There are
//! no loops, and every function entry spends one unit of a fuel global and
//! traps `unreachable` when there is none left, so recursion through
//! `call_ref` and tables is bounded; the harness calls [`REFUEL`] before
//! each call, as it does for `generate`'s modules. A depth global, counted
//! up at entry and down at every exit, makes a function past the module's
//! depth limit return constants at once, so most calls finish before the
//! fuel runs out (the call tree fans out quickly). wasmi has no function
//! references, so `fuzz/triage --typed-refs` compares lucet with Wasmtime.

mod body;
mod coverage;
#[cfg(test)]
mod tests;

pub use coverage::{coverage, Coverage};

use crate::rng::Rng;
use wasm_encoder::{
    CodeSection, ConstExpr, ElementSection, Elements, ExportKind, ExportSection, FunctionSection,
    GlobalSection, GlobalType, HeapType, RefType, StartSection, TableSection, TableType,
    TypeSection, ValType,
};

/// The export that refills the fuel: the same name as `generate`'s, so
/// the differential plan calls it before every call.
pub const REFUEL: &str = crate::generate::REFUEL;

/// Function entries one call may make (recursion through references
/// included) before it traps `unreachable`.
pub const FUEL: i32 = 3000;

/// Global 0 is the fuel, 1 and 2 accumulate `i32` and `i64` values the
/// bodies compute (so the state hash sees them), 3 is the call depth, 4
/// counts tail calls; typed globals follow.
const FUEL_GLOBAL: u32 = 0;
const ACC32: u32 = 1;
const ACC64: u32 = 2;
const DEPTH_GLOBAL: u32 = 3;
const TAILS_GLOBAL: u32 = 4;

/// Tail calls one call may make; past them functions return instead.
const TAIL_CALLS: i32 = 40;

/// A value type as the generator reasons about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Ty {
    I32,
    I64,
    Ref { null: bool, heap: Heap },
}

impl Ty {
    /// A reference to function type `u`, nullable or not.
    fn typed(null: bool, u: u32) -> Ty {
        Ty::Ref {
            null,
            heap: Heap::Type(u),
        }
    }
}

/// A reference's heap type: any function, or one of the module's
/// function types (by index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Heap {
    Func,
    Type(u32),
}

const FUNCREF: Ty = Ty::Ref {
    null: true,
    heap: Heap::Func,
};

/// A function type, or the type of a block with parameters or several
/// results.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sig {
    params: Vec<Ty>,
    results: Vec<Ty>,
}

/// A constant reference: an element, a global's or a table's initializer.
#[derive(Clone, Copy, Debug)]
enum Init {
    Func(u32),
    Null(Heap),
}

#[derive(Clone, Debug)]
struct Table {
    elem: Ty,
    min: u32,
    max: u32,
    init: Option<Init>,
}

#[derive(Clone, Debug)]
struct Global {
    ty: Ty,
    mutable: bool,
    init: Init,
}

#[derive(Clone, Debug)]
enum Mode {
    Active { table: u32, offset: u32 },
    Passive,
    Declared,
}

#[derive(Clone, Debug)]
struct Segment {
    mode: Mode,
    ty: Ty,
    items: Vec<Init>,
    /// Encode as a list of function indices (the 2.0 form) rather than
    /// expressions: only for `ref.func` items into funcref.
    indices: bool,
}

/// Everything but the bodies, which [`body`] generates against it.
struct Module {
    /// Function types first (`fn_types` of them), then block types.
    types: Vec<Sig>,
    fn_types: u32,
    /// For each function type, the first structurally equal one: equal
    /// types are one type to validation, so the generator treats them so.
    canon: Vec<u32>,
    /// The type of each generated function.
    funcs: Vec<u32>,
    tables: Vec<Table>,
    globals: Vec<Global>,
    segments: Vec<Segment>,
    /// Calls deeper than this return constants at once.
    max_depth: i32,
}

impl Module {
    fn canon(&self, t: u32) -> u32 {
        self.canon[t as usize]
    }

    /// Whether `a` is a subtype of `b`.
    fn sub(&self, a: Ty, b: Ty) -> bool {
        match (a, b) {
            (Ty::Ref { null: na, heap: ha }, Ty::Ref { null: nb, heap: hb }) => {
                (!na || nb)
                    && match (ha, hb) {
                        (_, Heap::Func) => true,
                        (Heap::Type(x), Heap::Type(y)) => self.canon(x) == self.canon(y),
                        (Heap::Func, Heap::Type(_)) => false,
                    }
            }
            _ => a == b,
        }
    }

    /// Functions whose reference has type `(ref heap)`.
    fn funcs_of(&self, heap: Heap) -> Vec<u32> {
        (0..self.funcs.len() as u32)
            .filter(|&f| match heap {
                Heap::Func => true,
                Heap::Type(t) => self.canon(self.funcs[f as usize]) == self.canon(t),
            })
            .collect()
    }

    /// The index of a type with this signature, added if new.
    fn intern(&mut self, sig: Sig) -> u32 {
        match self.types.iter().position(|s| *s == sig) {
            Some(i) => i as u32,
            None => {
                self.types.push(sig);
                self.types.len() as u32 - 1
            }
        }
    }

    /// Canonical form of `t` for comparing types structurally.
    fn canon_ty(&self, t: Ty) -> Ty {
        match t {
            Ty::Ref {
                null,
                heap: Heap::Type(x),
            } => Ty::Ref {
                null,
                heap: Heap::Type(self.canon(x)),
            },
            t => t,
        }
    }

    /// A constant of type `t` (a reference type): `ref.func` of a
    /// function of its heap type, or null if it is nullable.
    fn init(&self, rng: &mut Rng, t: Ty) -> Init {
        let Ty::Ref { null, heap } = t else {
            unreachable!("reference constants only")
        };
        if null && rng.chance(1, 3) {
            return Init::Null(heap);
        }
        Init::Func(*rng.pick(&self.funcs_of(heap)))
    }

    /// A random reference type over the function types below `limit`.
    fn ref_ty(rng: &mut Rng, limit: u32) -> Ty {
        let heap = if limit == 0 || rng.chance(1, 6) {
            Heap::Func
        } else {
            Heap::Type(rng.below(limit as u64) as u32)
        };
        Ty::Ref {
            null: rng.chance(3, 5),
            heap,
        }
    }

    fn draw(rng: &mut Rng) -> Module {
        let mut m = Module {
            types: Vec::new(),
            fn_types: 0,
            canon: Vec::new(),
            funcs: Vec::new(),
            tables: Vec::new(),
            globals: Vec::new(),
            segments: Vec::new(),
            max_depth: *rng.pick(&[1, 2, 2, 2, 3]),
        };
        let n_types = rng.range(2, 6) as u32;
        for i in 0..n_types {
            let sig = if i > 0 && rng.chance(1, 5) {
                // A structural duplicate: references to either type are
                // interchangeable, which the engines must see too.
                m.types[rng.below(i as u64) as usize].clone()
            } else {
                let scalar_only = i < 2 || rng.chance(1, 3);
                let val = |rng: &mut Rng, scalar: bool| {
                    if scalar || rng.chance(1, 2) {
                        if rng.chance(3, 4) {
                            Ty::I32
                        } else {
                            Ty::I64
                        }
                    } else {
                        Module::ref_ty(rng, i)
                    }
                };
                let params = (0..rng.range(0, 3))
                    .map(|_| val(rng, scalar_only))
                    .collect();
                let results = if rng.chance(1, 2) {
                    vec![Ty::I32]
                } else {
                    (0..rng.range(0, 2)).map(|_| val(rng, false)).collect()
                };
                Sig { params, results }
            };
            let key = Sig {
                params: sig.params.iter().map(|t| m.canon_ty(*t)).collect(),
                results: sig.results.iter().map(|t| m.canon_ty(*t)).collect(),
            };
            let canon = (0..i)
                .find(|&j| {
                    let s = &m.types[j as usize];
                    s.params
                        .iter()
                        .map(|t| m.canon_ty(*t))
                        .eq(key.params.iter().copied())
                        && s.results
                            .iter()
                            .map(|t| m.canon_ty(*t))
                            .eq(key.results.iter().copied())
                })
                .unwrap_or(i);
            m.types.push(sig);
            m.canon.push(canon);
        }
        m.fn_types = n_types;
        // Every function type has a function, so `(ref $t)` always has a
        // value to give.
        let n_funcs = rng.range(3.max(n_types as u64), 12) as u32;
        m.funcs = (0..n_funcs)
            .map(|f| {
                if f < n_types {
                    f
                } else {
                    rng.below(n_types as u64) as u32
                }
            })
            .collect();
        for _ in 0..rng.range(1, 4) {
            let elem = if rng.chance(1, 6) {
                FUNCREF
            } else {
                Module::ref_ty(rng, n_types)
            };
            let Ty::Ref { null, .. } = elem else {
                unreachable!()
            };
            // Mostly not empty, so indices below the minimum hit.
            let min = if rng.chance(1, 10) {
                0
            } else {
                rng.range(1, 6) as u32
            };
            let max = min + rng.range(0, 10) as u32;
            // A non-nullable table needs an initializer; a nullable one
            // may have one.
            let init = (!null || rng.chance(1, 2)).then(|| m.init(rng, elem));
            m.tables.push(Table {
                elem,
                min,
                max,
                init,
            });
        }
        for (ty, mutable) in [
            (Ty::I32, true),
            (Ty::I32, true),
            (Ty::I64, true),
            (Ty::I32, true),
            (Ty::I32, true),
        ] {
            let init = Init::Null(Heap::Func); // numeric: encoded as zero
            m.globals.push(Global { ty, mutable, init });
        }
        for _ in 0..rng.range(1, 5) {
            let ty = Module::ref_ty(rng, n_types);
            let init = m.init(rng, ty);
            m.globals.push(Global {
                ty,
                mutable: rng.chance(1, 2),
                init,
            });
        }
        m.draw_segments(rng);
        m
    }

    fn draw_segments(&mut self, rng: &mut Rng) {
        // Declares every function for `ref.func` in bodies.
        let all = (0..self.funcs.len() as u32).map(Init::Func).collect();
        self.segments.push(Segment {
            mode: Mode::Declared,
            ty: FUNCREF,
            items: all,
            indices: true,
        });
        for _ in 0..rng.range(0, 4) {
            let (mode, ty) = match rng.below(3) {
                0 => (Mode::Passive, Module::ref_ty(rng, self.fn_types)),
                1 => (Mode::Declared, Module::ref_ty(rng, self.fn_types)),
                _ => {
                    let table = rng.below(self.tables.len() as u64) as u32;
                    let Ty::Ref { null, heap } = self.tables[table as usize].elem else {
                        unreachable!()
                    };
                    // The segment's type is the table's or a subtype.
                    let heap = match heap {
                        Heap::Func if rng.chance(1, 2) => {
                            Heap::Type(rng.below(self.fn_types as u64) as u32)
                        }
                        h => h,
                    };
                    let ty = Ty::Ref {
                        null: null && rng.chance(2, 3),
                        heap,
                    };
                    (Mode::Active { table, offset: 0 }, ty)
                }
            };
            let mut items: Vec<Init> = (0..rng.range(0, 4)).map(|_| self.init(rng, ty)).collect();
            if let Mode::Active { table, .. } = mode {
                let min = self.tables[table as usize].min;
                items.truncate(min as usize);
                let room = min - items.len() as u32;
                // Rarely out of bounds: instantiation traps.
                let offset = if rng.chance(1, 30) {
                    room + 1
                } else {
                    rng.range(0, room as u64) as u32
                };
                let seg = Segment {
                    mode: Mode::Active { table, offset },
                    ty,
                    indices: false,
                    items,
                };
                self.segments.push(seg);
                continue;
            }
            let indices = ty == FUNCREF
                && items.iter().all(|i| matches!(i, Init::Func(_)))
                && rng.chance(1, 2);
            self.segments.push(Segment {
                mode,
                ty,
                items,
                indices,
            });
        }
    }
}

fn heap_type(h: Heap) -> HeapType {
    match h {
        Heap::Func => HeapType::FUNC,
        Heap::Type(t) => HeapType::Concrete(t),
    }
}

fn ref_type(t: Ty) -> RefType {
    match t {
        Ty::Ref { null, heap } => RefType {
            nullable: null,
            heap_type: heap_type(heap),
        },
        _ => unreachable!("not a reference type: {t:?}"),
    }
}

fn val_type(t: Ty) -> ValType {
    match t {
        Ty::I32 => ValType::I32,
        Ty::I64 => ValType::I64,
        Ty::Ref { .. } => ValType::Ref(ref_type(t)),
    }
}

fn const_expr(i: Init) -> ConstExpr {
    match i {
        Init::Func(f) => ConstExpr::ref_func(f),
        Init::Null(h) => ConstExpr::ref_null(heap_type(h)),
    }
}

/// The module of `seed`: valid with function references (no GC), and
/// compiled by lucetc.
pub fn module(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ 0x7e9e_d4ef_5000);
    let mut m = Module::draw(&mut rng);
    let bodies: Vec<body::Body> = (0..m.funcs.len())
        .map(|f| body::generate(&mut m, &mut rng, f as u32))
        .collect();
    let unit = m.intern(Sig {
        params: vec![],
        results: vec![],
    });
    // The refuel function comes after the generated ones, so no body
    // refers to it.
    let refuel = m.funcs.len() as u32;
    let start = (0..refuel)
        .find(|&f| m.types[m.funcs[f as usize] as usize] == m.types[unit as usize])
        .filter(|_| rng.chance(1, 8));

    let mut module = wasm_encoder::Module::new();
    let mut types = TypeSection::new();
    for s in &m.types {
        types.ty().function(
            s.params.iter().map(|t| val_type(*t)),
            s.results.iter().map(|t| val_type(*t)),
        );
    }
    module.section(&types);
    let mut funcs = FunctionSection::new();
    for &t in &m.funcs {
        funcs.function(t);
    }
    funcs.function(unit);
    module.section(&funcs);
    let mut tables = TableSection::new();
    for t in &m.tables {
        let ty = TableType {
            element_type: ref_type(t.elem),
            table64: false,
            minimum: t.min.into(),
            maximum: Some(t.max.into()),
            shared: false,
        };
        match t.init {
            Some(i) => tables.table_with_init(ty, &const_expr(i)),
            None => tables.table(ty),
        };
    }
    module.section(&tables);
    let mut globals = GlobalSection::new();
    for (i, g) in m.globals.iter().enumerate() {
        let init = match (g.ty, i as u32) {
            (Ty::I32, FUEL_GLOBAL) => ConstExpr::i32_const(FUEL),
            (Ty::I32, _) => ConstExpr::i32_const(0),
            (Ty::I64, _) => ConstExpr::i64_const(0),
            _ => const_expr(g.init),
        };
        let ty = GlobalType {
            val_type: val_type(g.ty),
            mutable: g.mutable,
            shared: false,
        };
        globals.global(ty, &init);
    }
    module.section(&globals);
    let mut exports = ExportSection::new();
    for (f, &t) in m.funcs.iter().enumerate() {
        let scalar = m.types[t as usize]
            .params
            .iter()
            .all(|p| matches!(p, Ty::I32 | Ty::I64));
        if scalar {
            exports.export(&format!("f{f}"), ExportKind::Func, f as u32);
        }
    }
    for g in 0..m.globals.len() {
        exports.export(&format!("g{g}"), ExportKind::Global, g as u32);
    }
    exports.export(REFUEL, ExportKind::Func, refuel);
    module.section(&exports);
    if let Some(f) = start {
        module.section(&StartSection { function_index: f });
    }
    let mut elems = ElementSection::new();
    for s in &m.segments {
        let items = if s.indices {
            let f = s.items.iter().map(|i| match i {
                Init::Func(f) => *f,
                Init::Null(_) => unreachable!("indices are functions"),
            });
            Elements::Functions(f.collect::<Vec<_>>().into())
        } else {
            let e: Vec<ConstExpr> = s.items.iter().map(|i| const_expr(*i)).collect();
            Elements::Expressions(ref_type(s.ty), e.into())
        };
        match s.mode {
            Mode::Active { table, offset } => {
                elems.active(Some(table), &ConstExpr::i32_const(offset as i32), items)
            }
            Mode::Passive => elems.passive(items),
            Mode::Declared => elems.declared(items),
        };
    }
    module.section(&elems);
    let mut code = CodeSection::new();
    for b in &bodies {
        code.function(&b.encode());
    }
    let mut f = wasm_encoder::Function::new([]);
    f.instructions()
        .i32_const(FUEL)
        .global_set(FUEL_GLOBAL)
        .i32_const(0)
        .global_set(DEPTH_GLOBAL)
        .i32_const(0)
        .global_set(TAILS_GLOBAL)
        .end();
    code.function(&f);
    module.section(&code);
    module.finish()
}
