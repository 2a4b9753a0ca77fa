//! How every command and lucet-serve's configuration read a size or a
//! duration, so that `64MiB` or `500ms` means the same wherever it is
//! written (a heap reserved by `lucetc --heap-reserved-size` and limited
//! by `lucet-wasi --max-heap`, say). It lives in the one crate all of them
//! share.
//!
//! - A **size** is a number of bytes with an optional unit (`bytesize`'s
//!   syntax): `4096`, `64KiB`, `16MiB`, `4GiB`. **A bare number is
//!   bytes.** `KiB`/`MiB`/`GiB` (or `Ki`/`Mi`/`Gi`) are powers of 1024;
//!   `KB`/`MB`/`GB` (or `K`/`M`/`G`) are powers of 1000. Case does not
//!   matter.
//! - A **duration** is a number with a unit (`humantime`'s syntax): `250us`,
//!   `500ms`, `1.5s`, `2m`, `1h 30m`. **A bare number is refused**: it meant
//!   seconds to one command and milliseconds to another, so a unit is now
//!   always required.

use std::time::Duration;

/// Parse a size: bytes, with an optional unit (see the module doc). The
/// error is one line naming the input.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bytes = t
        .parse::<bytesize::ByteSize>()
        .map_err(|_| {
            format!(
                "bad size {s:?}: expected bytes, or a number with a unit like 64KiB, 16MiB or 4GiB"
            )
        })?
        .as_u64();
    // bytesize saturates rather than failing: u64::MAX is what every
    // overflowing size becomes (and is no useful size itself).
    if bytes == u64::MAX {
        return Err(format!("size {s:?} is too large"));
    }
    Ok(bytes)
}

/// Parse a duration: a number with a unit (see the module doc); a bare
/// number is refused. The error is one line naming the input.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if !t.is_empty() && t.parse::<f64>().is_ok() {
        return Err(format!(
            "expected a duration with a unit, like 500ms or 2s, got {s:?}"
        ));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("bad duration {s:?}: {e} (write e.g. 500ms or 2s)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_bare_numbers_are_bytes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("64kib"), Ok(64 << 10));
        assert_eq!(parse_size("16 MiB"), Ok(16 << 20));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("1TiB"), Ok(1 << 40));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        for bad in ["", "x", "-5", "64XB", "MiB", "5 parsecs"] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.starts_with("bad size"), "{bad:?}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        for huge in ["99999999999999TiB", "18446744073709551615", "1e30B"] {
            let e = parse_size(huge).unwrap_err();
            assert!(
                e.contains("too large") || e.starts_with("bad size"),
                "{huge:?}: {e}"
            );
        }
        assert!(parse_size("99999999999999TiB")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration(" 2s "), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bare in ["5", "1.5", "0"] {
            assert_eq!(
                parse_duration(bare).unwrap_err(),
                format!("expected a duration with a unit, like 500ms or 2s, got {bare:?}")
            );
        }
        for bad in ["", "soon", "3 parsecs", "-1s", "99999999999999999999h"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.starts_with("bad duration"), "{bad:?}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }
}
