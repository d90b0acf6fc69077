/* SPDX-License-Identifier: MIT */
/* conn.c - one connection: handshake, send queue with backpressure, the
 * read path from bytes to events, calls and their single completion,
 * requests and their single answer, reconnection of clients. */
#include "conn.h"
#include "monitor.h"
#include "status.h"
#include "unix.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_BUF_SIZE     (64u << 10)
#define READS_PER_READY   16
#define DEFAULT_MAX_QUEUE (8u << 20)
#define DEFAULT_HANDSHAKE 10000
#define OUT_COMPACT_MIN   (64u << 10)
#define OUT_KEEP_MAX      (256u << 10) /* a drained send buffer keeps no more */
#define ANSWERS_HARD_CAP  4            /* times the point where reading pauses */
#define MAX_QUEUE_CLAMP   (SIZE_MAX / (2 * ANSWERS_HARD_CAP)) /* larger reads as this */
#define NOCOPY_MIN        (16u << 10) /* smaller no-copy payloads are copied */
#define MAX_FRAME_FDS     SEAM__FRAME_MAX_FDS
#define HELD_MAX_FDS      (4 * MAX_FRAME_FDS)           /* descriptors a sync call holds */
#define RFDS_CAP          (2 * SEAM__UNIX_MAX_RECV_FDS) /* received, not yet claimed */

struct seam__call {
    seam_conn *conn;
    uint64_t id;
    seam_reply_fn cb;
    void *userdata;
    seam__timer timer;
    bool ping;
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

static void conn_on_ready(void *owner, unsigned events);
static void conn_on_released(void *owner);
static void conn_kick_fired(seam__timer *t);
static void handshake_expired(seam__timer *t);
static void call_expired(seam__timer *t);
static void conn_lost(seam_conn *c, int err);
static void handle_frame(seam_conn *c, const seam__frame *f, const int *fds);
static void connected_settle(seam_conn *c);
static int flush(seam_conn *c);
static void request_unlink(seam_request *req);
static bool held_full(const seam_conn *c);
static void close_after_hello(seam_conn *c);

/* ---- references ---- */

static void conn_ref(seam_conn *c)
{
    c->refs++;
}

/* Gives every no-copy payload not yet written back to its owner. */
static void ext_clear(seam_conn *c)
{
    while (c->ext_head < c->ext_len) {
        seam__extrec x = c->ext[c->ext_head++];
        x.release(x.bytes, x.userdata);
    }
    c->ext_head = 0;
    c->ext_len = 0;
    c->ext_queued = 0;
}

static void fdq_clear(seam_conn *c)
{
    for (size_t i = c->fdq_head; i < c->fdq_len; i++) {
        for (size_t k = 0; k < c->fdq[i]->nfds; k++) {
            close(c->fdq[i]->fds[k]);
        }
        free(c->fdq[i]);
    }
    c->fdq_head = 0;
    c->fdq_len = 0;
}

static void rfds_clear(seam_conn *c)
{
    for (size_t i = 0; i < c->rfds_len; i++) {
        close(c->rfds[i]);
    }
    c->rfds_len = 0;
}

static void held_free(seam__held *h)
{
    if (!h->connected) {
        for (size_t i = 0; i < h->h.nfds; i++) {
            close(h->fds[i]);
        }
    }
    free(h->payload);
    free(h);
}

static void held_clear(seam_conn *c)
{
    while (c->held_head != NULL) {
        seam__held *h = c->held_head;
        c->held_head = h->next;
        held_free(h);
    }
    c->held_tail = &c->held_head;
    c->held_bytes = 0;
    c->held_fds = 0;
}

static void conn_free(seam_conn *c)
{
    assert(c->watch == NULL && c->calls_len == 0 && c->done_head == NULL);
    seam__timer_stop(c->loop, &c->handshake_timer);
    seam__timer_stop(c->loop, &c->kick);
    for (struct seam_request *r = c->kept; r != NULL; r = r->next) {
        r->conn = NULL;
        r->prev = NULL;
    }
    held_clear(c);
    *c->prev = c->next;
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    seam__frame_parser_free(&c->parser);
    seam__buf_free(&c->out);
    seam__buf_free(&c->in_pending);
    fdq_clear(c);
    ext_clear(c);
    rfds_clear(c);
    if (c->creds.pidfd >= 0) {
        close(c->creds.pidfd);
    }
    free(c->fdq);
    free(c->ext);
    free(c->rfds);
    free(c->rbuf);
    free(c->calls);
    free(c->spare_call);
    free(c->spare_req);
    free(c->path);
    free(c);
}

static void conn_unref(seam_conn *c)
{
    assert(c->refs > 0);
    if (--c->refs == 0) {
        conn_free(c);
    }
}

/* ---- the call table: open addressing on the id, backward-shift delete ---- */

static size_t call_slot(const seam_conn *c, uint64_t id)
{
    return (size_t)(id * 0x9E3779B97F4A7C15ull) & (c->calls_cap - 1);
}

static seam__call *call_find(const seam_conn *c, uint64_t id)
{
    if (c->calls_cap == 0) {
        return NULL;
    }
    for (size_t i = call_slot(c, id);; i = (i + 1) & (c->calls_cap - 1)) {
        seam__call *k = c->calls[i];
        if (k == NULL || k->id == id) {
            return k;
        }
    }
}

static int call_insert(seam_conn *c, seam__call *k)
{
    if ((c->calls_len + 1) * 4 > c->calls_cap * 3) {
        size_t cap = c->calls_cap ? c->calls_cap * 2 : 16;
        seam__call **old = c->calls;
        size_t old_cap = c->calls_cap;
        c->calls = calloc(cap, sizeof(*c->calls));
        if (c->calls == NULL) {
            c->calls = old;
            return SEAM_ENOMEM;
        }
        c->calls_cap = cap;
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i] != NULL) {
                size_t s = call_slot(c, old[i]->id);
                while (c->calls[s] != NULL) {
                    s = (s + 1) & (cap - 1);
                }
                c->calls[s] = old[i];
            }
        }
        free(old);
    }
    size_t s = call_slot(c, k->id);
    while (c->calls[s] != NULL) {
        s = (s + 1) & (c->calls_cap - 1);
    }
    c->calls[s] = k;
    c->calls_len++;
    return 0;
}

static void call_remove(seam_conn *c, seam__call *k)
{
    size_t mask = c->calls_cap - 1;
    size_t i = call_slot(c, k->id);
    while (c->calls[i] != k) {
        i = (i + 1) & mask;
    }
    c->calls[i] = NULL;
    c->calls_len--;
    /* Pull later members of the cluster back so lookups never stop early. */
    for (size_t j = (i + 1) & mask; c->calls[j] != NULL; j = (j + 1) & mask) {
        size_t home = call_slot(c, c->calls[j]->id);
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            c->calls[i] = c->calls[j];
            c->calls[j] = NULL;
            i = j;
        }
    }
    seam__timer_stop(c->loop, &k->timer);
}

/* ---- deferred work ---- */

static void kick(seam_conn *c)
{
    if (!c->kick_ref) {
        c->kick_ref = true;
        conn_ref(c);
    }
    if (!seam__timer_armed(&c->kick)) {
        seam__timer_start(c->loop, &c->kick, 0);
    }
}

/* Ends a call later, from the loop, with status (no reply value). */
static void call_end_later(seam_conn *c, seam__call *k, int status)
{
    call_remove(c, k);
    k->status = status;
    k->next_done = NULL;
    *c->done_tail = k;
    c->done_tail = &k->next_done;
    kick(c);
}

/* ---- events ---- */

static void emit(seam_conn *c, seam_event *ev)
{
    /* Once the loop is being freed only call completions still run. */
    if (c->cfg.on_event == NULL || c->user_closed || c->loop->freeing) {
        return;
    }
    c->cfg.on_event(c, ev, c->cfg.userdata);
}

/* Keeps one ended call for the next: a steady stream of calls allocates
 * nothing. The caller holds a reference on c. */
static void call_release(seam_conn *c, seam__call *k)
{
    if (c->spare_call == NULL) {
        c->spare_call = k;
    } else {
        free(k);
    }
}

static void run_reply(seam_conn *c, seam__call *k, seam_reply *r)
{
    r->call_id = k->id;
    if (k->cb != NULL) {
        k->cb(c, r, k->userdata);
    }
    call_release(c, k);
}

/* ---- framing into the send queue ---- */

/* Before the handshake the peer's limit is unknown: assume it matches ours
 * and check again when its hello arrives (check_queued_sizes). */
static uint64_t peer_max_frame(const seam_conn *c)
{
    return c->state == SEAM__CONN_OPEN ? c->peer.max_frame : c->cfg.max_frame;
}

static size_t queued(const seam_conn *c)
{
    return c->out.len - c->out_off + c->ext_queued;
}

/* Answers are queued whatever the bound (a request must hear something),
 * so a peer that sends requests or pings and reads nothing would grow its
 * queue without end. Instead reading from it pauses while more answers
 * wait than the queue bound plus the largest of them (a lone large reply
 * goes, as a lone large send does) and resumes at half that. */
static size_t answers_pause_at(const seam_conn *c)
{
    return c->cfg.max_queue + c->ans_largest;
}

/* The pause point counting one more answer of size len: a lone large
 * answer behind small ones is let through as it would be alone. */
static size_t answers_cap_with(const seam_conn *c, size_t len)
{
    return c->cfg.max_queue + (len > c->ans_largest ? len : c->ans_largest);
}

static void read_pause_update(seam_conn *c)
{
    size_t at = answers_pause_at(c);
    if (c->ans_queued > at) {
        c->read_paused = true;
    } else if (c->ans_queued <= at / 2 && c->read_paused) {
        c->read_paused = false;
        if (c->in_pending.len > 0) {
            kick(c); /* what was read already will not show as readable */
        }
    }
}

/* While answers pile up, frames are not handled. A peer we are not waiting
 * on is not read either; while calls of ours are in flight on the
 * connection its input is still taken (unhandled, up to the hard cap):
 * else two peers answering each other's calls at once would stall each
 * other for good. */
static bool input_stopped(const seam_conn *c)
{
    if (!c->read_paused || c->sync_call != NULL) {
        return false;
    }
    /* Descriptors taken unhandled are not claimed by their frames: one more
     * read could bring more than the store holds (rfds_append), which
     * would read as a violation. Input waits; the kick of the answers'
     * drain (read_pause_update) resumes it. */
    return c->calls_len == 0 || c->rfds_len + SEAM__UNIX_MAX_RECV_FDS > RFDS_CAP;
}

/* Answers past the hard cap (the user answering kept requests of a peer
 * that does not read) end the connection, from the loop. */
static void answers_overflow(seam_conn *c)
{
    if (c->fail_due == 0) {
        c->fail_due = SEAM_ENOBUFS;
    }
    c->read_paused = true;
    kick(c);
}

/* Moves what is still queued to the front of the buffer once at least as
 * much before it was written: the buffer stays small and warm in the cache,
 * which measured faster than moving fewer bytes through a larger one.
 * Large payloads avoid the copy altogether (seam_conn_send_raw_nocopy). */
static void queue_compact(seam_conn *c)
{
    size_t keep = c->out.len - c->out_off;
    if (c->state != SEAM__CONN_OPEN || c->out_off < OUT_COMPACT_MIN || keep > c->out_off) {
        return;
    }
    memmove(c->out.data, c->out.data + c->out_off, keep);
    for (size_t i = c->fdq_head; i < c->fdq_len; i++) {
        c->fdq[i]->offset -= c->out_off;
    }
    for (size_t i = c->ext_head; i < c->ext_len; i++) {
        c->ext[i].offset -= c->out_off;
    }
    c->out_off = 0;
    c->out.len = keep;
}

static int frame_begin(seam_conn *c, size_t *start)
{
    *start = c->out.len;
    int r = seam__buf_reserve(&c->out, SEAM__FRAME_HEADER_SIZE);
    if (r < 0) {
        return r;
    }
    c->out.len += SEAM__FRAME_HEADER_SIZE;
    return 0;
}

static void schedule_flush(seam_conn *c);

/* Makes room for one more record in the descriptor queue. */
static int fdq_reserve(seam_conn *c)
{
    if (c->fdq_len < c->fdq_cap) {
        return 0;
    }
    if (c->fdq_head > 0) {
        memmove(c->fdq, c->fdq + c->fdq_head, (c->fdq_len - c->fdq_head) * sizeof(*c->fdq));
        c->fdq_len -= c->fdq_head;
        c->fdq_head = 0;
        return 0;
    }
    size_t cap = c->fdq_cap ? c->fdq_cap * 2 : 8;
    seam__fdrec **q = realloc(c->fdq, cap * sizeof(*q));
    if (q == NULL) {
        return SEAM_ENOMEM;
    }
    c->fdq = q;
    c->fdq_cap = cap;
    return 0;
}

/* Completes the frame begun at start: checks its size against the peer
 * and the queue bound, writes its header, attaches fds (duplicated). */
static int frame_end(seam_conn *c, size_t start, uint8_t kind, uint8_t flags, uint64_t id,
                     const int *fds, size_t nfds, bool bounded)
{
    size_t len = c->out.len - start - SEAM__FRAME_HEADER_SIZE;
    size_t before = start - c->out_off + c->ext_queued;
    int r = 0;
    if (len > peer_max_frame(c) || (uint64_t)len > UINT32_MAX ||
        (nfds > 0 && c->state == SEAM__CONN_OPEN && nfds > c->peer.max_fds)) {
        r = SEAM_EMSGSIZE;
    } else if (bounded && before > 0 && before + len + SEAM__FRAME_HEADER_SIZE > c->cfg.max_queue) {
        c->want_writable = true;
        r = SEAM_EAGAIN;
    } else if (!bounded && c->ans_queued > 0 &&
               c->ans_queued + len + SEAM__FRAME_HEADER_SIZE >
                   ANSWERS_HARD_CAP * answers_cap_with(c, len + SEAM__FRAME_HEADER_SIZE)) {
        r = SEAM_ENOBUFS;
        answers_overflow(c);
    }
    seam__fdrec *rec = NULL;
    if (r == 0 && nfds > 0) {
        rec = malloc(sizeof(*rec));
        r = rec != NULL ? fdq_reserve(c) : SEAM_ENOMEM;
    }
    for (size_t i = 0; r == 0 && i < nfds; i++) {
        rec->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
        if (rec->fds[i] < 0) {
            r = -errno;
            while (i-- > 0) {
                close(rec->fds[i]);
            }
        }
    }
    if (r < 0) {
        free(rec);
        c->out.len = start;
        return r;
    }
    if (rec != NULL) {
        rec->offset = start;
        rec->nfds = nfds;
        c->fdq[c->fdq_len++] = rec;
    }
    seam__frame_header h = {(uint32_t)len, kind, flags, (uint16_t)nfds, id};
    seam__frame_header_write(c->out.data + start, &h);
    if (!bounded) {
        c->ans_queued += len + SEAM__FRAME_HEADER_SIZE;
        if (len + SEAM__FRAME_HEADER_SIZE > c->ans_largest) {
            c->ans_largest = len + SEAM__FRAME_HEADER_SIZE;
        }
    }
    c->stats.messages_out++;
    if (SEAM__MONITORED(c)) {
        seam__monitor_frame(c, true, c->out.data + start, SEAM__FRAME_HEADER_SIZE + len, NULL, 0);
    }
    schedule_flush(c);
    return 0;
}

static int queue_value(seam_conn *c, uint8_t kind, uint64_t id, const seam_value *v, bool bounded)
{
    size_t start;
    int r = frame_begin(c, &start);
    if (r < 0) {
        return r;
    }
    int fds[MAX_FRAME_FDS];
    size_t nfds = 0;
    r = seam__encode(v, &c->out, fds, MAX_FRAME_FDS, &nfds);
    if (r < 0) {
        c->out.len = start;
        return r;
    }
    return frame_end(c, start, kind, 0, id, fds, nfds, bounded);
}

static int queue_raw(seam_conn *c, uint8_t kind, uint64_t id, uint32_t raw_id, const void *bytes,
                     size_t len, bool bounded)
{
    if (len > UINT32_MAX - SEAM__FRAME_RAW_ID_SIZE) {
        return SEAM_EMSGSIZE;
    }
    size_t start = c->out.len;
    int r = frame_begin(c, &start);
    if (r == 0) {
        r = seam__buf_reserve(&c->out, SEAM__FRAME_RAW_ID_SIZE + len);
    }
    if (r < 0) {
        c->out.len = start;
        return r;
    }
    uint8_t *p = c->out.data + c->out.len;
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(raw_id >> (8 * i));
    }
    if (len > 0) {
        memcpy(p + 4, bytes, len);
    }
    c->out.len += SEAM__FRAME_RAW_ID_SIZE + len;
    return frame_end(c, start, kind, SEAM__FLAG_RAW, id, NULL, 0, bounded);
}

static int queue_empty_frame(seam_conn *c, uint8_t kind, uint64_t id)
{
    size_t start;
    int r = frame_begin(c, &start);
    return r < 0 ? r : frame_end(c, start, kind, 0, id, NULL, 0, false);
}

/* A ping is the user's send, bounded like any other (a pong is not). */
static int queue_ping(seam_conn *c, uint64_t id)
{
    size_t start;
    int r = frame_begin(c, &start);
    return r < 0 ? r : frame_end(c, start, SEAM__KIND_PING, 0, id, NULL, 0, true);
}

static int queue_error(seam_conn *c, uint64_t id, int code, const char *message,
                       const seam_value *data)
{
    seam_value *m = seam_value_new_dict();
    int r = m != NULL ? seam_dict_set_int64(m, "code", code) : SEAM_ENOMEM;
    if (r == 0) {
        r = seam_dict_set_string(m, "message", message != NULL ? message : "");
    }
    if (r == 0 && data != NULL) {
        r = seam_dict_set(m, "data", (seam_value *)data);
    }
    if (r == 0) {
        r = queue_value(c, SEAM__KIND_ERROR, id, m, false);
    }
    seam_value_unref(m);
    return r;
}

int seam__conn_queue_bytes(seam_conn *c, const uint8_t *frame, size_t len)
{
    if (c->state != SEAM__CONN_OPEN || c->user_closed) {
        return SEAM_ECLOSED;
    }
    if (len - SEAM__FRAME_HEADER_SIZE > peer_max_frame(c)) {
        return SEAM_EMSGSIZE;
    }
    if (queued(c) > 0 && queued(c) + len > c->cfg.max_queue) {
        c->want_writable = true;
        return SEAM_EAGAIN;
    }
    int r = seam__buf_append(&c->out, frame, len);
    if (r == 0) {
        c->stats.messages_out++;
        if (SEAM__MONITORED(c)) {
            seam__monitor_frame(c, true, frame, len, NULL, 0);
        }
        schedule_flush(c);
    }
    return r;
}

/* ---- writing ---- */

static void update_interest(seam_conn *c)
{
    if (c->watch == NULL) {
        return;
    }
    size_t limit = c->state == SEAM__CONN_OPEN ? c->out.len : c->hello_end;
    bool pending = c->out_off < limit || c->ext_head < c->ext_len;
    bool reading = !c->draining && !input_stopped(c);
    seam__watch_update(c->watch, (reading ? SEAM_READ : 0) | (pending ? SEAM_WRITE : 0));
}

/* The peer's input ended while answers still wait for it (it may have
 * shut down only its writing side): they go out first, within the
 * handshake timeout, then the connection ends as it would have. */
static void drain_start(seam_conn *c)
{
    c->draining = true;
    seam__timer_start(c->loop, &c->handshake_timer, (uint64_t)c->cfg.handshake_timeout_ms);
    update_interest(c);
}

static void drain_done(seam_conn *c)
{
    if (c->fail_due == 0) {
        c->fail_due = SEAM_ECONNRESET;
    }
    kick(c);
}

/* Done once the answers are out and no input waits to be handled. */
static void drain_check(seam_conn *c)
{
    if (c->draining && queued(c) == 0 && c->in_pending.len == 0) {
        drain_done(c);
    }
}

/* n bytes of the first pending no-copy payload were written. */
static void ext_wrote(seam_conn *c, size_t n)
{
    seam__extrec *x = &c->ext[c->ext_head];
    x->sent += n;
    c->ext_queued -= n;
    c->stats.bytes_out += n;
    if (x->sent == x->len) {
        c->ext_head++;
        x->release(x->bytes, x->userdata);
    }
}

/* Keeps a working buffer of a drained queue, and no more. */
static void out_shrink(seam_conn *c)
{
    c->shrink_due = false;
    if (c->out.len == 0 && c->out.cap > OUT_KEEP_MAX) {
        uint8_t *keep = realloc(c->out.data, OUT_KEEP_MAX);
        if (keep != NULL) {
            c->out.data = keep;
            c->out.cap = OUT_KEEP_MAX;
        }
    }
}

/* Writes what the socket takes. Returns 0 or the error that broke the
 * connection (which the read side then reports). */
static int flush(seam_conn *c)
{
    if (c->fd < 0) {
        return 0;
    }
    int err = 0;
    for (;;) {
        size_t limit = c->state == SEAM__CONN_OPEN ? c->out.len : c->hello_end;
        seam__extrec *x = c->ext_head < c->ext_len ? &c->ext[c->ext_head] : NULL;
        if (x != NULL && x->offset == c->out_off) {
            /* The no-copy payload of the frame whose header went out. */
            ssize_t n = seam__unix_send(c->fd, x->bytes + x->sent, x->len - x->sent, NULL, 0);
            if (n < 0) {
                err = n == SEAM_EAGAIN ? 0 : (int)n;
                break;
            }
            ext_wrote(c, (size_t)n);
            continue;
        }
        if (c->out_off >= limit) {
            break;
        }
        const int *fds = NULL;
        size_t nfds = 0;
        size_t end = limit;
        if (c->fdq_head < c->fdq_len) {
            seam__fdrec *rec = c->fdq[c->fdq_head];
            if (rec->offset == c->out_off) {
                fds = rec->fds;
                nfds = rec->nfds;
                if (c->fdq_head + 1 < c->fdq_len && c->fdq[c->fdq_head + 1]->offset < end) {
                    end = c->fdq[c->fdq_head + 1]->offset;
                }
            } else if (rec->offset < end) {
                end = rec->offset;
            }
        }
        /* Queue bytes up to a no-copy payload go out together with it. */
        struct iovec iov[2] = {{c->out.data + c->out_off, end - c->out_off}, {NULL, 0}};
        size_t iovcnt = 1;
        if (x != NULL && x->offset <= end) {
            iov[0].iov_len = x->offset - c->out_off;
            iov[1] = (struct iovec){(void *)(x->bytes + x->sent), x->len - x->sent};
            iovcnt = 2;
        }
        ssize_t n = seam__unix_sendv(c->fd, iov, iovcnt, fds, nfds);
        if (n == SEAM_EAGAIN) {
            break;
        }
        if (n < 0) {
            err = (int)n;
            break;
        }
        if (nfds > 0) {
            seam__fdrec *rec = c->fdq[c->fdq_head++];
            for (size_t i = 0; i < rec->nfds; i++) {
                close(rec->fds[i]);
            }
            free(rec);
        }
        size_t from_queue = (size_t)n < iov[0].iov_len ? (size_t)n : iov[0].iov_len;
        c->out_off += from_queue;
        c->stats.bytes_out += from_queue;
        if ((size_t)n > from_queue) {
            ext_wrote(c, (size_t)n - from_queue);
        }
    }
    if (err != 0) {
        /* The peer is gone; reading will tell (EOF or reset). Nothing
         * queued can reach it now. */
        seam__log(c->loop, SEAM_LOG_DEBUG, "write failed: %s", seam_strerror(err));
        c->out.len = 0;
        c->out_off = 0;
        c->hello_end = 0;
        fdq_clear(c);
        ext_clear(c);
        c->ans_queued = 0;
        c->ans_largest = 0;
        c->read_paused = false;
        update_interest(c);
        if (c->draining) {
            drain_done(c);
        }
        return err;
    }
    if (c->out_off == c->out.len && c->ext_head == c->ext_len) {
        c->out.len = 0;
        c->out_off = 0;
        c->hello_end = 0;
        if (c->fdq_head == c->fdq_len) {
            c->fdq_head = 0;
            c->fdq_len = 0;
        }
        if (c->out.cap > OUT_KEEP_MAX && !c->shrink_due) {
            /* One large message should not pin its memory for the
             * connection's life (the receive side frees its own too). A
             * stream refills the queue before the loop turns: only a queue
             * still empty then gives its memory back (out_shrink). */
            c->shrink_due = true;
            kick(c);
        }
    } else {
        queue_compact(c);
    }
    /* Written bytes are counted off the answers at most: an estimate from
     * above, exact once the queue drains. */
    if (c->ans_queued > queued(c)) {
        c->ans_queued = queued(c);
    }
    if (c->ans_queued == 0) {
        c->ans_largest = 0;
    }
    read_pause_update(c);
    drain_check(c);
    if (c->want_writable && queued(c) <= c->cfg.max_queue / 2) {
        c->want_writable = false;
        c->writable_due = true;
        kick(c);
    }
    c->stats.queued_bytes = queued(c);
    update_interest(c);
    return 0;
}

/* Writes wait for the end of the dispatch they were queued in, or outside
 * one for the next loop iteration, so that a burst of sends goes out in as
 * few writes as possible (one writev, not one per message). */
static void schedule_flush(seam_conn *c)
{
    c->stats.queued_bytes = queued(c);
    if (c->fd < 0) {
        return;
    }
    if (!c->in_flush_list) {
        c->in_flush_list = true;
        conn_ref(c);
        c->flush_next = c->loop->flush_head;
        c->loop->flush_head = c;
    }
    if (c->loop->depth == 0) {
        seam__loop_flush_soon(c->loop);
    }
}

void seam__conn_flush_all(seam_loop *loop)
{
    while (loop->flush_head != NULL) {
        seam_conn *c = loop->flush_head;
        loop->flush_head = c->flush_next;
        c->in_flush_list = false;
        flush(c);
        conn_unref(c);
    }
}

/* ---- connection setup ---- */

static void config_defaults(seam_conn_config *cfg)
{
    if (cfg->max_queue == 0) {
        cfg->max_queue = DEFAULT_MAX_QUEUE;
    } else if (cfg->max_queue > MAX_QUEUE_CLAMP) {
        /* "No bound": the answers' pause point (max_queue plus the largest
         * answer, times ANSWERS_HARD_CAP) must not wrap around. */
        cfg->max_queue = MAX_QUEUE_CLAMP;
    }
    if (cfg->max_frame == 0) {
        cfg->max_frame = SEAM__FRAME_DEFAULT_MAX;
    } else if (cfg->max_frame < SEAM__HELLO_MIN_FRAME) {
        cfg->max_frame = SEAM__HELLO_MIN_FRAME;
    }
    if (cfg->handshake_timeout_ms <= 0) {
        cfg->handshake_timeout_ms = DEFAULT_HANDSHAKE;
    }
}

static seam_conn *conn_new(seam_loop *loop, const seam_conn_config *cfg)
{
    seam_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->loop = loop;
    c->refs = 1;
    c->fd = -1;
    c->creds.pidfd = -1;
    if (cfg != NULL) {
        c->cfg = *cfg;
    }
    config_defaults(&c->cfg);
    c->next_id = 1;
    c->done_tail = &c->done_head;
    c->held_tail = &c->held_head;
    seam__timer_init(&c->handshake_timer, handshake_expired);
    seam__timer_init(&c->kick, conn_kick_fired);
    seam__frame_parser_init(&c->parser, c->cfg.max_frame);
    c->next = loop->conns;
    if (loop->conns != NULL) {
        loop->conns->prev = &c->next;
    }
    loop->conns = c;
    c->prev = &loop->conns;
    return c;
}

/* Takes fd: starts watching it and queues our hello. */
static int conn_start(seam_conn *c, int fd)
{
    seam__frame_parser_free(&c->parser);
    seam__frame_parser_init(&c->parser, c->cfg.max_frame);
    c->out.len = 0;
    c->out_off = 0;
    fdq_clear(c);
    seam__hello hello = {SEAM_PROTOCOL_VERSION, c->cfg.max_frame, MAX_FRAME_FDS};
    int r = seam__hello_write(&hello, &c->out);
    if (r == 0) {
        r = seam__watch_start(c->loop, fd, SEAM_READ | SEAM_WRITE, conn_on_ready, conn_on_released,
                              c, &c->watch);
    }
    if (r < 0) {
        close(fd);
        c->out.len = 0;
        return r;
    }
    conn_ref(c); /* the watch's */
    c->fd = fd;
    c->hello_end = c->out.len;
    c->state = SEAM__CONN_HANDSHAKE;
    c->gen++;
    c->goodbye_code = 0;
    c->goodbye_seen = false;
    c->fail_due = 0;
    c->ans_queued = 0;
    c->ans_largest = 0;
    c->read_paused = false;
    c->draining = false;
    seam__buf_free(&c->in_pending);
    seam__timer_start(c->loop, &c->handshake_timer, (uint64_t)c->cfg.handshake_timeout_ms);
    if (c->loop->depth == 0) {
        flush(c);
    } else {
        schedule_flush(c);
    }
    return 0;
}

static int client_connect(seam_conn *c)
{
    int fd;
    int r = seam__unix_connect(c->path, &fd);
    if (r < 0) {
        return r;
    }
    if (c->creds.pidfd >= 0) {
        close(c->creds.pidfd);
    }
    c->creds.pidfd = -1;
    c->pidfd_asked = false;
    /* A socket under the name may be another user's (one who could write
     * to the directory): talk only to the server expected - by default one
     * of our own user or root. */
    uint32_t me = (uint32_t)geteuid();
    if (seam__unix_creds(fd, false, &c->creds) < 0 ||
        (c->cfg.expect_server_uid ? c->creds.uid != c->cfg.server_uid
                                  : c->creds.uid != me && c->creds.uid != 0)) {
        c->creds.pidfd = -1;
        close(fd);
        return SEAM_EACCES;
    }
    return conn_start(c, fd);
}

int seam_conn_connect(seam_loop *loop, const char *name, const seam_conn_config *config,
                      seam_conn **out)
{
    if (loop == NULL || name == NULL || out == NULL) {
        return SEAM_EINVAL;
    }
    char path[SEAM__PATH_MAX];
    int r = seam__loop_name_path(loop, name, path, sizeof(path));
    if (r < 0) {
        return r;
    }
    seam_conn *c = conn_new(loop, config);
    if (c == NULL || (c->path = strdup(path)) == NULL) {
        if (c != NULL) {
            conn_unref(c);
        }
        return SEAM_ENOMEM;
    }
    seam__loop_enter(loop);
    r = client_connect(c);
    if (r < 0) {
        conn_unref(c);
    } else {
        *out = c;
    }
    seam__loop_leave(loop);
    return r;
}

int seam__conn_accepted(seam_server *server, int fd, const seam_creds *creds)
{
    seam_conn *c = conn_new(server->loop, &server->cfg.conn);
    if (c == NULL) {
        close(fd);
        return SEAM_ENOMEM;
    }
    c->creds = *creds;
    c->server = server;
    int r = conn_start(c, fd);
    if (r < 0) {
        c->creds.pidfd = -1; /* the caller still owns it on failure */
        conn_unref(c);
        return r;
    }
    server->npeers++;
    server->refs++;
    c->snext = server->peers;
    if (server->peers != NULL) {
        server->peers->sprev = &c->snext;
    }
    server->peers = c;
    c->sprev = &server->peers;
    if (SEAM__MONITORED(c)) {
        seam__monitor_hello_out(c);
    }
    return 0;
}

static void server_unlink(seam_conn *c)
{
    seam_server *s = c->server;
    if (s == NULL || c->sprev == NULL) {
        return;
    }
    seam__monitor_leave(c);
    *c->sprev = c->snext;
    if (c->snext != NULL) {
        c->snext->sprev = c->sprev;
    }
    c->sprev = NULL;
    s->npeers--;
    if (--s->refs == 0) {
        free(s->path);
        free(s);
    }
    c->server = NULL;
}

/* ---- losing a connection ---- */

static void drop_transport(seam_conn *c)
{
    seam__timer_stop(c->loop, &c->handshake_timer);
    if (c->watch != NULL) {
        seam_watch *w = c->watch;
        c->watch = NULL;
        c->fd = -1;
        seam__watch_close(w); /* closes the fd once the loop lets go */
    }
    c->out.len = 0;
    c->out_off = 0;
    c->hello_end = 0;
    fdq_clear(c);
    ext_clear(c);
    rfds_clear(c);
    seam__frame_parser_free(&c->parser);
    seam__frame_parser_init(&c->parser, c->cfg.max_frame);
    c->stats.queued_bytes = 0;
    /* The queue that was full went with the socket: no WRITABLE is owed
     * for it (the next send reconnects), least of all on a new socket. */
    c->want_writable = false;
    c->writable_due = false;
    /* What a sync call set aside came on this socket: it goes with it, so
     * that a reconnected client never takes it for the new server's. */
    held_clear(c);
}

/* Ends every call in flight with status, running callbacks now (inside a
 * dispatch) - each call exactly once, also if a callback closes c. */
static void fail_calls(seam_conn *c, int status)
{
    /* The table is taken whole, in one pass: calls a callback makes go
     * into a new one and are not ended here. */
    seam__call **calls = c->calls;
    size_t cap = c->calls_cap;
    c->calls = NULL;
    c->calls_cap = 0;
    c->calls_len = 0;
    c->stats.calls_in_flight = 0;
    for (size_t i = 0; i < cap; i++) {
        if (calls[i] != NULL) {
            seam__timer_stop(c->loop, &calls[i]->timer);
        }
    }
    for (size_t i = 0; i < cap; i++) {
        seam__call *k = calls[i];
        if (k == NULL) {
            continue;
        }
        if (k == c->sync_call) {
            k->done = true;
            k->status = status;
            continue;
        }
        seam_reply r = {.status = status};
        run_reply(c, k, &r);
    }
    free(calls);
}

/* Loses the connection inside a sync wait, where no callback may run. The
 * state changes now, as it would in the loop, so that a send right after
 * the sync call reconnects or fails instead of queueing for a socket that
 * is gone; the calls of this incarnation end now too (new ones after a
 * reconnect are not theirs), and their callbacks and the event follow
 * from the loop, in that order (lost_report). */
/* How a loss reads, the same in the loop and in a sync wait: whether it
 * ends the connection for good, and the code reported. */
static bool lost_reading(const seam_conn *c, int err, int *code)
{
    bool invalid = c->server != NULL || c->goodbye_code != 0 || (err != SEAM_ECONNRESET);
    if (c->goodbye_code != 0) {
        *code = c->goodbye_code;
    } else if (c->goodbye_seen && err == SEAM_ECONNRESET) {
        *code = SEAM_ECLOSED; /* it said goodbye: a clean close, not a crash */
    } else {
        *code = err;
    }
    return invalid;
}

static void conn_lost_in_sync(seam_conn *c, int err)
{
    int code;
    bool invalid = lost_reading(c, err, &code);
    c->connected_due = false;
    c->state = invalid ? SEAM__CONN_CLOSED : SEAM__CONN_DOWN;
    seam__log(c->loop, invalid && code != SEAM_ECONNRESET ? SEAM_LOG_WARN : SEAM_LOG_INFO,
              "%s connection %s during a sync call: %s", c->server != NULL ? "peer" : "client",
              invalid ? "closed" : "interrupted", seam_strerror(code));
    drop_transport(c);
    for (size_t i = 0; i < c->calls_cap; i++) {
        seam__call *k = c->calls[i];
        if (k == NULL) {
            continue;
        }
        c->calls[i] = NULL; /* the whole table empties: no shifting needed */
        seam__timer_stop(c->loop, &k->timer);
        if (k == c->sync_call) {
            k->done = true;
            k->status = err == SEAM_EHANDSHAKE ? SEAM_EHANDSHAKE : SEAM_ECONNRESET;
            continue;
        }
        k->status = SEAM_ECONNRESET;
        k->next_done = NULL;
        *c->done_tail = k;
        c->done_tail = &k->next_done;
    }
    c->calls_len = 0;
    c->stats.calls_in_flight = 0;
    if (c->lost != 0) {
        /* An earlier loss not reported yet: it was an interruption, since a
         * client reconnected after it. Each loss gets its event. */
        c->lost_earlier++;
    }
    c->lost = code;
    c->lost_invalid = invalid;
    kick(c);
}

/* Runs the callbacks of calls that ended where none could run. */
static void run_done_calls(seam_conn *c)
{
    while (c->done_head != NULL) {
        seam__call *k = c->done_head;
        c->done_head = k->next_done;
        if (c->done_head == NULL) {
            c->done_tail = &c->done_head;
        }
        seam_reply r = {.status = k->status};
        run_reply(c, k, &r);
    }
}

/* Reports a loss seen inside a sync wait: the calls it ended, then the
 * event, before anything of a later connection. The caller holds a
 * reference and counts as dispatching. */
static void lost_report(seam_conn *c)
{
    if (c->lost == 0 || c->sync_call != NULL) {
        return;
    }
    run_done_calls(c);
    for (; c->lost_earlier > 0; c->lost_earlier--) {
        seam_event earlier = {.type = SEAM_EVENT_INTERRUPTED, .error = SEAM_ECONNRESET};
        emit(c, &earlier);
    }
    seam_event ev = {.type = c->lost_invalid ? SEAM_EVENT_INVALID : SEAM_EVENT_INTERRUPTED,
                     .error = c->lost};
    bool invalid = c->lost_invalid;
    c->lost = 0;
    emit(c, &ev);
    if (invalid && c->server != NULL && !c->user_closed) {
        /* The server's reference goes with its peer. */
        c->user_closed = true;
        server_unlink(c);
        conn_unref(c);
    }
}

static void conn_lost(seam_conn *c, int err)
{
    if (c->state == SEAM__CONN_DOWN || c->state == SEAM__CONN_CLOSED) {
        return;
    }
    if (c->sync_call != NULL) {
        conn_lost_in_sync(c, err);
        return;
    }
    conn_ref(c);
    c->connected_due = false; /* it ended before it was reported open */
    bool invalid = lost_reading(c, err, &err);
    c->state = invalid ? SEAM__CONN_CLOSED : SEAM__CONN_DOWN;
    seam__log(c->loop, invalid && err != SEAM_ECONNRESET ? SEAM_LOG_WARN : SEAM_LOG_INFO,
              "%s connection %s: %s", c->server != NULL ? "peer" : "client",
              invalid ? "closed" : "interrupted", seam_strerror(err));
    drop_transport(c);
    c->dispatching++;
    fail_calls(c, SEAM_ECONNRESET);
    seam_event ev = {.type = invalid ? SEAM_EVENT_INVALID : SEAM_EVENT_INTERRUPTED, .error = err};
    emit(c, &ev);
    c->dispatching--;
    if (c->server != NULL && !c->user_closed) {
        /* The server's reference goes with its peer. */
        c->user_closed = true;
        server_unlink(c);
        conn_unref(c);
    }
    conn_unref(c);
}

/* Tells the peer which rule it broke before hanging up: a goodbye with
 * the code, written now if its socket takes it. */
static void say_goodbye(seam_conn *c, int code)
{
    if (c->fd < 0 || c->user_closed) {
        return;
    }
    if (c->state == SEAM__CONN_HANDSHAKE) {
        /* Only our hello may go before it; sends waiting for the
         * handshake never will. */
        c->out.len = c->hello_end;
        fdq_clear(c);
    }
    seam_value *bye = seam_value_new_dict();
    if (bye != NULL && seam_dict_set_int64(bye, "code", code) == 0 &&
        seam_dict_set_string(bye, "reason", seam_strerror(code)) == 0) {
        queue_value(c, SEAM__KIND_GOODBYE, 0, bye, false);
    }
    seam_value_unref(bye);
    if (c->state == SEAM__CONN_HANDSHAKE) {
        c->hello_end = c->out.len;
    }
    flush(c);
}

static void conn_fail(seam_conn *c, int err)
{
    seam__log(c->loop, SEAM_LOG_WARN, "protocol violation by the peer: %s (%s)", seam_strerror(err),
              seam_errname(err));
    say_goodbye(c, err);
    conn_lost(c, err);
}

static void handshake_expired(seam__timer *t)
{
    seam_conn *c = (seam_conn *)((char *)t - offsetof(seam_conn, handshake_timer));
    if (c->state == SEAM__CONN_HANDSHAKE) {
        conn_lost(c, SEAM_EHANDSHAKE);
    } else if (c->draining) {
        conn_lost(c, SEAM_ETIMEDOUT); /* it stopped reading what was left */
    }
}

static void conn_on_released(void *owner)
{
    conn_unref(owner);
}

/* ---- the read path ---- */

static int take_fds(seam_conn *c, size_t n, int *out)
{
    if (n == 0) {
        return 0;
    }
    if (n > c->rfds_len) {
        return SEAM_EFRAMEFDS;
    }
    memcpy(out, c->rfds, n * sizeof(int));
    c->rfds_len -= n;
    memmove(c->rfds, c->rfds + n, c->rfds_len * sizeof(int));
    return 0;
}

static void close_fds(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        close(fds[i]);
    }
}

/* Reads go through one buffer per loop, not one per connection: an idle
 * connection holds no read buffer. A read nested inside another's
 * callbacks (a sync call on a second connection) cannot share it, since
 * the outer read's frames still point into it; it gets its own. */
static uint8_t *read_buffer_take(seam_conn *c)
{
    seam_loop *loop = c->loop;
    if (!loop->rbuf_busy) {
        if (loop->rbuf == NULL) {
            loop->rbuf = malloc(READ_BUF_SIZE);
        }
        if (loop->rbuf != NULL) {
            loop->rbuf_busy = true;
            return loop->rbuf;
        }
    }
    if (c->rbuf == NULL) {
        c->rbuf = malloc(READ_BUF_SIZE);
    }
    return c->rbuf;
}

static void read_frames(seam_conn *c, uint8_t *rbuf);

static void read_input(seam_conn *c)
{
    seam_loop *loop = c->loop;
    uint8_t *rbuf = read_buffer_take(c);
    if (rbuf == NULL) {
        conn_lost(c, SEAM_ENOMEM);
        return;
    }
    read_frames(c, rbuf);
    if (rbuf == loop->rbuf) {
        loop->rbuf_busy = false;
    }
}

/* Keeps descriptors that arrived until their frame claims them. The
 * store is made on the first one: most connections never get any. False
 * (and the descriptors closed) when more wait than any frames can claim. */
static bool rfds_append(seam_conn *c, const int *fds, size_t n)
{
    size_t cap = RFDS_CAP;
    if (c->rfds == NULL) {
        c->rfds = malloc(cap * sizeof(int));
    }
    if (c->rfds == NULL || c->rfds_len + n > cap) {
        close_fds(fds, n);
        return false;
    }
    memcpy(c->rfds + c->rfds_len, fds, n * sizeof(int));
    c->rfds_len += n;
    return true;
}

/* Descriptors arrive with the first bytes of their frame and are claimed
 * when it is complete: once a read's frames are handled, only the frame
 * still arriving may have any waiting, at most its own count (or the most
 * a hello allows while its header is incomplete). Anything more was sent
 * with frames that did not announce it. */
static size_t rfds_allowed(const seam_conn *c)
{
    if (c->parser.in_payload) {
        return c->parser.cur.nfds;
    }
    return c->parser.hdr_have > 0 ? MAX_FRAME_FDS : 0;
}

/* Answers piled up for a peer that does not read them: stop handling its
 * frames, also in the middle of what one read brought. */
static bool answers_stop_reading(seam_conn *c)
{
    read_pause_update(c);
    return c->read_paused && c->sync_call == NULL;
}

/* Handles the frames in len bytes of data (or one the parser completed).
 * Returns false when reading must stop: the connection failed, ended or
 * started over, or answers piled up, and then what is left of data waits
 * in in_pending until they drain. */
static bool frames_handle(seam_conn *c, const uint8_t *data, size_t len, uint64_t gen)
{
    while (c->fd >= 0 && c->gen == gen && !c->loop->freeing && !c->goodbye_seen) {
        /* A sync call that holds all it may holds no more: the rest waits
         * in in_pending, which is handled after what is held. */
        if (len > 0 && (answers_stop_reading(c) || (c->sync_call != NULL && held_full(c)))) {
            if (seam__buf_append(&c->in_pending, data, len) < 0) {
                conn_lost(c, SEAM_ENOMEM);
            }
            update_interest(c);
            return false;
        }
        seam__frame f;
        int r = seam__frame_parser_next(&c->parser, &data, &len, &f);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            conn_fail(c, r);
            return false;
        }
        c->frames_in++;
        int fds[MAX_FRAME_FDS];
        r = take_fds(c, f.h.nfds, fds);
        if (r < 0) {
            conn_fail(c, r);
            return false;
        }
        handle_frame(c, &f, fds);
    }
    if (c->fd < 0 || c->gen != gen || c->goodbye_seen) {
        return false;
    }
    if (c->rfds_len > rfds_allowed(c)) {
        conn_fail(c, SEAM_EFRAMEFDS);
        return false;
    }
    if (c->connected_due) {
        connected_settle(c);
    }
    return c->fd >= 0 && c->gen == gen && !c->loop->freeing;
}

/* Input set aside while answers piled up goes first once they drained. */
static bool pending_handle(seam_conn *c)
{
    if (c->in_pending.len == 0) {
        return true;
    }
    if (answers_stop_reading(c)) {
        update_interest(c);
        return false;
    }
    seam__buf in = c->in_pending;
    c->in_pending = (seam__buf){0};
    bool more = frames_handle(c, in.data, in.len, c->gen);
    seam__buf_free(&in);
    if (c->fd >= 0) {
        drain_check(c);
    }
    return more && c->in_pending.len == 0;
}

static void read_frames(seam_conn *c, uint8_t *rbuf)
{
    uint64_t gen = c->gen;
    if (!pending_handle(c) && (c->fd < 0 || c->gen != gen || !c->read_paused || c->loop->freeing)) {
        return;
    }
    /* A sync call that holds all it may reads no further (held_full). */
    for (int round = 0;
         round < READS_PER_READY && c->fd >= 0 && !(c->sync_call != NULL && held_full(c));
         round++) {
        if (c->draining) {
            if (c->sync_call != NULL) {
                conn_lost(c, SEAM_ECONNRESET); /* a sync wait cannot wait for the drain */
            }
            return;
        }
        bool paused = answers_stop_reading(c);
        if (paused && input_stopped(c)) {
            update_interest(c);
            return;
        }
        if (paused && c->in_pending.len >= ANSWERS_HARD_CAP * answers_pause_at(c)) {
            answers_overflow(c);
            return;
        }
        bool truncated = false;
        int got[SEAM__UNIX_MAX_RECV_FDS];
        size_t ngot = 0;
        /* The rest of a large payload goes straight where the frame is
         * collected rather than through the read buffer. */
        size_t cap = READ_BUF_SIZE;
        uint8_t *direct =
            paused ? NULL : seam__frame_parser_direct(&c->parser, READ_BUF_SIZE, &cap);
        ssize_t n = seam__unix_recv(c->fd, direct != NULL ? direct : rbuf, cap, got,
                                    SEAM__UNIX_MAX_RECV_FDS, &ngot, &truncated);
        if (ngot > 0 && !rfds_append(c, got, ngot)) {
            truncated = true;
        }
        if (n == SEAM_EAGAIN) {
            return;
        }
        if (n == 0) {
            if ((queued(c) > 0 || c->in_pending.len > 0) && c->state == SEAM__CONN_OPEN &&
                c->sync_call == NULL) {
                drain_start(c);
            } else {
                conn_lost(c, SEAM_ECONNRESET);
            }
            return;
        }
        if (n < 0) {
            conn_lost(c, n == -EPIPE || n == -ECONNRESET ? SEAM_ECONNRESET : (int)n);
            return;
        }
        if (truncated) {
            conn_fail(c, SEAM_EFRAMEFDS);
            return;
        }
        c->stats.bytes_in += (uint64_t)n;
        if (paused) {
            /* Taken, not handled: it waits behind what already waits. */
            if (seam__buf_append(&c->in_pending, rbuf, (size_t)n) < 0) {
                conn_lost(c, SEAM_ENOMEM);
                return;
            }
            if ((size_t)n < cap) {
                return;
            }
            continue;
        }
        const uint8_t *data = rbuf;
        size_t len = (size_t)n;
        if (direct != NULL) {
            seam__frame_parser_direct_done(&c->parser, (size_t)n);
            len = 0;
        }
        if (!frames_handle(c, data, len, c->gen)) {
            return;
        }
        if ((size_t)n < cap) {
            return; /* the socket is most likely drained */
        }
    }
}

/* A sync call holds what arrives while it waits up to cfg.max_queue
 * bytes, the receive side of the queue bound, counting what each frame
 * costs to hold, and up to HELD_MAX_FDS descriptors; a single frame over
 * either is held alone. Past them, reading stops and the sync call gives
 * up (sync_wait). */
static size_t held_cost(const seam__frame_header *h)
{
    return sizeof(seam__held) + h->len;
}

static bool held_full(const seam_conn *c)
{
    return (c->held_bytes > c->cfg.max_queue || c->held_fds > HELD_MAX_FDS) &&
           c->held_head != NULL && c->held_head->next != NULL;
}

static void hold_frame(seam_conn *c, const seam__frame *f, const int *fds)
{
    seam__held *h = calloc(1, sizeof(*h));
    uint8_t *payload = f->h.len > 0 ? malloc(f->h.len) : NULL;
    if (h == NULL || (f->h.len > 0 && payload == NULL)) {
        free(h);
        free(payload);
        close_fds(fds, f->h.nfds);
        conn_lost(c, SEAM_ENOMEM); /* a frame cannot be lost silently */
        return;
    }
    h->h = f->h;
    h->payload = payload;
    if (f->h.len > 0) {
        memcpy(payload, f->payload, f->h.len);
    }
    memcpy(h->fds, fds, f->h.nfds * sizeof(int));
    *c->held_tail = h;
    c->held_tail = &h->next;
    c->held_bytes += held_cost(&f->h);
    c->held_fds += f->h.nfds;
}

static void hold_connected(seam_conn *c)
{
    seam__held *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        conn_lost(c, SEAM_ENOMEM);
        return;
    }
    h->connected = true;
    *c->held_tail = h;
    c->held_tail = &h->next;
}

/* Takes the frame at off out of the queue, with its descriptors. */
static void queue_cut(seam_conn *c, size_t off, size_t len)
{
    size_t w = c->fdq_head;
    for (size_t i = c->fdq_head; i < c->fdq_len; i++) {
        seam__fdrec *rec = c->fdq[i];
        if (rec->offset == off) {
            close_fds(rec->fds, rec->nfds);
            free(rec);
            continue;
        }
        if (rec->offset > off) {
            rec->offset -= len;
        }
        c->fdq[w++] = rec;
    }
    c->fdq_len = w;
    for (size_t i = c->ext_head; i < c->ext_len; i++) {
        if (c->ext[i].offset > off) {
            c->ext[i].offset -= len;
        }
    }
    memmove(c->out.data + off, c->out.data + off + len, c->out.len - off - len);
    c->out.len -= len;
}

/* A call ended during the handshake (cancelled, timed out) is taken out
 * of the queue: none of it was written, and sent after the hello it would
 * be a request that no one waits for, with no cancel after it. Before the
 * handshake every frame lies whole in the queue (nothing goes uncopied). */
static void queue_cut_call(seam_conn *c, uint64_t id)
{
    if (c->state != SEAM__CONN_HANDSHAKE) {
        return;
    }
    size_t off = c->hello_end > c->out_off ? c->hello_end : c->out_off;
    while (off + SEAM__FRAME_HEADER_SIZE <= c->out.len) {
        seam__frame_header h;
        seam__frame_header_read(c->out.data + off, &h);
        size_t len = SEAM__FRAME_HEADER_SIZE + h.len;
        if ((h.kind == SEAM__KIND_REQUEST || h.kind == SEAM__KIND_PING) && h.id == id) {
            queue_cut(c, off, len);
            c->stats.queued_bytes = queued(c);
            return;
        }
        off += len;
    }
}

/* Sends made before the handshake were checked against our own limits;
 * the peer's hello tells its own. A frame it would refuse is taken out of
 * the queue rather than sent (which would break the connection): a call
 * ends with SEAM_EMSGSIZE, a one-way message is dropped with a warning. */
static void drop_oversized_queued(seam_conn *c)
{
    size_t off = c->hello_end > c->out_off ? c->hello_end : c->out_off;
    while (off + SEAM__FRAME_HEADER_SIZE <= c->out.len) {
        seam__frame_header h;
        seam__frame_header_read(c->out.data + off, &h);
        size_t len = SEAM__FRAME_HEADER_SIZE + h.len;
        if (h.len <= c->peer.max_frame && h.nfds <= c->peer.max_fds) {
            off += len;
            continue;
        }
        queue_cut(c, off, len);
        seam__call *k = h.kind == SEAM__KIND_REQUEST ? call_find(c, h.id) : NULL;
        if (k == NULL) {
            seam__log(c->loop, SEAM_LOG_WARN,
                      "a message of %u bytes sent before the handshake exceeds the peer's "
                      "limits: dropped",
                      (unsigned)h.len);
        } else if (k == c->sync_call) {
            call_remove(c, k);
            k->done = true;
            k->status = SEAM_EMSGSIZE;
        } else {
            call_end_later(c, k, SEAM_EMSGSIZE);
        }
    }
    c->stats.calls_in_flight = c->calls_len;
    c->stats.queued_bytes = queued(c);
}

static void on_hello(seam_conn *c, const seam__frame *f)
{
    if (c->state != SEAM__CONN_HANDSHAKE) {
        conn_fail(c, SEAM_EPROTO);
        return;
    }
    int r = f->h.len <= SEAM__HELLO_MIN_FRAME ? seam__hello_read(f->payload, f->h.len, &c->peer)
                                              : SEAM_EHANDSHAKE;
    if (r < 0) {
        conn_fail(c, r); /* EHANDSHAKE, or the CBOR's own decode error */
        return;
    }
    if (c->peer.max_fds > MAX_FRAME_FDS) {
        c->peer.max_fds = MAX_FRAME_FDS;
    }
    if (c->peer.max_frame > UINT32_MAX) {
        c->peer.max_frame = UINT32_MAX; /* what a header's len can say */
    }
    drop_oversized_queued(c);
    c->state = SEAM__CONN_OPEN;
    seam__timer_stop(c->loop, &c->handshake_timer);
    if (c->user_closed) {
        close_after_hello(c); /* closed during the handshake (conn_close) */
        return;
    }
    seam__log(c->loop, SEAM_LOG_INFO, "%s connected (pid %d, uid %u)",
              c->server != NULL ? "peer" : "server", (int)c->creds.pid, (unsigned)c->creds.uid);
    schedule_flush(c); /* what was queued before the handshake may go now */
    if (c->sync_call != NULL || c->held_head != NULL) {
        hold_connected(c);
        return;
    }
    /* A refusing server sends hello and goodbye in one write: CONNECTED
     * waits until the rest of this read is seen, so a refused client gets
     * INVALID alone (connected_settle). */
    c->connected_due = true;
}

/* Reports the handshake a hello completed, unless a goodbye with a code
 * followed it: then the connection never really opened. */
static void connected_settle(seam_conn *c)
{
    if (!c->connected_due) {
        return;
    }
    c->connected_due = false;
    if (c->goodbye_code == 0) {
        seam_event ev = {.type = SEAM_EVENT_CONNECTED};
        emit(c, &ev);
    }
    if (c->writable_due) {
        kick(c);
    }
}

static void on_goodbye(seam_conn *c, const seam__frame *f)
{
    c->goodbye_code = 0;
    c->goodbye_seen = true;
    /* Bounded like any payload (max_frame, the value limits): a long
     * reason must not cost the code its meaning. */
    seam_value *m = NULL;
    if (f->h.len > 0 && seam__decode(f->payload, f->h.len, &c->cfg.limits, NULL, 0, &m) == 0) {
        int64_t code = 0;
        if (seam_dict_get_int64(m, "code", &code) && code < 0 && code > INT32_MIN) {
            c->goodbye_code = (int)code;
        }
        seam_value_unref(m);
    }
    /* The peer is closing: nothing after its goodbye is handled. The
     * answers to what it sent before go out first (its reading side may
     * still be open), within the handshake timeout; then the connection
     * ends as at a goodbye. */
    if (c->ans_queued > 0 && queued(c) > 0 && c->sync_call == NULL && c->state == SEAM__CONN_OPEN) {
        seam__buf_free(&c->in_pending);
        drain_start(c);
        return;
    }
    conn_lost(c, SEAM_ECONNRESET);
}

static uint32_t raw_id_of(const seam__frame *f)
{
    const uint8_t *p = f->payload;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void on_reply(seam_conn *c, const seam__frame *f, const int *fds)
{
    seam__call *k = call_find(c, f->h.id);
    if (k == NULL) {
        close_fds(fds, f->h.nfds);
        return; /* it timed out or was cancelled: answers race with that */
    }
    seam_reply r = {.status = 0};
    seam_value *v = NULL;
    if (f->h.kind == SEAM__KIND_PONG) {
        /* nothing to decode */
    } else if (f->h.kind == SEAM__KIND_ERROR) {
        seam_decode_limits lim = c->cfg.limits;
        int d = seam__decode(f->payload, f->h.len, &lim, NULL, 0, &v);
        int64_t code = 0;
        const char *msg = NULL;
        if (d < 0 || !seam_dict_get_int64(v, "code", &code) || code >= 0 || code < INT32_MIN ||
            (msg = seam_dict_get_string(v, "message")) == NULL) {
            seam_value_unref(v);
            conn_fail(c, d < 0 ? d : SEAM_EPROTO);
            return;
        }
        r.status = SEAM_EREMOTE;
        r.remote_code = (int)code;
        r.remote_message = msg;
        r.value = seam_dict_get(v, "data");
    } else if ((f->h.flags & SEAM__FLAG_RAW) != 0) {
        r.raw = true;
        r.raw_id = raw_id_of(f);
        r.raw_bytes = f->payload + SEAM__FRAME_RAW_ID_SIZE;
        r.raw_len = f->h.len - SEAM__FRAME_RAW_ID_SIZE;
    } else {
        int d = seam__decode(f->payload, f->h.len, &c->cfg.limits, fds, f->h.nfds, &v);
        if (d < 0) {
            close_fds(fds, f->h.nfds);
            conn_fail(c, d);
            return;
        }
        r.value = v;
    }
    close_fds(fds, f->h.nfds);
    call_remove(c, k);
    c->stats.calls_in_flight = c->calls_len;
    if (k == c->sync_call) {
        k->done = true;
        k->status = r.status;
        if (r.raw) {
            k->result = seam_value_new_data(r.raw_bytes, r.raw_len);
        } else {
            k->result = v != NULL ? seam_value_ref(v) : NULL;
        }
        seam_value_unref(v);
        return;
    }
    run_reply(c, k, &r);
    seam_value_unref(v);
}

static void on_request_or_message(seam_conn *c, const seam__frame *f, const int *fds)
{
    seam_event ev = {.type =
                         f->h.kind == SEAM__KIND_REQUEST ? SEAM_EVENT_REQUEST : SEAM_EVENT_MESSAGE};
    if ((f->h.flags & SEAM__FLAG_RAW) != 0) {
        ev.raw = true;
        ev.raw_id = raw_id_of(f);
        ev.raw_bytes = f->payload + SEAM__FRAME_RAW_ID_SIZE;
        ev.raw_len = f->h.len - SEAM__FRAME_RAW_ID_SIZE;
        ev.fds = fds;
        ev.nfds = f->h.nfds;
    } else {
        int d = seam__decode(f->payload, f->h.len, &c->cfg.limits, fds, f->h.nfds, &ev.value);
        close_fds(fds, f->h.nfds);
        if (d < 0 && ev.type == SEAM_EVENT_REQUEST) {
            /* The frame itself was sound: the caller hears why, the
             * connection goes on. */
            queue_error(c, f->h.id, d, seam_strerror(d), NULL);
            return;
        }
        if (d < 0) {
            conn_fail(c, d);
            return;
        }
    }
    seam_request *req = NULL;
    if (ev.type == SEAM_EVENT_REQUEST) {
        req = c->spare_req;
        if (req != NULL) {
            c->spare_req = NULL;
            memset(req, 0, sizeof(*req));
        } else {
            req = calloc(1, sizeof(*req));
        }
        if (req == NULL) {
            seam_value_unref(ev.value);
            if (ev.raw) {
                close_fds(fds, f->h.nfds);
            }
            queue_error(c, f->h.id, SEAM_ENOMEM, "out of memory", NULL);
            return;
        }
        req->conn = c;
        req->gen = c->gen;
        req->id = f->h.id;
        req->in_event = true;
        ev.request = req;
    }
    if (req == NULL || !(seam__status_answer(c, req, f) || seam__monitor_request(c, req, f))) {
        emit(c, &ev);
    }
    if (ev.raw) {
        close_fds(fds, f->h.nfds);
    }
    seam_value_unref(ev.value);
    if (req == NULL) {
        return;
    }
    /* The callback is over: a request answered (or dropped) during it goes
     * now, kept or not; a kept one still unanswered is the user's to end. */
    req->in_event = false;
    if (req->kept && !req->answered) {
        return;
    }
    if (req->kept) {
        request_unlink(req);
    } else if (!req->answered) {
        seam_request_reply_error(req, SEAM_ENOTSUP, "request not handled", NULL);
    }
    if (c->spare_req == NULL) {
        c->spare_req = req; /* for the next request: none allocates */
    } else {
        free(req);
    }
}

static void handle_frame(seam_conn *c, const seam__frame *f, const int *fds)
{
    if (SEAM__MONITORED(c)) {
        seam__monitor_frame_in(c, f);
    }
    c->stats.messages_in++;
    uint8_t kind = f->h.kind;
    if (kind == SEAM__KIND_HELLO) {
        on_hello(c, f);
        return;
    }
    if (c->state != SEAM__CONN_OPEN) {
        close_fds(fds, f->h.nfds);
        conn_fail(c, SEAM_EHANDSHAKE);
        return;
    }
    if (kind != SEAM__KIND_GOODBYE && c->connected_due) {
        connected_settle(c); /* CONNECTED comes before what followed the hello */
        if (c->fd < 0 || c->user_closed) {
            close_fds(fds, f->h.nfds);
            return;
        }
    }
    switch (kind) {
    case SEAM__KIND_PING:
        queue_empty_frame(c, SEAM__KIND_PONG, f->h.id);
        return;
    case SEAM__KIND_GOODBYE:
        on_goodbye(c, f);
        return;
    case SEAM__KIND_CANCEL:
        return; /* handlers run to completion here; the answer is discarded */
    default:
        break;
    }
    if (c->sync_call != NULL) {
        /* A sync wait takes its own answer and sets the rest aside. */
        bool mine =
            (kind == SEAM__KIND_REPLY || kind == SEAM__KIND_ERROR || kind == SEAM__KIND_PONG) &&
            f->h.id == c->sync_call->id;
        if (!mine) {
            hold_frame(c, f, fds);
            return;
        }
    }
    switch (kind) {
    case SEAM__KIND_PONG: {
        seam__call *k = call_find(c, f->h.id);
        if (k != NULL && k->ping) {
            on_reply(c, f, fds);
        }
        return;
    }
    case SEAM__KIND_REPLY:
    case SEAM__KIND_ERROR:
        on_reply(c, f, fds);
        return;
    default:
        on_request_or_message(c, f, fds);
        return;
    }
}

static void deliver_held(seam_conn *c)
{
    uint64_t gen = c->gen;
    while (c->held_head != NULL && c->sync_call == NULL && c->gen == gen &&
           c->state == SEAM__CONN_OPEN && !c->user_closed) {
        seam__held *h = c->held_head;
        c->held_head = h->next;
        if (c->held_head == NULL) {
            c->held_tail = &c->held_head;
        }
        if (!h->connected) {
            c->held_bytes -= held_cost(&h->h);
            c->held_fds -= h->h.nfds;
        }
        if (h->connected) {
            seam_event ev = {.type = SEAM_EVENT_CONNECTED};
            emit(c, &ev);
        } else {
            seam__frame f = {h->h, h->payload};
            h->h.nfds = 0; /* handed over */
            handle_frame(c, &f, h->fds);
        }
        held_free(h);
    }
}

static void conn_on_ready(void *owner, unsigned events)
{
    seam_conn *c = owner;
    conn_ref(c);
    c->dispatching++;
    if (c->lost != 0) {
        lost_report(c); /* a loss in a sync wait, before the new socket's news */
    }
    if ((events & SEAM_WRITE) != 0) {
        flush(c);
    }
    if ((events & SEAM_READ) != 0 && c->fd >= 0) {
        if (c->held_head != NULL) {
            deliver_held(c); /* keep arrival order */
        }
        read_input(c);
    }
    c->dispatching--;
    conn_unref(c);
}

static void conn_kick_fired(seam__timer *t)
{
    seam_conn *c = (seam_conn *)((char *)t - offsetof(seam_conn, kick));
    conn_ref(c);
    c->dispatching++;
    run_done_calls(c);
    lost_report(c);
    if (c->fail_due != 0 && c->sync_call == NULL) {
        int err = c->fail_due;
        c->fail_due = 0;
        conn_lost(c, err);
    }
    deliver_held(c);
    if (c->in_pending.len > 0 && !c->read_paused && c->fd >= 0 && c->sync_call == NULL) {
        read_input(c);
    }
    /* WRITABLE is news of a live connection: never after its end, and
     * during a handshake it waits for CONNECTED (connected_settle). */
    if (c->writable_due && !c->user_closed && c->state == SEAM__CONN_OPEN && !c->connected_due) {
        c->writable_due = false;
        seam_event ev = {.type = SEAM_EVENT_WRITABLE};
        emit(c, &ev);
    }
    if (c->shrink_due) {
        out_shrink(c);
    }
    c->dispatching--;
    bool more = c->done_head != NULL || (c->held_head != NULL && c->state == SEAM__CONN_OPEN);
    if (more && !c->user_closed) {
        seam__timer_start(c->loop, &c->kick, 0);
    } else if (c->kick_ref && !seam__timer_armed(&c->kick)) {
        c->kick_ref = false;
        conn_unref(c);
    }
    conn_unref(c);
}

/* ---- public: sending ---- */

/* Makes sure a client has a live socket, reconnecting one that lost it. */
static int ready_to_send(seam_conn *c)
{
    if (c->user_closed || c->state == SEAM__CONN_CLOSED) {
        return SEAM_ECLOSED;
    }
    if (c->state == SEAM__CONN_DOWN) {
        return client_connect(c);
    }
    return 0;
}

int seam_conn_send(seam_conn *conn, const seam_value *msg)
{
    if (conn == NULL || msg == NULL) {
        return SEAM_EINVAL;
    }
    seam__loop_enter(conn->loop);
    int r = ready_to_send(conn);
    if (r == 0) {
        r = queue_value(conn, SEAM__KIND_MESSAGE, 0, msg, true);
    }
    seam__loop_leave(conn->loop);
    return r;
}

int seam_conn_send_raw(seam_conn *conn, uint32_t id, const void *bytes, size_t len)
{
    if (conn == NULL || (bytes == NULL && len > 0)) {
        return SEAM_EINVAL;
    }
    seam__loop_enter(conn->loop);
    int r = ready_to_send(conn);
    if (r == 0) {
        r = queue_raw(conn, SEAM__KIND_MESSAGE, 0, id, bytes, len, true);
    }
    seam__loop_leave(conn->loop);
    return r;
}

/* Queues a raw message whose payload stays in the caller's memory: only
 * its header and raw id go into the queue. */
static int queue_raw_external(seam_conn *c, uint32_t raw_id, const void *bytes, size_t len,
                              seam_release_fn release, void *userdata)
{
    if (len > UINT32_MAX - SEAM__FRAME_RAW_ID_SIZE ||
        len + SEAM__FRAME_RAW_ID_SIZE > peer_max_frame(c)) {
        return SEAM_EMSGSIZE;
    }
    size_t frame = SEAM__FRAME_HEADER_SIZE + SEAM__FRAME_RAW_ID_SIZE + len;
    if (queued(c) > 0 && queued(c) + frame > c->cfg.max_queue) {
        c->want_writable = true;
        return SEAM_EAGAIN;
    }
    if (c->ext_len == c->ext_cap) {
        if (c->ext_head > 0) {
            memmove(c->ext, c->ext + c->ext_head, (c->ext_len - c->ext_head) * sizeof(*c->ext));
            c->ext_len -= c->ext_head;
            c->ext_head = 0;
        } else {
            size_t cap = c->ext_cap ? c->ext_cap * 2 : 8;
            seam__extrec *ext = realloc(c->ext, cap * sizeof(*ext));
            if (ext == NULL) {
                return SEAM_ENOMEM;
            }
            c->ext = ext;
            c->ext_cap = cap;
        }
    }
    size_t start;
    int r = frame_begin(c, &start);
    if (r == 0 && (r = seam__buf_reserve(&c->out, SEAM__FRAME_RAW_ID_SIZE)) < 0) {
        c->out.len = start;
    }
    if (r < 0) {
        return r;
    }
    uint8_t *p = c->out.data + c->out.len;
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(raw_id >> (8 * i));
    }
    c->out.len += SEAM__FRAME_RAW_ID_SIZE;
    seam__frame_header h = {(uint32_t)(SEAM__FRAME_RAW_ID_SIZE + len), SEAM__KIND_MESSAGE,
                            SEAM__FLAG_RAW, 0, 0};
    seam__frame_header_write(c->out.data + start, &h);
    c->ext[c->ext_len++] = (seam__extrec){c->out.len, bytes, len, 0, release, userdata};
    c->ext_queued += len;
    c->stats.messages_out++;
    if (SEAM__MONITORED(c)) {
        seam__monitor_frame(c, true, c->out.data + start,
                            SEAM__FRAME_HEADER_SIZE + SEAM__FRAME_RAW_ID_SIZE, bytes, len);
    }
    schedule_flush(c);
    return 0;
}

int seam_conn_send_raw_nocopy(seam_conn *conn, uint32_t id, const void *bytes, size_t len,
                              seam_release_fn release, void *userdata)
{
    if (conn == NULL || bytes == NULL || release == NULL) {
        return SEAM_EINVAL;
    }
    seam__loop_enter(conn->loop);
    int r = ready_to_send(conn);
    if (r == 0 && (conn->state != SEAM__CONN_OPEN || len < NOCOPY_MIN)) {
        /* Copying is cheaper than the bookkeeping for small payloads, and
         * before the handshake only copied frames may wait. */
        r = queue_raw(conn, SEAM__KIND_MESSAGE, 0, id, bytes, len, true);
        if (r == 0) {
            release(bytes, userdata);
        }
    } else if (r == 0) {
        r = queue_raw_external(conn, id, bytes, len, release, userdata);
    }
    seam__loop_leave(conn->loop);
    return r;
}

static seam__call *call_new(seam_conn *c, seam_reply_fn cb, void *userdata)
{
    seam__call *k = c->spare_call;
    if (k != NULL) {
        c->spare_call = NULL;
        memset(k, 0, sizeof(*k));
    } else if ((k = calloc(1, sizeof(*k))) == NULL) {
        return NULL;
    }
    k->conn = c;
    k->id = c->next_id++;
    if (c->next_id == 0) {
        c->next_id = 1;
    }
    k->cb = cb;
    k->userdata = userdata;
    seam__timer_init(&k->timer, call_expired);
    return k;
}

/* Registers k (its request already queued) and arms its timeout. */
static int call_register(seam_conn *c, seam__call *k, int timeout_ms)
{
    int r = call_insert(c, k);
    if (r < 0) {
        return r;
    }
    if (timeout_ms > 0) {
        seam__timer_start(c->loop, &k->timer, (uint64_t)timeout_ms);
    }
    c->stats.calls_in_flight = c->calls_len;
    return 0;
}

static void call_expired(seam__timer *t)
{
    seam__call *k = (seam__call *)((char *)t - offsetof(seam__call, timer));
    seam_conn *c = k->conn;
    conn_ref(c);
    c->dispatching++;
    call_remove(c, k);
    c->stats.calls_in_flight = c->calls_len;
    if (c->state == SEAM__CONN_OPEN && !k->ping) {
        queue_empty_frame(c, SEAM__KIND_CANCEL, k->id);
    }
    queue_cut_call(c, k->id);
    seam_reply r = {.status = SEAM_ETIMEDOUT};
    run_reply(c, k, &r);
    c->dispatching--;
    conn_unref(c);
}

static int call_start(seam_conn *c, const seam_value *msg, uint32_t raw_id, const void *bytes,
                      size_t len, int timeout_ms, seam_reply_fn cb, void *userdata,
                      uint64_t *call_id, bool ping)
{
    if (timeout_ms == 0 || timeout_ms < SEAM_NO_TIMEOUT) {
        return SEAM_EINVAL;
    }
    seam__loop_enter(c->loop);
    int r = ready_to_send(c);
    seam__call *k = r == 0 ? call_new(c, cb, userdata) : NULL;
    if (r == 0 && k == NULL) {
        r = SEAM_ENOMEM;
    }
    if (r == 0) {
        k->ping = ping;
        if (ping) {
            r = queue_ping(c, k->id);
        } else if (msg != NULL) {
            r = queue_value(c, SEAM__KIND_REQUEST, k->id, msg, true);
        } else {
            r = queue_raw(c, SEAM__KIND_REQUEST, k->id, raw_id, bytes, len, true);
        }
    }
    if (r == 0) {
        r = call_register(c, k, timeout_ms);
        if (r < 0) {
            /* The request is queued; an answer to it will be ignored. */
            free(k);
        } else if (call_id != NULL) {
            *call_id = k->id;
        }
    } else {
        free(k);
    }
    seam__loop_leave(c->loop);
    return r;
}

int seam_conn_call(seam_conn *conn, const seam_value *msg, int timeout_ms, seam_reply_fn cb,
                   void *userdata, uint64_t *call_id)
{
    if (conn == NULL || msg == NULL || cb == NULL) {
        return SEAM_EINVAL;
    }
    return call_start(conn, msg, 0, NULL, 0, timeout_ms, cb, userdata, call_id, false);
}

int seam_conn_call_raw(seam_conn *conn, uint32_t id, const void *bytes, size_t len, int timeout_ms,
                       seam_reply_fn cb, void *userdata, uint64_t *call_id)
{
    if (conn == NULL || (bytes == NULL && len > 0) || cb == NULL) {
        return SEAM_EINVAL;
    }
    return call_start(conn, NULL, id, bytes, len, timeout_ms, cb, userdata, call_id, false);
}

int seam_conn_ping(seam_conn *conn, int timeout_ms, seam_reply_fn cb, void *userdata)
{
    if (conn == NULL || cb == NULL) {
        return SEAM_EINVAL;
    }
    return call_start(conn, NULL, 0, NULL, 0, timeout_ms, cb, userdata, NULL, true);
}

int seam_conn_cancel(seam_conn *conn, uint64_t call_id)
{
    if (conn == NULL) {
        return SEAM_EINVAL;
    }
    seam__call *k = call_find(conn, call_id);
    if (k == NULL || k == conn->sync_call) {
        return SEAM_ENOCALL;
    }
    seam__loop_enter(conn->loop);
    if (conn->state == SEAM__CONN_OPEN && !k->ping) {
        queue_empty_frame(conn, SEAM__KIND_CANCEL, k->id);
    }
    queue_cut_call(conn, k->id);
    call_end_later(conn, k, SEAM_ECANCELED);
    conn->stats.calls_in_flight = conn->calls_len;
    seam__loop_leave(conn->loop);
    return 0;
}

/* ---- the sync call ---- */

/* Ends, as call_expired would, every other call on c whose timeout has
 * passed; their callbacks run from the loop once the sync call is over. */
static void sync_expire_calls(seam_conn *c, uint64_t now)
{
    for (size_t i = 0; i < c->calls_cap;) {
        seam__call *k = c->calls[i];
        if (k == NULL || k == c->sync_call || !seam__timer_armed(&k->timer) ||
            k->timer.due_ns > now) {
            i++;
            continue;
        }
        if (c->state == SEAM__CONN_OPEN && !k->ping) {
            queue_empty_frame(c, SEAM__KIND_CANCEL, k->id);
        }
        queue_cut_call(c, k->id);
        call_end_later(c, k, SEAM_ETIMEDOUT); /* slot i now holds the next, if any */
    }
    c->stats.calls_in_flight = c->calls_len;
}

/* The earliest timeout among c's other calls, 0 if none. */
static uint64_t sync_calls_due(const seam_conn *c)
{
    uint64_t due = 0;
    for (size_t i = 0; i < c->calls_cap; i++) {
        const seam__call *k = c->calls[i];
        if (k != NULL && k != c->sync_call && seam__timer_armed(&k->timer) &&
            (due == 0 || k->timer.due_ns < due)) {
            due = k->timer.due_ns;
        }
    }
    return due;
}

static uint64_t sync_earliest(uint64_t a, uint64_t b)
{
    return a == 0 || (b != 0 && b < a) ? b : a;
}

/* Waits for k's answer on c alone, running no callback. The timers that
 * concern c keep their time meanwhile: the handshake timeout ends the
 * connection as the loop would, and other calls time out (their callbacks
 * wait for the loop). What arrives meanwhile is held, up to
 * cfg.max_queue bytes (at least one frame): past that it stops reading
 * and gives up with SEAM_ENOBUFS, since its answer may lie behind what it
 * would have to hold. */
static int sync_wait(seam_conn *c, seam__call *k, uint64_t deadline_ns)
{
    uint64_t calls_due = sync_calls_due(c);
    while (!k->done) {
        if (c->fd < 0) {
            return SEAM_ECLOSED;
        }
        if (held_full(c)) {
            return SEAM_ENOBUFS;
        }
        if (flush(c) < 0) {
            /* keep reading: the reset shows up there */
        }
        uint64_t now = seam__now_ns();
        if (seam__timer_armed(&c->handshake_timer) && c->handshake_timer.due_ns <= now) {
            seam__timer_stop(c->loop, &c->handshake_timer);
            handshake_expired(&c->handshake_timer); /* ends k with SEAM_EHANDSHAKE */
            continue;
        }
        if (calls_due != 0 && calls_due <= now) {
            sync_expire_calls(c, now);
            calls_due = sync_calls_due(c);
        }
        if (deadline_ns != 0 && now >= deadline_ns) {
            return SEAM_ETIMEDOUT;
        }
        uint64_t wake = sync_earliest(deadline_ns, calls_due);
        if (seam__timer_armed(&c->handshake_timer)) {
            wake = sync_earliest(wake, c->handshake_timer.due_ns);
        }
        int timeout = -1;
        if (wake != 0) {
            uint64_t left = (wake - now + 999999u) / 1000000u;
            timeout = left > INT32_MAX ? INT32_MAX : (int)left;
        }
        size_t limit = c->state == SEAM__CONN_OPEN ? c->out.len : c->hello_end;
        struct pollfd p = {c->fd, (short)(POLLIN | (c->out_off < limit ? POLLOUT : 0)), 0};
        int n = poll(&p, 1, timeout);
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        if (n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            read_input(c);
        }
    }
    return k->status;
}

int seam_conn_call_sync(seam_conn *conn, const seam_value *msg, int timeout_ms, seam_value **reply)
{
    if (conn == NULL || msg == NULL || reply == NULL || timeout_ms == 0 ||
        timeout_ms < SEAM_NO_TIMEOUT) {
        return SEAM_EINVAL;
    }
    *reply = NULL;
    seam_conn *c = conn;
    if (c->dispatching > 0 || c->sync_call != NULL) {
        /* Its own callbacks are running: the read path is in use. */
        return SEAM_EBUSY;
    }
    if (held_full(c)) {
        /* An earlier sync call held all it may: the loop delivers that
         * first, and this request is not sent. */
        return SEAM_ENOBUFS;
    }
    seam__loop_enter(c->loop);
    conn_ref(c);
    int r = ready_to_send(c);
    seam__call *k = r == 0 ? call_new(c, NULL, NULL) : NULL;
    if (r == 0 && k == NULL) {
        r = SEAM_ENOMEM;
    }
    if (r == 0) {
        r = queue_value(c, SEAM__KIND_REQUEST, k->id, msg, true);
    }
    if (r == 0) {
        r = call_insert(c, k);
    }
    if (r < 0) {
        free(k);
        conn_unref(c);
        seam__loop_leave(c->loop);
        return r;
    }
    c->sync_call = k;
    uint64_t deadline = timeout_ms > 0 ? seam__now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
    r = sync_wait(c, k, deadline);
    c->sync_call = NULL;
    if (!k->done) {
        call_remove(c, k);
        if (c->state == SEAM__CONN_OPEN) {
            queue_empty_frame(c, SEAM__KIND_CANCEL, k->id);
        }
        queue_cut_call(c, k->id);
    }
    if (r == 0 || r == SEAM_EREMOTE) {
        *reply = k->result;
    } else {
        seam_value_unref(k->result);
    }
    free(k);
    c->stats.calls_in_flight = c->calls_len;
    if (c->held_head != NULL || c->lost != 0) {
        kick(c);
    }
    conn_unref(c);
    seam__loop_leave(c->loop);
    return r;
}

/* ---- public: closing and inspecting ---- */

static void queue_goodbye_and_flush(seam_conn *c)
{
    seam_value *bye = seam_value_new_dict();
    if (bye != NULL && seam_dict_set_string(bye, "reason", "closed") == 0) {
        queue_value(c, SEAM__KIND_GOODBYE, 0, bye, false);
    }
    seam_value_unref(bye);
    flush(c);
}

/* The end of a close that waited for the peer's hello: what was queued
 * goes out now if the socket takes it, then the goodbye. */
static void close_after_hello(seam_conn *c)
{
    queue_goodbye_and_flush(c);
    drop_transport(c);
    c->state = SEAM__CONN_CLOSED;
}

/* Before the peer's hello nothing but ours may be sent, so a client closed
 * with sends queued behind its hello keeps its socket until that hello
 * arrives (close_after_hello) or the handshake times out: the watch's
 * reference keeps it, and no event reaches the user. */
static bool close_waits_for_hello(const seam_conn *c)
{
    return c->state == SEAM__CONN_HANDSHAKE && c->fd >= 0 && c->server == NULL &&
           c->out.len > c->hello_end && !c->loop->freeing;
}

static void conn_close(seam_conn *c)
{
    if (c->user_closed) {
        if (c->fd >= 0 && c->state == SEAM__CONN_HANDSHAKE) {
            /* Still waiting for the hello, and the loop is going away. */
            drop_transport(c);
            c->state = SEAM__CONN_CLOSED;
        }
        return;
    }
    c->user_closed = true;
    if (c->state == SEAM__CONN_OPEN && c->fd >= 0) {
        queue_goodbye_and_flush(c);
    }
    if (!close_waits_for_hello(c)) {
        drop_transport(c);
        c->state = SEAM__CONN_CLOSED;
    }
    /* One pass over the table, not a search from its start per call. */
    for (size_t i = 0; i < c->calls_cap && c->calls_len > 0; i++) {
        seam__call *k = c->calls[i];
        if (k == NULL) {
            continue;
        }
        c->calls[i] = NULL;
        c->calls_len--;
        seam__timer_stop(c->loop, &k->timer);
        k->status = SEAM_ECANCELED;
        k->next_done = NULL;
        *c->done_tail = k;
        c->done_tail = &k->next_done;
    }
    if (c->done_head != NULL) {
        kick(c);
    }
    c->stats.calls_in_flight = 0;
    server_unlink(c);
    conn_unref(c); /* the user's (or the server's) reference */
}

void seam__conn_drop(seam_conn *c, int code, const char *reason)
{
    if (c->state != SEAM__CONN_OPEN || c->fd < 0) {
        return;
    }
    seam__loop_enter(c->loop);
    seam_value *bye = seam_value_new_dict();
    if (bye != NULL && seam_dict_set_int64(bye, "code", code) == 0 &&
        seam_dict_set_string(bye, "reason", reason) == 0) {
        queue_value(c, SEAM__KIND_GOODBYE, 0, bye, false);
    }
    seam_value_unref(bye);
    flush(c);
    conn_lost(c, code);
    seam__loop_leave(c->loop);
}

void seam_conn_close(seam_conn *conn)
{
    if (conn == NULL) {
        return;
    }
    seam_loop *loop = conn->loop;
    seam__loop_enter(loop);
    conn_close(conn);
    seam__loop_leave(loop);
}

/* Loop teardown: close what is left and run the call completions now. */
void seam__conn_close_all(seam_loop *loop)
{
    for (seam_conn *c = loop->conns; c != NULL;) {
        conn_ref(c);
        conn_close(c);
        if (seam__timer_armed(&c->kick)) {
            seam__timer_stop(loop, &c->kick);
            conn_kick_fired(&c->kick);
        }
        seam_conn *next = c->next;
        conn_unref(c);
        c = next;
    }
}

int seam_conn_creds(seam_conn *conn, seam_creds *out)
{
    if (conn == NULL || out == NULL) {
        return SEAM_EINVAL;
    }
    if (conn->state == SEAM__CONN_CLOSED || conn->state == SEAM__CONN_DOWN) {
        return SEAM_ECLOSED;
    }
    *out = conn->creds; /* a pidfd only if seam_conn_pidfd made one */
    return 0;
}

int seam_conn_pidfd(seam_conn *conn)
{
    if (conn == NULL) {
        return SEAM_EINVAL;
    }
    if (conn->state == SEAM__CONN_CLOSED || conn->state == SEAM__CONN_DOWN) {
        return SEAM_ECLOSED;
    }
    if (conn->creds.pidfd < 0 && !conn->pidfd_asked && conn->fd >= 0) {
        conn->pidfd_asked = true; /* once: where the kernel has none, -1 stays */
        conn->creds.pidfd = seam__unix_peer_pidfd(conn->fd);
    }
    return conn->creds.pidfd >= 0 ? conn->creds.pidfd : SEAM_ENOTSUP;
}

void seam_conn_get_stats(const seam_conn *conn, seam_conn_stats *out)
{
    if (conn != NULL && out != NULL) {
        *out = conn->stats;
    }
}

void seam_conn_set_data(seam_conn *conn, void *data)
{
    if (conn != NULL) {
        conn->data = data;
    }
}

void *seam_conn_data(const seam_conn *conn)
{
    return conn != NULL ? conn->data : NULL;
}

seam_server *seam_conn_server(const seam_conn *conn)
{
    return conn != NULL ? conn->server : NULL;
}

/* ---- requests ---- */

static int request_answerable(seam_request *req)
{
    if (req->answered) {
        return SEAM_EINVAL;
    }
    req->answered = true;
    seam_conn *c = req->conn;
    if (c == NULL || c->gen != req->gen || c->state != SEAM__CONN_OPEN || c->user_closed) {
        return SEAM_ECLOSED;
    }
    return 0;
}

static void request_unlink(seam_request *req)
{
    if (req->prev != NULL) {
        *req->prev = req->next;
        if (req->next != NULL) {
            req->next->prev = req->prev;
        }
        req->prev = NULL;
    }
}

/* One rule for every request: it lives until it has been answered (or
 * dropped) and its REQUEST callback has returned. Answered inside the
 * callback, kept or not, it is freed when the callback returns
 * (on_request_or_message); answered later, a kept one goes here. */
static void request_done(seam_request *req)
{
    if (req->kept && !req->in_event) {
        request_unlink(req);
        free(req);
    }
}

int seam_request_reply(seam_request *req, const seam_value *reply)
{
    if (req == NULL || reply == NULL) {
        return SEAM_EINVAL;
    }
    int r = request_answerable(req);
    if (r == 0) {
        seam__loop_enter(req->conn->loop);
        r = queue_value(req->conn, SEAM__KIND_REPLY, req->id, reply, false);
        if (r < 0) {
            /* The caller must still hear something. */
            queue_error(req->conn, req->id, r, "reply could not be sent", NULL);
        }
        seam__loop_leave(req->conn->loop);
    }
    request_done(req);
    return r;
}

int seam_request_reply_raw(seam_request *req, uint32_t id, const void *bytes, size_t len)
{
    if (req == NULL || (bytes == NULL && len > 0)) {
        return SEAM_EINVAL;
    }
    int r = request_answerable(req);
    if (r == 0) {
        seam__loop_enter(req->conn->loop);
        r = queue_raw(req->conn, SEAM__KIND_REPLY, req->id, id, bytes, len, false);
        if (r < 0) {
            queue_error(req->conn, req->id, r, "reply could not be sent", NULL);
        }
        seam__loop_leave(req->conn->loop);
    }
    request_done(req);
    return r;
}

int seam_request_reply_error(seam_request *req, int code, const char *message,
                             const seam_value *data)
{
    if (req == NULL || code >= 0) {
        return SEAM_EINVAL;
    }
    int r = request_answerable(req);
    if (r == 0) {
        seam__loop_enter(req->conn->loop);
        r = queue_error(req->conn, req->id, code, message, data);
        if (r < 0 && data != NULL) {
            queue_error(req->conn, req->id, code, message, NULL);
        }
        seam__loop_leave(req->conn->loop);
    }
    request_done(req);
    return r;
}

seam_request *seam_request_keep(seam_request *req)
{
    if (req == NULL || req->kept || req->answered) {
        return req;
    }
    req->kept = true;
    seam_conn *c = req->conn;
    if (c != NULL) {
        req->next = c->kept;
        if (c->kept != NULL) {
            c->kept->prev = &req->next;
        }
        c->kept = req;
        req->prev = &c->kept;
    }
    return req;
}

void seam_request_drop(seam_request *req)
{
    if (req == NULL) {
        return;
    }
    if (!req->answered) {
        seam_request_reply_error(req, SEAM_ECANCELED, "request dropped", NULL);
        return;
    }
    request_done(req);
}

seam_conn *seam_request_conn(const seam_request *req)
{
    if (req == NULL || req->conn == NULL || req->conn->gen != req->gen || req->conn->user_closed) {
        return NULL;
    }
    return req->conn;
}
