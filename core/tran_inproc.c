/* SPDX-License-Identifier: MIT */
/* tran_inproc.c - the in-process transport ("inproc:NAME"): two loops of
 * one process, on one thread or on two, joined by a pair of bounded byte
 * queues in memory. No descriptor is watched: readiness is raised through
 * the core (seam__watch_raise), which tells a loop inside its own dispatch
 * without a system call and wakes a loop on another thread once per batch.
 * Descriptors pass by duplication; the peer's identity is this process's.
 *
 * Both ends of a connection share one link under one mutex; the link's
 * queues, hang-ups, watches and waiters are its state. A direction is a
 * queue of chunks, one per send (small sends share one): the receiver
 * takes a chunk whole (recv_block) and parses the frames in it where they
 * lie, so a large frame is copied once, by the sender. Listeners are found
 * by name in a process-wide registry under a second mutex, always taken
 * before a link's. */
#include "runtime.h"
#include "tran.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Bytes one direction holds unread: the transport's buffer, as a socket's
 * (the connection's own queue bound is above it). A single send larger
 * than it is taken whole into an empty direction, up to CHUNK_MAX. */
#define DIR_MAX    (256u << 10)
#define CHUNK_MAX  (64u << 20)
/* Small sends are gathered into chunks of this size. */
#define CHUNK_MIN  (4u << 10)
/* Peers waiting to be accepted, as a socket's backlog (SOMAXCONN). */
#define BACKLOG    4096
#define MAX_FDS    64
#define PREFIX     "inproc:"
#define PREFIX_LEN 7

/* The bytes of one send or more (only the first may carry descriptors). */
typedef struct inproc_chunk {
    struct inproc_chunk *next;
    size_t cap;
    size_t len; /* bytes in data */
    size_t off; /* bytes read of them */
    size_t nfds;
    int *fds; /* sent with the first byte */
    uint8_t data[];
} inproc_chunk;

/* One direction, written by one end, read by the other. */
typedef struct inproc_dir {
    inproc_chunk *head;
    inproc_chunk **tail;
    inproc_chunk *last; /* the tail chunk, where small sends go */
    size_t len;         /* unread bytes */
    bool blocked;       /* its writer was refused for want of room */
} inproc_dir;

typedef struct inproc_link {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a sync call waits on an end */
    int ends;            /* ends not yet closed */
    inproc_dir dir[2];   /* dir[i]: written by end i */
    bool hung[2];        /* end i hung up */
    bool waiting[2];     /* end i waits on cond */
    seam_watch *watch[2];
    char addr[SEAM__TRAN_ADDR_MAX];
} inproc_link;

typedef struct inproc_pipe {
    seam__pipe base;
    inproc_link *link;
    int side;
    struct inproc_pipe *next_pending; /* in its listener's backlog */
} inproc_pipe;

typedef struct inproc_listener {
    seam__listener base;
    struct inproc_listener *next; /* in the registry */
    bool listed;
    bool hung;
    inproc_pipe *pending_head; /* dialled, not accepted yet */
    inproc_pipe **pending_tail;
    size_t pending;
    seam_watch *watch;
    char addr[SEAM__TRAN_ADDR_MAX];
} inproc_listener;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static inproc_listener *registry;

/* ---- names ---- */

static int inproc_resolve(const char *name, char *addr, size_t len)
{
    if (strncmp(name, PREFIX, PREFIX_LEN) != 0 || !seam__name_valid(name + PREFIX_LEN)) {
        return SEAM_EINVAL;
    }
    size_t n = strlen(name);
    if (n >= SEAM__TRAN_ADDR_MAX) {
        return SEAM_ENAMETOOLONG;
    }
    if (n >= len) {
        return SEAM_ERANGE;
    }
    memcpy(addr, name, n + 1);
    return 0;
}

/* With registry_lock held. */
static inproc_listener *registry_find(const char *addr)
{
    for (inproc_listener *l = registry; l != NULL; l = l->next) {
        if (strcmp(l->addr, addr) == 0) {
            return l;
        }
    }
    return NULL;
}

int seam__inproc_owned(const char *name)
{
    char addr[SEAM__TRAN_ADDR_MAX];
    int r = inproc_resolve(name, addr, sizeof(addr));
    if (r < 0) {
        return r;
    }
    pthread_mutex_lock(&registry_lock);
    r = registry_find(addr) != NULL ? 1 : 0;
    pthread_mutex_unlock(&registry_lock);
    return r;
}

/* ---- links ---- */

static void chunk_free(inproc_chunk *c)
{
    for (size_t i = 0; i < c->nfds; i++) {
        close(c->fds[i]);
    }
    free(c->fds);
    free(c);
}

static void dir_free(inproc_dir *d)
{
    while (d->head != NULL) {
        inproc_chunk *c = d->head;
        d->head = c->next;
        chunk_free(c);
    }
}

static inproc_link *link_new(const char *addr)
{
    inproc_link *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        return NULL;
    }
    pthread_condattr_t attr;
    bool cond_ok = false;
    if (pthread_condattr_init(&attr) == 0) {
        cond_ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
                  pthread_cond_init(&k->cond, &attr) == 0;
        pthread_condattr_destroy(&attr);
    }
    if (!cond_ok) {
        free(k);
        return NULL;
    }
    if (pthread_mutex_init(&k->lock, NULL) != 0) {
        pthread_cond_destroy(&k->cond);
        free(k);
        return NULL;
    }
    k->ends = 2;
    for (int i = 0; i < 2; i++) {
        k->dir[i].tail = &k->dir[i].head;
    }
    memcpy(k->addr, addr, strlen(addr) + 1);
    return k;
}

static void link_free(inproc_link *k)
{
    dir_free(&k->dir[0]);
    dir_free(&k->dir[1]);
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

/* Tells end side that its state changed (with the link's lock held). */
static void link_wake(inproc_link *k, int side)
{
    if (k->watch[side] != NULL) {
        seam__watch_raise(k->watch[side]);
    }
    if (k->waiting[side]) {
        pthread_cond_broadcast(&k->cond);
    }
}

static inproc_pipe *pipe_new(inproc_link *k, int side)
{
    inproc_pipe *p = calloc(1, sizeof(*p));
    if (p != NULL) {
        p->base.tran = &seam__tran_inproc;
        p->link = k;
        p->side = side;
    }
    return p;
}

static void pipe_hangup(inproc_pipe *p)
{
    inproc_link *k = p->link;
    pthread_mutex_lock(&k->lock);
    if (!k->hung[p->side]) {
        k->hung[p->side] = true;
        link_wake(k, 1 - p->side);
    }
    pthread_mutex_unlock(&k->lock);
}

static void pipe_close(inproc_pipe *p)
{
    inproc_link *k = p->link;
    pthread_mutex_lock(&k->lock);
    if (!k->hung[p->side]) {
        k->hung[p->side] = true;
        link_wake(k, 1 - p->side);
    }
    k->watch[p->side] = NULL;
    bool last = --k->ends == 0;
    pthread_mutex_unlock(&k->lock);
    if (last) {
        link_free(k);
    }
    free(p);
}

/* ---- listening ---- */

static int inproc_listen(const char *name, unsigned mode, seam__listener **out)
{
    SEAM__UNUSED(mode); /* no file: nobody outside the process can reach it */
    inproc_listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return SEAM_ENOMEM;
    }
    l->base.tran = &seam__tran_inproc;
    l->pending_tail = &l->pending_head;
    memcpy(l->addr, name, strlen(name) + 1);
    pthread_mutex_lock(&registry_lock);
    int r = 0;
    if (registry_find(l->addr) != NULL) {
        r = SEAM_EADDRINUSE;
    } else {
        l->next = registry;
        registry = l;
        l->listed = true;
    }
    pthread_mutex_unlock(&registry_lock);
    if (r < 0) {
        free(l);
        return r;
    }
    *out = &l->base;
    return 0;
}

static const char *inproc_listener_addr(const seam__listener *base)
{
    return ((const inproc_listener *)base)->addr;
}

static int inproc_listener_fd(const seam__listener *base)
{
    SEAM__UNUSED(base);
    return -1;
}

static int inproc_accept(seam__listener *base, seam__pipe **out)
{
    inproc_listener *l = (inproc_listener *)base;
    pthread_mutex_lock(&registry_lock);
    inproc_pipe *p = l->pending_head;
    if (p != NULL) {
        l->pending_head = p->next_pending;
        if (l->pending_head == NULL) {
            l->pending_tail = &l->pending_head;
        }
        l->pending--;
    }
    pthread_mutex_unlock(&registry_lock);
    if (p == NULL) {
        return 0;
    }
    *out = &p->base;
    return 1;
}

static void listener_unlist(inproc_listener *l)
{
    if (!l->listed) {
        return;
    }
    for (inproc_listener **q = &registry; *q != NULL; q = &(*q)->next) {
        if (*q == l) {
            *q = l->next;
            break;
        }
    }
    l->listed = false;
}

static void inproc_listener_close(seam__listener *base)
{
    pthread_mutex_lock(&registry_lock);
    listener_unlist((inproc_listener *)base);
    pthread_mutex_unlock(&registry_lock);
}

static void inproc_listener_hangup(seam__listener *base)
{
    inproc_listener *l = (inproc_listener *)base;
    pthread_mutex_lock(&registry_lock);
    listener_unlist(l);
    l->hung = true;
    pthread_mutex_unlock(&registry_lock);
}

static void inproc_listener_free(seam__listener *base)
{
    inproc_listener *l = (inproc_listener *)base;
    pthread_mutex_lock(&registry_lock);
    listener_unlist(l);
    inproc_pipe *p = l->pending_head;
    l->pending_head = NULL;
    l->watch = NULL;
    pthread_mutex_unlock(&registry_lock);
    /* Peers nobody accepted read the end of their connection. */
    while (p != NULL) {
        inproc_pipe *next = p->next_pending;
        pipe_close(p);
        p = next;
    }
    free(l);
}

static void inproc_listener_notify(seam__listener *base, seam_watch *w)
{
    inproc_listener *l = (inproc_listener *)base;
    pthread_mutex_lock(&registry_lock);
    l->watch = w;
    pthread_mutex_unlock(&registry_lock);
}

static unsigned inproc_listener_ready(seam__listener *base)
{
    inproc_listener *l = (inproc_listener *)base;
    pthread_mutex_lock(&registry_lock);
    unsigned ready = l->pending_head != NULL || l->hung ? SEAM_READ : 0;
    pthread_mutex_unlock(&registry_lock);
    return ready;
}

/* ---- dialling ---- */

static int inproc_dial(const char *addr, seam__pipe **out)
{
    inproc_link *k = link_new(addr);
    inproc_pipe *mine = k != NULL ? pipe_new(k, 0) : NULL;
    inproc_pipe *theirs = mine != NULL ? pipe_new(k, 1) : NULL;
    if (theirs == NULL) {
        free(mine);
        if (k != NULL) {
            link_free(k);
        }
        return SEAM_ENOMEM;
    }
    pthread_mutex_lock(&registry_lock);
    inproc_listener *l = registry_find(addr);
    int r = 0;
    if (l == NULL) {
        r = SEAM_ENOTFOUND;
    } else if (l->pending >= BACKLOG) {
        r = SEAM_EAGAIN;
    } else {
        *l->pending_tail = theirs;
        l->pending_tail = &theirs->next_pending;
        l->pending++;
        if (l->watch != NULL) {
            seam__watch_raise(l->watch);
        }
    }
    pthread_mutex_unlock(&registry_lock);
    if (r < 0) {
        free(theirs);
        free(mine);
        link_free(k);
        return r;
    }
    *out = &mine->base;
    return 0;
}

static int inproc_dial_check(seam__pipe *base)
{
    SEAM__UNUSED(base);
    return 0; /* dial() never leaves one in progress */
}

/* ---- bytes ---- */

static int dup_all(const int *fds, size_t n, int **out)
{
    int *dup = malloc(n * sizeof(int));
    if (dup == NULL) {
        return SEAM_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        dup[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
        if (dup[i] < 0) {
            int err = -errno;
            while (i-- > 0) {
                close(dup[i]);
            }
            free(dup);
            return err;
        }
    }
    *out = dup;
    return 0;
}

static void copy_iov(uint8_t *dst, const struct iovec *iov, size_t iovcnt, size_t len)
{
    for (size_t i = 0; i < iovcnt && len > 0; i++) {
        size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;
        memcpy(dst, iov[i].iov_base, n);
        dst += n;
        len -= n;
    }
}

/* How much of total bytes d takes now (with the lock held). */
static size_t dir_room(const inproc_dir *d, size_t total)
{
    if (d->len == 0) {
        return total < CHUNK_MAX ? total : CHUNK_MAX;
    }
    size_t room = d->len < DIR_MAX ? DIR_MAX - d->len : 0;
    return total < room ? total : room;
}

static ssize_t inproc_sendv(seam__pipe *base, const struct iovec *iov, size_t iovcnt,
                            const int *fds, size_t nfds)
{
    inproc_pipe *p = (inproc_pipe *)base;
    inproc_link *k = p->link;
    inproc_dir *d = &k->dir[p->side];
    size_t total = 0;
    for (size_t i = 0; i < iovcnt; i++) {
        total += iov[i].iov_len;
    }
    if (nfds > MAX_FDS) {
        return SEAM_EINVAL;
    }
    if (total == 0) {
        return 0;
    }
    pthread_mutex_lock(&k->lock);
    ssize_t r = 0;
    size_t take = 0;
    if (k->hung[0] || k->hung[1]) {
        r = -EPIPE;
    } else if ((take = dir_room(d, total)) == 0) {
        d->blocked = true;
        r = SEAM_EAGAIN;
    } else if (nfds == 0 && d->last != NULL && d->last->cap - d->last->len >= take) {
        /* A small send joins the chunk still waiting. */
        copy_iov(d->last->data + d->last->len, iov, iovcnt, take);
        d->last->len += take;
        d->len += take;
        r = (ssize_t)take;
    }
    pthread_mutex_unlock(&k->lock);
    if (r != 0) {
        return r;
    }
    /* Only this end adds to d, so the room found stays: the chunk is made
     * and filled without the lock, which the reader may want meanwhile. */
    size_t cap = take < CHUNK_MIN && nfds == 0 ? CHUNK_MIN : take;
    inproc_chunk *c = malloc(sizeof(*c) + cap);
    if (c == NULL) {
        return SEAM_ENOMEM;
    }
    *c = (inproc_chunk){.cap = cap, .len = take, .nfds = nfds};
    if (nfds > 0 && (r = dup_all(fds, nfds, &c->fds)) < 0) {
        free(c);
        return r;
    }
    copy_iov(c->data, iov, iovcnt, take);
    pthread_mutex_lock(&k->lock);
    if (k->hung[0] || k->hung[1]) {
        r = -EPIPE;
    } else {
        bool was_empty = d->len == 0;
        *d->tail = c;
        d->tail = &c->next;
        /* A chunk with descriptors takes no more bytes after its own. */
        d->last = nfds == 0 ? c : NULL;
        d->len += take;
        r = (ssize_t)take;
        c = NULL;
        if (was_empty || k->waiting[1 - p->side]) {
            link_wake(k, 1 - p->side);
        }
    }
    pthread_mutex_unlock(&k->lock);
    if (c != NULL) {
        chunk_free(c);
    }
    return r;
}

/* Hands over c's descriptors (with the lock held). */
static void fds_take(inproc_chunk *c, int *fds, size_t max_fds, size_t *nfds, bool *truncated)
{
    for (size_t i = 0; i < c->nfds; i++) {
        if (*nfds < max_fds) {
            fds[(*nfds)++] = c->fds[i];
        } else {
            close(c->fds[i]);
            *truncated = true;
        }
    }
    c->nfds = 0;
}

/* Bytes were taken from the direction d of k, written by end writer. */
static void dir_taken(inproc_link *k, inproc_dir *d, int writer)
{
    if (d->blocked && d->len < DIR_MAX) {
        d->blocked = false;
        link_wake(k, writer);
    } else if (k->waiting[writer]) {
        pthread_cond_broadcast(&k->cond);
    }
}

/* What a receive on p finds first (with the lock held): 1 with the first
 * chunk, 0 at the end of the stream, or SEAM_EAGAIN. */
static int dir_first(inproc_pipe *p, inproc_chunk **out)
{
    inproc_link *k = p->link;
    inproc_dir *d = &k->dir[1 - p->side];
    if (k->hung[p->side]) {
        return 0; /* we hung up: nothing more is read, as after a shutdown */
    }
    if (d->head == NULL) {
        return k->hung[1 - p->side] ? 0 : SEAM_EAGAIN;
    }
    *out = d->head;
    return 1;
}

static void dir_unlink_first(inproc_dir *d)
{
    inproc_chunk *c = d->head;
    d->head = c->next;
    if (d->head == NULL) {
        d->tail = &d->head;
    }
    if (d->last == c) {
        d->last = NULL;
    }
}

static ssize_t inproc_recv(seam__pipe *base, void *buf, size_t len, int *fds, size_t max_fds,
                           size_t *nfds, bool *truncated)
{
    inproc_pipe *p = (inproc_pipe *)base;
    inproc_link *k = p->link;
    inproc_dir *d = &k->dir[1 - p->side];
    pthread_mutex_lock(&k->lock);
    inproc_chunk *c = NULL;
    ssize_t r = dir_first(p, &c);
    if (r == 1) {
        /* A receive carries the descriptors of one send at most, with its
         * first byte, as the kernel's does: it stops before the next. */
        size_t got = 0;
        fds_take(c, fds, max_fds, nfds, truncated);
        while (c != NULL && got < len && (got == 0 || c->nfds == 0)) {
            size_t n = c->len - c->off < len - got ? c->len - c->off : len - got;
            memcpy((uint8_t *)buf + got, c->data + c->off, n);
            c->off += n;
            got += n;
            d->len -= n;
            if (c->off == c->len) {
                dir_unlink_first(d);
                chunk_free(c);
                c = d->head;
            }
        }
        r = (ssize_t)got;
        dir_taken(k, d, 1 - p->side);
    }
    pthread_mutex_unlock(&k->lock);
    return r;
}

static ssize_t inproc_recv_block(seam__pipe *base, const uint8_t **data, void **owner, int *fds,
                                 size_t max_fds, size_t *nfds, bool *truncated)
{
    inproc_pipe *p = (inproc_pipe *)base;
    inproc_link *k = p->link;
    inproc_dir *d = &k->dir[1 - p->side];
    pthread_mutex_lock(&k->lock);
    inproc_chunk *c = NULL;
    ssize_t r = dir_first(p, &c);
    if (r == 1) {
        dir_unlink_first(d);
        fds_take(c, fds, max_fds, nfds, truncated);
        r = (ssize_t)(c->len - c->off);
        d->len -= c->len - c->off;
        dir_taken(k, d, 1 - p->side);
    }
    pthread_mutex_unlock(&k->lock);
    if (r > 0) {
        *data = c->data + c->off;
        *owner = c;
    }
    return r;
}

/* ---- the rest of a pipe ---- */

static int inproc_peer(seam__pipe *base, bool want_pidfd, seam_peer *out)
{
    SEAM__UNUSED(want_pidfd); /* no pidfd: the peer is this very process */
    memset(out, 0, sizeof(*out));
    out->kind = SEAM_PEER_INPROC;
    out->flags = SEAM_PEER_CREDS;
    out->uid = (uint32_t)geteuid();
    out->gid = (uint32_t)getegid();
    out->pid = (int32_t)getpid();
    out->pidfd = -1;
    out->address = ((inproc_pipe *)base)->link->addr;
    return 0;
}

static int inproc_peer_pidfd(seam__pipe *base)
{
    SEAM__UNUSED(base);
    return -1;
}

static int inproc_fd(const seam__pipe *base)
{
    SEAM__UNUSED(base);
    return -1;
}

/* What end side is ready for, of events (with the lock held). */
static unsigned link_ready(const inproc_link *k, int side, unsigned events)
{
    bool hung = k->hung[0] || k->hung[1];
    unsigned ready = 0;
    if ((events & SEAM_READ) != 0 && (hung || k->dir[1 - side].len > 0)) {
        ready |= SEAM_READ;
    }
    if ((events & SEAM_WRITE) != 0 && (hung || k->dir[side].len < DIR_MAX)) {
        ready |= SEAM_WRITE;
    }
    return ready;
}

static int inproc_wait(seam__pipe *base, unsigned events, int timeout_ms)
{
    inproc_pipe *p = (inproc_pipe *)base;
    inproc_link *k = p->link;
    struct timespec until;
    if (timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&k->lock);
    unsigned ready = link_ready(k, p->side, events);
    while (ready == 0 && timeout_ms != 0) {
        k->waiting[p->side] = true;
        int r = timeout_ms < 0 ? pthread_cond_wait(&k->cond, &k->lock)
                               : pthread_cond_timedwait(&k->cond, &k->lock, &until);
        k->waiting[p->side] = false;
        ready = link_ready(k, p->side, events);
        if (r == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&k->lock);
    return (int)ready;
}

static void inproc_notify(seam__pipe *base, seam_watch *w)
{
    inproc_pipe *p = (inproc_pipe *)base;
    pthread_mutex_lock(&p->link->lock);
    p->link->watch[p->side] = w;
    pthread_mutex_unlock(&p->link->lock);
}

static void inproc_hangup(seam__pipe *base)
{
    pipe_hangup((inproc_pipe *)base);
}

static void inproc_close(seam__pipe *base)
{
    pipe_close((inproc_pipe *)base);
}

const seam__tran seam__tran_inproc = {
    .scheme = "inproc",
    .peer_kind = SEAM_PEER_INPROC,
    /* The process vouches for its own credentials: the peer is itself. */
    .caps = SEAM__TRAN_FDS | SEAM__TRAN_CREDS,
    .max_send_fds = MAX_FDS,
    .resolve = inproc_resolve,
    .listen = inproc_listen,
    .listener_addr = inproc_listener_addr,
    .listener_fd = inproc_listener_fd,
    .accept = inproc_accept,
    .reserve = NULL,
    .listener_close = inproc_listener_close,
    .listener_hangup = inproc_listener_hangup,
    .listener_free = inproc_listener_free,
    .dial = inproc_dial,
    .dial_check = inproc_dial_check,
    .sendv = inproc_sendv,
    .recv = inproc_recv,
    .recv_block = inproc_recv_block,
    .peer = inproc_peer,
    .peer_pidfd = inproc_peer_pidfd,
    .fd = inproc_fd,
    .notify = inproc_notify,
    .listener_notify = inproc_listener_notify,
    .listener_ready = inproc_listener_ready,
    .wait = inproc_wait,
    .hangup = inproc_hangup,
    .close = inproc_close,
};
