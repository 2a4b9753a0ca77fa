//! Differential execution: each generated module is compiled by lucetc
//! with drawn options and run by lucet-runtime, and run by the oracle;
//! every export is called in sequence in one instance, and results, traps
//! and the state of memory and globals after each call must agree.

use crate::generate;
use crate::lucet::{self, Choice, Lucet};
use crate::oracle::{Exports, Oracle};
use crate::outcome::{Outcome, StateHash, TrapKind, Value};
use crate::rng::Rng;
use crate::Finding;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Counts over a campaign.
#[derive(Clone, Debug, Default)]
pub struct DiffStats {
    /// Modules generated and run in both engines.
    pub modules: u64,
    /// Seeds from which the generator made no module, or whose module the
    /// oracle could not decode.
    pub skipped: u64,
    /// Calls made in both engines (instantiation included) that agreed.
    pub calls_agreed: u64,
    /// Of those, calls that trapped (same kind in both).
    pub traps_agreed: u64,
    /// Agreed traps by kind.
    pub trap_kinds: std::collections::BTreeMap<String, u64>,
    /// Calls where lucet ran out of stack and the oracle did not. Not a
    /// pass: the case stops there, since the states now differ.
    pub lucet_stack_exhausted: u64,
    /// Calls where the oracle ran out of stack and lucet did not.
    pub oracle_stack_exhausted: u64,
    /// Calls where both ran out of stack (the case stops there too).
    pub both_stack_exhausted: u64,
    /// Divergences, crashes and lucetc rejections of valid modules.
    pub findings: Vec<Finding>,
    /// Findings so far (including those already taken out of `findings`).
    pub found: u64,
}

impl DiffStats {
    /// Record a finding.
    pub fn add(&mut self, f: Finding) {
        self.found += 1;
        self.findings.push(f);
    }

    /// One line of figures.
    pub fn summary(&self) -> String {
        format!(
            "diff: {} modules ({} skipped), {} calls agreed ({} traps: {:?}), stack exhausted: lucet only {}, oracle only {}, both {}; {} findings",
            self.modules,
            self.skipped,
            self.calls_agreed,
            self.traps_agreed,
            self.trap_kinds,
            self.lucet_stack_exhausted,
            self.oracle_stack_exhausted,
            self.both_stack_exhausted,
            self.found
        )
    }
}

/// An argument of type `t`: boundary values often, random bits otherwise.
fn arg(rng: &mut Rng, t: &wasmi::ValType) -> Value {
    let bits = rng.next_u64();
    let pick = rng.below(4) == 0;
    match t {
        wasmi::ValType::I32 => Value::I32(if pick {
            *rng.pick(&[0, 1, 2, 0xffff_ffff, 0x8000_0000, 0x7fff_ffff, 65536, 8])
        } else if rng.chance(1, 2) {
            rng.below(70_000) as u32
        } else {
            bits as u32
        }),
        wasmi::ValType::I64 => Value::I64(if pick {
            *rng.pick(&[0, 1, u64::MAX, 1 << 63, (1 << 63) - 1, 1 << 32, 0xffff_ffff])
        } else {
            bits
        }),
        wasmi::ValType::F32 => Value::f32(if pick {
            *rng.pick(&[
                0,
                0x8000_0000,
                0x3f80_0000,
                0x7f80_0000,
                0xff80_0000,
                0x7fc0_0000,
                1,
                0x4f00_0000,
            ])
        } else {
            bits as u32
        }),
        wasmi::ValType::F64 => Value::f64(if pick {
            *rng.pick(&[
                0,
                1 << 63,
                0x3ff0_0000_0000_0000,
                0x7ff0_0000_0000_0000,
                0x7ff8_0000_0000_0000,
                1,
                0x43e0_0000_0000_0000,
            ])
        } else {
            bits
        }),
        wasmi::ValType::V128 => Value::V128(((rng.next_u64() as u128) << 64) | bits as u128),
        wasmi::ValType::FuncRef => Value::FuncRef { null: true },
        wasmi::ValType::ExternRef => Value::ExternRef { null: true },
    }
}

/// Hash of lucet's exported memories and globals.
pub fn lucet_state(l: &mut Lucet, exports: &Exports) -> u64 {
    let mut h = StateHash::default();
    for m in &exports.memories {
        h.write(l.memory(m));
    }
    for g in &exports.globals {
        match l.global(g) {
            Some(v) => v.hash_into(&mut h),
            None => h.write(b"missing"),
        }
    }
    h.0
}

/// Hash of the oracle's exported memories and globals.
pub fn oracle_state(o: &Oracle, exports: &Exports) -> u64 {
    let mut h = StateHash::default();
    for m in &exports.memories {
        h.write(o.memory(m));
    }
    for g in &exports.globals {
        match o.global(g) {
            Some(v) => v.hash_into(&mut h),
            None => h.write(b"missing"),
        }
    }
    h.0
}

/// Rounds of calls: every exported function, in export order, this many
/// times, so later calls see the state earlier ones left.
pub const ROUNDS: usize = 3;

/// One call of a case.
#[derive(Clone, Debug)]
pub struct Call {
    /// Which round.
    pub round: usize,
    /// Export name.
    pub name: String,
    /// Arguments.
    pub args: Vec<Value>,
}

/// The compile options and the calls of case `seed`, given its module's
/// exports: the same for every engine that replays the case.
pub fn plan(seed: u64, exports: &Exports) -> (Choice, Vec<Call>) {
    let mut rng = Rng::new(seed ^ 0x005e_ed0f_ca11);
    let choice = Choice::draw(&mut rng);
    let mut calls = Vec::new();
    for round in 0..ROUNDS {
        for (name, params) in &exports.funcs {
            let args = params.iter().map(|t| arg(&mut rng, t)).collect();
            calls.push(Call {
                round,
                name: name.clone(),
                args,
            });
        }
    }
    (choice, calls)
}

/// How a pair of outcomes compares.
enum Verdict {
    Agree,
    Stack(&'static str),
    Diverge,
}

fn judge(lucet: &Outcome, oracle: &Outcome) -> Verdict {
    let so = |o: &Outcome| matches!(o, Outcome::Trap(TrapKind::StackOverflow));
    match (so(lucet), so(oracle)) {
        (true, true) => Verdict::Stack("both"),
        (true, false) => Verdict::Stack("lucet"),
        (false, true) => Verdict::Stack("oracle"),
        _ if lucet == oracle && !matches!(lucet, Outcome::Error(_)) => Verdict::Agree,
        _ => Verdict::Diverge,
    }
}

/// Run the case of `seed`, adding to `stats`.
pub fn run_case(seed: u64, stats: &mut DiffStats) {
    let Some(wasm) = generate::module(seed) else {
        stats.skipped += 1;
        return;
    };
    let (mut oracle, exports, oracle_start) = match Oracle::instantiate(&wasm) {
        Ok((o, e)) => (Some(o), e, Outcome::Returned(vec![])),
        Err(None) => {
            stats.skipped += 1;
            return;
        }
        // Exports are only needed when instantiation succeeds.
        Err(Some(outcome)) => (None, Exports::default(), outcome),
    };
    stats.modules += 1;
    let (choice, calls) = plan(seed, &exports);
    let mut log = vec![format!("options {choice:?}")];
    let finding = |kind: &str, detail: String, log: &[String]| Finding {
        target: "diff",
        seed,
        kind: kind.to_string(),
        detail,
        log: log.join("\n"),
        input: wasm.clone(),
    };
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<(), Finding> {
        let so = lucet::compile(&wasm, &choice.options())
            .map_err(|e| finding("lucetc rejected a valid module", e.to_string(), &log))?;
        // SAFETY: lucetc just wrote this object into a directory of its own.
        let module = unsafe { lucet::load(&so.path) }
            .map_err(|e| finding("load failed", e.to_string(), &log))?;
        let mut lucet = match Lucet::instantiate(&module, choice.limits()) {
            Ok(l) => Some(l),
            Err(o) => {
                log.push(format!("instantiate: lucet {o}, oracle {oracle_start}"));
                match judge(&o, &oracle_start) {
                    Verdict::Agree => {}
                    Verdict::Stack(who) => return Err(finding("stack", who.into(), &log)),
                    Verdict::Diverge => {
                        return Err(finding(
                            "instantiation diverged",
                            format!("lucet {o}, oracle {oracle_start}"),
                            &log,
                        ))
                    }
                }
                None
            }
        };
        stats.calls_agreed += 1;
        let (Some(l), Some(o)) = (lucet.as_mut(), oracle.as_mut()) else {
            if lucet.is_some() {
                return Err(finding(
                    "instantiation diverged",
                    format!("lucet ok, oracle {oracle_start}"),
                    &log,
                ));
            }
            return Ok(());
        };
        for Call { round, name, args } in &calls {
            if exports.refuel {
                let (lf, of) = (l.call(generate::REFUEL, &[]), o.call(generate::REFUEL, &[]));
                if lf != of || lf != Outcome::Returned(vec![]) {
                    return Err(finding(
                        "refuel failed",
                        format!("lucet {lf}, oracle {of}"),
                        &log,
                    ));
                }
            }
            let lo = l.call(name, args);
            let oo = o.call(name, args);
            log.push(format!("call {name} {args:?}: lucet {lo}, oracle {oo}"));
            match judge(&lo, &oo) {
                Verdict::Agree => {
                    stats.calls_agreed += 1;
                    if let Outcome::Trap(t) = &lo {
                        stats.traps_agreed += 1;
                        *stats.trap_kinds.entry(format!("{t:?}")).or_default() += 1;
                    }
                }
                Verdict::Stack(who) => return Err(finding("stack", who.into(), &log)),
                Verdict::Diverge => {
                    return Err(finding(
                        "result diverged",
                        format!("round {round}, {name}: lucet {lo}, oracle {oo}"),
                        &log,
                    ))
                }
            }
            let (ls, os) = (lucet_state(l, &exports), oracle_state(o, &exports));
            if ls != os {
                return Err(finding(
                    "state diverged",
                    format!("after round {round}, {name}: memory/globals hash {ls:#x} vs {os:#x}"),
                    &log,
                ));
            }
        }
        Ok(())
    }));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(f)) if f.kind == "stack" => match f.detail.as_str() {
            "lucet" => stats.lucet_stack_exhausted += 1,
            "oracle" => stats.oracle_stack_exhausted += 1,
            _ => stats.both_stack_exhausted += 1,
        },
        Ok(Err(f)) => stats.add(f),
        Err(panic) => stats.add(finding("panic", crate::panic_message(&panic), &log)),
    }
}
