/* The guest whose start is timed: compiled on first run, then cached.
 * Also built natively (static) for the runc comparison. */
#include <stdio.h>

int main(void) {
    printf("Hello from a container\n");
    return 0;
}
