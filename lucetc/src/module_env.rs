//! Module-wide facts every function translation needs.

use cranelift_codegen::ir::{self, types::*, AbiParam, ArgumentPurpose, Signature};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig, TargetIsa};
use lucet_module::{ModuleData, ValType, VmctxLayout};
use std::collections::HashMap;

/// How relaxed SIMD operators are lowered for a module (see
/// `translate::simd::relaxed`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelaxedSimd {
    /// Give every operator one fixed, hardware-independent answer.
    pub deterministic: bool,
    /// The target has FMA, so a fused multiply-add is one instruction.
    pub fma: bool,
}

/// Shared, read-only state for translating a module's functions.
pub struct ModuleEnv {
    /// The module's description.
    pub data: ModuleData,
    /// Where its vmctx fields are.
    pub layout: VmctxLayout,
    /// Target facts for the translator.
    pub frontend_config: TargetFrontendConfig,
    /// The platform calling convention, for host-facing code (trampolines'
    /// entry points, builtins, host dispatch).
    pub call_conv: CallConv,
    /// How relaxed SIMD operators are lowered.
    pub relaxed_simd: RelaxedSimd,
    funcref_slots: HashMap<u32, u32>,
}

/// The Cranelift type holding a value of wasm type `t`.
pub fn clif_type(t: ValType) -> ir::Type {
    match t {
        ValType::I32 => I32,
        ValType::I64 => I64,
        ValType::F32 => F32,
        ValType::F64 => F64,
        ValType::V128 => I8X16,
        ValType::FuncRef | ValType::ExternRef | ValType::ExnRef => I64,
    }
}

/// The Cranelift type holding a value of wasmparser's type `t` (any
/// reference is a pointer-sized word).
pub fn clif_type_of(t: wasmparser::ValType) -> ir::Type {
    use wasmparser::ValType as W;
    match t {
        W::I32 => I32,
        W::I64 => I64,
        W::F32 => F32,
        W::F64 => F64,
        W::V128 => I8X16,
        W::Ref(_) => I64,
    }
}

impl ModuleEnv {
    /// Build the environment; `None` if the vmctx would be too large.
    /// `relaxed_simd_deterministic` picks the relaxed SIMD lowering (see
    /// [`RelaxedSimd`]).
    pub fn new(
        data: ModuleData,
        isa: &dyn TargetIsa,
        relaxed_simd_deterministic: bool,
    ) -> Option<ModuleEnv> {
        let layout = VmctxLayout::for_module(&data)?;
        let funcref_slots = data
            .escaping_functions
            .iter()
            .enumerate()
            .map(|(slot, f)| (*f, slot as u32))
            .collect();
        Some(ModuleEnv {
            layout,
            frontend_config: isa.frontend_config(),
            call_conv: isa.default_call_conv(),
            relaxed_simd: RelaxedSimd {
                deterministic: relaxed_simd_deterministic,
                fma: isa
                    .isa_flags()
                    .iter()
                    .any(|f| f.name == "has_fma" && f.as_bool() == Some(true)),
            },
            funcref_slots,
            data,
        })
    }

    /// The funcref record slot of function `f`, if it escapes.
    pub fn funcref_slot(&self, f: u32) -> Option<u32> {
        self.funcref_slots.get(&f).copied()
    }

    /// Native signature of a wasm function of type `type_index`:
    /// `(callee_vmctx, caller_vmctx, params...) -> results`, in the `tail`
    /// calling convention.
    pub fn wasm_signature(&self, type_index: u32) -> Signature {
        let ty = &self.data.types[type_index as usize];
        // Cranelift's `tail` convention, so `return_call` works; host code
        // reaches these functions only through the entry trampolines.
        let mut sig = Signature::new(CallConv::Tail);
        sig.params
            .push(AbiParam::special(I64, ArgumentPurpose::VMContext));
        sig.params.push(AbiParam::new(I64));
        sig.params
            .extend(ty.params.iter().map(|t| AbiParam::new(clif_type(*t))));
        sig.returns
            .extend(ty.results.iter().map(|t| AbiParam::new(clif_type(*t))));
        sig
    }
}
