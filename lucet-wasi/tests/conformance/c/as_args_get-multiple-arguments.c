/* Port of the official AssemblyScript test args_get-multiple-arguments:
 * run with the arguments `first`, `the "second" arg` and `3`, args_get
 * returns the program name and exactly those. */
#include "check.h"

int main(void) {
    __wasi_size_t argc, size;
    OK(__wasi_args_sizes_get(&argc, &size));
    CHECK(argc == 4);
    uint8_t **argv = malloc(argc * sizeof *argv);
    uint8_t *buf = malloc(size);
    OK(__wasi_args_get(argv, buf));
    const char *want[] = {"first", "the \"second\" arg", "3"};
    for (int i = 1; i < 4; i++)
        CHECK(strcmp((const char *)argv[i], want[i - 1]) == 0);
    CHECK(argv[3] + strlen((const char *)argv[3]) + 1 == buf + size);
    return 0;
}
