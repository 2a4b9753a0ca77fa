//! How long resetting an instance takes: `Instance::reset`, repeated.
//!
//! ```sh
//! cargo run --release -p lucet-runtime --example reset_time -- MODULE.so [RESETS [EXPORT]]
//! ```
//!
//! Instantiates MODULE.so (no imports) once, then times RESETS (default
//! 20000) resets after 200 warm-up ones; with EXPORT, calls that
//! function (no arguments) before each reset, untimed, so that every reset
//! has a heap and a stack to clean. Prints the median, mean and p90.

use lucet_runtime::{Limits, Linker, Module, Region};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: reset_time MODULE.so [RESETS [EXPORT]]");
        std::process::exit(2);
    };
    let resets: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20000);
    let export = args.next();
    let fail = |e: lucet_runtime::Error| -> ! {
        eprintln!("error: {e}");
        std::process::exit(1)
    };
    // SAFETY: the example runs objects the user compiled with lucetc and
    // names on its command line.
    let module = unsafe { Module::load_unverified(&path) }.unwrap_or_else(|e| fail(e));
    let region = Region::new(1, Limits::default()).unwrap_or_else(|e| fail(e));
    let mut instance = region
        .instantiate(&module, &Linker::new())
        .unwrap_or_else(|e| fail(e));
    let mut one = || {
        if let Some(f) = &export {
            instance.run(f, &[]).unwrap_or_else(|e| fail(e));
        }
        let t = Instant::now();
        instance.reset().unwrap_or_else(|e| fail(e));
        t.elapsed().as_secs_f64() * 1e6
    };
    for _ in 0..200 {
        one();
    }
    let mut times: Vec<f64> = (0..resets).map(|_| one()).collect();
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "{path}: {resets} resets{}: median {:.2} us, mean {mean:.2} us, p90 {:.2} us",
        export.map(|f| format!(" after {f}")).unwrap_or_default(),
        times[times.len() / 2],
        times[times.len() * 9 / 10]
    );
}
