//! Every `.wat` fixture's directives, through lucetc → .so → dlopen → run.

#[test]
fn wat_fixtures() {
    let mut files: Vec<_> = std::fs::read_dir(lucet_tests::wat_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wat"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let wat = std::fs::read_to_string(&path).unwrap();
        let n = lucet_tests::run_directives(&name, &wat);
        assert!(n > 0, "{name} has no directives");
        println!("{name}: {n} directives passed");
    }
}
