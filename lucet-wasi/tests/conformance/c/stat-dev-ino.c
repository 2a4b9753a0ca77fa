/* Port of the official C test: two files of one directory have the same
 * st_dev and different st_ino. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "expect.h"

int main(int argc, char **argv) {
    if (argc > 1)
        base_dir = argv[1];
    int a = open(in_base("file"), O_RDONLY);
    EXPECT(a != -1);
    int b = open(in_base("lseek.txt"), O_RDONLY);
    EXPECT(b != -1);
    struct stat sa, sb;
    EXPECT(fstat(a, &sa) == 0);
    EXPECT(fstat(b, &sb) == 0);
    EXPECT(sa.st_dev == sb.st_dev);
    EXPECT(sa.st_ino != sb.st_ino);
    return 0;
}
