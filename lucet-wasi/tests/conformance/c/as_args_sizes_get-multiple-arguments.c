/* Port of the official AssemblyScript test: with three arguments,
 * args_sizes_get counts four (the program name too). */
#include "check.h"

int main(void) {
    __wasi_size_t argc, size;
    OK(__wasi_args_sizes_get(&argc, &size));
    CHECK(argc == 4);
    return 0;
}
