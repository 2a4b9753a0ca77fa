/* Port of the official AssemblyScript test: random_get of no bytes
 * succeeds. */
#include "check.h"

int main(void) {
    uint8_t buf[1];
    OK(__wasi_random_get(buf, 0));
    return 0;
}
