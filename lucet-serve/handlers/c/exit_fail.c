/* Hostile: prints a partial response, then exits with status 3. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    printf("Content-Type: text/plain\n\npartial");
    fprintf(stderr, "giving up\n");
    exit(3);
}
