/* Quicksort of 32-bit integers: compares, swaps, unpredictable branches. */
#include "kernel.h"

#define MAX_LEN (2u << 20)
static uint32_t v[MAX_LEN];

static void insertion(uint32_t *x, int64_t lo, int64_t hi) {
    for (int64_t i = lo + 1; i <= hi; i++) {
        uint32_t t = x[i];
        int64_t j = i - 1;
        while (j >= lo && x[j] > t) {
            x[j + 1] = x[j];
            j--;
        }
        x[j + 1] = t;
    }
}

static void quicksort(uint32_t *x, int64_t lo, int64_t hi) {
    while (hi - lo > 16) {
        int64_t mid = lo + (hi - lo) / 2;
        /* median of three */
        if (x[mid] < x[lo]) { uint32_t t = x[mid]; x[mid] = x[lo]; x[lo] = t; }
        if (x[hi] < x[lo]) { uint32_t t = x[hi]; x[hi] = x[lo]; x[lo] = t; }
        if (x[hi] < x[mid]) { uint32_t t = x[hi]; x[hi] = x[mid]; x[mid] = t; }
        uint32_t pivot = x[mid];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (x[i] < pivot) i++;
            while (x[j] > pivot) j--;
            if (i <= j) {
                uint32_t t = x[i]; x[i] = x[j]; x[j] = t;
                i++;
                j--;
            }
        }
        /* recurse into the smaller half, loop on the larger */
        if (j - lo < hi - i) {
            quicksort(x, lo, j);
            lo = i;
        } else {
            quicksort(x, i, hi);
            hi = j;
        }
    }
    insertion(x, lo, hi);
}

KERNEL(kernel_quicksort) {
    if (n > MAX_LEN)
        n = MAX_LEN;
    uint64_t s = 7;
    for (uint32_t i = 0; i < n; i++)
        v[i] = lcg_next(&s);
    quicksort(v, 0, (int64_t)n - 1);
    uint64_t h = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i && v[i - 1] > v[i])
            return 0; /* not sorted */
        h = h * 31 + v[i];
    }
    return h;
}
