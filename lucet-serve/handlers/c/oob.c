/* Hostile: stores far outside its linear memory, which traps. */
#include <stdint.h>
#include <stdio.h>

int main(void) {
    printf("Content-Type: text/plain\n\nbefore\n");
    *(volatile int *)(uintptr_t)0xFFFFFFF0u = 1;
    printf("after\n");
    return 0;
}
