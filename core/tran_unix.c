/* SPDX-License-Identifier: MIT */
/* tran_unix.c - the Unix transport: non-blocking AF_UNIX stream sockets
 * with SCM_RIGHTS and SO_PEERCRED/SO_PEERPIDFD, names owned with a lock
 * (names.c), listening sockets staged under a private name and published
 * when they take connections, and the reserve descriptor that lets a
 * server refuse peers when descriptors ran out. */
#include "names.h"
#include "tran.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

_Static_assert(SEAM__PATH_MAX == SEAM__TRAN_ADDR_MAX, "a socket path fits a transport address");

/* Most descriptors one send can carry. */
#define UNIX_MAX_SEND_FDS 64

typedef struct unix_pipe {
    seam__pipe base;
    int fd;
} unix_pipe;

typedef struct unix_listener {
    seam__listener base;
    int fd;
    int reserve_fd; /* given up to refuse a peer when no descriptor is left */
    char *path;
    seam__name name;
} unix_listener;

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5; older kernels answer ENOPROTOOPT */
#endif

static int make_addr(const char *path, struct sockaddr_un *addr)
{
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(addr->sun_path)) {
        return SEAM_ERANGE;
    }
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, path, len + 1);
    return 0;
}

/* A non-blocking stream socket and the address of path, for bind or
 * connect. */
static int unix_socket(const char *path, struct sockaddr_un *addr, int *fd)
{
    int r = make_addr(path, addr);
    if (r < 0) {
        return r;
    }
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return *fd < 0 ? -errno : 0;
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

/* Moves the socket from tmp to path unless something is already there
 * (a file that is not a socket, or a rival's socket): never replaces. */
static int publish(const char *tmp, const char *path)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) {
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS) {
        return -errno;
    }
    /* A file system without RENAME_NOREPLACE: link() never replaces. */
    if (link(tmp, path) < 0) {
        return -errno;
    }
    unlink(tmp);
    return 0;
}

static int unix_listen_fd(const char *path, unsigned mode, int *fd, dev_t *dev, ino_t *ino)
{
    /* Bound under a private name and moved once listening: a socket that
     * exists under its real name always takes connections (a client never
     * sees one that refuses them because listen() is still to come). */
    char tmp[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int n = snprintf(tmp, sizeof(tmp), "%s.%ld.%08x.new", path, (long)getpid(), staging_tag());
    bool staged = n > 0 && (size_t)n < sizeof(tmp);
    struct sockaddr_un addr;
    int s;
    int r = unix_socket(staged ? tmp : path, &addr, &s);
    if (r < 0) {
        return r;
    }
    if (staged) {
        seam__unlink_socket(tmp); /* left by a process of ours that died here */
    }
    /* The mode is set before listen(): until then every connect() is
     * refused, so no peer ever meets the socket with the umask's bits. */
    struct stat st;
    if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        (mode != 0 && chmod(staged ? tmp : path, (mode_t)mode) < 0) || listen(s, SOMAXCONN) < 0 ||
        lstat(staged ? tmp : path, &st) < 0) {
        r = -errno;
        if (staged) {
            seam__unlink_socket(tmp);
        }
        close(s);
        return r == -EADDRINUSE ? SEAM_EADDRINUSE : r;
    }
    if (staged && (r = publish(tmp, path)) < 0) {
        seam__unlink_socket(tmp);
        close(s);
        return r == -EEXIST ? SEAM_EEXIST : r;
    }
    *fd = s;
    *dev = st.st_dev;
    *ino = st.st_ino; /* a rename keeps the inode */
    return 0;
}

static int unix_connect_fd(const char *path, int *fd)
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

static int unix_accept_fd(int lfd, int *fd)
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

static int unix_peer_pidfd_fd(int fd)
{
    int pidfd = -1;
    socklen_t len = sizeof(pidfd);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
        return -1;
    }
    return pidfd;
}

static ssize_t unix_sendv_fd(int fd, const struct iovec *iov, size_t iovcnt, const int *fds,
                             size_t nfds)
{
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * UNIX_MAX_SEND_FDS)];
    } control;
    if (nfds > 0) {
        if (nfds > UNIX_MAX_SEND_FDS) {
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

static ssize_t unix_recv_fd(int fd, void *buf, size_t len, int *fds, size_t max_fds, size_t *nfds,
                            bool *truncated)
{
    struct iovec iov = {buf, len};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * SEAM__TRAN_MAX_RECV_FDS)];
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

/* ---- the ops ---- */

static int unix_resolve(const char *name, char *addr, size_t len)
{
    return seam_name_path(name, addr, len);
}

static int unix_reserve_open(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static int unix_listen(const char *addr, unsigned mode, seam__listener **out)
{
    unix_listener *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->path = strdup(addr)) == NULL) {
        free(l);
        return SEAM_ENOMEM;
    }
    l->base.tran = &seam__tran_unix;
    l->fd = -1;
    int r = seam__name_acquire(addr, &l->name);
    if (r == 0) {
        dev_t dev;
        ino_t ino;
        r = unix_listen_fd(addr, mode, &l->fd, &dev, &ino);
        if (r == 0) {
            seam__name_bound(&l->name, dev, ino);
        } else {
            seam__name_release(addr, &l->name);
        }
    }
    if (r < 0) {
        free(l->path);
        free(l);
        return r;
    }
    l->reserve_fd = unix_reserve_open();
    *out = &l->base;
    return 0;
}

static int unix_listener_fd(const seam__listener *base)
{
    return ((const unix_listener *)base)->fd;
}

static int unix_accept(seam__listener *base, seam__pipe **out)
{
    unix_listener *l = (unix_listener *)base;
    int fd = -1;
    int r = unix_accept_fd(l->fd, &fd);
    if (r <= 0) {
        return r;
    }
    unix_pipe *p = malloc(sizeof(*p));
    if (p == NULL) {
        close(fd);
        return SEAM_ENOMEM;
    }
    p->base.tran = &seam__tran_unix;
    p->fd = fd;
    *out = &p->base;
    return 1;
}

static int unix_reserve(seam__listener *base, bool give_up)
{
    unix_listener *l = (unix_listener *)base;
    if (give_up) {
        if (l->reserve_fd < 0) {
            return SEAM_ENOTSUP;
        }
        close(l->reserve_fd);
        l->reserve_fd = -1;
    } else if (l->reserve_fd < 0) {
        l->reserve_fd = unix_reserve_open();
    }
    return 0;
}

static void unix_listener_close(seam__listener *base)
{
    unix_listener *l = (unix_listener *)base;
    /* Remove the name first, so a successor can take it while peers are
     * still being said goodbye to. */
    seam__name_release(l->path, &l->name);
    if (l->reserve_fd >= 0) {
        close(l->reserve_fd);
        l->reserve_fd = -1;
    }
}

static void unix_listener_hangup(seam__listener *base)
{
    shutdown(((unix_listener *)base)->fd, SHUT_RDWR);
}

static void unix_listener_free(seam__listener *base)
{
    unix_listener *l = (unix_listener *)base;
    if (l->fd >= 0) {
        close(l->fd);
    }
    free(l->path);
    free(l);
}

static int unix_dial(const char *addr, seam__pipe **out)
{
    int fd = -1;
    int r = unix_connect_fd(addr, &fd);
    if (r < 0) {
        return r;
    }
    unix_pipe *p = malloc(sizeof(*p));
    if (p == NULL) {
        close(fd);
        return SEAM_ENOMEM;
    }
    p->base.tran = &seam__tran_unix;
    p->fd = fd;
    *out = &p->base;
    return 0; /* AF_UNIX connects at once or not at all */
}

static int unix_dial_check(seam__pipe *base)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(((unix_pipe *)base)->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        return -errno;
    }
    return err == 0 ? 0 : -err;
}

static ssize_t unix_sendv(seam__pipe *base, const struct iovec *iov, size_t iovcnt, const int *fds,
                          size_t nfds)
{
    return unix_sendv_fd(((unix_pipe *)base)->fd, iov, iovcnt, fds, nfds);
}

static ssize_t unix_recv(seam__pipe *base, void *buf, size_t len, int *fds, size_t max_fds,
                         size_t *nfds, bool *truncated)
{
    return unix_recv_fd(((unix_pipe *)base)->fd, buf, len, fds, max_fds, nfds, truncated);
}

static int unix_peer(seam__pipe *base, bool want_pidfd, seam_peer *out)
{
    int fd = ((unix_pipe *)base)->fd;
    struct ucred uc;
    socklen_t len = sizeof(uc);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) {
        return -errno;
    }
    memset(out, 0, sizeof(*out));
    out->kind = SEAM_PEER_UNIX;
    out->flags = SEAM_PEER_CREDS;
    out->uid = uc.uid;
    out->gid = uc.gid;
    out->pid = uc.pid;
    out->pidfd = want_pidfd ? unix_peer_pidfd_fd(fd) : -1;
    if (out->pidfd >= 0) {
        out->flags |= SEAM_PEER_PIDFD;
    }
    out->address = "";
    return 0;
}

static int unix_peer_pidfd(seam__pipe *base)
{
    return unix_peer_pidfd_fd(((unix_pipe *)base)->fd);
}

static int unix_fd(const seam__pipe *base)
{
    return ((const unix_pipe *)base)->fd;
}

static int unix_wait(seam__pipe *base, unsigned events, int timeout_ms)
{
    struct pollfd p = {((unix_pipe *)base)->fd, 0, 0};
    if ((events & SEAM_READ) != 0) {
        p.events |= POLLIN;
    }
    if ((events & SEAM_WRITE) != 0) {
        p.events |= POLLOUT;
    }
    int n = poll(&p, 1, timeout_ms);
    if (n < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    unsigned ready = 0;
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        ready |= SEAM_READ;
    }
    if ((p.revents & POLLOUT) != 0) {
        ready |= SEAM_WRITE;
    }
    return (int)ready;
}

static void unix_hangup(seam__pipe *base)
{
    shutdown(((unix_pipe *)base)->fd, SHUT_RDWR);
}

static void unix_close(seam__pipe *base)
{
    unix_pipe *p = (unix_pipe *)base;
    if (p->fd >= 0) {
        close(p->fd);
    }
    free(p);
}

const seam__tran seam__tran_unix = {
    .scheme = "unix",
    .caps = SEAM__TRAN_FDS | SEAM__TRAN_CREDS | SEAM__TRAN_PIDFD,
    .max_send_fds = UNIX_MAX_SEND_FDS,
    .resolve = unix_resolve,
    .listen = unix_listen,
    .listener_fd = unix_listener_fd,
    .accept = unix_accept,
    .reserve = unix_reserve,
    .listener_close = unix_listener_close,
    .listener_hangup = unix_listener_hangup,
    .listener_free = unix_listener_free,
    .dial = unix_dial,
    .dial_check = unix_dial_check,
    .sendv = unix_sendv,
    .recv = unix_recv,
    .peek = NULL,
    .consume = NULL,
    .peer = unix_peer,
    .peer_pidfd = unix_peer_pidfd,
    .fd = unix_fd,
    .wait = unix_wait,
    .hangup = unix_hangup,
    .close = unix_close,
};

const seam__tran *seam__tran_for(const char *name)
{
    SEAM__UNUSED(name); /* every name is a Unix socket's for now */
    return &seam__tran_unix;
}
