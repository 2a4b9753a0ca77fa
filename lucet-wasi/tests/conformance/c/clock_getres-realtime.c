/* Port of the official C test: clock_getres(CLOCK_REALTIME) succeeds. */
#include <time.h>
#include "expect.h"

int main(void) {
    struct timespec res;
    EXPECT(clock_getres(CLOCK_REALTIME, &res) == 0);
    return 0;
}
