/* Hostile: unbounded recursion on the native (wasm) call stack. The call
 * goes through a volatile function pointer so the compiler can neither
 * turn it into a loop nor prove it infinite. */
#include <stdio.h>

static int deep(int n);
static int (*volatile next)(int) = deep;

static int deep(int n) {
    return next(n + 1) + n;
}

int main(void) {
    printf("Content-Type: text/plain\n\n%d\n", deep(0));
    return 0;
}
