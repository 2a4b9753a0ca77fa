/* The smallest useful handler: a CGI header block, a blank line, a body. */
#include <stdio.h>

int main(void) {
    fputs("Content-Type: text/plain; charset=utf-8\n\nHello, world!\n", stdout);
    return 0;
}
