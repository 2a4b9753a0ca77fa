/* Recursive Fibonacci: calls, returns and integer adds. */
#include "kernel.h"

static uint64_t fib(uint32_t n) {
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

KERNEL(kernel_fib) {
    return fib(n);
}
