//! Command-line helpers shared by the `lucet-wasi` binary: parsing of
//! `--dir`, `--env` and `--timeout` values, and splitting the command line
//! into runner options and the guest's own arguments.

use std::time::Duration;

/// Parse a duration: a number with a unit `ns`, `us`, `ms`, `s`, `m` or
/// `h` (`500ms`, `2s`, `1.5s`); a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?} (try 500ms, 2s)"))?;
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} in {s:?} (ns, us, ms, s, m, h)"
            ))
        }
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("bad duration {s:?}: {e}"))
}

/// Parse `HOST[::GUEST]`: the host directory and the name the guest sees
/// (the host path itself when no `::GUEST` is given).
pub fn parse_dir(s: &str) -> (String, String) {
    match s.split_once("::") {
        Some((host, guest)) => (host.to_string(), guest.to_string()),
        None => (s.to_string(), s.to_string()),
    }
}

/// Parse `KEY=VALUE`; a bare `KEY` takes the host's value of `KEY` (and is
/// `None` if the host has none).
pub fn parse_env(s: &str) -> Result<Option<(String, String)>, String> {
    match s.split_once('=') {
        Some(("", _)) => Err(format!("bad --env {s:?}: empty name")),
        Some((k, v)) => Ok(Some((k.to_string(), v.to_string()))),
        None => Ok(std::env::var(s).ok().map(|v| (s.to_string(), v))),
    }
}

/// Split a command line `[OPTIONS] MODULE [--] [ARGS]...` into the part the
/// runner parses (up to and including the module) and the guest's
/// arguments. `takes_value` tells which long options take a separate
/// value. A `--` before the module ends the options; one right after the
/// module is dropped.
pub fn split_guest_args(argv: &[String], takes_value: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut i = 1;
    let mut options_done = false;
    while i < argv.len() {
        let a = &argv[i];
        if options_done || !a.starts_with('-') || a == "-" {
            // The module.
            let mut rest = i + 1;
            if argv.get(rest).map(String::as_str) == Some("--") {
                rest += 1;
            }
            let mut head = argv[..=i].to_vec();
            if options_done {
                // Drop the `--` that ended the options from what clap sees.
                head.retain(|x| x != "--");
            }
            return (head, argv[rest..].to_vec());
        }
        if a == "--" {
            options_done = true;
        } else if takes_value.contains(&a.as_str()) {
            i += 1;
        }
        i += 1;
    }
    (argv.to_vec(), Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 parsecs").is_err());
    }

    #[test]
    fn dirs_and_env() {
        assert_eq!(parse_dir("/tmp/x::/"), ("/tmp/x".into(), "/".into()));
        assert_eq!(parse_dir("data"), ("data".into(), "data".into()));
        assert_eq!(
            parse_env("A=b=c").unwrap(),
            Some(("A".into(), "b=c".into()))
        );
        assert!(parse_env("=x").is_err());
    }

    #[test]
    fn guest_args_start_after_the_module() {
        let takes = ["--dir", "--env"];
        let (head, rest) =
            split_guest_args(&v(&["lw", "--dir", "a", "m.so", "--dir", "-x"]), &takes);
        assert_eq!(head, v(&["lw", "--dir", "a", "m.so"]));
        assert_eq!(rest, v(&["--dir", "-x"]));
        let (head, rest) =
            split_guest_args(&v(&["lw", "--env=A=1", "m.so", "--", "--help"]), &takes);
        assert_eq!(head, v(&["lw", "--env=A=1", "m.so"]));
        assert_eq!(rest, v(&["--help"]));
        let (head, rest) = split_guest_args(&v(&["lw", "--", "-m.so", "x"]), &takes);
        assert_eq!(head, v(&["lw", "-m.so"]));
        assert_eq!(rest, v(&["x"]));
        let (head, rest) = split_guest_args(&v(&["lw", "--help"]), &takes);
        assert_eq!(head, v(&["lw", "--help"]));
        assert!(rest.is_empty());
    }
}
