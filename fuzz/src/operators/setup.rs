//! How a family is compiled and run: lucetc's options and the runtime's
//! limits, fixed for the bounded test or drawn for a campaign.

use super::{families, Family};
use crate::lucet::Choice;
use crate::rng::Rng;
use lucet_runtime::Limits;

/// How a family is compiled and run.
#[derive(Clone, Debug)]
pub struct Setup {
    /// What reports call it.
    pub label: String,
    /// lucetc's options.
    pub options: lucetc::Options,
    /// The runtime's limits (fitting the options' heap).
    pub limits: Limits,
}

impl Setup {
    fn new(label: String, options: lucetc::Options) -> Setup {
        // wasmi's relaxed SIMD answers are the deterministic ones (the
        // native lowering is checked by the spec scripts, whose
        // assertions list every allowed answer).
        let options = lucetc::Options {
            relaxed_simd_deterministic: true,
            ..options
        };
        // The default stack (512 KiB): `return_call`'s 100,000 calls fit
        // only if they are real tail calls.
        let limits = Limits {
            heap_address_space_size: options.heap_reserved_size + options.heap_guard_size,
            ..Limits::default()
        };
        Setup {
            label,
            options,
            limits,
        }
    }

    /// lucetc's default options.
    pub fn standard() -> Setup {
        Setup::new("default options".into(), lucetc::Options::default())
    }

    /// No guard region: every memory access is bounds-checked in code.
    pub fn explicit_bounds() -> Setup {
        let options = lucetc::Options {
            heap_guard_size: 0,
            ..lucetc::Options::default()
        };
        Setup::new("explicit bounds checks".into(), options)
    }

    /// Everything the translator lowers differently that the defaults
    /// leave off: no optimisation (nothing folded or hoisted to hide a
    /// lowering), instruction counting, no interrupt checks, no Spectre
    /// clamps, every feature of this CPU (AVX lowerings of SIMD), an
    /// 8 GiB reservation with a 64 KiB guard (larger static offsets
    /// checked in code).
    pub fn alternative() -> Setup {
        let options = lucetc::Options {
            opt_level: lucetc::OptLevel::None,
            target_cpu: lucetc::TargetCpu::Native,
            count_instructions: true,
            interruptible: false,
            spectre_guards: false,
            heap_reserved_size: 8 << 30,
            heap_guard_size: 64 << 10,
            ..lucetc::Options::default()
        };
        Setup::new("alternative options".into(), options)
    }

    /// Options drawn as the `diff` target draws them, and a target CPU
    /// (SIMD lowers differently with AVX).
    pub fn draw(rng: &mut Rng) -> Setup {
        let choice = Choice::draw(rng);
        let mut options = choice.options();
        options.target_cpu = *rng.pick(&[lucetc::TargetCpu::Baseline, lucetc::TargetCpu::Native]);
        let label = format!("{choice:?}, {:?} CPU", options.target_cpu);
        Setup::new(label, options)
    }
}

/// Every family with the standard and the alternative options, and the
/// families with memory also with explicit bounds checks: what the
/// bounded test runs.
pub fn standard_runs() -> Vec<(Family, Setup)> {
    let mut runs = Vec::new();
    for f in families() {
        runs.push((f.clone(), Setup::standard()));
        runs.push((f.clone(), Setup::alternative()));
        if f.memory {
            runs.push((f, Setup::explicit_bounds()));
        }
    }
    runs
}
