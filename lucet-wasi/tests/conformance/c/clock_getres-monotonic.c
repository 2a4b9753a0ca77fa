/* Port of the official C test: clock_getres(CLOCK_MONOTONIC) succeeds. */
#include <time.h>
#include "expect.h"

int main(void) {
    struct timespec res;
    EXPECT(clock_getres(CLOCK_MONOTONIC, &res) == 0);
    return 0;
}
