//! Translating and compiling functions, in parallel.

use crate::decode::PendingFunction;
use crate::module_env::{clif_type, ModuleEnv};
use crate::Error;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{self, types::*, AbiParam, InstBuilder, MemFlagsData, Signature};
use cranelift_codegen::isa::TargetIsa;
use cranelift_codegen::{Context, FinalizedMachExceptionHandler, FinalizedMachReloc};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use lucet_module::abi::VALUE_SLOT_SIZE;
use lucet_module::{CallSite, TrapSite};
use rayon::prelude::*;
use wasmparser::FuncValidatorAllocations;

/// Machine code for one function, ready to be placed in the object.
pub struct CompiledFunction {
    /// The IR function (its external-name table resolves relocations).
    pub func: ir::Function,
    /// Machine code.
    pub code: Vec<u8>,
    /// Relocations in `code`.
    pub relocs: Vec<FinalizedMachReloc>,
    /// The start alignment the code asks for: Cranelift's preferred
    /// function alignment for the target (32 bytes on x86-64, so that hot
    /// loops do not straddle an extra fetch line by accident of placement)
    /// or more if its constant pool needs it.
    pub alignment: u64,
    /// Trap sites, sorted by offset.
    pub traps: Vec<TrapSite>,
    /// Calls with a landing pad, sorted by return offset.
    pub call_sites: Vec<CallSite>,
}

fn compile_ir(
    isa: &dyn TargetIsa,
    func: ir::Function,
    index: u32,
) -> Result<CompiledFunction, Error> {
    let mut ctx = Context::for_function(func);
    let compiled = ctx
        .compile(isa, &mut ControlPlane::default())
        .map_err(|e| Error::Codegen {
            func: index,
            message: format!("{:?}", e.inner),
        })?;
    let code = compiled.code_buffer().to_vec();
    let relocs = compiled.buffer.relocs().to_vec();
    let alignment =
        u64::from(compiled.buffer.alignment).max(u64::from(isa.function_alignment().preferred));
    let mut traps: Vec<TrapSite> = compiled
        .buffer
        .traps()
        .iter()
        .map(|t| TrapSite {
            offset: t.offset,
            code: crate::translate::traps::to_lucet(t.code),
        })
        .collect();
    traps.sort_by_key(|t| t.offset);
    let mut call_sites = Vec::new();
    for site in compiled.buffer.call_sites() {
        let handler_offset = match site.exception_handlers {
            [] => continue,
            [FinalizedMachExceptionHandler::Default(offset)] => *offset,
            other => {
                return Err(Error::Codegen {
                    func: index,
                    message: format!("unexpected exception handlers {other:?}"),
                })
            }
        };
        let frame_offset = site.frame_offset.ok_or_else(|| Error::Codegen {
            func: index,
            message: "a landing pad without a frame offset".into(),
        })?;
        call_sites.push(CallSite {
            ret_offset: site.ret_addr,
            handler_offset,
            frame_offset,
        });
    }
    call_sites.sort_by_key(|s| s.ret_offset);
    Ok(CompiledFunction {
        func: ctx.func,
        code,
        relocs,
        alignment,
        traps,
        call_sites,
    })
}

/// Translate and compile every defined function, on all of rayon's threads.
pub fn compile_functions(
    env: &ModuleEnv,
    isa: &dyn TargetIsa,
    bodies: Vec<PendingFunction<'_>>,
) -> Result<Vec<CompiledFunction>, Error> {
    let imported = env.data.num_imported_funcs();
    bodies
        .into_par_iter()
        .enumerate()
        .map_init(
            || {
                (
                    FunctionBuilderContext::new(),
                    FuncValidatorAllocations::default(),
                )
            },
            |(fctx, allocs), (i, pending)| {
                let index = imported + i as u32;
                let type_index = env.data.functions[i].type_index;
                let mut func = ir::Function::with_name_signature(
                    ir::UserFuncName::user(0, i as u32),
                    env.wasm_signature(type_index),
                );
                let mut validator = pending.validator.into_validator(std::mem::take(allocs));
                crate::translate::translate_function(
                    env,
                    &mut validator,
                    &pending.body,
                    &mut func,
                    fctx,
                )?;
                *allocs = validator.into_allocations();
                compile_ir(isa, func, index)
            },
        )
        .collect()
}

/// Start a trampoline: one block taking the function's parameters.
fn entry_block(b: &mut FunctionBuilder<'_>) -> ir::Block {
    let block = b.create_block();
    b.append_block_params_for_function_params(block);
    b.switch_to_block(block);
    b.seal_block(block);
    block
}

/// The entry trampoline for type `type_index`: see
/// [`lucet_module::symbols::entry_trampoline`].
pub fn entry_trampoline(
    env: &ModuleEnv,
    isa: &dyn TargetIsa,
    type_index: u32,
) -> Result<CompiledFunction, Error> {
    let ty = &env.data.types[type_index as usize];
    let mut sig = Signature::new(env.call_conv);
    sig.params.extend([AbiParam::new(I64); 4]);
    sig.returns.push(AbiParam::new(I64));
    let mut func = ir::Function::with_name_signature(ir::UserFuncName::user(2, type_index), sig);
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let block = entry_block(&mut b);
    let (callee, callee_vmctx, caller_vmctx, values) = {
        let p = b.block_params(block);
        (p[0], p[1], p[2], p[3])
    };
    let flags = MemFlagsData::trusted();
    let mut args = vec![callee_vmctx, caller_vmctx];
    for (i, t) in ty.params.iter().enumerate() {
        args.push(
            b.ins()
                .load(clif_type(*t), flags, values, (i * VALUE_SLOT_SIZE) as i32),
        );
    }
    let wasm_sig = b.import_signature(env.wasm_signature(type_index));
    // The call lands on `uncaught` when the callee throws: the exception
    // is returned to the host, as null is on a normal return.
    let done = b.create_block();
    for t in &ty.results {
        b.append_block_param(done, clif_type(*t));
    }
    let uncaught = b.create_block();
    let exn = b.append_block_param(uncaught, I64);
    let pool = &mut b.func.dfg.value_lists;
    let normal = ir::BlockCall::new(
        done,
        (0..ty.results.len()).map(|i| ir::BlockArg::TryCallRet(i as u32)),
        pool,
    );
    let landing = ir::BlockCall::new(uncaught, [ir::BlockArg::TryCallExn(0)], pool);
    let table = b
        .func
        .dfg
        .exception_tables
        .push(ir::ExceptionTableData::new(
            wasm_sig,
            normal,
            [ir::ExceptionTableItem::Default(landing)],
        ));
    b.ins().try_call_indirect(callee, &args, table);
    b.seal_block(done);
    b.seal_block(uncaught);
    b.switch_to_block(done);
    let results = b.block_params(done).to_vec();
    for (i, r) in results.into_iter().enumerate() {
        b.ins()
            .store(flags, r, values, (i * VALUE_SLOT_SIZE) as i32);
    }
    let none = b.ins().iconst(I64, 0);
    b.ins().return_(&[none]);
    b.switch_to_block(uncaught);
    b.ins().return_(&[exn]);
    b.finalize(env.frontend_config);
    compile_ir(isa, func, u32::MAX)
}

/// The host-call trampoline for type `type_index`: see
/// [`lucet_module::symbols::host_trampoline`].
pub fn host_trampoline(
    env: &ModuleEnv,
    isa: &dyn TargetIsa,
    type_index: u32,
) -> Result<CompiledFunction, Error> {
    let ty = &env.data.types[type_index as usize];
    let mut func = ir::Function::with_name_signature(
        ir::UserFuncName::user(3, type_index),
        env.wasm_signature(type_index),
    );
    let slots = ty.params.len().max(ty.results.len()).max(1);
    let slot = func.create_sized_stack_slot(ir::StackSlotData::new(
        ir::StackSlotKind::ExplicitSlot,
        (slots * VALUE_SLOT_SIZE) as u32,
        4,
    ));
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let block = entry_block(&mut b);
    let params = b.block_params(block).to_vec();
    let (callee_vmctx, caller_vmctx) = (params[0], params[1]);
    let values = b.ins().stack_addr(I64, slot, 0);
    let flags = MemFlagsData::trusted();
    for (i, p) in params[2..].iter().enumerate() {
        b.ins()
            .store(flags, *p, values, (i * VALUE_SLOT_SIZE) as i32);
    }
    let dispatch = b.ins().load(I64, flags.with_readonly(), callee_vmctx, 0);
    let mut dsig = Signature::new(env.call_conv);
    dsig.params
        .extend([AbiParam::new(I64), AbiParam::new(I64), AbiParam::new(I64)]);
    dsig.returns.push(AbiParam::new(I64));
    let dsig = b.import_signature(dsig);
    let call = b
        .ins()
        .call_indirect(dsig, dispatch, &[callee_vmctx, caller_vmctx, values]);
    // A non-null result is an exception the host function threw: throw
    // it from here, as if the import had.
    let exn = b.inst_results(call)[0];
    let throw = b.create_block();
    let returned = b.create_block();
    b.ins().brif(exn, throw, &[], returned, &[]);
    b.seal_block(throw);
    b.seal_block(returned);
    b.switch_to_block(throw);
    let mut tsig = Signature::new(env.call_conv);
    tsig.params.extend([AbiParam::new(I64), AbiParam::new(I64)]);
    let tsig = b.import_signature(tsig);
    let builtins = b.ins().load(
        I64,
        flags.with_readonly(),
        caller_vmctx,
        lucet_module::VmctxOffsets::BUILTINS,
    );
    let thrower = b.ins().load(
        I64,
        flags.with_readonly(),
        builtins,
        (lucet_module::abi::Builtin::Throw as i32) * 8,
    );
    b.ins().call_indirect(tsig, thrower, &[caller_vmctx, exn]);
    b.ins().trap(crate::translate::traps::UNREACHABLE);
    b.switch_to_block(returned);
    let mut results = Vec::new();
    for (i, t) in ty.results.iter().enumerate() {
        results.push(
            b.ins()
                .load(clif_type(*t), flags, values, (i * VALUE_SLOT_SIZE) as i32),
        );
    }
    b.ins().return_(&results);
    b.finalize(env.frontend_config);
    compile_ir(isa, func, u32::MAX)
}
