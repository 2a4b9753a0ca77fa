//! Translation tested operator by operator: every family of the catalog
//! (`lucet_fuzz::operators`) with a fixed seed and a bounded number of
//! inputs per operator, in lucet and in the oracle, under the default
//! options, the alternative ones and (families with memory) explicit
//! bounds checks. A failure names every operator that disagreed, with
//! its first inputs and both outcomes. About 12 s of CPU in a debug build.

use lucet_fuzz::operators::{self, Family};
use std::time::Instant;

/// The seed of the bounded run.
const SEED: u64 = 0x0b5e_55ed;

/// Inputs per operator: every corner combination of a binary operator
/// (25 for integers, 64 for floats), then random ones, biased to edges.
const PER_OP: usize = 500;

/// Print past the test harness's capture, so the figures are in every
/// run's output.
fn report(line: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("{line}\n").as_bytes());
}

#[test]
fn every_operator_agrees_with_the_interpreter() {
    let start = Instant::now();
    let (mut runs, mut calls, mut traps) = (0, 0, 0);
    let mut failed = Vec::new();
    let mut details = Vec::new();
    for (family, setup) in operators::standard_runs() {
        let r = operators::run_family(&family, &setup, SEED, PER_OP);
        runs += r.ops;
        calls += r.calls;
        traps += r.traps;
        if r.disagreed.is_empty() {
            // Every operator ran on all its inputs: a catalog entry that
            // silently stopped running would otherwise pass.
            let expected: u64 = family
                .ops
                .iter()
                .map(|op| {
                    if op.params.is_empty() {
                        1
                    } else {
                        PER_OP as u64
                    }
                })
                .sum();
            assert_eq!(r.calls, expected, "{}", r.summary());
            continue;
        }
        report(&r.summary());
        for (op, n) in &r.disagreed {
            failed.push(format!("{op} ({}, {}): {n} inputs", r.family, r.setup));
        }
        details.extend(
            r.disagreements
                .iter()
                .map(|d| format!("  {d} [{}, {}]", r.family, r.setup)),
        );
    }
    report(&format!(
        "operators: {runs} operator runs, {calls} calls agreed ({traps} traps) in {:.1?}",
        start.elapsed()
    ));
    assert!(
        failed.is_empty(),
        "{} operators disagreed with the interpreter:\n{}\n\nfirst inputs of each:\n{}",
        failed.len(),
        failed.join("\n"),
        details.join("\n")
    );
}

/// The catalog covers every WebAssembly 2.0 operator (and tail calls),
/// as wasmparser lists them.
#[test]
fn the_catalog_covers_every_operator() {
    let families: Vec<Family> = operators::families();
    let missing = operators::uncovered(&families);
    assert!(missing.is_empty(), "no family uses: {missing:?}");
    let n: usize = families.iter().map(|f| f.ops.len()).sum();
    report(&format!(
        "catalog: {} families, {n} operators",
        families.len()
    ));
}
