/* Port of the official C test: lseek(fd, 0, SEEK_CUR) follows what stdio
 * consumed (after fflush), SEEK_SET and SEEK_END give 0 and the size of
 * lseek.txt ("01234567"). */
#include <fcntl.h>
#include <unistd.h>
#include "expect.h"

int main(int argc, char **argv) {
    if (argc > 1)
        base_dir = argv[1];
    FILE *f = fopen(in_base("lseek.txt"), "r");
    EXPECT(f != NULL);
    int fd = fileno(f);
    char buf[4];
    EXPECT(fread(buf, 1, 4, f) == 4);
    fflush(f);
    EXPECT(lseek(fd, 0, SEEK_CUR) == 4);
    EXPECT(fread(buf, 1, 1, f) == 1);
    fflush(f);
    EXPECT(lseek(fd, 0, SEEK_CUR) == 5);
    EXPECT(buf[0] == '4');
    EXPECT(lseek(fd, 0, SEEK_SET) == 0);
    EXPECT(lseek(fd, 0, SEEK_END) == 8);
    fclose(f);
    return 0;
}
