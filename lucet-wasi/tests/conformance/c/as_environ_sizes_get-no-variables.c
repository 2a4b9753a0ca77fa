/* Port of the official AssemblyScript test: with no variables,
 * environ_sizes_get counts none. */
#include "check.h"

int main(void) {
    __wasi_size_t count, size;
    OK(__wasi_environ_sizes_get(&count, &size));
    CHECK(count == 0);
    return 0;
}
