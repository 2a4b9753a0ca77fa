/* Port of the official AssemblyScript test: with a=text, b=escap " ing and
 * c=new<LF>line, environ_get returns exactly those three entries, in any
 * order. */
#include "check.h"

int main(void) {
    __wasi_size_t count, size;
    OK(__wasi_environ_sizes_get(&count, &size));
    CHECK(count == 3);
    uint8_t **env = malloc(count * sizeof *env);
    uint8_t *buf = malloc(size);
    OK(__wasi_environ_get(env, buf));
    const char *want[] = {"a=text", "b=escap \" ing", "c=new\nline"};
    int seen[3] = {0, 0, 0};
    for (__wasi_size_t i = 0; i < count; i++) {
        int hit = 0;
        for (int j = 0; j < 3; j++)
            if (!seen[j] && strcmp((const char *)env[i], want[j]) == 0)
                seen[j] = hit = 1;
        CHECK(hit);
    }
    return 0;
}
