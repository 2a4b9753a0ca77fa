/* The shim's first end-to-end guest: prints its arguments, the
 * environment variable GREETING and the file /data/message.txt from its
 * image, then exits with the code given as its first argument. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        printf("arg %d: %s\n", i, argv[i]);
    }
    const char *greeting = getenv("GREETING");
    printf("GREETING=%s\n", greeting ? greeting : "(unset)");
    FILE *f = fopen("/data/message.txt", "r");
    if (!f) {
        perror("/data/message.txt");
        return 2;
    }
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    printf("file: %s", buf);
    return argc > 1 ? atoi(argv[1]) : 0;
}
