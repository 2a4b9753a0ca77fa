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
