//! The per-instance WASI state and its builder.

use crate::abi::rights;
use crate::async_input::AsyncInput;
use crate::block::Stop;
use crate::fd_table::{DirFd, Entry, FdTable, Kind, Socket, DEFAULT_MAX_FDS};
use crate::stdio::{HostIo, HostStream, Input, Output};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a [`WasiCtx`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CtxError {
    /// Arguments and environment entries are C strings for the guest.
    #[error("{what} {value:?} contains a NUL byte")]
    Nul {
        /// "argument" or "environment variable".
        what: &'static str,
        /// The offending value (lossily converted for display).
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
    /// A socket to hand to the guest could not be set up.
    #[error("cannot set up socket: {0}")]
    Socket(std::io::Error),
    /// The standard streams, preopened directories and sockets alone need
    /// more descriptors than the limit allows.
    #[error("{needed} descriptors are preopened, more than the limit of {limit}")]
    TooManyFds {
        /// Descriptors the context starts with.
        needed: usize,
        /// The limit set with [`WasiCtxBuilder::max_fds`].
        limit: usize,
    },
}

/// The state WASI functions work on for one instance: arguments,
/// environment, and the descriptor table (standard streams, preopened
/// directories, then preopened sockets). Put it in the instance with
/// [`Instance::set_context`](lucet_runtime::Instance::set_context) and link
/// the functions with [`add_to_linker`](crate::add_to_linker).
///
/// A guest blocked in a WASI call (reading a pipe, sleeping, accepting a
/// connection...) leaves it as soon as its run is stopped, by the
/// instance's deadline ([`Instance::set_deadline`]) or its
/// [`InterruptHandle`](lucet_runtime::InterruptHandle); the run then ends
/// with [`lucet_runtime::Error::Terminated`].
///
/// [`Instance::set_deadline`]: lucet_runtime::Instance::set_deadline
///
/// ```no_run
/// use lucet_runtime::{Instance, Limits, Linker, Module};
/// use lucet_wasi::{WasiCtxBuilder, WritePipe};
/// // SAFETY: hello.so is our own lucetc's output, in a directory only we
/// // write (`Module::load_verified` checks a signature instead).
/// let module = unsafe { Module::load_unverified("hello.so")? };
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
    /// The stop event of the run in progress, set by the dispatcher for
    /// the duration of each call that may wait.
    pub(crate) stop: Stop,
}

enum InputSpec {
    Inherit,
    Reader(Box<dyn Read + Send>),
    Async(Arc<dyn AsyncInput>),
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
/// environment, no directories, the host's standard streams, and at most
/// [`DEFAULT_MAX_FDS`] open descriptors.
///
/// Arguments, environment and directory names are bytes for the guest:
/// they need not be UTF-8 (only NUL is refused, as C strings cannot hold
/// it).
pub struct WasiCtxBuilder {
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    preopens: Vec<(PreopenSpec, OsString)>,
    sockets: Vec<TcpListener>,
    stdin: InputSpec,
    stdout: OutputSpec,
    stderr: OutputSpec,
    max_fds: usize,
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
            sockets: Vec::new(),
            stdin: InputSpec::Inherit,
            stdout: OutputSpec::Inherit,
            stderr: OutputSpec::Inherit,
            max_fds: DEFAULT_MAX_FDS,
        }
    }

    /// Append one argument (the first is the program name, `argv[0]`).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Append arguments.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Set an environment variable for the guest.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Set environment variables for the guest.
    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env.extend(
            vars.into_iter()
                .map(|(k, v)| (k.as_ref().to_os_string(), v.as_ref().to_os_string())),
        );
        self
    }

    /// Give the guest the host's whole environment.
    pub fn inherit_env(self) -> Self {
        self.envs(std::env::vars_os())
    }

    /// Give the guest the host directory `host` under the name `guest`
    /// (what the guest's libc matches paths against: `"."`, `"/"`,
    /// `"/data"`...). The directory is opened by [`build`](Self::build).
    pub fn preopened_dir(mut self, host: impl Into<PathBuf>, guest: impl AsRef<OsStr>) -> Self {
        self.preopens.push((
            PreopenSpec::Path(host.into()),
            guest.as_ref().to_os_string(),
        ));
        self
    }

    /// Give the guest an already-open directory under the name `guest`.
    pub fn preopened_cap_dir(mut self, dir: Dir, guest: impl AsRef<OsStr>) -> Self {
        self.preopens
            .push((PreopenSpec::Dir(dir), guest.as_ref().to_os_string()));
        self
    }

    /// Give the guest a listening TCP socket, on which it may
    /// `sock_accept` connections. Sockets follow the preopened directories
    /// in the descriptor table (a guest finds them by their file type).
    pub fn preopened_socket(mut self, listener: TcpListener) -> Self {
        self.sockets.push(listener);
        self
    }

    /// Let the guest hold at most `max` descriptors open at once (the
    /// standard streams, preopens and sockets included); past it, calls
    /// that would open one fail with `EMFILE`. Default [`DEFAULT_MAX_FDS`].
    pub fn max_fds(mut self, max: usize) -> Self {
        self.max_fds = max;
        self
    }

    /// Feed the guest's stdin from `reader` (e.g. a [`ReadPipe`](crate::ReadPipe)).
    pub fn stdin(mut self, reader: impl Read + Send + 'static) -> Self {
        self.stdin = InputSpec::Reader(Box::new(reader));
        self
    }

    /// Feed the guest's stdin from `input`, whose data may still be
    /// arriving (e.g. the reading end of an [`async_pipe`](crate::async_pipe)).
    /// Under [`add_to_linker_async`](crate::add_to_linker_async) a guest
    /// that reads or polls it before data has arrived is suspended without
    /// holding a thread; under [`add_to_linker`](crate::add_to_linker) the
    /// call waits on its thread. Either way a deadline or interrupt ends
    /// the wait.
    pub fn stdin_async(mut self, input: impl AsyncInput) -> Self {
        self.stdin = InputSpec::Async(Arc::new(input));
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
        let cstring = |what: &'static str, s: Vec<u8>| {
            if s.contains(&0) {
                Err(CtxError::Nul {
                    what,
                    value: String::from_utf8_lossy(&s).into_owned(),
                })
            } else {
                Ok(s)
            }
        };
        let args = self
            .args
            .into_iter()
            .map(|a| cstring("argument", a.into_vec()))
            .collect::<Result<_, _>>()?;
        let mut env = Vec::new();
        for (k, v) in self.env {
            let k = k.into_vec();
            if k.is_empty() || k.contains(&b'=') {
                return Err(CtxError::EnvName(String::from_utf8_lossy(&k).into_owned()));
            }
            let mut entry = k;
            entry.push(b'=');
            entry.extend_from_slice(v.as_bytes());
            env.push(cstring("environment variable", entry)?);
        }
        let needed = 3 + self.preopens.len() + self.sockets.len();
        if needed > self.max_fds {
            return Err(CtxError::TooManyFds {
                needed,
                limit: self.max_fds,
            });
        }
        let mut table = FdTable::with_limit(self.max_fds);
        let stdin = match self.stdin {
            InputSpec::Inherit => Input::Inherit(HostIo::new(HostStream::Stdin)),
            InputSpec::Reader(r) => Input::Reader(r),
            InputSpec::Async(a) => Input::Async(a),
        };
        let output = |spec, host| match spec {
            OutputSpec::Inherit => Output::Inherit(HostIo::new(host)),
            OutputSpec::Writer(w) => Output::Writer(w),
        };
        let stdio = |kind| Entry::new(kind, rights::STDIO, 0);
        table.insert_at(0, stdio(Kind::Stdin(stdin)));
        table.insert_at(
            1,
            stdio(Kind::Stdout(output(self.stdout, HostStream::Stdout))),
        );
        table.insert_at(
            2,
            stdio(Kind::Stdout(output(self.stderr, HostStream::Stderr))),
        );
        let mut next = 3;
        for (spec, guest) in self.preopens {
            let dir = match spec {
                PreopenSpec::Dir(d) => d,
                PreopenSpec::Path(p) => open_host_dir(&p)?,
            };
            let entry = Entry::new(
                Kind::Dir(DirFd {
                    dir,
                    preopen: Some(guest.into_vec()),
                    listing: None,
                }),
                rights::DIRECTORY,
                rights::DIRECTORY_INHERITING,
            );
            table.insert_at(next, entry);
            next += 1;
        }
        for listener in self.sockets {
            listener.set_nonblocking(true).map_err(CtxError::Socket)?;
            let entry = Entry::new(
                Kind::Socket(Socket::Listener(listener)),
                rights::SOCKET_LISTENER,
                rights::SOCKET_STREAM,
            );
            table.insert_at(next, entry);
            next += 1;
        }
        Ok(WasiCtx {
            args,
            env,
            table,
            stop: Stop::default(),
        })
    }
}

fn open_host_dir(path: &Path) -> Result<Dir, CtxError> {
    Dir::open_ambient_dir(path, ambient_authority()).map_err(|source| CtxError::Preopen {
        path: path.to_path_buf(),
        source,
    })
}
