//! Exceptions: `throw`, `throw_ref`, `try_table` and the legacy
//! `try`/`catch`/`catch_all`/`delegate`/`rethrow`.
//!
//! A frame that handles exceptions has a *dispatch* block taking the
//! exception (see [`lucet_module::exceptions`]). Every call in its body is
//! a `try_call` landing there, and a `throw` in its body jumps there
//! directly, without the runtime. The dispatch block compares the
//! exception's tag with each clause's, in order, and on no match passes
//! the exception to the next enclosing dispatch block, or, with none left
//! in the function, to the runtime's unwinder, which resumes at the
//! nearest landing pad of a caller. Code outside any handling frame makes
//! plain calls: exceptions cost nothing until one is thrown.

use crate::module_env::clif_type;
use crate::translate::frames::FrameKind;
use crate::translate::{traps, Translator};
use crate::Error;
use cranelift_codegen::ir::{self, condcodes::IntCC, types::*, BlockArg, InstBuilder};
use lucet_module::abi::Builtin;
use lucet_module::exceptions::record;
use wasmparser::{Catch, Operator};

impl Translator<'_, '_> {
    /// The dispatch block a call or throw at this point lands on, if any.
    pub(super) fn handler(&self) -> Option<ir::Block> {
        self.handler_within(self.frames.len())
    }

    /// The innermost dispatch block among the outermost `n` frames.
    fn handler_within(&self, n: usize) -> Option<ir::Block> {
        self.frames[..n].iter().rev().find_map(|f| f.kind.handler())
    }

    /// Lower an exception operator; false if `op` is not one.
    pub(super) fn exception(&mut self, op: &Operator<'_>) -> Result<bool, Error> {
        match op {
            Operator::TryTable { try_table } => {
                self.try_table(try_table.ty, &try_table.catches);
            }
            Operator::Throw { tag_index } => {
                let exn = self.new_exception(*tag_index);
                self.throw(exn);
            }
            Operator::ThrowRef => {
                let exn = self.stack.pop();
                self.b.ins().trapz(exn, traps::NULL_REFERENCE);
                self.throw(exn);
            }
            Operator::Try { blockty } => {
                let (params, results) = self.block_signature(*blockty);
                let exit = self.block_with_params(&results);
                let dispatch = self.block_with_params(&[I64]);
                let kind = FrameKind::Try {
                    dispatch,
                    clauses: Vec::new(),
                    caught: None,
                };
                self.push_frame(kind, exit, params.len(), results.len());
            }
            Operator::Catch { tag_index } => self.legacy_clause(Some(*tag_index)),
            Operator::CatchAll => self.legacy_clause(None),
            Operator::Delegate { relative_depth } => self.end_frame(Some(*relative_depth)),
            Operator::Rethrow { relative_depth } => {
                let FrameKind::Try {
                    caught: Some(var), ..
                } = self.frame_mut(*relative_depth).kind
                else {
                    unreachable!("validated: rethrow names a catch clause");
                };
                let exn = self.b.use_var(var);
                self.throw(exn);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A new exception of tag `tag`, its payload popped off the stack.
    fn new_exception(&mut self, tag: u32) -> ir::Value {
        let params = self.tag_params(tag);
        let values = self.stack.popn(params.len());
        let index = self.b.ins().iconst(I32, i64::from(tag));
        let exn = self
            .env
            .call_builtin(&mut self.b, Builtin::ExnAlloc, &[index])
            .expect("ExnAlloc returns the exception");
        self.b.ins().trapz(exn, traps::EXCEPTION_LIMIT);
        for (i, v) in values.into_iter().enumerate() {
            let offset = record::PAYLOAD + record::SLOT * i as i32;
            self.b
                .ins()
                .store(crate::translate::env::trusted(), v, exn, offset);
        }
        exn
    }

    /// The payload types of tag `tag`.
    fn tag_params(&self, tag: u32) -> Vec<ir::Type> {
        let data = &self.env.module.data;
        let ty = data.tag_type_index(tag).expect("validated: tag exists");
        data.types[ty as usize]
            .params
            .iter()
            .map(|t| clif_type(*t))
            .collect()
    }

    /// The payload values of `exn`, whose tag is `tag`.
    fn payload(&mut self, exn: ir::Value, tag: u32) -> Vec<ir::Value> {
        let flags = crate::translate::env::trusted().with_readonly();
        self.tag_params(tag)
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let offset = record::PAYLOAD + record::SLOT * i as i32;
                self.b.ins().load(t, flags, exn, offset)
            })
            .collect()
    }

    /// Throw `exn` from here: to the enclosing dispatch block, or to the
    /// caller through the runtime.
    fn throw(&mut self, exn: ir::Value) {
        let target = self.handler();
        self.throw_to(target, exn);
        self.reachable = false;
    }

    fn throw_to(&mut self, handler: Option<ir::Block>, exn: ir::Value) {
        match handler {
            Some(dispatch) => {
                self.b.ins().jump(dispatch, &[BlockArg::Value(exn)]);
            }
            None => {
                self.env.call_builtin(&mut self.b, Builtin::Throw, &[exn]);
                // The unwinder never returns here.
                self.b.ins().trap(traps::UNREACHABLE);
            }
        }
    }

    /// Branch to the block that starts a clause for `tag` when `exn` has
    /// that tag; continue in a fresh block otherwise.
    fn branch_if_tag(&mut self, exn: ir::Value, tag: u32, hit: ir::Block, args: &[ir::Value]) {
        let flags = crate::translate::env::trusted().with_readonly();
        let thrown = self.b.ins().load(I64, flags, exn, record::TAG);
        let wanted = self.env.tag_identity(&mut self.b, tag);
        let same = self.b.ins().icmp(IntCC::Equal, thrown, wanted);
        let miss = self.b.create_block();
        let args: Vec<BlockArg> = args.iter().map(|v| BlockArg::Value(*v)).collect();
        self.b.ins().brif(same, hit, &args, miss, &[]);
        self.b.seal_block(miss);
        self.b.switch_to_block(miss);
    }

    /// `try_table`: its clauses are known up front, so its dispatch block
    /// is filled in now, and the body continues in a block of its own.
    fn try_table(&mut self, ty: wasmparser::BlockType, catches: &[Catch]) {
        let (params, results) = self.block_signature(ty);
        let outer = self.handler();
        let body = self.b.create_block();
        self.b.ins().jump(body, &[]);
        let dispatch = self.block_with_params(&[I64]);
        self.b.switch_to_block(dispatch);
        let exn = self.b.block_params(dispatch)[0];
        let mut caught_all = false;
        for catch in catches {
            // Clause labels count from outside the try_table.
            match *catch {
                Catch::One { tag, label } | Catch::OneRef { tag, label } => {
                    let with_ref = matches!(catch, Catch::OneRef { .. });
                    let hit = self.b.create_block();
                    self.branch_if_tag(exn, tag, hit, &[]);
                    let miss = self.b.current_block().expect("in the miss block");
                    self.b.seal_block(hit);
                    self.b.switch_to_block(hit);
                    let mut values = self.payload(exn, tag);
                    if with_ref {
                        values.push(exn);
                    }
                    let (target, _) = self.frame_mut(label).branch_target();
                    self.jump(target, &values);
                    self.b.switch_to_block(miss);
                }
                Catch::All { label } | Catch::AllRef { label } => {
                    let values = if matches!(catch, Catch::AllRef { .. }) {
                        vec![exn]
                    } else {
                        vec![]
                    };
                    let (target, _) = self.frame_mut(label).branch_target();
                    self.jump(target, &values);
                    caught_all = true;
                    break;
                }
            }
        }
        if !caught_all {
            self.throw_to(outer, exn);
        }
        self.b.switch_to_block(body);
        self.b.seal_block(body);
        let exit = self.block_with_params(&results);
        self.push_frame(
            FrameKind::TryTable { dispatch },
            exit,
            params.len(),
            results.len(),
        );
    }

    /// Legacy `catch tag` (`Some`) or `catch_all` (`None`): end the body
    /// or the previous clause, and start a clause taking the exception.
    fn legacy_clause(&mut self, tag: Option<u32>) {
        let reachable = self.reachable;
        let frame = self.frames.last_mut().expect("validated: inside a try");
        let (exit, results, height) = (frame.exit, frame.results, frame.height);
        if reachable {
            frame.exit_reached = true;
        }
        if reachable {
            let args = self.stack.popn(results);
            self.jump(exit, &args);
        }
        self.stack.truncate(height);
        let clause = self.block_with_params(&[I64]);
        self.b.switch_to_block(clause);
        let exn = self.b.block_params(clause)[0];
        let var = self.b.declare_var(I64);
        self.b.def_var(var, exn);
        let FrameKind::Try {
            clauses, caught, ..
        } = &mut self.frames.last_mut().expect("validated").kind
        else {
            unreachable!("validated: catch follows try");
        };
        clauses.push((tag, clause));
        *caught = Some(var);
        if let Some(tag) = tag {
            let values = self.payload(exn, tag);
            self.stack.extend(values);
        }
        // The clause is reached from the dispatch block, filled in at
        // `end`.
        self.reachable = true;
    }

    /// Fill in a legacy `try`'s dispatch block once its frame is closed:
    /// each clause in order, then on to `outer` (the handler after the
    /// frame, or the one `delegate` names).
    pub(super) fn fill_legacy_dispatch(
        &mut self,
        dispatch: ir::Block,
        clauses: &[(Option<u32>, ir::Block)],
        delegate: Option<u32>,
    ) {
        let outer = match delegate {
            // `delegate 0` names the frame just outside the try.
            Some(depth) => self.handler_within(self.frames.len() - depth as usize),
            None => self.handler(),
        };
        self.b.switch_to_block(dispatch);
        let exn = self.b.block_params(dispatch)[0];
        let mut caught_all = false;
        for (tag, clause) in clauses {
            match tag {
                Some(tag) => self.branch_if_tag(exn, *tag, *clause, &[exn]),
                None => {
                    self.jump(*clause, &[exn]);
                    caught_all = true;
                    break;
                }
            }
        }
        if !caught_all {
            self.throw_to(outer, exn);
        }
        self.b.seal_block(dispatch);
        for (_, clause) in clauses {
            self.b.seal_block(*clause);
        }
    }
}
