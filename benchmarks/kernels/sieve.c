/* Sieve of Eratosthenes over a byte array: strided stores, a linear scan. */
#include "kernel.h"

#define MAX_N (8u << 20)
static uint8_t composite[MAX_N + 1];

KERNEL(kernel_sieve) {
    if (n > MAX_N)
        n = MAX_N;
    for (uint32_t i = 0; i <= n; i++)
        composite[i] = 0;
    uint64_t count = 0, sum = 0;
    for (uint32_t i = 2; i <= n; i++) {
        if (composite[i])
            continue;
        count++;
        sum += i;
        for (uint64_t j = (uint64_t)i * i; j <= n; j += i)
            composite[j] = 1;
    }
    return count * 1000003u + sum;
}
