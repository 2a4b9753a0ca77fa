//! What the shim reads on the host, once, when its process starts.
//!
//! runwasi runs the guest inside the container's own process, after it
//! has entered the container's namespaces and made the image its root:
//! from there the host's files are out of reach. So the shim's `main`
//! reads everything a run needs before runwasi forks anything (the
//! processes it forks, containers included, inherit it): the
//! configuration, the cache directory (kept open), the compiler's
//! identity, and the limits annotated on the bundle the shim was started
//! for.
//!
//! containerd starts the shim in a container's bundle directory. With
//! `ctr` each container has its own shim; under Kubernetes one shim serves
//! a whole pod (runwasi groups by the pod's sandbox id) and is started for
//! the pod's sandbox, whose spec carries the pod's annotations (those the
//! runtime's `pod_annotations` lets through) as every container's does. So
//! the limits are the pod's.

use crate::cache::{self, Cache, CacheError};
use crate::config::{Config, ConfigError};
use crate::limits::{GuestLimits, LimitError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Why the bundle's limits could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The spec could not be read or parsed.
    #[error("{path}: {message}")]
    Spec {
        /// The spec file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// An annotation is not a valid limit.
    #[error("annotation {0}")]
    Limit(#[from] LimitError),
}

/// The host state of this shim process.
#[derive(Debug)]
pub struct Host {
    /// The configuration.
    pub config: Result<Config, ConfigError>,
    /// The open cache directory (none if the configuration is unusable).
    pub cache: Option<Result<Cache, CacheError>>,
    /// The limits annotated on the bundle.
    pub annotated: Result<GuestLimits, BundleError>,
    /// The compiler's identity, for cache keys.
    pub compiler: String,
}

static HOST: OnceLock<Host> = OnceLock::new();

/// Read the host state (first call), for the bundle in the working
/// directory. Call it in `main`, before runwasi starts.
pub fn init() -> &'static Host {
    HOST.get_or_init(|| {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Host::load(&cwd)
    })
}

impl Host {
    /// Read the configuration, open the cache and read the limits of the
    /// bundle `bundle`.
    pub fn load(bundle: &Path) -> Host {
        let config = Config::load();
        let cache = config.as_ref().ok().map(|c| Cache::open(&c.cache_dir()));
        Host {
            config,
            cache,
            annotated: bundle_limits(bundle),
            compiler: cache::compiler_identity(),
        }
    }

    /// The limits of a guest: the bundle's annotations, then the
    /// configuration's defaults.
    pub fn limits(&self) -> Result<GuestLimits, String> {
        let config = self.config.as_ref().map_err(|e| e.to_string())?;
        let annotated = self.annotated.as_ref().map_err(|e| e.to_string())?;
        Ok(annotated.or(config.limits))
    }

    /// Whether a container can be run at all: the configuration and the
    /// bundle's annotations are readable. (A cache that cannot be used
    /// only costs a compile per run.)
    pub fn check(&self) -> Result<(), String> {
        self.limits().map(drop)
    }
}

/// The limits annotated in the OCI spec (`config.json`) of the bundle
/// `dir`; none if there is no spec (the shim run outside a bundle, e.g.
/// for `-v`).
pub fn bundle_limits(dir: &Path) -> Result<GuestLimits, BundleError> {
    let path = dir.join("config.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(GuestLimits::default()),
        Err(e) => {
            return Err(BundleError::Spec {
                path,
                message: e.to_string(),
            })
        }
    };
    #[derive(serde::Deserialize)]
    struct Spec {
        #[serde(default)]
        annotations: Option<BTreeMap<String, String>>,
    }
    let spec: Spec = serde_json::from_slice(&bytes).map_err(|e| BundleError::Spec {
        path,
        message: e.to_string(),
    })?;
    let annotations = spec.annotations.unwrap_or_default();
    Ok(GuestLimits::from_annotations(
        annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )?)
}

/// Whether the shim was invoked as `... start` (containerd's first call
/// for a bundle, whose failure containerd reports with the shim's stderr).
pub fn is_start_command(args: &[std::ffi::OsString]) -> bool {
    args.last().is_some_and(|a| a == "start")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn limits_from_a_bundle_spec() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(bundle_limits(dir.path()).unwrap(), GuestLimits::default());
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"ociVersion":"1.0.2","process":{"args":["/m.wasm"]},
                "annotations":{"lucet.dev/deadline":"3s","io.kubernetes.cri.sandbox-id":"x"}}"#,
        )
        .unwrap();
        let l = bundle_limits(dir.path()).unwrap();
        assert_eq!(l.deadline, Some(Duration::from_secs(3)));
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"annotations":{"lucet.dev/max-heap":"big"}}"#,
        )
        .unwrap();
        let e = bundle_limits(dir.path()).unwrap_err().to_string();
        assert!(e.starts_with("annotation lucet.dev/max-heap: "), "{e}");
        std::fs::write(dir.path().join("config.json"), "{").unwrap();
        assert!(matches!(
            bundle_limits(dir.path()),
            Err(BundleError::Spec { .. })
        ));
    }

    #[test]
    fn start_is_the_last_argument() {
        let args = |s: &[&str]| {
            s.iter()
                .map(Into::into)
                .collect::<Vec<std::ffi::OsString>>()
        };
        assert!(is_start_command(&args(&[
            "shim",
            "-namespace",
            "k8s.io",
            "-id",
            "x",
            "start"
        ])));
        assert!(!is_start_command(&args(&["shim", "-id", "x", "delete"])));
        assert!(!is_start_command(&args(&[
            "shim", "-id", "start", "-debug"
        ])));
    }
}
