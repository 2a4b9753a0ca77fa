/* Burns CPU in guest code for `?ms=N` milliseconds (of the monotonic
 * clock), then says so: a well-behaved but expensive handler, for CPU-time
 * limits and fair shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(void) {
    const char *q = getenv("QUERY_STRING");
    const char *ms = q ? strstr(q, "ms=") : NULL;
    long n = ms ? atol(ms + 3) : 10;
    long long end = now_us() + (long long)n * 1000;
    volatile unsigned long spins = 0;
    while (now_us() < end)
        for (int i = 0; i < 1000; i++)
            spins++;
    printf("Content-Type: text/plain\n\nspun %ld ms\n", n);
    return 0;
}
