use thiserror::Error;

/// Why serialized module data was rejected.
#[derive(Debug, Error)]
pub enum Error {
    /// The bytes do not start with the module-data magic.
    #[error("not lucet module data (bad magic)")]
    BadMagic,
    /// The data was written by an incompatible version of lucetc.
    #[error(
        "module data format version {found} is not supported (expected {expected}): \
         recompile the module with this version of lucetc"
    )]
    Version {
        /// Version found in the data.
        found: u32,
        /// Version this build understands.
        expected: u32,
    },
    /// The data ends early or its length fields disagree.
    #[error("module data is truncated: {0}")]
    Truncated(String),
    /// The data decoded but is internally inconsistent.
    #[error("module data is inconsistent: {0}")]
    Invalid(String),
    /// The data could not be decoded.
    #[error("module data is corrupt: {0}")]
    Decode(String),
}
