//! The compiler-runtime contract, as seen from one function's code.
//!
//! This is where `lucet_module`'s layout becomes machine code: everything
//! sits at the negative offsets of [`lucet_module::VmctxLayout`] from the
//! vmctx, memory definitions hold the heap base and length, imported
//! functions are called through `{code, vmctx}` pairs, and work the code
//! cannot do inline goes through the runtime's builtins table. The operator
//! lowerings ask this module for addresses; none of them knows an offset.

use crate::module_env::{clif_type, ModuleEnv};
use crate::translate::traps;
use crate::Error;
use cranelift_codegen::ir::{
    self, condcodes::IntCC, types::*, AbiParam, ArgumentPurpose, InstBuilder, MemFlagsData,
    Signature,
};
use cranelift_frontend::FunctionBuilder;
use lucet_module::abi::Builtin;
use lucet_module::{funcref, imported_func, memory_def, table_def, VmctxOffsets};
use std::collections::HashMap;

/// Flags for the runtime's own data: never traps, always aligned.
pub(crate) fn trusted() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Flags for runtime data that does not change while the function runs,
/// so Cranelift may hoist and share the load.
pub(crate) fn trusted_readonly() -> MemFlagsData {
    MemFlagsData::trusted().with_readonly()
}

/// Where a call goes once the callee is resolved.
pub(crate) enum Callee {
    /// A function of this module, called by name.
    Direct(ir::FuncRef),
    /// A code address (an import, or a table entry), with its signature.
    Indirect(ir::SigRef, ir::Value),
}

/// Per-function view of the module's runtime layout.
pub(crate) struct FuncEnv<'m> {
    /// The module being compiled.
    pub module: &'m ModuleEnv,
    vmctx_gv: Option<ir::GlobalValue>,
    vmctx: Option<ir::Value>,
    builtin_sigs: HashMap<u32, ir::SigRef>,
    sigs: HashMap<u32, ir::SigRef>,
    funcs: HashMap<u32, ir::FuncRef>,
}

impl<'m> FuncEnv<'m> {
    /// A fresh environment for one function of `module`.
    pub fn new(module: &'m ModuleEnv) -> Self {
        FuncEnv {
            module,
            vmctx_gv: None,
            vmctx: None,
            builtin_sigs: HashMap::new(),
            sigs: HashMap::new(),
            funcs: HashMap::new(),
        }
    }

    /// Whether loads through guest-chosen indices get spectre guards.
    pub fn spectre_guards(&self) -> bool {
        self.module.data.options.spectre_guards
    }

    /// Remember the entry block's vmctx parameter (the function's
    /// layout is still empty when the prologue is built, so it cannot be
    /// looked up there).
    pub fn set_vmctx(&mut self, b: &FunctionBuilder<'_>, entry: ir::Block) {
        let index = b
            .func
            .signature
            .special_param_index(ArgumentPurpose::VMContext)
            .expect("every compiled function takes a vmctx");
        self.vmctx = Some(b.block_params(entry)[index]);
    }

    /// The vmctx parameter of the function being translated.
    pub fn vmctx(&self) -> ir::Value {
        self.vmctx.expect("set in the prologue")
    }

    fn vmctx_gv(&mut self, b: &mut FunctionBuilder<'_>) -> ir::GlobalValue {
        *self
            .vmctx_gv
            .get_or_insert_with(|| b.func.create_global_value(ir::GlobalValueData::VMContext))
    }

    /// A read-only pointer load from `base + offset`, as a global value
    /// Cranelift may hoist.
    fn load_gv(b: &mut FunctionBuilder<'_>, base: ir::GlobalValue, offset: i32) -> ir::GlobalValue {
        let flags = b
            .func
            .dfg
            .mem_flags
            .insert(trusted_readonly())
            .expect("a handful of flag sets per function");
        b.func.create_global_value(ir::GlobalValueData::Load {
            base,
            offset: offset.into(),
            global_type: I64,
            flags,
        })
    }

    /// Point the function's prologue stack check at the limit the runtime
    /// keeps for the run: exhaustion traps instead of faulting in host code.
    pub fn set_stack_limit(&mut self, b: &mut FunctionBuilder<'_>) {
        let vmctx = self.vmctx_gv(b);
        let limits = Self::load_gv(b, vmctx, VmctxOffsets::RUN_LIMITS);
        let limit = Self::load_gv(b, limits, lucet_module::run_limits::STACK_LIMIT);
        b.func.stack_limit = Some(limit);
    }

    /// The run-limits record (interrupt flag, instruction count, budget).
    /// The runtime writes its address once, at instantiation, so the load
    /// is read-only and movable: Cranelift hoists it out of loops, and a
    /// loop header's interrupt check is one load of the flag.
    pub fn run_limits(&self, b: &mut FunctionBuilder<'_>) -> ir::Value {
        let vmctx = self.vmctx();
        let flags = trusted_readonly().with_can_move();
        b.ins().load(I64, flags, vmctx, VmctxOffsets::RUN_LIMITS)
    }

    /// Base address of memory `index`'s heap. The loads are read-only and
    /// movable, so Cranelift shares and hoists them out of loops.
    pub fn heap_base(&mut self, b: &mut FunctionBuilder<'_>, index: u32) -> ir::Value {
        let flags = trusted_readonly().with_can_move();
        let vmctx = self.vmctx();
        // A memory the module defines keeps its definition in its own
        // vmctx; an imported one is reached through the pointer.
        let imported = self.module.data.num_imported_memories();
        if let Some(defined) = index.checked_sub(imported) {
            let off = self.module.layout.memory_def(defined) + memory_def::BASE;
            return b.ins().load(I64, flags, vmctx, off);
        }
        let def = b
            .ins()
            .load(I64, flags, vmctx, self.module.layout.memory_ptr(index));
        b.ins().load(I64, flags, def, memory_def::BASE)
    }

    /// Address of memory `index`'s definition (base, length).
    pub fn memory_def(&self, b: &mut FunctionBuilder<'_>, index: u32) -> ir::Value {
        let vmctx = self.vmctx();
        let off = self.module.layout.memory_ptr(index);
        b.ins().load(I64, trusted_readonly(), vmctx, off)
    }

    /// Address and type of global `index`'s value.
    pub fn global(&self, b: &mut FunctionBuilder<'_>, index: u32) -> (ir::Value, i32, ir::Type) {
        let data = &self.module.data;
        let ty = clif_type(
            data.global_type(index)
                .expect("validated: global exists")
                .ty,
        );
        let vmctx = self.vmctx();
        let imported = data.num_imported_globals();
        if index < imported {
            let off = self.module.layout.global_ptr(index);
            let ptr = b.ins().load(I64, trusted_readonly(), vmctx, off);
            (ptr, 0, ty)
        } else {
            (vmctx, self.module.layout.global(index - imported), ty)
        }
    }

    /// The signature of wasm type `type_index`, imported into the function.
    pub fn sig_ref(&mut self, b: &mut FunctionBuilder<'_>, type_index: u32) -> ir::SigRef {
        let module = self.module;
        *self
            .sigs
            .entry(type_index)
            .or_insert_with(|| b.import_signature(module.wasm_signature(type_index)))
    }

    /// How to call function `index`, and the full argument list: a defined
    /// function by name, an imported one through its `{code, vmctx}` pair.
    pub fn direct_callee(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        index: u32,
        wasm_args: &[ir::Value],
    ) -> (Callee, Vec<ir::Value>) {
        let data = &self.module.data;
        let type_index = data
            .func_type_index(index)
            .expect("validated: function exists");
        let vmctx = self.vmctx();
        let imported = data.num_imported_funcs();
        if index < imported {
            let off = self.module.layout.imported_func(index);
            let code = b
                .ins()
                .load(I64, trusted_readonly(), vmctx, off + imported_func::CODE);
            let callee_vmctx =
                b.ins()
                    .load(I64, trusted_readonly(), vmctx, off + imported_func::VMCTX);
            let sig = self.sig_ref(b, type_index);
            let mut args = vec![callee_vmctx, vmctx];
            args.extend_from_slice(wasm_args);
            return (Callee::Indirect(sig, code), args);
        }
        let func = match self.funcs.get(&index) {
            Some(f) => *f,
            None => {
                let signature = self.sig_ref(b, type_index);
                let name = b.func.declare_imported_user_function(ir::UserExternalName {
                    namespace: 0,
                    index: index - imported,
                });
                let f = b.import_function(ir::ExtFuncData {
                    name: ir::ExternalName::User(name),
                    signature,
                    colocated: true,
                    patchable: false,
                });
                self.funcs.insert(index, f);
                f
            }
        };
        let mut args = vec![vmctx, vmctx];
        args.extend_from_slice(wasm_args);
        (Callee::Direct(func), args)
    }

    /// Check table entry `elem` of `table` for a call with wasm type
    /// `type_index` (bounds, null, signature); returns its code address
    /// and the full argument list.
    pub fn table_callee(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        table: u32,
        type_index: u32,
        elem: ir::Value,
        wasm_args: &[ir::Value],
    ) -> (Callee, Vec<ir::Value>) {
        let addr = self.table_elem_addr(b, table, elem);
        let fref = b.ins().load(I64, trusted(), addr, 0);
        b.ins().trapz(fref, traps::INDIRECT_CALL_TO_NULL);
        self.checked_callee(b, type_index, fref, wasm_args)
    }

    /// The callee of `call_ref` through `fref`, a reference typed for wasm
    /// type `type_index`: null traps. Validation proved the type, but the
    /// record's signature is checked all the same, as for a table entry
    /// (one compare): a host passes function references checked by kind
    /// only, and may hand any to a typed parameter.
    pub fn ref_callee(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        type_index: u32,
        fref: ir::Value,
        wasm_args: &[ir::Value],
    ) -> (Callee, Vec<ir::Value>) {
        b.ins().trapz(fref, traps::NULL_REFERENCE);
        self.checked_callee(b, type_index, fref, wasm_args)
    }

    /// The callee in funcref record `fref` (not null), checked to have
    /// wasm type `type_index`, and the full argument list.
    fn checked_callee(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        type_index: u32,
        fref: ir::Value,
        wasm_args: &[ir::Value],
    ) -> (Callee, Vec<ir::Value>) {
        let vmctx = self.vmctx();
        let ro = trusted_readonly();
        let actual = b.ins().load(I32, ro, fref, funcref::SIG_ID);
        let sig_ids = b.ins().load(I64, ro, vmctx, VmctxOffsets::SIG_IDS);
        let expected = b.ins().load(I32, ro, sig_ids, (type_index * 4) as i32);
        let mismatch = b.ins().icmp(IntCC::NotEqual, actual, expected);
        b.ins().trapnz(mismatch, traps::BAD_SIGNATURE);
        let code = b.ins().load(I64, ro, fref, funcref::CODE);
        let callee_vmctx = b.ins().load(I64, ro, fref, funcref::VMCTX);
        let mut args = vec![callee_vmctx, vmctx];
        args.extend_from_slice(wasm_args);
        let sig = self.sig_ref(b, type_index);
        (Callee::Indirect(sig, code), args)
    }

    /// Address of table `index`'s definition (base, length).
    pub fn table_def(&self, b: &mut FunctionBuilder<'_>, index: u32) -> ir::Value {
        let vmctx = self.vmctx();
        let off = self.module.layout.table_ptr(index);
        b.ins().load(I64, trusted_readonly(), vmctx, off)
    }

    /// Bounds-checked address of element `elem` of table `index`.
    pub fn table_elem_addr(
        &self,
        b: &mut FunctionBuilder<'_>,
        index: u32,
        elem: ir::Value,
    ) -> ir::Value {
        let def = self.table_def(b, index);
        let len = b.ins().load(I32, trusted(), def, table_def::LENGTH);
        // A 64-bit table's index is compared at 64 bits: a large index must
        // not wrap into range.
        let (elem, len) = if b.func.dfg.value_type(elem) == I64 {
            (elem, b.ins().uextend(I64, len))
        } else {
            (b.ins().uextend(I64, elem), b.ins().uextend(I64, len))
        };
        let oob = b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, elem, len);
        b.ins().trapnz(oob, traps::TABLE_OUT_OF_BOUNDS);
        let base = b.ins().load(I64, trusted(), def, table_def::BASE);
        let off = b.ins().ishl_imm_u(elem, 3);
        let addr = b.ins().iadd(base, off);
        if !self.spectre_guards() {
            return addr;
        }
        // The trap stops the access architecturally; past a mispredicted
        // check the address is the table base, never an index the guest
        // chose beyond the bound.
        b.ins().select_spectre_guard(oob, base, addr)
    }

    /// The identity of exception tag `index` (the address of its
    /// definition, in this instance or the one it is imported from).
    pub fn tag_identity(&self, b: &mut FunctionBuilder<'_>, index: u32) -> ir::Value {
        let vmctx = self.vmctx();
        let off = self.module.layout.tag_ptr(index);
        b.ins().load(I64, trusted_readonly(), vmctx, off)
    }

    /// The address of function `index`'s funcref record, for `ref.func`.
    pub fn funcref(&self, b: &mut FunctionBuilder<'_>, index: u32) -> Result<ir::Value, Error> {
        let slot = self
            .module
            .funcref_slot(index)
            .ok_or_else(|| Error::Codegen {
                func: index,
                message: format!("ref.func {index} is not declared"),
            })?;
        let vmctx = self.vmctx();
        Ok(b.ins()
            .iadd_imm_s(vmctx, self.module.layout.funcref(slot) as i64))
    }

    fn builtin_sig(&mut self, b: &mut FunctionBuilder<'_>, builtin: Builtin) -> ir::SigRef {
        let call_conv = self.module.call_conv;
        *self.builtin_sigs.entry(builtin as u32).or_insert_with(|| {
            let mut sig = Signature::new(call_conv);
            sig.params.push(AbiParam::new(I64));
            let (params, ret): (&[ir::Type], Option<ir::Type>) = match builtin {
                Builtin::MemoryGrow => (&[I32, I64], Some(I64)),
                Builtin::MemoryCopy => (&[I32, I32, I64, I64, I64], Some(I32)),
                Builtin::MemoryFill => (&[I32, I64, I32, I64], Some(I32)),
                Builtin::MemoryInit => (&[I32, I32, I64, I32, I32], Some(I32)),
                Builtin::DataDrop | Builtin::ElemDrop => (&[I32], None),
                Builtin::TableGrow => (&[I32, I32, I64], Some(I32)),
                Builtin::TableCopy | Builtin::TableInit => (&[I32, I32, I32, I32, I32], Some(I32)),
                Builtin::TableFill => (&[I32, I32, I64, I32], Some(I32)),
                Builtin::ExnAlloc => (&[I32], Some(I64)),
                Builtin::Throw => (&[I64], None),
            };
            sig.params.extend(params.iter().map(|t| AbiParam::new(*t)));
            sig.returns.extend(ret.map(AbiParam::new));
            b.import_signature(sig)
        })
    }

    /// Call builtin `builtin` with `args` (the vmctx goes first); returns
    /// its result, if it has one.
    pub fn call_builtin(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        builtin: Builtin,
        args: &[ir::Value],
    ) -> Option<ir::Value> {
        let sig = self.builtin_sig(b, builtin);
        let vmctx = self.vmctx();
        let table = b
            .ins()
            .load(I64, trusted_readonly(), vmctx, VmctxOffsets::BUILTINS);
        let callee = b
            .ins()
            .load(I64, trusted_readonly(), table, (builtin as i32) * 8);
        let mut all = vec![vmctx];
        all.extend_from_slice(args);
        let call = b.ins().call_indirect(sig, callee, &all);
        b.inst_results(call).first().copied()
    }

    /// Call a builtin that returns a status, trapping with `code` when the
    /// status is non-zero.
    pub fn call_builtin_checked(
        &mut self,
        b: &mut FunctionBuilder<'_>,
        builtin: Builtin,
        args: &[ir::Value],
        code: ir::TrapCode,
    ) {
        let status = self
            .call_builtin(b, builtin, args)
            .expect("status builtins return a value");
        b.ins().trapnz(status, code);
    }
}
