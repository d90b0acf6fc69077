/* SPDX-License-Identifier: MIT */
/* unix.c - non-blocking AF_UNIX stream sockets with SCM_RIGHTS and
 * SO_PEERCRED. */
#include "unix.h"

#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5; older kernels answer ENOPROTOOPT */
#endif

static int make_addr(const char *path, struct sockaddr_un *addr)
{
    size_t len = strlen(path);
    if (len == 0) {
        return SEAM_EINVAL;
    }
    if (len >= sizeof(addr->sun_path)) {
        return SEAM_ENAMETOOLONG;
    }
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, path, len + 1);
    return 0;
}

/* The address of leaf in the directory open as dir_fd. Through
 * /proc/self/fd the kernel goes to that very directory, whatever was
 * renamed or planted on the path to it since it was opened; without /proc,
 * or where that does not fit, the path of the directory (path without its
 * last component) is used, and the caller checks what appeared in dir_fd. */
static int addr_at(int dir_fd, const char *path, const char *leaf, struct sockaddr_un *addr,
                   bool *by_fd)
{
    char buf[sizeof(addr->sun_path)];
    int n = snprintf(buf, sizeof(buf), "/proc/self/fd/%d/%s", dir_fd, leaf);
    *by_fd = n > 0 && (size_t)n < sizeof(buf) && access("/proc/self/fd", X_OK) == 0;
    if (!*by_fd) {
        const char *slash = strrchr(path, '/');
        size_t dir_len = slash != NULL ? (size_t)(slash - path) + 1 : 0;
        n = snprintf(buf, sizeof(buf), "%.*s%s", (int)dir_len, path, leaf);
        if (n < 0 || (size_t)n >= sizeof(buf)) {
            return SEAM_ENAMETOOLONG;
        }
    }
    return make_addr(buf, addr);
}

static int stream_socket(int *fd)
{
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return *fd < 0 ? -errno : 0;
}

/* A non-blocking stream socket and the address of path, for connect. */
static int unix_socket(const char *path, struct sockaddr_un *addr, int *fd)
{
    int r = make_addr(path, addr);
    return r < 0 ? r : stream_socket(fd);
}

/* A random part for the staging name: in a directory others may write
 * to (a unix: path), a name they can guess is a name they can block. */
static unsigned staging_tag(void)
{
    unsigned tag = 0;
    if (getrandom(&tag, sizeof(tag), GRND_NONBLOCK) != (ssize_t)sizeof(tag)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        tag = (unsigned)ts.tv_nsec ^ (unsigned)ts.tv_sec;
    }
    return tag;
}

/* Moves the socket from tmp to leaf unless something is already there
 * (a file that is not a socket, or a rival's socket): never replaces. */
static int publish(int dir_fd, const char *tmp, const char *leaf)
{
    if (renameat2(dir_fd, tmp, dir_fd, leaf, RENAME_NOREPLACE) == 0) {
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS) {
        return -errno;
    }
    /* A file system without RENAME_NOREPLACE: link() never replaces. */
    if (linkat(dir_fd, tmp, dir_fd, leaf, 0) < 0) {
        return -errno;
    }
    unlinkat(dir_fd, tmp, 0);
    return 0;
}

int seam__unix_listen(int dir_fd, const char *path, const char *leaf, unsigned mode, int *fd,
                      dev_t *dev, ino_t *ino)
{
    /* Bound under a private name and moved once listening: a socket that
     * exists under its real name always takes connections (a client never
     * sees one that refuses them because listen() is still to come). */
    char tmp[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int n = snprintf(tmp, sizeof(tmp), "%s.%ld.%08x.new", leaf, (long)getpid(), staging_tag());
    struct sockaddr_un addr;
    bool by_fd = false;
    bool staged =
        n > 0 && (size_t)n < sizeof(tmp) && addr_at(dir_fd, path, tmp, &addr, &by_fd) == 0;
    const char *bound = staged ? tmp : leaf;
    int s = -1;
    int r = staged ? 0 : addr_at(dir_fd, path, leaf, &addr, &by_fd);
    if (r == 0) {
        r = stream_socket(&s);
    }
    if (r < 0) {
        return r;
    }
    if (staged) {
        seam__unlink_socket_at(dir_fd, tmp); /* left by a process of ours that died here */
    }
    /* The mode is set before listen(): until then every connect() is
     * refused, so no peer ever meets the socket with the umask's bits. */
    struct stat st;
    if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        (mode != 0 && fchmodat(dir_fd, bound, (mode_t)mode, 0) < 0) || listen(s, SOMAXCONN) < 0 ||
        fstatat(dir_fd, bound, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        r = -errno;
        if (staged) {
            seam__unlink_socket_at(dir_fd, tmp);
        }
        close(s);
        return r == -EADDRINUSE ? SEAM_EADDRINUSE : r;
    }
    if (!S_ISSOCK(st.st_mode)) {
        close(s); /* bound by path, and the directory was swapped under us */
        return SEAM_EACCES;
    }
    if (staged && (r = publish(dir_fd, tmp, leaf)) < 0) {
        seam__unlink_socket_at(dir_fd, tmp);
        close(s);
        return r == -EEXIST ? SEAM_EEXIST : r;
    }
    *fd = s;
    *dev = st.st_dev;
    *ino = st.st_ino; /* a rename keeps the inode */
    return 0;
}

static bool sockopt_is(int fd, int opt, int want)
{
    int v = 0;
    socklen_t len = sizeof(v);
    return getsockopt(fd, SOL_SOCKET, opt, &v, &len) == 0 && v == want;
}

int seam__unix_listening(int fd, char *path, size_t len)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) || !sockopt_is(fd, SO_DOMAIN, AF_UNIX) ||
        !sockopt_is(fd, SO_TYPE, SOCK_STREAM) || !sockopt_is(fd, SO_ACCEPTCONN, 1)) {
        return SEAM_EBADF;
    }
    struct sockaddr_un addr;
    socklen_t alen = sizeof(addr);
    memset(&addr, 0, sizeof(addr));
    if (getsockname(fd, (struct sockaddr *)&addr, &alen) < 0) {
        return SEAM_EBADF;
    }
    size_t n = alen > offsetof(struct sockaddr_un, sun_path)
                   ? strnlen(addr.sun_path, alen - offsetof(struct sockaddr_un, sun_path))
                   : 0;
    if (n >= len) {
        return SEAM_ENAMETOOLONG;
    }
    memcpy(path, addr.sun_path, n); /* abstract: n is 0 */
    path[n] = '\0';
    return 0;
}

int seam__unix_alive_at(int dir_fd, const char *path, const char *leaf)
{
    struct sockaddr_un addr;
    bool by_fd;
    int s = -1;
    int r = addr_at(dir_fd, path, leaf, &addr, &by_fd);
    if (r == 0) {
        r = stream_socket(&s);
    }
    if (r < 0) {
        return r;
    }
    do {
        r = connect(s, (struct sockaddr *)&addr, sizeof(addr));
    } while (r < 0 && errno == EINTR);
    int err = r < 0 ? errno : 0;
    close(s);
    if (err == 0 || err == EAGAIN || err == EINPROGRESS) {
        return 1; /* accepted, or a full backlog: somebody listens */
    }
    return err == ECONNREFUSED || err == ENOENT ? 0 : -err;
}

int seam__unix_connect(const char *path, int *fd)
{
    struct sockaddr_un addr;
    int s;
    int r = unix_socket(path, &addr, &s);
    if (r < 0) {
        return r;
    }
    do {
        r = connect(s, (struct sockaddr *)&addr, sizeof(addr));
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        r = -errno;
        close(s);
        if (r == -ENOENT || r == -ECONNREFUSED || r == -ENOTDIR) {
            return SEAM_ENOTFOUND;
        }
        if (r == -EACCES || r == -EPERM) {
            /* The kernel's verdict (no write permission on the socket, no
             * search permission on a directory): no server ran anything. */
            return SEAM_EPERM;
        }
        return r == -EWOULDBLOCK ? SEAM_EAGAIN : r;
    }
    *fd = s;
    return 0;
}

int seam__unix_accept(int lfd, int *fd)
{
    for (;;) {
        int s = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (s >= 0) {
            *fd = s;
            return 1;
        }
        if (errno == EINTR || errno == ECONNABORTED) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        return -errno;
    }
}

int seam__unix_creds(int fd, bool want_pidfd, seam_creds *out)
{
    struct ucred uc;
    socklen_t len = sizeof(uc);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) {
        return -errno;
    }
    out->uid = uc.uid;
    out->gid = uc.gid;
    out->pid = uc.pid;
    out->pidfd = want_pidfd ? seam__unix_peer_pidfd(fd) : -1;
    return 0;
}

int seam__unix_peer_pidfd(int fd)
{
    int pidfd = -1;
    socklen_t len = sizeof(pidfd);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
        return -1;
    }
    return pidfd;
}

int seam__unix_peer_groups(int fd, uint32_t **gids, size_t *n)
{
    /* The kernel says how much room it needs (ERANGE) when given too
     * little; a peer cannot have more than NGROUPS_MAX groups. */
    socklen_t len = 64 * sizeof(gid_t);
    for (int tries = 0; tries < 4; tries++) {
        gid_t *buf = malloc(len > 0 ? len : sizeof(gid_t));
        if (buf == NULL) {
            return SEAM_ENOMEM;
        }
        socklen_t got = len;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, buf, &got) == 0) {
            size_t count = got / sizeof(gid_t);
            uint32_t *out = malloc(count > 0 ? count * sizeof(*out) : sizeof(*out));
            if (out == NULL) {
                free(buf);
                return SEAM_ENOMEM;
            }
            for (size_t i = 0; i < count; i++) {
                out[i] = (uint32_t)buf[i];
            }
            free(buf);
            *gids = out;
            *n = count;
            return 0;
        }
        int err = errno;
        free(buf);
        if (err != ERANGE || got <= len) {
            return -err;
        }
        len = got;
    }
    return SEAM_ERANGE;
}

ssize_t seam__unix_send(int fd, const void *buf, size_t len, const int *fds, size_t nfds)
{
    struct iovec iov = {(void *)buf, len};
    return seam__unix_sendv(fd, &iov, 1, fds, nfds);
}

ssize_t seam__unix_sendv(int fd, const struct iovec *iov, size_t iovcnt, const int *fds,
                         size_t nfds)
{
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 64)];
    } control;
    if (nfds > 0) {
        if (nfds > 64) {
            return SEAM_EINVAL;
        }
        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    for (;;) {
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            return n;
        }
        if (errno == EINTR) {
            continue;
        }
        return errno == EWOULDBLOCK ? SEAM_EAGAIN : -errno;
    }
}

ssize_t seam__unix_recv(int fd, void *buf, size_t len, int *fds, size_t max_fds, size_t *nfds,
                        bool *truncated)
{
    struct iovec iov = {buf, len};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * SEAM__UNIX_MAX_RECV_FDS)];
    } control;
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    ssize_t n;
    for (;;) {
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n >= 0) {
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        return errno == EWOULDBLOCK ? SEAM_EAGAIN : -errno;
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0) {
        *truncated = true;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(c);
        for (size_t i = 0; i < count; i++) {
            int got;
            memcpy(&got, data + i * sizeof(int), sizeof(int));
            if (*nfds < max_fds) {
                fds[(*nfds)++] = got;
            } else {
                close(got);
                *truncated = true;
            }
        }
    }
    return n;
}
