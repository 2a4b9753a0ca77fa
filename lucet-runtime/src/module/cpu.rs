//! The CPU features a module was compiled for, checked against this CPU.

use super::invalid;
use crate::error::Error;
use lucet_module::ModuleData;
use std::path::Path;

/// Refuse a module compiled for features this CPU lacks.
pub(crate) fn check_cpu_features(path: &Path, data: &ModuleData) -> Result<(), Error> {
    for f in &data.options.cpu_features {
        let present = match f.as_str() {
            "has_sse3" => std::arch::is_x86_feature_detected!("sse3"),
            "has_ssse3" => std::arch::is_x86_feature_detected!("ssse3"),
            "has_sse41" => std::arch::is_x86_feature_detected!("sse4.1"),
            "has_sse42" => std::arch::is_x86_feature_detected!("sse4.2"),
            "has_popcnt" => std::arch::is_x86_feature_detected!("popcnt"),
            "has_avx" => std::arch::is_x86_feature_detected!("avx"),
            "has_avx2" => std::arch::is_x86_feature_detected!("avx2"),
            "has_fma" => std::arch::is_x86_feature_detected!("fma"),
            "has_avx_vnni" => std::arch::is_x86_feature_detected!("avxvnni"),
            "has_avx512vnni" => std::arch::is_x86_feature_detected!("avx512vnni"),
            "has_bmi1" => std::arch::is_x86_feature_detected!("bmi1"),
            "has_bmi2" => std::arch::is_x86_feature_detected!("bmi2"),
            "has_lzcnt" => std::arch::is_x86_feature_detected!("lzcnt"),
            "has_avx512bitalg" => std::arch::is_x86_feature_detected!("avx512bitalg"),
            "has_avx512dq" => std::arch::is_x86_feature_detected!("avx512dq"),
            "has_avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
            "has_avx512vl" => std::arch::is_x86_feature_detected!("avx512vl"),
            "has_avx512vbmi" => std::arch::is_x86_feature_detected!("avx512vbmi"),
            "has_cmpxchg16b" => std::arch::is_x86_feature_detected!("cmpxchg16b"),
            other => {
                return Err(invalid(
                    path,
                    format!("compiled for unknown CPU feature {other}"),
                ))
            }
        };
        if !present {
            return Err(invalid(
                path,
                format!("compiled for a CPU with {f}, which this one lacks"),
            ));
        }
    }
    Ok(())
}
