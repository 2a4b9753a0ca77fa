//! The limits a guest runs under, as pod annotations and the shim's
//! configuration name them.
//!
//! Each limit has one name, used both as an annotation (with the prefix
//! [`ANNOTATION_PREFIX`], e.g. `lucet.dev/deadline: 2s`) and as a key of
//! the configuration's `[limits]` table (defaults for pods that set none):
//!
//! | name                 | value                                   | runtime setting                  |
//! |----------------------|-----------------------------------------|----------------------------------|
//! | `deadline`           | duration (`500ms`, `2s`, `1m`)           | `Instance::set_deadline`         |
//! | `max-heap`           | size (`64MiB`; a bare number is bytes)   | `Limits::heap_memory_size`       |
//! | `instruction-budget` | wasm instructions (a whole number)       | `Instance::set_instruction_budget` |
//! | `cpu-time`           | duration                                 | `Instance::set_cpu_time_limit`   |
//!
//! Sizes and durations are read as by every lucet command
//! ([`lucet_module::units`]). An annotation under the prefix that names
//! none of these is refused rather than ignored, so a misspelt limit does
//! not silently leave a pod unbounded.

use lucet_module::units::{parse_duration, parse_size};
use std::time::Duration;

/// The prefix of the shim's pod annotations.
pub const ANNOTATION_PREFIX: &str = "lucet.dev/";

/// The names of the limits, as annotations (after the prefix) and
/// configuration keys.
pub const LIMIT_NAMES: [&str; 4] = ["deadline", "max-heap", "instruction-budget", "cpu-time"];

/// Limits for one guest; `None` leaves the runtime's default (no deadline,
/// 4 GiB of heap, no budget, no CPU-time limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestLimits {
    /// Wall-clock time for the whole run, start function included.
    pub deadline: Option<Duration>,
    /// Most bytes of linear memory.
    pub max_heap: Option<u64>,
    /// Most wasm instructions executed. Needs a module compiled with
    /// instruction counting: a `.wasm` entrypoint is compiled so when the
    /// limit is set, a `.so` must have been.
    pub instruction_budget: Option<u64>,
    /// CPU time for the whole run (computing, not waiting).
    pub cpu_time: Option<Duration>,
}

/// A limit that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The name is not one of [`LIMIT_NAMES`].
    #[error("unknown limit {name:?} (known: deadline, max-heap, instruction-budget, cpu-time)")]
    Unknown {
        /// The name as written (with the annotation prefix, for annotations).
        name: String,
    },
    /// The value does not parse or is out of range.
    #[error("{name}: {reason}")]
    BadValue {
        /// The name as written (with the annotation prefix, for annotations).
        name: String,
        /// Why.
        reason: String,
    },
}

impl GuestLimits {
    /// Set the limit `name` (one of [`LIMIT_NAMES`]) from its text form.
    /// Errors name the limit as `shown` (the full annotation key, or the
    /// configuration key).
    pub fn set(&mut self, name: &str, value: &str, shown: &str) -> Result<(), LimitError> {
        let bad = |reason: String| LimitError::BadValue {
            name: shown.to_string(),
            reason,
        };
        let positive_duration = |v: &str| match parse_duration(v) {
            Ok(d) if d.is_zero() => Err(bad("must be more than zero".into())),
            Ok(d) => Ok(d),
            Err(e) => Err(bad(e)),
        };
        match name {
            "deadline" => self.deadline = Some(positive_duration(value)?),
            "cpu-time" => self.cpu_time = Some(positive_duration(value)?),
            "max-heap" => self.max_heap = Some(parse_size(value).map_err(bad)?),
            "instruction-budget" => {
                let n = value.trim().replace('_', "");
                match n.parse::<u64>() {
                    Ok(0) => return Err(bad("must be more than zero".into())),
                    Ok(n) => self.instruction_budget = Some(n),
                    Err(_) => {
                        return Err(bad(format!(
                            "bad instruction count {value:?}: expected a whole number"
                        )))
                    }
                }
            }
            _ => {
                return Err(LimitError::Unknown {
                    name: shown.to_string(),
                })
            }
        }
        Ok(())
    }

    /// The limits set by annotations (an OCI spec's, which for a pod are
    /// its annotations passed on by the CRI plugin). Annotations without
    /// [`ANNOTATION_PREFIX`] are not ours and are skipped.
    pub fn from_annotations<'a>(
        annotations: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<GuestLimits, LimitError> {
        let mut limits = GuestLimits::default();
        for (key, value) in annotations {
            if let Some(name) = key.strip_prefix(ANNOTATION_PREFIX) {
                limits.set(name, value, key)?;
            }
        }
        Ok(limits)
    }

    /// These limits, with those not set taken from `defaults`.
    pub fn or(self, defaults: GuestLimits) -> GuestLimits {
        GuestLimits {
            deadline: self.deadline.or(defaults.deadline),
            max_heap: self.max_heap.or(defaults.max_heap),
            instruction_budget: self.instruction_budget.or(defaults.instruction_budget),
            cpu_time: self.cpu_time.or(defaults.cpu_time),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<GuestLimits, LimitError> {
        GuestLimits::from_annotations(pairs.iter().copied())
    }

    #[test]
    fn all_limits_from_annotations() {
        let l = parse(&[
            ("lucet.dev/deadline", "1.5s"),
            ("lucet.dev/max-heap", "64MiB"),
            ("lucet.dev/instruction-budget", "1_000_000"),
            ("lucet.dev/cpu-time", "250ms"),
        ])
        .unwrap();
        assert_eq!(l.deadline, Some(Duration::from_millis(1500)));
        assert_eq!(l.max_heap, Some(64 << 20));
        assert_eq!(l.instruction_budget, Some(1_000_000));
        assert_eq!(l.cpu_time, Some(Duration::from_millis(250)));
    }

    #[test]
    fn other_annotations_are_not_ours() {
        let l = parse(&[
            ("io.kubernetes.cri.sandbox-id", "abc"),
            ("lucet.dev.other/deadline", "x"),
            ("deadline", "nonsense"),
        ])
        .unwrap();
        assert_eq!(l, GuestLimits::default());
    }

    #[test]
    fn a_bare_heap_size_is_bytes() {
        let l = parse(&[("lucet.dev/max-heap", "131072")]).unwrap();
        assert_eq!(l.max_heap, Some(131072));
    }

    #[test]
    fn bad_values_name_the_annotation() {
        let e = parse(&[("lucet.dev/deadline", "5")]).unwrap_err();
        assert!(
            matches!(&e, LimitError::BadValue { name, .. } if name == "lucet.dev/deadline"),
            "{e}"
        );
        assert!(e.to_string().starts_with("lucet.dev/deadline: "), "{e}");
        for (k, v) in [
            ("lucet.dev/deadline", "0s"),
            ("lucet.dev/cpu-time", "soon"),
            ("lucet.dev/max-heap", "lots"),
            ("lucet.dev/instruction-budget", "-3"),
            ("lucet.dev/instruction-budget", "0"),
            ("lucet.dev/instruction-budget", "1e6"),
        ] {
            assert!(parse(&[(k, v)]).is_err(), "{k}={v}");
        }
    }

    #[test]
    fn unknown_names_are_refused() {
        let e = parse(&[("lucet.dev/deadlin", "1s")]).unwrap_err();
        assert_eq!(
            e,
            LimitError::Unknown {
                name: "lucet.dev/deadlin".into()
            }
        );
        assert!(e.to_string().contains("deadline, max-heap"), "{e}");
    }

    #[test]
    fn annotations_override_defaults() {
        let defaults = GuestLimits {
            deadline: Some(Duration::from_secs(30)),
            max_heap: Some(1 << 30),
            ..GuestLimits::default()
        };
        let l = parse(&[("lucet.dev/deadline", "2s")]).unwrap().or(defaults);
        assert_eq!(l.deadline, Some(Duration::from_secs(2)));
        assert_eq!(l.max_heap, Some(1 << 30));
        assert_eq!(l.instruction_budget, None);
    }
}
