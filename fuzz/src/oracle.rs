//! The oracle: the wasmi interpreter, run on the same module with the
//! same calls.

use crate::outcome::{Outcome, TrapKind, Value};

/// What the harness needs to know of a module's exports.
#[derive(Clone, Debug, Default)]
pub struct Exports {
    /// Exported functions: name, parameter types, in export order.
    pub funcs: Vec<(String, Vec<wasmi::ValType>)>,
    /// Exported global names.
    pub globals: Vec<String>,
    /// Exported memory names, in export order.
    pub memories: Vec<String>,
    /// Whether the module exports [`crate::generate::REFUEL`].
    pub refuel: bool,
}

/// The interpreter's view of one instance.
pub struct Oracle {
    store: wasmi::Store<()>,
    instance: wasmi::Instance,
}

fn engine() -> wasmi::Engine {
    let mut c = wasmi::Config::default();
    c.wasm_tail_call(true)
        .wasm_extended_const(true)
        .wasm_simd(true)
        // wasmi gives each relaxed SIMD operator its deterministic answer,
        // so lucet runs these modules compiled with
        // `relaxed_simd_deterministic`.
        .wasm_relaxed_simd(true)
        .wasm_multi_memory(true)
        .wasm_memory64(true)
        .wasm_custom_page_sizes(false)
        .wasm_wide_arithmetic(false)
        // Deep enough for any recursion the fuel allows, so stack
        // exhaustion is ours to explain, not the oracle's.
        .set_max_recursion_depth(100_000)
        .set_max_stack_height(64 << 20);
    wasmi::Engine::new(&c)
}

fn trap_kind(e: &wasmi::Error) -> Outcome {
    use wasmi::errors::{ErrorKind, InstantiationError, MemoryError, TableError};
    use wasmi::TrapCode as T;
    // wasmi reports some out-of-bounds bulk operations as table or
    // memory errors rather than trap codes.
    let code = match e.kind() {
        ErrorKind::TrapCode(c) => *c,
        ErrorKind::Table(
            TableError::InitOutOfBounds
            | TableError::FillOutOfBounds
            | TableError::SetOutOfBounds
            | TableError::CopyOutOfBounds,
        ) => T::TableOutOfBounds,
        ErrorKind::Memory(MemoryError::OutOfBoundsAccess) => T::MemoryOutOfBounds,
        ErrorKind::Instantiation(InstantiationError::ElementSegmentDoesNotFit { .. }) => {
            T::TableOutOfBounds
        }
        _ => return Outcome::Error(e.to_string()),
    };
    Outcome::Trap(match code {
        T::UnreachableCodeReached => TrapKind::Unreachable,
        T::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
        T::TableOutOfBounds => TrapKind::TableOutOfBounds,
        T::IndirectCallToNull => TrapKind::IndirectCallToNull,
        T::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
        T::IntegerOverflow => TrapKind::IntegerOverflow,
        T::BadConversionToInteger => TrapKind::BadConversionToInteger,
        T::StackOverflow => TrapKind::StackOverflow,
        T::BadSignature => TrapKind::BadSignature,
        other => TrapKind::Other(format!("{other:?}")),
    })
}

fn value(v: &wasmi::Val) -> Value {
    match v {
        wasmi::Val::I32(x) => Value::I32(*x as u32),
        wasmi::Val::I64(x) => Value::I64(*x as u64),
        wasmi::Val::F32(x) => Value::f32(x.to_bits()),
        wasmi::Val::F64(x) => Value::f64(x.to_bits()),
        wasmi::Val::V128(x) => Value::V128(x.as_u128()),
        wasmi::Val::FuncRef(r) => Value::FuncRef { null: r.is_null() },
        wasmi::Val::ExternRef(r) => Value::ExternRef { null: r.is_null() },
    }
}

fn val(v: &Value) -> wasmi::Val {
    match *v {
        Value::I32(x) => wasmi::Val::I32(x as i32),
        Value::I64(x) => wasmi::Val::I64(x as i64),
        Value::F32(x) => wasmi::Val::F32(f32::from_bits(x).into()),
        Value::F64(x) => wasmi::Val::F64(f64::from_bits(x).into()),
        Value::V128(x) => wasmi::Val::V128(x.into()),
        Value::FuncRef { .. } => wasmi::Val::default(wasmi::ValType::FuncRef),
        Value::ExternRef { .. } => wasmi::Val::default(wasmi::ValType::ExternRef),
        // wasmi has no exceptions: the generator gives it no exnref.
        Value::ExnRef { .. } => wasmi::Val::default(wasmi::ValType::ExternRef),
    }
}

impl Oracle {
    /// Decode `wasm`, list its exports and instantiate it (running the
    /// start function). `Err(None)` if the oracle cannot decode the module
    /// at all; `Err(Some(outcome))` if instantiation fails.
    pub fn instantiate(wasm: &[u8]) -> Result<(Oracle, Exports), Option<Outcome>> {
        let engine = engine();
        let module = wasmi::Module::new(&engine, wasm).map_err(|_| None)?;
        let mut exports = Exports::default();
        for e in module.exports() {
            match e.ty() {
                wasmi::ExternType::Func(_) if e.name() == crate::generate::REFUEL => {
                    exports.refuel = true
                }
                wasmi::ExternType::Func(f) => exports
                    .funcs
                    .push((e.name().to_string(), f.params().to_vec())),
                wasmi::ExternType::Global(_) => exports.globals.push(e.name().to_string()),
                wasmi::ExternType::Memory(_) => exports.memories.push(e.name().to_string()),
                _ => {}
            }
        }
        let mut store = wasmi::Store::new(&engine, ());
        let linker = wasmi::Linker::<()>::new(&engine);
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .map_err(|e| Some(trap_kind(&e)))?;
        Ok((Oracle { store, instance }, exports))
    }

    /// Call export `name`.
    pub fn call(&mut self, name: &str, args: &[Value]) -> Outcome {
        let Some(f) = self.instance.get_func(&self.store, name) else {
            return Outcome::Error(format!("no function {name}"));
        };
        let ty = f.ty(&self.store);
        let args: Vec<wasmi::Val> = args.iter().map(val).collect();
        let mut results: Vec<wasmi::Val> = ty
            .results()
            .iter()
            .map(|t| wasmi::Val::default(*t))
            .collect();
        match f.call(&mut self.store, &args, &mut results) {
            Ok(()) => Outcome::Returned(results.iter().map(value).collect()),
            Err(e) => trap_kind(&e),
        }
    }

    /// The bytes of memory `name`.
    pub fn memory(&self, name: &str) -> &[u8] {
        match self.instance.get_memory(&self.store, name) {
            Some(m) => m.data(&self.store),
            None => &[],
        }
    }

    /// The value of global `name`.
    pub fn global(&self, name: &str) -> Option<Value> {
        let g = self.instance.get_global(&self.store, name)?;
        Some(value(&g.get(&self.store)))
    }
}
