/* A guest that blocks in one WASI call for good, to test that a deadline
 * or an interrupt ends the wait. It writes "blocking in MODE" to stderr
 * just before the call; reaching the line after it is a failure.
 *
 *   block stdin          read from stdin (an idle pipe, or a terminal)
 *   block stdout         write to stdout until it is full and nobody reads
 *   block poll-stdin     poll stdin with no timeout
 *   block sleep          sleep for an hour
 *   block fifo-read P    open the FIFO P for reading (open returns; the
 *                        read waits for a writer)
 *   block fifo-write P   open the FIFO P for writing (waits for a reader)
 *   block fifo-fill P    open the FIFO P for writing (the reader never
 *                        reads) and write until it is full
 *   block accept         accept on the first preopened socket
 *   block recv           accept a connection, then recv from it
 *   block sock-read      accept a connection, then read(2) from it
 *   block sock-write     accept a connection, then write to it until the
 *                        peer's window and the buffers are full */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wasi/api.h>

static int listening_socket(void) {
    for (int fd = 3; fd < 64; fd++) {
        __wasi_fdstat_t st;
        if (__wasi_fd_fdstat_get(fd, &st) == 0 && st.fs_filetype == __WASI_FILETYPE_SOCKET_STREAM)
            return fd;
    }
    return -1;
}

static void blocking(const char *mode) {
    fprintf(stderr, "blocking in %s\n", mode);
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    const char *mode = argv[1];
    char buf[256];
    if (strcmp(mode, "stdin") == 0) {
        blocking(mode);
        read(0, buf, sizeof buf);
    } else if (strcmp(mode, "stdout") == 0) {
        memset(buf, 'x', sizeof buf);
        blocking(mode);
        for (;;)
            if (write(1, buf, sizeof buf) < 0)
                break;
    } else if (strcmp(mode, "poll-stdin") == 0) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        blocking(mode);
        poll(&p, 1, -1);
    } else if (strcmp(mode, "sleep") == 0) {
        blocking(mode);
        sleep(3600);
    } else if (strcmp(mode, "fifo-read") == 0 && argc > 2) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) {
            perror("open");
            return 1;
        }
        blocking(mode);
        read(fd, buf, sizeof buf);
    } else if (strcmp(mode, "fifo-write") == 0 && argc > 2) {
        blocking(mode);
        open(argv[2], O_WRONLY);
    } else if (strcmp(mode, "fifo-fill") == 0 && argc > 2) {
        int fd = open(argv[2], O_WRONLY);
        if (fd < 0) {
            perror("open");
            return 1;
        }
        memset(buf, 'x', sizeof buf);
        blocking(mode);
        for (;;)
            if (write(fd, buf, sizeof buf) < 0)
                break;
    } else if (strcmp(mode, "sock-read") == 0 || strcmp(mode, "sock-write") == 0) {
        int c = accept(listening_socket(), NULL, NULL);
        if (c < 0) {
            perror("accept");
            return 1;
        }
        memset(buf, 'x', sizeof buf);
        blocking(mode);
        if (mode[5] == 'r')
            read(c, buf, sizeof buf);
        else
            for (;;)
                if (write(c, buf, sizeof buf) < 0)
                    break;
    } else if (strcmp(mode, "accept") == 0) {
        int l = listening_socket();
        blocking(mode);
        accept(l, NULL, NULL);
    } else if (strcmp(mode, "recv") == 0) {
        int c = accept(listening_socket(), NULL, NULL);
        if (c < 0) {
            perror("accept");
            return 1;
        }
        blocking(mode);
        recv(c, buf, sizeof buf, 0);
    } else {
        return 2;
    }
    fprintf(stderr, "the call returned\n");
    return 1;
}
