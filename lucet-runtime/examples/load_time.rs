//! How long loading a module takes: `Module::load_unverified` and drop, repeated.
//!
//! ```sh
//! cargo run --release -p lucet-runtime --example load_time -- MODULE.so [LOADS [KEY.pub]]
//! ```
//!
//! Prints the median and mean of LOADS (default 2000) loads after 50
//! warm-up loads; with a public key, verified loads (`Module::load_verified`).

use lucet_runtime::{LoadOptions, Module, TrustedKeys};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: load_time MODULE.so [LOADS]");
        std::process::exit(2);
    };
    let loads: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let options = match args.next() {
        Some(key) => LoadOptions::verified(TrustedKeys::from_files([key]).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(1)
        })),
        None => LoadOptions::unverified(),
    };
    for _ in 0..50 {
        // SAFETY: the example measures loading objects the user compiled and names on its command line; it runs nothing of them.
        drop(
            unsafe { Module::load_with(&path, &options) }.unwrap_or_else(|e| {
                eprintln!("error: {e}");
                std::process::exit(1)
            }),
        );
    }
    let mut times: Vec<f64> = (0..loads)
        .map(|_| {
            let t = Instant::now();
            // SAFETY: the example measures loading objects the user compiled and names on its command line; it runs nothing of them.
            drop(unsafe { Module::load_with(&path, &options) }.expect("loaded before"));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "{path}: {loads} {}loads (load + drop): median {:.1} us, mean {mean:.1} us, p90 {:.1} us",
        if options.trusted_keys.is_some() {
            "verified "
        } else {
            ""
        },
        times[times.len() / 2],
        times[times.len() * 9 / 10]
    );
}
