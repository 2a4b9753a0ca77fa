//! The per-instance WASI state and its builder.

use crate::abi::rights;
use crate::fd_table::{DirFd, Entry, FdTable, Kind};
use crate::stdio::{HostStream, Input, Output};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Why a [`WasiCtx`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CtxError {
    /// Arguments and environment entries are C strings for the guest.
    #[error("{what} {value:?} contains a NUL byte")]
    Nul {
        /// "argument" or "environment variable".
        what: &'static str,
        /// The offending value.
        value: String,
    },
    /// An environment variable's name is empty or contains `=`.
    #[error("bad environment variable name {0:?}")]
    EnvName(String),
    /// A directory to preopen could not be opened.
    #[error("cannot open directory {path}: {source}")]
    Preopen {
        /// The host path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Lets another thread cancel a guest that is blocked in a WASI call
/// (sleeping in `poll_oneoff`): the call ends the run with
/// [`lucet_runtime::Error::Terminated`]. Pair it with
/// [`InterruptHandle::interrupt`](lucet_runtime::InterruptHandle::interrupt),
/// which stops guest code but cannot reach into a hostcall.
#[derive(Clone, Debug, Default)]
pub struct CancelHandle {
    flag: Arc<AtomicBool>,
}

impl CancelHandle {
    /// Ask blocking WASI calls to give up.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// The state WASI functions work on for one instance: arguments,
/// environment, and the descriptor table (standard streams and preopened
/// directories first). Put it in the instance with
/// [`Instance::set_context`](lucet_runtime::Instance::set_context) and link
/// the functions with [`add_to_linker`](crate::add_to_linker).
///
/// ```no_run
/// use lucet_runtime::{Instance, Limits, Linker, Module};
/// use lucet_wasi::{WasiCtxBuilder, WritePipe};
/// let module = Module::load_unverified("hello.so")?;
/// let mut linker = Linker::new();
/// lucet_wasi::add_to_linker(&mut linker);
/// let stdout = WritePipe::new();
/// let ctx = WasiCtxBuilder::new()
///     .arg("hello")
///     .arg("world")
///     .stdout(stdout.clone())
///     .build()?;
/// let mut instance = Instance::new(&module, &linker, Limits::default())?;
/// instance.set_context(ctx);
/// instance.run("_start", &[])?;
/// assert_eq!(stdout.contents(), b"Hello from Lucet, world!\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct WasiCtx {
    pub(crate) args: Vec<Vec<u8>>,
    pub(crate) env: Vec<Vec<u8>>,
    pub(crate) table: FdTable,
    pub(crate) cancel: Option<CancelHandle>,
}

impl WasiCtx {
    /// A handle that cancels this context's blocking calls.
    pub fn cancel_handle(&mut self) -> CancelHandle {
        self.cancel
            .get_or_insert_with(CancelHandle::default)
            .clone()
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(CancelHandle::is_cancelled)
    }
}

enum InputSpec {
    Inherit,
    Reader(Box<dyn Read + Send>),
}

enum OutputSpec {
    Inherit,
    Writer(Box<dyn Write + Send>),
}

enum PreopenSpec {
    Path(PathBuf),
    Dir(Dir),
}

/// Builds a [`WasiCtx`]. By default the guest has no arguments, no
/// environment, no directories, and the host's standard streams.
pub struct WasiCtxBuilder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    preopens: Vec<(PreopenSpec, String)>,
    stdin: InputSpec,
    stdout: OutputSpec,
    stderr: OutputSpec,
}

impl Default for WasiCtxBuilder {
    fn default() -> Self {
        WasiCtxBuilder::new()
    }
}

impl WasiCtxBuilder {
    /// A builder for an empty context with inherited stdio.
    pub fn new() -> WasiCtxBuilder {
        WasiCtxBuilder {
            args: Vec::new(),
            env: Vec::new(),
            preopens: Vec::new(),
            stdin: InputSpec::Inherit,
            stdout: OutputSpec::Inherit,
            stderr: OutputSpec::Inherit,
        }
    }

    /// Append one argument (the first is the program name, `argv[0]`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Append arguments.
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set an environment variable for the guest.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Set environment variables for the guest.
    pub fn envs<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Give the guest the host's whole environment (UTF-8 variables only).
    pub fn inherit_env(self) -> Self {
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        self.envs(vars)
    }

    /// Give the guest the host directory `host` under the name `guest`
    /// (what the guest's libc matches paths against: `"."`, `"/"`,
    /// `"/data"`...). The directory is opened by [`build`](Self::build).
    pub fn preopened_dir(mut self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.preopens
            .push((PreopenSpec::Path(host.into()), guest.into()));
        self
    }

    /// Give the guest an already-open directory under the name `guest`.
    pub fn preopened_cap_dir(mut self, dir: Dir, guest: impl Into<String>) -> Self {
        self.preopens.push((PreopenSpec::Dir(dir), guest.into()));
        self
    }

    /// Feed the guest's stdin from `reader` (e.g. a [`ReadPipe`](crate::ReadPipe)).
    pub fn stdin(mut self, reader: impl Read + Send + 'static) -> Self {
        self.stdin = InputSpec::Reader(Box::new(reader));
        self
    }

    /// Send the guest's stdout to `writer` (e.g. a [`WritePipe`](crate::WritePipe)).
    pub fn stdout(mut self, writer: impl Write + Send + 'static) -> Self {
        self.stdout = OutputSpec::Writer(Box::new(writer));
        self
    }

    /// Send the guest's stderr to `writer`.
    pub fn stderr(mut self, writer: impl Write + Send + 'static) -> Self {
        self.stderr = OutputSpec::Writer(Box::new(writer));
        self
    }

    /// Use the host's stdin, stdout and stderr (the default).
    pub fn inherit_stdio(mut self) -> Self {
        self.stdin = InputSpec::Inherit;
        self.stdout = OutputSpec::Inherit;
        self.stderr = OutputSpec::Inherit;
        self
    }

    /// Check the arguments and environment, open the directories.
    pub fn build(self) -> Result<WasiCtx, CtxError> {
        let cstring = |what: &'static str, s: String| {
            if s.contains('\0') {
                Err(CtxError::Nul { what, value: s })
            } else {
                Ok(s.into_bytes())
            }
        };
        let args = self
            .args
            .into_iter()
            .map(|a| cstring("argument", a))
            .collect::<Result<_, _>>()?;
        let mut env = Vec::new();
        for (k, v) in self.env {
            if k.is_empty() || k.contains('=') {
                return Err(CtxError::EnvName(k));
            }
            env.push(cstring("environment variable", format!("{k}={v}"))?);
        }
        let mut table = FdTable::default();
        let stdin = match self.stdin {
            InputSpec::Inherit => Input::Inherit,
            InputSpec::Reader(r) => Input::Reader(r),
        };
        let output = |spec, host| match spec {
            OutputSpec::Inherit => Output::Inherit(host),
            OutputSpec::Writer(w) => Output::Writer(w),
        };
        let stdio = |kind| Entry {
            kind,
            base: rights::STDIO,
            inheriting: 0,
        };
        table.insert_at(0, stdio(Kind::Stdin(stdin)));
        table.insert_at(
            1,
            stdio(Kind::Stdout(output(self.stdout, HostStream::Stdout))),
        );
        table.insert_at(
            2,
            stdio(Kind::Stdout(output(self.stderr, HostStream::Stderr))),
        );
        for (spec, guest) in self.preopens {
            let dir = match spec {
                PreopenSpec::Dir(d) => d,
                PreopenSpec::Path(p) => open_host_dir(&p)?,
            };
            let entry = Entry {
                kind: Kind::Dir(DirFd {
                    dir,
                    preopen: Some(std::ffi::OsStr::new(&guest).as_bytes().to_vec()),
                    listing: None,
                }),
                base: rights::DIRECTORY,
                inheriting: rights::DIRECTORY_INHERITING,
            };
            // Cannot fail: the table is tiny.
            table.insert(entry).map_err(|e| CtxError::Preopen {
                path: PathBuf::from(&guest),
                source: std::io::Error::other(e),
            })?;
        }
        Ok(WasiCtx {
            args,
            env,
            table,
            cancel: Some(CancelHandle::default()),
        })
    }
}

fn open_host_dir(path: &Path) -> Result<Dir, CtxError> {
    Dir::open_ambient_dir(path, ambient_authority()).map_err(|source| CtxError::Preopen {
        path: path.to_path_buf(),
        source,
    })
}
