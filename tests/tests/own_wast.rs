//! Our own scripts in the spec test format (`tests/wast/*.wast`), for what
//! the official suite this project can fetch lacks (the legacy exception
//! encoding). Every assertion must pass.

use lucet_tests::wast_runner::run_script;

#[test]
fn own_wast_scripts() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/wast");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wast"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let r = run_script(&name, &text);
        println!(
            "{name}: {} assertions passed, {} actions",
            r.assertions_passed, r.actions_passed
        );
        assert!(
            r.assertions_failed == 0 && r.actions_failed == 0 && r.skipped.is_empty(),
            "{name}: {:#?}",
            r.failures
        );
        assert!(r.assertions_passed > 0, "{name} asserts nothing");
    }
}
