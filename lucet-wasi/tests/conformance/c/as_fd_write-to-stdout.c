/* Port of the official AssemblyScript test: fd_write of "hello" to stdout
 * writes all five bytes. */
#include "check.h"

int main(void) {
    __wasi_ciovec_t v = ciov("hello", 5);
    __wasi_size_t n = 0;
    OK(__wasi_fd_write(1, &v, 1, &n));
    CHECK(n == 5);
    return 0;
}
