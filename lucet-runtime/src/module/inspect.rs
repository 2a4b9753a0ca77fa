//! Inspecting a module file without loading it (for tools such as
//! `lucet-objdump`): the same checks as a load, reported rather than
//! enforced where a tool can still say something useful.

use super::file::read_regular;
use super::signature::{Detached, SignatureInfo, TrustedKeys};
use super::{examine, Error};
use lucet_module::code_hash::CODE_HASH_LEN;
use lucet_module::ModuleData;
use std::path::Path;

/// The state of a module's detached signature.
#[derive(Clone, Debug)]
pub enum SignatureStatus {
    /// There is no `MODULE.minisig`.
    Unsigned,
    /// Signed, but no keys were given to check it with.
    Unchecked(SignatureInfo),
    /// Verified with one of the trusted keys.
    Verified(SignatureInfo),
    /// Not accepted: malformed, by an untrusted key, or not matching.
    Rejected {
        /// What the signature file says, if it could be read.
        info: Option<SignatureInfo>,
        /// Why it was not accepted.
        reason: String,
    },
}

/// What a module file holds, as far as it can be known without running
/// any of it.
#[derive(Debug)]
pub struct Inspection {
    /// Size of the file.
    pub file_size: u64,
    /// The module data.
    pub data: ModuleData,
    /// Bytes of the executable segment (the code and trampolines).
    pub code_size: u64,
    /// The code hash the module data records.
    pub recorded_hash: [u8; CODE_HASH_LEN],
    /// The code hash of the file.
    pub computed_hash: [u8; CODE_HASH_LEN],
    /// Libraries the object needs.
    pub needed: Vec<String>,
    /// Its signature.
    pub signature: SignatureStatus,
}

impl Inspection {
    /// Whether the recorded code hash matches the file.
    pub fn hash_matches(&self) -> bool {
        self.recorded_hash == self.computed_hash
    }
}

/// Read and check the module file `path` (at most `max_file_size` bytes)
/// as a load would, without loading it. An error if it is not a module
/// the loader would consider (unreadable, not a regular file, bad ELF
/// structure or module data); a mismatched code hash or a signature that
/// does not verify with `keys` is reported in the result.
pub fn inspect(
    path: impl AsRef<Path>,
    max_file_size: u64,
    keys: Option<&TrustedKeys>,
) -> Result<Inspection, Error> {
    let path = path.as_ref();
    let bytes = read_regular(path, max_file_size)?;
    let signature = match Detached::read(path) {
        Ok(None) => SignatureStatus::Unsigned,
        Err(e) => SignatureStatus::Rejected {
            info: None,
            reason: e.to_string(),
        },
        Ok(Some(sig)) => match keys {
            None => SignatureStatus::Unchecked(sig.info),
            Some(keys) => match keys.verify(path, &bytes, &[]) {
                Ok(_) => SignatureStatus::Verified(sig.info),
                Err(e) => SignatureStatus::Rejected {
                    info: Some(sig.info),
                    reason: match e {
                        Error::Signature { reason, .. } => reason,
                        other => other.to_string(),
                    },
                },
            },
        },
    };
    let examined = examine(path, &bytes)?;
    Ok(Inspection {
        file_size: bytes.len() as u64,
        code_size: examined.elf.code.end - examined.elf.code.start,
        recorded_hash: examined.recorded_hash,
        computed_hash: examined.computed_hash,
        needed: examined.elf.needed,
        data: examined.data,
        signature,
    })
}
