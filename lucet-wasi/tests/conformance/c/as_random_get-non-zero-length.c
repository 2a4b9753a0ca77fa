/* Port of the official AssemblyScript test: random_get of 32 bytes
 * succeeds. */
#include "check.h"

int main(void) {
    uint8_t buf[32];
    OK(__wasi_random_get(buf, sizeof buf));
    return 0;
}
