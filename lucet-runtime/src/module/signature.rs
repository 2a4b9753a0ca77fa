//! Minisign signatures of module files.
//!
//! A module `m.so` is signed by a detached signature beside it, `m.so.minisig`,
//! in minisign's format (Ed25519 over the BLAKE2b-512 hash of the file, plus
//! a signed "trusted comment"). Detached, because then the signed bytes are
//! exactly the file's bytes: `minisign -Vm m.so` checks lucetc's signatures
//! and `minisign -Sm m.so` makes signatures the runtime accepts, with the
//! keys people already have. Verification uses `minisign-verify` (the
//! reference implementation's author's verification-only crate, with no
//! dependencies); it runs before anything in the file is parsed.

use super::file::read_regular;
use crate::error::Error;
use ct_codecs::{Base64, Decoder};
use std::fmt;
use std::path::{Path, PathBuf};

/// Most bytes a signature file may have (minisign's are about 300).
const MAX_SIGNATURE_FILE: u64 = 64 << 10;
/// Most bytes a public key file may have (minisign's are about 100).
const MAX_KEY_FILE: u64 = 4 << 10;

/// A minisign key ID: the 8 bytes that tie a signature to its key,
/// displayed as minisign displays them (16 upper-case hex digits).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A minisign (Ed25519) public key.
#[derive(Clone)]
pub struct PublicKey {
    key: minisign_verify::PublicKey,
    id: KeyId,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    Base64::decode_to_vec(text.trim(), None).ok()
}

impl PublicKey {
    /// A key from its base64 form (what `minisign -G` prints after `-P`,
    /// and the second line of its `.pub` file).
    pub fn from_base64(text: &str) -> Result<PublicKey, Error> {
        let bad = |reason: &str| Error::BadKey {
            key: text.trim().to_string(),
            reason: reason.to_string(),
        };
        let bytes = decode_base64(text).ok_or_else(|| bad("not base64"))?;
        if bytes.len() != 42 || bytes[..2] != *b"Ed" {
            return Err(bad("not an Ed25519 minisign key"));
        }
        let key = minisign_verify::PublicKey::from_base64(text.trim())
            .map_err(|e| bad(&e.to_string()))?;
        Ok(PublicKey {
            key,
            id: KeyId(bytes[2..10].try_into().unwrap()),
        })
    }

    /// A key from the contents of a minisign `.pub` file (an untrusted
    /// comment line, then the base64 key), or from the base64 key alone.
    pub fn decode(text: &str) -> Result<PublicKey, Error> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let first = lines.next().unwrap_or("");
        if first.starts_with("untrusted comment:") {
            PublicKey::from_base64(lines.next().unwrap_or(""))
        } else {
            PublicKey::from_base64(first)
        }
    }

    /// Read a minisign `.pub` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<PublicKey, Error> {
        let path = path.as_ref();
        let bytes = read_regular(path, MAX_KEY_FILE)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::BadKey {
            key: path.display().to_string(),
            reason: "not text".into(),
        })?;
        PublicKey::decode(&text).map_err(|e| match e {
            Error::BadKey { reason, .. } => Error::BadKey {
                key: path.display().to_string(),
                reason,
            },
            other => other,
        })
    }

    /// The key's ID, which signatures made with it carry.
    pub fn id(&self) -> KeyId {
        self.id
    }
}

/// The keys whose signatures a verified load accepts (any one of them).
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    keys: Vec<PublicKey>,
}

impl TrustedKeys {
    /// No keys (a verified load with no keys refuses every module).
    pub fn new() -> TrustedKeys {
        TrustedKeys::default()
    }

    /// Trust `key` too.
    pub fn add(&mut self, key: PublicKey) {
        self.keys.push(key);
    }

    /// These keys and `key`.
    pub fn with(mut self, key: PublicKey) -> TrustedKeys {
        self.add(key);
        self
    }

    /// The keys in minisign `.pub` files.
    pub fn from_files<P: AsRef<Path>>(
        paths: impl IntoIterator<Item = P>,
    ) -> Result<TrustedKeys, Error> {
        let mut keys = TrustedKeys::new();
        for p in paths {
            keys.add(PublicKey::from_file(p)?);
        }
        Ok(keys)
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The IDs of the keys.
    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.iter().map(|k| k.id)
    }

    /// Read the regular file `path` (at most `max_size` bytes) and check its
    /// signature `path.minisig` against these keys; its bytes if it
    /// verifies. For inputs other than modules, such as `.wasm` files a
    /// server compiles itself.
    pub fn read_verified(&self, path: impl AsRef<Path>, max_size: u64) -> Result<Vec<u8>, Error> {
        let path = path.as_ref();
        let bytes = read_regular(path, max_size)?;
        self.verify(path, &bytes, &[])?;
        Ok(bytes)
    }

    /// Check that `bytes`, read from `path`, carry a valid signature
    /// (`path.minisig`) by one of the keys, made for this file name and
    /// with every `field:value` of `required` in its trusted comment; the
    /// key's ID if so.
    pub(crate) fn verify(
        &self,
        path: &Path,
        bytes: &[u8],
        required: &[(String, String)],
    ) -> Result<KeyId, Error> {
        let refuse = |reason: String| Error::Signature {
            path: path.display().to_string(),
            reason,
        };
        if self.keys.is_empty() {
            return Err(refuse("no trusted keys were given".into()));
        }
        let sig = Detached::read(path)?.ok_or_else(|| {
            refuse(format!(
                "unsigned: no signature file {}",
                signature_path(path).display()
            ))
        })?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sig.info.key_id)
            .ok_or_else(|| {
                let trusted: Vec<String> = self.ids().map(|id| id.to_string()).collect();
                refuse(format!(
                    "signed with key {}, which is not trusted (trusted: {})",
                    sig.info.key_id,
                    trusted.join(", ")
                ))
            })?;
        // Legacy (non-prehashed) signatures are still Ed25519 over the whole
        // file; older minisign versions made them.
        key.key.verify(bytes, &sig.sig, true).map_err(|e| {
            refuse(match e {
                minisign_verify::Error::InvalidSignature => format!(
                    "the signature by key {} does not match the file (changed after signing?)",
                    key.id
                ),
                other => format!("signature by key {}: {other}", key.id),
            })
        })?;
        // The signature (and with it the trusted comment) is genuine: now
        // hold it to what it was made for.
        let comment = &sig.info.trusted_comment;
        let name = path.file_name().map(|n| n.to_string_lossy());
        if let (Some(signed), Some(name)) = (comment_field(comment, "file"), name) {
            if signed != name {
                return Err(refuse(format!(
                    "the signature by key {} was made for file {signed:?}, not {name:?}: \
                     a signature vouches for one file name",
                    key.id
                )));
            }
        }
        for (field, want) in required {
            match comment_field(comment, field) {
                Some(have) if have == want => {}
                have => {
                    return Err(refuse(format!(
                        "the signature by key {} has {field}:{} in its trusted comment, \
                         the loader requires {field}:{want}",
                        key.id,
                        have.unwrap_or("(none)")
                    )))
                }
            }
        }
        Ok(key.id)
    }
}

/// The value of `field` in a trusted comment made of tab-separated
/// `field:value` items (minisign's and lucetc's form), if it has one.
pub(crate) fn comment_field<'c>(comment: &'c str, field: &str) -> Option<&'c str> {
    comment
        .split('\t')
        .find_map(|item| item.strip_prefix(field)?.strip_prefix(':'))
}

/// What a signature file says, before any key is checked.
#[derive(Clone, Debug)]
pub struct SignatureInfo {
    /// The ID of the key that made it.
    pub key_id: KeyId,
    /// Its trusted (signed) comment, e.g. `timestamp:... file:...`.
    pub trusted_comment: String,
    /// Whether it signs the file's BLAKE2b hash (minisign's default) rather
    /// than the file itself (legacy).
    pub prehashed: bool,
}

/// A parsed detached signature.
pub(crate) struct Detached {
    sig: minisign_verify::Signature,
    pub info: SignatureInfo,
}

/// Where the signature of `path` is: `path` with `.minisig` appended,
/// minisign's convention.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".minisig");
    PathBuf::from(p)
}

impl Detached {
    /// Read the signature of `path`, or `None` if it has none.
    pub fn read(path: &Path) -> Result<Option<Detached>, Error> {
        let sig_path = signature_path(path);
        let bytes = match read_regular(&sig_path, MAX_SIGNATURE_FILE) {
            Ok(b) => b,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        Detached::parse(&bytes)
            .map(Some)
            .map_err(|reason| Error::Signature {
                path: path.display().to_string(),
                reason: format!(
                    "{} is not a minisign signature: {reason}",
                    sig_path.display()
                ),
            })
    }

    fn parse(bytes: &[u8]) -> Result<Detached, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not text")?;
        let sig = minisign_verify::Signature::decode(text).map_err(|e| e.to_string())?;
        // minisign-verify keeps the key ID to itself: read it from the
        // signature line (algorithm, 8-byte key ID, signature).
        let line = text.lines().nth(1).ok_or("no signature line")?;
        let raw = decode_base64(line).ok_or("signature line is not base64")?;
        if raw.len() != 74 {
            return Err("signature line has the wrong length".into());
        }
        Ok(Detached {
            info: SignatureInfo {
                key_id: KeyId(raw[2..10].try_into().unwrap()),
                trusted_comment: sig.trusted_comment().to_string(),
                prehashed: raw[..2] == *b"ED",
            },
            sig,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A key and signature of the bytes "test" made by minisign itself
    // (minisign-verify's own test vector).
    const KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";
    const SIG: &str = "untrusted comment: signature from minisign secret key
RWQf6LRCGA9i59SLOFxz6NxvASXDJeRtuZykwQepbDEGt87ig1BNpWaVWuNrm73YiIiJbq71Wi+dP9eKL8OC351vwIasSSbXxwA=
trusted comment: timestamp:1555779966\tfile:test
QtKMXWyYcwdpZAlPF7tE2ENJkRd1ujvKjlj1m9RtHTBnZPa5WKU5uWRs5GoP5M/VqE81QFuMKI5k/SfNQUaOAA==
";

    #[test]
    fn key_ids_read_as_minisign_prints_them() {
        let key = PublicKey::decode(&format!("untrusted comment: x\n{KEY}\n")).unwrap();
        assert_eq!(key.id().to_string(), "E7620F1842B4E81F");
        let sig = Detached::parse(SIG.as_bytes()).unwrap();
        assert_eq!(sig.info.key_id, key.id());
        assert_eq!(sig.info.trusted_comment, "timestamp:1555779966\tfile:test");
        assert!(!sig.info.prehashed);
    }

    #[test]
    fn verification_against_trusted_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("test");
        std::fs::write(&file, b"test").unwrap();
        std::fs::write(signature_path(&file), SIG).unwrap();
        let keys = TrustedKeys::new().with(PublicKey::from_base64(KEY).unwrap());
        assert_eq!(keys.read_verified(&file, 100).unwrap(), b"test");
        std::fs::write(&file, b"tesT").unwrap();
        let e = keys.read_verified(&file, 100).unwrap_err().to_string();
        assert!(e.contains("does not match the file"), "{e}");
        let e = TrustedKeys::new().read_verified(&file, 100).unwrap_err();
        assert!(e.to_string().contains("no trusted keys"), "{e}");
        std::fs::remove_file(signature_path(&file)).unwrap();
        let e = keys.read_verified(&file, 100).unwrap_err().to_string();
        assert!(e.contains("unsigned"), "{e}");
    }

    #[test]
    fn malformed_keys_are_named() {
        assert!(PublicKey::from_base64("RWQ").is_err());
        assert!(PublicKey::decode("untrusted comment: x\nnot a key").is_err());
        let e = PublicKey::from_base64("!!!!").unwrap_err().to_string();
        assert!(e.contains("!!!!") && e.contains("not base64"), "{e}");
    }
}
