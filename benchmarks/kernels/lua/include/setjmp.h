/* Empty: wasi-libc has no setjmp.h; see ../shim.h. */
