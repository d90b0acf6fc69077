/* SPDX-License-Identifier: MIT */
/* inproc.h - what the two files of the in-process transport share: a
 * link (the two ends of one connection under one mutex) and its pipes.
 * tran_inproc.c has the names, listeners and dialling; inproc_pipe.c the
 * links and everything done on a pipe. */
#ifndef SEAM_INPROC_H
#define SEAM_INPROC_H

#include "runtime.h"
#include "tran.h"

#include <pthread.h>

/* Bytes one direction holds unread: the transport's buffer, as a socket's
 * (the connection's own queue bound is above it). A single send larger
 * than it is taken whole into an empty direction, up to CHUNK_MAX. */
#define DIR_MAX   (256u << 10)
#define CHUNK_MAX (64u << 20)
/* Small sends are gathered into chunks of this size. */
#define CHUNK_MIN (4u << 10)
#define MAX_FDS   64

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

/* A link for addr with both ends open, or NULL without memory. */
inproc_link *seam__inproc_link_new(const char *addr);
void seam__inproc_link_free(inproc_link *k);
/* End side (0: the dialler's, 1: the listener's) of k. */
inproc_pipe *seam__inproc_pipe_new(inproc_link *k, int side);
/* Hangs up (if not yet) and closes p; the last end frees its link. */
void seam__inproc_pipe_close(inproc_pipe *p);

/* The pipe ops (seam__tran's). */
ssize_t seam__inproc_sendv(seam__pipe *base, const struct iovec *iov, size_t iovcnt, const int *fds,
                           size_t nfds);
ssize_t seam__inproc_recv(seam__pipe *base, void *buf, size_t len, int *fds, size_t max_fds,
                          size_t *nfds, bool *truncated);
ssize_t seam__inproc_recv_block(seam__pipe *base, const uint8_t **data, void **owner, int *fds,
                                size_t max_fds, size_t *nfds, bool *truncated);
int seam__inproc_peer(seam__pipe *base, bool want_pidfd, seam_peer *out);
int seam__inproc_peer_pidfd(seam__pipe *base);
int seam__inproc_peer_groups(seam__pipe *base, uint32_t **gids, size_t *n);
int seam__inproc_fd(const seam__pipe *base);
int seam__inproc_wait(seam__pipe *base, unsigned events, int timeout_ms);
void seam__inproc_notify(seam__pipe *base, seam_watch *w);
void seam__inproc_hangup(seam__pipe *base);
void seam__inproc_close(seam__pipe *base);

#endif /* SEAM_INPROC_H */
