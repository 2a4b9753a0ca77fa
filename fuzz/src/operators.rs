//! Per-operator differential tests: every WebAssembly 2.0 operator (and
//! the tail calls and relaxed SIMD lucetc also claims; relaxed SIMD
//! compiled in deterministic mode, whose answers are wasmi's), applied
//! alone to generated inputs,
//! run in lucet and in the oracle.
//!
//! The spec suite and the `diff` target test translation end to end, so a
//! broken lowering shows up as some test or some generated module failing,
//! and finding the operator behind it is work. Here each exported function
//! applies one operator (in one shape: one lane index, one static offset,
//! one constant operand) to its parameters, so a disagreement names the
//! operator, its inputs and both outcomes.
//!
//! The catalog is a list of [`Family`]s (i32 arithmetic, f64 comparison,
//! i8x16 shuffles, memory stores, tables, ...). A family is one module with
//! one export per operator, so lucetc compiles a few dozen modules, not a
//! thousand. Inputs come from the seeded [`Rng`](crate::rng::Rng), biased
//! toward each type's edge cases ([`inputs`]); [`run`] compiles a family,
//! calls every operator on both engines and compares.
//!
//! Comparison follows [`crate::outcome`]: values bit for bit, except that
//! any NaN equals any NaN (WebAssembly leaves NaN results' sign and
//! payload open). Operators whose NaN bits are defined (`neg`, `abs`,
//! `copysign`, loads, stores, `select`, reinterpretations, lane moves)
//! return their float results reinterpreted as integers, so they are
//! compared exactly; `v128` results of float-lane arithmetic compare NaN
//! lanes as any NaN ([`Cmp`]). Traps must match in kind. Families that
//! touch memory or globals also compare the whole memory and every
//! exported global after every call.

mod campaign;
mod control;
mod floats;
pub mod inputs;
mod memory;
pub mod run;
mod scalar;
mod setup;
mod simd;
mod simd_memory;
mod state;

pub use campaign::{run_case, OpStats, CAMPAIGN_INPUTS};
pub use inputs::{Gen, Lane};
pub use run::{run_family, show, Disagreement, FamilyReport};
pub use setup::{standard_runs, Setup};

/// A WebAssembly value type; its `Display` is the text-format name.
pub use lucet_module::ValType as Ty;

/// How an operator's results are compared, beyond [`crate::outcome`]'s
/// rule for scalar floats (any NaN equals any NaN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// Bit for bit.
    Exact,
    /// `v128` results are four `f32` lanes of arithmetic: NaN lanes equal
    /// any NaN.
    F32Lanes,
    /// `v128` results are two `f64` lanes of arithmetic.
    F64Lanes,
}

/// One operator, in one shape, as one exported function.
#[derive(Clone, Debug)]
pub struct Op {
    /// What a disagreement calls it: the operator and its shape
    /// (`i32.load8_s offset=7`, `i8x16.extract_lane_u 15`,
    /// `i32.div_u x, 7`).
    pub name: String,
    /// Its parameters: type and how inputs are drawn.
    pub params: Vec<Gen>,
    /// Its result types.
    pub results: Vec<Ty>,
    /// The function body (text format; parameters are locals 0..).
    pub body: String,
    /// How results compare.
    pub cmp: Cmp,
}

impl Op {
    /// An operator compared bit for bit (floats: any NaN equal).
    pub fn new(name: impl Into<String>, params: &[Gen], results: &[Ty], body: &str) -> Op {
        Op {
            name: name.into(),
            params: params.to_vec(),
            results: results.to_vec(),
            body: body.to_string(),
            cmp: Cmp::Exact,
        }
    }

    /// The same, comparing `v128` results as `cmp` says.
    pub fn cmp(mut self, cmp: Cmp) -> Op {
        self.cmp = cmp;
        self
    }

    /// `op` applied to its parameters in order: `local.get 0 ... op`.
    pub fn apply(name: &str, params: &[Gen], result: Ty) -> Op {
        Op::new(name, params, &[result], &apply(params.len(), name))
    }
}

/// `local.get 0 ... local.get n-1 op`.
pub fn apply(n: usize, op: &str) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!("local.get {i} "));
    }
    s.push_str(op);
    s
}

/// One module's worth of operators.
#[derive(Clone, Debug)]
pub struct Family {
    /// The family's name (`i32 arithmetic`).
    pub name: String,
    /// Module fields the operators use: memory, tables, globals, types,
    /// helper functions, segments.
    pub prelude: String,
    /// The operators, each exported as `op{index}`.
    pub ops: Vec<Op>,
    /// Whether the module has a memory (exported as `mem`): then it is
    /// compared after every call, and the family is also run with explicit
    /// bounds checks (no guard region), a lowering of its own.
    pub memory: bool,
}

impl Family {
    /// A family without memory.
    pub fn new(name: impl Into<String>, ops: Vec<Op>) -> Family {
        Family {
            name: name.into(),
            prelude: String::new(),
            ops,
            memory: false,
        }
    }

    /// The module's text, with the operators whose indices `keep` allows.
    pub fn wat(&self, keep: impl Fn(usize) -> bool) -> String {
        let mut s = format!("(module\n{}\n", self.prelude);
        for (i, op) in self.ops.iter().enumerate().filter(|(i, _)| keep(*i)) {
            s.push_str(&format!("(func (export \"{}\")", export(i)));
            for p in &op.params {
                s.push_str(&format!(" (param {})", p.ty()));
            }
            for r in &op.results {
                s.push_str(&format!(" (result {})", r));
            }
            s.push_str(&format!("\n  {})\n", op.body));
        }
        s.push(')');
        s
    }
}

/// The binary module of `family` with the operators `keep` allows,
/// validated as WebAssembly 2.0 with tail calls, extended constants and
/// relaxed SIMD (what lucetc claims). The catalog is ours: a module that does not
/// parse or validate is a bug of the harness, so it panics.
pub fn module(family: &Family, keep: impl Fn(usize) -> bool) -> Vec<u8> {
    use wasmparser::{Validator, WasmFeatures};
    let wat = family.wat(keep);
    let wasm =
        wat::parse_str(&wat).unwrap_or_else(|e| panic!("family {}: {e}\n{wat}", family.name));
    let features = WasmFeatures::WASM2
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::EXTENDED_CONST
        | WasmFeatures::RELAXED_SIMD
        | WasmFeatures::MEMORY64;
    if let Err(e) = Validator::new_with_features(features).validate_all(&wasm) {
        panic!("family {}: invalid module: {e}\n{wat}", family.name);
    }
    wasm
}

/// The export name of operator `index` of a family.
pub fn export(index: usize) -> String {
    format!("op{index}")
}

/// The whole catalog.
pub fn families() -> Vec<Family> {
    let mut f = Vec::new();
    f.extend(scalar::families());
    f.extend(control::families());
    f.extend(state::families());
    f.extend(memory::families());
    f.extend(simd::families());
    f.extend(simd_memory::families());
    f
}

/// Operators lucetc claims (WebAssembly 2.0, tail calls, relaxed SIMD)
/// that no family's module contains, by wasmparser's name: what the
/// catalog misses.
pub fn uncovered(families: &[Family]) -> Vec<&'static str> {
    let mut seen = std::collections::BTreeSet::new();
    for f in families {
        let wasm = module(f, |_| true);
        for payload in wasmparser::Parser::new(0).parse_all(&wasm) {
            let Ok(wasmparser::Payload::CodeSectionEntry(body)) = payload else {
                continue;
            };
            let mut ops = body.get_operators_reader().expect("operators");
            while !ops.eof() {
                let op = format!("{:?}", ops.read().expect("operator"));
                let name: String = op.chars().take_while(|c| c.is_alphanumeric()).collect();
                seen.insert(name);
            }
        }
    }
    claimed_operators()
        .into_iter()
        .filter(|op| !seen.contains(*op))
        .collect()
}

/// wasmparser's names of the operators of the proposals WebAssembly 2.0
/// merged (sign extension, saturating conversions, bulk memory, reference
/// types, SIMD), plus tail calls and relaxed SIMD. `TypedSelectMulti` is
/// left out: it parses but never validates.
fn claimed_operators() -> Vec<&'static str> {
    macro_rules! names {
        ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {{
            let mut v = Vec::new();
            $(
                if names!(wanted @$proposal) && stringify!($op) != "TypedSelectMulti" {
                    v.push(stringify!($op));
                }
            )*
            v
        }};
        (wanted @mvp) => { true };
        (wanted @sign_extension) => { true };
        (wanted @saturating_float_to_int) => { true };
        (wanted @bulk_memory) => { true };
        (wanted @reference_types) => { true };
        (wanted @simd) => { true };
        (wanted @tail_call) => { true };
        (wanted @relaxed_simd) => { true };
        (wanted @$other:ident) => { false };
    }
    wasmparser::for_each_operator!(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list `uncovered` checks against is what lucetc claims, not
    /// empty (which would make any catalog pass) nor more.
    #[test]
    fn the_operator_list_is_what_lucetc_claims() {
        let ops = claimed_operators();
        for op in [
            "I32Add",
            "I8x16Popcnt",
            "MemoryFill",
            "TableGrow",
            "ReturnCall",
            "I8x16RelaxedSwizzle",
        ] {
            assert!(ops.contains(&op), "{op}");
        }
        for op in ["I32AtomicLoad", "StructNew", "TypedSelectMulti"] {
            assert!(!ops.contains(&op), "{op}");
        }
        assert!(ops.len() > 430, "{}", ops.len());
    }
}
