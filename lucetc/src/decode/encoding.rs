//! Checks of the binary encoding that wasmparser leaves to validation or
//! reads more leniently than the core specification: they make the
//! difference between a *malformed* module (bad bytes) and an *invalid*
//! one (well-formed, but ill-typed or over a limit).

use crate::Error;
use wasmparser::FunctionBody;

/// Checks of the binary format that wasmparser, which also decodes
/// proposals beyond 3.0, reads more leniently: a memory access's flags
/// are an alignment exponent below 64, with bit 6 saying a memory index
/// follows (multi-memory); wasmparser reads larger values as further
/// flags of later proposals.
pub(super) fn check_memory_immediates(body: &FunctionBody<'_>) -> Result<(), Error> {
    let mut reader = body
        .get_operators_reader()
        .map_err(Error::from_wasmparser)?;
    let code = body.as_bytes();
    let base = body.range().start;
    while !reader.eof() {
        let start = reader.original_position();
        reader.read().map_err(Error::from_wasmparser)?;
        let end = reader.original_position();
        let raw = code.get(start - base..end - base).unwrap_or(&[]);
        if memarg_flags(raw).is_some_and(|flags| flags >= 128) {
            return Err(Error::Malformed {
                offset: start + 1,
                message: "malformed memop flags".into(),
            });
        }
    }
    Ok(())
}

/// The memarg flags of a load or store instruction's encoding `raw`.
fn memarg_flags(raw: &[u8]) -> Option<u64> {
    let (&first, rest) = raw.split_first()?;
    let flags_at = match first {
        // Scalar loads and stores.
        0x28..=0x3e => rest,
        // SIMD: v128.load* and v128.store (0..=11), lanes and zero-extending
        // loads (84..=93).
        0xfd => {
            let (sub, len) = leb(rest)?;
            if !matches!(sub, 0..=11 | 84..=93) {
                return None;
            }
            rest.get(len..)?
        }
        _ => return None,
    };
    leb(flags_at).map(|(v, _)| v)
}

/// An unsigned LEB128 number and its length in bytes.
fn leb(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(10) {
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}
