//! The shim's configuration: a TOML file, read when the shim starts.
//!
//! The file is `$CONTAINERD_SHIM_LUCET_CONFIG` if that is set (containerd
//! passes its own environment to the shims it starts), otherwise
//! `/etc/containerd-shim-lucet/config.toml`; without either, the defaults
//! apply. Every key is optional:
//!
//! ```toml
//! # Where compiled modules are cached (in its `cache/` subdirectory).
//! state_dir = "/var/lib/containerd-shim-lucet"
//! # Keys whose signatures a `.so` entrypoint may carry (a minisign .pub
//! # file, relative to this file's directory, or the base64 key itself).
//! # Without any, `.so` entrypoints are refused.
//! trusted_keys = ["keys/release.pub"]
//! # Limits for pods that set none (the names of the `lucet.dev/` annotations).
//! [limits]
//! deadline = "5m"
//! max-heap = "256MiB"
//! ```

use crate::limits::{GuestLimits, LimitError};
use lucet_runtime::{PublicKey, TrustedKeys};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "CONTAINERD_SHIM_LUCET_CONFIG";
/// The configuration file read when [`CONFIG_ENV`] is not set (its absence
/// is not an error).
pub const DEFAULT_CONFIG_PATH: &str = "/etc/containerd-shim-lucet/config.toml";
/// The state directory when the configuration names none.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/containerd-shim-lucet";

/// The shim's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,
    /// The shim's state directory; compiled modules are cached in its
    /// `cache/` subdirectory.
    pub state_dir: PathBuf,
    /// Keys whose signatures make a `.so` entrypoint acceptable.
    pub trusted_keys: TrustedKeys,
    /// Limits for guests whose pod sets none.
    pub limits: GuestLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            trusted_keys: TrustedKeys::new(),
            limits: GuestLimits::default(),
        }
    }
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has keys the shim does not know.
    #[error("configuration {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
    /// A trusted key could not be read.
    #[error("configuration {path}: trusted_keys: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        source: lucet_runtime::Error,
    },
    /// A default limit could not be read.
    #[error("configuration {path}: {source}")]
    Limit {
        /// The file.
        path: PathBuf,
        /// Why.
        source: LimitError,
    },
    /// The state directory must not depend on the shim's working directory
    /// (a container's bundle).
    #[error("configuration {path}: state_dir {dir:?} is not an absolute path")]
    RelativeStateDir {
        /// The file.
        path: PathBuf,
        /// The directory given.
        dir: PathBuf,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileContents {
    state_dir: Option<PathBuf>,
    #[serde(default)]
    trusted_keys: Vec<String>,
    #[serde(default)]
    limits: BTreeMap<String, toml::Value>,
}

impl Config {
    /// Read the configuration from `$CONTAINERD_SHIM_LUCET_CONFIG`, or from
    /// [`DEFAULT_CONFIG_PATH`] if it exists, or take the defaults.
    pub fn load() -> Result<Config, ConfigError> {
        match std::env::var_os(CONFIG_ENV) {
            Some(p) if !p.is_empty() => Config::read(Path::new(&p)),
            _ => match Config::read(Path::new(DEFAULT_CONFIG_PATH)) {
                Err(ConfigError::Read { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    Ok(Config::default())
                }
                other => other,
            },
        }
    }

    /// Read the configuration file `path`.
    pub fn read(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parse the text of the configuration file `path` (relative key files
    /// are relative to its directory).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let contents: FileContents = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: one_line_toml_error(text, &e),
        })?;
        let mut config = Config {
            source: Some(path.to_path_buf()),
            ..Config::default()
        };
        if let Some(dir) = contents.state_dir {
            if !dir.is_absolute() {
                return Err(ConfigError::RelativeStateDir {
                    path: path.to_path_buf(),
                    dir,
                });
            }
            config.state_dir = dir;
        }
        let base = path.parent().unwrap_or(Path::new("/"));
        for k in &contents.trusted_keys {
            let key = public_key(k, base).map_err(|source| ConfigError::Key {
                path: path.to_path_buf(),
                source,
            })?;
            config.trusted_keys.add(key);
        }
        for (name, value) in &contents.limits {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                other => other.to_string(),
            };
            config
                .limits
                .set(name, &text, &format!("limits.{name}"))
                .map_err(|source| ConfigError::Limit {
                    path: path.to_path_buf(),
                    source,
                })?;
        }
        Ok(config)
    }

    /// The directory of cached compiled modules.
    pub fn cache_dir(&self) -> PathBuf {
        self.state_dir.join("cache")
    }
}

/// A key as the configuration gives it: the base64 key itself (what
/// `minisign -G` prints), or a `.pub` file, relative to `base`.
fn public_key(text: &str, base: &Path) -> Result<PublicKey, lucet_runtime::Error> {
    let t = text.trim();
    let file = base.join(t);
    if t.len() == 56 && t.starts_with("RW") && !file.exists() {
        PublicKey::from_base64(t)
    } else {
        PublicKey::from_file(file)
    }
}

/// toml's messages span several lines (the line quoted, a caret); keep
/// the position and the message.
fn one_line_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // A key `minisign -G` made (public half only).
    const KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";

    #[test]
    fn defaults_without_a_file() {
        let c = Config::default();
        assert_eq!(c.state_dir, Path::new(DEFAULT_STATE_DIR));
        assert_eq!(c.cache_dir(), Path::new(DEFAULT_STATE_DIR).join("cache"));
        assert!(c.trusted_keys.is_empty());
        assert_eq!(c.limits, GuestLimits::default());
    }

    #[test]
    fn every_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("k.pub"),
            format!("untrusted comment: test key\n{KEY}\n"),
        )
        .unwrap();
        let text = format!(
            r#"
            state_dir = "/srv/lucet"
            trusted_keys = ["k.pub", "{KEY}"]
            [limits]
            deadline = "2s"
            max-heap = "64MiB"
            instruction-budget = 5000
            "#
        );
        let path = dir.path().join("config.toml");
        let c = Config::parse(&text, &path).unwrap();
        assert_eq!(c.source.as_deref(), Some(path.as_path()));
        assert_eq!(c.cache_dir(), Path::new("/srv/lucet/cache"));
        assert_eq!(c.trusted_keys.ids().count(), 2);
        assert_eq!(c.limits.deadline, Some(Duration::from_secs(2)));
        assert_eq!(c.limits.max_heap, Some(64 << 20));
        assert_eq!(c.limits.instruction_budget, Some(5000));
        assert_eq!(c.limits.cpu_time, None);
    }

    #[test]
    fn errors_are_one_line_and_name_the_file() {
        let p = Path::new("/etc/x/config.toml");
        for (text, needle) in [
            ("state_dir = 3", "line 1"),
            ("\nstat_dir = \"/a\"", "unknown field"),
            ("state_dir = \"rel\"", "not an absolute path"),
            ("[limits]\ndeadline = \"5\"", "limits.deadline"),
            (
                "[limits]\ntimeout = \"5s\"",
                "unknown limit \"limits.timeout\"",
            ),
            ("trusted_keys = [\"missing.pub\"]", "missing.pub"),
        ] {
            let e = Config::parse(text, p).unwrap_err().to_string();
            assert!(e.starts_with("configuration /etc/x/config.toml: "), "{e}");
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn a_missing_named_file_is_an_error() {
        let e = Config::read(Path::new("/nonexistent/lucet.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }), "{e}");
    }
}
