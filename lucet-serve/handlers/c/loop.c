/* Hostile: never finishes. Only a deadline or an instruction budget stops it. */
#include <stdio.h>

int main(void) {
    printf("Content-Type: text/plain\n\nlooping\n");
    volatile unsigned long n = 0;
    for (;;)
        n++;
}
