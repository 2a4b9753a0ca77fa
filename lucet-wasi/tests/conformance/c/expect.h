/* For the libc-level conformance fixtures (the ports of the official
 * suite's C and AssemblyScript programs): a failed expectation prints the
 * condition and errno on stderr and exits with code 1. */
#ifndef EXPECT_H
#define EXPECT_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECT(cond)                                                                 \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "FAIL %s:%d: %s (errno %d: %s)\n", __FILE__, __LINE__, #cond, \
                    errno, strerror(errno));                                         \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

/* The directory the fixture's files are in: "" when the scratch directory
 * is preopened as "/" (paths are relative to the guest's working directory
 * "/"), or argv[1] ("fs-tests.dir/") as the suite's older runner lays it
 * out. */
static const char *base_dir = "";

static inline const char *in_base(const char *name) {
    static char buf[4][512];
    static int next;
    char *out = buf[next++ % 4];
    snprintf(out, sizeof buf[0], "%s%s", base_dir, name);
    return out;
}

#endif
