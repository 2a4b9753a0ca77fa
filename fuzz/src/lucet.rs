//! Everything the fuzz targets need of lucetc and lucet-runtime, in one
//! place: compile with chosen options, load, instantiate, call an export,
//! read memory and a global. Kept to the narrowest API (`Module::load_unverified`,
//! `Instance::new`, `run`, `memory`, `global`, numeric `Val`s and null
//! references) so runtime changes touch only this file.

use crate::outcome::{Outcome, TrapKind, Value};
use crate::rng::Rng;
use lucet_runtime::{Error, Instance, Limits, Linker, Module, TrapCode, Val};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Compile options drawn for one case.
#[derive(Clone, Debug)]
pub struct Choice {
    /// Cranelift optimisation level.
    pub opt_level: lucetc::OptLevel,
    /// Heap guard: small ones force explicit bounds checks.
    pub heap_guard_size: u64,
    /// Heap reservation (4 or 8 GiB).
    pub heap_reserved_size: u64,
    /// Instruction counting compiled in.
    pub count_instructions: bool,
    /// Interrupt checks compiled in.
    pub interruptible: bool,
}

impl Choice {
    /// Draw options from `rng`.
    pub fn draw(rng: &mut Rng) -> Choice {
        use lucetc::OptLevel::*;
        Choice {
            opt_level: *rng.pick(&[None, Speed, SpeedAndSize]),
            heap_guard_size: *rng.pick(&[0, 4096, 64 << 10, 32 << 20, 2 << 30]),
            heap_reserved_size: *rng.pick(&[4 << 30, 4 << 30, 8 << 30]),
            count_instructions: rng.chance(1, 3),
            interruptible: rng.chance(2, 3),
        }
    }

    /// The lucetc options.
    pub fn options(&self) -> lucetc::Options {
        lucetc::Options {
            opt_level: self.opt_level,
            heap_guard_size: self.heap_guard_size,
            heap_reserved_size: self.heap_reserved_size,
            count_instructions: self.count_instructions,
            interruptible: self.interruptible,
            threads: Some(1),
            // The oracle's answers are the deterministic ones.
            relaxed_simd_deterministic: true,
            ..lucetc::Options::default()
        }
    }

    /// Runtime limits that fit the module: its address space, and a stack
    /// deep enough for the recursion fuel allows.
    pub fn limits(&self) -> Limits {
        Limits {
            heap_address_space_size: self.heap_reserved_size + self.heap_guard_size,
            stack_size: 8 << 20,
            ..Limits::default()
        }
    }
}

/// A compiled shared object in a temporary directory.
pub struct SharedObject {
    _dir: tempfile::TempDir,
    /// Its path.
    pub path: PathBuf,
    /// The module data lucetc embedded in it.
    pub data: lucet_module::ModuleData,
}

/// Compile `wasm` to a shared object.
pub fn compile(wasm: &[u8], options: &lucetc::Options) -> Result<SharedObject, lucetc::Error> {
    let dir = tempfile::tempdir().map_err(|source| lucetc::Error::Io {
        path: "temporary directory".into(),
        source,
    })?;
    let path = dir.path().join("module.so");
    let data = lucetc::compile_to_file(wasm, &path, options)?;
    Ok(SharedObject {
        _dir: dir,
        path,
        data,
    })
}

/// A loaded and instantiated module.
pub struct Lucet {
    instance: Instance,
}

fn trap_kind(code: TrapCode) -> TrapKind {
    match code {
        TrapCode::HeapOutOfBounds => TrapKind::MemoryOutOfBounds,
        TrapCode::Unreachable => TrapKind::Unreachable,
        TrapCode::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
        TrapCode::IntegerOverflow => TrapKind::IntegerOverflow,
        TrapCode::BadConversionToInteger => TrapKind::BadConversionToInteger,
        TrapCode::IndirectCallToNull => TrapKind::IndirectCallToNull,
        TrapCode::BadSignature => TrapKind::BadSignature,
        TrapCode::TableOutOfBounds => TrapKind::TableOutOfBounds,
        TrapCode::StackOverflow => TrapKind::StackOverflow,
        TrapCode::NullReference => TrapKind::NullReference,
        other => TrapKind::Other(other.to_string()),
    }
}

fn outcome(r: Result<Vec<Val>, Error>) -> Outcome {
    match r {
        Ok(vals) => Outcome::Returned(vals.iter().map(value).collect()),
        Err(Error::Trap(t)) => Outcome::Trap(trap_kind(t.code)),
        Err(Error::Exception(_)) => Outcome::Exception,
        Err(e) => Outcome::Error(e.to_string()),
    }
}

fn value(v: &Val) -> Value {
    match *v {
        Val::I32(x) => Value::I32(x as u32),
        Val::I64(x) => Value::I64(x as u64),
        Val::F32(x) => Value::f32(x),
        Val::F64(x) => Value::f64(x),
        Val::V128(x) => Value::V128(x),
        Val::FuncRef(r) => Value::FuncRef { null: r.is_none() },
        Val::ExternRef(r) => Value::ExternRef { null: r.is_none() },
        Val::ExnRef(r) => Value::ExnRef { null: r.is_none() },
    }
}

fn val(v: &Value) -> Val {
    match *v {
        Value::I32(x) => Val::I32(x as i32),
        Value::I64(x) => Val::I64(x as i64),
        Value::F32(x) => Val::F32(x),
        Value::F64(x) => Val::F64(x),
        Value::V128(x) => Val::V128(x),
        // Only null references are passed in.
        Value::FuncRef { .. } => Val::FuncRef(None),
        Value::ExternRef { .. } => Val::ExternRef(None),
        Value::ExnRef { .. } => Val::ExnRef(None),
    }
}

/// Load a shared object without a signature.
///
/// # Safety
/// As [`Module::load_unverified`]: `path` holds code lucetc produced (the
/// module data beside it may be anything: the loader checks that), in a
/// directory nothing else writes.
pub unsafe fn load(path: &Path) -> Result<Arc<Module>, Error> {
    // SAFETY: as the caller promises.
    unsafe { Module::load_unverified(path) }
}

impl Lucet {
    /// Instantiate `module` with no imports (the start function runs).
    pub fn instantiate(module: &Arc<Module>, limits: Limits) -> Result<Lucet, Outcome> {
        match Instance::new(module, &Linker::new(), limits) {
            Ok(instance) => Ok(Lucet { instance }),
            Err(e) => Err(outcome(Err(e))),
        }
    }

    /// Call export `name`.
    pub fn call(&mut self, name: &str, args: &[Value]) -> Outcome {
        let args: Vec<Val> = args.iter().map(val).collect();
        outcome(self.instance.run(name, &args))
    }

    /// The memory exported as `name` (empty if there is none).
    pub fn memory(&mut self, name: &str) -> &[u8] {
        self.instance.exported_memory(name).map_or(&[], |m| &*m)
    }

    /// The value of exported global `name`.
    pub fn global(&self, name: &str) -> Option<Value> {
        self.instance.global(name).ok().as_ref().map(value)
    }
}
