/* Copies the FIFO argv[1] to the FIFO argv[2] with blocking opens, reads
 * and writes, and reports how many bytes went through: opening for
 * writing waits for a reader, reading waits for a writer and ends at the
 * writer's close. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    int in = open(argv[1], O_RDONLY);
    if (in < 0) {
        perror("open input");
        return 1;
    }
    int out = open(argv[2], O_WRONLY);
    if (out < 0) {
        perror("open output");
        return 1;
    }
    char buf[4096];
    long total = 0;
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w <= 0) {
                perror("write");
                return 1;
            }
            done += w;
        }
        total += n;
    }
    if (n < 0) {
        perror("read");
        return 1;
    }
    close(out);
    printf("copied %ld bytes\n", total);
    return 0;
}
