//! `fuzz-triage --seed S [--cases N] [--exceptions | --typed-refs]`:
//! replay differential cases in lucet, wasmi and Wasmtime and name the
//! engine that disagrees with the other two; with `--exceptions`, cases
//! generated with exceptions, and with `--typed-refs`, modules of
//! `lucet_fuzz::typed_refs` (typed function references), in lucet and
//! Wasmtime only (wasmi has neither). Exit 0 if all agree, 1 on any
//! disagreement or skipped case of `--typed-refs`, 2 on usage errors.

use lucet_fuzz_triage::Generator;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| -> Option<u64> {
        let i = args.iter().position(|a| a == flag)?;
        args.get(i + 1)?.parse().ok()
    };
    let flag = |f: &str| args.iter().any(|a| a == f);
    let generator = match (flag("--exceptions"), flag("--typed-refs")) {
        (false, false) => Some(Generator::Diff),
        (true, false) => Some(Generator::Exceptions),
        (false, true) => Some(Generator::TypedRefs),
        (true, true) => None,
    };
    let (Some(seed), Some(generator)) = (get("--seed"), generator) else {
        eprintln!(
            "usage: fuzz-triage --seed SEED [--cases N] [--exceptions | --typed-refs] [--verbose]"
        );
        std::process::exit(2);
    };
    let cases = get("--cases").unwrap_or(1);
    let verbose = flag("--verbose");
    let (mut agreed, mut disagreements, mut skipped) = (0, 0, 0);
    let mut coverage = lucet_fuzz::typed_refs::Coverage::default();
    for s in seed..seed + cases {
        let mut log = Vec::new();
        let wasm = generator.module(s);
        if let (Generator::TypedRefs, Some(wasm)) = (generator, &wasm) {
            coverage.add(&lucet_fuzz::typed_refs::coverage(wasm));
        }
        let r = lucet_fuzz_triage::replay_generated(s, generator, wasm.as_deref(), &mut log);
        agreed += r.agreed;
        if let Some(why) = &r.skipped {
            skipped += 1;
            if generator == Generator::TypedRefs {
                println!("seed {s}: skipped: {why}");
            }
        }
        if let Some((what, odd)) = &r.disagreement {
            disagreements += 1;
            println!("seed {s}: odd one out: {odd}: {what}");
        }
        if verbose || (r.disagreement.is_some() && cases == 1) {
            for l in &log {
                println!("  {l}");
            }
        }
    }
    let engines = match generator {
        Generator::Diff => "all three engines",
        _ => "lucet and Wasmtime",
    };
    println!("{cases} cases: {agreed} calls agreed in {engines}, {disagreements} disagreements, {skipped} skipped");
    if generator == Generator::TypedRefs {
        println!("generated: {coverage}");
    }
    // Every typed-refs module is valid, so a skip is a generator bug.
    if disagreements > 0 || (generator == Generator::TypedRefs && skipped > 0) {
        std::process::exit(1);
    }
}
