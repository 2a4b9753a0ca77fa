/* Port of the official C test: listing fopendir.dir through fdopendir
 * finds exactly file-0 and file-1 (besides dot entries), each entry's
 * d_ino is what fstatat says, and the two differ. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "expect.h"

int main(int argc, char **argv) {
    if (argc > 1)
        base_dir = argv[1];
    int dfd = open(in_base("fopendir.dir"), O_RDONLY | O_DIRECTORY);
    EXPECT(dfd != -1);
    DIR *d = fdopendir(dfd);
    EXPECT(d != NULL);
    int seen[2] = {0, 0};
    ino_t ino[2] = {0, 0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int which = -1;
        if (strncmp(e->d_name, "file-0", 6) == 0)
            which = 0;
        else if (strncmp(e->d_name, "file-1", 6) == 0)
            which = 1;
        EXPECT(which >= 0);
        seen[which] = 1;
        ino[which] = e->d_ino;
        struct stat st;
        EXPECT(fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0);
        EXPECT(st.st_ino == e->d_ino);
    }
    closedir(d);
    EXPECT(seen[0] && seen[1]);
    EXPECT(ino[0] != ino[1]);
    return 0;
}
