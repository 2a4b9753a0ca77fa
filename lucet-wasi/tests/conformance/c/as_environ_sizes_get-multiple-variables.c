/* Port of the official AssemblyScript test: with three variables,
 * environ_sizes_get counts three. */
#include "check.h"

int main(void) {
    __wasi_size_t count, size;
    OK(__wasi_environ_sizes_get(&count, &size));
    CHECK(count == 3);
    return 0;
}
