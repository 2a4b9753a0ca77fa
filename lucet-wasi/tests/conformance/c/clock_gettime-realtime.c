/* Port of the official C test: clock_gettime(CLOCK_REALTIME) succeeds. */
#include <time.h>
#include "expect.h"

int main(void) {
    struct timespec now;
    EXPECT(clock_gettime(CLOCK_REALTIME, &now) == 0);
    return 0;
}
