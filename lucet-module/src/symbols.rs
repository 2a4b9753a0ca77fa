//! Names of the symbols a compiled shared object exports, and of the only
//! ones it may import.

/// The serialized [`ModuleData`](crate::ModuleData), preceded by its header.
pub const MODULE_DATA: &str = "lucet_module_data";

/// Symbol of defined function `index` (counting defined functions only).
pub fn guest_func(index: u32) -> String {
    format!("guest_func_{index}")
}

/// Symbol of the entry trampoline for the module's type `type_index`.
///
/// Native signature: `extern "C" fn(code: *const u8, callee_vmctx: *mut u8,
/// caller_vmctx: *mut u8, values: *mut u128)`. It loads the arguments from
/// `values` (one 16-byte slot each), calls `code(callee_vmctx, caller_vmctx,
/// args...)`, and stores the results back into `values`.
pub fn entry_trampoline(type_index: u32) -> String {
    format!("lucet_entry_{type_index}")
}

/// Symbol of the host-call trampoline for the module's type `type_index`.
///
/// It has the wasm-call signature of that type and is what an imported
/// function bound to a host function points to: it spills the arguments to a
/// 16-byte-per-slot array on the stack and calls
/// `(*(callee_vmctx as *const HostDispatch))(callee_vmctx, caller_vmctx, values)`,
/// then loads the results from the same array.
pub fn host_trampoline(type_index: u32) -> String {
    format!("lucet_host_{type_index}")
}

/// Table of function addresses: defined functions, then one entry trampoline
/// per type, then one host trampoline per type (`u64` each, relocated by the
/// dynamic loader).
pub const FUNCTION_TABLE: &str = "lucet_function_table";

/// The libraries a compiled object may need (`DT_NEEDED`), each only when
/// its code imports from it: libm and libc.
pub const LIBRARIES: &[&str] = &[LIBM, LIBC];

const LIBM: &str = "libm.so.6";
const LIBC: &str = "libc.so.6";

/// The functions compiled code may import, with the library that defines
/// each. Cranelift calls libm for float rounding and fused multiply-add on
/// CPUs without SSE4.1 or FMA, and libc for memory operations: these are
/// its libcall names that can occur on x86-64. lucetc links against them;
/// the runtime's loader refuses an object importing anything else.
pub const LIBCALLS: &[(&str, &str)] = &[
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
pub fn libcall_library(name: &str) -> Option<&'static str> {
    LIBCALLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, lib)| *lib)
}
