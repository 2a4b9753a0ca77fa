/* Shared by the conformance fixtures: checks that end the program with a
 * message on stderr and exit code 1, and the helpers the official
 * wasi-testsuite's Rust programs share (finding the scratch directory,
 * creating a temporary directory with a fixed set of rights, rights
 * queries). Everything goes through the raw wasi_snapshot_preview1 calls of
 * <wasi/api.h>, as the official programs do, not through libc. */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

static const char *const WASI_ERRNO_NAMES[] = {
    "SUCCESS", "2BIG", "ACCES", "ADDRINUSE", "ADDRNOTAVAIL", "AFNOSUPPORT", "AGAIN",
    "ALREADY", "BADF", "BADMSG", "BUSY", "CANCELED", "CHILD", "CONNABORTED",
    "CONNREFUSED", "CONNRESET", "DEADLK", "DESTADDRREQ", "DOM", "DQUOT", "EXIST",
    "FAULT", "FBIG", "HOSTUNREACH", "IDRM", "ILSEQ", "INPROGRESS", "INTR", "INVAL",
    "IO", "ISCONN", "ISDIR", "LOOP", "MFILE", "MLINK", "MSGSIZE", "MULTIHOP",
    "NAMETOOLONG", "NETDOWN", "NETRESET", "NETUNREACH", "NFILE", "NOBUFS", "NODEV",
    "NOENT", "NOEXEC", "NOLCK", "NOLINK", "NOMEM", "NOMSG", "NOPROTOOPT", "NOSPC",
    "NOSYS", "NOTCONN", "NOTDIR", "NOTEMPTY", "NOTRECOVERABLE", "NOTSOCK", "NOTSUP",
    "NOTTY", "NXIO", "OVERFLOW", "OWNERDEAD", "PERM", "PIPE", "PROTO",
    "PROTONOSUPPORT", "PROTOTYPE", "RANGE", "ROFS", "SPIPE", "SRCH", "STALE",
    "TIMEDOUT", "TXTBSY", "XDEV", "NOTCAPABLE",
};

static inline const char *errno_name(__wasi_errno_t e) {
    if (e < sizeof WASI_ERRNO_NAMES / sizeof WASI_ERRNO_NAMES[0])
        return WASI_ERRNO_NAMES[e];
    return "?";
}

#define FAIL(...)                                                    \
    do {                                                             \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);         \
        fprintf(stderr, __VA_ARGS__);                                \
        fprintf(stderr, "\n");                                       \
        exit(1);                                                     \
    } while (0)

#define CHECK(cond)                                                  \
    do {                                                             \
        if (!(cond))                                                 \
            FAIL("check failed: %s", #cond);                         \
    } while (0)

/* The call must succeed. */
#define OK(call)                                                     \
    do {                                                             \
        __wasi_errno_t e_ = (call);                                  \
        if (e_ != __WASI_ERRNO_SUCCESS)                              \
            FAIL("%s: %s", #call, errno_name(e_));                   \
    } while (0)

/* The call must fail with one of the listed errnos. */
#define FAILS_WITH(call, ...)                                        \
    do {                                                             \
        __wasi_errno_t e_ = (call);                                  \
        const __wasi_errno_t ok_[] = {__VA_ARGS__};                  \
        int hit_ = 0;                                                \
        for (size_t i_ = 0; i_ < sizeof ok_ / sizeof ok_[0]; i_++)   \
            hit_ |= e_ == ok_[i_];                                   \
        if (!hit_)                                                   \
            FAIL("%s: got %s, expected %s", #call, errno_name(e_),   \
                 #__VA_ARGS__);                                      \
    } while (0)

#define R(x) __WASI_RIGHTS_##x

/* Scan the descriptors from 3 up for a preopened directory named `name`,
 * stopping at the first descriptor that is not a preopen. */
static inline __wasi_fd_t find_preopen(const char *name) {
    for (__wasi_fd_t fd = 3;; fd++) {
        __wasi_prestat_t st;
        if (__wasi_fd_prestat_get(fd, &st) != 0)
            break;
        if (st.tag != __WASI_PREOPENTYPE_DIR)
            continue;
        char buf[256];
        size_t len = st.u.dir.pr_name_len;
        if (len >= sizeof buf || __wasi_fd_prestat_dir_name(fd, (uint8_t *)buf, len) != 0)
            continue;
        buf[len] = 0;
        if (strcmp(buf, name) == 0)
            return fd;
    }
    FAIL("no preopened directory named %s", name);
}

static inline void fd_get_rights(__wasi_fd_t fd, __wasi_rights_t *base, __wasi_rights_t *inh) {
    __wasi_fdstat_t st;
    OK(__wasi_fd_fdstat_get(fd, &st));
    *base = st.fs_rights_base;
    *inh = st.fs_rights_inheriting;
}

static inline void drop_rights(__wasi_fd_t fd, __wasi_rights_t base, __wasi_rights_t inh) {
    __wasi_rights_t b, i;
    fd_get_rights(fd, &b, &i);
    OK(__wasi_fd_fdstat_set_rights(fd, b & ~base, i & ~inh));
}

static inline int supports_rights(__wasi_fd_t fd) {
    __wasi_rights_t b, i;
    fd_get_rights(fd, &b, &i);
    return __wasi_fd_fdstat_set_rights(fd, b, i) != __WASI_ERRNO_NOTSUP;
}

/* The preopen opened again as "." with its own rights, as the official
 * helper does: the rights are a ceiling, not a request to write. */
static inline __wasi_fd_t open_scratch(const char *preopen) {
    __wasi_fd_t pre = find_preopen(preopen), fd;
    __wasi_rights_t base, inh;
    fd_get_rights(pre, &base, &inh);
    OK(__wasi_path_open(pre, 0, ".", __WASI_OFLAGS_DIRECTORY, base, inh, 0, &fd));
    return fd;
}

static inline __wasi_fd_t create_tmp_dir(__wasi_fd_t dir, const char *name) {
    __wasi_fd_t fd;
    OK(__wasi_path_create_directory(dir, name));
    OK(__wasi_path_open(dir, 0, name, __WASI_OFLAGS_DIRECTORY,
                        R(FD_FILESTAT_GET) | R(FD_READDIR) | R(PATH_CREATE_FILE) |
                            R(PATH_CREATE_DIRECTORY) | R(PATH_REMOVE_DIRECTORY) | R(PATH_OPEN) |
                            R(PATH_UNLINK_FILE) | R(PATH_LINK_SOURCE) | R(PATH_LINK_TARGET) |
                            R(PATH_READLINK) | R(PATH_RENAME_SOURCE) | R(PATH_RENAME_TARGET) |
                            R(PATH_FILESTAT_GET) | R(PATH_FILESTAT_SET_SIZE) |
                            R(PATH_FILESTAT_SET_TIMES) | R(PATH_SYMLINK),
                        R(FD_READ) | R(FD_WRITE) | R(FD_READDIR) | R(FD_FILESTAT_GET) | R(FD_SEEK) |
                            R(PATH_LINK_SOURCE) | R(PATH_LINK_TARGET) | R(PATH_OPEN) |
                            R(PATH_UNLINK_FILE) | R(PATH_FILESTAT_GET) | R(FD_FDSTAT_SET_FLAGS) |
                            R(FD_SYNC) | R(FD_TELL) | R(FD_ADVISE) | R(FD_ALLOCATE) |
                            R(FD_FILESTAT_SET_SIZE) | R(FD_FILESTAT_SET_TIMES),
                        0, &fd));
    return fd;
}

static inline void create_file(__wasi_fd_t dir, const char *name) {
    __wasi_fd_t fd;
    OK(__wasi_path_open(dir, 0, name, __WASI_OFLAGS_CREAT, 0, 0, 0, &fd));
    CHECK(fd > 2);
    OK(__wasi_fd_close(fd));
}

static inline __wasi_ciovec_t ciov(const void *buf, size_t len) {
    __wasi_ciovec_t v = {(const uint8_t *)buf, len};
    return v;
}

static inline __wasi_iovec_t iov(void *buf, size_t len) {
    __wasi_iovec_t v = {(uint8_t *)buf, len};
    return v;
}

#endif
