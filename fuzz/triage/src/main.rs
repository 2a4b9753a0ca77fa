//! `fuzz-triage --seed S [--cases N] [--exceptions]`: replay differential
//! cases in lucet, wasmi and Wasmtime and name the engine that disagrees
//! with the other two; with `--exceptions`, cases generated with
//! exceptions, in lucet and Wasmtime only (wasmi has none). Exit 0 if all
//! agree, 1 on any disagreement, 2 on usage errors.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| -> Option<u64> {
        let i = args.iter().position(|a| a == flag)?;
        args.get(i + 1)?.parse().ok()
    };
    let Some(seed) = get("--seed") else {
        eprintln!("usage: fuzz-triage --seed SEED [--cases N] [--exceptions] [--verbose]");
        std::process::exit(2);
    };
    let cases = get("--cases").unwrap_or(1);
    let verbose = args.iter().any(|a| a == "--verbose");
    let exceptions = args.iter().any(|a| a == "--exceptions");
    let (mut agreed, mut disagreements, mut skipped) = (0, 0, 0);
    for s in seed..seed + cases {
        let mut log = Vec::new();
        let r = if exceptions {
            lucet_fuzz_triage::replay_exceptions(s, &mut log)
        } else {
            lucet_fuzz_triage::replay(s, &mut log)
        };
        agreed += r.agreed;
        skipped += r.skipped.is_some() as u64;
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
    let engines = if exceptions {
        "lucet and Wasmtime"
    } else {
        "all three engines"
    };
    println!("{cases} cases: {agreed} calls agreed in {engines}, {disagreements} disagreements, {skipped} skipped");
    if disagreements > 0 {
        std::process::exit(1);
    }
}
