//! Routes: loading their modules, the regions their instances live in,
//! and matching request paths.

use crate::config::{Config, RouteConfig};
use anyhow::{bail, Context, Result};
use lucet_runtime::{Limits, Linker, Module, Region, TrustedKeys};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A route ready to serve.
pub struct Route {
    /// Its position in the configuration (and in the metrics).
    pub index: usize,
    /// As configured.
    pub config: RouteConfig,
    /// The path without a trailing `/...`: the CGI `SCRIPT_NAME`.
    pub script_name: String,
    /// The compiled module.
    pub module: Arc<Module>,
    /// Where its instances are created: a region of its own (see
    /// [`Routes::load`]), one slot per request it may have in the server.
    pub region: Region,
    /// Its guests that may run on workers at once (`max_running`, resolved).
    pub max_running: usize,
    in_flight: AtomicUsize,
}

/// A request counted against its route's concurrency limit until dropped.
pub struct Permit(Arc<Route>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Route {
    /// Count a request against the route's `max_concurrency`; `None` when
    /// the route is at its limit.
    pub fn admit(self: &Arc<Route>) -> Option<Permit> {
        let n = self.in_flight.fetch_add(1, Ordering::Relaxed);
        let permit = Permit(self.clone());
        // Dropping the permit undoes the count.
        (n < self.config.limits.max_concurrency).then_some(permit)
    }
}

/// The routing table.
pub struct Routes {
    routes: Vec<Arc<Route>>,
    exact: HashMap<String, usize>,
    /// (script name, index), longest first.
    prefixes: Vec<(String, usize)>,
}

impl Routes {
    /// Load every route's module, compiling `.wasm`/`.wat` files in a
    /// scratch directory made only if one needs compiling (see
    /// [`Scratch`]), and check each can be instantiated.
    ///
    /// Each route gets a region of its own, with a slot per request it may
    /// have in the server (`max_concurrency`: running, queued or
    /// suspended, each holds at most one instance). A slot keeps the heap
    /// image mapping of the module it last held, so a slot reused for the
    /// same module costs no system call; in a region shared by several
    /// routes, alternating routes remapped and re-faulted the image on
    /// every switch. Measured with hello and 10% out-of-bounds requests on
    /// one core: instantiation went from ~3 µs to ~20 µs for the switching
    /// requests and throughput fell by a third. Regions only reserve
    /// address space (about 4 GiB per slot, nothing resident until used):
    /// 100 routes with the default 64 slots reserve ~26 TiB of the 128 TiB
    /// a process can address; free slots are given back their memory
    /// (see `Limits::heap_keep_resident`).
    ///
    /// `workers` resolves each route's default `max_running`.
    pub fn load(config: &Config, workers: usize, linker: &Linker) -> Result<Routes> {
        let mut scratch = Scratch::new();
        let mut routes = Vec::new();
        let mut exact = HashMap::new();
        let mut prefixes = Vec::new();
        let keys = if config.trusted_keys.is_empty() {
            None
        } else {
            Some(TrustedKeys::from_files(&config.trusted_keys).context("trusted keys")?)
        };
        for (index, rc) in config.routes.iter().enumerate() {
            // The errors name the module file.
            let module = load_module(rc, index, &mut scratch, keys.as_ref())
                .with_context(|| format!("route {}", rc.path))?;
            let limits = Limits {
                heap_memory_size: rc.limits.heap,
                stack_size: rc.limits.stack,
                ..Limits::default()
            };
            let region = Region::new(rc.limits.max_concurrency, limits)
                .with_context(|| format!("route {}: creating a region", rc.path))?;
            // Instantiate once now (without running a start function), so a
            // missing import or a module too big for the limits is a
            // startup error, not a 500 per request.
            drop(
                region
                    .instantiate_unstarted(&module, linker)
                    .with_context(|| {
                        format!("route {}: instantiating {}", rc.path, rc.module.display())
                    })?,
            );
            let (script_name, prefix) = match rc.path.strip_suffix("/...") {
                Some(p) => (p.to_string(), true),
                None => (rc.path.clone(), false),
            };
            if prefix {
                prefixes.push((script_name.clone(), index));
            } else {
                exact.insert(script_name.clone(), index);
            }
            routes.push(Arc::new(Route {
                index,
                config: rc.clone(),
                script_name,
                module,
                region,
                max_running: rc
                    .limits
                    .max_running
                    .unwrap_or(workers.saturating_sub(1).max(1)),
                in_flight: AtomicUsize::new(0),
            }));
        }
        // Every module is in memory now (the runtime reads a module file
        // once, into a sealed memfd): the compiled objects can go.
        drop(scratch);
        prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        Ok(Routes {
            routes,
            exact,
            prefixes,
        })
    }

    /// The route for `path`: an exact route, else the longest prefix route
    /// whose script name is `path` or a parent of it.
    pub fn find(&self, path: &str) -> Option<&Arc<Route>> {
        if let Some(&i) = self.exact.get(path) {
            return Some(&self.routes[i]);
        }
        self.prefixes
            .iter()
            .find(|(p, _)| under(p, path))
            .map(|&(_, i)| &self.routes[i])
    }

    /// Every route, in configuration order.
    pub fn all(&self) -> &[Arc<Route>] {
        &self.routes
    }
}

/// Whether `path` is `prefix` or below it (whole segments only).
fn under(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'))
}

/// Where the shared objects compiled from `.wasm`/`.wat` routes are
/// written before they are loaded: a private directory under `TMPDIR`
/// (`/tmp` by default), made on first use and removed when dropped.
///
/// Routes given as precompiled `.so` files need none, so a server whose
/// routes are all precompiled writes nothing anywhere: it runs in a
/// container image that has no `/tmp` and a read-only root file system.
pub struct Scratch {
    dir: Option<tempfile::TempDir>,
}

impl Scratch {
    /// No directory yet.
    pub fn new() -> Scratch {
        Scratch { dir: None }
    }

    /// The directory, made now if it does not exist yet.
    pub fn dir(&mut self) -> Result<&Path> {
        if self.dir.is_none() {
            let parent = std::env::temp_dir();
            let dir = tempfile::Builder::new()
                .prefix("lucet-serve-")
                .tempdir_in(&parent)
                .with_context(|| {
                    format!(
                        "creating a directory for compiled modules in {} (a .wasm route is \
                         compiled at startup: set TMPDIR to a writable directory, or give \
                         the route a module precompiled with lucetc-wasi)",
                        parent.display()
                    )
                })?;
            self.dir = Some(dir);
        }
        Ok(self.dir.as_ref().expect("made above").path())
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

/// Load (or compile and load) a route's module; with `keys`, only if it
/// carries a valid signature by one of them. A `.wasm` is verified as read
/// and exactly the verified bytes are compiled; the shared object the
/// server compiles from it is its own, and is loaded with the structural
/// checks and code hash only.
fn load_module(
    rc: &RouteConfig,
    index: usize,
    scratch: &mut Scratch,
    keys: Option<&TrustedKeys>,
) -> Result<Arc<Module>> {
    let name = rc.module.display();
    let ext = rc.module.extension().and_then(|e| e.to_str()).unwrap_or("");
    let budget = rc.limits.instruction_budget.is_some();
    let module = if ext == "wasm" || ext == "wat" {
        let bytes = match keys {
            Some(keys) => keys.read_verified(&rc.module, lucet_runtime::DEFAULT_MAX_FILE_SIZE)?,
            None => std::fs::read(&rc.module).with_context(|| format!("reading {name}"))?,
        };
        let so = scratch.dir()?.join(format!("route{index}.so"));
        let options = lucetc::Options {
            allowed_imports: Some(lucetc::AllowedImport::wasi_preview1()),
            count_instructions: budget,
            ..lucetc::Options::default()
        };
        lucetc::compile_to_file(&bytes, &so, &options)
            .with_context(|| format!("compiling {name}"))?;
        // SAFETY: lucetc wrote this object just now into the server's own
        // scratch directory.
        unsafe { Module::load_unverified(&so) }
            .with_context(|| format!("loading {name} compiled"))?
    } else {
        match keys {
            Some(keys) => Module::load_verified(&rc.module, keys)?,
            // SAFETY: with no `trusted_keys`, the operator's configuration
            // vouches for the objects its routes name (see the README:
            // configure keys unless the module directory is trusted).
            None => unsafe { Module::load_unverified(&rc.module)? },
        }
    };
    let data = module.data();
    // A wasm start function is fine: it runs (`Instance::start`) under the
    // request's deadline, CPU time and budget, like `_start`.
    match module.export_func_type("_start") {
        Some(t) if t.params.is_empty() && t.results.is_empty() => {}
        Some(t) => bail!("{name}: _start has type {t}, expected () -> ()"),
        None => bail!("{name}: the module exports no _start function: it is not a WASI command"),
    }
    if budget && !data.options.count_instructions {
        bail!(
            "{name}: the route has an instruction budget but the module was compiled without \
             instruction counting (give the .wasm, or compile with counting)"
        );
    }
    Ok(module)
}

#[cfg(test)]
mod tests {
    #[test]
    fn scratch_is_made_on_first_use_and_removed_when_dropped() {
        let mut scratch = super::Scratch::new();
        assert!(scratch.dir.is_none(), "nothing is made up front");
        let dir = scratch.dir().unwrap().to_path_buf();
        assert!(dir.is_dir());
        assert_eq!(scratch.dir().unwrap(), dir, "made once");
        drop(scratch);
        assert!(!dir.exists());
    }

    #[test]
    fn prefix_matching_respects_segments() {
        let matches = super::under;
        assert!(matches("/static", "/static"));
        assert!(matches("/static", "/static/a/b"));
        assert!(!matches("/static", "/staticky"));
        assert!(matches("", "/anything"));
        assert!(matches("/", "/x"));
    }
}
