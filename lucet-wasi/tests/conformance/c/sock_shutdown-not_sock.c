/* Port of the official C test: shutdown of stdout fails with ENOTSOCK. */
#include <sys/socket.h>
#include <unistd.h>
#include "expect.h"

int main(void) {
    EXPECT(shutdown(STDOUT_FILENO, SHUT_RD) != 0);
    EXPECT(errno == ENOTSOCK);
    return 0;
}
