/* SPDX-License-Identifier: MIT */
/* names.c - where a name's socket lives, and who owns it. A name is owned
 * by whoever holds flock(LOCK_EX) on its lock file; the kernel drops the
 * lock when its owner dies, which is how a stale socket is told from a live
 * one without connecting to it. */
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How often an owner retries a lock it found held only by probes, before
 * it gives up (a probe holds it for two system calls). */
#define LOCK_TRIES 200

__attribute__((format(printf, 3, 4))) static int put(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? SEAM_ERANGE : 0;
}

/* Creates dir with mode 0700 unless it exists, then checks that nobody but
 * its owner can add or replace entries in it. A directory we chose
 * ($XDG_RUNTIME_DIR/seam, /tmp/seam-UID) must be ours and closed to
 * everyone else. One named by $SEAM_RUNTIME_DIR may also be root's and
 * readable by others (a system service's directory), but never writable by
 * group or others: there another user could plant a link at a lock path or
 * rename a socket of theirs over a name. */
static int ensure_dir(const char *dir, bool chosen_by_user)
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
    uid_t me = geteuid();
    if (chosen_by_user) {
        if ((st.st_uid != me && st.st_uid != 0) || (st.st_mode & 0022) != 0) {
            return SEAM_EACCES;
        }
    } else if (st.st_uid != me || (st.st_mode & 0077) != 0) {
        return SEAM_EACCES;
    }
    return 0;
}

int seam_runtime_dir(char *buf, size_t len)
{
    if (buf == NULL) {
        return SEAM_EINVAL;
    }
    /* An empty variable counts as unset; so does an XDG_RUNTIME_DIR that
     * is not an absolute path (the XDG rule for an invalid value). */
    const char *env = getenv("SEAM_RUNTIME_DIR");
    int r;
    if (env != NULL && env[0] != '\0') {
        r = put(buf, len, "%s", env);
        return r < 0 ? r : ensure_dir(buf, true);
    }
    env = getenv("XDG_RUNTIME_DIR");
    if (env != NULL && env[0] == '/') {
        r = put(buf, len, "%s/seam", env);
        return r < 0 ? r : ensure_dir(buf, false);
    }
    r = put(buf, len, "/tmp/seam-%u", (unsigned)geteuid());
    return r < 0 ? r : ensure_dir(buf, false);
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

/* One socket path, one lock path, however the socket was named: a final
 * ".sock" becomes ".lock" (name N and unix:DIR/N.sock share DIR/N.lock),
 * any other path gets ".lock" appended. */
static int lock_path(const char *path, char *buf, size_t len)
{
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".sock") == 0) {
        n -= 5;
    }
    int w = snprintf(buf, len, "%.*s.lock", (int)n, path);
    return w < 0 || (size_t)w >= len ? SEAM_ERANGE : 0;
}

void seam__unlink_socket(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(path);
    }
}

static bool same_inode(const struct stat *st, dev_t dev, ino_t ino)
{
    return st->st_dev == dev && st->st_ino == ino;
}

/* Takes fd's lock exclusively. A probe (seam_name_owned) holds it shared
 * for an instant; an owner holds it exclusively for as long as it lives.
 * So a refused exclusive lock is an owner's only if a shared one is
 * refused too; otherwise it was a probe, and trying again wins. */
static int lock_exclusive(int fd)
{
    for (int i = 0; i < LOCK_TRIES; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EWOULDBLOCK) {
            return -errno;
        }
        if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
            if (errno == EWOULDBLOCK) {
                return SEAM_EADDRINUSE;
            }
            if (errno != EINTR) {
                return -errno;
            }
        }
        flock(fd, LOCK_UN);
        if (i < 16) {
            sched_yield();
        } else {
            struct timespec ts = {0, 100 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return SEAM_EADDRINUSE;
}

/* Opens the lock file without following a link and checks it is a regular
 * file of ours: in a directory others may write to (a unix: path), one of
 * theirs could be removed or replaced by them under us. */
static int lock_open(const char *lp, int *out)
{
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (fd < 0) {
        return errno == ELOOP ? SEAM_EACCES : -errno;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        return SEAM_EACCES;
    }
    *out = fd;
    return 0;
}

int seam__name_acquire(const char *path, seam__name *name)
{
    char lp[SEAM__PATH_MAX + 8];
    int r = lock_path(path, lp, sizeof(lp));
    if (r < 0) {
        return r;
    }
    memset(name, 0, sizeof(*name));
    name->lock_fd = -1;
    for (;;) {
        int fd = -1;
        r = lock_open(lp, &fd);
        if (r < 0) {
            return r;
        }
        r = lock_exclusive(fd);
        if (r < 0) {
            close(fd);
            return r;
        }
        /* The previous owner may have removed the lock file between our
         * open and flock: then we hold a lock nobody else can see. */
        struct stat held;
        struct stat named;
        if (fstat(fd, &held) == 0 && lstat(lp, &named) == 0 &&
            same_inode(&named, held.st_dev, held.st_ino)) {
            name->lock_fd = fd;
            name->lock_dev = held.st_dev;
            name->lock_ino = held.st_ino;
            break;
        }
        close(fd);
    }
    /* We own the name: a socket at path is a dead owner's. Anything else
     * there is somebody's file, and stays. */
    struct stat st;
    if (lstat(path, &st) == 0) {
        r = S_ISSOCK(st.st_mode) ? (unlink(path) < 0 && errno != ENOENT ? -errno : 0) : SEAM_EEXIST;
    } else if (errno != ENOENT) {
        r = -errno;
    }
    if (r < 0) {
        seam__name_release(path, name);
    }
    return r;
}

void seam__name_bound(seam__name *name, dev_t dev, ino_t ino)
{
    name->have_socket = true;
    name->sock_dev = dev;
    name->sock_ino = ino;
}

void seam__name_release(const char *path, seam__name *name)
{
    if (name->lock_fd < 0) {
        return;
    }
    struct stat st;
    if (name->have_socket && lstat(path, &st) == 0 &&
        same_inode(&st, name->sock_dev, name->sock_ino)) {
        unlink(path);
    }
    char lp[SEAM__PATH_MAX + 8];
    if (lock_path(path, lp, sizeof(lp)) == 0 && lstat(lp, &st) == 0 &&
        same_inode(&st, name->lock_dev, name->lock_ino)) {
        unlink(lp);
    }
    close(name->lock_fd);
    name->lock_fd = -1;
    name->have_socket = false;
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
    /* The lock is taken before the socket is bound: a server still
     * starting owns the name but cannot be reached yet. Looking at the
     * socket first also leaves the lock of a name being taken alone. */
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        return 0;
    }
    int fd = open(lp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        return errno == ENOENT || errno == ELOOP ? 0 : -errno;
    }
    /* A shared lock for an instant: an owner that tries to take the lock
     * meanwhile sees it is not an owner's and tries again. */
    r = flock(fd, LOCK_SH | LOCK_NB) < 0 ? (errno == EWOULDBLOCK ? 1 : -errno) : 0;
    close(fd);
    return r;
}
