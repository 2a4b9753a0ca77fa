//! Calls (direct, `call_ref` in several shapes with `br_on_null`,
//! `br_on_non_null` and blocks with parameters, tail calls), statements,
//! and folding values into the accumulators.

use super::super::{
    Heap, Mode, Module, Sig, Ty, ACC32, ACC64, DEPTH_GLOBAL, TAILS_GLOBAL, TAIL_CALLS,
};
use super::Gen;
use wasm_encoder::{BlockType, Instruction as I};

impl Gen<'_> {
    /// Arguments for parameters `params`.
    pub(super) fn args(&mut self, params: &[Ty], depth: u32) {
        for p in params {
            self.expr(*p, depth);
        }
    }

    /// A call, in one of several shapes; returns the types it leaves.
    pub(super) fn call(&mut self, depth: u32) -> Vec<Ty> {
        let u = self.fn_type();
        let Sig { params, results } = self.sig(u);
        let (nullable, non_null) = (Ty::typed(true, u), Ty::typed(false, u));
        let saved = self.inited.clone();
        match self.rng.below(5) {
            0 => {
                let f = self.rng.below(self.m.funcs.len() as u64) as u32;
                let sig = self.sig(self.m.funcs[f as usize]);
                self.args(&sig.params, depth);
                self.emit(I::Call(f));
                return sig.results;
            }
            1 => {
                self.args(&params, depth);
                let callee = if self.risk() { nullable } else { non_null };
                self.expr(callee, depth);
                self.emit(I::CallRef(u));
            }
            2 => {
                // br_on_null to a label typed with the arguments: a null
                // callee leaves them, which are then dropped for a value.
                let outer = self.block_type(&[], &results);
                let inner = self.block_type(&[], &params);
                self.emit_all([I::Block(outer), I::Block(inner)]);
                self.args(&params, depth);
                self.expr(nullable, depth);
                self.emit_all([I::BrOnNull(0), I::CallRef(u), I::Br(1), I::End]);
                self.restore(&saved);
                for p in params.iter().rev() {
                    self.sink(*p);
                }
                self.args(&results, depth);
                self.restore(&saved);
                self.emit(I::End);
            }
            3 | 4 if !self.risk() => {
                // br_on_non_null out of a block whose parameters are the
                // arguments and the reference; the null path finds another.
                self.args(&params, depth);
                self.expr(nullable, depth);
                let mut ps = params.clone();
                ps.push(nullable);
                let mut rs = params.clone();
                rs.push(non_null);
                let bt = self.block_type(&ps, &rs);
                self.emit_all([I::Block(bt), I::BrOnNonNull(0)]);
                self.expr(non_null, depth);
                self.restore(&saved);
                self.emit_all([I::End, I::CallRef(u)]);
            }
            _ => {
                // The same through an `if` with parameters; its `else`
                // insists with ref.as_non_null (trapping on null).
                self.args(&params, depth);
                self.expr(nullable, depth);
                self.cond(depth);
                let mut ps = params.clone();
                ps.push(nullable);
                let mut rs = params.clone();
                rs.push(non_null);
                let bt = self.block_type(&ps, &rs);
                self.emit_all([I::If(bt), I::BrOnNonNull(0)]);
                self.expr(non_null, depth);
                self.restore(&saved);
                self.emit_all([I::Else, I::RefAsNonNull, I::End, I::CallRef(u)]);
            }
        }
        results
    }

    /// Turn the values `from` on the stack into one `to`.
    pub(super) fn convert(&mut self, from: &[Ty], to: Ty, depth: u32) {
        let [one] = from else {
            for t in from.iter().rev() {
                self.sink(*t);
            }
            return self.expr(to, depth);
        };
        if self.m.sub(*one, to) {
            return;
        }
        match (*one, to) {
            (Ty::I32, Ty::I64) => self.emit(I::I64ExtendI32S),
            (Ty::I64, Ty::I32) => self.emit(I::I32WrapI64),
            (Ty::Ref { .. }, Ty::I32) => self.emit(I::RefIsNull),
            (Ty::Ref { .. }, Ty::I64) => self.emit_all([I::RefIsNull, I::I64ExtendI32U]),
            (from, to) => {
                // To a reference: choose between two by the value.
                match from {
                    Ty::I32 => {}
                    Ty::I64 => self.emit(I::I64Eqz),
                    Ty::Ref { .. } => self.emit(I::RefIsNull),
                }
                self.if_else(to, depth);
            }
        }
    }

    /// Fold the value of type `t` on the stack into an accumulator global.
    pub(super) fn sink(&mut self, t: Ty) {
        match t {
            Ty::I64 => self.emit_all([
                I::GlobalGet(ACC64),
                I::I64Const(0x9e37_79b9_7f4a_7c15_u64 as i64),
                I::I64Mul,
                I::I64Add,
                I::GlobalSet(ACC64),
            ]),
            Ty::I32 | Ty::Ref { .. } => {
                if matches!(t, Ty::Ref { .. }) {
                    self.emit(I::RefIsNull);
                }
                self.emit_all([
                    I::GlobalGet(ACC32),
                    I::I32Const(0x9e37_79b1_u32 as i32),
                    I::I32Mul,
                    I::I32Add,
                    I::GlobalSet(ACC32),
                ]);
            }
        }
    }

    /// A statement: leaves the stack as it found it.
    pub(super) fn stmt(&mut self, depth: u32) {
        if self.budget <= 0 || depth == 0 {
            return;
        }
        let d = depth - 1;
        let n_tables = self.m.tables.len() as u64;
        let saved = self.inited.clone();
        match self.rng.below(15) {
            0 => {
                if self.locals.is_empty() {
                    return;
                }
                let l = self.rng.below(self.locals.len() as u64) as u32;
                self.expr(self.locals[l as usize], d);
                self.set(l);
            }
            1 => {
                let gs: Vec<u32> = (ACC32..self.m.globals.len() as u32)
                    .filter(|&g| {
                        g != DEPTH_GLOBAL && g != TAILS_GLOBAL && self.m.globals[g as usize].mutable
                    })
                    .collect();
                let g = *self.rng.pick(&gs);
                self.expr(self.m.globals[g as usize].ty, d);
                self.emit(I::GlobalSet(g));
            }
            2 | 3 => {
                let tab = self.rng.below(n_tables) as u32;
                let elem = self.m.tables[tab as usize].elem;
                self.index(tab, depth);
                self.expr(elem, d);
                if self.rng.chance(1, 2) {
                    self.emit(I::TableSet(tab));
                } else {
                    // An index below the minimum and at most one entry:
                    // in bounds (unless risky).
                    self.small(1, depth);
                    self.emit(I::TableFill(tab));
                }
            }
            4 => {
                let (dst, src) = (
                    self.rng.below(n_tables) as u32,
                    self.rng.below(n_tables) as u32,
                );
                let (de, se) = (
                    self.m.tables[dst as usize].elem,
                    self.m.tables[src as usize].elem,
                );
                if !self.m.sub(se, de) {
                    return;
                }
                self.index(dst, depth);
                self.index(src, depth);
                self.small(1, depth);
                self.emit(I::TableCopy {
                    dst_table: dst,
                    src_table: src,
                });
            }
            5 | 6 => {
                let tab = self.rng.below(n_tables) as u32;
                let elem = self.m.tables[tab as usize].elem;
                let segs: Vec<u32> = (0..self.m.segments.len() as u32)
                    .filter(|&s| self.m.sub(self.m.segments[s as usize].ty, elem))
                    .collect();
                if segs.is_empty() {
                    return;
                }
                let s = *self.rng.pick(&segs);
                let seg = &self.m.segments[s as usize];
                let len = seg.items.len() as u32;
                // Active and declarative segments are empty once the
                // instance exists; a dropped one for every later call.
                let len_now = if matches!(seg.mode, Mode::Passive) {
                    len
                } else {
                    0
                };
                if self.risk() {
                    if self.rng.chance(1, 3) {
                        return self.emit(I::ElemDrop(s));
                    }
                    self.index(tab, depth);
                    self.small(len, depth);
                    self.small(len, depth);
                } else {
                    // Within the segment and the table's minimum size.
                    let min = self.m.tables[tab as usize].min;
                    let at = self.rng.range(0, min as u64) as u32;
                    let from = self.rng.range(0, len_now as u64) as u32;
                    self.emit_all([I::I32Const(at as i32), I::I32Const(from as i32)]);
                    self.small((len_now - from).min(min - at), depth);
                }
                self.emit(I::TableInit {
                    elem_index: s,
                    table: tab,
                });
            }
            7 | 8 => {
                let t = self.any_ty();
                self.expr(t, d);
                self.sink(t);
            }
            9 | 10 => {
                for t in self.call(d).iter().rev() {
                    self.sink(*t);
                }
            }
            11 => {
                self.cond(depth);
                self.emit(I::If(BlockType::Empty));
                self.stmt(d);
                self.restore(&saved);
                self.emit(I::Else);
                self.stmt(d);
                self.restore(&saved);
                self.emit(I::End);
            }
            12 => {
                self.emit(I::Block(BlockType::Empty));
                self.stmt(d);
                self.cond(depth);
                self.emit(I::BrIf(0));
                self.stmt(d);
                self.restore(&saved);
                self.emit(I::End);
            }
            13 => {
                // br_on_null out of a block; otherwise the reference goes
                // to a non-nullable local, called through.
                let u = self.fn_type();
                let heap = Heap::Type(u);
                self.emit(I::Block(BlockType::Empty));
                self.expr(Ty::Ref { null: true, heap }, d);
                self.emit(I::BrOnNull(0));
                let s = self.local(Ty::Ref { null: false, heap });
                self.set(s);
                let sig = self.sig(u);
                self.args(&sig.params, d);
                self.emit_all([I::LocalGet(s), I::CallRef(u)]);
                for t in sig.results.iter().rev() {
                    self.sink(*t);
                }
                self.stmt(d);
                self.restore(&saved);
                self.emit(I::End);
            }
            _ => {
                self.cond(depth);
                self.emit(I::If(BlockType::Empty));
                self.tail(d);
                self.restore(&saved);
                self.emit(I::End);
            }
        }
    }

    /// Leave the function: its results then `return`, or a tail call
    /// (`return_call_ref` of a compatible type, or `return_call`).
    pub(super) fn tail(&mut self, depth: u32) {
        let results = self.results.clone();
        let fits = |m: &Module, r: &[Ty]| {
            r.len() == results.len() && r.iter().zip(&results).all(|(a, b)| m.sub(*a, *b))
        };
        let types: Vec<u32> = (0..self.m.fn_types)
            .filter(|&u| fits(self.m, &self.m.types[u as usize].results))
            .collect();
        if !types.is_empty() && self.rng.chance(2, 3) {
            // Tail calls do not deepen the stack, so the depth bound does
            // not end a cycle of them: a count per call does.
            self.emit_all([
                I::GlobalGet(TAILS_GLOBAL),
                I::I32Const(TAIL_CALLS),
                I::I32LtU,
                I::If(BlockType::Empty),
                I::GlobalGet(TAILS_GLOBAL),
                I::I32Const(1),
                I::I32Add,
                I::GlobalSet(TAILS_GLOBAL),
            ]);
            let saved = self.inited.clone();
            let u = *self.rng.pick(&types);
            let sig = self.sig(u);
            self.args(&sig.params, depth);
            if self.rng.chance(4, 5) {
                let r = Ty::Ref {
                    null: self.risk(),
                    heap: Heap::Type(u),
                };
                self.expr(r, depth);
                self.leave();
                self.emit(I::ReturnCallRef(u));
            } else {
                let fs = self.m.funcs_of(Heap::Type(u));
                let f = *self.rng.pick(&fs);
                self.leave();
                self.emit(I::ReturnCall(f));
            }
            self.restore(&saved);
            self.emit(I::End);
        }
        self.args(&results, depth);
        self.leave();
        self.emit(I::Return);
    }

    /// Count the depth back down: every exit goes through here (after its
    /// operands are computed, which may call), a tail call too, since the
    /// callee counts itself up.
    fn leave(&mut self) {
        self.emit_all([
            I::GlobalGet(DEPTH_GLOBAL),
            I::I32Const(1),
            I::I32Sub,
            I::GlobalSet(DEPTH_GLOBAL),
        ]);
    }
}
