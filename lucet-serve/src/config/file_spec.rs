//! The shape of a configuration file, as TOML gives it, before it is
//! checked and resolved into a [`Config`](super::Config): sizes as numbers
//! or text, durations as text, per-route overrides.

use super::*;

/// A size in a config file: bytes as a number, or a string such as "64MiB".
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Size {
    Bytes(u64),
    Text(String),
}

impl Size {
    /// The size in bytes; errors name `key`.
    pub(super) fn bytes(&self, key: &str) -> Result<u64> {
        match self {
            Size::Bytes(n) => Ok(*n),
            Size::Text(s) => parse_size(s).map_err(|e| anyhow!("{key}: {e}")),
        }
    }
}

/// A duration in a config file: a string with a unit, such as "100ms". A
/// bare TOML number is read only to refuse it with the fix: the unit it
/// would stand for is a guess (it was milliseconds here and seconds to
/// lucet-wasi), so every duration spells its unit out.
#[derive(Clone, Debug)]
pub(super) enum DurationText {
    Text(String),
    Number(f64),
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DurationText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration with a unit, as a string such as \"500ms\"")
            }
            fn visit_str<E>(self, s: &str) -> Result<DurationText, E> {
                Ok(DurationText::Text(s.to_string()))
            }
            fn visit_i64<E>(self, n: i64) -> Result<DurationText, E> {
                Ok(DurationText::Number(n as f64))
            }
            fn visit_u64<E>(self, n: u64) -> Result<DurationText, E> {
                Ok(DurationText::Number(n as f64))
            }
            fn visit_f64<E>(self, n: f64) -> Result<DurationText, E> {
                Ok(DurationText::Number(n))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl DurationText {
    /// The text; for a number, an error naming `key` and the fix.
    pub(super) fn text(&self, key: &str) -> Result<&str> {
        match self {
            DurationText::Text(s) => Ok(s),
            DurationText::Number(n) => bail!(
                "{key} = {n}: a duration needs a unit, as a string: \
                 write {key} = \"{n}ms\" (or \"{n}s\")"
            ),
        }
    }

    /// `key`'s duration.
    pub(super) fn duration(&self, key: &str) -> Result<Duration> {
        parse_duration(self.text(key)?).map_err(|e| anyhow!("{key}: {e}"))
    }

    /// `key`'s deadline-like setting: a duration, or none (see
    /// [`parse_deadline`]).
    pub(super) fn deadline(&self, key: &str) -> Result<Option<Duration>> {
        parse_deadline(self.text(key)?).with_context(|| key.to_string())
    }
}

/// Limit settings as written: every field optional, so a route can
/// override some of the defaults.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsSpec {
    pub(super) deadline: Option<DurationText>,
    pub(super) heap: Option<Size>,
    pub(super) stack: Option<Size>,
    pub(super) instruction_budget: Option<u64>,
    pub(super) max_body: Option<Size>,
    pub(super) max_output: Option<Size>,
    pub(super) max_concurrency: Option<usize>,
    pub(super) cpu_time: Option<DurationText>,
    pub(super) max_running: Option<usize>,
    pub(super) penalty_cpu: Option<DurationText>,
    pub(super) penalty_memory: Option<Size>,
}

impl LimitsSpec {
    /// `limits` with every setting given here applied.
    pub(super) fn apply(&self, mut limits: RouteLimits) -> Result<RouteLimits> {
        if let Some(d) = &self.deadline {
            limits.deadline = d.deadline("deadline")?;
        }
        if let Some(h) = &self.heap {
            limits.heap = h.bytes("heap")?;
        }
        if let Some(s) = &self.stack {
            limits.stack = s.bytes("stack")? as usize;
        }
        if let Some(b) = self.instruction_budget {
            limits.instruction_budget = Some(b);
        }
        if let Some(b) = &self.max_body {
            limits.max_body = b.bytes("max_body")?;
        }
        if let Some(o) = &self.max_output {
            limits.max_output = o.bytes("max_output")? as usize;
        }
        if let Some(c) = self.max_concurrency {
            if c == 0 {
                bail!("max_concurrency must be at least 1");
            }
            limits.max_concurrency = c;
        }
        if let Some(c) = &self.cpu_time {
            limits.cpu_time = c.deadline("cpu_time")?;
        }
        if let Some(r) = self.max_running {
            if r == 0 {
                bail!("max_running must be at least 1");
            }
            limits.max_running = Some(r);
        }
        if let Some(c) = &self.penalty_cpu {
            limits.penalty_cpu = c.duration("penalty_cpu")?;
        }
        if let Some(m) = &self.penalty_memory {
            limits.penalty_memory = m.bytes("penalty_memory")?;
        }
        Ok(limits)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouteSpec {
    pub(super) path: String,
    pub(super) module: PathBuf,
    #[serde(flatten)]
    pub(super) limits: LimitsSpec,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSpec {
    pub(super) listen: Option<String>,
    pub(super) workers: Option<usize>,
    pub(super) queue: Option<usize>,
    pub(super) slow_workers: Option<usize>,
    pub(super) slow_queue: Option<usize>,
    pub(super) slow_lane_cpu: Option<f64>,
    pub(super) penalty: Option<DurationText>,
    pub(super) io_threads: Option<usize>,
    pub(super) shutdown_timeout: Option<DurationText>,
    pub(super) metrics_path: Option<String>,
    pub(super) health_path: Option<String>,
    pub(super) ready_path: Option<String>,
    pub(super) drain_delay: Option<DurationText>,
    pub(super) header_read_timeout: Option<DurationText>,
    pub(super) idle_timeout: Option<DurationText>,
    pub(super) max_connections: Option<usize>,
    pub(super) max_connections_per_client: Option<usize>,
    pub(super) listen_backlog: Option<u32>,
    #[serde(default)]
    pub(super) trusted_keys: Vec<PathBuf>,
    #[serde(default)]
    pub(super) defaults: LimitsSpec,
    #[serde(default, rename = "route")]
    pub(super) routes: Vec<RouteSpec>,
}
