//! Locals and globals.
//!
//! Locals are `cranelift-frontend` variables, so SSA construction is the
//! frontend's job; globals live in the vmctx (defined) or behind a pointer
//! in it (imported).

use crate::module_env::clif_type_of;
use crate::translate::env::trusted;
use crate::translate::Translator;
use crate::Error;
use cranelift_codegen::ir::{self, types::*, InstBuilder};
use wasmparser::{FuncValidator, FunctionBody, Operator, ValidatorResources};

impl Translator<'_, '_> {
    /// Declare a variable per parameter (bound to the entry block's
    /// parameters, after the two vmctx words) and per local (zeroed).
    pub(super) fn declare_locals(
        &mut self,
        entry: ir::Block,
        validator: &mut FuncValidator<ValidatorResources>,
        body: &FunctionBody<'_>,
    ) -> Result<(), Error> {
        let params = self.b.block_params(entry)[2..].to_vec();
        for p in params {
            let ty = self.b.func.dfg.value_type(p);
            let var = self.b.declare_var(ty);
            self.b.def_var(var, p);
            self.locals.push(var);
        }
        let mut reader = body.get_locals_reader().map_err(Error::from_wasmparser)?;
        for _ in 0..reader.get_count() {
            let offset = reader.original_position();
            let (count, ty) = reader.read().map_err(Error::from_wasmparser)?;
            validator
                .define_locals(offset, count, ty)
                .map_err(Error::from_wasmparser)?;
            let ty = clif_type_of(ty);
            let zero = self.zero(ty);
            for _ in 0..count {
                let var = self.b.declare_var(ty);
                self.b.def_var(var, zero);
                self.locals.push(var);
            }
        }
        Ok(())
    }

    fn zero(&mut self, ty: ir::Type) -> ir::Value {
        match ty {
            F32 => self.b.ins().f32const(0.0),
            F64 => self.b.ins().f64const(0.0),
            I8X16 => {
                let c = self.b.func.dfg.constants.insert(vec![0u8; 16].into());
                self.b.ins().vconst(I8X16, c)
            }
            t => self.b.ins().iconst(t, 0),
        }
    }

    /// Lower a local or global operator; false if `op` is neither.
    pub(super) fn variable(&mut self, op: &Operator<'_>) -> bool {
        match op {
            Operator::LocalGet { local_index } => {
                let v = self.b.use_var(self.locals[*local_index as usize]);
                self.stack.push(v);
            }
            Operator::LocalSet { local_index } => {
                let v = self.stack.pop();
                self.b.def_var(self.locals[*local_index as usize], v);
            }
            Operator::LocalTee { local_index } => {
                let v = self.stack.peek();
                self.b.def_var(self.locals[*local_index as usize], v);
            }
            Operator::GlobalGet { global_index } => {
                let (base, offset, ty) = self.env.global(&mut self.b, *global_index);
                let v = self.b.ins().load(ty, trusted(), base, offset);
                self.stack.push(v);
            }
            Operator::GlobalSet { global_index } => {
                let (base, offset, _) = self.env.global(&mut self.b, *global_index);
                let v = self.stack.pop();
                self.b.ins().store(trusted(), v, base, offset);
            }
            _ => return false,
        }
        true
    }
}
