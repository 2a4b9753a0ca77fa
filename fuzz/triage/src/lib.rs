//! Three-way replay of `lucet-fuzz` differential cases: lucet, wasmi and
//! Wasmtime run the same module with the same calls; when they disagree,
//! the engine that differs from the other two is the suspect. Modules
//! using what wasmi lacks (exceptions, typed function references) are
//! replayed in lucet and Wasmtime alone.

use lucet_fuzz::diff::{self, Call};
use lucet_fuzz::lucet::{self, Lucet};
use lucet_fuzz::oracle::{Exports, Oracle};
use lucet_fuzz::outcome::{Outcome, StateHash, TrapKind, Value};

/// Wasmtime's view of one instance.
pub struct Wasmtime {
    store: wasmtime::Store<()>,
    instance: wasmtime::Instance,
}

fn engine() -> wasmtime::Result<wasmtime::Engine> {
    let mut c = wasmtime::Config::new();
    c.wasm_tail_call(true)
        .wasm_simd(true)
        .wasm_relaxed_simd(false)
        .wasm_extended_const(true)
        .wasm_reference_types(true)
        .wasm_multi_memory(true)
        // The diff target generates 64-bit memories too.
        .wasm_memory64(true)
        // And, for the exceptions replay, exceptions (which need the gc
        // feature in this Wasmtime).
        .wasm_exceptions(true)
        // For the typed-refs replay (on by default in this Wasmtime;
        // said here so a default that changes does not skip them).
        .wasm_function_references(true)
        // The most Wasmtime allows without async support (its async
        // stack size bounds it); deep enough for the per-call fuel.
        .max_wasm_stack(2 << 20);
    wasmtime::Engine::new(&c)
}

fn outcome(e: &wasmtime::Error) -> Outcome {
    use wasmtime::Trap as T;
    if e.is::<wasmtime::ThrownException>() {
        return Outcome::Exception;
    }
    let Some(t) = e.downcast_ref::<T>() else {
        return Outcome::Error(format!("{e:#}"));
    };
    Outcome::Trap(match t {
        T::StackOverflow => TrapKind::StackOverflow,
        T::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
        T::TableOutOfBounds => TrapKind::TableOutOfBounds,
        T::IndirectCallToNull => TrapKind::IndirectCallToNull,
        T::BadSignature => TrapKind::BadSignature,
        T::IntegerOverflow => TrapKind::IntegerOverflow,
        T::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
        T::BadConversionToInteger => TrapKind::BadConversionToInteger,
        T::UnreachableCodeReached => TrapKind::Unreachable,
        T::NullReference => TrapKind::NullReference,
        other => TrapKind::Other(format!("{other:?}")),
    })
}

fn value(v: &wasmtime::Val) -> Value {
    match v {
        wasmtime::Val::I32(x) => Value::I32(*x as u32),
        wasmtime::Val::I64(x) => Value::I64(*x as u64),
        wasmtime::Val::F32(x) => Value::f32(*x),
        wasmtime::Val::F64(x) => Value::f64(*x),
        wasmtime::Val::V128(x) => Value::V128(x.as_u128()),
        wasmtime::Val::FuncRef(r) => Value::FuncRef { null: r.is_none() },
        wasmtime::Val::ExternRef(r) => Value::ExternRef { null: r.is_none() },
        wasmtime::Val::ExnRef(r) => Value::ExnRef { null: r.is_none() },
        // Not produced by the proposals the generator uses.
        _ => Value::ExternRef { null: false },
    }
}

fn val(v: &Value) -> wasmtime::Val {
    match *v {
        Value::I32(x) => wasmtime::Val::I32(x as i32),
        Value::I64(x) => wasmtime::Val::I64(x as i64),
        Value::F32(x) => wasmtime::Val::F32(x),
        Value::F64(x) => wasmtime::Val::F64(x),
        Value::V128(x) => wasmtime::Val::V128(x.into()),
        Value::FuncRef { .. } => wasmtime::Val::null_func_ref(),
        Value::ExternRef { .. } => wasmtime::Val::null_extern_ref(),
        Value::ExnRef { .. } => wasmtime::Val::ExnRef(None),
    }
}

impl Wasmtime {
    /// What the differential plan needs of `wasm`'s exports, read by
    /// Wasmtime: `None` if it cannot compile it. Functions taking a
    /// parameter the plan cannot make (an exnref) are left out.
    pub fn exports(wasm: &[u8]) -> Option<Exports> {
        let engine = engine().ok()?;
        let module = wasmtime::Module::new(&engine, wasm).ok()?;
        let mut exports = Exports::default();
        for e in module.exports() {
            match e.ty() {
                wasmtime::ExternType::Func(_) if e.name() == lucet_fuzz::generate::REFUEL => {
                    exports.refuel = true
                }
                wasmtime::ExternType::Func(f) => {
                    let params: Option<Vec<lucet_fuzz::wasmi::ValType>> =
                        f.params().map(|t| wasmi_type(&t)).collect();
                    if let Some(params) = params {
                        exports.funcs.push((e.name().to_string(), params));
                    }
                }
                wasmtime::ExternType::Global(_) => exports.globals.push(e.name().to_string()),
                wasmtime::ExternType::Memory(_) => exports.memories.push(e.name().to_string()),
                _ => {}
            }
        }
        Some(exports)
    }

    /// Compile and instantiate `wasm` (running its start function).
    pub fn instantiate(wasm: &[u8]) -> Result<Wasmtime, Outcome> {
        let engine = engine().map_err(|e| Outcome::Error(e.to_string()))?;
        let module =
            wasmtime::Module::new(&engine, wasm).map_err(|e| Outcome::Error(e.to_string()))?;
        let mut store = wasmtime::Store::new(&engine, ());
        let linker = wasmtime::Linker::<()>::new(&engine);
        let instance = linker
            .instantiate(&mut store, &module)
            .map_err(|e| outcome(&e))?;
        Ok(Wasmtime { store, instance })
    }

    /// Call export `name`.
    pub fn call(&mut self, name: &str, args: &[Value]) -> Outcome {
        let Some(f) = self.instance.get_func(&mut self.store, name) else {
            return Outcome::Error(format!("no function {name}"));
        };
        let ty = f.ty(&self.store);
        let args: Vec<wasmtime::Val> = args.iter().map(val).collect();
        let mut results: Vec<wasmtime::Val> = ty
            .results()
            .map(|t| wasmtime::Val::default_for_ty(&t).unwrap_or(wasmtime::Val::I32(0)))
            .collect();
        match f.call(&mut self.store, &args, &mut results) {
            Ok(()) => Outcome::Returned(results.iter().map(value).collect()),
            Err(e) => outcome(&e),
        }
    }

    /// Hash of memory and exported globals, as `lucet_fuzz::diff` hashes.
    pub fn state(&mut self, exports: &Exports) -> u64 {
        let mut h = StateHash::default();
        for m in &exports.memories {
            if let Some(mem) = self.instance.get_memory(&mut self.store, m) {
                h.write(mem.data(&self.store));
            }
        }
        for g in &exports.globals {
            match self.instance.get_global(&mut self.store, g) {
                Some(g) => value(&g.get(&mut self.store)).hash_into(&mut h),
                None => h.write(b"missing"),
            }
        }
        h.0
    }
}

/// What replaying one case in three engines showed.
#[derive(Debug, Default)]
pub struct Replay {
    /// Calls (instantiation included) on which all three agreed.
    pub agreed: u64,
    /// The first disagreement: a description, and the odd engine out if
    /// two agreed ("lucet", "wasmi", "wasmtime"), or "none" if all differ.
    pub disagreement: Option<(String, &'static str)>,
    /// The case could not be replayed (no module, or lucetc refused it).
    pub skipped: Option<String>,
}

fn odd_one_out<T: PartialEq>(l: &T, o: &T, w: &T) -> &'static str {
    match (l == o, l == w, o == w) {
        (false, false, true) => "lucet",
        (false, true, false) => "wasmi",
        (true, false, false) => "wasmtime",
        _ => "none",
    }
}

/// Where a replayed case's module comes from, which decides the engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generator {
    /// wasm-smith, as the `diff` target: lucet, wasmi and Wasmtime.
    Diff,
    /// wasm-smith with exceptions: lucet and Wasmtime (wasmi has none).
    Exceptions,
    /// [`lucet_fuzz::typed_refs`]: lucet and Wasmtime (wasmi 1.1 has no
    /// typed function references).
    TypedRefs,
}

impl Generator {
    /// The module of `seed`, if the generator makes one.
    pub fn module(self, seed: u64) -> Option<Vec<u8>> {
        match self {
            Generator::Diff => lucet_fuzz::generate::module_with(seed, false),
            Generator::Exceptions => lucet_fuzz::generate::module_with(seed, true),
            Generator::TypedRefs => Some(lucet_fuzz::typed_refs::module(seed)),
        }
    }

    /// Whether wasmi runs these modules too.
    pub fn with_wasmi(self) -> bool {
        self == Generator::Diff
    }
}

/// Replay the differential case of `seed` in lucet, wasmi and Wasmtime.
pub fn replay(seed: u64, log: &mut Vec<String>) -> Replay {
    replay_with(seed, Generator::Diff, log)
}

/// Replay the case of `seed` generated with exceptions in lucet and
/// Wasmtime: wasmi has no exceptions, so Wasmtime is the one oracle, and
/// a disagreement names no odd one out.
pub fn replay_exceptions(seed: u64, log: &mut Vec<String>) -> Replay {
    replay_with(seed, Generator::Exceptions, log)
}

/// Replay the typed-function-references case of `seed` in lucet and
/// Wasmtime, as [`replay_exceptions`] does.
pub fn replay_typed_refs(seed: u64, log: &mut Vec<String>) -> Replay {
    replay_with(seed, Generator::TypedRefs, log)
}

/// Whether the outcomes agree (wasmi's, when it took part).
fn agree<T: PartialEq>(l: &T, o: Option<&T>, w: &T) -> bool {
    l == w && o.is_none_or(|o| l == o)
}

/// The engine that differs, if wasmi took part and two agreed.
fn suspect<T: PartialEq>(l: &T, o: Option<&T>, w: &T) -> &'static str {
    o.map_or("none", |o| odd_one_out(l, o, w))
}

fn show<T: std::fmt::Display>(o: Option<&T>) -> String {
    o.map_or("-".to_string(), |o| o.to_string())
}

/// Replay the case of `seed` from `generator` in lucet, Wasmtime and (for
/// [`Generator::Diff`]) wasmi, with the plan's options and calls.
pub fn replay_with(seed: u64, generator: Generator, log: &mut Vec<String>) -> Replay {
    replay_generated(seed, generator, generator.module(seed).as_deref(), log)
}

/// [`replay_with`] for `wasm`, the module `generator` made for `seed`
/// (`None`: it made none), for a caller that also looks at the module.
pub fn replay_generated(
    seed: u64,
    generator: Generator,
    wasm: Option<&[u8]>,
    log: &mut Vec<String>,
) -> Replay {
    let mut r = Replay::default();
    let Some(wasm) = wasm else {
        r.skipped = Some("no module".into());
        return r;
    };
    let (mut oracle, exports, o_start) = if !generator.with_wasmi() {
        match Wasmtime::exports(wasm) {
            Some(e) => (None, e, None),
            None => {
                r.skipped = Some("Wasmtime cannot decode it".into());
                return r;
            }
        }
    } else {
        match Oracle::instantiate(wasm) {
            Ok((o, e)) => (Some(o), e, Some(Outcome::Returned(vec![]))),
            Err(Some(out)) => (None, Exports::default(), Some(out)),
            Err(None) => {
                r.skipped = Some("wasmi cannot decode it".into());
                return r;
            }
        }
    };
    let (choice, calls) = diff::plan(seed, &exports);
    log.push(format!("options {choice:?}"));
    let so = match lucet::compile(wasm, &choice.options()) {
        Ok(so) => so,
        Err(e) => {
            r.disagreement = Some((format!("lucetc refused it: {e}"), "lucet"));
            return r;
        }
    };
    // SAFETY: lucetc just wrote this object into a directory of its own.
    let module = match unsafe { lucet::load(&so.path) } {
        Ok(m) => m,
        Err(e) => {
            r.disagreement = Some((format!("lucet could not load it: {e}"), "lucet"));
            return r;
        }
    };
    let (mut l, l_start) = match Lucet::instantiate(&module, choice.limits()) {
        Ok(l) => (Some(l), Outcome::Returned(vec![])),
        Err(o) => (None, o),
    };
    let (mut w, w_start) = match Wasmtime::instantiate(wasm) {
        Ok(w) => (Some(w), Outcome::Returned(vec![])),
        Err(o) => (None, o),
    };
    log.push(format!(
        "instantiate: lucet {l_start}, wasmi {}, wasmtime {w_start}",
        show(o_start.as_ref())
    ));
    if !agree(&l_start, o_start.as_ref(), &w_start) {
        r.disagreement = Some((
            format!(
                "instantiation: lucet {l_start}, wasmi {}, wasmtime {w_start}",
                show(o_start.as_ref())
            ),
            suspect(&l_start, o_start.as_ref(), &w_start),
        ));
        return r;
    }
    r.agreed += 1;
    let (Some(l), Some(w)) = (l.as_mut(), w.as_mut()) else {
        return r;
    };
    if generator.with_wasmi() && oracle.is_none() {
        return r;
    }
    for Call { round, name, args } in &calls {
        if exports.refuel {
            let refuel = lucet_fuzz::generate::REFUEL;
            let (lf, of, wf) = (
                l.call(refuel, &[]),
                oracle.as_mut().map(|o| o.call(refuel, &[])),
                w.call(refuel, &[]),
            );
            if !agree(&lf, of.as_ref(), &wf) {
                r.disagreement = Some((
                    format!(
                        "refuel: lucet {lf}, wasmi {}, wasmtime {wf}",
                        show(of.as_ref())
                    ),
                    suspect(&lf, of.as_ref(), &wf),
                ));
                return r;
            }
        }
        let (lo, oo, wo) = (
            l.call(name, args),
            oracle.as_mut().map(|o| o.call(name, args)),
            w.call(name, args),
        );
        log.push(format!(
            "round {round} call {name} {args:?}: lucet {lo}, wasmi {}, wasmtime {wo}",
            show(oo.as_ref())
        ));
        if !agree(&lo, oo.as_ref(), &wo) {
            r.disagreement = Some((
                format!(
                    "round {round}, {name}: lucet {lo}, wasmi {}, wasmtime {wo}",
                    show(oo.as_ref())
                ),
                suspect(&lo, oo.as_ref(), &wo),
            ));
            return r;
        }
        let (ls, os, ws) = (
            diff::lucet_state(l, &exports),
            oracle.as_mut().map(|o| diff::oracle_state(o, &exports)),
            w.state(&exports),
        );
        if !agree(&ls, os.as_ref(), &ws) {
            r.disagreement = Some((
                format!(
                    "state after round {round}, {name}: {ls:#x} {} {ws:#x}",
                    os.map_or("-".to_string(), |o| format!("{o:#x}"))
                ),
                suspect(&ls, os.as_ref(), &ws),
            ));
            return r;
        }
        r.agreed += 1;
    }
    r
}

/// The plan's spelling of a parameter type, if it can make one.
fn wasmi_type(t: &wasmtime::ValType) -> Option<lucet_fuzz::wasmi::ValType> {
    use wasmtime::ValType as W;
    Some(match t {
        W::I32 => lucet_fuzz::wasmi::ValType::I32,
        W::I64 => lucet_fuzz::wasmi::ValType::I64,
        W::F32 => lucet_fuzz::wasmi::ValType::F32,
        W::F64 => lucet_fuzz::wasmi::ValType::F64,
        W::V128 => lucet_fuzz::wasmi::ValType::V128,
        W::Ref(r) if r.heap_type().is_func() => lucet_fuzz::wasmi::ValType::FuncRef,
        W::Ref(r) if r.heap_type().is_extern() => lucet_fuzz::wasmi::ValType::ExternRef,
        W::Ref(_) => return None,
    })
}
