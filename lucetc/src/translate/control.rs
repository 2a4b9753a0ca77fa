//! Structured control flow: `block`, `loop`, `if`/`else`, `end`, the
//! branches (`br_on_null` and `br_on_non_null` among them), `return`, `unreachable`, and the parametric operators
//! (`drop`, `select`, `nop`).
//!
//! Values that flow into a construct need no block parameters: the code
//! before it dominates everything inside. Block parameters carry values
//! only where paths merge (an exit) or loop back (a loop header).

use crate::module_env::{clif_type, clif_type_of};
use crate::translate::frames::{Frame, FrameKind};
use crate::translate::{metering, traps, Translator};
use crate::Error;
use cranelift_codegen::ir::{self, BlockArg, InstBuilder, JumpTableData};
use std::collections::HashMap;
use wasmparser::{BlockType, Operator};

impl Translator<'_, '_> {
    /// Set up the entry block, parameters, locals, the stack limit, the
    /// entry interrupt check and the function's own frame.
    pub(super) fn prologue(
        &mut self,
        validator: &mut wasmparser::FuncValidator<wasmparser::ValidatorResources>,
        body: &wasmparser::FunctionBody<'_>,
    ) -> Result<(), Error> {
        let entry = self.b.create_block();
        self.b.append_block_params_for_function_params(entry);
        self.b.switch_to_block(entry);
        self.b.seal_block(entry);
        self.env.set_vmctx(&self.b, entry);
        self.declare_locals(entry, validator, body)?;
        self.env.set_stack_limit(&mut self.b);
        metering::interrupt_check(&mut self.env, &mut self.b);
        let results: Vec<ir::Type> = self
            .b
            .func
            .signature
            .returns
            .iter()
            .map(|r| r.value_type)
            .collect();
        let exit = self.block_with_params(&results);
        self.frames.push(Frame {
            kind: FrameKind::Block,
            exit,
            results: results.len(),
            params: 0,
            height: 0,
            exit_reached: false,
        });
        Ok(())
    }

    pub(super) fn block_with_params(&mut self, types: &[ir::Type]) -> ir::Block {
        let block = self.b.create_block();
        for t in types {
            self.b.append_block_param(block, *t);
        }
        block
    }

    /// Parameter and result types of a block type.
    pub(super) fn block_signature(&self, bt: BlockType) -> (Vec<ir::Type>, Vec<ir::Type>) {
        match bt {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => (vec![], vec![clif_type_of(t)]),
            BlockType::FuncType(i) => {
                let ty = &self.env.module.data.types[i as usize];
                (
                    ty.params.iter().map(|t| clif_type(*t)).collect(),
                    ty.results.iter().map(|t| clif_type(*t)).collect(),
                )
            }
        }
    }

    pub(super) fn jump(&mut self, target: ir::Block, args: &[ir::Value]) {
        let args: Vec<BlockArg> = args.iter().map(|v| BlockArg::Value(*v)).collect();
        self.b.ins().jump(target, &args);
    }

    /// Lower a control or parametric operator; false if `op` is neither.
    pub(super) fn control(&mut self, op: &Operator<'_>) -> Result<bool, Error> {
        match op {
            Operator::Nop => {}
            Operator::Unreachable => {
                self.b.ins().trap(traps::UNREACHABLE);
                self.reachable = false;
            }
            Operator::Drop => {
                self.stack.pop();
            }
            Operator::Select | Operator::TypedSelect { .. } => {
                let (a, b, cond) = self.stack.pop3();
                let v = self.b.ins().select(cond, a, b);
                self.stack.push(v);
            }
            Operator::TypedSelectMulti { .. } => return Ok(false),
            Operator::Block { blockty } => {
                let (params, results) = self.block_signature(*blockty);
                let exit = self.block_with_params(&results);
                self.push_frame(FrameKind::Block, exit, params.len(), results.len());
            }
            Operator::Loop { blockty } => {
                let (params, results) = self.block_signature(*blockty);
                let header = self.block_with_params(&params);
                let args = self.stack.popn(params.len());
                self.jump(header, &args);
                self.b.switch_to_block(header);
                self.stack.extend(self.b.block_params(header).to_vec());
                metering::interrupt_check(&mut self.env, &mut self.b);
                let exit = self.block_with_params(&results);
                self.push_frame(
                    FrameKind::Loop { header },
                    exit,
                    params.len(),
                    results.len(),
                );
            }
            Operator::If { blockty } => {
                let (params, results) = self.block_signature(*blockty);
                let cond = self.stack.pop();
                let then_block = self.b.create_block();
                let else_block = self.b.create_block();
                self.b.ins().brif(cond, then_block, &[], else_block, &[]);
                self.b.seal_block(then_block);
                self.b.seal_block(else_block);
                self.b.switch_to_block(then_block);
                let exit = self.block_with_params(&results);
                let saved = self.stack.peekn(params.len()).to_vec();
                self.push_frame(
                    FrameKind::If {
                        else_block,
                        params: saved,
                        else_seen: false,
                    },
                    exit,
                    params.len(),
                    results.len(),
                );
            }
            Operator::Else => self.else_arm(),
            Operator::End => self.end_frame(None),
            Operator::Br { relative_depth } => {
                self.branch(*relative_depth);
                self.reachable = false;
            }
            Operator::BrIf { relative_depth } => {
                let cond = self.stack.pop();
                self.branch_unless_zero(cond, *relative_depth, None, true);
            }
            Operator::BrOnNull { relative_depth } => {
                let r = self.stack.pop();
                self.branch_unless_zero(r, *relative_depth, None, false);
                self.stack.push(r);
            }
            Operator::BrOnNonNull { relative_depth } => {
                // The reference goes along as the target's last value.
                let r = self.stack.pop();
                self.branch_unless_zero(r, *relative_depth, Some(r), true);
            }
            Operator::BrTable { targets } => {
                let depths = targets
                    .targets()
                    .collect::<Result<Vec<u32>, _>>()
                    .map_err(Error::from_wasmparser)?;
                self.br_table(&depths, targets.default());
                self.reachable = false;
            }
            Operator::Return => {
                let n = self.frames[0].results;
                let args = self.stack.popn(n);
                self.b.ins().return_(&args);
                self.reachable = false;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub(super) fn push_frame(
        &mut self,
        kind: FrameKind,
        exit: ir::Block,
        params: usize,
        results: usize,
    ) {
        self.frames.push(Frame {
            kind,
            exit,
            results,
            params,
            height: self.stack.len() - params,
            exit_reached: false,
        });
    }

    pub(super) fn frame_mut(&mut self, depth: u32) -> &mut Frame {
        let i = self.frames.len() - 1 - depth as usize;
        &mut self.frames[i]
    }

    /// A conditional `br depth`: taken when `v` is non-zero (`if_nonzero`)
    /// or zero, with the target's values from the top of the stack (the
    /// last one `last` instead, when given); code goes on in a new block.
    fn branch_unless_zero(
        &mut self,
        v: ir::Value,
        depth: u32,
        last: Option<ir::Value>,
        if_nonzero: bool,
    ) {
        let (target, n) = self.frame_mut(depth).branch_target();
        let from_stack = n - usize::from(last.is_some());
        let args: Vec<BlockArg> = self
            .stack
            .peekn(from_stack)
            .iter()
            .chain(&last)
            .map(|v| BlockArg::Value(*v))
            .collect();
        let next = self.b.create_block();
        if if_nonzero {
            self.b.ins().brif(v, target, &args, next, &[]);
        } else {
            self.b.ins().brif(v, next, &[], target, &args);
        }
        self.b.seal_block(next);
        self.b.switch_to_block(next);
    }

    /// `br depth`: jump with the target's arity of values.
    fn branch(&mut self, depth: u32) {
        let (target, n) = self.frame_mut(depth).branch_target();
        let args = self.stack.peekn(n).to_vec();
        self.jump(target, &args);
    }

    fn br_table(&mut self, depths: &[u32], default: u32) {
        let index = self.stack.pop();
        let (_, arity) = self.frame_mut(default).branch_target();
        // Jump tables carry no arguments here: with values to pass, each
        // distinct target gets an edge block that jumps on with them.
        let mut edges: HashMap<u32, ir::Block> = HashMap::new();
        let mut block_for = |t: &mut Self, depth: u32| -> ir::Block {
            let (target, _) = t.frame_mut(depth).branch_target();
            if arity == 0 {
                return target;
            }
            *edges.entry(depth).or_insert_with(|| t.b.create_block())
        };
        let default_block = block_for(self, default);
        let table: Vec<ir::Block> = depths.iter().map(|d| block_for(self, *d)).collect();
        let pool = &mut self.b.func.dfg;
        let default_call = pool.block_call(default_block, &[]);
        let calls: Vec<ir::BlockCall> =
            table.iter().map(|blk| pool.block_call(*blk, &[])).collect();
        let jt = self
            .b
            .create_jump_table(JumpTableData::new(default_call, &calls));
        self.b.ins().br_table(index, jt);
        let mut edges: Vec<(u32, ir::Block)> = edges.into_iter().collect();
        edges.sort_by_key(|(d, _)| *d);
        for (depth, edge) in edges {
            self.b.seal_block(edge);
            self.b.switch_to_block(edge);
            self.branch(depth);
        }
    }

    /// `else`: close the then arm and start the else arm from the `if`'s
    /// parameters.
    fn else_arm(&mut self) {
        let reachable = self.reachable;
        let frame = self.frames.last_mut().expect("validated: inside an if");
        let (exit, results, height) = (frame.exit, frame.results, frame.height);
        if reachable {
            frame.exit_reached = true;
        }
        let FrameKind::If {
            else_block,
            params,
            else_seen,
        } = &mut frame.kind
        else {
            unreachable!("validated: else follows if");
        };
        *else_seen = true;
        let else_block = *else_block;
        let params = params.clone();
        if reachable {
            let args = self.stack.popn(results);
            self.jump(exit, &args);
        }
        self.stack.truncate(height);
        self.stack.extend(params);
        self.b.switch_to_block(else_block);
        // The if's head was reachable (frames are only opened in
        // reachable code), so its else arm is too.
        self.reachable = true;
    }

    /// `end` (or a legacy `try`'s `delegate depth`): close the innermost
    /// frame and continue after it.
    pub(super) fn end_frame(&mut self, delegate: Option<u32>) {
        let mut frame = self.frames.pop().expect("validated: a frame to end");
        if self.reachable {
            let args = self.stack.popn(frame.results);
            self.jump(frame.exit, &args);
            frame.exit_reached = true;
        }
        match &frame.kind {
            FrameKind::Loop { header } => self.b.seal_block(*header),
            FrameKind::If {
                else_block,
                params,
                else_seen: false,
            } => {
                // No else arm: the false edge passes the parameters
                // through as results (validation made their types equal).
                self.b.switch_to_block(*else_block);
                let params = params.clone();
                self.jump(frame.exit, &params);
                frame.exit_reached = true;
            }
            // Everything that lands on the dispatch block is in the body.
            FrameKind::TryTable { dispatch } => self.b.seal_block(*dispatch),
            FrameKind::Try {
                dispatch, clauses, ..
            } => {
                let clauses = clauses.clone();
                self.fill_legacy_dispatch(*dispatch, &clauses, delegate);
            }
            _ => {}
        }
        self.stack.truncate(frame.height);
        self.b.switch_to_block(frame.exit);
        self.b.seal_block(frame.exit);
        self.stack.extend(self.b.block_params(frame.exit).to_vec());
        self.reachable = frame.exit_reached;
        if self.frames.is_empty() && self.reachable {
            let results = self.stack.popn(frame.results);
            self.b.ins().return_(&results);
        }
    }

    /// An operator in unreachable code: only the nesting matters.
    pub(super) fn unreachable_operator(&mut self, op: &Operator<'_>) -> Result<(), Error> {
        match op {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::Try { .. }
            | Operator::TryTable { .. } => self.dead_depth += 1,
            Operator::Else if self.dead_depth == 0 => self.else_arm(),
            Operator::Catch { .. } | Operator::CatchAll if self.dead_depth == 0 => {
                self.exception(op)?;
            }
            Operator::End | Operator::Delegate { .. } if self.dead_depth > 0 => {
                self.dead_depth -= 1
            }
            Operator::End => self.end_frame(None),
            Operator::Delegate { relative_depth } => self.end_frame(Some(*relative_depth)),
            _ => {}
        }
        Ok(())
    }
}
