/* SPDX-License-Identifier: MIT */
/* conn_int.h - what the files of a connection share: its limits, the call
 * and held-frame records, and the functions each file offers the others.
 * Never included outside the conn*.c files. */
#ifndef SEAM_CONN_INT_H
#define SEAM_CONN_INT_H

#include "conn.h"
#include "monitor.h"
#include "pubsub.h"
#include "status.h"

#define READ_BUF_SIZE         (64u << 10)
#define READS_PER_READY       16
#define DEFAULT_MAX_QUEUE     (8u << 20)
#define DEFAULT_MAX_QUEUE_FDS 128u
#define DEFAULT_HANDSHAKE     10000
#define OUT_COMPACT_MIN       (64u << 10)
#define OUT_KEEP_MAX          (256u << 10) /* a drained send buffer keeps no more */
#define ANSWERS_HARD_CAP      4            /* times the point where reading pauses */
#define MAX_QUEUE_CLAMP       (SIZE_MAX / (2 * ANSWERS_HARD_CAP)) /* larger reads as this */
#define NOCOPY_MIN            (16u << 10) /* smaller no-copy payloads are copied */
#define MAX_FRAME_FDS         SEAM__FRAME_MAX_FDS
#define HELD_MAX_FDS          (4 * MAX_FRAME_FDS)           /* descriptors a sync call holds */
#define RFDS_CAP              (2 * SEAM__TRAN_MAX_RECV_FDS) /* received, not yet claimed */

struct seam__call {
    seam_conn *conn;
    uint64_t id;
    seam_reply_fn cb;
    void *userdata;
    seam__timer timer;
    bool ping;
    bool more;      /* a streaming call: intermediate replies accepted */
    bool idle;      /* its timeout re-arms at each of them */
    int timeout_ms; /* as given, for re-arming */
    /* Set when the call ends before its callback can run. */
    int status;
    seam__call *next_done;
    /* A sync call's outcome. */
    bool done;
    seam_value *result;
};

struct seam__held {
    seam__frame_header h;
    uint8_t *payload;
    int fds[MAX_FRAME_FDS];
    bool connected; /* not a frame: the CONNECTED event, postponed */
    seam__held *next;
};

/* Descriptors a frame of ours may carry on c's transport, as our hello
 * announces them. */
static inline size_t seam__conn_our_max_fds(const seam_conn *c)
{
    return (c->tran->caps & SEAM__TRAN_FDS) != 0 ? MAX_FRAME_FDS : 0;
}

/* conn.c */
void seam__conn_ref(seam_conn *c);
void seam__conn_unref(seam_conn *c);
void seam__conn_kick(seam_conn *c);
void seam__conn_emit(seam_conn *c, seam_event *ev);
void seam__conn_drop_transport(seam_conn *c);
void seam__conn_lost(seam_conn *c, int err);
void seam__conn_fail(seam_conn *c, int err);
/* Ends c for a shortage of ours (err, e.g. -EMFILE), not the peer's fault:
 * a goodbye with err, then as seam__conn_lost(). */
void seam__conn_fail_ours(seam_conn *c, int err);
/* Forgets what the last goodbye said (conn_frames.c). */
void seam__conn_goodbye_clear(seam_conn *c);
void seam__conn_handshake_expired(seam__timer *t);
void seam__conn_on_released(void *owner);
void seam__conn_on_ready(void *owner, unsigned events);
void seam__conn_kick_fired(seam__timer *t);

/* conn_open.c */
extern const seam__handle_ops seam__conn_handle_ops;
int seam__conn_client_connect(seam_conn *c);
void seam__conn_client_dial_done(seam_conn *c);
void seam__conn_server_unlink(seam_conn *c);
void seam__conn_close_after_hello(seam_conn *c);
void seam__conn_close(seam_conn *c);

/* conn_sendq.c */
void seam__conn_ext_clear(seam_conn *c);
void seam__conn_fdq_clear(seam_conn *c);
size_t seam__conn_queued(const seam_conn *c);
int seam__conn_fdq_reserve(seam_conn *c);
void seam__conn_update_interest(seam_conn *c);
void seam__conn_drain_start(seam_conn *c);
void seam__conn_drain_check(seam_conn *c);
void seam__conn_out_shrink(seam_conn *c);
int seam__conn_flush(seam_conn *c);
void seam__conn_queue_cut(seam_conn *c, size_t off, size_t len);
void seam__conn_queue_cut_call(seam_conn *c, uint64_t id);

/* conn_send.c */
int seam__conn_queue_value(seam_conn *c, uint8_t kind, uint64_t id, const seam_value *v,
                           bool bounded);
int seam__conn_queue_value_flags(seam_conn *c, uint8_t kind, uint8_t flags, uint64_t id,
                                 const seam_value *v, bool bounded);
int seam__conn_queue_raw(seam_conn *c, uint8_t kind, uint64_t id, uint32_t raw_id,
                         const void *bytes, size_t len, bool bounded);
/* A RAW|MEMFD frame (docs/protocol.md, "Raw bytes in a sealed memfd"):
 * the raw id and len in its payload, a duplicate of fd its descriptor. */
int seam__conn_queue_raw_memfd(seam_conn *c, uint8_t kind, uint64_t id, uint32_t raw_id, int fd,
                               uint64_t len, bool bounded);
int seam__conn_queue_empty_frame(seam_conn *c, uint8_t kind, uint64_t id);
int seam__conn_queue_ping(seam_conn *c, uint64_t id);
int seam__conn_queue_fds_frame(seam_conn *c, uint8_t kind, const int *fds, size_t nfds);
int seam__conn_queue_error(seam_conn *c, uint64_t id, int code, const char *message,
                           const seam_value *data);
void seam__conn_schedule_flush(seam_conn *c);
int seam__conn_ready_to_send(seam_conn *c);

/* conn_recv.c */
void seam__conn_rfds_clear(seam_conn *c);
void seam__conn_held_clear(seam_conn *c);
size_t seam__conn_answers_pause_at(const seam_conn *c);
size_t seam__conn_answers_cap_with(const seam_conn *c, size_t len);
void seam__conn_read_pause_update(seam_conn *c);
bool seam__conn_input_stopped(const seam_conn *c);
void seam__conn_answers_overflow(seam_conn *c);
void seam__conn_close_fds(const int *fds, size_t n);
void seam__conn_read_input(seam_conn *c);
bool seam__conn_held_full(const seam_conn *c);
void seam__conn_hold_frame(seam_conn *c, const seam__frame *f, const int *fds);
void seam__conn_hold_connected(seam_conn *c);
void seam__conn_deliver_held(seam_conn *c);

/* conn_frames.c */
void seam__conn_connected_settle(seam_conn *c);
void seam__conn_on_request_or_message(seam_conn *c, const seam__frame *f, const int *fds);
void seam__conn_handle_frame(seam_conn *c, const seam__frame *f, const int *fds);

/* conn_call.c */
seam__call *seam__conn_call_find(const seam_conn *c, uint64_t id);
int seam__conn_call_insert(seam_conn *c, seam__call *k);
void seam__conn_call_remove(seam_conn *c, seam__call *k);
void seam__conn_call_end_later(seam_conn *c, seam__call *k, int status);
void seam__conn_run_reply(seam_conn *c, seam__call *k, seam_reply *r);
seam__call *seam__conn_call_new(seam_conn *c, seam_reply_fn cb, void *userdata);
void seam__conn_call_expired(seam__timer *t);

/* conn_sync.c */
int seam__conn_sync_wait(seam_conn *c, seam__call *k, uint64_t deadline_ns);

/* conn_stream.c */
bool seam__conn_call_more(seam_conn *c, seam__call *k);
void seam__conn_run_reply_more(seam_conn *c, seam__call *k, seam_reply *r);
void seam__conn_stream_cancelled(seam_conn *c, uint64_t id);

/* conn_shm.c */
uint64_t seam__conn_shm_offer(const seam__pipe *p, uint64_t want);
unsigned seam__conn_watch_events(seam_conn *c, seam__pipe *p, unsigned want);
void seam__conn_shm_begin(seam_conn *c);
void seam__conn_on_shm_setup(seam_conn *c, const seam__frame *f, const int *fds);

/* conn_memfd.c */
#define DEFAULT_MEMFD_MIN       (256u << 10)
#define DEFAULT_MAX_MEMFD_BYTES ((size_t)1 << 30)
void seam__conn_memfd_defaults(seam_conn_config *cfg);
uint64_t seam__conn_memfd_offer(const seam_conn *c);
/* How the peer's memfd tags are decoded: NULL (refused) unless our
 * hello announced "memfd"; mf is the storage. */
const seam__dec_memfd *seam__conn_memfd_in(const seam_conn *c, seam__dec_memfd *mf);
/* How our memfd data goes to the peer in a frame of kind: NULL (copied)
 * unless its hello announced "memfd" and the kind carries descriptors. */
const seam__enc_memfd *seam__conn_memfd_out(const seam_conn *c, uint8_t kind, seam__enc_memfd *mf);
/* A raw payload to send: len bytes at bytes, or (memfd >= 0) the len
 * bytes of memfd, sealed by seam__conn_raw_memfd_seal(). */
typedef struct seam__raw_out {
    uint32_t id;
    const void *bytes;
    size_t len;
    int memfd;
} seam__raw_out;
/* The argument checks of the *_raw_memfd() sends: fd sealed as a
 * payload memfd of exactly len bytes, or the code why not (fd is left
 * open either way). */
int seam__conn_raw_memfd_seal(int fd, size_t len);
/* Queues raw as a frame of kind: a memfd as its descriptor where the peer
 * takes it (open, "memfd" announced, len at least its threshold), else as
 * bytes read from it. A memfd is closed once queued, kept on failure. */
int seam__conn_queue_raw_out(seam_conn *c, uint8_t kind, uint64_t id, const seam__raw_out *raw,
                             bool bounded);
/* The bytes of a RAW|MEMFD frame: its first descriptor checked and mapped
 * as a memfd tag's (seam__value_from_memfd), *out the data value. 0, or a
 * refusal as for a value, or SEAM_EPROTO when our hello announced no
 * "memfd" (a violation: the connection ends). */
int seam__conn_raw_memfd_in(seam_conn *c, const seam__frame *f, const int *fds, seam_value **out);

/* conn_request.c */
void seam__conn_request_unlink(seam_request *req);

#endif /* SEAM_CONN_INT_H */
