//! Running one guest, inside its container's process: find or compile the
//! module, give it the container's arguments, environment, root and
//! standard streams, run it within its limits, and turn the outcome into
//! the container's exit code.
//!
//! Exit codes: the guest's own when it exits (0 when its `_start`
//! returns); 1 when it traps or a limit stops it (as `lucet-wasi`); 126
//! when the shim refuses to run it (not loadable, not compilable, a `.so`
//! whose signature does not verify, bad limits); 127 when the entrypoint
//! does not exist; 128 + N when signal N stopped it. Every failure also
//! writes one line, `lucet: ...`, to the container's stderr.

use crate::cache::{self, CompileSettings, Lookup};
use crate::entrypoint::{self, EntrypointError, Kind};
use crate::host::Host;
use crate::limits::GuestLimits;
use crate::signals::{self, SignalStop};
use lucet_runtime::{Error, Instance, Limits, Linker, LoadOptions, Module, Region, Termination};
use lucet_wasi::WasiCtxBuilder;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The exit code of a guest that trapped or was stopped by a limit.
pub const EXIT_STOPPED: i32 = 1;
/// The exit code when the shim refuses to run the entrypoint.
pub const EXIT_REFUSED: i32 = 126;
/// The exit code when the entrypoint does not exist.
pub const EXIT_NOT_FOUND: i32 = 127;

/// Where the module comes from.
pub enum Source {
    /// A file in the container (its path inside).
    File(PathBuf),
    /// The bytes of an image's WebAssembly layer.
    Bytes(Vec<u8>),
}

/// One guest to run.
pub struct Request {
    /// The entrypoint as named in the spec (for messages).
    pub name: String,
    /// The module.
    pub source: Source,
    /// The exported function to call (`_start` for a command).
    pub func: String,
    /// The guest's arguments, `argv[0]` first.
    pub args: Vec<String>,
    /// The guest's environment.
    pub env: Vec<(String, String)>,
}

/// Why a guest did not run to its own exit.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The shim itself cannot run guests (configuration, signals).
    #[error("{0}")]
    Setup(String),
    /// The entrypoint is missing or of no kind the shim runs.
    #[error(transparent)]
    Entrypoint(#[from] EntrypointError),
    /// The module could not be compiled.
    #[error("{name}: {source}")]
    Compile {
        /// The entrypoint.
        name: String,
        /// Why.
        source: cache::CacheError,
    },
    /// A shared object could not be loaded (a bad signature among others);
    /// the runtime's message names the file.
    #[error("{0}")]
    Load(Error),
    /// The shim will not run this module.
    #[error("{name}: {message}")]
    Refused {
        /// The entrypoint.
        name: String,
        /// Why.
        message: String,
    },
    /// The guest trapped, failed in a host call or was stopped by a limit.
    #[error("{name}: {detail}")]
    Guest {
        /// The entrypoint.
        name: String,
        /// What happened.
        detail: String,
    },
    /// A signal stopped the guest.
    #[error("{name}: stopped by {}", signals::name(*.signal))]
    Signal {
        /// The entrypoint.
        name: String,
        /// The signal's number.
        signal: i32,
    },
}

impl RunError {
    /// The container's exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Entrypoint(EntrypointError::NotFound(_) | EntrypointError::Missing) => {
                EXIT_NOT_FOUND
            }
            RunError::Guest { .. } => EXIT_STOPPED,
            RunError::Signal { signal, .. } => 128 + signal,
            _ => EXIT_REFUSED,
        }
    }
}

/// Run `req` with the host state `host`: the guest's exit code, or why it
/// did not exit by itself.
pub fn run(host: &Host, req: Request) -> Result<i32, RunError> {
    // First, so that no signal is lost while compiling.
    let stop = SignalStop::install()
        .map_err(|e| RunError::Setup(format!("cannot handle signals: {e}")))?;
    make_dumpable()?;
    let limits = host.limits().map_err(RunError::Setup)?;
    let module = load(host, &req, &limits)?;
    let name = &req.name;

    if limits.instruction_budget.is_some() && !module.data().options.count_instructions {
        return Err(RunError::Refused {
            name: name.clone(),
            message: "an instruction budget (lucet.dev/instruction-budget) needs a module \
                      compiled with instruction counting (lucetc --count-instructions)"
                .into(),
        });
    }
    let Some(func_type) = module.export_func_type(&req.func) else {
        return Err(RunError::Refused {
            name: name.clone(),
            message: format!("the module exports no function {:?}", req.func),
        });
    };
    if !func_type.params.is_empty() {
        return Err(RunError::Refused {
            name: name.clone(),
            message: format!("{} takes parameters {func_type}", req.func),
        });
    }

    let ctx = WasiCtxBuilder::new()
        .args(&req.args)
        .envs(req.env.iter().map(|(k, v)| (k, v)))
        // The container's root (the image), as other shims give it.
        .preopened_dir("/", "/")
        .build()
        .map_err(|e| RunError::Refused {
            name: name.clone(),
            message: e.to_string(),
        })?;
    let mut linker = Linker::new();
    lucet_wasi::add_to_linker(&mut linker);
    let mut runtime_limits = Limits::default();
    if let Some(h) = limits.max_heap {
        runtime_limits.heap_memory_size = h;
    }
    let mut instance = Region::new(1, runtime_limits)
        .and_then(|region| region.instantiate_unstarted(&module, &linker))
        .map_err(|e| RunError::Refused {
            name: name.clone(),
            message: e.to_string(),
        })?;
    instance.set_context(ctx);
    stop.arm(instance.interrupt_handle());

    let outcome = run_steps(&mut instance, &module, &req.func, &limits, &stop);
    if let (Err(Error::Terminated(_)), Some(signal)) = (&outcome, stop.received()) {
        return Err(RunError::Signal {
            name: name.clone(),
            signal,
        });
    }
    match outcome {
        Ok(()) => Ok(0),
        Err(Error::Exit(code)) => Ok(code),
        Err(Error::Terminated(t)) => Err(RunError::Guest {
            name: name.clone(),
            detail: describe(t, &limits),
        }),
        Err(e) => Err(RunError::Guest {
            name: name.clone(),
            detail: e.to_string(),
        }),
    }
}

/// The kernel makes a process whose user changed (to the spec's
/// `process.user`) non-dumpable (prctl(2)), and the files of a
/// non-dumpable process's `/proc/self` belong to root: without root's
/// capabilities the runtime could not load modules through
/// `/proc/self/fd`. A native container's `execve` makes it dumpable again;
/// runwasi runs the guest without one, so do what it would.
fn make_dumpable() -> Result<(), RunError> {
    use rustix::process::{dumpable_behavior, set_dumpable_behavior, DumpableBehavior};
    if dumpable_behavior().ok() == Some(DumpableBehavior::Dumpable) {
        return Ok(());
    }
    set_dumpable_behavior(DumpableBehavior::Dumpable)
        .map_err(|e| RunError::Setup(format!("cannot make the process dumpable: {e}")))
}

/// The start function, a reactor's `_initialize` before another export,
/// then the export: one deadline, CPU-time limit and instruction budget
/// for all of them together, as `lucet-wasi` does.
fn run_steps(
    instance: &mut Instance,
    module: &Module,
    func: &str,
    limits: &GuestLimits,
    stop: &SignalStop,
) -> Result<(), Error> {
    let started = Instant::now();
    let mut cpu_spent = Duration::ZERO;
    let mut instructions = 0u64;
    let initialize = func != "_start" && module.export_func_type("_initialize").is_some();
    let steps = [
        Some("(start)"),
        initialize.then_some("_initialize"),
        Some(func),
    ];
    for step in steps.into_iter().flatten() {
        if stop.received().is_some() {
            return Err(Error::Terminated(Termination::Interrupted));
        }
        instance.set_deadline(limits.deadline.map(|d| d.saturating_sub(started.elapsed())));
        instance.set_cpu_time_limit(limits.cpu_time.map(|c| c.saturating_sub(cpu_spent)));
        instance.set_instruction_budget(
            limits
                .instruction_budget
                .map(|b| b.saturating_sub(instructions)),
        );
        let result = if step == "(start)" {
            instance.start()
        } else {
            instance.run(step, &[]).map(drop)
        };
        cpu_spent += instance.cpu_time_used();
        instructions = instructions.saturating_add(instance.instruction_count());
        result?;
    }
    Ok(())
}

/// Why a limit stopped the guest, naming the limit as set (the runtime
/// reports what was left of it for the last step) and its annotation.
fn describe(t: Termination, limits: &GuestLimits) -> String {
    match t {
        Termination::Deadline { limit } => format!(
            "stopped: deadline of {:?} exceeded (lucet.dev/deadline)",
            limits.deadline.unwrap_or(limit)
        ),
        Termination::CpuTime { limit } => format!(
            "stopped: CPU time limit of {:?} exceeded (lucet.dev/cpu-time)",
            limits.cpu_time.unwrap_or(limit)
        ),
        Termination::InstructionBudget { budget } => format!(
            "stopped: instruction budget of {} exhausted (lucet.dev/instruction-budget)",
            limits.instruction_budget.unwrap_or(budget)
        ),
        other => format!("stopped: {other}"),
    }
}

/// The module: compiled (or found in the cache) for WebAssembly, loaded
/// with its signature checked for a shared object.
fn load(host: &Host, req: &Request, limits: &GuestLimits) -> Result<Arc<Module>, RunError> {
    let name = &req.name;
    let settings = CompileSettings {
        count_instructions: limits.instruction_budget.is_some(),
    };
    let path = match &req.source {
        Source::Bytes(bytes) => return compiled(host, name, bytes, &settings),
        Source::File(path) => path,
    };
    match entrypoint::classify_file(path)? {
        Kind::Wasm | Kind::WasmText => {
            let bytes = std::fs::read(path).map_err(|source| EntrypointError::Io {
                path: path.clone(),
                source,
            })?;
            compiled(host, name, &bytes, &settings)
        }
        Kind::SharedObject => signed(host, name, path),
    }
}

fn compiled(
    host: &Host,
    name: &str,
    wasm: &[u8],
    settings: &CompileSettings,
) -> Result<Arc<Module>, RunError> {
    let compile_error = |source| RunError::Compile {
        name: name.to_string(),
        source,
    };
    // The object's path means nothing to the pod's owner: name the
    // entrypoint.
    let load_error = |e: Error| RunError::Refused {
        name: name.to_string(),
        message: format!("loading the compiled module: {e}"),
    };
    match &host.cache {
        Some(Ok(cache)) if cache.writable() => {
            let (path, lookup) = cache
                .get_or_compile(wasm, &host.compiler, settings)
                .map_err(compile_error)?;
            match lookup {
                Lookup::Hit => log::info!("{name}: compiled module found in the cache"),
                Lookup::Compiled(t) => log::info!(
                    "{name}: compiled in {:.1} ms into the cache {}",
                    t.as_secs_f64() * 1e3,
                    cache.host_path().display()
                ),
            }
            // SAFETY: the entry was written by this shim's lucetc into the
            // cache directory, which `Cache::open` checked only this user
            // can write, under a key covering the bytes, the compiler
            // build and the options.
            unsafe { Module::load_unverified(&path) }.map_err(load_error)
        }
        other => {
            let why = match other {
                Some(Ok(cache)) => format!(
                    "{} is not writable by uid {}",
                    cache.host_path().display(),
                    rustix::process::geteuid().as_raw()
                ),
                Some(Err(e)) => e.to_string(),
                None => "no configuration".into(),
            };
            log::warn!("{name}: compiling without the cache ({why})");
            let file = cache::compile_in_memory(wasm, settings).map_err(compile_error)?;
            let path = format!("/proc/self/fd/{}", file.as_raw_fd());
            // SAFETY: compiled just now by this shim's lucetc into memory
            // no other process can reach.
            unsafe { Module::load_unverified(path) }.map_err(load_error)
        }
    }
}

fn signed(host: &Host, name: &str, path: &Path) -> Result<Arc<Module>, RunError> {
    let config = host
        .config
        .as_ref()
        .map_err(|e| RunError::Setup(e.to_string()))?;
    if config.trusted_keys.is_empty() {
        let file = config
            .source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "its configuration".into());
        return Err(RunError::Refused {
            name: name.to_string(),
            message: format!(
                "a .so entrypoint must be signed by a key the shim trusts, and {file} lists none \
                 (trusted_keys)"
            ),
        });
    }
    // The signature (`.so.minisig` beside it) is checked on the bytes
    // loaded, before anything in them is parsed.
    let options = LoadOptions::verified(config.trusted_keys.clone());
    Module::load_verified_with(path, &options).map_err(RunError::Load)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let n = || "m".to_string();
        assert_eq!(
            RunError::Entrypoint(EntrypointError::NotFound("/x".into())).exit_code(),
            127
        );
        assert_eq!(
            RunError::Guest {
                name: n(),
                detail: "trap".into()
            }
            .exit_code(),
            1
        );
        assert_eq!(
            RunError::Signal {
                name: n(),
                signal: 15
            }
            .exit_code(),
            143
        );
        let e = RunError::Refused {
            name: n(),
            message: "no".into(),
        };
        assert_eq!(e.exit_code(), 126);
        assert_eq!(
            RunError::Signal {
                name: "/loop.wasm".into(),
                signal: 15
            }
            .to_string(),
            "/loop.wasm: stopped by SIGTERM"
        );
    }

    #[test]
    fn limits_are_named_in_messages() {
        let limits = GuestLimits {
            deadline: Some(Duration::from_secs(1)),
            ..GuestLimits::default()
        };
        // The runtime reports what was left for the last step.
        let d = describe(
            Termination::Deadline {
                limit: Duration::from_millis(999),
            },
            &limits,
        );
        assert_eq!(d, "stopped: deadline of 1s exceeded (lucet.dev/deadline)");
        let b = describe(Termination::InstructionBudget { budget: 10 }, &limits);
        assert!(
            b.contains("of 10 exhausted (lucet.dev/instruction-budget)"),
            "{b}"
        );
    }
}
