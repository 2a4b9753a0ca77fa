//! The fuzz targets as bounded tests: fixed seed ranges, so every run
//! checks the same cases (a finding here reproduces with
//! `cargo run --release -p lucet-fuzz -- --target T --seed S --cases 1`).
//! Together they take about a minute on 2 cores in a debug build.

use lucet_fuzz::{diff, module_data, robust, Finding};

/// Print past the test harness's capture, so the figures are in every
/// run's output (CI's included).
fn report(line: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("{line}\n").as_bytes());
}

fn fail_on(findings: &[Finding]) {
    let dir = std::env::temp_dir().join("lucet-fuzz-findings");
    for f in findings {
        let saved = f
            .save(&dir)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        eprintln!("FINDING {} ({saved})\n{}", f.summary(), f.log);
    }
    assert!(findings.is_empty(), "{} findings", findings.len());
}

#[test]
fn differential_execution() {
    let mut s = diff::DiffStats::default();
    for seed in 0..2500 {
        diff::run_case(seed, &mut s);
    }
    report(&s.summary());
    fail_on(&s.findings);
    // The generator makes modules the oracle runs, with calls that return.
    assert!(s.modules >= 2300, "{}", s.summary());
    assert!(s.calls_agreed - s.traps_agreed >= 4000, "{}", s.summary());
    // Recursion is bounded by the fuel, and lucet's stack is deep enough
    // for it: running out where the oracle did not needs explaining.
    assert_eq!(s.lucet_stack_exhausted, 0, "{}", s.summary());
}

#[test]
fn lucetc_robustness() {
    let seeds = lucet_fuzz::fixture_modules();
    assert!(!seeds.is_empty());
    // Built whenever the workspace's tests are (lucetc has CLI tests).
    let bin = lucet_fuzz::lucetc_binary();
    if bin.is_none() {
        println!("no lucetc binary next to the test: in-process checks only");
    }
    let mut s = robust::RobustStats::default();
    for seed in 0..3000 {
        robust::run_case(seed, &seeds, bin.as_deref(), 15, &mut s);
    }
    report(&s.summary());
    fail_on(&s.findings);
    assert!(s.compiled > 100 && s.refused > 1000, "{}", s.summary());
}

#[test]
fn module_data_decoding() {
    let mut wasm = lucet_fuzz::fixture_modules();
    wasm.extend((0..12).filter_map(|i| lucet_fuzz::generate::module(0xc0de + i)));
    let seeds: Vec<module_data::Seed> = wasm
        .iter()
        .filter_map(|w| module_data::Seed::new(w).ok())
        .collect();
    assert!(seeds.len() >= 8, "only {} seeds", seeds.len());
    let mut s = module_data::DataStats::default();
    for seed in 0..40_000 {
        module_data::run_case(seed, &seeds, &mut s);
    }
    report(&s.summary());
    fail_on(&s.findings);
    assert!(s.accepted > 0 && s.instantiated > 0, "{}", s.summary());
}
