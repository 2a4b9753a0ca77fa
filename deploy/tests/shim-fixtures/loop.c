/* A guest that never ends: containerd's kill must stop it. */
#include <stdio.h>

int main(void) {
    printf("looping\n");
    fflush(stdout);
    volatile unsigned long n = 0;
    for (;;) {
        n++;
    }
}
