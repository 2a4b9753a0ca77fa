//! Generated-input testing for lucet, in five targets:
//!
//! - [`diff`]: differential execution. wasm-smith generates valid modules
//!   (WebAssembly 2.0 with SIMD, tail calls, extended-const; terminating,
//!   NaNs canonical); lucetc compiles each with randomly drawn options;
//!   lucet-runtime and the wasmi interpreter call every export in one
//!   instance in sequence, and results, trap kinds and a hash of memory
//!   and globals after each call must agree.
//! - [`robust`]: lucetc on arbitrary bytes and mutations of valid modules
//!   compiles or refuses with a one-line error, leaving nothing behind.
//! - [`module_data`]: `ModuleData::deserialize` + `validate` on arbitrary
//!   bytes and mutations of real module data never panics, and what it
//!   accepts instantiates without panicking.
//! - [`slots`]: isolation. Random histories of instances of generated
//!   modules in one region's slots, alone and in stores importing each
//!   other's memories, tables, globals and functions, failing to
//!   instantiate at every point, writing canaries and wild writes aimed at
//!   the next slot; every instance's state must stay what a model says.
//! - [`operators`]: translation, operator by operator. Each WebAssembly
//!   2.0 operator (every shape: widths, signs, lanes, offsets, constant
//!   operands) applied alone to edge-biased inputs in lucet and in wasmi,
//!   one module per operator family; a disagreement names the operator.
//!
//! [`typed_refs`] generates modules with typed function references (which
//! wasm-smith makes only with GC, and wasmi lacks); `fuzz/triage
//! --typed-refs` compares lucet with Wasmtime on them.
//!
//! Each case is a pure function of its seed, so a finding is reproduced by
//! its seed alone. `tests/bounded.rs` runs a fixed range of seeds of each
//! target under `cargo test`, and `tests/operators.rs` the whole operator
//! catalog with a fixed seed; the `lucet-fuzz` binary runs open-ended
//! campaigns (see the README).

pub mod diff;

/// The interpreter the differential target compares with, whose types
/// [`oracle::Exports`] speaks (for `fuzz/triage`).
pub use wasmi;
pub mod generate;
pub mod lucet;
pub mod module_data;
pub mod mutate;
pub mod operators;
pub mod oracle;
pub mod outcome;
pub mod rng;
pub mod robust;
pub mod slots;
pub mod typed_refs;

use std::path::{Path, PathBuf};

/// Something a campaign found: a divergence, a crash, a contract broken.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Which target.
    pub target: &'static str,
    /// The case's seed (reproduces it).
    pub seed: u64,
    /// What kind of finding.
    pub kind: String,
    /// Details.
    pub detail: String,
    /// The case's log: options, calls and outcomes, or the mutation.
    pub log: String,
    /// The input (a wasm module, or module data).
    pub input: Vec<u8>,
}

impl Finding {
    /// One line.
    pub fn summary(&self) -> String {
        format!(
            "{} seed {}: {}: {}",
            self.target, self.seed, self.kind, self.detail
        )
    }

    /// Write the input and a description to `dir`, named by target and
    /// seed; returns the input's path.
    pub fn save(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let ext = match self.target {
            "module-data" => "bin",
            "slots" | "operators" => "wat",
            _ => "wasm",
        };
        let stem = format!("{}-{}", self.target, self.seed);
        let path = dir.join(format!("{stem}.{ext}"));
        std::fs::write(&path, &self.input)?;
        std::fs::write(
            dir.join(format!("{stem}.txt")),
            format!("{}\n\n{}\n", self.summary(), self.log),
        )?;
        Ok(path)
    }
}

/// The message of a caught panic.
pub fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".into()
    }
}

/// The `lucetc` binary of this build, if it was built: next to the
/// running executable (campaign) or one directory up (test harness).
pub fn lucetc_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LUCETC") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join("lucetc"), dir.parent()?.join("lucetc")]
        .into_iter()
        .find(|p| p.is_file())
}

/// Valid wasm modules to mutate besides generated ones: the repository's
/// `.wat` fixtures.
pub fn fixture_modules() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/wat");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wat"))
        .filter_map(|p| wat::parse_file(p).ok())
        .collect()
}
