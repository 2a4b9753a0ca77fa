//! Calls: direct, through a table, and their tail-call forms.
//!
//! Every wasm function takes the callee's vmctx and the caller's vmctx
//! before its wasm parameters (see [`crate::module_env::ModuleEnv::wasm_signature`]);
//! [`env`](super::env) resolves the callee and builds that argument list.

use crate::translate::env::Callee;
use crate::translate::Translator;
use cranelift_codegen::ir::InstBuilder;
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
        let call = match callee {
            Callee::Direct(f) => self.b.ins().call(f, args),
            Callee::Indirect(sig, code) => self.b.ins().call_indirect(sig, code, args),
        };
        let results = self.b.inst_results(call).to_vec();
        self.stack.extend(results);
    }
}
