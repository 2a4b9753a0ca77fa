/* Serves one TCP connection on the socket the host preopened
 * (`--tcplisten`): waits for it with poll, accepts it, reads one line,
 * sends back "echo: LINE", shuts down its side, reads until the client
 * closes, and reports. Checks the socket calls' errors on the way. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wasi/api.h>

#define EXPECT(c)                                                            \
    do {                                                                     \
        if (!(c)) {                                                          \
            printf("FAIL line %d: %s (errno %d)\n", __LINE__, #c, errno);    \
            return 1;                                                        \
        }                                                                    \
    } while (0)

int main(void) {
    int l = -1;
    for (int fd = 3; fd < 64 && l < 0; fd++) {
        __wasi_fdstat_t st;
        if (__wasi_fd_fdstat_get(fd, &st) == 0 && st.fs_filetype == __WASI_FILETYPE_SOCKET_STREAM)
            l = fd;
    }
    EXPECT(l >= 0);
    printf("listening socket: fd %d\n", l);
    fflush(stdout);

    /* Calls that need a connection, on the listener; socket calls on
     * what is no socket. */
    char buf[256];
    EXPECT(recv(l, buf, sizeof buf, 0) < 0 && errno == ENOTCONN);
    EXPECT(accept(1, NULL, NULL) < 0 && errno == ENOTSOCK);
    EXPECT(send(1, "x", 1, 0) < 0 && errno == ENOTSOCK);

    struct pollfd p = {.fd = l, .events = POLLIN};
    EXPECT(poll(&p, 1, 20000) == 1 && (p.revents & POLLIN));
    int c = accept(l, NULL, NULL);
    EXPECT(c >= 0);
    __wasi_fdstat_t st;
    EXPECT(__wasi_fd_fdstat_get(c, &st) == 0 && st.fs_filetype == __WASI_FILETYPE_SOCKET_STREAM);
    EXPECT(accept(c, NULL, NULL) < 0 && errno == EINVAL);

    size_t got = 0;
    while (got < sizeof buf - 1 && memchr(buf, '\n', got) == NULL) {
        ssize_t n = recv(c, buf + got, sizeof buf - 1 - got, 0);
        EXPECT(n > 0);
        got += (size_t)n;
    }
    buf[got] = 0;
    char reply[300];
    int len = snprintf(reply, sizeof reply, "echo: %s", buf);
    EXPECT(send(c, reply, (size_t)len, 0) == len);
    EXPECT(shutdown(c, SHUT_WR) == 0);
    EXPECT(send(c, "x", 1, 0) < 0 && errno == EPIPE);
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0) {
    }
    EXPECT(n == 0);
    EXPECT(close(c) == 0);
    printf("served one connection: %s", reply);
    return 0;
}
