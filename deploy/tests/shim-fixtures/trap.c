/* A guest that traps: the shim must exit non-zero, with one line on
 * stderr, without hanging. */
#include <stdio.h>

int main(void) {
    printf("about to trap\n");
    fflush(stdout);
    __builtin_trap();
}
