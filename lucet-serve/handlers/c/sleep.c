/* A well-behaved slow handler: sleeps `?ms=N` milliseconds (in a WASI
 * poll_oneoff, not in guest code), then says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(void) {
    const char *q = getenv("QUERY_STRING");
    const char *ms = q ? strstr(q, "ms=") : NULL;
    long n = ms ? atol(ms + 3) : 100;
    struct timespec ts = {n / 1000, (n % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    printf("Content-Type: text/plain\n\nslept %ld ms\n", n);
    return 0;
}
