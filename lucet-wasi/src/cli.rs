//! Command-line helpers shared by the `lucet-wasi` binary: parsing of
//! `--dir` and `--env` values, and splitting the command line into runner
//! options and the guest's own arguments (bytes, not necessarily UTF-8).
//! Sizes and durations are read by `lucet_module::units`, as by every
//! command.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// Parse `HOST[::GUEST]`: the host directory and the name the guest sees
/// (the host path itself when no `::GUEST` is given). Both are bytes: they
/// need not be UTF-8.
pub fn parse_dir(s: &OsStr) -> (OsString, OsString) {
    let b = s.as_bytes();
    match b.windows(2).position(|w| w == b"::") {
        Some(i) => (
            OsStr::from_bytes(&b[..i]).to_os_string(),
            OsStr::from_bytes(&b[i + 2..]).to_os_string(),
        ),
        None => (s.to_os_string(), s.to_os_string()),
    }
}

/// Parse `KEY=VALUE`; a bare `KEY` takes the host's value of `KEY` (and is
/// `None` if the host has none). The value may be any bytes.
pub fn parse_env(s: &OsStr) -> Result<Option<(OsString, OsString)>, String> {
    let b = s.as_bytes();
    match b.iter().position(|&c| c == b'=') {
        Some(0) => Err(format!("bad --env {:?}: empty name", s.to_string_lossy())),
        Some(i) => Ok(Some((
            OsStr::from_bytes(&b[..i]).to_os_string(),
            OsStr::from_bytes(&b[i + 1..]).to_os_string(),
        ))),
        None => Ok(std::env::var_os(s).map(|v| (s.to_os_string(), v))),
    }
}

/// Split a command line `[OPTIONS] MODULE [--] [ARGS]...` into the part the
/// runner parses (up to and including the module) and the guest's
/// arguments. `takes_value` tells which long options take a separate
/// value. A `--` before the module ends the options; one right after the
/// module is dropped. Arguments are bytes: the guest's need not be UTF-8.
pub fn split_guest_args(argv: &[OsString], takes_value: &[&str]) -> (Vec<OsString>, Vec<OsString>) {
    let mut i = 1;
    let mut options_done = false;
    while i < argv.len() {
        let a = argv[i].as_bytes();
        if options_done || !a.starts_with(b"-") || a == b"-" {
            // The module.
            let mut rest = i + 1;
            if argv.get(rest).map(|s| s.as_bytes()) == Some(b"--") {
                rest += 1;
            }
            let mut head = argv[..=i].to_vec();
            if options_done {
                // Drop the `--` that ended the options from what clap sees.
                head.retain(|x| x.as_bytes() != b"--");
            }
            return (head, argv[rest..].to_vec());
        }
        if a == b"--" {
            options_done = true;
        } else if takes_value.iter().any(|t| t.as_bytes() == a) {
            i += 1;
        }
        i += 1;
    }
    (argv.to_vec(), Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    fn os(s: &str) -> OsString {
        OsString::from(s)
    }

    #[test]
    fn dirs_and_env() {
        assert_eq!(parse_dir(&os("/tmp/x::/")), (os("/tmp/x"), os("/")));
        assert_eq!(parse_dir(&os("data")), (os("data"), os("data")));
        assert_eq!(parse_env(&os("A=b=c")).unwrap(), Some((os("A"), os("b=c"))));
        assert!(parse_env(&os("=x")).is_err());
        // Not UTF-8: passed through as bytes.
        let raw = OsStr::from_bytes(b"K=\xff\xfe::");
        assert_eq!(
            parse_env(raw).unwrap(),
            Some((os("K"), OsStr::from_bytes(b"\xff\xfe::").to_os_string()))
        );
        let dir = OsStr::from_bytes(b"/tmp/\xff::/g\xfe");
        assert_eq!(
            parse_dir(dir),
            (
                OsStr::from_bytes(b"/tmp/\xff").to_os_string(),
                OsStr::from_bytes(b"/g\xfe").to_os_string()
            )
        );
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
        let mut argv = v(&["lw", "m.so"]);
        argv.push(OsStr::from_bytes(b"\x80").to_os_string());
        let (_, rest) = split_guest_args(&argv, &takes);
        assert_eq!(rest[0].as_bytes(), b"\x80");
    }
}
