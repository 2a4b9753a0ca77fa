/* Port of the official C test: pread at offset 4 of pread.txt
 * ("pread-test") returns "d-t", however many calls it takes. */
#include <fcntl.h>
#include <unistd.h>
#include "expect.h"

int main(int argc, char **argv) {
    if (argc > 1)
        base_dir = argv[1];
    int fd = open(in_base("pread.txt"), O_RDONLY);
    EXPECT(fd > 0);
    const char *want = "d-t";
    size_t len = strlen(want), got = 0;
    char buf[16];
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, 4 + got);
        EXPECT(n > 0);
        got += (size_t)n;
    }
    EXPECT(memcmp(buf, want, len) == 0);
    EXPECT(close(fd) == 0);
    return 0;
}
