//! The cost of the part of a request that is the instance alone, without
//! HTTP or threads: instantiate the hello handler in a region slot, give it
//! a WASI context with a CGI-sized environment, run `_start`, drop it.
//!
//!     cargo run --release -p lucet-serve --example instance_cycle

use lucet_runtime::{Limits, Linker, Module, Region};
use lucet_wasi::{ReadPipe, WasiCtxBuilder, WritePipe};
use std::time::{Duration, Instant};

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let so = dir.path().join("hello.so");
    let wasm = concat!(env!("CARGO_MANIFEST_DIR"), "/handlers/wasm/hello.wasm");
    let options = lucetc::Options {
        allowed_imports: Some(lucetc::AllowedImport::wasi_preview1()),
        ..lucetc::Options::default()
    };
    lucetc::compile_file(wasm.as_ref(), &so, &options).expect("compile hello");
    // SAFETY: the object was just compiled by this test's lucetc and nothing else writes its directory.
    let module = unsafe { Module::load_unverified(&so) }.expect("load");
    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    let limits = Limits {
        heap_memory_size: 16 << 20,
        ..Limits::default()
    };
    let region = Region::new(1, limits).expect("region");
    let env: Vec<(String, String)> = (0..22)
        .map(|k| (format!("CGI_VARIABLE_{k}"), "a typical value".to_string()))
        .collect();
    let n = 100_000;
    for (label, vars) in [("no environment", 0), ("22 variables", env.len())] {
        let (mut inst, mut total) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..n {
            let start = Instant::now();
            let mut i = region.instantiate(&module, &linker).expect("instantiate");
            inst += start.elapsed();
            let out = WritePipe::new();
            let ctx = WasiCtxBuilder::new()
                .arg("/hello")
                .envs(env[..vars].iter().cloned())
                .stdin(ReadPipe::new(Vec::new()))
                .stdout(out.clone())
                .build()
                .expect("ctx");
            i.set_context(ctx);
            i.run("_start", &[]).expect("run");
            drop(i);
            total += start.elapsed();
        }
        let us = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        println!(
            "{label}: {:.2} µs per request ({:.2} µs instantiating)",
            us(total),
            us(inst)
        );
    }
}
