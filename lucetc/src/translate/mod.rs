//! Our WebAssembly-to-Cranelift translator: one function body at a time,
//! from wasmparser's operators to Cranelift IR through `cranelift-frontend`.
//!
//! [`translate_function`] drives a [`Translator`] over a body, validating
//! each operator just before it is lowered, so every lowering may assume
//! well-typed operands. The lowerings live by family:
//!
//! - [`control`]: blocks, loops, branches, the value stack's frames;
//! - [`variables`]: locals and globals;
//! - [`memory`]: heap addressing, loads and stores, bulk memory;
//! - [`calls`]: direct, indirect and tail calls;
//! - [`exceptions`]: tags, throwing, and catching in both encodings;
//! - [`tables`]: table operations and references;
//! - [`numeric`]: scalar integer and float operators;
//! - [`simd`]: 128-bit vector operators (but their loads and stores),
//!   relaxed SIMD included;
//! - [`metering`]: instruction counting and interrupt checks;
//! - [`env`]: the vmctx contract every lowering reaches the runtime through;
//! - [`traps`]: trap codes and their meaning for the runtime.
//!
//! An operator of a proposal we do not implement never gets here: it fails
//! validation, and `decode::proposals` names the proposal.

mod calls;
mod control;
mod env;
mod exceptions;
mod frames;
mod memory;
mod metering;
mod numeric;
mod simd;
mod stack;
mod tables;
pub(crate) mod traps;
mod variables;

use crate::module_env::ModuleEnv;
use crate::Error;
use cranelift_codegen::ir;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use env::FuncEnv;
use frames::Frame;
use metering::Meter;
use stack::ValueStack;
use wasmparser::{FuncValidator, FunctionBody, Operator, ValidatorResources};

/// The state of one function's translation.
pub(crate) struct Translator<'m, 'b> {
    env: FuncEnv<'m>,
    b: FunctionBuilder<'b>,
    stack: ValueStack,
    frames: Vec<Frame>,
    /// Whether the code being translated can be reached. Operators in
    /// unreachable code are validated but not lowered.
    reachable: bool,
    /// Blocks opened inside unreachable code, whose `end`s are skipped.
    dead_depth: usize,
    locals: Vec<Variable>,
    meter: Meter,
}

/// Translate the body of defined function `index` into `func`, whose
/// signature is already set.
pub(crate) fn translate_function(
    module: &ModuleEnv,
    validator: &mut FuncValidator<ValidatorResources>,
    body: &FunctionBody<'_>,
    func: &mut ir::Function,
    fctx: &mut FunctionBuilderContext,
) -> Result<(), Error> {
    let b = FunctionBuilder::new(func, fctx);
    let mut t = Translator {
        env: FuncEnv::new(module),
        b,
        stack: ValueStack::default(),
        frames: Vec::new(),
        reachable: true,
        dead_depth: 0,
        locals: Vec::new(),
        meter: Meter::default(),
    };
    t.prologue(validator, body)?;
    let mut reader = body
        .get_operators_reader()
        .map_err(Error::from_wasmparser)?;
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset().map_err(Error::from_wasmparser)?;
        validator.op(offset, &op).map_err(Error::from_wasmparser)?;
        t.operator(&op, offset)?;
    }
    // Trailing bytes after the final `end`, or frames left open.
    reader.finish().map_err(Error::from_wasmparser)?;
    let config = module.frontend_config;
    t.b.finalize(config);
    Ok(())
}

impl Translator<'_, '_> {
    /// Lower one (already validated) operator.
    fn operator(&mut self, op: &Operator<'_>, offset: usize) -> Result<(), Error> {
        if !self.reachable {
            return self.unreachable_operator(op);
        }
        self.b.set_srcloc(ir::SourceLoc::new(offset as u32));
        self.meter.before_operator(&mut self.env, &mut self.b, op);
        if self.control(op)?
            || self.exception(op)?
            || self.variable(op)
            || self.memory(op)?
            || self.call(op)
            || self.table(op)?
            || numeric::translate(op, &mut self.b, &mut self.stack)
            || simd::translate(op, &mut self.b, &mut self.stack)
            || simd::relaxed::translate(
                op,
                self.env.module.relaxed_simd,
                &mut self.b,
                &mut self.stack,
            )
        {
            return Ok(());
        }
        Err(unsupported(op, offset))
    }
}

/// The error for an operator that validates under the features we enable
/// but that no lowering handles: a gap in this compiler, not in the input
/// (operators of proposals we do not implement fail validation first, and
/// `decode::proposals` names them).
fn unsupported(op: &Operator<'_>, offset: usize) -> Error {
    let name = format!("{op:?}");
    let name = name.split([' ', '{', '(']).next().unwrap_or("operator");
    Error::Unsupported(format!("no lowering for {name} at offset {offset}"))
}
