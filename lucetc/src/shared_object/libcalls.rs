//! The functions compiled code may import, and the libraries that define
//! them.
//!
//! Cranelift calls libm for float rounding and fused multiply-add on CPUs
//! without SSE4.1 or FMA, and libc for memory operations (its
//! `default_libcall_names` on x86-64). lucet-runtime's loader accepts
//! imports of exactly these (`module::elf`'s `ALLOWED_IMPORTS`) and needs
//! of only these two libraries.

const LIBM: &str = "libm.so.6";
const LIBC: &str = "libc.so.6";

const LIBCALLS: &[(&str, &str)] = &[
    ("ceilf", LIBM),
    ("ceil", LIBM),
    ("floorf", LIBM),
    ("floor", LIBM),
    ("truncf", LIBM),
    ("trunc", LIBM),
    ("nearbyintf", LIBM),
    ("nearbyint", LIBM),
    ("fmaf", LIBM),
    ("fma", LIBM),
    ("memcpy", LIBC),
    ("memset", LIBC),
    ("memmove", LIBC),
    ("memcmp", LIBC),
];

/// The library defining the function `name`, if compiled code may import it.
pub(super) fn library(name: &str) -> Option<&'static str> {
    LIBCALLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, lib)| *lib)
}
