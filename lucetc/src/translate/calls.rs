//! Calls: direct, through a table, through a typed function reference,
//! and their tail-call forms.
//!
//! Every wasm function takes the callee's vmctx and the caller's vmctx
//! before its wasm parameters (see [`crate::module_env::ModuleEnv::wasm_signature`]);
//! [`env`](super::env) resolves the callee and builds that argument list.
//! Inside a frame that handles exceptions a call is a `try_call` landing
//! on the frame's dispatch block (see [`exceptions`](super::exceptions));
//! elsewhere it is a plain call.

use crate::translate::env::Callee;
use crate::translate::Translator;
use cranelift_codegen::ir::{self, BlockArg, ExceptionTableData, ExceptionTableItem, InstBuilder};
use wasmparser::Operator;

impl Translator<'_, '_> {
    fn wasm_arity(&self, type_index: u32) -> (usize, usize) {
        let ty = &self.env.module.data.types[type_index as usize];
        (ty.params.len(), ty.results.len())
    }

    /// Lower a call operator; false if `op` is not one.
    pub(super) fn call(&mut self, op: &Operator<'_>) -> bool {
        match *op {
            Operator::Call { function_index } | Operator::ReturnCall { function_index } => {
                let type_index = self
                    .env
                    .module
                    .data
                    .func_type_index(function_index)
                    .expect("validated: function exists");
                let (params, _) = self.wasm_arity(type_index);
                let wasm_args = self.stack.popn(params);
                let (callee, args) =
                    self.env
                        .direct_callee(&mut self.b, function_index, &wasm_args);
                let tail = matches!(op, Operator::ReturnCall { .. });
                self.emit_call(callee, &args, tail);
            }
            Operator::CallIndirect {
                type_index,
                table_index,
            }
            | Operator::ReturnCallIndirect {
                type_index,
                table_index,
            } => {
                let (params, _) = self.wasm_arity(type_index);
                let elem = self.stack.pop();
                let wasm_args = self.stack.popn(params);
                let (callee, args) =
                    self.env
                        .table_callee(&mut self.b, table_index, type_index, elem, &wasm_args);
                let tail = matches!(op, Operator::ReturnCallIndirect { .. });
                self.emit_call(callee, &args, tail);
            }
            Operator::CallRef { type_index } | Operator::ReturnCallRef { type_index } => {
                let (params, _) = self.wasm_arity(type_index);
                let fref = self.stack.pop();
                let wasm_args = self.stack.popn(params);
                let (callee, args) = self
                    .env
                    .ref_callee(&mut self.b, type_index, fref, &wasm_args);
                let tail = matches!(op, Operator::ReturnCallRef { .. });
                self.emit_call(callee, &args, tail);
            }
            _ => return false,
        }
        true
    }

    fn emit_call(&mut self, callee: Callee, args: &[cranelift_codegen::ir::Value], tail: bool) {
        if tail {
            match callee {
                Callee::Direct(f) => self.b.ins().return_call(f, args),
                Callee::Indirect(sig, code) => self.b.ins().return_call_indirect(sig, code, args),
            };
            self.reachable = false;
            return;
        }
        if let Some(dispatch) = self.handler() {
            self.emit_try_call(callee, args, dispatch);
            return;
        }
        let call = match callee {
            Callee::Direct(f) => self.b.ins().call(f, args),
            Callee::Indirect(sig, code) => self.b.ins().call_indirect(sig, code, args),
        };
        let results = self.b.inst_results(call).to_vec();
        self.stack.extend(results);
    }

    /// A call that continues in a new block with the results, or lands on
    /// `dispatch` with the exception when the callee throws.
    fn emit_try_call(&mut self, callee: Callee, args: &[ir::Value], dispatch: ir::Block) {
        let sig = match callee {
            Callee::Direct(f) => self.b.func.dfg.ext_funcs[f].signature,
            Callee::Indirect(sig, _) => sig,
        };
        let result_types: Vec<ir::Type> = self.b.func.dfg.signatures[sig]
            .returns
            .iter()
            .map(|r| r.value_type)
            .collect();
        let next = self.block_with_params(&result_types);
        let pool = &mut self.b.func.dfg.value_lists;
        let normal = ir::BlockCall::new(
            next,
            (0..result_types.len()).map(|i| BlockArg::TryCallRet(i as u32)),
            pool,
        );
        let landing = ir::BlockCall::new(dispatch, [BlockArg::TryCallExn(0)], pool);
        let table = self
            .b
            .func
            .dfg
            .exception_tables
            .push(ExceptionTableData::new(
                sig,
                normal,
                [ExceptionTableItem::Default(landing)],
            ));
        match callee {
            Callee::Direct(f) => self.b.ins().try_call(f, args, table),
            Callee::Indirect(_, code) => self.b.ins().try_call_indirect(code, args, table),
        };
        self.b.seal_block(next);
        self.b.switch_to_block(next);
        let results = self.b.block_params(next).to_vec();
        self.stack.extend(results);
    }
}
