/* Opens the file argv[1] until the runtime says no, then prints how many
 * descriptors it got and the error; closes one and opens again. The host
 * stays usable throughout (this program's output proves it). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    int last = -1, count = 0;
    for (;;) {
        int fd = open(argv[1], O_RDONLY);
        if (fd < 0) {
            printf("opened %d, then %s\n", count, errno == EMFILE ? "EMFILE" : strerror(errno));
            break;
        }
        last = fd;
        count++;
        if (count > 100000) {
            printf("no limit\n");
            return 1;
        }
    }
    if (last >= 0 && close(last) == 0) {
        int fd = open(argv[1], O_RDONLY);
        printf("after a close: %s\n", fd == last ? "reopened" : "failed");
        int again = open(argv[1], O_RDONLY);
        printf("and then: %s\n", again < 0 && errno == EMFILE ? "EMFILE" : "opened");
    }
    return 0;
}
