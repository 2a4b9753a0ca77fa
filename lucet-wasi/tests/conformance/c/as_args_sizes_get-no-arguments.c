/* Port of the official AssemblyScript test: with no arguments,
 * args_sizes_get counts one (the program name). */
#include "check.h"

int main(void) {
    __wasi_size_t argc, size;
    OK(__wasi_args_sizes_get(&argc, &size));
    CHECK(argc == 1);
    return 0;
}
