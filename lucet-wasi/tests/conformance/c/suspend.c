/* A guest for asynchronous WASI (add_to_linker_async): each mode waits on
 * something an embedder supplies later, then reports on stdout.
 *
 *   suspend sleep MS       sleep MS milliseconds, then say "slept MS"
 *   suspend cat N          copy stdin to stdout in reads of at most N
 *                          bytes; on a read error say "read error: ..."
 *                          on stderr and exit 1
 *   suspend poll-stdin MS  poll stdin for input with a timeout of MS ms:
 *                          say "ready" or "timeout", then copy stdin
 *   suspend clocks         poll two clocks (20 ms and 10 s) at once: say
 *                          which fired
 *   suspend yield N        sched_yield N times, then say "yielded N" */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

static int copy(size_t chunk) {
    char buf[65536];
    if (chunk > sizeof buf)
        chunk = sizeof buf;
    for (;;) {
        ssize_t n = read(0, buf, chunk);
        if (n < 0) {
            fprintf(stderr, "read error: %s\n", strerror(errno));
            return 1;
        }
        if (n == 0)
            return 0;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(1, buf + done, n - done);
            if (w <= 0)
                return 1;
            done += w;
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    const char *mode = argv[1];
    long arg = argc > 2 ? atol(argv[2]) : 0;
    if (strcmp(mode, "sleep") == 0) {
        struct timespec ts = {arg / 1000, (arg % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        printf("slept %ld\n", arg);
    } else if (strcmp(mode, "cat") == 0) {
        return copy(arg > 0 ? (size_t)arg : 4096);
    } else if (strcmp(mode, "poll-stdin") == 0) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int r = poll(&p, 1, (int)arg);
        printf("%s\n", r > 0 ? "ready" : r == 0 ? "timeout" : "error");
        fflush(stdout);
        return copy(4096);
    } else if (strcmp(mode, "clocks") == 0) {
        __wasi_subscription_t subs[2];
        memset(subs, 0, sizeof subs);
        for (int i = 0; i < 2; i++) {
            subs[i].userdata = i + 1;
            subs[i].u.tag = __WASI_EVENTTYPE_CLOCK;
            subs[i].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
            subs[i].u.u.clock.timeout = i == 0 ? 20000000ull : 10000000000ull;
        }
        __wasi_event_t events[2];
        __wasi_size_t n = 0;
        __wasi_errno_t e = __wasi_poll_oneoff(subs, events, 2, &n);
        if (e != 0) {
            printf("poll_oneoff: errno %d\n", e);
            return 1;
        }
        for (__wasi_size_t i = 0; i < n; i++)
            printf("clock %llu fired\n", (unsigned long long)events[i].userdata);
    } else if (strcmp(mode, "yield") == 0) {
        for (long i = 0; i < arg; i++)
            sched_yield();
        printf("yielded %ld\n", arg);
    } else {
        return 2;
    }
    return 0;
}
