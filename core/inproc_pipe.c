/* SPDX-License-Identifier: MIT */
/* inproc_pipe.c - the in-process transport's links and pipes: each
 * direction a queue of chunks, one per send (small sends share one), that
 * the receiver takes whole (recv_block) and parses where it lies, so a
 * large frame is copied once, by the sender; descriptors duplicated onto
 * the chunk of their send; readiness raised on the peer's watch and, for a
 * sync call, a condition variable; hang-up and close. Everything on a link
 * happens under its mutex. */
#include "inproc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

inproc_link *seam__inproc_link_new(const char *addr)
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

void seam__inproc_link_free(inproc_link *k)
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

inproc_pipe *seam__inproc_pipe_new(inproc_link *k, int side)
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

void seam__inproc_pipe_close(inproc_pipe *p)
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
        seam__inproc_link_free(k);
    }
    free(p);
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

ssize_t seam__inproc_sendv(seam__pipe *base, const struct iovec *iov, size_t iovcnt, const int *fds,
                           size_t nfds)
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
    free(c->fds);
    c->fds = NULL;
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

ssize_t seam__inproc_recv(seam__pipe *base, void *buf, size_t len, int *fds, size_t max_fds,
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

ssize_t seam__inproc_recv_block(seam__pipe *base, const uint8_t **data, void **owner, int *fds,
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

int seam__inproc_peer(seam__pipe *base, bool want_pidfd, seam_peer *out)
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

int seam__inproc_peer_groups(seam__pipe *base, uint32_t **gids, size_t *n)
{
    SEAM__UNUSED(base);
    int count = getgroups(0, NULL); /* this process's own: the peer is itself */
    if (count < 0) {
        return -errno;
    }
    gid_t *list = malloc(((size_t)count + 1) * sizeof(gid_t));
    uint32_t *out = malloc(((size_t)count + 1) * sizeof(uint32_t));
    if (list == NULL || out == NULL || (count = getgroups(count, list)) < 0) {
        int err = list == NULL || out == NULL ? SEAM_ENOMEM : -errno;
        free(list);
        free(out);
        return err;
    }
    for (int i = 0; i < count; i++) {
        out[i] = (uint32_t)list[i];
    }
    free(list);
    *gids = out;
    *n = (size_t)count;
    return 0;
}

int seam__inproc_peer_pidfd(seam__pipe *base)
{
    SEAM__UNUSED(base);
    return -1;
}

int seam__inproc_fd(const seam__pipe *base)
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

int seam__inproc_wait(seam__pipe *base, unsigned events, int timeout_ms)
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

void seam__inproc_notify(seam__pipe *base, seam_watch *w)
{
    inproc_pipe *p = (inproc_pipe *)base;
    pthread_mutex_lock(&p->link->lock);
    p->link->watch[p->side] = w;
    pthread_mutex_unlock(&p->link->lock);
}

void seam__inproc_hangup(seam__pipe *base)
{
    pipe_hangup((inproc_pipe *)base);
}

void seam__inproc_close(seam__pipe *base)
{
    seam__inproc_pipe_close((inproc_pipe *)base);
}
