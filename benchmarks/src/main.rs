//! The benchmark program: lucetc + lucet-runtime, Wasmtime and native code
//! measured side by side in one process run.
//!
//! ```text
//! cargo run --release --manifest-path benchmarks/Cargo.toml -- --json benchmarks/results/latest.json
//! ```
//!
//! prints the table, writes the JSON (a list of records), the chart, and
//! the generated region of `benchmarks/README.md`. See `--help`.

mod args;
mod chart;
mod inputs;
mod live_memory;
mod lucet_side;
mod native;
mod report;
mod stats;
mod wasmtime_side;

use anyhow::{bail, Context, Result};
use args::{Args, Plan};
use live_memory::{maxlive_phase, rss_phase};
use lucet_side::Lucet;
use report::Machine;
use stats::{interleaved, summarize, Record, Summary};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;
use wasmtime_side::Wasmtime;

/// Slots in the regions and pools used for timing.
const TIMING_POOL: usize = 64;
/// Live-instance counts for resident memory per instance.
const RSS_COUNTS: [usize; 2] = [1_000, 10_000];
const HELLO_OUT: &[u8] = b"Hello from Lucet, bench!\n";

fn us(s: Summary) -> Summary {
    Summary {
        p50: s.p50 / 1e3,
        p99: s.p99 / 1e3,
    }
}

fn pair(
    records: &mut Vec<Record>,
    metric: &str,
    subject: &str,
    unit: &str,
    l: Summary,
    w: Summary,
) {
    eprintln!(
        "  {metric:<22} {subject:<28} lucet p50 {:>9} p99 {:>9} | wasmtime p50 {:>9} p99 {:>9} {unit}",
        report::num(l.p50),
        report::num(l.p99),
        report::num(w.p50),
        report::num(w.p99)
    );
    records.push(Record::new(metric, subject, "lucet", unit, l));
    records.push(Record::new(metric, subject, "wasmtime", unit, w));
}

fn compile_phase(args: &Args, plan: &Plan, records: &mut Vec<Record>) -> Result<()> {
    let path = match &args.compile_module {
        Some(p) => p.clone(),
        None => inputs::largest_module()?,
    };
    let wasm = inputs::read(&path)?;
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mib = wasm.len() as f64 / (1 << 20) as f64;
    eprintln!("compile throughput: {name} ({} KiB)", wasm.len() >> 10);
    let dir = tempfile::tempdir()?;
    let so = dir.path().join("out.so");
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Throughput percentiles come from the time percentiles: p99 is the
    // slow tail (MiB / p99 time).
    let mibs = |s: Summary| Summary {
        p50: mib / (s.p50 / 1e9),
        p99: mib / (s.p99 / 1e9),
    };
    for (label, threads, parallel) in [
        ("1 thread".to_string(), Some(1), false),
        (format!("{nproc} threads"), None, true),
    ] {
        let opts = lucet_side::options(threads, false);
        let engine = wasmtime::Engine::new(&wasmtime_side::config(None, parallel))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut lucet = || {
            lucetc::compile_to_file(&wasm, &so, &opts).expect("lucetc");
        };
        let mut lucet_nolink = || {
            black_box(lucetc::compile(&wasm, &opts).expect("lucetc"));
        };
        let mut wt = || {
            black_box(engine.precompile_module(&wasm).expect("wasmtime compile"));
        };
        let s = interleaved(
            1,
            plan.compile_iters,
            1,
            &mut [&mut lucet, &mut wt, &mut lucet_nolink],
        );
        let subject = format!("{name} {label}");
        pair(
            records,
            "compile_throughput",
            &subject,
            "MiB/s",
            mibs(summarize(s[0].clone())),
            mibs(summarize(s[1].clone())),
        );
        let nolink = mibs(summarize(s[2].clone()));
        eprintln!(
            "  compile_throughput     {subject}, no link: lucet p50 {} MiB/s",
            report::num(nolink.p50)
        );
        records.push(Record::new(
            "compile_throughput",
            &format!("{subject}, no link"),
            "lucet",
            "MiB/s",
            nolink,
        ));
    }
    Ok(())
}

fn timing_phases(args: &Args, plan: &Plan, l: &Lucet, records: &mut Vec<Record>) -> Result<()> {
    let w = Wasmtime::new(TIMING_POOL as u32, true)?;
    let inst = |ops: &mut [&mut dyn FnMut()], per_round: usize| {
        interleaved(
            plan.warmup.min(per_round * 2),
            plan.inst_rounds,
            per_round,
            ops,
        )
        .into_iter()
        .map(|s| us(summarize(s)))
        .collect::<Vec<_>>()
    };

    // Each lucet measurement gets a fresh region: a slot remembers the
    // last module it held, and what that was changes lucet's costs (see
    // the "after data-1MiB" row). Wasmtime's pool keeps per-module slot
    // affinity on its own.
    let fresh = || lucet_side::region(TIMING_POOL).expect("lucet region");
    if args.wants("instantiate") {
        eprintln!("instantiation");
        for subject in [inputs::MINIMAL, inputs::DATA] {
            let (m, p) = (l.by_subject(subject), w.by_subject(subject));
            let region = fresh();
            let s = inst(
                &mut [
                    &mut || lucet_side::instantiate_drop(&region, m, &l.plain),
                    &mut || wasmtime_side::instantiate_drop(&w.engine, p),
                ],
                plan.inst_per_round,
            );
            pair(records, "instantiate_drop", subject, "us", s[0], s[1]);
        }
        let region = fresh();
        let s = inst(
            &mut [
                &mut || lucet_side::instantiate_drop(&region, &l.hello, &l.wasi),
                &mut || wasmtime_side::instantiate_drop(&w.engine, &w.hello),
            ],
            plan.inst_per_round,
        );
        pair(records, "instantiate_drop", inputs::HELLO, "us", s[0], s[1]);
        // A server runs many modules: the minimal module in slots that
        // last held the data module.
        let region = fresh();
        lucet_side::instantiate_drop(&region, &l.data, &l.plain);
        wasmtime_side::instantiate_drop(&w.engine, &w.data);
        let s = inst(
            &mut [
                &mut || lucet_side::instantiate_drop(&region, &l.minimal, &l.plain),
                &mut || wasmtime_side::instantiate_drop(&w.engine, &w.minimal),
            ],
            plan.inst_per_round,
        );
        pair(
            records,
            "instantiate_drop",
            inputs::MINIMAL_AFTER_DATA,
            "us",
            s[0],
            s[1],
        );
        for subject in [inputs::MINIMAL, inputs::DATA] {
            let (m, p) = (l.by_subject(subject), w.by_subject(subject));
            let region = fresh();
            let s = inst(
                &mut [
                    &mut || lucet_side::instantiate_call_drop(&region, m, &l.plain),
                    &mut || wasmtime_side::instantiate_call_drop(&w.engine, p),
                ],
                plan.inst_per_round,
            );
            pair(records, "instantiate_call_drop", subject, "us", s[0], s[1]);
        }
        // The image's pages faulted in: what its backing costs.
        let region = fresh();
        let s = inst(
            &mut [
                &mut || lucet_side::instantiate_touch_drop(&region, &l.data),
                &mut || wasmtime_side::instantiate_touch_drop(&w.engine, &w.data_touch),
            ],
            plan.inst_per_round,
        );
        pair(
            records,
            "instantiate_call_drop",
            inputs::DATA_TOUCHED,
            "us",
            s[0],
            s[1],
        );
    }

    if args.wants("hello") {
        eprintln!("WASI hello");
        let region = fresh();
        let out = lucet_side::hello_start(&region, l);
        if out != HELLO_OUT {
            bail!("lucet hello printed {:?}", String::from_utf8_lossy(&out));
        }
        let out = wasmtime_side::hello_start(&w);
        if out != HELLO_OUT {
            bail!("wasmtime hello printed {:?}", String::from_utf8_lossy(&out));
        }
        let s = inst(
            &mut [
                &mut || {
                    black_box(lucet_side::hello_start(&region, l));
                },
                &mut || {
                    black_box(wasmtime_side::hello_start(&w));
                },
            ],
            plan.hello_per_round,
        );
        pair(records, "wasi_hello_start", inputs::HELLO, "us", s[0], s[1]);
    }

    if args.wants("hostcall") {
        eprintln!("hostcalls");
        let region = fresh();
        let mut lt = lucet_side::hostcall_instance(&region, l, &l.host_typed)?;
        let mut lu = lucet_side::hostcall_instance(&region, l, &l.host)?;
        let mut wi = wasmtime_side::hostcall_instance(&w, &w.hostcall)?;
        let mut wd = wasmtime_side::hostcall_instance(&w, &w.hostcall_untyped)?;
        let n = plan.hostcall_calls;
        for _ in 0..20 {
            lucet_side::hostcall_sample(&mut lt, n);
            lucet_side::hostcall_sample(&mut lu, n);
            wasmtime_side::hostcall_sample(&mut wi, n);
            wasmtime_side::hostcall_sample(&mut wd, n);
        }
        let (mut ts, mut us, mut ws, mut ds) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for k in 0..plan.hostcall_samples {
            for j in 0..4 {
                match (k + j) % 4 {
                    0 => ts.push(lucet_side::hostcall_sample(&mut lt, n)),
                    1 => us.push(lucet_side::hostcall_sample(&mut lu, n)),
                    2 => ws.push(wasmtime_side::hostcall_sample(&mut wi, n)),
                    _ => ds.push(wasmtime_side::hostcall_sample(&mut wd, n)),
                }
            }
        }
        // Typed against typed (Linker::func_wrap on both sides), untyped
        // against untyped (slices of values; Wasmtime's Linker::func_new).
        pair(
            records,
            "hostcall_roundtrip",
            "echo i32",
            "ns/call",
            summarize(ts),
            summarize(ws),
        );
        pair(
            records,
            "hostcall_roundtrip",
            "echo i32, untyped",
            "ns/call",
            summarize(us),
            summarize(ds),
        );
    }

    if args.wants("exec") {
        eprintln!("CPU-bound kernels");
        let region = fresh();
        exec_rows(plan, l, &region, &w, &l.kernels, "", records)?;
        eprintln!("CPU-bound kernels without interrupt checks");
        let unchecked = Wasmtime::new(TIMING_POOL as u32, false)?;
        exec_rows(
            plan,
            l,
            &region,
            &unchecked,
            &l.kernels_unchecked,
            UNCHECKED,
            records,
        )?;
        // What lucet's spectre guards cost: the same kernels without them
        // (Wasmtime keeps its default mitigations, so its column is the
        // first pass's again).
        eprintln!("CPU-bound kernels, lucet without spectre guards");
        exec_rows(
            plan,
            l,
            &region,
            &w,
            &l.kernels_unguarded,
            UNGUARDED,
            records,
        )?;
        eprintln!("CPU-bound kernels for a 32-bit and a 64-bit memory");
        memory_rows(plan, l, &region, records)?;
        eprintln!("exceptions: handlers that catch nothing, and throwing");
        exception_rows(plan, l, &region, records)?;
    }
    Ok(())
}

/// Subject of an exceptions row.
pub fn exception_subject(name: &str, arg: u32) -> String {
    match name {
        "fib" => format!("fib({arg}), plain calls (wat)"),
        "fib_try" => format!("fib({arg}), calls in try_table (wat)"),
        _ => format!("{arg} throws caught 10 frames up (wat)"),
    }
}

/// Time the exceptions module's kernels on lucet and Wasmtime, after
/// checking both give one result.
fn exception_rows(
    plan: &Plan,
    l: &Lucet,
    region: &lucet_runtime::Region,
    records: &mut Vec<Record>,
) -> Result<()> {
    let w = wasmtime_side::ExceptionKernels::new()?;
    for (name, arg) in inputs::EXCEPTION_KERNELS {
        let mut li = lucet_side::kernel_instance(region, l, &l.exceptions)?;
        let mut wi = wasmtime_side::kernel_instance(&w.engine, &w.pre, name)?;
        let lr = lucet_side::kernel_call(&mut li, name, *arg);
        let wr = wasmtime_side::kernel_call(&mut wi, name, *arg);
        if lr != wr {
            bail!("exceptions kernel {name}: lucet returned {lr:#x}, wasmtime {wr:#x}");
        }
        let mut lop = || {
            black_box(lucet_side::kernel_call(&mut li, name, black_box(*arg)));
        };
        let mut wop = || {
            black_box(wasmtime_side::kernel_call(&mut wi, name, black_box(*arg)));
        };
        let s = interleaved(0, plan.exec_rounds, 1, &mut [&mut lop, &mut wop]);
        let mut s = s.into_iter();
        let (lt, wt) = (ms(s.next().unwrap()), ms(s.next().unwrap()));
        pair(
            records,
            "exec",
            &exception_subject(name, *arg),
            "ms",
            lt,
            wt,
        );
    }
    Ok(())
}

/// Nanosecond samples summarized in milliseconds.
fn ms(samples: Vec<f64>) -> Summary {
    let s = summarize(samples);
    Summary {
        p50: s.p50 / 1e6,
        p99: s.p99 / 1e6,
    }
}

/// Subject of a kernel built by clang-22 for a `bits`-bit memory.
pub fn memory_subject(name: &str, bits: u32) -> String {
    format!("{name}, memory{bits} (clang-22)")
}

/// Time the kernels built for a 32-bit and for a 64-bit memory on lucet
/// and Wasmtime, after checking all four give one result.
fn memory_rows(
    plan: &Plan,
    l: &Lucet,
    region: &lucet_runtime::Region,
    records: &mut Vec<Record>,
) -> Result<()> {
    let w = wasmtime_side::MemoryKernels::new()?;
    for ((name, l32, l64), (_, w32, w64)) in l.memory_kernels.iter().zip(&w.kernels) {
        let arg = inputs::kernel_arg(name);
        let mut expected = None;
        for (bits, lm, wpre) in [(32, l32, w32), (64, l64, w64)] {
            let mut li = lucet_side::kernel_instance(region, l, lm)?;
            let mut wi = wasmtime_side::kernel_instance(&w.engine, wpre, name)?;
            let lr = lucet_side::kernel_call(&mut li, name, arg);
            let wr = wasmtime_side::kernel_call(&mut wi, name, arg);
            if lr != wr || expected.is_some_and(|e| e != lr) {
                bail!("kernel {name} (memory{bits}): lucet returned {lr:#x}, wasmtime {wr:#x}");
            }
            expected = Some(lr);
            let mut lop = || {
                black_box(lucet_side::kernel_call(&mut li, name, black_box(arg)));
            };
            let mut wop = || {
                black_box(wasmtime_side::kernel_call(&mut wi, name, black_box(arg)));
            };
            let s = interleaved(0, plan.exec_rounds, 1, &mut [&mut lop, &mut wop]);
            let mut s = s.into_iter();
            let (lt, wt) = (ms(s.next().unwrap()), ms(s.next().unwrap()));
            pair(records, "exec", &memory_subject(name, bits), "ms", lt, wt);
        }
    }
    Ok(())
}

/// Suffix of the kernel rows where lucet's code has no spectre guards.
const UNGUARDED: &str = ", no spectre guards";

/// Suffix of the kernel rows without interrupt checks on either side.
const UNCHECKED: &str = ", no checks";

/// Time every kernel on lucet (`modules`), Wasmtime (`w`) and natively,
/// after checking all three compute the same result.
fn exec_rows(
    plan: &Plan,
    l: &Lucet,
    region: &lucet_runtime::Region,
    w: &Wasmtime,
    modules: &[(&'static str, std::sync::Arc<lucet_runtime::Module>)],
    suffix: &str,
    records: &mut Vec<Record>,
) -> Result<()> {
    for (k, (name, lm)) in inputs::KERNELS.iter().zip(modules) {
        assert_eq!(k.name, *name);
        let (_, wpre) = w.kernels.iter().find(|(n, _)| n == name).unwrap();
        let mut li = lucet_side::kernel_instance(region, l, lm)?;
        let mut wi = wasmtime_side::kernel_instance(&w.engine, wpre, name)?;
        let native = native::kernel(name);
        let arg = k.arg;
        let lr = lucet_side::kernel_call(&mut li, name, arg);
        let wr = wasmtime_side::kernel_call(&mut wi, name, arg);
        if lr != wr {
            bail!("kernel {name}: lucet returned {lr:#x}, wasmtime {wr:#x}");
        }
        if let Some(f) = native {
            // SAFETY: a kernel is a plain C function of one u32.
            let nr = unsafe { f(arg) };
            if nr != lr {
                bail!("kernel {name}: lucet returned {lr:#x}, native code {nr:#x}");
            }
        }
        let mut lop = || {
            black_box(lucet_side::kernel_call(&mut li, name, black_box(arg)));
        };
        let mut wop = || {
            black_box(wasmtime_side::kernel_call(&mut wi, name, black_box(arg)));
        };
        let s = match native {
            Some(f) => {
                let mut nop = || {
                    // SAFETY: as above.
                    black_box(unsafe { f(black_box(arg)) });
                };
                interleaved(0, plan.exec_rounds, 1, &mut [&mut lop, &mut wop, &mut nop])
            }
            None => interleaved(0, plan.exec_rounds, 1, &mut [&mut lop, &mut wop]),
        };
        let subject = format!("{name}{suffix}");
        let mut s = s.into_iter();
        let (lt, wt) = (ms(s.next().unwrap()), ms(s.next().unwrap()));
        pair(records, "exec", &subject, "ms", lt, wt);
        if let Some(nt) = s.next() {
            let nt = ms(nt);
            eprintln!(
                "  {:<22} {subject:<28} native p50 {:>9} p99 {:>9} ms",
                "",
                report::num(nt.p50),
                report::num(nt.p99)
            );
            records.push(Record::new("exec", &subject, "native", "ms", nt));
        }
    }
    Ok(())
}

fn write_outputs(args: &Args, records: &[Record], machine: &Machine) -> Result<()> {
    let chart_rel = args
        .chart
        .strip_prefix(args.readme.parent().unwrap_or(std::path::Path::new(".")))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| args.chart.display().to_string());
    chart::write_chart(
        &args.chart,
        records,
        &format!(
            "{}, {} with {} CPUs; bars p50, lines up to p99",
            machine.date, machine.cpu, machine.nproc
        ),
    )?;
    let region = report::readme_region(records, machine, &chart_rel);
    report::update_readme(&args.readme, &region)?;
    eprintln!(
        "wrote {} and {}",
        args.chart.display(),
        args.readme.display()
    );
    Ok(())
}

/// Repeat one lucet operation for a few seconds, for `perf record`.
fn loop_op(op: &str) -> Result<()> {
    let l = Lucet::new()?;
    let region = lucet_side::region(TIMING_POOL)?;
    let mut hostcall = lucet_side::hostcall_instance(&region, &l, &l.host_typed)?;
    let mut f: Box<dyn FnMut()> = match op {
        "instantiate" => Box::new(|| lucet_side::instantiate_drop(&region, &l.minimal, &l.plain)),
        "call" => Box::new(|| lucet_side::instantiate_call_drop(&region, &l.minimal, &l.plain)),
        "instantiate-after-data" => {
            lucet_side::instantiate_drop(&region, &l.data, &l.plain);
            Box::new(|| lucet_side::instantiate_drop(&region, &l.minimal, &l.plain))
        }
        "instantiate-after-hello" => {
            lucet_side::instantiate_drop(&region, &l.hello, &l.wasi);
            Box::new(|| lucet_side::instantiate_drop(&region, &l.minimal, &l.plain))
        }
        "call-data" => Box::new(|| lucet_side::instantiate_call_drop(&region, &l.data, &l.plain)),
        "call-mixed" => {
            let w = Wasmtime::new(TIMING_POOL as u32, true)?;
            let mut k = 0u64;
            Box::new(move || {
                k += 1;
                if k % 4000 < 2000 {
                    lucet_side::instantiate_call_drop(&region, &l.minimal, &l.plain)
                } else {
                    wasmtime_side::instantiate_call_drop(&w.engine, &w.minimal)
                }
            })
        }
        "call-after-wasmtime" => {
            let w = Wasmtime::new(TIMING_POOL as u32, true)?;
            wasmtime_side::instantiate_call_drop(&w.engine, &w.minimal);
            Box::new(|| lucet_side::instantiate_call_drop(&region, &l.minimal, &l.plain))
        }
        "hello" => Box::new(|| {
            black_box(lucet_side::hello_start(&region, &l));
        }),
        "hostcall" => Box::new(|| {
            black_box(lucet_side::hostcall_sample(&mut hostcall, 10_000));
        }),
        other => bail!("unknown --loop operation {other:?}"),
    };
    eprintln!("looping {op} for 5 s");
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_secs() < 5 {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    eprintln!(
        "{n} iterations, {:.0} ns each",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    Ok(())
}

fn machine_path(json: &std::path::Path) -> PathBuf {
    json.with_file_name("machine.json")
}

fn main() -> Result<()> {
    let args = Args::parse()?;
    if args.report_only {
        let json = args
            .json
            .as_ref()
            .context("--report-only needs --json PATH")?;
        let records = report::read_json(json)?;
        let machine: Machine = std::fs::read_to_string(machine_path(json))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        print!("{}", report::console_table(&records));
        return write_outputs(&args, &records, &machine);
    }
    if let Some(op) = &args.loop_op {
        return loop_op(op);
    }
    let plan = Plan::new(args.quick);
    let mut machine = Machine::here(if args.quick { "quick" } else { "full" });
    let started = Instant::now();
    let mut records = Vec::new();

    if args.wants("compile") {
        compile_phase(&args, &plan, &mut records)?;
    }
    eprintln!("compiling the modules with lucetc (and, below, Wasmtime)");
    let lucet = Lucet::new()?;
    if ["instantiate", "hello", "hostcall", "exec"]
        .iter()
        .any(|g| args.wants(g))
    {
        timing_phases(&args, &plan, &lucet, &mut records)?;
    }
    // The pools below are large: the timing region and engine are gone.
    if args.wants("rss") {
        rss_phase(&lucet, &mut records)?;
    }
    if args.wants("maxlive") {
        maxlive_phase(&args, &lucet, &mut records, &mut machine.notes)?;
    }
    machine.load = format!("{} → {}", machine.load, report::loadavg());
    eprintln!("done in {:.0} s\n", started.elapsed().as_secs_f64());

    print!("{}", report::console_table(&records));
    print!("\n{}", report::statements(&records));
    if let Some(json) = &args.json {
        report::write_json(json, &records)?;
        std::fs::write(
            machine_path(json),
            serde_json::to_string_pretty(&machine)? + "\n",
        )?;
        eprintln!("wrote {}", json.display());
    }
    if args.only.is_none() && !args.no_readme {
        write_outputs(&args, &records, &machine)?;
    }
    Ok(())
}
