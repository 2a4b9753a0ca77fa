//! The peer: Wasmtime from crates.io, with its pooling instance allocator
//! and copy-on-write memory images, modules compiled before any timing.

use crate::inputs;
use crate::stats::{mappings, Footprint, MaxLive};
use anyhow::{anyhow, bail, Context, Result};
use std::time::Instant;
use wasmtime::{
    Config, Engine, FuncType, InstanceAllocationStrategy, InstancePre, Linker, Module, OptLevel,
    PoolingAllocationConfig, Store, TypedFunc, ValType,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

/// Store data for WASI modules: the context is set when a module runs.
pub type WasiState = Option<WasiP1Ctx>;

/// Deadline far beyond any run: epoch checks are compiled in (as
/// lucetc's interrupt checks are) but never fire.
const NO_DEADLINE: u64 = 1 << 40;

/// The engine configuration: Cranelift at `speed` for this host's CPU
/// (Wasmtime's default, like lucetc's `TargetCpu::Native` here), default
/// 4 GiB memory reservation and 32 MiB guard (as lucet's default slot),
/// epoch interruption on unless `checks` is false (the counterpart of
/// lucetc's interrupt checks), copy-on-write memory images, and, with
/// `pool`, the pooling allocator sized for `pool` instances.
pub fn config_with(pool: Option<u32>, parallel: bool, checks: bool) -> Config {
    let mut c = Config::new();
    c.cranelift_opt_level(OptLevel::Speed)
        .epoch_interruption(checks)
        .memory_init_cow(true)
        .parallel_compilation(parallel);
    if let Some(n) = pool {
        let mut p = PoolingAllocationConfig::new();
        p.total_core_instances(n)
            .total_memories(n)
            .total_tables(n)
            .total_stacks(n)
            .total_component_instances(n);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    }
    c
}

/// The configuration of every figure but the `no checks` kernels.
pub fn config(pool: Option<u32>, parallel: bool) -> Config {
    config_with(pool, parallel, true)
}

pub fn engine(pool: Option<u32>) -> Result<Engine> {
    Engine::new(&config(pool, true)).map_err(|e| anyhow!("{e}"))
}

pub fn store<T>(engine: &Engine, data: T) -> Store<T> {
    let mut s = Store::new(engine, data);
    s.set_epoch_deadline(NO_DEADLINE);
    s
}

fn pre<T: 'static>(linker: &Linker<T>, engine: &Engine, wasm: &[u8]) -> Result<InstancePre<T>> {
    let module = Module::new(engine, wasm)?;
    Ok(linker.instantiate_pre(&module)?)
}

/// Every module of the run, compiled for one engine.
pub struct Wasmtime {
    pub engine: Engine,
    pub minimal: InstancePre<()>,
    /// The data module (its `touch` reads every page of its image).
    pub data_touch: InstancePre<()>,
    pub data: InstancePre<()>,
    pub hostcall: InstancePre<()>,
    /// The same with the host function defined untyped (`func_new`).
    pub hostcall_untyped: InstancePre<()>,
    pub hello: InstancePre<WasiState>,
    pub kernels: Vec<(&'static str, InstancePre<WasiState>)>,
}

pub fn wasi_linker(engine: &Engine) -> Result<Linker<WasiState>> {
    let mut l = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut l, |s: &mut WasiState| {
        s.as_mut().expect("a WASI context in the store")
    })?;
    Ok(l)
}

impl Wasmtime {
    /// All modules for an engine with a pool of `pool` and, if `checks`,
    /// epoch interruption.
    pub fn new(pool: u32, checks: bool) -> Result<Wasmtime> {
        let engine =
            Engine::new(&config_with(Some(pool), true, checks)).map_err(|e| anyhow!("{e}"))?;
        let plain = Linker::new(&engine);
        let mut host = Linker::new(&engine);
        host.func_wrap("env", "echo", |x: i32| x)?;
        let mut untyped = Linker::new(&engine);
        untyped.func_new(
            "env",
            "echo",
            FuncType::new(&engine, [ValType::I32], [ValType::I32]),
            |_caller, params, results| {
                results[0] = params[0];
                Ok(())
            },
        )?;
        let wasi = wasi_linker(&engine)?;
        let mut kernels = Vec::new();
        for k in inputs::KERNELS {
            let wasm = inputs::read(&inputs::kernel_path(k.name))?;
            kernels.push((k.name, pre(&wasi, &engine, &wasm)?));
        }
        Ok(Wasmtime {
            minimal: pre(&plain, &engine, &inputs::minimal())?,
            data: pre(&plain, &engine, &inputs::data_1mib())?,
            hostcall: pre(&host, &engine, &inputs::hostcall_loop())?,
            data_touch: pre(&plain, &engine, &inputs::data_1mib())?,
            hostcall_untyped: pre(&untyped, &engine, &inputs::hostcall_loop())?,
            hello: pre(&wasi, &engine, &inputs::read(&inputs::hello_path())?)?,
            kernels,
            engine,
        })
    }

    pub fn by_subject(&self, subject: &str) -> &InstancePre<()> {
        match subject {
            inputs::MINIMAL => &self.minimal,
            inputs::DATA => &self.data,
            _ => panic!("no module {subject}"),
        }
    }
}

/// `inputs::MEMORY_KERNELS` for 32-bit and 64-bit memories, on an engine
/// like the kernels' (epoch interruption, 4 GiB reservation) with memory64
/// enabled, allocating on demand.
pub struct MemoryKernels {
    pub engine: Engine,
    pub kernels: Vec<(&'static str, InstancePre<WasiState>, InstancePre<WasiState>)>,
}

impl MemoryKernels {
    pub fn new() -> Result<MemoryKernels> {
        let mut c = config_with(None, true, true);
        c.wasm_memory64(true);
        let engine = Engine::new(&c).map_err(|e| anyhow!("{e}"))?;
        let wasi = wasi_linker(&engine)?;
        let mut kernels = Vec::new();
        for name in inputs::MEMORY_KERNELS {
            let build = |bits| -> Result<InstancePre<WasiState>> {
                pre(
                    &wasi,
                    &engine,
                    &inputs::read(&inputs::memory_kernel_path(name, bits))?,
                )
            };
            kernels.push((*name, build(32)?, build(64)?));
        }
        Ok(MemoryKernels { engine, kernels })
    }
}

/// The exceptions module (`inputs::exceptions_module`), with exceptions
/// enabled.
pub struct ExceptionKernels {
    pub engine: Engine,
    pub pre: InstancePre<WasiState>,
}

impl ExceptionKernels {
    pub fn new() -> Result<ExceptionKernels> {
        let mut c = config_with(None, true, true);
        c.wasm_exceptions(true);
        let engine = Engine::new(&c).map_err(|e| anyhow!("{e}"))?;
        let wasi = wasi_linker(&engine)?;
        let pre = pre(&wasi, &engine, &inputs::exceptions_module())?;
        Ok(ExceptionKernels { engine, pre })
    }
}

/// Create a store, instantiate, drop both.
pub fn instantiate_drop<T: Default + 'static>(engine: &Engine, pre: &InstancePre<T>) {
    let mut s = store(engine, T::default());
    pre.instantiate(&mut s).expect("wasmtime instantiate");
}

pub fn instantiate_call_drop(engine: &Engine, pre: &InstancePre<()>) {
    let mut s = store(engine, ());
    let i = pre.instantiate(&mut s).expect("wasmtime instantiate");
    let f = i.get_typed_func::<(), i32>(&mut s, "f").expect("export f");
    assert_eq!(f.call(&mut s, ()).expect("wasmtime call"), 42);
}

/// Instantiate the data module, read every page of its image, drop.
pub fn instantiate_touch_drop(engine: &Engine, pre: &InstancePre<()>) {
    let mut s = store(engine, ());
    let i = pre.instantiate(&mut s).expect("wasmtime instantiate");
    let f = i
        .get_typed_func::<(), i32>(&mut s, "touch")
        .expect("export touch");
    assert_eq!(
        f.call(&mut s, ()).expect("wasmtime touch"),
        inputs::data_touch_expected()
    );
}

/// Instantiate hello, run `_start` with stdout to a buffer, drop; returns
/// what it printed.
pub fn hello_start(w: &Wasmtime) -> Vec<u8> {
    let out = MemoryOutputPipe::new(4096);
    let ctx = WasiCtxBuilder::new()
        .args(&["hello", "bench"])
        .stdout(out.clone())
        .build_p1();
    let mut s = store(&w.engine, Some(ctx));
    let i = w
        .hello
        .instantiate(&mut s)
        .expect("wasmtime instantiate hello");
    let start = i
        .get_typed_func::<(), ()>(&mut s, "_start")
        .expect("export _start");
    if let Err(e) = start.call(&mut s, ()) {
        match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(0)) => {}
            _ => panic!("wasmtime hello: {e:?}"),
        }
    }
    drop(s);
    out.contents().to_vec()
}

pub struct HostcallLoop {
    store: Store<()>,
    func: TypedFunc<i32, i32>,
}

pub fn hostcall_instance(w: &Wasmtime, pre: &InstancePre<()>) -> Result<HostcallLoop> {
    let mut store = store(&w.engine, ());
    let i = pre.instantiate(&mut store)?;
    let func = i.get_typed_func::<i32, i32>(&mut store, "loop")?;
    Ok(HostcallLoop { store, func })
}

/// Nanoseconds per host call over a loop of `n` calls.
pub fn hostcall_sample(h: &mut HostcallLoop, n: u32) -> f64 {
    let t = Instant::now();
    let r = h.func.call(&mut h.store, n as i32).expect("wasmtime loop");
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    assert_eq!(r, inputs::hostcall_expected(n));
    ns
}

pub struct KernelInstance {
    store: Store<WasiState>,
    func: TypedFunc<i32, i64>,
}

pub fn kernel_instance(
    engine: &Engine,
    pre: &InstancePre<WasiState>,
    name: &str,
) -> Result<KernelInstance> {
    let mut store = store(engine, Some(WasiCtxBuilder::new().build_p1()));
    let i = pre.instantiate(&mut store)?;
    if let Ok(init) = i.get_typed_func::<(), ()>(&mut store, "_initialize") {
        init.call(&mut store, ())?;
    }
    let func = i.get_typed_func::<i32, i64>(&mut store, &format!("kernel_{name}"))?;
    Ok(KernelInstance { store, func })
}

pub fn kernel_call(k: &mut KernelInstance, name: &str, arg: u32) -> u64 {
    k.func
        .call(&mut k.store, arg as i32)
        .unwrap_or_else(|e| panic!("wasmtime kernel {name}: {e:?}")) as u64
}

/// Resident bytes per live instance at each of `counts` (cumulative), with
/// a fresh engine whose pool holds them all; each instance first runs
/// `run` (export, argument) if given. The last figure is per free pool
/// slot once all are dropped.
pub fn rss_per_instance(
    wasm: &[u8],
    counts: &[usize],
    run: Option<(&str, i32)>,
) -> Result<Vec<(f64, f64)>> {
    let max = *counts.iter().max().unwrap();
    let engine = engine(Some(max as u32 + 1))?;
    let pre = pre(&Linker::new(&engine), &engine, wasm)?;
    instantiate_drop(&engine, &pre);
    let mut live = Vec::with_capacity(max);
    let base = Footprint::now();
    let mut out = Vec::new();
    for &n in counts {
        while live.len() < n {
            let mut s = store(&engine, ());
            let i = pre.instantiate(&mut s)?;
            if let Some((name, arg)) = run {
                let f = i.get_typed_func::<i32, i32>(&mut s, name)?;
                f.call(&mut s, arg)?;
            }
            live.push((s, i));
        }
        out.push(Footprint::now().per(&base, n));
    }
    drop(live);
    out.push(Footprint::now().per(&base, max));
    Ok(out)
}

/// Find the largest pool (in steps of 1,000, then 100) whose engine can be
/// created, up to `want`, and fill it with live instances of `wasm`.
pub fn max_live(wasm: &[u8], want: usize, wasi: bool) -> Result<MaxLive> {
    let mut cap = want;
    let mut refused = None;
    let mut engine = loop {
        match engine(Some(cap as u32)) {
            Ok(e) => break e,
            Err(e) if cap > 1000 => {
                refused.get_or_insert((cap, e.to_string()));
                cap -= 1000;
            }
            Err(e) => bail!("no pool of {cap}: {e}"),
        }
    };
    let mut note = String::new();
    if let Some((first, err)) = refused {
        let mut limit = first;
        while cap + 100 < limit {
            match self::engine(Some((cap + 100) as u32)) {
                Ok(e) => {
                    engine = e;
                    cap += 100;
                }
                Err(_) => limit = cap + 100,
            }
        }
        let err = err.lines().next().unwrap_or("").to_string();
        note = format!("a pool of {limit} instances could not be created ({err}); ");
    }
    if wasi {
        let linker = wasi_linker(&engine)?;
        fill(&engine, &linker, wasm, cap, note)
    } else {
        fill(&engine, &Linker::<()>::new(&engine), wasm, cap, note)
    }
}

fn fill<T: Default + 'static>(
    engine: &Engine,
    linker: &Linker<T>,
    wasm: &[u8],
    cap: usize,
    note: String,
) -> Result<MaxLive> {
    let pre = pre(linker, engine, wasm).context("compiling for the pool")?;
    let mut live = Vec::with_capacity(cap);
    let base = Footprint::now();
    let t = Instant::now();
    let mut stop = format!("{note}all {cap} pool slots filled");
    while live.len() < cap {
        let mut s = store(engine, T::default());
        match pre.instantiate(&mut s) {
            Ok(i) => live.push((s, i)),
            Err(e) => {
                let (maps, max) = mappings();
                stop = format!(
                    "{note}instantiation {} failed ({e}) with {maps} mappings \
                     in the process, vm.max_map_count {max}",
                    live.len() + 1
                );
                break;
            }
        }
    }
    let create_ms = t.elapsed().as_secs_f64() * 1e3;
    let (rss, pt) = Footprint::now().per(&base, 1 << 20);
    Ok(MaxLive {
        reached: live.len(),
        capacity: cap,
        stop,
        create_ms,
        rss_mib: rss,
        pagetables_mib: pt,
    })
}
