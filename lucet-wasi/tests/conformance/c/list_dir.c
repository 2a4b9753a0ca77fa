/* Writes every entry name of the directory argv[1] (but . and ..) as raw
 * bytes, one per line, sorted by the runtime's order, then its own
 * arguments and environment the same way: names need not be UTF-8. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    DIR *d = opendir(argv[1]);
    if (d == NULL) {
        perror("opendir");
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        printf("entry: %s\n", e->d_name);
    }
    closedir(d);
    for (int i = 2; i < argc; i++)
        printf("arg: %s\n", argv[i]);
    for (char **v = environ; *v; v++)
        printf("env: %s\n", *v);
    return 0;
}
