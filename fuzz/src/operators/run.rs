//! Running a family: compile its module with lucetc (finding, if lucetc
//! refuses it, which operators it refuses), instantiate it in lucet and in
//! the oracle, call every operator with its inputs in both, and compare.

use super::{export, inputs::inputs, module, Cmp, Family, Op, Setup};
use crate::lucet::{self, Lucet, SharedObject};
use crate::oracle::{Exports, Oracle};
use crate::outcome::{Outcome, StateHash, Value};
use crate::panic_message;
use crate::rng::Rng;
use lucet_runtime::Module;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// One call (or compilation) on which the engines disagreed.
#[derive(Clone, Debug)]
pub struct Disagreement {
    /// The operator.
    pub op: String,
    /// Its arguments.
    pub inputs: Vec<Value>,
    /// What lucet did.
    pub lucet: String,
    /// What the oracle did.
    pub oracle: String,
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args: Vec<String> = self.inputs.iter().map(show).collect();
        write!(
            f,
            "{}({}): lucet {}; oracle {}",
            self.op,
            args.join(", "),
            self.lucet,
            self.oracle
        )
    }
}

/// A value as a disagreement shows it: bits in hex, floats also as
/// numbers.
pub fn show(v: &Value) -> String {
    match *v {
        Value::I32(x) => format!("i32 {x:#x}"),
        Value::I64(x) => format!("i64 {x:#x}"),
        Value::F32(x) => format!("f32 {x:#x} ({:e})", f32::from_bits(x)),
        Value::F64(x) => format!("f64 {x:#x} ({:e})", f64::from_bits(x)),
        Value::V128(x) => format!("v128 {x:#034x}"),
        Value::FuncRef { null } => format!("funcref {}", if null { "null" } else { "non-null" }),
        Value::ExternRef { null } => {
            format!("externref {}", if null { "null" } else { "non-null" })
        }
        Value::ExnRef { null } => format!("exnref {}", if null { "null" } else { "non-null" }),
    }
}

fn show_outcome(o: &Outcome) -> String {
    match o {
        Outcome::Returned(v) => {
            let v: Vec<String> = v.iter().map(show).collect();
            format!("returned [{}]", v.join(", "))
        }
        Outcome::Trap(t) => format!("trapped {t:?}"),
        Outcome::Exception => "threw an uncaught exception".to_string(),
        Outcome::Error(e) => format!("failed: {e}"),
    }
}

/// What running one family found.
#[derive(Clone, Debug, Default)]
pub struct FamilyReport {
    /// The family.
    pub family: String,
    /// Its setup's label.
    pub setup: String,
    /// Operators run.
    pub ops: usize,
    /// Calls on which both engines agreed.
    pub calls: u64,
    /// Of those, calls that trapped (in the same way).
    pub traps: u64,
    /// Disagreements: the first few of each operator.
    pub disagreements: Vec<Disagreement>,
    /// Every operator that disagreed, with how many times.
    pub disagreed: BTreeMap<String, u64>,
    /// The module's text.
    pub wat: String,
}

impl FamilyReport {
    /// One line of figures.
    pub fn summary(&self) -> String {
        format!(
            "{} [{}]: {} operators, {} calls agreed ({} traps), {} operators disagreed",
            self.family,
            self.setup,
            self.ops,
            self.calls,
            self.traps,
            self.disagreed.len()
        )
    }

    fn add(&mut self, d: Disagreement) {
        let n = self.disagreed.entry(d.op.clone()).or_default();
        *n += 1;
        // A broken operator usually breaks on many inputs: a few say it.
        if *n <= 3 {
            self.disagreements.push(d);
        }
    }
}

fn compile(wasm: &[u8], setup: &Setup) -> Result<SharedObject, String> {
    match catch_unwind(|| lucet::compile(wasm, &setup.options)) {
        Ok(Ok(so)) => Ok(so),
        Ok(Err(e)) => Err(e.to_string()),
        Err(p) => Err(format!("panicked: {}", panic_message(&p))),
    }
}

/// Both engines' instances of one module.
struct Pair {
    module: Arc<Module>,
    wasm: Vec<u8>,
    lucet: Lucet,
    oracle: Oracle,
    exports: Exports,
}

impl Pair {
    fn new(so: &SharedObject, wasm: Vec<u8>, setup: &Setup) -> Result<Pair, String> {
        // SAFETY: lucetc just wrote this object into a directory of its own.
        let module = unsafe { lucet::load(&so.path) }.map_err(|e| format!("load: {e}"))?;
        Pair::instantiate(module, wasm, setup)
    }

    fn instantiate(module: Arc<Module>, wasm: Vec<u8>, setup: &Setup) -> Result<Pair, String> {
        let lucet = Lucet::instantiate(&module, setup.limits)
            .map_err(|o| format!("lucet instantiation {o}"))?;
        let (oracle, exports) =
            Oracle::instantiate(&wasm).map_err(|o| format!("oracle instantiation {o:?}"))?;
        Ok(Pair {
            module,
            wasm,
            lucet,
            oracle,
            exports,
        })
    }

    /// A fresh instance in each engine, after a disagreement left their
    /// states apart.
    fn reset(self, setup: &Setup) -> Result<Pair, String> {
        Pair::instantiate(self.module, self.wasm, setup)
    }

    /// How the engines' memories and exported globals differ, if they do.
    fn state_difference(&mut self) -> Option<String> {
        let mut diffs = Vec::new();
        for name in &self.exports.memories {
            let (l, o) = (self.lucet.memory(name), self.oracle.memory(name));
            if l != o {
                diffs.push(memory_difference(l, o));
            }
        }
        for g in &self.exports.globals {
            let (l, o) = (self.lucet.global(g), self.oracle.global(g));
            if l != o {
                let show = |v: Option<Value>| v.as_ref().map_or("missing".into(), show);
                diffs.push(format!("global {g}: lucet {}, oracle {}", show(l), show(o)));
            }
        }
        (!diffs.is_empty()).then(|| diffs.join("; "))
    }
}

fn memory_difference(l: &[u8], o: &[u8]) -> String {
    if l.len() != o.len() {
        return format!(
            "memory is {} bytes in lucet, {} in the oracle",
            l.len(),
            o.len()
        );
    }
    let first = l.iter().zip(o).position(|(a, b)| a != b).unwrap_or(0);
    let last = l.iter().zip(o).rposition(|(a, b)| a != b).unwrap_or(0);
    let end = (last + 1).min(first + 16);
    format!(
        "memory differs in {first:#x}..={last:#x}: from {first:#x} lucet {:02x?}, oracle {:02x?}",
        &l[first..end],
        &o[first..end]
    )
}

/// NaN lanes of float-lane results, made canonical.
fn normalise(o: Outcome, cmp: Cmp) -> Outcome {
    let canon = |x: u128| -> u128 {
        let mut out = 0u128;
        match cmp {
            Cmp::F32Lanes => {
                for i in 0..4 {
                    let lane = (x >> (32 * i)) as u32;
                    let lane = if f32::from_bits(lane).is_nan() {
                        0x7fc0_0000
                    } else {
                        lane
                    };
                    out |= (lane as u128) << (32 * i);
                }
            }
            Cmp::F64Lanes => {
                for i in 0..2 {
                    let lane = (x >> (64 * i)) as u64;
                    let lane = if f64::from_bits(lane).is_nan() {
                        0x7ff8_0000_0000_0000
                    } else {
                        lane
                    };
                    out |= (lane as u128) << (64 * i);
                }
            }
            Cmp::Exact => out = x,
        }
        out
    };
    match o {
        Outcome::Returned(v) if cmp != Cmp::Exact => Outcome::Returned(
            v.into_iter()
                .map(|v| match v {
                    Value::V128(x) => Value::V128(canon(x)),
                    v => v,
                })
                .collect(),
        ),
        o => o,
    }
}

/// A stable hash of a family's and an operator's names: each operator's
/// inputs depend only on the seed and these, not on the catalog's order.
fn name_seed(family: &str, op: &str) -> u64 {
    let mut h = StateHash::default();
    h.write(family.as_bytes());
    h.write(&[0]);
    h.write(op.as_bytes());
    h.0
}

/// Compile `family` (leaving out operators lucetc refuses, each reported),
/// run each operator on `per_op` inputs drawn from `seed` in lucet and
/// in the oracle, and report.
pub fn run_family(family: &Family, setup: &Setup, seed: u64, per_op: usize) -> FamilyReport {
    let mut report = FamilyReport {
        family: family.name.clone(),
        setup: setup.label.clone(),
        ..FamilyReport::default()
    };
    let whole = family.wat(|_| true);
    let whole_wasm = module(family, |_| true);
    let (so, wasm, refused) = match compile(&whole_wasm, setup) {
        Ok(so) => (so, whole_wasm, BTreeMap::new()),
        Err(whole_error) => {
            // Which operators alone does lucetc refuse?
            let refused: BTreeMap<usize, String> = (0..family.ops.len())
                .filter_map(|i| {
                    let one = module(family, |j| j == i);
                    compile(&one, setup).err().map(|e| (i, e))
                })
                .collect();
            for (&i, e) in &refused {
                report.add(Disagreement {
                    op: family.ops[i].name.clone(),
                    inputs: vec![],
                    lucet: format!("did not compile: {e}"),
                    oracle: "validates it".into(),
                });
            }
            let wasm = module(family, |i| !refused.contains_key(&i));
            match compile(&wasm, setup) {
                Ok(so) => (so, wasm, refused),
                Err(e) => {
                    report.add(Disagreement {
                        op: format!("(the {} module)", family.name),
                        inputs: vec![],
                        lucet: format!(
                            "did not compile: {whole_error}; without the operators it refuses: {e}"
                        ),
                        oracle: "validates it".into(),
                    });
                    report.wat = whole;
                    return report;
                }
            }
        }
    };
    report.wat = whole;
    let mut pair = match Pair::new(&so, wasm, setup) {
        Ok(p) => p,
        Err(e) => {
            report.add(Disagreement {
                op: format!("(the {} module)", family.name),
                inputs: vec![],
                lucet: e,
                oracle: "-".into(),
            });
            return report;
        }
    };
    for (i, op) in family.ops.iter().enumerate() {
        if refused.contains_key(&i) {
            continue;
        }
        report.ops += 1;
        let mut rng = Rng::new(seed ^ name_seed(&family.name, &op.name));
        for args in inputs(&op.params, &mut rng, per_op) {
            match call(&mut pair, &export(i), op, &args) {
                Ok(trapped) => {
                    report.calls += 1;
                    report.traps += trapped as u64;
                }
                Err((lucet, oracle)) => {
                    report.add(Disagreement {
                        op: op.name.clone(),
                        inputs: args,
                        lucet,
                        oracle,
                    });
                    // Start again from the module's initial state, so
                    // later operators are not blamed for this one.
                    pair = match pair.reset(setup) {
                        Ok(p) => p,
                        Err(e) => {
                            report.add(Disagreement {
                                op: format!("(the {} module, again)", family.name),
                                inputs: vec![],
                                lucet: e,
                                oracle: "-".into(),
                            });
                            return report;
                        }
                    };
                }
            }
        }
    }
    report
}

/// One call in both engines: whether it trapped, or what each did.
fn call(pair: &mut Pair, name: &str, op: &Op, args: &[Value]) -> Result<bool, (String, String)> {
    let lucet = catch_unwind(AssertUnwindSafe(|| pair.lucet.call(name, args)))
        .unwrap_or_else(|p| Outcome::Error(format!("panicked: {}", panic_message(&p))));
    let oracle = pair.oracle.call(name, args);
    let (lucet, oracle) = (normalise(lucet, op.cmp), normalise(oracle, op.cmp));
    let agree = lucet == oracle && !matches!(lucet, Outcome::Error(_));
    let state = pair.state_difference();
    if agree && state.is_none() {
        return Ok(matches!(lucet, Outcome::Trap(_)));
    }
    let (mut l, o) = (show_outcome(&lucet), show_outcome(&oracle));
    if let Some(s) = state {
        l.push_str(&format!(", and then {s}"));
    }
    Err((l, o))
}
