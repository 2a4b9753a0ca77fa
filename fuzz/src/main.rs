//! `lucet-fuzz`: open-ended fuzzing campaigns.
//!
//! ```text
//! cargo run --release -p lucet-fuzz -- --minutes 30
//! cargo run --release -p lucet-fuzz -- --target diff --seed 1000 --cases 500
//! cargo run --release -p lucet-fuzz -- --target slots --seed 7 --cases 1
//! cargo run --release -p lucet-fuzz -- --target operators --minutes 20
//! ```
//! Exit codes: 0 nothing found, 1 findings (written to `--out`), 2 usage.

use clap::Parser;
use lucet_fuzz::{diff, module_data, operators, robust, slots, Finding};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Differential, robustness and isolation fuzzing of lucetc and lucet-runtime")]
struct Args {
    /// Run for this many minutes (split evenly across the targets).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Instead of a duration, run this many cases per target.
    #[arg(long)]
    cases: Option<u64>,
    /// Which target: diff, lucetc, module-data, slots, operators or all.
    #[arg(long, default_value = "all", value_parser = ["diff", "lucetc", "module-data", "slots", "operators", "all"])]
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
        "all" => vec!["diff", "lucetc", "module-data", "slots", "operators"],
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
        let more = |n: u64| match args.cases {
            Some(c) => n < c,
            None => start.elapsed() < budget,
        };
        let mut campaign = Campaign {
            more,
            seed,
            last_report: Instant::now(),
            findings: &mut findings,
            out: &args.out,
        };
        let summary = match target {
            "diff" => campaign.run(diff::DiffStats::default(), diff::run_case),
            "lucetc" => {
                let seeds = lucet_fuzz::fixture_modules();
                let bin = lucet_fuzz::lucetc_binary();
                if bin.is_none() {
                    println!("note: no lucetc binary found (set LUCETC): in-process checks only");
                }
                campaign.run(robust::RobustStats::default(), |seed, s| {
                    robust::run_case(seed, &seeds, bin.as_deref(), 10, s)
                })
            }
            "slots" => campaign.run(slots::SlotStats::default(), slots::run_case),
            "operators" => campaign.run(operators::OpStats::default(), operators::run_case),
            _ => {
                let seeds = data_seeds(seed);
                campaign.run(module_data::DataStats::default(), |seed, s| {
                    module_data::run_case(seed, &seeds, s)
                })
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

/// The figures of one target's campaign.
trait Stats {
    fn summary(&self) -> String;
    fn findings(&mut self) -> &mut Vec<Finding>;
}

macro_rules! stats {
    ($($t:ty),*) => {$(
        impl Stats for $t {
            fn summary(&self) -> String {
                <$t>::summary(self)
            }
            fn findings(&mut self) -> &mut Vec<Finding> {
                &mut self.findings
            }
        }
    )*};
}
stats!(
    diff::DiffStats,
    robust::RobustStats,
    module_data::DataStats,
    slots::SlotStats,
    operators::OpStats
);

/// One target's run: cases while `more` says so, findings saved as found.
struct Campaign<'a, M> {
    more: M,
    seed: u64,
    last_report: Instant,
    findings: &'a mut Vec<Finding>,
    out: &'a std::path::Path,
}

impl<M: Fn(u64) -> bool> Campaign<'_, M> {
    fn run<S: Stats>(&mut self, mut stats: S, mut case: impl FnMut(u64, &mut S)) -> String {
        let mut n = 0;
        while (self.more)(n) {
            case(self.seed + n, &mut stats);
            n += 1;
            self.report(&mut stats, true);
        }
        self.report(&mut stats, false);
        stats.summary()
    }

    /// Save and print new findings; print the figures every 30 seconds.
    fn report<S: Stats>(&mut self, stats: &mut S, figures: bool) {
        for f in stats.findings().drain(..) {
            match f.save(self.out) {
                Ok(p) => println!("FINDING {} -> {}", f.summary(), p.display()),
                Err(e) => println!("FINDING {} (not saved: {e})", f.summary()),
            }
            self.findings.push(f);
        }
        if figures && self.last_report.elapsed() > Duration::from_secs(30) {
            println!("  {}", stats.summary());
            self.last_report = Instant::now();
        }
    }
}
