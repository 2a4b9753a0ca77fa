/* Port of the official AssemblyScript test: fd_write with no buffers to
 * descriptor -31337 is EBADF. */
#include "check.h"

int main(void) {
    __wasi_size_t n;
    FAILS_WITH(__wasi_fd_write((__wasi_fd_t)-31337, NULL, 0, &n), __WASI_ERRNO_BADF);
    return 0;
}
