//! Every non-memory SIMD operator, alone in a function, must pass the
//! verifier and compile for x64 both with the host's features and with only
//! SSE4.1: a Cranelift upgrade that drops a lowering we rely on fails here.

use super::{translate, ValueStack};
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{types::*, AbiParam, Function, InstBuilder, Signature, Type};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use wasmparser::{Operator, V128};

/// `(proposal, name, the operator if it has no immediates, arity)` for
/// each operator of the simd and relaxed-simd proposals.
macro_rules! simd_operators {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
        vec![$((
            stringify!($proposal),
            stringify!($op),
            simd_operators!(@make $op $({ $($arg),* })?),
            stringify!($($ann)*),
        )),*]
    };
    (@make $op:ident) => { Some(Operator::$op) };
    (@make $op:ident { $($arg:ident),* }) => { None };
}

type Listed = (
    &'static str,
    &'static str,
    Option<Operator<'static>>,
    &'static str,
);

fn listed() -> Vec<Listed> {
    wasmparser::for_each_visit_simd_operator!(simd_operators)
}

/// Parameter and result types of a listed operator without immediates.
fn signature_of(name: &str, arity: &str) -> (Vec<Type>, Type) {
    let scalar = match &name[..5] {
        "I64x2" => I64,
        "F32x4" => F32,
        "F64x2" => F64,
        _ => I32,
    };
    if name.ends_with("Splat") {
        (vec![scalar], I8X16)
    } else if ["Shl", "ShrS", "ShrU"].iter().any(|s| name.ends_with(s)) {
        (vec![I8X16, I32], I8X16)
    } else if ["AnyTrue", "AllTrue", "Bitmask"]
        .iter()
        .any(|s| name.ends_with(s))
    {
        (vec![I8X16], I32)
    } else {
        let n = match arity {
            "arity 1 -> 1" => 1,
            "arity 2 -> 1" => 2,
            "arity 3 -> 1" => 3,
            other => panic!("{name}: {other}"),
        };
        (vec![I8X16; n], I8X16)
    }
}

/// The operators with immediates, with their parameter and result types.
fn with_immediates() -> Vec<(Operator<'static>, Vec<Type>, Type)> {
    let v = I8X16;
    let mut out = vec![(
        Operator::V128Const {
            value: V128::from(0x0f0e_0d0c_u128),
        },
        vec![],
        v,
    )];
    for lanes in [[0u8; 16], std::array::from_fn(|i| i as u8 * 2), [31; 16]] {
        out.push((Operator::I8x16Shuffle { lanes }, vec![v, v], v));
    }
    for lane in 0..16 {
        out.push((Operator::I8x16ExtractLaneS { lane }, vec![v], I32));
        out.push((Operator::I8x16ExtractLaneU { lane }, vec![v], I32));
        out.push((Operator::I8x16ReplaceLane { lane }, vec![v, I32], v));
    }
    for lane in 0..8 {
        out.push((Operator::I16x8ExtractLaneS { lane }, vec![v], I32));
        out.push((Operator::I16x8ExtractLaneU { lane }, vec![v], I32));
        out.push((Operator::I16x8ReplaceLane { lane }, vec![v, I32], v));
    }
    for lane in 0..4 {
        out.push((Operator::I32x4ExtractLane { lane }, vec![v], I32));
        out.push((Operator::I32x4ReplaceLane { lane }, vec![v, I32], v));
        out.push((Operator::F32x4ExtractLane { lane }, vec![v], F32));
        out.push((Operator::F32x4ReplaceLane { lane }, vec![v, F32], v));
    }
    for lane in 0..2 {
        out.push((Operator::I64x2ExtractLane { lane }, vec![v], I64));
        out.push((Operator::I64x2ReplaceLane { lane }, vec![v, I64], v));
        out.push((Operator::F64x2ExtractLane { lane }, vec![v], F64));
        out.push((Operator::F64x2ReplaceLane { lane }, vec![v, F64], v));
    }
    out
}

fn isas() -> Vec<(&'static str, OwnedTargetIsa)> {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").unwrap();
    let flags = settings::Flags::new(flags);
    let host = cranelift_native::builder()
        .unwrap()
        .finish(flags.clone())
        .unwrap();
    let mut sse41 = cranelift_codegen::isa::lookup_by_name("x86_64-unknown-linux-gnu").unwrap();
    sse41.enable("sse41").unwrap();
    vec![("host", host), ("sse41", sse41.finish(flags).unwrap())]
}

/// Translate `op` into `params -> result`; None if it was refused.
fn build(
    op: &Operator<'_>,
    params: &[Type],
    result: Type,
    isa: &OwnedTargetIsa,
) -> Option<Function> {
    let mut sig = Signature::new(isa.default_call_conv());
    sig.params.extend(params.iter().map(|t| AbiParam::new(*t)));
    sig.returns.push(AbiParam::new(result));
    let mut func = Function::with_name_signature(Default::default(), sig);
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut fctx);
    let block = b.create_block();
    b.append_block_params_for_function_params(block);
    b.switch_to_block(block);
    b.seal_block(block);
    let mut stack = ValueStack::default();
    stack.extend(b.block_params(block).to_vec());
    if !translate(op, &mut b, &mut stack) {
        assert_eq!(
            stack.len(),
            params.len(),
            "{op:?} refused but touched the stack"
        );
        return None;
    }
    assert_eq!(stack.len(), 1, "{op:?}: operands left on the stack");
    let r = stack.pop();
    assert_eq!(b.func.dfg.value_type(r), result, "{op:?}: result type");
    b.ins().return_(&[r]);
    b.finalize(isa.frontend_config());
    Some(func)
}

#[test]
fn every_simd_operator_compiles_for_x64() {
    let mut ops = with_immediates();
    for (proposal, name, op, arity) in listed() {
        if let (Some(op), "simd") = (op, proposal) {
            let (params, result) = signature_of(name, arity);
            ops.push((op, params, result));
        }
    }
    let mut failures = vec![];
    for (isa_name, isa) in isas() {
        for (op, params, result) in &ops {
            let func = build(op, params, *result, &isa).unwrap_or_else(|| panic!("{op:?} refused"));
            if let Err(e) = cranelift_codegen::verify_function(&func, isa.flags()) {
                failures.push(format!("[{isa_name}] {op:?}: {e}"));
                continue;
            }
            let mut ctx = Context::for_function(func);
            match ctx.compile(&*isa, &mut ControlPlane::default()) {
                // A relocation here would be a libcall: not expected.
                Ok(code) if code.buffer.relocs().is_empty() => {}
                Ok(_) => failures.push(format!("[{isa_name}] {op:?}: calls out")),
                Err(e) => failures.push(format!("[{isa_name}] {op:?}: {:?}", e.inner)),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_simd_operator_without_memory_is_covered() {
    let covered: Vec<String> = with_immediates()
        .iter()
        .map(|(op, _, _)| format!("{op:?}"))
        .collect();
    for (proposal, name, op, _) in listed() {
        let memory = name.contains("Load") || name.contains("Store");
        if proposal == "simd" && !memory && op.is_none() {
            assert!(
                covered.iter().any(|c| c.split(' ').next() == Some(name)),
                "{name} has immediates but no case"
            );
        }
    }
}

#[test]
fn relaxed_and_scalar_operators_are_refused() {
    let isa = &isas()[0].1;
    for (proposal, name, op, arity) in listed() {
        if proposal == "relaxed_simd" {
            let (params, result) = signature_of(name, arity);
            assert!(
                build(&op.unwrap(), &params, result, isa).is_none(),
                "{name}"
            );
        }
    }
    for op in [Operator::I32Add, Operator::F64Neg, Operator::Drop] {
        assert!(build(&op, &[I32, I32], I32, isa).is_none(), "{op:?}");
    }
}
