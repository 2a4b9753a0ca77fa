/* Port of the official C test: without a preopened directory, fopen fails
 * with ENOTCAPABLE (the guest holds no capability for any path). */
#include "expect.h"

int main(int argc, char **argv) {
    if (argc > 1)
        base_dir = argv[1];
    FILE *f = fopen(in_base("file"), "r");
    EXPECT(f == NULL);
    EXPECT(errno == ENOTCAPABLE);
    return 0;
}
