/* Shared by every kernel: the one entry point each exports.
 *
 * A kernel is `uint64_t kernel_NAME(uint32_t n)`: it builds its own input
 * from `n` (so nothing is folded at compile time and every call does the
 * same work), runs, and returns a checksum that the harness compares
 * across native code, lucet and wasmtime. Kernels use no libc: the same
 * source is built natively with `gcc -O2` and to wasm32-wasi with clang. */
#ifndef KERNEL_H
#define KERNEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __wasm__
#define KERNEL(name) __attribute__((export_name(#name))) uint64_t name(uint32_t n)
#else
#define KERNEL(name) uint64_t name(uint32_t n)
#endif

/* A small deterministic generator (64-bit LCG, high bits out). */
static inline uint32_t lcg_next(uint64_t *state) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*state >> 33);
}

#endif
