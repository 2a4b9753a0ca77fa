/* Port of the official C test: open(O_CREAT|O_TRUNC|O_WRONLY|O_APPEND)
 * works; writes append even after seeking to 0; pwrite leaves the offset
 * alone and writes at 0 (POSIX) or at the end (Linux), either accepted. */
#include <fcntl.h>
#include <unistd.h>
#include "expect.h"

int main(int argc, char **argv) {
    if (argc > 1)
        base_dir = argv[1];
    char buf[4] = {'a', 'b', 'c', 'd'};
    int fd = open(in_base("pwrite.cleanup"), O_CREAT | O_TRUNC | O_WRONLY | O_APPEND, 0644);
    EXPECT(fd != -1);
    EXPECT(write(fd, buf, 2) == 2);
    EXPECT(lseek(fd, 0, SEEK_SET) == 0);
    EXPECT(write(fd, buf, 2) == 2);
    EXPECT(lseek(fd, 0, SEEK_CUR) == 4);
    EXPECT(pwrite(fd, buf, 3, 0) == 3);
    EXPECT(lseek(fd, 0, SEEK_CUR) == 4);
    off_t end = lseek(fd, 0, SEEK_END);
    EXPECT(end == 4 || end == 7);
    close(fd);
    return 0;
}
