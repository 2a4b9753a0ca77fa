/* wasi-libc has no setjmp/longjmp: in this build a Lua error traps
 * (the benchmark script raises none). Forced in with -include. */
#define LUAI_THROW(L, c) __builtin_trap()
#define LUAI_TRY(L, c, a) { a }
#define luai_jmpbuf int
