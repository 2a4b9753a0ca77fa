//! The command line and the iteration counts it selects.

use crate::inputs;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

pub(crate) const USAGE: &str = "\
lucet-benchmarks: lucet, Wasmtime and native code side by side

USAGE: cargo run --release --manifest-path benchmarks/Cargo.toml -- [OPTIONS]

OPTIONS:
  --json PATH            write the figures as JSON (a list of records)
  --quick                fewer iterations (a smoke test; figures are noisier)
  --only GROUPS          comma-separated subset: compile,instantiate,hello,
                         hostcall,exec,rss,maxlive (README and chart are then
                         left alone)
  --chart PATH           where to write the chart [benchmarks/results/chart.svg]
  --readme PATH          README whose generated region to rewrite
                         [benchmarks/README.md]
  --no-readme            do not touch the README or the chart
  --report-only          measure nothing: regenerate the README region and the
                         chart from --json PATH (and machine.json beside it)
  --max-live N           most live instances to try for [30000]
  --compile-module PATH  module for compile throughput [the largest at hand]
  --loop OP              for profiling: repeat one lucet operation for 5 s
                         (instantiate, call, call-data, hello, hostcall)
  -h, --help             this text
";

pub(crate) const GROUPS: &[&str] = &[
    "compile",
    "instantiate",
    "hello",
    "hostcall",
    "exec",
    "rss",
    "maxlive",
];

pub(crate) struct Args {
    pub(crate) json: Option<PathBuf>,
    pub(crate) quick: bool,
    pub(crate) only: Option<Vec<String>>,
    pub(crate) chart: PathBuf,
    pub(crate) readme: PathBuf,
    pub(crate) no_readme: bool,
    pub(crate) report_only: bool,
    pub(crate) max_live: usize,
    pub(crate) compile_module: Option<PathBuf>,
    pub(crate) loop_op: Option<String>,
}

impl Args {
    pub(crate) fn parse() -> Result<Args> {
        let mut a = Args {
            json: None,
            quick: false,
            only: None,
            chart: inputs::bench_dir().join("results/chart.svg"),
            readme: inputs::bench_dir().join("README.md"),
            no_readme: false,
            report_only: false,
            max_live: 30_000,
            compile_module: None,
            loop_op: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--json" => a.json = Some(value()?.into()),
                "--quick" => a.quick = true,
                "--only" => {
                    let v: Vec<String> =
                        value()?.split(',').map(|s| s.trim().to_string()).collect();
                    for g in &v {
                        if !GROUPS.contains(&g.as_str()) {
                            bail!("unknown group {g:?} (one of {})", GROUPS.join(", "));
                        }
                    }
                    a.only = Some(v);
                }
                "--chart" => a.chart = value()?.into(),
                "--readme" => a.readme = value()?.into(),
                "--no-readme" => a.no_readme = true,
                "--report-only" => a.report_only = true,
                "--max-live" => a.max_live = value()?.parse().context("--max-live")?,
                "--compile-module" => a.compile_module = Some(value()?.into()),
                "--loop" => a.loop_op = Some(value()?),
                "-h" | "--help" => {
                    print!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?}\n\n{USAGE}"),
            }
        }
        Ok(a)
    }

    pub(crate) fn wants(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|g| g == group))
    }
}

/// Iteration counts.
pub(crate) struct Plan {
    pub(crate) warmup: usize,
    pub(crate) inst_rounds: usize,
    pub(crate) inst_per_round: usize,
    pub(crate) hello_per_round: usize,
    pub(crate) hostcall_samples: usize,
    pub(crate) hostcall_calls: u32,
    pub(crate) exec_rounds: usize,
    pub(crate) compile_iters: usize,
}

impl Plan {
    pub(crate) fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                warmup: 200,
                inst_rounds: 5,
                inst_per_round: 400,
                hello_per_round: 100,
                hostcall_samples: 60,
                hostcall_calls: 10_000,
                exec_rounds: 4,
                compile_iters: 2,
            }
        } else {
            Plan {
                warmup: 2_000,
                inst_rounds: 20,
                inst_per_round: 2_000,
                hello_per_round: 1_000,
                hostcall_samples: 600,
                hostcall_calls: 10_000,
                exec_rounds: 25,
                compile_iters: 8,
            }
        }
    }
}
