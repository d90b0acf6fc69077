/* SPDX-License-Identifier: MIT */
/* conn.h - the connection and server objects, shared by the conn*.c files
 * (one connection's state machine, split by job: see conn_int.h) and
 * server.c (listening, accepting, fan-out). */
#ifndef SEAM_CONN_H
#define SEAM_CONN_H

#include "hello.h"
#include "idmap.h"
#include "require.h"
#include "runtime.h"
#include "tran.h"

typedef enum seam__conn_state {
    SEAM__CONN_HANDSHAKE,  /* hello sent, waiting for the peer's */
    SEAM__CONN_CONNECTING, /* the transport's dial is in progress; the hello waits */
    SEAM__CONN_OPEN,
    SEAM__CONN_DOWN,   /* a client lost its server; the next send reconnects */
    SEAM__CONN_CLOSED, /* over for good */
} seam__conn_state;

typedef struct seam__call seam__call;
typedef struct seam__held seam__held;

/* Bytes of a no-copy send: they go out right after the queue's bytes up
 * to offset (the frame's header and raw id), before the bytes from offset
 * on (the next frame). */
typedef struct seam__extrec {
    size_t offset;
    const uint8_t *bytes;
    size_t len;
    size_t sent;
    seam_release_fn release;
    void *userdata;
} seam__extrec;

/* Descriptors queued to go out with the frame starting at offset. */
typedef struct seam__fdrec {
    size_t offset;
    size_t nfds;
    int fds[SEAM__FRAME_MAX_FDS];
} seam__fdrec;

struct seam_request {
    seam_conn *conn; /* NULL once the connection is gone */
    uint64_t gen;    /* the connection's incarnation it came on */
    uint64_t id;
    bool answered;
    bool kept;
    bool in_event;             /* its REQUEST callback is running: nothing frees it */
    bool more;                 /* the caller accepts intermediate replies */
    bool cancelled;            /* ... and has cancelled the call since */
    struct seam_request *next; /* the connection's kept requests */
    struct seam_request **prev;
};

struct seam_conn {
    seam_loop *loop;
    struct seam_server *server; /* NULL for a client */
    unsigned refs;
    seam__conn_state state;
    bool user_closed;
    bool want_writable;   /* a send failed with SEAM_EAGAIN */
    bool writable_due;    /* ... and the queue has drained since */
    bool connected_due;   /* hello seen; CONNECTED waits for the rest of that read */
    unsigned dispatching; /* callbacks for this connection are running */
    uint64_t gen;         /* bumped on each (re)connect */
    char *path;           /* client: the address to (re)connect to */
    int endpoint_fd;      /* client of an endpoint: its descriptor (else -1) */
    seam_conn_config cfg;
    void *data;

    const seam__tran *tran; /* the scheme's transport, for the connection's life */
    seam__pipe *pipe;       /* NULL while no transport connection is up */
    seam_watch *watch;
    seam_creds creds;
    bool pidfd_asked; /* creds.pidfd is fetched on first use */
    seam__frame_parser parser;
    uint8_t *rbuf;
    int *rfds; /* received descriptors no frame has claimed yet */
    size_t rfds_len;

    seam__buf out; /* frames waiting to be written, from out_off on */
    size_t out_off;
    size_t hello_end; /* before the handshake only bytes up to here go */
    seam__fdrec **fdq;
    size_t fdq_head;
    size_t fdq_len;
    size_t fdq_cap;
    seam__extrec *ext; /* no-copy payloads, in queue order */
    size_t ext_head;
    size_t ext_len;
    size_t ext_cap;
    size_t ext_queued; /* their bytes not yet written */
    /* Answers (replies, errors, pongs, cancels, goodbyes) among the bytes
     * queued, and the largest of them since none waited: reading pauses
     * while the peer leaves too many of them unread. */
    size_t ans_queued;
    size_t ans_largest;
    size_t fdq_fds; /* descriptors in fdq */
    size_t ans_fds; /* of those, an answer's (an estimate from above) */
    bool read_paused;
    bool draining;        /* the peer's input ended: writing what is queued, then done */
    bool shrink_due;      /* the drained send buffer is large: shrink it if it stays empty */
    seam__buf in_pending; /* input not handled yet because reading paused */

    seam__hello peer;
    uint64_t shm_offer;                 /* the ring size our hello offered, 0: none */
    uint64_t memfd_offer;               /* the "memfd" threshold our hello announced, 0: none */
    seam__memfd_account *memfd_account; /* the peer's memfds we map (conn_memfd.c) */
    unsigned want;                      /* what the core waits for on the pipe */
    int goodbye_code;                   /* from the peer's goodbye, 0 if none */
    bool goodbye_seen;
    char *goodbye_reason; /* ... its "reason" and "rule", NULL if none */
    char *goodbye_rule;
    seam__timer handshake_timer;
    seam__timer kick;      /* deferred work: completions, held frames, writable */
    bool kick_ref;         /* the kick holds a reference */
    int lost;              /* a loss inside a sync wait, still to be reported */
    bool lost_invalid;     /* ... as INVALID (else INTERRUPTED) */
    unsigned lost_earlier; /* INTERRUPTED losses before that one, unreported */
    int fail_due;          /* an end the loop is to give the connection (conn_lost) */

    uint64_t next_id;
    seam__idmap calls;     /* calls in flight by id, in the order they were made */
    seam__call *done_head; /* ended calls whose callbacks are due */
    seam__call **done_tail;
    seam__held *held_head; /* frames a sync call set aside, in order */
    seam__held **held_tail;
    size_t held_bytes;     /* what holding them costs: bounded by cfg.max_queue */
    size_t held_fds;       /* the descriptors among them */
    seam__call *sync_call; /* the call a sync wait is for */
    struct seam_request *kept;
    seam__call *spare_call;         /* one ended call kept for reuse */
    struct seam_request *spare_req; /* one handled request kept for reuse */

    seam_conn_stats stats;
    uint64_t frames_in;       /* complete frames received */
    uint64_t idle_moved;      /* a server's peer: frames in + bytes out when last seen moving */
    uint64_t idle_since;      /* ... and when (seam__now_ns) */
    uint64_t partial_since;   /* when first seen inside a frame that makes no progress; 0: not */
    bool monitor;             /* a server's peer that monitors the others (monitor.c) */
    uint32_t monitor_dropped; /* records it missed since the last it got */

    struct seam__sub *subs; /* a server's peer: what it subscribes to (pubsub.c) */
    unsigned nsubs;
    struct seam__csub *csubs; /* a client: its subscriptions (pubsub_client.c) */

    seam__handle handle; /* in the loop's handles */
    seam_conn *snext;    /* the server's peers */
    seam_conn **sprev;
};

struct seam_server {
    seam_loop *loop;
    seam_server_config cfg;
    char *path;
    const seam__tran *tran;
    seam__listener *listener; /* owns the name */
    seam_watch *watch;
    bool closed;
    bool paused;       /* out of descriptors: the listener rests */
    bool starved;      /* ... and that was logged */
    seam__timer retry; /* ends a pause */
    seam__timer idle_sweep;
    seam__timer idle_exit; /* no peers for cfg.idle_exit_ms */
    seam__require req;     /* cfg.require, copied */
    unsigned refs;
    size_t npeers; /* connections, handshake done or not */
    seam_conn *peers;
    bool monitor_allowed;        /* seam_server_set_monitor() */
    unsigned monitors;           /* peers that are monitors */
    struct seam__pubsub *pubsub; /* retained topics (pubsub.c), NULL until one */
    seam__handle handle;         /* in the loop's handles */
};

/* Makes a connection for an accepted pipe (server.c). Takes pipe. */
int seam__conn_accepted(seam_server *server, seam__pipe *pipe, const seam_creds *creds);
/* Says goodbye with code and reason, writes what the socket takes, and
 * ends the connection as lost with code (INVALID for a server's peer). */
void seam__conn_drop(seam_conn *c, int code, const char *reason);
/* Queues an already framed message (the same bytes for every peer). */
int seam__conn_queue_bytes(seam_conn *c, const uint8_t *frame, size_t len);
/* Arms the idle exit when the server has no peers left (server.c). */
void seam__server_idle_check(seam_server *s);
/* The same without copying the payload: only the header goes into the
 * queue, the rest is written from frame, which must stay until release
 * (called once, also if the connection ends first). On failure release is
 * not called. */
int seam__conn_queue_bytes_shared(seam_conn *c, const uint8_t *frame, size_t len,
                                  seam_release_fn release, void *userdata);
/* Listens on name with tran, or (name NULL) on an anonymous endpoint
 * (server.c). */
int seam__server_open(seam_loop *loop, const seam__tran *tran, const char *name,
                      const seam_server_config *config, seam_server **out);
/* Connects a client to path, or (endpoint_fd >= 0, duplicated) through an
 * endpoint, with tran (conn_open.c). */
int seam__conn_open(seam_loop *loop, const seam__tran *tran, const char *path, int endpoint_fd,
                    const seam_conn_config *config, seam_conn **out);
/* Drops a reference on a server; the last one frees it (server.c). */
void seam__server_unref(seam_server *s);

#endif /* SEAM_CONN_H */
