//! Signing compiled modules with minisign keys.
//!
//! A signature is written beside its module as `MODULE.minisig`, in
//! minisign's format, so the `minisign` command-line tool verifies what
//! lucetc signs (`minisign -Vm MODULE -p KEY.pub`) and signs what the
//! runtime accepts (`minisign -Sm MODULE -s KEY`). Keys are minisign keys,
//! made with `minisign -G` or [`generate_keypair`] (`lucetc --keygen`).
//! Signing uses the `minisign` crate, the Rust implementation by the
//! format's author.

use crate::Error;
use ct_codecs::{Base64, Decoder};
/// A minisign secret key (from `load_secret_key`).
pub use minisign::SecretKey;
use minisign::{KeyPair, SecretKeyBox};
use std::io::Write;
use std::path::{Path, PathBuf};

fn err(reason: impl std::fmt::Display) -> Error {
    Error::Signing(reason.to_string())
}

/// The signature file of `path`: `path` with `.minisig` appended.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".minisig");
    PathBuf::from(p)
}

/// How to get a secret key's password if it is encrypted.
pub enum Password {
    /// This password.
    Given(String),
    /// Ask on the terminal.
    Prompt,
    /// None available: refuse encrypted keys.
    None,
}

/// Read a minisign secret key file, decrypting it if it is encrypted.
pub fn load_secret_key(path: &Path, password: Password) -> Result<SecretKey, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let named = |e: minisign::PError| err(format!("{}: {e}", path.display()));
    if !looks_like_secret_key(&text) {
        return Err(err(format!(
            "{}: not a minisign secret key",
            path.display()
        )));
    }
    let key_box = SecretKeyBox::from_string(&text).map_err(named)?;
    if let Ok(key) = SecretKey::from_unencrypted_box(key_box.clone()) {
        return Ok(key);
    }
    if let Some(key) = tool_unencrypted_key(&text) {
        return Ok(key);
    }
    let password = match password {
        Password::Given(p) => Some(p),
        Password::Prompt => None,
        Password::None => {
            return Err(err(format!(
                "{}: the key is encrypted: set LUCETC_KEY_PASSWORD or run on a terminal",
                path.display()
            )))
        }
    };
    key_box.into_secret_key(password).map_err(named)
}

/// Whether `text` has the shape of a minisign secret key file: a comment
/// line, then an Ed25519 key of the right length (the minisign crate
/// accepts much else and then calls it encrypted).
fn looks_like_secret_key(text: &str) -> bool {
    let mut lines = text.lines();
    let comment = lines
        .next()
        .is_some_and(|l| l.starts_with("untrusted comment:"));
    let key = lines
        .next()
        .and_then(|l| Base64::decode_to_vec(l.trim(), None).ok());
    comment && key.is_some_and(|k| k.len() == SECRET_KEY_BYTES && k.starts_with(b"Ed"))
}

/// A secret key's decoded length: algorithms (6), KDF salt and limits
/// (48), key ID (8), secret key (64), checksum (32).
const SECRET_KEY_BYTES: usize = 158;

/// An unencrypted key as `minisign -G -W` (0.11) writes it: with an
/// all-zero checksum, which the minisign crate takes for corruption.
/// Exactly that form is accepted (the tool does not check it either).
fn tool_unencrypted_key(text: &str) -> Option<SecretKey> {
    // The checksum is the last 32 bytes (see SECRET_KEY_BYTES).
    const CHECKSUM: std::ops::Range<usize> = 126..SECRET_KEY_BYTES;
    let line = text.lines().nth(1)?;
    let bytes = Base64::decode_to_vec(line.trim(), None).ok()?;
    let unencrypted = bytes.len() == CHECKSUM.end && bytes[2..4] == [0, 0];
    if !unencrypted || bytes[CHECKSUM].iter().any(|&b| b != 0) {
        return None;
    }
    SecretKey::from_bytes(&bytes).ok()
}

/// Make a new key pair: the secret key at `secret` (readable only by its
/// owner), the public key at `public`. Neither file may exist. With no
/// password the secret key is stored unencrypted (as `minisign -G -W`).
/// Returns the key ID as minisign prints it (16 hex digits).
pub fn generate_keypair(secret: &Path, public: &Path, password: Password) -> Result<String, Error> {
    for p in [secret, public] {
        if p.exists() {
            return Err(err(format!(
                "{} exists; not overwriting a key",
                p.display()
            )));
        }
    }
    let pair = match password {
        Password::None => KeyPair::generate_unencrypted_keypair(),
        Password::Given(p) => KeyPair::generate_encrypted_keypair(Some(p)),
        Password::Prompt => KeyPair::generate_encrypted_keypair(None),
    }
    .map_err(err)?;
    let public_text = pair.pk.to_box().map_err(err)?.into_string();
    let secret_text = pair.sk.to_box(None).map_err(err)?.into_string();
    write_new(secret, secret_text.as_bytes(), 0o600)?;
    write_new(public, public_text.as_bytes(), 0o644)?;
    Ok(key_id(pair.pk.keynum()))
}

/// A key ID as minisign prints it.
fn key_id(keynum: &[u8]) -> String {
    let mut id = [0u8; 8];
    id.copy_from_slice(&keynum[..8]);
    format!("{:016X}", u64::from_le_bytes(id))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)
}

/// Sign the file at `path` with `key`, writing `path.minisig`; returns the
/// signature's path. The trusted comment names the file, as minisign's
/// does.
pub fn sign_file(path: &Path, key: &SecretKey) -> Result<PathBuf, Error> {
    sign_file_with(path, key, &[])
}

/// [`sign_file`], with `extra` `field:value` items in the trusted comment
/// (a version, say, which a loader can require: the runtime's
/// `LoadOptions::require_signed`). Fields and values are refused if they
/// contain a tab, a newline or (fields) a colon, or if a field is one the
/// comment already has.
pub fn sign_file_with(
    path: &Path,
    key: &SecretKey,
    extra: &[(String, String)],
) -> Result<PathBuf, Error> {
    let mut items = String::new();
    for (field, value) in extra {
        let bad = |s: &str| s.contains(['\t', '\n', '\r']);
        if field.is_empty() || bad(field) || field.contains(':') || bad(value) {
            return Err(Error::Signing(format!(
                "a trusted comment item must be FIELD:VALUE without tabs or newlines, \
                 and FIELD without a colon: got {field:?}:{value:?}"
            )));
        }
        if ["timestamp", "file", "hashed"].contains(&field.as_str()) {
            return Err(Error::Signing(format!(
                "the trusted comment item {field:?} is written by lucetc itself"
            )));
        }
        items.push('\t');
        items.push_str(field);
        items.push(':');
        items.push_str(value);
    }
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source| Error::Io { path: p, source }
    };
    let bytes = std::fs::read(path).map_err(io(path))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let trusted = format!("timestamp:{timestamp}\tfile:{name}\thashed{items}");
    let signature = minisign::sign(
        None,
        key,
        std::io::Cursor::new(&bytes),
        Some(&trusted),
        Some("signature from lucetc secret key"),
    )
    .map_err(err)?;
    let sig_path = signature_path(path);
    crate::link::write_atomically(&sig_path, signature.into_string().as_bytes())?;
    Ok(sig_path)
}
