//! The kernels built natively with gcc -O2 by build.rs.

include!(concat!(env!("OUT_DIR"), "/native_kernels.rs"));

/// The native entry point of kernel `name`, if it has one.
pub fn kernel(name: &str) -> Option<unsafe extern "C" fn(u32) -> u64> {
    NATIVE_KERNELS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
}
