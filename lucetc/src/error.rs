use crate::shared_object::LinkError;
use thiserror::Error;

/// Why a module could not be compiled.
#[derive(Debug, Error)]
pub enum Error {
    /// The input is not well-formed WebAssembly (binary or text).
    #[error("malformed module at offset {offset:#x}: {message}")]
    Malformed {
        /// Byte offset of the problem in the input.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// The input is wasm text that does not parse.
    #[error("malformed module text at {location}: {message}")]
    MalformedText {
        /// Line and column.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// The module is well-formed but does not validate.
    #[error("invalid module at offset {offset:#x}: {message}")]
    Invalid {
        /// Byte offset of the problem in the input.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// The module uses a feature this compiler does not support: for a
    /// proposal, `<proposal> (<operator or section>) at offset N`.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An import is not in the allowed set, or has the wrong signature.
    #[error("import {module}::{field} is not allowed: {reason}")]
    ImportNotAllowed {
        /// Import module name.
        module: String,
        /// Import field name.
        field: String,
        /// Why.
        reason: String,
    },
    /// Code generation failed.
    #[error("code generation failed for function {func}: {message}")]
    Codegen {
        /// Function index.
        func: u32,
        /// Cranelift's message.
        message: String,
    },
    /// The object file could not be written.
    #[error("writing the object file failed: {0}")]
    Object(String),
    /// The object could not be written as a shared object, or its code
    /// hash recorded.
    #[error("linking failed: {0}")]
    Link(#[from] LinkError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A compile option is out of range.
    #[error("bad option: {0}")]
    Option(String),
    /// A key could not be made or read, or signing failed.
    #[error("signing: {0}")]
    Signing(String),
}

impl Error {
    pub(crate) fn from_wasmparser(e: wasmparser::BinaryReaderError) -> Error {
        Error::classify(e.offset(), e.message().to_string())
    }

    /// A decoding (malformed) or validation (invalid) error, told apart by
    /// wasmparser's message.
    fn classify(offset: usize, message: String) -> Error {
        // wasmparser reports decoding and validation problems through one
        // type; decoding failures are the ones a text-level fix would cure.
        let malformed = [
            "unexpected end",
            "malformed",
            "magic header",
            "unknown binary version",
            "invalid leading byte",
            "integer too large",
            "integer representation too long",
            "section size mismatch",
            "length out of bounds",
            "illegal opcode",
            "unexpected content",
            "invalid var_u32",
            "invalid var_i32",
            "invalid var_u64",
            "invalid var_s33",
            "function and code section have inconsistent lengths",
            "function section has non-zero count but code section is absent",
            "function section is absent but code section has non-zero count",
            "data count is non-zero but data section is absent",
            "expected section, got wasm magic number",
            "invalid section",
            "zero byte expected",
            "too many locals",
            "data count and data section have inconsistent lengths",
            "unknown payload",
            "section out of order",
            "UTF-8",
            "utf-8",
            "control frames remain",
            "operators remaining",
            "invalid value type",
            "invalid reference type",
            "invalid function type",
            // Without the shared-everything-threads proposal, the bit
            // wasmparser reads as `shared` makes the mutability byte malformed.
            "shared globals require",
            "code section without function section",
            "function section without code section",
            "zero byte expected",
            "malformed memop flags",
            // Decoding needs the data count to check data indices in code.
            "data count section required",
            // Limits flags are a byte of the binary format.
            "limits flags",
        ];
        // An alignment over the natural one is a validation error, though
        // wasmparser's message says "malformed" (flags that cannot be an
        // alignment at all are caught by `decode::check_memory_immediates`).
        let invalid = message.contains("alignment must not be larger than natural");
        if !invalid && malformed.iter().any(|m| message.contains(m)) {
            Error::Malformed { offset, message }
        } else {
            Error::Invalid { offset, message }
        }
    }
}
