//! The `operators` campaign target: each case is one family, compiled
//! with options drawn from the seed, with inputs drawn from it too.

use super::{families, run_family, Setup};
use crate::rng::Rng;
use crate::Finding;

/// Counts over a campaign.
#[derive(Clone, Debug, Default)]
pub struct OpStats {
    /// Families run.
    pub families: u64,
    /// Operators run (counting each family's every time).
    pub ops: u64,
    /// Calls on which the engines agreed.
    pub calls: u64,
    /// Of those, traps.
    pub traps: u64,
    /// One finding per case in which operators disagreed.
    pub findings: Vec<Finding>,
    /// Findings so far (including those already taken out of `findings`).
    pub found: u64,
}

impl OpStats {
    /// One line of figures.
    pub fn summary(&self) -> String {
        format!(
            "operators: {} families, {} operators, {} calls agreed ({} traps); {} findings",
            self.families, self.ops, self.calls, self.traps, self.found
        )
    }
}

/// Inputs per operator in a campaign case.
pub const CAMPAIGN_INPUTS: usize = 200;

/// The campaign's case `seed`: family `seed` modulo their number (so
/// consecutive seeds go round the catalog), with options and inputs drawn
/// from the seed.
pub fn run_case(seed: u64, stats: &mut OpStats) {
    let all = families();
    let family = &all[(seed % all.len() as u64) as usize];
    let setup = Setup::draw(&mut Rng::new(seed));
    let r = run_family(family, &setup, seed, CAMPAIGN_INPUTS);
    stats.families += 1;
    stats.ops += r.ops as u64;
    stats.calls += r.calls;
    stats.traps += r.traps;
    if r.disagreed.is_empty() {
        return;
    }
    // One finding per case (its files are named by the seed), naming every
    // operator that disagreed.
    let ops: Vec<String> = r
        .disagreed
        .iter()
        .map(|(op, n)| format!("{op} ({n} inputs)"))
        .collect();
    let shown: Vec<String> = r.disagreements.iter().map(|d| d.to_string()).collect();
    stats.found += 1;
    stats.findings.push(Finding {
        target: "operators",
        seed,
        kind: format!("{} [{}]", r.family, r.setup),
        detail: format!("{} operators disagreed: {}", ops.len(), ops.join(", ")),
        log: format!("setup: {:?}\n\n{}", setup.options, shown.join("\n")),
        input: r.wat.into_bytes(),
    });
}
