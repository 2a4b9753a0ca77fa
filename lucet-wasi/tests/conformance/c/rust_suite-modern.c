/* rust_suite.c built the way current toolchains build the official
 * programs: rustc (1.82 on, LLVM 19/20) and wasi-sdk 25 on enable
 * bulk-memory, nontrapping-fptoint, sign-ext, mutable-globals,
 * reference-types and multivalue by default, so the real binaries carry
 * memory.copy/memory.fill and the saturating conversions that clang-14's
 * default (MVP) output never does. build.sh adds those flags for every
 * *-modern.c. */
#include "rust_suite.c"
