//! `lucet-fuzz`: open-ended fuzzing campaigns.
//!
//! ```text
//! cargo run --release -p lucet-fuzz -- --minutes 30
//! cargo run --release -p lucet-fuzz -- --target diff --seed 1000 --cases 500
//! ```
//! Exit codes: 0 nothing found, 1 findings (written to `--out`), 2 usage.

use clap::Parser;
use lucet_fuzz::{diff, module_data, robust, Finding};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Differential and robustness fuzzing of lucetc and lucet-runtime")]
struct Args {
    /// Run for this many minutes (split evenly across the targets).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Instead of a duration, run this many cases per target.
    #[arg(long)]
    cases: Option<u64>,
    /// Which target: diff, lucetc, module-data or all.
    #[arg(long, default_value = "all", value_parser = ["diff", "lucetc", "module-data", "all"])]
    target: String,
    /// First seed (default: from the clock). Case N of a run uses seed + N.
    #[arg(long)]
    seed: Option<u64>,
    /// Where findings are written.
    #[arg(long, default_value = "fuzz/findings")]
    out: PathBuf,
}

fn main() {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() << 20)
    });
    let targets: Vec<&str> = match args.target.as_str() {
        "all" => vec!["diff", "lucetc", "module-data"],
        t => vec![t],
    };
    let budget = Duration::from_secs_f64(args.minutes * 60.0 / targets.len() as f64);
    println!(
        "lucet-fuzz: first seed {seed}, findings to {}",
        args.out.display()
    );
    let mut findings: Vec<Finding> = Vec::new();
    for target in targets {
        let start = Instant::now();
        let mut last_report = Instant::now();
        let more = |n: u64| match args.cases {
            Some(c) => n < c,
            None => start.elapsed() < budget,
        };
        let summary = match target {
            "diff" => {
                let mut s = diff::DiffStats::default();
                let mut n = 0;
                while more(n) {
                    diff::run_case(seed + n, &mut s);
                    n += 1;
                    report(
                        &mut last_report,
                        &s.summary(),
                        &mut s.findings,
                        &mut findings,
                        &args.out,
                    );
                }
                report(
                    &mut last_report,
                    "",
                    &mut s.findings,
                    &mut findings,
                    &args.out,
                );
                s.summary()
            }
            "lucetc" => {
                let seeds = lucet_fuzz::fixture_modules();
                let bin = lucet_fuzz::lucetc_binary();
                if bin.is_none() {
                    println!("note: no lucetc binary found (set LUCETC): in-process checks only");
                }
                let mut s = robust::RobustStats::default();
                let mut n = 0;
                while more(n) {
                    robust::run_case(seed + n, &seeds, bin.as_deref(), 10, &mut s);
                    n += 1;
                    report(
                        &mut last_report,
                        &s.summary(),
                        &mut s.findings,
                        &mut findings,
                        &args.out,
                    );
                }
                report(
                    &mut last_report,
                    "",
                    &mut s.findings,
                    &mut findings,
                    &args.out,
                );
                s.summary()
            }
            _ => {
                let seeds = data_seeds(seed);
                let mut s = module_data::DataStats::default();
                let mut n = 0;
                while more(n) {
                    module_data::run_case(seed + n, &seeds, &mut s);
                    n += 1;
                    report(
                        &mut last_report,
                        &s.summary(),
                        &mut s.findings,
                        &mut findings,
                        &args.out,
                    );
                }
                report(
                    &mut last_report,
                    "",
                    &mut s.findings,
                    &mut findings,
                    &args.out,
                );
                s.summary()
            }
        };
        println!("{summary} in {:.0?}", start.elapsed());
    }
    if findings.is_empty() {
        println!("no findings");
    } else {
        println!(
            "{} findings written to {}",
            findings.len(),
            args.out.display()
        );
        std::process::exit(1);
    }
}

/// Module-data seeds: the fixtures and some generated modules, compiled.
fn data_seeds(seed: u64) -> Vec<module_data::Seed> {
    let mut wasm = lucet_fuzz::fixture_modules();
    wasm.extend((0..20).filter_map(|i| lucet_fuzz::generate::module(seed ^ (i + 0xc0de))));
    wasm.iter()
        .filter_map(|w| module_data::Seed::new(w).ok())
        .collect()
}

/// Save and print new findings; print the figures every 30 seconds.
fn report(
    last: &mut Instant,
    summary: &str,
    new: &mut Vec<Finding>,
    all: &mut Vec<Finding>,
    out: &std::path::Path,
) {
    for f in new.drain(..) {
        match f.save(out) {
            Ok(p) => println!("FINDING {} -> {}", f.summary(), p.display()),
            Err(e) => println!("FINDING {} (not saved: {e})", f.summary()),
        }
        all.push(f);
    }
    if !summary.is_empty() && last.elapsed() > Duration::from_secs(30) {
        println!("  {summary}");
        *last = Instant::now();
    }
}
