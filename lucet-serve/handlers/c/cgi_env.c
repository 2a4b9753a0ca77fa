/* Prints its arguments and environment, one per line, so tests can check
 * how the server maps a request to CGI variables. */
#include <stdio.h>

extern char **environ;

int main(int argc, char **argv) {
    printf("Content-Type: text/plain\n\n");
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    for (char **e = environ; *e; e++)
        printf("%s\n", *e);
    return 0;
}
