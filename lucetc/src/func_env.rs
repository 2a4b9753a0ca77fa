//! Our `FuncEnvironment`: how compiled code reaches the runtime's state.
//!
//! This is where the compiler-runtime contract of `lucet_module` becomes
//! machine code: the heap base is read from the memory definition, everything sits at the negative
//! offsets of [`VmctxLayout`], imported functions are called through
//! `{code, vmctx}` pairs, and work the code cannot do inline goes through the
//! runtime's builtins table.

use crate::module_env::ModuleEnv;
use cranelift_codegen::cursor::FuncCursor;
use cranelift_codegen::entity::{EntityRef, PrimaryMap};
use cranelift_codegen::ir::{
    self, condcodes::IntCC, types::*, AbiParam, ArgumentPurpose, InstBuilder, MemFlags, Signature,
};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::FunctionBuilder;
use cranelift_wasm::wasmparser::UnpackedIndex;
use cranelift_wasm::{EngineOrModuleTypeIndex, ModuleInternedTypeIndex};
use cranelift_wasm::{
    FuncEnvironment, FuncIndex, FuncTranslationState, GlobalIndex, GlobalVariable, Heap, HeapData,
    HeapStyle, MemoryIndex, TableIndex, TargetEnvironment, TypeConvert, TypeIndex, WasmError,
    WasmHeapType, WasmResult,
};
use lucet_module::abi::Builtin;
use lucet_module::{
    funcref, imported_func, memory_def, run_limits, table_def, VmctxOffsets, WASM_PAGE_SIZE,
};
use std::collections::HashMap;

/// Where a direct call goes.
enum Target {
    /// A defined function, by name.
    Direct,
    /// An imported function's code address, with its signature.
    Indirect(ir::SigRef, ir::Value),
}

/// Per-function translation environment.
pub struct FuncEnv<'m> {
    module: &'m ModuleEnv,
    heaps: PrimaryMap<Heap, HeapData>,
    vmctx: Option<ir::GlobalValue>,
    builtin_sigs: HashMap<u32, ir::SigRef>,
    /// Instructions translated since the count was last brought up to date.
    uncounted: i64,
}

impl<'m> FuncEnv<'m> {
    /// A fresh environment for translating one function of `module`.
    pub fn new(module: &'m ModuleEnv) -> Self {
        FuncEnv {
            module,
            heaps: PrimaryMap::new(),
            vmctx: None,
            builtin_sigs: HashMap::new(),
            uncounted: 0,
        }
    }

    fn vmctx_gv(&mut self, func: &mut ir::Function) -> ir::GlobalValue {
        *self
            .vmctx
            .get_or_insert_with(|| func.create_global_value(ir::GlobalValueData::VMContext))
    }

    fn vmctx_val(&self, builder_func: &ir::Function) -> ir::Value {
        builder_func
            .special_param(ArgumentPurpose::VMContext)
            .expect("compiled functions take a vmctx")
    }

    /// A pointer-sized load from `vmctx + offset`, as a global value.
    fn load_gv(
        &mut self,
        func: &mut ir::Function,
        base: ir::GlobalValue,
        offset: i32,
    ) -> ir::GlobalValue {
        func.create_global_value(ir::GlobalValueData::Load {
            base,
            offset: offset.into(),
            global_type: I64,
            flags: MemFlags::trusted().with_readonly(),
        })
    }

    fn builtin_sig(&mut self, func: &mut ir::Function, b: Builtin) -> ir::SigRef {
        let module = self.module;
        *self.builtin_sigs.entry(b as u32).or_insert_with(|| {
            let mut sig = Signature::new(module.call_conv);
            sig.params.push(AbiParam::new(I64));
            let (params, ret): (&[ir::Type], Option<ir::Type>) = match b {
                Builtin::MemoryGrow => (&[I32, I64], Some(I64)),
                Builtin::MemoryCopy => (&[I32, I64, I64, I64], Some(I32)),
                Builtin::MemoryFill => (&[I32, I64, I32, I64], Some(I32)),
                Builtin::MemoryInit => (&[I32, I32, I64, I32, I32], Some(I32)),
                Builtin::DataDrop | Builtin::ElemDrop => (&[I32], None),
                Builtin::TableGrow => (&[I32, I32, I64], Some(I32)),
                Builtin::TableCopy | Builtin::TableInit => (&[I32, I32, I32, I32, I32], Some(I32)),
                Builtin::TableFill => (&[I32, I32, I64, I32], Some(I32)),
            };
            sig.params.extend(params.iter().map(|t| AbiParam::new(*t)));
            sig.returns.extend(ret.map(AbiParam::new));
            func.import_signature(sig)
        })
    }

    /// Call builtin `b` with `args` (after vmctx); returns its results.
    fn call_builtin(
        &mut self,
        pos: &mut FuncCursor,
        b: Builtin,
        args: &[ir::Value],
    ) -> Option<ir::Value> {
        let sig = self.builtin_sig(pos.func, b);
        let vmctx = self.vmctx_val(pos.func);
        let table = pos.ins().load(
            I64,
            MemFlags::trusted().with_readonly(),
            vmctx,
            VmctxOffsets::BUILTINS,
        );
        let callee = pos.ins().load(
            I64,
            MemFlags::trusted().with_readonly(),
            table,
            (b as i32) * 8,
        );
        let mut all = vec![vmctx];
        all.extend_from_slice(args);
        let call = pos.ins().call_indirect(sig, callee, &all);
        pos.func.dfg.inst_results(call).first().copied()
    }

    fn call_builtin_checked(
        &mut self,
        pos: &mut FuncCursor,
        b: Builtin,
        args: &[ir::Value],
        code: ir::TrapCode,
    ) {
        let status = self
            .call_builtin(pos, b, args)
            .expect("builtin returns a status");
        pos.ins().trapnz(status, code);
    }

    /// Address of table `index`'s definition.
    fn table_def(&self, pos: &mut FuncCursor, index: TableIndex) -> ir::Value {
        let vmctx = self.vmctx_val(pos.func);
        let off = self.module.layout.table_ptr(index.as_u32());
        pos.ins()
            .load(I64, MemFlags::trusted().with_readonly(), vmctx, off)
    }

    /// Bounds-checked address of element `elem` of table `index`.
    fn table_elem_addr(
        &self,
        pos: &mut FuncCursor,
        index: TableIndex,
        elem: ir::Value,
    ) -> ir::Value {
        let def = self.table_def(pos, index);
        let len = pos
            .ins()
            .load(I32, MemFlags::trusted(), def, table_def::LENGTH);
        let oob = pos.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, elem, len);
        pos.ins().trapnz(oob, ir::TrapCode::TableOutOfBounds);
        let base = pos
            .ins()
            .load(I64, MemFlags::trusted(), def, table_def::BASE);
        let elem = pos.ins().uextend(I64, elem);
        let off = pos.ins().ishl_imm(elem, 3);
        let addr = pos.ins().iadd(base, off);
        if !self.module.data.options.spectre_guards {
            return addr;
        }
        // The trap stops the access architecturally; past a mispredicted
        // check, the address is the table base, never an index the guest
        // chose beyond the bound.
        pos.ins().select_spectre_guard(oob, base, addr)
    }

    fn memory_def(&self, pos: &mut FuncCursor, index: MemoryIndex) -> ir::Value {
        let vmctx = self.vmctx_val(pos.func);
        let off = self.module.layout.memory_ptr(index.as_u32());
        pos.ins()
            .load(I64, MemFlags::trusted().with_readonly(), vmctx, off)
    }

    /// How to reach function `index`, and the full argument list: a
    /// defined function directly, an imported one through its
    /// `{code, vmctx}` pair.
    fn direct_callee(
        &mut self,
        builder: &mut FunctionBuilder,
        index: FuncIndex,
        callee: ir::FuncRef,
        call_args: &[ir::Value],
    ) -> (Target, Vec<ir::Value>) {
        let vmctx = self.vmctx_val(builder.func);
        let i = index.as_u32();
        if i < self.module.data.num_imported_funcs() {
            let off = self.module.layout.imported_func(i);
            let flags = MemFlags::trusted().with_readonly();
            let code = builder
                .ins()
                .load(I64, flags, vmctx, off + imported_func::CODE);
            let cvmctx = builder
                .ins()
                .load(I64, flags, vmctx, off + imported_func::VMCTX);
            let sig = builder.func.dfg.ext_funcs[callee].signature;
            let mut args = vec![cvmctx, vmctx];
            args.extend_from_slice(call_args);
            (Target::Indirect(sig, code), args)
        } else {
            let mut args = vec![vmctx, vmctx];
            args.extend_from_slice(call_args);
            (Target::Direct, args)
        }
    }

    /// Check table entry `callee` (bounds, null, signature) and return its
    /// code and the full argument list.
    fn table_callee(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        sig_index: TypeIndex,
        callee: ir::Value,
        call_args: &[ir::Value],
    ) -> (ir::Value, Vec<ir::Value>) {
        let vmctx = self.vmctx_val(builder.func);
        let mut pos = builder.cursor();
        let addr = self.table_elem_addr(&mut pos, table_index, callee);
        let fref = pos.ins().load(I64, MemFlags::trusted(), addr, 0);
        pos.ins().trapz(fref, ir::TrapCode::IndirectCallToNull);
        let ro = MemFlags::trusted().with_readonly();
        let actual = pos.ins().load(I32, ro, fref, funcref::SIG_ID);
        let sig_ids = pos.ins().load(I64, ro, vmctx, VmctxOffsets::SIG_IDS);
        let expected = pos
            .ins()
            .load(I32, ro, sig_ids, (sig_index.as_u32() * 4) as i32);
        let mismatch = pos.ins().icmp(IntCC::NotEqual, actual, expected);
        pos.ins().trapnz(mismatch, ir::TrapCode::BadSignature);
        let code = pos.ins().load(I64, ro, fref, funcref::CODE);
        let cvmctx = pos.ins().load(I64, ro, fref, funcref::VMCTX);
        let mut args = vec![cvmctx, vmctx];
        args.extend_from_slice(call_args);
        (code, args)
    }

    /// Add the instructions of the straight-line code just translated to
    /// the run's count, and stop the run when it passes the budget.
    fn flush_count(&mut self, builder: &mut FunctionBuilder) {
        if self.uncounted == 0 {
            return;
        }
        let vmctx = self.vmctx_val(builder.func);
        let flags = MemFlags::trusted();
        let limits = builder
            .ins()
            .load(I64, flags, vmctx, VmctxOffsets::RUN_LIMITS);
        let count = builder
            .ins()
            .load(I64, flags, limits, run_limits::INSTRUCTION_COUNT);
        let count = builder.ins().iadd_imm(count, self.uncounted);
        builder
            .ins()
            .store(flags, count, limits, run_limits::INSTRUCTION_COUNT);
        let budget = builder
            .ins()
            .load(I64, flags, limits, run_limits::INSTRUCTION_BUDGET);
        let over = builder
            .ins()
            .icmp(IntCC::UnsignedGreaterThan, count, budget);
        builder.ins().trapnz(over, ir::TrapCode::Interrupt);
        self.uncounted = 0;
    }

    fn interrupt_check(&mut self, builder: &mut FunctionBuilder) {
        if !self.module.data.options.interruptible {
            return;
        }
        let vmctx = self.vmctx_val(builder.func);
        let limits = builder
            .ins()
            .load(I64, MemFlags::trusted(), vmctx, VmctxOffsets::RUN_LIMITS);
        // An atomic load: a plain one would be merged with the previous
        // check by redundant-load elimination, and a loop would never see
        // the flag change.
        let addr = builder.ins().iadd_imm(limits, run_limits::INTERRUPT as i64);
        let flag = builder.ins().atomic_load(I64, MemFlags::trusted(), addr);
        builder.ins().trapnz(flag, ir::TrapCode::Interrupt);
    }
}

impl TypeConvert for FuncEnv<'_> {
    fn lookup_heap_type(&self, index: UnpackedIndex) -> WasmHeapType {
        WasmHeapType::ConcreteFunc(self.lookup_type_index(index))
    }

    fn lookup_type_index(&self, index: UnpackedIndex) -> EngineOrModuleTypeIndex {
        let i = index.as_module_index().unwrap_or(0);
        EngineOrModuleTypeIndex::Module(ModuleInternedTypeIndex::new(i as usize))
    }
}

impl TargetEnvironment for FuncEnv<'_> {
    fn target_config(&self) -> TargetFrontendConfig {
        self.module.frontend_config
    }

    fn heap_access_spectre_mitigation(&self) -> bool {
        self.module.data.options.spectre_guards
    }

    fn proof_carrying_code(&self) -> bool {
        false
    }

    fn reference_type(&self, _ty: WasmHeapType) -> (ir::Type, bool) {
        (I64, false)
    }
}

impl FuncEnvironment for FuncEnv<'_> {
    fn is_wasm_parameter(&self, _signature: &Signature, index: usize) -> bool {
        // Parameters 0 and 1 are the callee's and the caller's vmctx.
        index >= 2
    }

    fn param_needs_stack_map(&self, _signature: &Signature, _index: usize) -> bool {
        false
    }

    fn sig_ref_result_needs_stack_map(&self, _sig_ref: ir::SigRef, _index: usize) -> bool {
        false
    }

    fn func_ref_result_needs_stack_map(
        &self,
        _func: &ir::Function,
        _func_ref: ir::FuncRef,
        _index: usize,
    ) -> bool {
        false
    }

    fn make_global(
        &mut self,
        func: &mut ir::Function,
        index: GlobalIndex,
    ) -> WasmResult<GlobalVariable> {
        let data = &self.module.data;
        let ty = data
            .global_type(index.as_u32())
            .ok_or_else(|| WasmError::User(format!("global {} missing", index.as_u32())))?;
        let ty = crate::module_env::clif_type(ty.ty);
        let vmctx = self.vmctx_gv(func);
        let imported = data.num_imported_globals();
        let i = index.as_u32();
        Ok(if i < imported {
            let ptr = self.load_gv(func, vmctx, self.module.layout.global_ptr(i));
            GlobalVariable::Memory {
                gv: ptr,
                offset: 0.into(),
                ty,
            }
        } else {
            GlobalVariable::Memory {
                gv: vmctx,
                offset: self.module.layout.global(i - imported).into(),
                ty,
            }
        })
    }

    fn heaps(&self) -> &PrimaryMap<Heap, HeapData> {
        &self.heaps
    }

    fn make_heap(&mut self, func: &mut ir::Function, index: MemoryIndex) -> WasmResult<Heap> {
        let data = &self.module.data;
        let mem = data
            .memory_type(index.as_u32())
            .ok_or_else(|| WasmError::User("memory missing".into()))?;
        let vmctx = self.vmctx_gv(func);
        // The base is a read-only load Cranelift can hoist and share.
        let base = if data.num_imported_memories() == 0 {
            self.load_gv(
                func,
                vmctx,
                self.module.layout.memory_def(0) + memory_def::BASE,
            )
        } else {
            let def = self.load_gv(func, vmctx, self.module.layout.memory_ptr(index.as_u32()));
            self.load_gv(func, def, memory_def::BASE)
        };
        let opts = &data.options;
        Ok(self.heaps.push(HeapData {
            base,
            min_size: mem.min_pages * WASM_PAGE_SIZE,
            max_size: mem.max_pages.map(|p| p * WASM_PAGE_SIZE),
            offset_guard_size: opts.heap_guard_size,
            style: HeapStyle::Static {
                bound: opts.heap_reserved_size,
            },
            index_type: I32,
            memory_type: None,
            page_size_log2: 16,
        }))
    }

    fn make_indirect_sig(
        &mut self,
        func: &mut ir::Function,
        index: TypeIndex,
    ) -> WasmResult<ir::SigRef> {
        Ok(func.import_signature(self.module.wasm_signature(index.as_u32())))
    }

    fn make_direct_func(
        &mut self,
        func: &mut ir::Function,
        index: FuncIndex,
    ) -> WasmResult<ir::FuncRef> {
        let data = &self.module.data;
        let t = data
            .func_type_index(index.as_u32())
            .ok_or_else(|| WasmError::User("function missing".into()))?;
        let signature = func.import_signature(self.module.wasm_signature(t));
        let imported = data.num_imported_funcs();
        // Imported functions are called through the vmctx (see
        // translate_call); their name is never referenced by a relocation.
        let (namespace, idx) = match index.as_u32().checked_sub(imported) {
            Some(defined) => (0, defined),
            None => (1, index.as_u32()),
        };
        let name =
            ir::ExternalName::User(func.declare_imported_user_function(ir::UserExternalName {
                namespace,
                index: idx,
            }));
        Ok(func.import_function(ir::ExtFuncData {
            name,
            signature,
            colocated: true,
        }))
    }

    fn translate_call(
        &mut self,
        builder: &mut FunctionBuilder,
        callee_index: FuncIndex,
        callee: ir::FuncRef,
        call_args: &[ir::Value],
    ) -> WasmResult<ir::Inst> {
        let (target, args) = self.direct_callee(builder, callee_index, callee, call_args);
        Ok(match target {
            Target::Direct => builder.ins().call(callee, &args),
            Target::Indirect(sig, code) => builder.ins().call_indirect(sig, code, &args),
        })
    }

    fn translate_return_call(
        &mut self,
        builder: &mut FunctionBuilder,
        callee_index: FuncIndex,
        callee: ir::FuncRef,
        call_args: &[ir::Value],
    ) -> WasmResult<()> {
        let (target, args) = self.direct_callee(builder, callee_index, callee, call_args);
        match target {
            Target::Direct => builder.ins().return_call(callee, &args),
            Target::Indirect(sig, code) => builder.ins().return_call_indirect(sig, code, &args),
        };
        Ok(())
    }

    fn translate_call_indirect(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        sig_index: TypeIndex,
        sig_ref: ir::SigRef,
        callee: ir::Value,
        call_args: &[ir::Value],
    ) -> WasmResult<Option<ir::Inst>> {
        let (code, args) = self.table_callee(builder, table_index, sig_index, callee, call_args);
        Ok(Some(builder.ins().call_indirect(sig_ref, code, &args)))
    }

    fn translate_return_call_indirect(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        sig_index: TypeIndex,
        sig_ref: ir::SigRef,
        callee: ir::Value,
        call_args: &[ir::Value],
    ) -> WasmResult<()> {
        let (code, args) = self.table_callee(builder, table_index, sig_index, callee, call_args);
        builder.ins().return_call_indirect(sig_ref, code, &args);
        Ok(())
    }

    fn translate_return_call_ref(
        &mut self,
        _builder: &mut FunctionBuilder,
        _sig_ref: ir::SigRef,
        _callee: ir::Value,
        _call_args: &[ir::Value],
    ) -> WasmResult<()> {
        Err(WasmError::Unsupported("typed function references".into()))
    }

    fn translate_call_ref(
        &mut self,
        _builder: &mut FunctionBuilder,
        _sig_ref: ir::SigRef,
        _callee: ir::Value,
        _call_args: &[ir::Value],
    ) -> WasmResult<ir::Inst> {
        Err(WasmError::Unsupported("typed function references".into()))
    }

    fn translate_memory_grow(
        &mut self,
        mut pos: FuncCursor,
        index: MemoryIndex,
        _heap: Heap,
        val: ir::Value,
    ) -> WasmResult<ir::Value> {
        let mem = pos.ins().iconst(I32, index.as_u32() as i64);
        let delta = pos.ins().uextend(I64, val);
        let old = self
            .call_builtin(&mut pos, Builtin::MemoryGrow, &[mem, delta])
            .unwrap();
        Ok(pos.ins().ireduce(I32, old))
    }

    fn translate_memory_size(
        &mut self,
        mut pos: FuncCursor,
        index: MemoryIndex,
        _heap: Heap,
    ) -> WasmResult<ir::Value> {
        let def = self.memory_def(&mut pos, index);
        let len = pos
            .ins()
            .load(I64, MemFlags::trusted(), def, memory_def::LENGTH);
        let pages = pos.ins().ushr_imm(len, 16);
        Ok(pos.ins().ireduce(I32, pages))
    }

    fn translate_memory_copy(
        &mut self,
        mut pos: FuncCursor,
        _src_index: MemoryIndex,
        _src_heap: Heap,
        dst_index: MemoryIndex,
        _dst_heap: Heap,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let mem = pos.ins().iconst(I32, dst_index.as_u32() as i64);
        let dst = pos.ins().uextend(I64, dst);
        let src = pos.ins().uextend(I64, src);
        let len = pos.ins().uextend(I64, len);
        self.call_builtin_checked(
            &mut pos,
            Builtin::MemoryCopy,
            &[mem, dst, src, len],
            ir::TrapCode::HeapOutOfBounds,
        );
        Ok(())
    }

    fn translate_memory_fill(
        &mut self,
        mut pos: FuncCursor,
        index: MemoryIndex,
        _heap: Heap,
        dst: ir::Value,
        val: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let mem = pos.ins().iconst(I32, index.as_u32() as i64);
        let dst = pos.ins().uextend(I64, dst);
        let len = pos.ins().uextend(I64, len);
        self.call_builtin_checked(
            &mut pos,
            Builtin::MemoryFill,
            &[mem, dst, val, len],
            ir::TrapCode::HeapOutOfBounds,
        );
        Ok(())
    }

    fn translate_memory_init(
        &mut self,
        mut pos: FuncCursor,
        index: MemoryIndex,
        _heap: Heap,
        seg_index: u32,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let mem = pos.ins().iconst(I32, index.as_u32() as i64);
        let seg = pos.ins().iconst(I32, seg_index as i64);
        let dst = pos.ins().uextend(I64, dst);
        self.call_builtin_checked(
            &mut pos,
            Builtin::MemoryInit,
            &[mem, seg, dst, src, len],
            ir::TrapCode::HeapOutOfBounds,
        );
        Ok(())
    }

    fn translate_data_drop(&mut self, mut pos: FuncCursor, seg_index: u32) -> WasmResult<()> {
        let seg = pos.ins().iconst(I32, seg_index as i64);
        self.call_builtin(&mut pos, Builtin::DataDrop, &[seg]);
        Ok(())
    }

    fn translate_table_size(
        &mut self,
        mut pos: FuncCursor,
        index: TableIndex,
    ) -> WasmResult<ir::Value> {
        let def = self.table_def(&mut pos, index);
        Ok(pos
            .ins()
            .load(I32, MemFlags::trusted(), def, table_def::LENGTH))
    }

    fn translate_table_grow(
        &mut self,
        mut pos: FuncCursor,
        table_index: TableIndex,
        delta: ir::Value,
        init_value: ir::Value,
    ) -> WasmResult<ir::Value> {
        let t = pos.ins().iconst(I32, table_index.as_u32() as i64);
        Ok(self
            .call_builtin(&mut pos, Builtin::TableGrow, &[t, delta, init_value])
            .unwrap())
    }

    fn translate_table_get(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        index: ir::Value,
    ) -> WasmResult<ir::Value> {
        let mut pos = builder.cursor();
        let addr = self.table_elem_addr(&mut pos, table_index, index);
        Ok(pos.ins().load(I64, MemFlags::trusted(), addr, 0))
    }

    fn translate_table_set(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        value: ir::Value,
        index: ir::Value,
    ) -> WasmResult<()> {
        let mut pos = builder.cursor();
        let addr = self.table_elem_addr(&mut pos, table_index, index);
        pos.ins().store(MemFlags::trusted(), value, addr, 0);
        Ok(())
    }

    fn translate_table_copy(
        &mut self,
        mut pos: FuncCursor,
        dst_table_index: TableIndex,
        src_table_index: TableIndex,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let d = pos.ins().iconst(I32, dst_table_index.as_u32() as i64);
        let s = pos.ins().iconst(I32, src_table_index.as_u32() as i64);
        self.call_builtin_checked(
            &mut pos,
            Builtin::TableCopy,
            &[d, s, dst, src, len],
            ir::TrapCode::TableOutOfBounds,
        );
        Ok(())
    }

    fn translate_table_fill(
        &mut self,
        mut pos: FuncCursor,
        table_index: TableIndex,
        dst: ir::Value,
        val: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let t = pos.ins().iconst(I32, table_index.as_u32() as i64);
        self.call_builtin_checked(
            &mut pos,
            Builtin::TableFill,
            &[t, dst, val, len],
            ir::TrapCode::TableOutOfBounds,
        );
        Ok(())
    }

    fn translate_table_init(
        &mut self,
        mut pos: FuncCursor,
        seg_index: u32,
        table_index: TableIndex,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let t = pos.ins().iconst(I32, table_index.as_u32() as i64);
        let s = pos.ins().iconst(I32, seg_index as i64);
        self.call_builtin_checked(
            &mut pos,
            Builtin::TableInit,
            &[t, s, dst, src, len],
            ir::TrapCode::TableOutOfBounds,
        );
        Ok(())
    }

    fn translate_elem_drop(&mut self, mut pos: FuncCursor, seg_index: u32) -> WasmResult<()> {
        let seg = pos.ins().iconst(I32, seg_index as i64);
        self.call_builtin(&mut pos, Builtin::ElemDrop, &[seg]);
        Ok(())
    }

    fn translate_ref_null(
        &mut self,
        mut pos: FuncCursor,
        _ty: WasmHeapType,
    ) -> WasmResult<ir::Value> {
        Ok(pos.ins().iconst(I64, 0))
    }

    fn translate_ref_is_null(
        &mut self,
        mut pos: FuncCursor,
        value: ir::Value,
    ) -> WasmResult<ir::Value> {
        let is_null = pos.ins().icmp_imm(IntCC::Equal, value, 0);
        Ok(pos.ins().uextend(I32, is_null))
    }

    fn translate_ref_func(
        &mut self,
        mut pos: FuncCursor,
        func_index: FuncIndex,
    ) -> WasmResult<ir::Value> {
        let slot = self
            .module
            .funcref_slot(func_index.as_u32())
            .ok_or_else(|| {
                WasmError::User(format!("ref.func {} is not declared", func_index.as_u32()))
            })?;
        let vmctx = self.vmctx_val(pos.func);
        Ok(pos
            .ins()
            .iadd_imm(vmctx, self.module.layout.funcref(slot) as i64))
    }

    fn translate_custom_global_get(
        &mut self,
        _builder: &mut FunctionBuilder,
        _global_index: GlobalIndex,
    ) -> WasmResult<ir::Value> {
        Err(WasmError::User("no custom globals".into()))
    }

    fn translate_custom_global_set(
        &mut self,
        _builder: &mut FunctionBuilder,
        _global_index: GlobalIndex,
        _val: ir::Value,
    ) -> WasmResult<()> {
        Err(WasmError::User("no custom globals".into()))
    }

    fn translate_atomic_wait(
        &mut self,
        _pos: FuncCursor,
        _index: MemoryIndex,
        _heap: Heap,
        _addr: ir::Value,
        _expected: ir::Value,
        _timeout: ir::Value,
    ) -> WasmResult<ir::Value> {
        Err(WasmError::Unsupported("threads".into()))
    }

    fn translate_atomic_notify(
        &mut self,
        _pos: FuncCursor,
        _index: MemoryIndex,
        _heap: Heap,
        _addr: ir::Value,
        _count: ir::Value,
    ) -> WasmResult<ir::Value> {
        Err(WasmError::Unsupported("threads".into()))
    }

    fn translate_ref_i31(&mut self, _pos: FuncCursor, _val: ir::Value) -> WasmResult<ir::Value> {
        Err(WasmError::Unsupported("GC".into()))
    }

    fn translate_i31_get_s(
        &mut self,
        _pos: FuncCursor,
        _i31ref: ir::Value,
    ) -> WasmResult<ir::Value> {
        Err(WasmError::Unsupported("GC".into()))
    }

    fn translate_i31_get_u(
        &mut self,
        _pos: FuncCursor,
        _i31ref: ir::Value,
    ) -> WasmResult<ir::Value> {
        Err(WasmError::Unsupported("GC".into()))
    }

    fn translate_loop_header(&mut self, builder: &mut FunctionBuilder) -> WasmResult<()> {
        self.interrupt_check(builder);
        Ok(())
    }

    fn before_translate_function(
        &mut self,
        builder: &mut FunctionBuilder,
        _state: &FuncTranslationState,
    ) -> WasmResult<()> {
        // Prologues compare the stack pointer with the limit the runtime
        // keeps in the vmctx: exhaustion is a trap, not a fault in host code.
        let vmctx = self.vmctx_gv(builder.func);
        let limits = self.load_gv(builder.func, vmctx, VmctxOffsets::RUN_LIMITS);
        let limit = self.load_gv(builder.func, limits, run_limits::STACK_LIMIT);
        builder.func.stack_limit = Some(limit);
        self.interrupt_check(builder);
        Ok(())
    }

    fn before_translate_operator(
        &mut self,
        op: &cranelift_wasm::wasmparser::Operator,
        builder: &mut FunctionBuilder,
        state: &FuncTranslationState,
    ) -> WasmResult<()> {
        if !self.module.data.options.count_instructions || !state.reachable() {
            return Ok(());
        }
        use cranelift_wasm::wasmparser::Operator as O;
        self.uncounted += 1;
        // Count before every operator that ends or starts a basic block, so
        // each straight-line stretch adds its length once per execution.
        if matches!(
            op,
            O::Loop { .. }
                | O::If { .. }
                | O::Else
                | O::End
                | O::Br { .. }
                | O::BrIf { .. }
                | O::BrTable { .. }
                | O::Return
                | O::Call { .. }
                | O::CallIndirect { .. }
                | O::Unreachable
        ) {
            self.flush_count(builder);
        }
        Ok(())
    }

    fn is_x86(&self) -> bool {
        true
    }

    fn has_native_fma(&self) -> bool {
        self.module.has_fma
    }
}
