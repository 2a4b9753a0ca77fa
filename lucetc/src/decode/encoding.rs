//! Checks of the binary encoding that wasmparser leaves to validation or
//! reads more leniently than the core specification: they make the
//! difference between a *malformed* module (bad bytes) and an *invalid*
//! one (well-formed, but ill-typed or over a limit).

use crate::Error;
use wasmparser::{FunctionBody, Payload};

/// Checks of the 2.0 binary format that wasmparser, which also decodes
/// later proposals, leaves to validation or does not make:
///
/// - Without multi-memory, `memory.size` and `memory.grow` take a single
///   zero byte; wasmparser decodes it as a memory index (so a non-zero one
///   is "unknown memory", an invalid module) and accepts a long LEB128 zero.
/// - A memory access's flags are an alignment exponent below 32; wasmparser
///   reads larger values as multi-memory flags or as a huge alignment.
pub(super) fn check_memory_immediates(body: &FunctionBody<'_>) -> Result<(), Error> {
    let mut reader = body
        .get_operators_reader()
        .map_err(Error::from_wasmparser)?;
    let code = body.as_bytes();
    let base = body.range().start;
    while !reader.eof() {
        let start = reader.original_position();
        let op = reader.read().map_err(Error::from_wasmparser)?;
        let end = reader.original_position();
        let raw = code.get(start - base..end - base).unwrap_or(&[]);
        if matches!(
            op,
            wasmparser::Operator::MemorySize { .. } | wasmparser::Operator::MemoryGrow { .. }
        ) && raw.get(1..) != Some(&[0][..])
        {
            return Err(Error::Malformed {
                offset: start + 1,
                message: "zero byte expected".into(),
            });
        }
        if memarg_flags(raw).is_some_and(|flags| flags >= 32) {
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

/// A strict unsigned 32-bit LEB128 at the start of `bytes`: its value and
/// length, or why it is malformed.
fn leb_u32(bytes: &[u8]) -> Result<(u32, usize), &'static str> {
    let mut v: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(5) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            // The fifth byte holds only the top four bits.
            if i == 4 && b & 0x70 != 0 {
                return Err("integer too large");
            }
            return Ok((v as u32, i + 1));
        }
    }
    if bytes.len() < 5 {
        Err("unexpected end")
    } else {
        Err("integer representation too long")
    }
}

/// Check the limits of 32-bit memories and tables as the core binary
/// format reads them: a u32 LEB128 of at most five bytes. (wasmparser reads
/// every limit as a u64, for memory64, and reports a too-large value as an
/// invalid size.)
pub(super) fn check_limits(payload: &Payload<'_>, wasm: &[u8]) -> Result<(), Error> {
    let (range, tables) = match payload {
        Payload::MemorySection(r) => (r.range(), false),
        Payload::TableSection(r) => (r.range(), true),
        _ => return Ok(()),
    };
    let Some(bytes) = wasm.get(range.clone()) else {
        return Ok(());
    };
    let malformed = |at: usize, message: &str| Error::Malformed {
        offset: range.start + at,
        message: message.to_string(),
    };
    let mut at = 0;
    let (count, len) = leb_u32(bytes).map_err(|m| malformed(at, m))?;
    at += len;
    for _ in 0..count {
        if tables {
            match bytes.get(at) {
                // A table with an initialiser: its expression follows the
                // limits, and nothing here reads expressions; stop.
                Some(0x40) => return Ok(()),
                // funcref, externref.
                Some(0x70 | 0x6f) => at += 1,
                // Anything else is for the validator to refuse.
                _ => return Ok(()),
            }
        }
        let Some(&flags) = bytes.get(at) else {
            return Ok(());
        };
        at += 1;
        // 64-bit limits and flags we do not know are the validator's.
        if flags & !0x3 != 0 {
            return Ok(());
        }
        let fields = if flags & 1 == 1 { 2 } else { 1 };
        for _ in 0..fields {
            let (_, len) = leb_u32(&bytes[at.min(bytes.len())..]).map_err(|m| malformed(at, m))?;
            at += len;
        }
    }
    Ok(())
}
