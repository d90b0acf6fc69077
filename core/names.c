/* SPDX-License-Identifier: MIT */
/* names.c - where a name's socket lives, and who owns it. A name is owned
 * by whoever holds flock(LOCK_EX) on "<socket>.lock"; the kernel drops the
 * lock when its owner dies, which is how a stale socket is told from a live
 * one without connecting to it. */
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((format(printf, 3, 4))) static int put(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? SEAM_ERANGE : 0;
}

/* Creates dir with mode 0700 unless it exists; a directory we made or one
 * under /tmp must belong to us and admit nobody else. */
static int ensure_dir(const char *dir, bool must_be_private)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        return -errno;
    }
    struct stat st;
    if (lstat(dir, &st) < 0) {
        return -errno;
    }
    if (!S_ISDIR(st.st_mode)) {
        return -ENOTDIR;
    }
    if (must_be_private && (st.st_uid != geteuid() || (st.st_mode & 0077) != 0)) {
        return SEAM_EACCES;
    }
    return 0;
}

int seam_runtime_dir(char *buf, size_t len)
{
    if (buf == NULL) {
        return SEAM_EINVAL;
    }
    const char *env = getenv("SEAM_RUNTIME_DIR");
    int r;
    if (env != NULL && env[0] != '\0') {
        r = put(buf, len, "%s", env);
        return r < 0 ? r : ensure_dir(buf, false);
    }
    env = getenv("XDG_RUNTIME_DIR");
    if (env != NULL && env[0] == '/') {
        r = put(buf, len, "%s/seam", env);
        return r < 0 ? r : ensure_dir(buf, true);
    }
    r = put(buf, len, "/tmp/seam-%u", (unsigned)geteuid());
    return r < 0 ? r : ensure_dir(buf, true);
}

static bool name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 200 || name[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

int seam_name_path(const char *name, char *buf, size_t len)
{
    if (name == NULL || buf == NULL) {
        return SEAM_EINVAL;
    }
    if (strncmp(name, "unix:", 5) == 0) {
        if (name[5] == '\0') {
            return SEAM_EINVAL;
        }
        return put(buf, len, "%s", name + 5);
    }
    if (!name_valid(name)) {
        return SEAM_EINVAL;
    }
    char dir[SEAM__PATH_MAX];
    int r = seam_runtime_dir(dir, sizeof(dir));
    if (r < 0) {
        return r;
    }
    return put(buf, len, "%s/%s.sock", dir, name);
}

static int lock_path(const char *path, char *buf, size_t len)
{
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".sock") == 0) {
        n -= 5; /* com.example.echo.sock -> com.example.echo.lock */
    }
    int w = snprintf(buf, len, "%.*s.lock", (int)n, path);
    return w < 0 || (size_t)w >= len ? SEAM_ERANGE : 0;
}

int seam__name_acquire(const char *path, int *lock_fd)
{
    char lp[SEAM__PATH_MAX + 8];
    int r = lock_path(path, lp, sizeof(lp));
    if (r < 0) {
        return r;
    }
    for (;;) {
        int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            return -errno;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            r = errno == EWOULDBLOCK ? SEAM_EADDRINUSE : -errno;
            close(fd);
            return r;
        }
        /* The previous owner may have removed the lock file between our
         * open and flock: then we hold a lock nobody else can see. */
        struct stat held;
        struct stat named;
        if (fstat(fd, &held) == 0 && stat(lp, &named) == 0 && held.st_ino == named.st_ino &&
            held.st_dev == named.st_dev) {
            if (unlink(path) < 0 && errno != ENOENT) {
                r = -errno;
                close(fd);
                return r;
            }
            *lock_fd = fd;
            return 0;
        }
        close(fd);
    }
}

void seam__name_release(const char *path, int lock_fd)
{
    char lp[SEAM__PATH_MAX + 8];
    unlink(path);
    if (lock_path(path, lp, sizeof(lp)) == 0) {
        unlink(lp);
    }
    close(lock_fd);
}

int seam_name_owned(const char *name)
{
    char path[SEAM__PATH_MAX];
    char lp[SEAM__PATH_MAX + 8];
    int r = seam_name_path(name, path, sizeof(path));
    if (r == 0) {
        r = lock_path(path, lp, sizeof(lp));
    }
    if (r < 0) {
        return r;
    }
    int fd = open(lp, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    r = flock(fd, LOCK_SH | LOCK_NB) < 0 ? (errno == EWOULDBLOCK ? 1 : -errno) : 0;
    close(fd);
    /* The lock is taken before the socket is bound: a server still
     * starting owns the name but cannot be reached yet. */
    struct stat st;
    if (r == 1 && (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode))) {
        r = 0;
    }
    return r;
}
