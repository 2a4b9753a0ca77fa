//! Compiler options.

use crate::Error;
use cranelift_codegen::isa::{self, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use lucet_module::{CompileOptions, FuncType, ImportKind, ModuleData};
use std::str::FromStr;

/// What to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Emit {
    /// A shared object the runtime can load (the default).
    #[default]
    SharedObject,
    /// The relocatable object, before linking.
    Object,
}

/// Cranelift optimization level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OptLevel {
    /// No optimization: fastest compile.
    None,
    /// Optimize for speed (the default).
    #[default]
    Speed,
    /// Optimize for speed and size.
    SpeedAndSize,
}

impl FromStr for OptLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" | "0" => Ok(OptLevel::None),
            "speed" | "2" => Ok(OptLevel::Speed),
            "speed_and_size" | "s" => Ok(OptLevel::SpeedAndSize),
            _ => Err(format!(
                "unknown optimization level {s:?} (none, speed, speed_and_size)"
            )),
        }
    }
}

/// Which CPU to generate code for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TargetCpu {
    /// Every feature of the CPU compiling (the runtime checks the CPU
    /// running has them too).
    Native,
    /// x86-64-v2 (SSE4.2, POPCNT): any x86-64 server CPU of the last 15
    /// years. The default, so objects move between machines.
    #[default]
    Baseline,
}

impl FromStr for TargetCpu {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" => Ok(TargetCpu::Native),
            "baseline" => Ok(TargetCpu::Baseline),
            _ => Err(format!("unknown target cpu {s:?} (native, baseline)")),
        }
    }
}

/// A function a module may import, with its required signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedImport {
    /// Import module name.
    pub module: String,
    /// Import field name.
    pub field: String,
    /// Required signature.
    pub ty: FuncType,
}

impl AllowedImport {
    /// Every `wasi_snapshot_preview1` function with its signature
    /// ([`lucet_module::wasi_preview1`]): what `lucetc-wasi` allows, and
    /// exactly what `lucet-wasi` provides.
    pub fn wasi_preview1() -> Vec<AllowedImport> {
        use lucet_module::wasi_preview1::{FUNCTIONS, MODULE};
        FUNCTIONS
            .iter()
            .map(|f| AllowedImport {
                module: MODULE.to_string(),
                field: f.name.to_string(),
                ty: f.ty(),
            })
            .collect()
    }
}

/// Options for [`compile`](crate::compile).
#[derive(Clone, Debug)]
pub struct Options {
    /// Optimization level.
    pub opt_level: OptLevel,
    /// Target CPU.
    pub target_cpu: TargetCpu,
    /// Bytes of heap address space to assume reserved (at least 4 GiB).
    pub heap_reserved_size: u64,
    /// Bytes of guard to assume beyond the reservation; accesses whose
    /// static offset exceeds it get an explicit bounds check.
    pub heap_guard_size: u64,
    /// Emit checks of the interrupt flag at function entries and loops.
    pub interruptible: bool,
    /// Count executed wasm instructions in the run's limits, and stop the
    /// run when the embedder's budget is exceeded.
    pub count_instructions: bool,
    /// Clamp addresses after explicit bounds checks with conditional moves
    /// (table indices; heap accesses beyond the guard), so speculation
    /// cannot read past a bound. On by default, as in Wasmtime.
    pub spectre_guards: bool,
    /// Lower relaxed SIMD operators to one fixed answer each, the same on
    /// every CPU and for every target (Wasmtime's
    /// `relaxed_simd_deterministic`), instead of the native instruction
    /// each was designed around. Off by default.
    pub relaxed_simd_deterministic: bool,
    /// What to write.
    pub emit: Emit,
    /// Worker threads for compilation (`None`: all cores).
    pub threads: Option<usize>,
    /// If set, the only functions the module may import; it may import
    /// nothing else.
    pub allowed_imports: Option<Vec<AllowedImport>>,
}

impl Default for Options {
    fn default() -> Self {
        let c = CompileOptions::default();
        Options {
            opt_level: OptLevel::default(),
            target_cpu: TargetCpu::default(),
            heap_reserved_size: c.heap_reserved_size,
            heap_guard_size: c.heap_guard_size,
            interruptible: c.interruptible,
            count_instructions: c.count_instructions,
            spectre_guards: c.spectre_guards,
            relaxed_simd_deterministic: false,
            emit: Emit::default(),
            threads: None,
            allowed_imports: None,
        }
    }
}

const BASELINE_FEATURES: [&str; 5] = [
    "has_sse3",
    "has_ssse3",
    "has_sse41",
    "has_sse42",
    "has_popcnt",
];

impl Options {
    pub(crate) fn compile_options(&self) -> CompileOptions {
        CompileOptions {
            heap_reserved_size: self.heap_reserved_size,
            heap_guard_size: self.heap_guard_size,
            interruptible: self.interruptible,
            count_instructions: self.count_instructions,
            spectre_guards: self.spectre_guards,
            ..CompileOptions::default()
        }
    }

    pub(crate) fn isa(&self) -> Result<OwnedTargetIsa, Error> {
        if self.heap_reserved_size < (4 << 30) {
            return Err(Error::Option(format!(
                "heap reservation of {} bytes is below the 4 GiB a 32-bit memory needs",
                self.heap_reserved_size
            )));
        }
        if !self.heap_guard_size.is_multiple_of(4096)
            || !self.heap_reserved_size.is_multiple_of(4096)
        {
            return Err(Error::Option(
                "heap sizes must be multiples of 4 KiB".into(),
            ));
        }
        let mut flags = settings::builder();
        let set = |f: &mut settings::Builder, k: &str, v: &str| {
            f.set(k, v)
                .map_err(|e| Error::Option(format!("cranelift setting {k}={v}: {e}")))
        };
        let level = match self.opt_level {
            OptLevel::None => "none",
            OptLevel::Speed => "speed",
            OptLevel::SpeedAndSize => "speed_and_size",
        };
        set(&mut flags, "opt_level", level)?;
        set(
            &mut flags,
            "enable_verifier",
            if cfg!(debug_assertions) {
                "true"
            } else {
                "false"
            },
        )?;
        set(&mut flags, "is_pic", "true")?;
        set(&mut flags, "enable_probestack", "true")?;
        set(&mut flags, "probestack_strategy", "inline")?;
        set(&mut flags, "unwind_info", "false")?;
        // Functions with more results than return registers return the
        // rest through a hidden pointer to a caller-made area (Cranelift
        // refuses such signatures otherwise); wasm multi-value allows any
        // number of results.
        set(&mut flags, "enable_multi_ret_implicit_sret", "true")?;
        // Cranelift's tail calls rely on frame pointers.
        set(&mut flags, "preserve_frame_pointers", "true")?;
        let builder = match self.target_cpu {
            TargetCpu::Native => cranelift_native::builder()
                .map_err(|e| Error::Option(format!("native target: {e}")))?,
            TargetCpu::Baseline => {
                let mut b = isa::lookup(target_lexicon::Triple::host())
                    .map_err(|e| Error::Option(format!("target: {e}")))?;
                for f in BASELINE_FEATURES {
                    b.enable(f)
                        .map_err(|e| Error::Option(format!("cpu feature {f}: {e}")))?;
                }
                b
            }
        };
        if !cfg!(target_arch = "x86_64") {
            return Err(Error::Option("only x86-64 hosts are supported".into()));
        }
        builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| Error::Option(format!("target: {e}")))
    }

    pub(crate) fn thread_pool(&self) -> Result<rayon::ThreadPool, Error> {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(n) = self.threads {
            b = b.num_threads(n);
        }
        b.build()
            .map_err(|e| Error::Option(format!("thread pool: {e}")))
    }

    pub(crate) fn check_imports(&self, data: &ModuleData) -> Result<(), Error> {
        let Some(allowed) = &self.allowed_imports else {
            return Ok(());
        };
        for import in &data.imports {
            let refuse = |reason: String| Error::ImportNotAllowed {
                module: import.module.clone(),
                field: import.field.clone(),
                reason,
            };
            let ImportKind::Func(t) = import.kind else {
                return Err(refuse("only functions may be imported".into()));
            };
            let Some(a) = allowed
                .iter()
                .find(|a| a.module == import.module && a.field == import.field)
            else {
                return Err(refuse("no such function is provided".into()));
            };
            let actual = &data.types[t as usize];
            if *actual != a.ty {
                return Err(refuse(format!(
                    "signature {actual} does not match the provided {}",
                    a.ty
                )));
            }
        }
        Ok(())
    }
}

/// Names of the non-baseline CPU features the ISA uses.
pub(crate) fn enabled_cpu_features(isa: &dyn isa::TargetIsa) -> Vec<String> {
    isa.isa_flags()
        .iter()
        .filter(|f| f.name.starts_with("has_") && f.as_bool().unwrap_or(false))
        .map(|f| f.name.to_string())
        .collect()
}
