/* SPDX-License-Identifier: MIT */
/* names.c - where a name's socket lives, and who owns it. A name is owned
 * by whoever holds flock(LOCK_EX) on its lock file; the kernel drops the
 * lock when its owner dies. A socket whose lock nobody holds is removed
 * only once a connect() to it is refused: a live listener keeps it, lock
 * file or not. */
#include "names.h"
#include "tran.h"

#include "unix.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
/* Symbolic links followed on the way to a runtime directory (as the
 * kernel's own limit). */
#define WALK_HOPS  40

__attribute__((format(printf, 3, 4))) static int put(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? SEAM_ERANGE : 0;
}

static bool trusted_owner(const struct stat *st)
{
    return st->st_uid == geteuid() || st->st_uid == 0;
}

/* A directory on the way to the runtime directory: nobody but root and
 * the caller may replace the entry we go through next. Its owner could
 * (by chmod), so it must be one of them; others may write to it only if
 * it is sticky (like /tmp), where they cannot rename or remove entries
 * that are not theirs - and the next one must be root's or ours. */
static bool ancestor_safe(const struct stat *st)
{
    return trusted_owner(st) && ((st->st_mode & 0022) == 0 || (st->st_mode & S_ISVTX) != 0);
}

/* The runtime directory itself: nobody but its owner can add or replace
 * entries in it. A directory we chose ($XDG_RUNTIME_DIR/seam,
 * /tmp/seam-UID) must be ours and closed to everyone else. One named by
 * $SEAM_RUNTIME_DIR may also be root's and readable by others (a system
 * service's directory), but never writable by group or others: there
 * another user could plant a link at a lock path or rename a socket of
 * theirs over a name. */
static bool runtime_safe(const struct stat *st, bool chosen_by_user)
{
    if (chosen_by_user) {
        return trusted_owner(st) && (st->st_mode & 0022) == 0;
    }
    return st->st_uid == geteuid() && (st->st_mode & 0077) == 0;
}

static int open_root(int *fd)
{
    struct stat st;
    *fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0) {
        return -errno;
    }
    if (fstat(*fd, &st) < 0 || !ancestor_safe(&st)) {
        close(*fd);
        *fd = -1;
        return SEAM_EACCES;
    }
    return 0;
}

/* Opens the absolute path dir one component at a time, never through a
 * link or directory another user could replace (ancestor_safe), creating
 * its last component with mode 0700 if missing, and checks the directory
 * reached (runtime_safe). A link is followed only if root or the caller
 * made it, in a directory already found safe; its target is walked the
 * same way. So the descriptor returned is the directory that was checked,
 * whatever is renamed or planted later. */
static int walk_dir(const char *dir, bool chosen_by_user, int *out)
{
    char todo[PATH_MAX];
    if (dir[0] != '/') {
        return SEAM_EINVAL;
    }
    if (put(todo, sizeof(todo), "%s", dir) < 0) {
        return SEAM_ENAMETOOLONG;
    }
    int fd;
    int r = open_root(&fd);
    if (r < 0) {
        return r;
    }
    const char *p = todo;
    int hops = 0;
    for (;;) {
        while (*p == '/') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        size_t n = strcspn(p, "/");
        char comp[NAME_MAX + 1];
        if (n > NAME_MAX) {
            r = SEAM_ENAMETOOLONG;
            break;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        p += n;
        const char *rest = p;
        while (*rest == '/') {
            rest++;
        }
        bool last = *rest == '\0';
        if (strcmp(comp, ".") == 0) {
            continue;
        }
        struct stat st;
        if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT || !last || (mkdirat(fd, comp, 0700) < 0 && errno != EEXIST) ||
                fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                r = -errno;
                break;
            }
        }
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t m;
            if (!trusted_owner(&st)) {
                r = SEAM_EACCES;
                break;
            }
            if (++hops > WALK_HOPS) {
                r = -ELOOP;
                break;
            }
            m = readlinkat(fd, comp, target, sizeof(target) - 1);
            if (m <= 0) {
                r = m < 0 ? -errno : SEAM_EACCES;
                break;
            }
            target[m] = '\0';
            char next[PATH_MAX];
            if (put(next, sizeof(next), "%s/%s", target, rest) < 0) {
                r = SEAM_ENAMETOOLONG;
                break;
            }
            memcpy(todo, next, strlen(next) + 1);
            p = todo;
            if (target[0] == '/') {
                close(fd);
                if ((r = open_root(&fd)) < 0) {
                    return r;
                }
            }
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            r = -ENOTDIR;
            break;
        }
        int next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            /* Replaced by a link or a file since we looked. */
            r = errno == ENOTDIR || errno == ELOOP ? SEAM_EACCES : -errno;
            break;
        }
        close(fd);
        fd = next;
        if (fstat(fd, &st) < 0) {
            r = -errno;
            break;
        }
        if (!last && !ancestor_safe(&st)) {
            r = SEAM_EACCES;
            break;
        }
    }
    struct stat st;
    if (r == 0 && (fstat(fd, &st) < 0 || !runtime_safe(&st, chosen_by_user))) {
        r = SEAM_EACCES;
    }
    if (r < 0) {
        close(fd);
        return r;
    }
    *out = fd;
    return 0;
}

/* The runtime directory's path, opened and checked (walk_dir). */
static int runtime_dir_open(char *buf, size_t len, int *fd)
{
    /* An empty variable counts as unset; so does an XDG_RUNTIME_DIR that
     * is not an absolute path (the XDG rule for an invalid value). A
     * relative SEAM_RUNTIME_DIR is refused: it would put a name where the
     * working directory happens to be. */
    const char *env = getenv("SEAM_RUNTIME_DIR");
    bool chosen_by_user = false;
    int r;
    if (env != NULL && env[0] != '\0') {
        if (env[0] != '/') {
            return SEAM_EINVAL;
        }
        r = put(buf, len, "%s", env);
        chosen_by_user = true;
    } else if ((env = getenv("XDG_RUNTIME_DIR")) != NULL && env[0] == '/') {
        r = put(buf, len, "%s/seam", env);
    } else {
        r = put(buf, len, "/tmp/seam-%u", (unsigned)geteuid());
    }
    return r < 0 ? r : walk_dir(buf, chosen_by_user, fd);
}

int seam_runtime_dir(char *buf, size_t len)
{
    if (buf == NULL) {
        return SEAM_EINVAL;
    }
    int fd;
    int r = runtime_dir_open(buf, len, &fd);
    if (r == 0) {
        close(fd);
    }
    return r;
}

/* Fills in out->path and out->leaf and, if fd is not NULL, opens the
 * socket's directory. A socket path that does not fit sockaddr_un is
 * SEAM_ENAMETOOLONG. */
static int resolve(const char *name, seam__name *out, int *fd)
{
    char dir[PATH_MAX];
    const char *leaf;
    int r;
    if (strncmp(name, "unix:", 5) == 0) {
        const char *path = name + 5;
        if (path[0] == '\0') {
            return SEAM_EINVAL;
        }
        if (strlen(path) >= sizeof(out->path)) {
            return SEAM_ENAMETOOLONG;
        }
        memcpy(out->path, path, strlen(path) + 1);
        const char *slash = strrchr(path, '/');
        leaf = slash != NULL ? slash + 1 : path;
        if (leaf[0] == '\0') {
            return SEAM_EINVAL;
        }
        if (slash == NULL) {
            r = put(dir, sizeof(dir), ".");
        } else if (slash == path) {
            r = put(dir, sizeof(dir), "/");
        } else {
            r = put(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
        }
        if (r < 0) {
            return SEAM_ENAMETOOLONG;
        }
        /* The caller's choice: followed as given, not checked. */
        if (fd != NULL && (*fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
            return -errno;
        }
    } else {
        if (!seam__name_valid(name)) {
            return SEAM_EINVAL;
        }
        int dfd;
        r = runtime_dir_open(dir, sizeof(dir), &dfd);
        if (r < 0) {
            return r == SEAM_ERANGE ? SEAM_ENAMETOOLONG : r;
        }
        r = put(out->path, sizeof(out->path), "%s/%s.sock", dir, name);
        if (r < 0) {
            close(dfd);
            return SEAM_ENAMETOOLONG;
        }
        leaf = out->path + strlen(dir) + 1;
        if (fd != NULL) {
            *fd = dfd;
        } else {
            close(dfd);
        }
    }
    memmove(out->leaf, leaf, strlen(leaf) + 1);
    return 0;
}

int seam_name_path(const char *name, char *buf, size_t len)
{
    if (name == NULL || buf == NULL) {
        return SEAM_EINVAL;
    }
    seam__name n;
    int r = resolve(name, &n, NULL);
    return r < 0 ? r : put(buf, len, "%s", n.path);
}

int seam__name_open(const char *name, seam__name *out)
{
    memset(out, 0, sizeof(*out));
    out->lock_fd = -1;
    out->dir_fd = -1;
    return resolve(name, out, &out->dir_fd);
}

/* One socket, one lock, however the socket was named: a final ".sock"
 * becomes ".lock" (name N and unix:DIR/N.sock share DIR/N.lock), any
 * other name gets ".lock" appended. */
static int lock_leaf(const char *leaf, char *buf, size_t len)
{
    size_t n = strlen(leaf);
    if (n > 5 && strcmp(leaf + n - 5, ".sock") == 0) {
        n -= 5;
    }
    int w = snprintf(buf, len, "%.*s.lock", (int)n, leaf);
    return w < 0 || (size_t)w >= len ? SEAM_ENAMETOOLONG : 0;
}

void seam__unlink_socket_at(int dir_fd, const char *leaf)
{
    struct stat st;
    if (fstatat(dir_fd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode)) {
        unlinkat(dir_fd, leaf, 0);
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
static int lock_open(int dir_fd, const char *lp, int *out)
{
    int fd = openat(dir_fd, lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
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

/* What is at the socket's place, for an owner about to serve it: 0 if
 * nothing is there or a dead socket of ours was removed; SEAM_EEXIST for
 * a file that is not a socket, SEAM_EADDRINUSE for a socket that is
 * another user's or still takes connections (its owner lost its lock file
 * but not its life, or it is not a seam server at all). */
static int clear_stale(seam__name *name)
{
    struct stat st;
    if (fstatat(name->dir_fd, name->leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    if (!S_ISSOCK(st.st_mode)) {
        return SEAM_EEXIST;
    }
    if (st.st_uid != geteuid()) {
        return SEAM_EADDRINUSE;
    }
    int r = seam__unix_alive_at(name->dir_fd, name->path, name->leaf);
    if (r != 0) {
        return r > 0 ? SEAM_EADDRINUSE : r;
    }
    return unlinkat(name->dir_fd, name->leaf, 0) < 0 && errno != ENOENT ? -errno : 0;
}

/* Removes the socket and the lock file where they are still the ones
 * this owner made, and gives up the lock. */
static void drop_lock(seam__name *name)
{
    struct stat st;
    if (name->have_socket && fstatat(name->dir_fd, name->leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        same_inode(&st, name->sock_dev, name->sock_ino)) {
        unlinkat(name->dir_fd, name->leaf, 0);
    }
    char lp[SEAM__PATH_MAX + 8];
    if (lock_leaf(name->leaf, lp, sizeof(lp)) == 0 &&
        fstatat(name->dir_fd, lp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        same_inode(&st, name->lock_dev, name->lock_ino)) {
        unlinkat(name->dir_fd, lp, 0);
    }
    close(name->lock_fd);
    name->lock_fd = -1;
    name->have_socket = false;
}

/* Takes the lock of the name (see seam__name_acquire). */
static int lock_take(seam__name *name)
{
    char lp[SEAM__PATH_MAX + 8];
    int r = lock_leaf(name->leaf, lp, sizeof(lp));
    if (r < 0) {
        return r;
    }
    for (;;) {
        int fd = -1;
        r = lock_open(name->dir_fd, lp, &fd);
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
        if (fstat(fd, &held) == 0 && fstatat(name->dir_fd, lp, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
            same_inode(&named, held.st_dev, held.st_ino)) {
            name->lock_fd = fd;
            name->lock_dev = held.st_dev;
            name->lock_ino = held.st_ino;
            break;
        }
        close(fd);
    }
    return 0;
}

int seam__name_acquire(seam__name *name)
{
    int r = lock_take(name);
    if (r == 0 && (r = clear_stale(name)) < 0) {
        drop_lock(name);
    }
    return r;
}

int seam__name_adopt(seam__name *name)
{
    return lock_take(name); /* the socket there is the one adopted: it stays */
}

void seam__name_bound(seam__name *name, dev_t dev, ino_t ino)
{
    name->have_socket = true;
    name->sock_dev = dev;
    name->sock_ino = ino;
}

void seam__name_release(seam__name *name)
{
    if (name->lock_fd >= 0) {
        drop_lock(name);
    }
    if (name->dir_fd >= 0) {
        close(name->dir_fd);
        name->dir_fd = -1;
    }
}

int seam_name_owned(const char *name)
{
    if (name == NULL) {
        return SEAM_EINVAL;
    }
    if (seam__tran_for(name) == &seam__tran_inproc) {
        return seam__inproc_owned(name);
    }
    seam__name n;
    char lp[SEAM__PATH_MAX + 8];
    int r = seam__name_open(name, &n);
    if (r == 0) {
        r = lock_leaf(n.leaf, lp, sizeof(lp));
    }
    if (r < 0) {
        seam__name_release(&n);
        return r;
    }
    /* The socket is looked at first: a server still starting holds the
     * lock but cannot be reached yet, and the lock of a name being taken
     * is left alone. */
    struct stat st;
    if (fstatat(n.dir_fd, n.leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        r = errno == ENOENT ? 0 : -errno;
    } else if (!S_ISSOCK(st.st_mode)) {
        r = SEAM_EEXIST;
    } else {
        /* A shared lock for an instant: an owner that tries to take the
         * lock meanwhile sees it is not an owner's and tries again. */
        int fd = openat(n.dir_fd, lp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        r = 0;
        if (fd >= 0) {
            r = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK ? 1 : 0;
            close(fd);
        }
        if (r == 0) {
            /* Nobody holds the lock (or there is none): whether the socket
             * still takes connections decides, as it does for a server
             * about to remove it. */
            r = seam__unix_alive_at(n.dir_fd, n.path, n.leaf);
        }
    }
    seam__name_release(&n);
    return r;
}
