/* Port of the official C test: a file in the preopened directory can be
 * opened for reading with fopen. */
#include "expect.h"

int main(int argc, char **argv) {
    if (argc > 1)
        base_dir = argv[1];
    FILE *f = fopen(in_base("file"), "r");
    EXPECT(f != NULL);
    EXPECT(fclose(f) == 0);
    return 0;
}
