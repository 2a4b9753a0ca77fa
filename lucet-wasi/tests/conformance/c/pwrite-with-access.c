/* Port of the official C test: in the writeable/ directory, a new file
 * written with pwrite at 0 and then at 3 reads back "vertestng text", and
 * can be removed. */
#include <fcntl.h>
#include <unistd.h>
#include "expect.h"

static void pwrite_all(int fd, const char *data, size_t len, off_t at) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, data + done, len - done, at + (off_t)done);
        EXPECT(n > 0);
        done += (size_t)n;
    }
}

int main(int argc, char **argv) {
    if (argc > 1)
        base_dir = argv[1];
    const char *path = in_base("writeable/test_pwrite_pread.txt.cleanup");
    EXPECT(access(path, F_OK) != 0);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    EXPECT(fd > 0);
    const char *text = "very long text";
    pwrite_all(fd, text, strlen(text), 0);
    pwrite_all(fd, "test", 4, 3);
    EXPECT(close(fd) == 0);

    fd = open(path, O_RDONLY);
    EXPECT(fd > 0);
    char buf[16];
    size_t got = 0;
    ssize_t n;
    do {
        n = read(fd, buf + got, sizeof buf - got);
        EXPECT(n > 0);
        got += (size_t)n;
    } while (got < strlen(text));
    /* The official program checks the last read's count, not the total:
     * one read of a 16-byte buffer must return the whole 14-byte file. */
    EXPECT((size_t)n == strlen(text));
    EXPECT(memcmp(buf, "vertestng text", got) == 0);
    EXPECT(close(fd) == 0);
    EXPECT(remove(path) == 0);
    return 0;
}
