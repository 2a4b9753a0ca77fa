/* Port of the official C test: shutdown of a descriptor that is not open
 * (3: no directory is preopened) fails with EBADF. */
#include <sys/socket.h>
#include "expect.h"

int main(void) {
    EXPECT(shutdown(3, SHUT_RD) != 0);
    EXPECT(errno == EBADF);
    return 0;
}
