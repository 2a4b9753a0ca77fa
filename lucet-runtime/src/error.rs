use crate::trap::Trap;
use thiserror::Error;

/// Errors from loading modules, instantiating and running them.
#[derive(Debug, Error)]
pub enum Error {
    /// The file could not be read or mapped.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The path names something other than a regular file (a FIFO, a
    /// device, a directory...): it is refused without being read.
    #[error("{path}: not a regular file ({kind}); modules are only read from regular files")]
    NotRegularFile {
        /// The path.
        path: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file is larger than the configured bound.
    #[error("{path}: larger than the limit of {limit} bytes for module files")]
    TooLarge {
        /// The file.
        path: String,
        /// The bound (`LoadOptions::max_file_size`).
        limit: u64,
    },
    /// A signature was required and the file's does not verify.
    #[error("{path}: signature not accepted: {reason}")]
    Signature {
        /// The signed file.
        path: String,
        /// Why: unsigned, an untrusted key, a mismatch, a malformed file.
        reason: String,
    },
    /// A public key could not be read.
    #[error("{key}: not a usable minisign public key: {reason}")]
    BadKey {
        /// The key file, or the key text.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is not a module compiled by lucetc for this runtime.
    #[error("{path}: not a loadable lucet module: {reason}")]
    InvalidModule {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The dynamic loader refused the file.
    #[error("{path}: dlopen failed: {reason}")]
    Dlopen {
        /// The file.
        path: String,
        /// dlerror's message.
        reason: String,
    },
    /// An import has no binding.
    #[error("unknown import: {module}::{field} has no binding")]
    MissingImport {
        /// Import module.
        module: String,
        /// Import field.
        field: String,
    },
    /// An import's binding has the wrong type.
    #[error("incompatible import type for {module}::{field}: {reason}")]
    ImportMismatch {
        /// Import module.
        module: String,
        /// Import field.
        field: String,
        /// Expected versus found.
        reason: String,
    },
    /// No export of that name and kind.
    #[error("no exported {kind} named {name:?}")]
    NoSuchExport {
        /// Kind looked for.
        kind: &'static str,
        /// Name looked for.
        name: String,
    },
    /// Arguments do not match the function's parameters.
    #[error("argument mismatch calling {name:?}: {reason}")]
    ArgumentMismatch {
        /// Function name.
        name: String,
        /// Expected versus given.
        reason: String,
    },
    /// The module needs more than the configured limits allow.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// Every slot of the region is in use.
    #[error("region is full: all {0} slots are in use")]
    RegionFull(usize),
    /// The guest trapped.
    #[error("trap: {0}")]
    Trap(Trap),
    /// An exception left the function the host called: no handler of the
    /// guest caught it.
    #[error("uncaught exception: {0}")]
    Exception(crate::exception::UncaughtException),
    /// An exception a host function throws: returned as the host
    /// function's error, it is thrown to its caller (see
    /// [`Caller::throw`](crate::caller::Caller::throw)).
    #[error("an exception thrown by a host function, returned elsewhere")]
    Thrown(crate::exception::Thrown),
    /// The embedder stopped the guest (kill switch, deadline or budget).
    #[error("terminated: {0}")]
    Terminated(crate::termination::Termination),
    /// A hostcall ended the guest with the embedder's own error.
    #[error("hostcall error: {0}")]
    Host(Box<dyn std::error::Error + Send + Sync>),
    /// The guest asked to exit (e.g. WASI `proc_exit`).
    #[error("exited with code {0}")]
    Exit(i32),
    /// A hostcall yielded this value and the call is suspended: continue
    /// it with `Instance::resume`.
    #[error("the guest yielded {0:?}")]
    Yielded(crate::val::Val),
    /// A value or handle of one store (or standalone instance) was given to
    /// another: a function reference, a global, a memory, a table or an
    /// instance id.
    #[error("{0} belongs to another store or instance")]
    WrongDomain(&'static str),
    /// The operating system refused a memory operation.
    #[error("system call failed: {0}")]
    System(String),
    /// The instance is not in a state to do that.
    #[error("{0}")]
    InvalidState(String),
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn last_os(what: &str) -> Error {
        Error::os(what, std::io::Error::last_os_error())
    }

    /// A failed system call: what it was doing, and the OS error (a
    /// rustix `Errno` or a `std::io::Error`), in the same words as
    /// [`last_os`](Self::last_os).
    pub(crate) fn os(what: &str, e: impl Into<std::io::Error>) -> Error {
        Error::System(format!("{what}: {}", e.into()))
    }
}

impl From<crate::val::ValError> for Error {
    fn from(e: crate::val::ValError) -> Error {
        match e {
            crate::val::ValError::WrongDomain(what) => Error::WrongDomain(what),
            crate::val::ValError::ReservedExternRef => {
                Error::InvalidState("externref u64::MAX is reserved for null".into())
            }
            crate::val::ValError::ExnRefIntoGuest => {
                Error::InvalidState("an exception reference cannot be passed into a guest".into())
            }
        }
    }
}
