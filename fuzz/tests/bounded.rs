//! The fuzz targets as bounded tests: fixed seed ranges, so every run
//! checks the same cases (a finding here reproduces with
//! `cargo run --release -p lucet-fuzz -- --target T --seed S --cases 1`).
//! Together they take about a minute on 2 cores in a debug build.

use lucet_fuzz::{diff, module_data, robust, slots, Finding};

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

#[test]
fn slot_histories() {
    let start = std::time::Instant::now();
    let mut s = slots::SlotStats::default();
    for seed in 0..80 {
        slots::run_case(seed, &mut s);
    }
    report(&format!("{} in {:.1?}", s.summary(), start.elapsed()));
    // Each finding's line, then the first few histories in full: the
    // modules and every step up to the one that broke isolation.
    let dir = std::env::temp_dir().join("lucet-fuzz-findings");
    for f in &s.findings {
        let saved = f.save(&dir).map(|p| p.display().to_string());
        report(&format!(
            "FINDING {} ({})",
            f.summary(),
            saved.unwrap_or_default()
        ));
    }
    for f in s.findings.iter().take(3) {
        report(&format!("\n--- slots seed {} ---\n{}", f.seed, f.log));
    }
    assert!(
        s.findings.is_empty(),
        "{} slot histories broke isolation or the model (the first ones above; \
         reproduce one with `cargo run -p lucet-fuzz -- --target slots --seed SEED --cases 1`)",
        s.findings.len()
    );
    // What the generator claims to do, it does: else the test would pass
    // having checked little. (The figures are about twice these.)
    let failed = |what: &str| -> u64 {
        s.failed
            .iter()
            .filter(|(k, _)| k.contains(what))
            .map(|(_, n)| n)
            .sum()
    };
    let drops = |what: &str| s.drops.get(what).copied().unwrap_or(0);
    let images = |what: &str| s.images.get(what).copied().unwrap_or(0);
    let imports = |what: &str| s.imports.get(what).copied().unwrap_or(0);
    let sum = s.summary();
    assert!(s.standalone >= 200 && s.store_instances >= 150, "{sum}");
    assert!(s.stores >= 150 && s.stores_dropped >= 150, "{sum}");
    // Instantiations that fail at each point.
    for (what, least) in [
        ("MissingImport", 50),
        ("ImportMismatch", 15),
        ("LimitExceeded", 40),
        ("RegionFull", 30),
        ("trap TableOutOfBounds", 30),
        ("trap HeapOutOfBounds", 30),
        ("Unreachable", 15),
        ("deadline", 20),
        ("budget", 2),
    ] {
        assert!(failed(what) >= least, "{what}: {sum}");
    }
    assert!(s.partial_inits >= 40, "{sum}");
    for kind in ["Copied", "Mapped", "Segments"] {
        assert!(images(kind) >= 40, "{kind} images: {sum}");
    }
    for kind in ["memory", "table", "global", "function"] {
        assert!(imports(kind) >= 10, "imported {kind}s: {sum}");
    }
    // A memory imported by a module compiled for more heap address space
    // than the exporter's slot has: refused, or its wild writes trap.
    assert!(
        s.bigger_guard_accepted + s.bigger_guard_refused >= 20,
        "{sum}"
    );
    for what in [
        "unstarted",
        "start failed",
        "after a trap",
        "after a reset",
        "after a grow",
        "silent",
    ] {
        assert!(drops(what) >= 20, "dropped {what}: {sum}");
    }
    assert!(s.silent_drops_copied >= 8, "{sum}");
    assert!(
        s.resets >= 40 && s.grows >= 30 && s.grows_refused >= 8,
        "{sum}"
    );
    assert!(s.table_grows >= 20 && s.table_grows_refused >= 5, "{sum}");
    assert!(s.canaries >= 80 && s.pokes_in_bounds >= 10, "{sum}");
    assert!(s.wild_writes >= 90 && s.wild_next_slot >= 20, "{sum}");
    assert!(s.memory_checks >= 2000 && s.fresh_checks >= 250, "{sum}");
    assert!(s.probes >= 4000, "{sum}");
}
