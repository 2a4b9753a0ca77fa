//! lucetc robustness: arbitrary bytes and mutations of valid modules must
//! compile or be refused with a one-line error, leave no output behind on
//! refusal, and never panic or hang.

use crate::mutate::mutate;
use crate::rng::Rng;
use crate::{generate, Finding};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

/// A compilation this slow counts as a hang.
pub const SLOW: Duration = Duration::from_secs(30);

/// Counts over a campaign.
#[derive(Clone, Debug, Default)]
pub struct RobustStats {
    /// Inputs tried.
    pub inputs: u64,
    /// Of those, compiled.
    pub compiled: u64,
    /// Of those, refused with an error.
    pub refused: u64,
    /// Inputs also run through the `lucetc` binary.
    pub binary_runs: u64,
    /// Panics, hangs, multi-line errors, output left behind.
    pub findings: Vec<Finding>,
    /// Findings so far (including those already taken out of `findings`).
    pub found: u64,
}

impl RobustStats {
    /// Record a finding.
    pub fn add(&mut self, f: Finding) {
        self.found += 1;
        self.findings.push(f);
    }

    /// One line of figures.
    pub fn summary(&self) -> String {
        format!(
            "lucetc: {} inputs, {} compiled, {} refused, {} also through the binary; {} findings",
            self.inputs, self.compiled, self.refused, self.binary_runs, self.found
        )
    }
}

/// The input of case `seed`: mostly mutations of a generated valid module
/// (or of one of `seeds`), sometimes random bytes with or without the wasm
/// header.
pub fn input(seed: u64, seeds: &[Vec<u8>]) -> (Vec<u8>, String) {
    let mut rng = Rng::new(seed ^ 0xb17_f11b);
    match rng.below(10) {
        0 => {
            let n = rng.range(0, 256) as usize;
            (rng.bytes(n), "random bytes".into())
        }
        1 => {
            let mut b = b"\0asm\x01\0\0\0".to_vec();
            let n = rng.range(0, 256) as usize;
            b.extend(rng.bytes(n));
            (b, "header + random bytes".into())
        }
        2..=4 if !seeds.is_empty() => {
            let base = rng.pick(seeds).clone();
            mutate(&mut rng, &base)
        }
        _ => match generate::module(rng.next_u64()) {
            Some(valid) => mutate(&mut rng, &valid),
            None => (Vec::new(), "empty".into()),
        },
    }
}

/// Compile `wasm` in-process to a fresh directory and check the contract.
/// Every `binary_every`-th case also goes through the `lucetc` binary at
/// `lucetc` (if given), which must exit 0 or 1 with one line on stderr.
pub fn run_case(
    seed: u64,
    seeds: &[Vec<u8>],
    lucetc: Option<&Path>,
    binary_every: u64,
    stats: &mut RobustStats,
) {
    let (wasm, how) = input(seed, seeds);
    stats.inputs += 1;
    let finding = |kind: &str, detail: String| Finding {
        target: "lucetc",
        seed,
        kind: kind.into(),
        detail,
        log: how.clone(),
        input: wasm.clone(),
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            stats.add(finding("harness", e.to_string()));
            return;
        }
    };
    let out = dir.path().join("out.so");
    let options = lucetc::Options {
        threads: Some(1),
        ..lucetc::Options::default()
    };
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| {
        lucetc::compile_to_file(&wasm, &out, &options)
    }));
    if start.elapsed() > SLOW {
        stats.add(finding("slow", format!("{:?}", start.elapsed())));
    }
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    match result {
        Err(panic) => stats.add(finding("panic", crate::panic_message(&panic))),
        Ok(Ok(_)) => {
            stats.compiled += 1;
            if left != ["out.so"] {
                stats.add(finding(
                    "output",
                    format!("compiled, but directory holds {left:?}"),
                ));
            }
        }
        Ok(Err(e)) => {
            stats.refused += 1;
            let msg = e.to_string();
            if msg.contains('\n') || msg.is_empty() {
                stats.add(finding("message", format!("not one line: {msg:?}")));
            }
            if !left.is_empty() {
                stats.add(finding(
                    "output",
                    format!("refused ({msg}), but left {left:?}"),
                ));
            }
        }
    }
    if let Some(bin) = lucetc.filter(|_| seed.is_multiple_of(binary_every)) {
        stats.binary_runs += 1;
        if let Err(why) = check_binary(bin, &wasm, dir.path()) {
            stats.add(finding("binary", why));
        }
    }
}

/// Run the `lucetc` binary on `wasm`: exit 0 with an output file, or exit
/// 1 with one line on stderr and no output.
fn check_binary(bin: &Path, wasm: &[u8], dir: &Path) -> Result<(), String> {
    let input = dir.join("in.wasm");
    let out = dir.join("bin.so");
    let _ = std::fs::remove_file(&out);
    std::fs::write(&input, wasm).map_err(|e| e.to_string())?;
    let o = std::process::Command::new(bin)
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(["--threads", "1"])
        .output()
        .map_err(|e| format!("running {}: {e}", bin.display()))?;
    let stderr = String::from_utf8_lossy(&o.stderr);
    match o.status.code() {
        Some(0) if out.exists() => Ok(()),
        Some(1) if !out.exists() && stderr.lines().count() == 1 => Ok(()),
        code => Err(format!(
            "exit {code:?}, output {}, stderr {stderr:?}",
            if out.exists() { "written" } else { "absent" }
        )),
    }
}
