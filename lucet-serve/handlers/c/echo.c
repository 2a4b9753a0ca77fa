/* Echoes the request body back with the request's Content-Type.
 * `?status=NNN` answers with that status instead of 200, and the method
 * and path come back as X-Echo-Method and X-Echo-Path headers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v ? v : "";
}

int main(void) {
    const char *query = env("QUERY_STRING");
    const char *status = strstr(query, "status=");
    const char *type = env("CONTENT_TYPE");
    if (status)
        printf("Status: %.3s\n", status + 7);
    printf("Content-Type: %s\n", *type ? type : "application/octet-stream");
    printf("X-Echo-Method: %s\n", env("REQUEST_METHOD"));
    printf("X-Echo-Path: %s\n\n", env("PATH_INFO"));
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
        fwrite(buf, 1, n, stdout);
    return 0;
}
