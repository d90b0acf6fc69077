/* SPDX-License-Identifier: MIT */
/* tran_inproc.c - the in-process transport ("inproc:NAME"): two loops of
 * one process, on one thread or on two, joined by a pair of bounded byte
 * queues in memory. No descriptor is watched: readiness is raised through
 * the core (seam__watch_raise), which tells a loop inside its own dispatch
 * without a system call and wakes a loop on another thread once per batch.
 * Descriptors pass by duplication; the peer's identity is this process's.
 *
 * This file: names, listeners (found by name in a process-wide registry
 * under a mutex always taken before a link's) and dialling; the links and
 * pipes are inproc_pipe.c's. */
#include "inproc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Peers waiting to be accepted, as a socket's backlog (SOMAXCONN). */
#define BACKLOG    4096
#define PREFIX     "inproc:"
#define PREFIX_LEN 7

typedef struct inproc_listener {
    seam__listener base;
    struct inproc_listener *next; /* in the registry */
    bool listed;
    bool hung;
    inproc_pipe *pending_head; /* dialled, not accepted yet */
    inproc_pipe **pending_tail;
    size_t pending;
    seam_watch *watch;
    int token[2]; /* anonymous: a pipe whose inode names it (else -1) */
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

/* ---- listening ---- */

static void listener_tokens_close(inproc_listener *l)
{
    for (int i = 0; i < 2; i++) {
        if (l->token[i] >= 0) {
            close(l->token[i]);
            l->token[i] = -1;
        }
    }
}

/* Lists l (addr set) in the registry, or frees it. */
static int listener_list(inproc_listener *l, seam__listener **out)
{
    l->base.tran = &seam__tran_inproc;
    l->pending_tail = &l->pending_head;
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
        listener_tokens_close(l);
        free(l);
        return r;
    }
    *out = &l->base;
    return 0;
}

static int inproc_listen(const char *name, unsigned mode, seam__listener **out)
{
    SEAM__UNUSED(mode); /* no file: nobody outside the process can reach it */
    inproc_listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return SEAM_ENOMEM;
    }
    l->token[0] = l->token[1] = -1;
    memcpy(l->addr, name, strlen(name) + 1);
    return listener_list(l, out);
}

/* ---- anonymous endpoints ----
 * The endpoint is the read end of a pipe (so that it passes as a
 * descriptor like any other) and the listener is found by the pipe's
 * inode and this process's pid, under an address no name can have. In
 * another process the same pipe names no listener: dialling it there
 * fails (SEAM_ENOTFOUND). */

static int endpoint_addr(int fd, char *addr, size_t len)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    if (!S_ISFIFO(st.st_mode)) {
        return SEAM_ENOTENDPOINT;
    }
    /* The pid too: a forked child has a copy of the registry but none of
     * its listeners. */
    snprintf(addr, len, "inproc endpoint %ld.%ju.%ju", (long)getpid(), (uintmax_t)st.st_dev,
             (uintmax_t)st.st_ino);
    return 0;
}

static int inproc_listen_anon(seam__listener **out)
{
    inproc_listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return SEAM_ENOMEM;
    }
    l->token[0] = l->token[1] = -1;
    int r = pipe2(l->token, O_CLOEXEC) < 0 ? -errno : 0;
    if (r == 0) {
        r = endpoint_addr(l->token[0], l->addr, sizeof(l->addr));
    }
    if (r < 0) {
        listener_tokens_close(l);
        free(l);
        return r;
    }
    return listener_list(l, out);
}

static int inproc_listener_endpoint(const seam__listener *base)
{
    return ((const inproc_listener *)base)->token[0];
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
        seam__inproc_pipe_close(p);
        p = next;
    }
    listener_tokens_close(l);
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
    inproc_link *k = seam__inproc_link_new(addr);
    inproc_pipe *mine = k != NULL ? seam__inproc_pipe_new(k, 0) : NULL;
    inproc_pipe *theirs = mine != NULL ? seam__inproc_pipe_new(k, 1) : NULL;
    if (theirs == NULL) {
        free(mine);
        if (k != NULL) {
            seam__inproc_link_free(k);
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
        seam__inproc_link_free(k);
        return r;
    }
    *out = &mine->base;
    return 0;
}

static int inproc_dial_endpoint(int fd, seam__pipe **out)
{
    char addr[SEAM__TRAN_ADDR_MAX];
    int r = endpoint_addr(fd, addr, sizeof(addr));
    return r < 0 ? r : inproc_dial(addr, out);
}

static int inproc_dial_check(seam__pipe *base)
{
    SEAM__UNUSED(base);
    return 0; /* dial() never leaves one in progress */
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
    .listen_anon = inproc_listen_anon,
    .listener_endpoint = inproc_listener_endpoint,
    .dial_endpoint = inproc_dial_endpoint,
    .dial = inproc_dial,
    .dial_check = inproc_dial_check,
    .sendv = seam__inproc_sendv,
    .recv = seam__inproc_recv,
    .recv_block = seam__inproc_recv_block,
    .peer = seam__inproc_peer,
    .peer_pidfd = seam__inproc_peer_pidfd,
    .peer_groups = seam__inproc_peer_groups,
    .fd = seam__inproc_fd,
    .notify = seam__inproc_notify,
    .listener_notify = inproc_listener_notify,
    .listener_ready = inproc_listener_ready,
    .wait = seam__inproc_wait,
    .hangup = seam__inproc_hangup,
    .close = seam__inproc_close,
};
