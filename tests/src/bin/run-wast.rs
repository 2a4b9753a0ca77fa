//! `run-wast SCRIPT.wast...`: run spec-format scripts through the real
//! pipeline (lucetc, then lucet-runtime), as `tests/tests/spec.rs` runs the
//! official suite. For scripts this repository cannot carry, such as the
//! WebAssembly spec repository's legacy-exception scripts, which no crate
//! we can depend on bundles: check them against a local checkout.
//!
//! Prints each script's counts and every failure; exits 1 if anything
//! failed or a script asserts nothing, 2 on a usage or read error.

use lucet_tests::wast_runner::run_script;

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: run-wast SCRIPT.wast...");
        std::process::exit(2);
    }
    let (mut passed, mut failed) = (0, 0);
    for path in &paths {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("run-wast: {path}: {e}");
                std::process::exit(2);
            }
        };
        let r = run_script(path, &text);
        println!(
            "{path}: {} assertions passed, {} failed; {} actions passed, {} failed; {} skipped",
            r.assertions_passed,
            r.assertions_failed,
            r.actions_passed,
            r.actions_failed,
            r.skipped.len()
        );
        for f in r.failures.iter().chain(&r.skipped) {
            println!("  {f}");
        }
        passed += r.assertions_passed;
        failed += r.failed() + r.skipped.len() + usize::from(r.assertions_passed == 0);
    }
    println!("total: {passed} assertions passed, {failed} failures");
    if failed > 0 {
        std::process::exit(1);
    }
}
