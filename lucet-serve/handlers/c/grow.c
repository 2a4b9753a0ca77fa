/* Hostile: allocates (and touches) 1 MiB blocks until memory.grow is
 * refused, then gives up with abort(), which traps. `?mib=N` stops after N
 * blocks instead and answers with how many it got (within the limit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1 << 20)

/* Reachable from outside main, so the compiler must really allocate. */
char *volatile blocks[4096];

int main(void) {
    const char *q = getenv("QUERY_STRING");
    const char *m = q ? strstr(q, "mib=") : NULL;
    long want = m ? atol(m + 4) : 4096;
    long got = 0;
    while (got < want && got < 4096) {
        char *p = malloc(MIB);
        if (!p) {
            fprintf(stderr, "out of memory after %ld MiB\n", got);
            abort();
        }
        memset(p, 0xa5, MIB);
        blocks[got++] = p;
    }
    unsigned sum = 0;
    for (long i = 0; i < got; i++)
        sum += (unsigned char)blocks[i][i];
    printf("Content-Type: text/plain\n\nallocated %ld MiB (%u)\n", got, sum);
    return 0;
}
