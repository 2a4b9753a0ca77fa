/* Port of the official C test: two monotonic readings in a row strictly
 * increase (the clock has sub-call resolution). */
#include <time.h>
#include "expect.h"

int main(void) {
    struct timespec first, second;
    EXPECT(clock_gettime(CLOCK_MONOTONIC, &first) == 0);
    EXPECT(clock_gettime(CLOCK_MONOTONIC, &second) == 0);
    if (first.tv_sec == second.tv_sec)
        EXPECT(first.tv_nsec < second.tv_nsec);
    else
        EXPECT(first.tv_sec < second.tv_sec);
    return 0;
}
