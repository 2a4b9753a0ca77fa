//! lucet, wasmi and Wasmtime agree on a fixed range of generated cases,
//! so the triage tool is known to work before a finding needs it.

#[test]
fn three_engines_agree() {
    let mut agreed = 0;
    for seed in 0..150 {
        let mut log = Vec::new();
        let r = lucet_fuzz_triage::replay(seed, &mut log);
        assert!(
            r.disagreement.is_none(),
            "seed {seed}: {:?}\n{}",
            r.disagreement,
            log.join("\n")
        );
        agreed += r.agreed;
    }
    println!("{agreed} calls agreed");
    assert!(agreed > 500);
}

/// Generated modules with exceptions (tags, throw, throw_ref, try_table):
/// lucet and Wasmtime agree on results, uncaught exceptions, traps and
/// state, and the cases do throw.
#[test]
fn lucet_and_wasmtime_agree_with_exceptions() {
    let (mut agreed, mut throwing, mut operators) = (0, 0, 0);
    for seed in 0..150 {
        if let Some(wasm) = lucet_fuzz::generate::module_with(seed, true) {
            operators += lucet_fuzz::generate::exception_operators(&wasm);
        }
        let mut log = Vec::new();
        let r = lucet_fuzz_triage::replay_exceptions(seed, &mut log);
        assert!(
            r.disagreement.is_none(),
            "seed {seed}: {:?}\n{}",
            r.disagreement,
            log.join("\n")
        );
        agreed += r.agreed;
        throwing += log
            .iter()
            .filter(|l| l.contains("uncaught exception"))
            .count();
    }
    println!(
        "{agreed} calls agreed, {throwing} ended in an uncaught exception; \
         {operators} throw, throw_ref and try_table operators generated"
    );
    assert!(agreed > 500);
    assert!(throwing > 0, "no generated call threw");
    assert!(operators > 1000, "few exception operators: {operators}");
}

/// Modules of our typed-function-references generator: lucet and
/// Wasmtime agree on every call, trap and state, none is skipped, and the
/// cases do trap on null references as well as return.
#[test]
fn lucet_and_wasmtime_agree_with_typed_function_references() {
    let (mut agreed, mut null_traps, mut returned) = (0, 0, 0);
    for seed in 0..150 {
        let mut log = Vec::new();
        let r = lucet_fuzz_triage::replay_typed_refs(seed, &mut log);
        assert!(
            r.disagreement.is_none() && r.skipped.is_none(),
            "seed {seed}: {:?} {:?}\n{}",
            r.disagreement,
            r.skipped,
            log.join("\n")
        );
        agreed += r.agreed;
        null_traps += log.iter().filter(|l| l.contains("NullReference")).count();
        returned += log.iter().filter(|l| l.contains("lucet returned")).count();
    }
    println!(
        "{agreed} calls agreed, {null_traps} trapped on a null reference, {returned} returned"
    );
    assert!(agreed > 1000, "few calls: {agreed}");
    assert!(null_traps > 0, "no call trapped on a null reference");
    assert!(returned > 100, "few calls returned: {returned}");
}
