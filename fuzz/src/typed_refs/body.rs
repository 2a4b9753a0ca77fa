//! Function bodies, built by a small typed expression generator: every
//! emitter pushes exactly a value of the type asked for (or a subtype),
//! so the bodies validate by construction. Instructions are emitted in
//! execution order, which is also validation order, so a non-nullable
//! local counts as set from its `local.set`/`local.tee` to the end of the
//! enclosing block, exactly as validation tracks it.

mod calls;

use super::{Heap, Module, Rng, Sig, Ty, ACC32, DEPTH_GLOBAL, FUEL_GLOBAL};
use wasm_encoder::{BlockType, Function, Instruction as I};

/// A generated body: its declared locals and instructions (without the
/// final `end`).
pub(super) struct Body {
    locals: Vec<Ty>,
    code: Vec<I<'static>>,
}

impl Body {
    /// The encoded function.
    pub(super) fn encode(&self) -> Function {
        let mut f =
            Function::new_with_locals_types(self.locals.iter().map(|t| super::val_type(*t)));
        for i in &self.code {
            f.instruction(i);
        }
        f.instruction(&I::End);
        f
    }
}

/// Generate the body of function `f`.
pub(super) fn generate(m: &mut Module, rng: &mut Rng, f: u32) -> Body {
    let sig = m.types[m.funcs[f as usize] as usize].clone();
    let mut g = Gen {
        m,
        rng,
        code: Vec::new(),
        n_params: sig.params.len(),
        inited: vec![true; sig.params.len()],
        locals: sig.params,
        results: sig.results,
        budget: 0,
        risky: 0,
    };
    g.budget = g.rng.range(30, 220) as i32;
    g.risky = *g.rng.pick(&[0, 0, 0, 0, 0, 1, 1, 2]);
    // Entry spends fuel: bounds recursion through any path.
    g.code.extend([
        I::GlobalGet(FUEL_GLOBAL),
        I::I32Eqz,
        I::If(BlockType::Empty),
        I::Unreachable,
        I::End,
        I::GlobalGet(FUEL_GLOBAL),
        I::I32Const(1),
        I::I32Sub,
        I::GlobalSet(FUEL_GLOBAL),
        I::GlobalGet(DEPTH_GLOBAL),
        I::I32Const(g.m.max_depth),
        I::I32GeS,
        I::If(BlockType::Empty),
    ]);
    // Too deep: constants (or parameters) back at once.
    for r in g.results.clone() {
        g.leaf(r);
    }
    g.code.extend([
        I::Return,
        I::End,
        I::GlobalGet(DEPTH_GLOBAL),
        I::I32Const(1),
        I::I32Add,
        I::GlobalSet(DEPTH_GLOBAL),
    ]);
    for _ in 0..g.rng.range(0, 4) {
        let t = g.any_ty();
        let l = g.local(t);
        // Some non-nullable locals are set first thing, so they can be
        // read anywhere; the others only after a set in the same block.
        if matches!(t, Ty::Ref { null: false, .. }) && g.rng.chance(1, 2) {
            g.expr(t, 2);
            g.set(l);
        }
    }
    for _ in 0..g.rng.range(1, 5) {
        g.stmt(3);
    }
    g.tail(3);
    let locals = g.locals.split_off(g.n_params);
    Body {
        locals,
        code: g.code,
    }
}

struct Gen<'a> {
    m: &'a mut Module,
    rng: &'a mut Rng,
    code: Vec<I<'static>>,
    /// Parameters, then declared locals.
    locals: Vec<Ty>,
    n_params: usize,
    /// Whether each local may be read here (non-nullable ones only once set).
    inited: Vec<bool>,
    results: Vec<Ty>,
    /// Instructions left before expressions shrink to leaves.
    budget: i32,
    /// Operations that may trap (a null callee, `ref.as_non_null`, an
    /// index that may be out of bounds) left to place. A call runs many
    /// bodies, so if each trapped freely almost no call would return.
    risky: u32,
}

impl Gen<'_> {
    /// Whether to place an operation that may trap here.
    fn risk(&mut self) -> bool {
        let yes = self.risky > 0 && self.rng.chance(1, 2);
        self.risky -= yes as u32;
        yes
    }

    fn emit(&mut self, i: I<'static>) {
        self.budget -= 1;
        self.code.push(i);
    }

    fn emit_all(&mut self, is: impl IntoIterator<Item = I<'static>>) {
        for i in is {
            self.emit(i);
        }
    }

    /// A random value type, references over the module's function types.
    fn any_ty(&mut self) -> Ty {
        match self.rng.below(5) {
            0 | 1 => Ty::I32,
            2 => Ty::I64,
            _ => Module::ref_ty(self.rng, self.m.fn_types),
        }
    }

    fn fn_type(&mut self) -> u32 {
        self.rng.below(self.m.fn_types as u64) as u32
    }

    /// A new declared local.
    fn local(&mut self, t: Ty) -> u32 {
        self.locals.push(t);
        self.inited.push(!matches!(t, Ty::Ref { null: false, .. }));
        self.locals.len() as u32 - 1
    }

    fn set(&mut self, l: u32) {
        self.emit(I::LocalSet(l));
        self.inited[l as usize] = true;
    }

    /// Leave a block: sets inside it no longer count.
    /// An `if` on the condition already pushed whose arms each produce a
    /// `t` (locals set in an arm are unset after it, as validation sees).
    fn if_else(&mut self, t: Ty, depth: u32) {
        let bt = self.block_type(&[], &[t]);
        self.emit(I::If(bt));
        let saved = self.inited.clone();
        self.expr(t, depth);
        self.restore(&saved);
        self.emit(I::Else);
        self.expr(t, depth);
        self.restore(&saved);
        self.emit(I::End);
    }

    fn restore(&mut self, saved: &[bool]) {
        for (i, init) in self.inited.iter_mut().enumerate() {
            *init = saved
                .get(i)
                .copied()
                .unwrap_or(!matches!(self.locals[i], Ty::Ref { null: false, .. }));
        }
    }

    fn block_type(&mut self, params: &[Ty], results: &[Ty]) -> BlockType {
        match (params, results) {
            ([], []) => BlockType::Empty,
            ([], [t]) => BlockType::Result(super::val_type(*t)),
            _ => BlockType::FunctionType(self.m.intern(Sig {
                params: params.to_vec(),
                results: results.to_vec(),
            })),
        }
    }

    fn sig(&self, t: u32) -> Sig {
        self.m.types[t as usize].clone()
    }

    /// A value of type `t` that needs no operands.
    fn leaf(&mut self, t: Ty) {
        let locals: Vec<u32> = (0..self.locals.len() as u32)
            .filter(|&l| self.inited[l as usize] && self.m.sub(self.locals[l as usize], t))
            .collect();
        if !locals.is_empty() && self.rng.chance(1, 3) {
            let l = *self.rng.pick(&locals);
            return self.emit(I::LocalGet(l));
        }
        let globals: Vec<u32> = (0..self.m.globals.len() as u32)
            .filter(|&g| g != FUEL_GLOBAL && self.m.sub(self.m.globals[g as usize].ty, t))
            .collect();
        if !globals.is_empty() && self.rng.chance(1, 3) {
            let g = *self.rng.pick(&globals);
            return self.emit(I::GlobalGet(g));
        }
        match t {
            Ty::I32 => {
                let v = *self.rng.pick(&[0, 1, 2, 3, 7, -1, 0x7fff_ffff]);
                self.emit(I::I32Const(v))
            }
            Ty::I64 => {
                let v = *self.rng.pick(&[0, 1, 5, -1, i64::MIN, 1 << 32]);
                self.emit(I::I64Const(v))
            }
            Ty::Ref { null, heap } => {
                // Seldom: nulls come mostly from the arguments' choice.
                if null && self.rng.chance(1, 8) {
                    // `ref.null $u` is a `funcref` too.
                    let h = match heap {
                        Heap::Func if self.rng.chance(1, 2) => Heap::Type(self.fn_type()),
                        h => h,
                    };
                    return self.emit(I::RefNull(super::heap_type(h)));
                }
                let funcs = self.m.funcs_of(heap);
                let f = *self.rng.pick(&funcs);
                self.emit(I::RefFunc(f))
            }
        }
    }

    /// An `i32` that varies with the arguments: what decides at run time
    /// between a null and a function, or which branch runs.
    fn cond(&mut self, depth: u32) {
        let params: Vec<u32> = (0..self.n_params as u32)
            .filter(|&p| self.locals[p as usize] == Ty::I32)
            .collect();
        let bit = 1 << self.rng.below(10);
        match (params.is_empty(), self.rng.below(4)) {
            (false, 0 | 1) => {
                let p = *self.rng.pick(&params);
                self.emit_all([I::LocalGet(p), I::I32Const(bit), I::I32And]);
            }
            (false, 2) => {
                let p = *self.rng.pick(&params);
                let c = self.rng.below(70_000) as i32;
                self.emit_all([I::LocalGet(p), I::I32Const(c), I::I32LtU]);
            }
            (true, 0) => self.emit_all([I::GlobalGet(ACC32), I::I32Const(bit), I::I32And]),
            _ => self.expr(Ty::I32, depth.saturating_sub(1)),
        }
    }

    /// An index into table `tab`: below its minimum size (so in bounds),
    /// or if risky, up to its maximum or anything.
    fn index(&mut self, tab: u32, depth: u32) {
        let t = &self.m.tables[tab as usize];
        let (min, max) = (t.min, t.max);
        let choice = if self.risk() {
            8 + self.rng.below(2)
        } else {
            self.rng.below(8)
        };
        match choice {
            0..=4 if min > 0 => {
                let v = self.rng.below(min as u64) as i32;
                self.emit(I::I32Const(v))
            }
            5..=7 if min > 0 => {
                self.expr(Ty::I32, depth.saturating_sub(1));
                self.emit_all([I::I32Const(min as i32), I::I32RemU]);
            }
            9 => {
                self.expr(Ty::I32, depth.saturating_sub(1));
                self.emit_all([I::I32Const(max as i32 + 2), I::I32RemU]);
            }
            _ => {
                let v = self.rng.range(0, max as u64 + 1) as i32;
                self.emit(I::I32Const(v))
            }
        }
    }

    /// An `i32` count or length: at most `bound`, from constants or the
    /// arguments; if risky, anything.
    fn small(&mut self, bound: u32, depth: u32) {
        let choice = if self.risk() { 11 } else { self.rng.below(11) };
        match choice {
            0..=7 => {
                let v = self.rng.range(0, bound as u64) as i32;
                self.emit(I::I32Const(v))
            }
            8..=10 => {
                self.expr(Ty::I32, depth.saturating_sub(1));
                self.emit_all([I::I32Const(bound as i32 + 1), I::I32RemU]);
            }
            _ => self.expr(Ty::I32, depth.saturating_sub(1)),
        }
    }

    /// A value of type `t` (or a subtype).
    fn expr(&mut self, t: Ty, depth: u32) {
        if depth == 0 || self.budget <= 0 {
            return self.leaf(t);
        }
        for _ in 0..6 {
            if self.form(t, depth) {
                return;
            }
        }
        self.leaf(t)
    }

    /// Try one randomly chosen way of making a `t`.
    fn form(&mut self, t: Ty, depth: u32) -> bool {
        let d = depth - 1;
        match self.rng.below(14) {
            0 => self.leaf(t),
            1 => {
                self.cond(depth);
                self.if_else(t, d);
            }
            2 => {
                self.expr(t, d);
                self.expr(t, d);
                self.cond(depth);
                match t {
                    Ty::Ref { .. } => self.emit(I::TypedSelect(super::val_type(t))),
                    _ if self.rng.chance(1, 2) => self.emit(I::TypedSelect(super::val_type(t))),
                    _ => self.emit(I::Select),
                }
            }
            3 => {
                let results = self.call(d);
                self.convert(&results, t, d);
            }
            5 => {
                let ls: Vec<u32> = (self.n_params as u32..self.locals.len() as u32)
                    .filter(|&l| self.m.sub(self.locals[l as usize], t))
                    .collect();
                if ls.is_empty() {
                    return false;
                }
                let l = *self.rng.pick(&ls);
                self.expr(self.locals[l as usize], d);
                self.emit(I::LocalTee(l));
                self.inited[l as usize] = true;
            }
            _ => return self.typed_form(t, depth),
        }
        true
    }

    /// The forms particular to `t`'s kind.
    fn typed_form(&mut self, t: Ty, depth: u32) -> bool {
        let d = depth - 1;
        match t {
            Ty::I32 => match self.rng.below(6) {
                0 | 1 => {
                    self.expr(Ty::I32, d);
                    self.expr(Ty::I32, d);
                    let ops = [
                        I::I32Add,
                        I::I32Sub,
                        I::I32Mul,
                        I::I32Xor,
                        I::I32Or,
                        I::I32And,
                        I::I32Shl,
                        I::I32ShrU,
                        I::I32Eq,
                        I::I32LtU,
                        I::I32GtS,
                    ];
                    let op = self.rng.pick(&ops).clone();
                    self.emit(op);
                }
                2 => {
                    let r = Module::ref_ty(self.rng, self.m.fn_types);
                    self.expr(r, d);
                    self.emit(I::RefIsNull);
                }
                3 => {
                    let tab = self.rng.below(self.m.tables.len() as u64) as u32;
                    self.emit(I::TableSize(tab));
                }
                4 => {
                    let tab = self.rng.below(self.m.tables.len() as u64) as u32;
                    let elem = self.m.tables[tab as usize].elem;
                    self.expr(elem, d);
                    self.small(3, depth);
                    self.emit(I::TableGrow(tab));
                }
                _ => {
                    self.expr(Ty::I64, d);
                    let op = if self.rng.chance(1, 2) {
                        I::I32WrapI64
                    } else {
                        I::I64Eqz
                    };
                    self.emit(op);
                }
            },
            Ty::I64 => {
                if self.rng.chance(1, 2) {
                    self.expr(Ty::I32, d);
                    self.emit(I::I64ExtendI32U);
                } else {
                    self.expr(Ty::I64, d);
                    self.expr(Ty::I64, d);
                    let ops = [I::I64Add, I::I64Mul, I::I64Xor, I::I64Sub];
                    let op = self.rng.pick(&ops).clone();
                    self.emit(op);
                }
            }
            Ty::Ref { null, heap } => return self.ref_form(null, heap, depth),
        }
        true
    }

    /// The forms making a reference `(ref null? heap)`.
    fn ref_form(&mut self, null: bool, heap: Heap, depth: u32) -> bool {
        let d = depth - 1;
        let t = Ty::Ref { null, heap };
        // A function type the result may have.
        let u = match heap {
            Heap::Type(u) => u,
            Heap::Func => self.fn_type(),
        };
        let (nullable, non_null) = (Ty::typed(true, u), Ty::typed(false, u));
        match self.rng.below(5) {
            0 => {
                let ts: Vec<(u32, bool)> = (0..self.m.tables.len() as u32)
                    .filter_map(|tab| {
                        let elem = self.m.tables[tab as usize].elem;
                        let Ty::Ref { heap: h, .. } = elem else {
                            return None;
                        };
                        let as_non_null = Ty::Ref {
                            null: false,
                            heap: h,
                        };
                        if self.m.sub(elem, t) {
                            Some((tab, false))
                        } else {
                            self.m.sub(as_non_null, t).then_some((tab, true))
                        }
                    })
                    .collect();
                if ts.is_empty() {
                    return false;
                }
                let (tab, as_non_null) = *self.rng.pick(&ts);
                if as_non_null && !self.risk() {
                    return false;
                }
                self.index(tab, depth);
                self.emit(I::TableGet(tab));
                if as_non_null {
                    self.emit(I::RefAsNonNull);
                }
            }
            1 if !null => {
                if !self.risk() {
                    return false;
                }
                self.expr(Ty::Ref { null: true, heap }, d);
                self.emit(I::RefAsNonNull);
            }
            1 => {
                // Null or not as the arguments say.
                self.cond(depth);
                let bt = self.block_type(&[], &[t]);
                self.emit(I::If(bt));
                let h = if self.rng.chance(1, 2) {
                    heap
                } else {
                    Heap::Type(u)
                };
                self.emit(I::RefNull(super::heap_type(h)));
                self.emit(I::Else);
                let saved = self.inited.clone();
                self.expr(Ty::Ref { null: false, heap }, d);
                self.restore(&saved);
                self.emit(I::End);
            }
            2 => {
                // br_on_non_null leaves the block with the reference; the
                // null path makes one. The operand inside the block, or
                // taken as the block's parameter.
                let saved = self.inited.clone();
                if self.rng.chance(1, 2) {
                    let bt = self.block_type(&[], &[non_null]);
                    self.emit(I::Block(bt));
                    self.expr(nullable, d);
                } else {
                    self.expr(nullable, d);
                    let bt = self.block_type(&[nullable], &[non_null]);
                    self.emit(I::Block(bt));
                }
                self.emit(I::BrOnNonNull(0));
                self.expr(non_null, d);
                self.restore(&saved);
                self.emit(I::End);
            }
            3 => {
                // br_on_null leaves with a fallback below the reference;
                // otherwise the reference goes to a non-nullable local
                // that the replacement value may use.
                let bt = self.block_type(&[], &[t]);
                self.emit(I::Block(bt));
                let saved = self.inited.clone();
                self.expr(t, d);
                self.expr(nullable, d);
                self.emit(I::BrOnNull(0));
                let s = self.local(non_null);
                self.set(s);
                self.emit(I::Drop);
                self.expr(t, d);
                self.restore(&saved);
                self.emit(I::End);
            }
            _ => return false,
        }
        true
    }
}
