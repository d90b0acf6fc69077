/* SPDX-License-Identifier: MIT */
/* tran_unix.c - the Unix transport's ops table: AF_UNIX stream sockets
 * (unix.c) with SCM_RIGHTS and SO_PEERCRED/SO_PEERPIDFD, names owned with
 * a lock in a checked directory (names.c), and the reserve descriptor that
 * lets a server refuse peers when descriptors ran out; anonymous
 * listeners on a rendezvous socket pair (unix_endpoint.c). */
#include "activate.h"
#include "names.h"
#include "shm.h"
#include "tran.h"
#include "unix.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(SEAM__PATH_MAX <= SEAM__TRAN_ADDR_MAX, "a socket path fits a transport address");
_Static_assert(SEAM__UNIX_MAX_RECV_FDS == SEAM__TRAN_MAX_RECV_FDS, "one receive's descriptors");

/* Most descriptors one send can carry (seam__unix_sendv's bound). */
#define UNIX_MAX_SEND_FDS 64

typedef struct unix_pipe {
    seam__pipe base;
    int fd;
    seam__shm *shm; /* the data path that may switch to shared memory, or NULL */
} unix_pipe;

typedef struct unix_listener {
    seam__listener base;
    int fd;
    int reserve_fd;  /* given up to refuse a peer when no descriptor is left */
    bool adopted;    /* fd was inherited (socket activation): the manager's */
    int endpoint_fd; /* anonymous: the rendezvous end handed out (else -1) */
    seam__name name;
} unix_listener;

/* A pipe over a connected socket (taken: closed on failure). */
static int unix_pipe_new(int fd, seam__pipe **out)
{
    unix_pipe *p = malloc(sizeof(*p));
    int r = p != NULL ? seam__shm_new(fd, &p->shm) : SEAM_ENOMEM;
    if (r < 0) {
        free(p);
        close(fd);
        return r;
    }
    p->base.tran = &seam__tran_unix;
    p->fd = fd;
    *out = &p->base;
    return 0;
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

/* Whether the socket bound at bound is the one at the name's path: the
 * same path, or the same file reached another way (a link on the way). */
static bool unix_same_socket(const seam__name *n, const char *bound)
{
    struct stat a;
    struct stat b;
    if (bound[0] == '\0') {
        return false;
    }
    if (strcmp(bound, n->path) == 0) {
        return true;
    }
    return stat(bound, &a) == 0 && fstatat(n->dir_fd, n->leaf, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* The listening socket a service manager passed for name, if any: the
 * descriptor LISTEN_FDNAMES gives the name, else one bound to the name's
 * path. Returns 1 with *fd, 0 when none is ours, SEAM_EBADF when the one
 * named for it is not a listening AF_UNIX stream socket bound to its path
 * (or closed), SEAM_EINVAL for malformed variables. Descriptors that are
 * not ours are not touched. */
static int unix_inherited(const seam__name *n, const char *name, int *fd)
{
    seam__activation a;
    int r = seam__activation_read(&a);
    for (int i = 0; r == 0 && i < a.nfds; i++) {
        int cand = SEAM__LISTEN_FDS_START + i;
        const char *fdname = seam__activation_name(&a, i);
        bool named = fdname != NULL && strcmp(fdname, name) == 0;
        char bound[SEAM__PATH_MAX];
        bool here =
            seam__unix_listening(cand, bound, sizeof(bound)) == 0 && unix_same_socket(n, bound);
        if (named && !here) {
            r = SEAM_EBADF;
        } else if (here) {
            *fd = cand;
            r = 1;
        }
    }
    seam__activation_free(&a);
    return r;
}

/* Takes over an inherited listening socket: it no longer goes to programs
 * this one runs, and it never blocks. */
static int unix_adopt(unix_listener *l, int fd)
{
    int r = seam__name_adopt(&l->name);
    if (r < 0) {
        return r;
    }
    int fdflags = fcntl(fd, F_GETFD);
    int flflags = fcntl(fd, F_GETFL);
    if (fdflags < 0 || flflags < 0 || fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC) < 0 ||
        fcntl(fd, F_SETFL, flflags | O_NONBLOCK) < 0) {
        return -errno;
    }
    l->fd = fd;
    l->adopted = true;
    return 0;
}

static int unix_listen(const char *name, unsigned mode, seam__listener **out)
{
    unix_listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return SEAM_ENOMEM;
    }
    l->base.tran = &seam__tran_unix;
    l->fd = -1;
    l->reserve_fd = -1;
    l->endpoint_fd = -1;
    /* The directory is opened (and checked) once; from here on every file
     * operation is relative to it. */
    int r = seam__name_open(name, &l->name);
    int inherited = -1;
    if (r == 0) {
        r = unix_inherited(&l->name, name, &inherited);
    }
    if (r == 1) {
        r = unix_adopt(l, inherited);
    } else if (r == 0 && (r = seam__name_acquire(&l->name)) == 0) {
        dev_t dev;
        ino_t ino;
        r = seam__unix_listen(l->name.dir_fd, l->name.path, l->name.leaf, mode, &l->fd, &dev, &ino);
        if (r == 0) {
            seam__name_bound(&l->name, dev, ino);
        }
    }
    /* Without its reserve a server could not even refuse a peer once
     * descriptors run out: every client would wait for nothing. */
    if (r == 0 && (l->reserve_fd = unix_reserve_open()) < 0) {
        r = -errno;
    }
    if (r < 0) {
        if (l->fd >= 0 && !l->adopted) {
            close(l->fd);
        }
        seam__name_release(&l->name);
        free(l);
        return r;
    }
    *out = &l->base;
    return 0;
}

/* The name's directory is never opened: nothing of it is on the file
 * system. */
static int unix_listen_anon(seam__listener **out)
{
    unix_listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return SEAM_ENOMEM;
    }
    l->base.tran = &seam__tran_unix;
    l->name.dir_fd = -1;
    l->name.lock_fd = -1;
    l->reserve_fd = -1;
    int r = seam__unix_rendezvous_pair(&l->fd, &l->endpoint_fd);
    if (r < 0) {
        free(l);
        return r;
    }
    *out = &l->base;
    return 0;
}

static int unix_listener_endpoint(const seam__listener *base)
{
    return ((const unix_listener *)base)->endpoint_fd;
}

static const char *unix_listener_addr(const seam__listener *base)
{
    return ((const unix_listener *)base)->name.path;
}

static int unix_listener_fd(const seam__listener *base)
{
    return ((const unix_listener *)base)->fd;
}

static int unix_accept(seam__listener *base, seam__pipe **out)
{
    unix_listener *l = (unix_listener *)base;
    int fd = -1;
    size_t dropped = 0;
    int r = l->name.path[0] == '\0' ? seam__unix_rendezvous_take(l->fd, &fd, &dropped)
                                    : seam__unix_accept(l->fd, &fd);
    if (r <= 0) {
        return r;
    }
    r = unix_pipe_new(fd, out);
    return r < 0 ? r : 1;
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
    seam__name_release(&l->name);
    if (l->reserve_fd >= 0) {
        close(l->reserve_fd);
        l->reserve_fd = -1;
    }
    if (l->endpoint_fd >= 0) {
        close(l->endpoint_fd);
        l->endpoint_fd = -1;
    }
}

static void unix_listener_hangup(seam__listener *base)
{
    unix_listener *l = (unix_listener *)base;
    if (!l->adopted) { /* the manager's socket goes on listening for the next start */
        shutdown(l->fd, SHUT_RDWR);
    }
}

/* An adopted socket stays open: it is the manager's, passed for the
 * process's life, so its number is never reused for something else that
 * LISTEN_FDS would still name, and a server that listens on the name again
 * takes it over again. */
static void unix_listener_free(seam__listener *base)
{
    unix_listener *l = (unix_listener *)base;
    if (l->fd >= 0 && !l->adopted) {
        close(l->fd);
    }
    free(l);
}

static bool unix_listener_activated(const seam__listener *base)
{
    return ((const unix_listener *)base)->adopted;
}

static int unix_dial(const char *addr, seam__pipe **out)
{
    int fd = -1;
    int r = seam__unix_connect(addr, &fd);
    /* AF_UNIX connects at once or not at all */
    return r < 0 ? r : unix_pipe_new(fd, out);
}

static int unix_dial_endpoint(int endpoint_fd, seam__pipe **out)
{
    int fd = -1;
    int r = seam__unix_rendezvous_dial(endpoint_fd, &fd);
    return r < 0 ? r : unix_pipe_new(fd, out);
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
    unix_pipe *p = (unix_pipe *)base;
    if (p->shm != NULL) {
        return seam__shm_sendv(p->shm, iov, iovcnt, fds, nfds);
    }
    return seam__unix_sendv(p->fd, iov, iovcnt, fds, nfds);
}

static ssize_t unix_recv(seam__pipe *base, void *buf, size_t len, int *fds, size_t max_fds,
                         size_t *nfds, bool *truncated)
{
    unix_pipe *p = (unix_pipe *)base;
    if (p->shm != NULL) {
        return seam__shm_recv(p->shm, buf, len, fds, max_fds, nfds, truncated);
    }
    return seam__unix_recv(p->fd, buf, len, fds, max_fds, nfds, truncated);
}

static int unix_peer(seam__pipe *base, bool want_pidfd, seam_peer *out)
{
    seam_creds creds;
    int r = seam__unix_creds(((unix_pipe *)base)->fd, want_pidfd, &creds);
    if (r < 0) {
        return r;
    }
    memset(out, 0, sizeof(*out));
    out->kind = SEAM_PEER_UNIX;
    out->flags = SEAM_PEER_CREDS | (creds.pidfd >= 0 ? SEAM_PEER_PIDFD : 0);
    out->uid = creds.uid;
    out->gid = creds.gid;
    out->pid = creds.pid;
    out->pidfd = creds.pidfd;
    out->address = "";
    return 0;
}

static int unix_peer_pidfd(seam__pipe *base)
{
    return seam__unix_peer_pidfd(((unix_pipe *)base)->fd);
}

static int unix_peer_groups(seam__pipe *base, uint32_t **gids, size_t *n)
{
    return seam__unix_peer_groups(((unix_pipe *)base)->fd, gids, n);
}

static int unix_fd(const seam__pipe *base)
{
    const unix_pipe *p = (const unix_pipe *)base;
    return p->shm != NULL ? seam__shm_fd(p->shm) : p->fd;
}

static unsigned unix_watch_events(seam__pipe *base, unsigned want)
{
    unix_pipe *p = (unix_pipe *)base;
    return p->shm != NULL ? seam__shm_watch_events(p->shm, want) : want;
}

static uint64_t unix_shm_offer(seam__pipe *base, uint64_t want)
{
    unix_pipe *p = (unix_pipe *)base;
    return p->shm != NULL ? seam__shm_offer(p->shm, want) : 0;
}

static int unix_shm_start(seam__pipe *base, int fds[SEAM__TRAN_SHM_FDS])
{
    return seam__shm_start(((unix_pipe *)base)->shm, fds);
}

static void unix_shm_switch_send(seam__pipe *base, size_t after)
{
    seam__shm_switch_send(((unix_pipe *)base)->shm, after);
}

static int unix_shm_attach(seam__pipe *base, const int *fds, size_t nfds, uint64_t size)
{
    return seam__shm_attach(((unix_pipe *)base)->shm, fds, nfds, size);
}

static unsigned unix_shm_active(const seam__pipe *base)
{
    const unix_pipe *p = (const unix_pipe *)base;
    return p->shm != NULL ? seam__shm_active(p->shm) : 0;
}

static int unix_wait(seam__pipe *base, unsigned events, int timeout_ms)
{
    if (((unix_pipe *)base)->shm != NULL) {
        return seam__shm_wait(((unix_pipe *)base)->shm, events, timeout_ms);
    }
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
    seam__shm_free(p->shm);
    if (p->fd >= 0) {
        close(p->fd);
    }
    free(p);
}

const seam__tran seam__tran_unix = {
    .scheme = "unix",
    .peer_kind = SEAM_PEER_UNIX,
    .caps = SEAM__TRAN_FDS | SEAM__TRAN_CREDS | SEAM__TRAN_PIDFD,
    .max_send_fds = UNIX_MAX_SEND_FDS,
    .resolve = unix_resolve,
    .listen = unix_listen,
    .listener_addr = unix_listener_addr,
    .listener_fd = unix_listener_fd,
    .accept = unix_accept,
    .reserve = unix_reserve,
    .listener_close = unix_listener_close,
    .listener_hangup = unix_listener_hangup,
    .listener_free = unix_listener_free,
    .listener_activated = unix_listener_activated,
    .listen_anon = unix_listen_anon,
    .listener_endpoint = unix_listener_endpoint,
    .dial_endpoint = unix_dial_endpoint,
    .dial = unix_dial,
    .dial_check = unix_dial_check,
    .sendv = unix_sendv,
    .recv = unix_recv,
    .recv_block = NULL,
    .peer = unix_peer,
    .peer_pidfd = unix_peer_pidfd,
    .peer_groups = unix_peer_groups,
    .fd = unix_fd,
    .watch_events = unix_watch_events,
    .shm_offer = unix_shm_offer,
    .shm_start = unix_shm_start,
    .shm_switch_send = unix_shm_switch_send,
    .shm_attach = unix_shm_attach,
    .shm_active = unix_shm_active,
    .wait = unix_wait,
    .hangup = unix_hangup,
    .close = unix_close,
};
