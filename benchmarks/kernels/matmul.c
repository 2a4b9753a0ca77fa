/* Dense double-precision matrix multiply, C = A * B, i-k-j loop order. */
#include "kernel.h"

#define MAX_DIM 320
static double a[MAX_DIM * MAX_DIM], b[MAX_DIM * MAX_DIM], c[MAX_DIM * MAX_DIM];

KERNEL(kernel_matmul) {
    if (n > MAX_DIM)
        n = MAX_DIM;
    uint64_t s = 42;
    for (uint32_t i = 0; i < n * n; i++) {
        a[i] = (double)(lcg_next(&s) % 1000) / 100.0;
        b[i] = (double)(lcg_next(&s) % 1000) / 100.0;
        c[i] = 0.0;
    }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < n; k++) {
            double aik = a[i * n + k];
            for (uint32_t j = 0; j < n; j++)
                c[i * n + j] += aik * b[k * n + j];
        }
    double trace = 0.0, total = 0.0;
    for (uint32_t i = 0; i < n; i++)
        trace += c[i * n + i];
    for (uint32_t i = 0; i < n * n; i++)
        total += c[i];
    return (uint64_t)trace * 1000003u + (uint64_t)total;
}
