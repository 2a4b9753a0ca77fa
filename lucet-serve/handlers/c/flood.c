/* Hostile: writes output forever (until the server's output limit). */
#include <stdio.h>
#include <string.h>

int main(void) {
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    printf("Content-Type: text/plain\n\n");
    for (;;)
        if (fwrite(buf, 1, sizeof buf, stdout) != sizeof buf)
            return 1;
}
