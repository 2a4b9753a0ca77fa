//! `--invoke`: parse command-line arguments as wasm values and print results.

use lucet_runtime::{Val, ValType};

/// Parse `s` as a value of type `ty`. Integers may be negative (and are
/// taken modulo 2^N, so `4294967295` and `-1` are the same i32); floats
/// accept `nan`, `inf`, `-inf`.
pub fn parse_val(ty: ValType, s: &str) -> Result<Val, String> {
    let bad = || format!("cannot parse {s:?} as {ty}");
    Ok(match ty {
        ValType::I32 => Val::I32(match s.parse::<i32>() {
            Ok(v) => v,
            Err(_) => s.parse::<u32>().map_err(|_| bad())? as i32,
        }),
        ValType::I64 => Val::I64(match s.parse::<i64>() {
            Ok(v) => v,
            Err(_) => s.parse::<u64>().map_err(|_| bad())? as i64,
        }),
        ValType::F32 => Val::F32(s.parse::<f32>().map_err(|_| bad())?.to_bits()),
        ValType::F64 => Val::F64(s.parse::<f64>().map_err(|_| bad())?.to_bits()),
        _ => {
            return Err(format!(
                "{ty} arguments cannot be given on the command line"
            ))
        }
    })
}
