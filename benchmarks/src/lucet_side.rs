//! Our side: lucetc-compiled shared objects run by lucet-runtime.

use crate::inputs;
use crate::stats::{mappings, Footprint, MaxLive};
use anyhow::{anyhow, bail, Context, Result};
use lucet_runtime::{Error, FuncType, Instance, Limits, Linker, Module, Region, Val, ValType};
use lucet_wasi::{WasiCtx, WasiCtxBuilder, WritePipe};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Compiler options used for every module: all features of this CPU (as
/// Wasmtime does by default), default heap reservation and guard, the
/// default interrupt checks.
pub fn options(threads: Option<usize>, wasi: bool) -> lucetc::Options {
    lucetc::Options {
        target_cpu: lucetc::TargetCpu::Native,
        threads,
        allowed_imports: wasi.then(lucetc::AllowedImport::wasi_preview1),
        ..lucetc::Options::default()
    }
}

pub fn compile(dir: &Path, name: &str, wasm: &[u8], wasi: bool) -> Result<Arc<Module>> {
    compile_with(dir, name, wasm, &options(None, wasi))
}

pub fn compile_with(
    dir: &Path,
    name: &str,
    wasm: &[u8],
    opts: &lucetc::Options,
) -> Result<Arc<Module>> {
    let so = dir.join(format!("{name}.so"));
    lucetc::compile_to_file(wasm, &so, opts).with_context(|| format!("lucetc {name}"))?;
    // SAFETY: the benchmark compiled this object itself with lucetc, just before.
    unsafe { Module::load_unverified(&so) }.with_context(|| format!("loading {}", so.display()))
}

/// Every module of the run, compiled once.
pub struct Lucet {
    _dir: tempfile::TempDir,
    pub minimal: Arc<Module>,
    pub data: Arc<Module>,
    pub deep: Arc<Module>,
    pub hello: Arc<Module>,
    pub hostcall: Arc<Module>,
    pub kernels: Vec<(&'static str, Arc<Module>)>,
    /// The kernels compiled without interrupt checks.
    pub kernels_unchecked: Vec<(&'static str, Arc<Module>)>,
    /// The kernels compiled without spectre guards.
    pub kernels_unguarded: Vec<(&'static str, Arc<Module>)>,
    /// `inputs::MEMORY_KERNELS` built for a 32-bit and a 64-bit memory.
    pub memory_kernels: Vec<(&'static str, Arc<Module>, Arc<Module>)>,
    /// `inputs::exceptions_module`.
    pub exceptions: Arc<Module>,
    pub plain: Linker,
    pub wasi: Linker,
    /// The echo host function, untyped (a closure over `Val` slices).
    pub host: Linker,
    /// The echo host function, typed (`Linker::func_wrap`).
    pub host_typed: Linker,
}

impl Lucet {
    pub fn new() -> Result<Lucet> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        let mut kernels = Vec::new();
        let mut kernels_unchecked = Vec::new();
        let mut kernels_unguarded = Vec::new();
        let unchecked = lucetc::Options {
            interruptible: false,
            ..options(None, true)
        };
        let unguarded = lucetc::Options {
            spectre_guards: false,
            ..options(None, true)
        };
        for k in inputs::KERNELS {
            let wasm = inputs::read(&inputs::kernel_path(k.name))?;
            kernels.push((k.name, compile(d, k.name, &wasm, true)?));
            let name = format!("{}-unchecked", k.name);
            kernels_unchecked.push((k.name, compile_with(d, &name, &wasm, &unchecked)?));
            let name = format!("{}-unguarded", k.name);
            kernels_unguarded.push((k.name, compile_with(d, &name, &wasm, &unguarded)?));
        }
        let mut memory_kernels = Vec::new();
        for name in inputs::MEMORY_KERNELS {
            let build = |bits| -> Result<Arc<Module>> {
                let wasm = inputs::read(&inputs::memory_kernel_path(name, bits))?;
                compile(d, &format!("{name}-mem{bits}"), &wasm, false)
            };
            memory_kernels.push((*name, build(32)?, build(64)?));
        }
        let mut wasi = Linker::new();
        lucet_wasi::add_to_linker(&mut wasi);
        let mut host = Linker::new();
        host.func(
            "env",
            "echo",
            FuncType::new([ValType::I32], [ValType::I32]),
            |_caller, args, results| {
                results[0] = args[0];
                Ok(())
            },
        );
        let mut host_typed = Linker::new();
        host_typed.func_wrap("env", "echo", |x: i32| x);
        Ok(Lucet {
            minimal: compile(d, "minimal", &inputs::minimal(), false)?,
            data: compile(d, "data", &inputs::data_1mib(), false)?,
            deep: compile(d, "deep", &inputs::deep_recursion(), false)?,
            hello: compile(d, "hello", &inputs::read(&inputs::hello_path())?, true)?,
            hostcall: compile(d, "hostcall", &inputs::hostcall_loop(), false)?,
            kernels,
            kernels_unchecked,
            kernels_unguarded,
            memory_kernels,
            exceptions: compile(d, "exceptions", &inputs::exceptions_module(), false)?,
            plain: Linker::new(),
            wasi,
            host,
            host_typed,
            _dir: dir,
        })
    }

    pub fn by_subject(&self, subject: &str) -> &Arc<Module> {
        match subject {
            inputs::MINIMAL => &self.minimal,
            inputs::DATA => &self.data,
            inputs::DEEP => &self.deep,
            inputs::HELLO => &self.hello,
            _ => panic!("no module {subject}"),
        }
    }
}

pub fn region(capacity: usize) -> Result<Region> {
    Region::new(capacity, Limits::default()).map_err(|e| anyhow!("region of {capacity}: {e}"))
}

pub fn instantiate_drop(region: &Region, module: &Arc<Module>, linker: &Linker) {
    drop(
        region
            .instantiate(module, linker)
            .expect("lucet instantiate"),
    );
}

pub fn instantiate_call_drop(region: &Region, module: &Arc<Module>, linker: &Linker) {
    let mut i = region
        .instantiate(module, linker)
        .expect("lucet instantiate");
    let r = i.run("f", &[]).expect("lucet call");
    assert_eq!(r, [Val::I32(42)]);
}

/// Instantiate the data module, read every page of its image, drop.
pub fn instantiate_touch_drop(region: &Region, module: &Arc<Module>) {
    let mut i = region
        .instantiate(module, &Linker::new())
        .expect("lucet instantiate");
    let r = i.run("touch", &[]).expect("lucet touch");
    assert_eq!(r, [Val::I32(inputs::data_touch_expected())]);
}

pub fn hello_ctx(out: &WritePipe) -> WasiCtx {
    WasiCtxBuilder::new()
        .args(["hello", "bench"])
        .stdout(out.clone())
        .build()
        .expect("wasi ctx")
}

/// Instantiate hello, run `_start` with stdout to a buffer, drop; returns
/// what it printed.
pub fn hello_start(region: &Region, l: &Lucet) -> Vec<u8> {
    let out = WritePipe::new();
    let mut i = region
        .instantiate(&l.hello, &l.wasi)
        .expect("lucet instantiate hello");
    i.set_context(hello_ctx(&out));
    match i.run("_start", &[]) {
        Ok(_) | Err(Error::Exit(0)) => {}
        Err(e) => panic!("lucet hello: {e}"),
    }
    drop(i);
    out.take()
}

/// A hostcall loop instance, its host function bound by `linker`.
pub fn hostcall_instance(region: &Region, l: &Lucet, linker: &Linker) -> Result<Instance> {
    Ok(region.instantiate(&l.hostcall, linker)?)
}

/// Nanoseconds per host call over a loop of `n` calls.
pub fn hostcall_sample(i: &mut Instance, n: u32) -> f64 {
    let t = Instant::now();
    let r = i.run("loop", &[Val::I32(n as i32)]).expect("lucet loop");
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    assert_eq!(r, [Val::I32(inputs::hostcall_expected(n))]);
    ns
}

/// A kernel instance, initialized (`_initialize` run) and with a WASI
/// context (the Lua kernel reads its environment).
pub fn kernel_instance(region: &Region, l: &Lucet, module: &Arc<Module>) -> Result<Instance> {
    let mut i = region.instantiate(module, &l.wasi)?;
    i.set_context(WasiCtxBuilder::new().build()?);
    if module.export_func_type("_initialize").is_some() {
        i.run("_initialize", &[])?;
    }
    Ok(i)
}

pub fn kernel_call(i: &mut Instance, name: &str, arg: u32) -> u64 {
    let r = i
        .run(&format!("kernel_{name}"), &[Val::I32(arg as i32)])
        .unwrap_or_else(|e| panic!("lucet kernel {name}: {e}"));
    match r.as_slice() {
        [Val::I64(v)] => *v as u64,
        other => panic!("lucet kernel {name} returned {other:?}"),
    }
}

/// Resident bytes per live instance at each of `counts` (cumulative), in
/// a fresh region; each instance first runs `run` (export, argument) if
/// given. The last figure is per free slot once all are dropped.
pub fn rss_per_instance(
    module: &Arc<Module>,
    linker: &Linker,
    counts: &[usize],
    run: Option<(&str, i32)>,
) -> Result<Vec<(f64, f64)>> {
    let max = *counts.iter().max().unwrap();
    let region = region(max)?;
    instantiate_drop(&region, module, linker);
    let mut live: Vec<Instance> = Vec::with_capacity(max);
    let base = Footprint::now();
    let mut out = Vec::new();
    for &n in counts {
        while live.len() < n {
            let mut i = region.instantiate(module, linker)?;
            if let Some((name, arg)) = run {
                i.run(name, &[Val::I32(arg)])?;
            }
            live.push(i);
        }
        out.push(Footprint::now().per(&base, n));
    }
    drop(live);
    out.push(Footprint::now().per(&base, max));
    Ok(out)
}

pub fn max_live(module: &Arc<Module>, linker: &Linker, want: usize) -> Result<MaxLive> {
    let mut cap = want;
    let (region, reserve_note) = loop {
        match Region::new(cap, Limits::default()) {
            Ok(r) => {
                break (
                    r,
                    if cap < want {
                        format!("a region of {} slots could not be reserved; ", cap + 1000)
                    } else {
                        String::new()
                    },
                )
            }
            Err(_) if cap > 1000 => cap -= 1000,
            Err(e) => bail!("no region of {cap} slots: {e}"),
        }
    };
    let mut live: Vec<Instance> = Vec::with_capacity(cap);
    let base = Footprint::now();
    let t = Instant::now();
    let mut stop = format!("{reserve_note}all {cap} slots filled");
    while live.len() < cap {
        match region.instantiate(module, linker) {
            Ok(i) => live.push(i),
            Err(e) => {
                let (maps, max) = mappings();
                stop = format!(
                    "{reserve_note}instantiation {} failed ({e}) with {maps} mappings \
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
