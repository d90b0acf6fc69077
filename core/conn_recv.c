/* SPDX-License-Identifier: MIT */
/* conn_recv.c - the receive path: the read buffer, the frame parser,
 * the store of received descriptors, pausing while answers pile up, and
 * the frames a sync call holds back. */
#include "conn_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void read_frames(seam_conn *c, uint8_t *rbuf);

void seam__conn_rfds_clear(seam_conn *c)
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

void seam__conn_held_clear(seam_conn *c)
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

/* Answers are queued whatever the bound (a request must hear something),
 * so a peer that sends requests or pings and reads nothing would grow its
 * queue without end. Instead reading from it pauses while more answers
 * wait than the queue bound plus the largest of them (a lone large reply
 * goes, as a lone large send does) and resumes at half that. */
size_t seam__conn_answers_pause_at(const seam_conn *c)
{
    return c->cfg.max_queue + c->ans_largest;
}

/* The pause point counting one more answer of size len: a lone large
 * answer behind small ones is let through as it would be alone. */
size_t seam__conn_answers_cap_with(const seam_conn *c, size_t len)
{
    return c->cfg.max_queue + (len > c->ans_largest ? len : c->ans_largest);
}

void seam__conn_read_pause_update(seam_conn *c)
{
    size_t at = seam__conn_answers_pause_at(c);
    if (c->ans_queued > at || c->ans_fds > c->cfg.max_queue_fds) {
        c->read_paused = true;
    } else if (c->ans_queued <= at / 2 && c->ans_fds <= c->cfg.max_queue_fds / 2 &&
               c->read_paused) {
        c->read_paused = false;
        if (c->in_pending.len > 0) {
            seam__conn_kick(c); /* what was read already will not show as readable */
        }
    }
}

/* While answers pile up, frames are not handled. A peer we are not waiting
 * on is not read either; while calls of ours are in flight on the
 * connection its input is still taken (unhandled, up to the hard cap):
 * else two peers answering each other's calls at once would stall each
 * other for good. */
bool seam__conn_input_stopped(const seam_conn *c)
{
    if (!c->read_paused || c->sync_call != NULL) {
        return false;
    }
    /* Descriptors taken unhandled are not claimed by their frames: one more
     * read could bring more than the store holds (rfds_append), which
     * would read as a violation. Input waits; the kick of the answers'
     * drain (seam__conn_read_pause_update) resumes it. */
    return seam__idmap_count(&c->calls) == 0 || c->rfds_len + SEAM__TRAN_MAX_RECV_FDS > RFDS_CAP;
}

/* Answers past the hard cap (the user answering kept requests of a peer
 * that does not read) end the connection, from the loop. */
void seam__conn_answers_overflow(seam_conn *c)
{
    if (c->fail_due == 0) {
        c->fail_due = SEAM_ENOBUFS;
    }
    c->read_paused = true;
    seam__conn_kick(c);
}

/* Whether this process has no descriptor left (its own limit or the
 * system's): a truncated receive then is ours, not the peer's. */
static bool out_of_descriptors(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == EMFILE || errno == ENFILE;
    }
    close(fd);
    return false;
}

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

void seam__conn_close_fds(const int *fds, size_t n)
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

void seam__conn_read_input(seam_conn *c)
{
    seam_loop *loop = c->loop;
    uint8_t *rbuf = read_buffer_take(c);
    if (rbuf == NULL) {
        seam__conn_lost(c, SEAM_ENOMEM);
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
        seam__conn_close_fds(fds, n);
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
    seam__conn_read_pause_update(c);
    return c->read_paused && c->sync_call == NULL;
}

/* Handles the frames in len bytes of data (or one the parser completed).
 * Returns false when reading must stop: the connection failed, ended or
 * started over, or answers piled up, and then what is left of data waits
 * in in_pending until they drain. */
static bool frames_handle(seam_conn *c, const uint8_t *data, size_t len, uint64_t gen)
{
    while (c->pipe != NULL && c->gen == gen && !c->loop->freeing && !c->goodbye_seen) {
        /* A sync call that holds all it may holds no more: the rest waits
         * in in_pending, which is handled after what is held. */
        if (len > 0 &&
            (answers_stop_reading(c) || (c->sync_call != NULL && seam__conn_held_full(c)))) {
            if (seam__buf_append(&c->in_pending, data, len) < 0) {
                seam__conn_lost(c, SEAM_ENOMEM);
            }
            seam__conn_update_interest(c);
            return false;
        }
        seam__frame f;
        int r = seam__frame_parser_next(&c->parser, &data, &len, &f);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            seam__conn_fail(c, r);
            return false;
        }
        c->frames_in++;
        int fds[MAX_FRAME_FDS];
        r = take_fds(c, f.h.nfds, fds);
        if (r < 0) {
            seam__conn_fail(c, r);
            return false;
        }
        seam__conn_handle_frame(c, &f, fds);
    }
    if (c->pipe == NULL || c->gen != gen || c->goodbye_seen) {
        return false;
    }
    if (c->rfds_len > rfds_allowed(c)) {
        seam__conn_fail(c, SEAM_EFRAMEFDS);
        return false;
    }
    if (c->connected_due) {
        seam__conn_connected_settle(c);
    }
    return c->pipe != NULL && c->gen == gen && !c->loop->freeing;
}

/* Input set aside while answers piled up goes first once they drained. */
static bool pending_handle(seam_conn *c)
{
    if (c->in_pending.len == 0) {
        return true;
    }
    if (answers_stop_reading(c)) {
        seam__conn_update_interest(c);
        return false;
    }
    seam__buf in = c->in_pending;
    c->in_pending = (seam__buf){0};
    bool more = frames_handle(c, in.data, in.len, c->gen);
    seam__buf_free(&in);
    if (c->pipe != NULL) {
        seam__conn_drain_check(c);
    }
    return more && c->in_pending.len == 0;
}

static void read_frames(seam_conn *c, uint8_t *rbuf)
{
    uint64_t gen = c->gen;
    if (!pending_handle(c) &&
        (c->pipe == NULL || c->gen != gen || !c->read_paused || c->loop->freeing)) {
        return;
    }
    /* A sync call that holds all it may reads no further (seam__conn_held_full). */
    for (int round = 0; round < READS_PER_READY && c->pipe != NULL &&
                        !(c->sync_call != NULL && seam__conn_held_full(c));
         round++) {
        if (c->draining) {
            if (c->sync_call != NULL) {
                seam__conn_lost(c, SEAM_ECONNRESET); /* a sync wait cannot wait for the drain */
            }
            return;
        }
        bool paused = answers_stop_reading(c);
        if (paused && seam__conn_input_stopped(c)) {
            seam__conn_update_interest(c);
            return;
        }
        if (paused && c->in_pending.len >= ANSWERS_HARD_CAP * seam__conn_answers_pause_at(c)) {
            seam__conn_answers_overflow(c);
            return;
        }
        bool truncated = false;
        int got[SEAM__TRAN_MAX_RECV_FDS];
        size_t ngot = 0;
        size_t cap = READ_BUF_SIZE;
        uint8_t *direct = NULL;
        const uint8_t *block = NULL;
        void *owner = NULL;
        ssize_t n;
        if (c->pipe->tran->recv_block != NULL) {
            /* The transport's own memory, parsed where it lies. */
            n = c->pipe->tran->recv_block(c->pipe, &block, &owner, got, SEAM__TRAN_MAX_RECV_FDS,
                                          &ngot, &truncated);
            cap = SIZE_MAX; /* read until there is nothing left */
        } else {
            /* The rest of a large payload goes straight where the frame
             * is collected rather than through the read buffer. */
            direct = paused ? NULL : seam__frame_parser_direct(&c->parser, READ_BUF_SIZE, &cap);
            n = c->pipe->tran->recv(c->pipe, direct != NULL ? direct : rbuf, cap, got,
                                    SEAM__TRAN_MAX_RECV_FDS, &ngot, &truncated);
        }
        if (ngot > 0 && !rfds_append(c, got, ngot)) {
            truncated = true;
        }
        if (n <= 0 || truncated) {
            free(owner);
        }
        if (n == SEAM_EAGAIN) {
            return;
        }
        if (n == 0) {
            if ((seam__conn_queued(c) > 0 || c->in_pending.len > 0) &&
                c->state == SEAM__CONN_OPEN && c->sync_call == NULL) {
                seam__conn_drain_start(c);
            } else {
                seam__conn_lost(c, SEAM_ECONNRESET);
            }
            return;
        }
        if (n == SEAM_EPROTO) {
            /* The transport found the peer breaking its rules (a shared
             * ring's index or length): a violation like a bad frame. */
            seam__conn_fail(c, SEAM_EPROTO);
            return;
        }
        if (n < 0) {
            seam__conn_lost(c, n == -EPIPE || n == -ECONNRESET ? SEAM_ECONNRESET : (int)n);
            return;
        }
        if (truncated && out_of_descriptors()) {
            /* The kernel dropped descriptors this process had no room
             * for: which frames lost them is unknown, so the connection
             * ends, but the peer broke no rule. */
            seam__conn_fail_ours(c, -EMFILE);
            return;
        }
        if (truncated) {
            seam__conn_fail(c, SEAM_EFRAMEFDS);
            return;
        }
        c->stats.bytes_in += (uint64_t)n;
        const uint8_t *data = block != NULL ? block : rbuf;
        if (paused) {
            /* Taken, not handled: it waits behind what already waits. */
            int r = seam__buf_append(&c->in_pending, data, (size_t)n);
            free(owner);
            if (r < 0) {
                seam__conn_lost(c, SEAM_ENOMEM);
                return;
            }
            if ((size_t)n < cap) {
                return;
            }
            continue;
        }
        size_t len = (size_t)n;
        if (direct != NULL) {
            seam__frame_parser_direct_done(&c->parser, (size_t)n);
            len = 0;
        }
        /* The block stays ours until its frames are handled, whatever their
         * callbacks do to the connection. */
        bool more = frames_handle(c, data, len, c->gen);
        free(owner);
        if (!more) {
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
 * up (seam__conn_sync_wait). */
static size_t held_cost(const seam__frame_header *h)
{
    return sizeof(seam__held) + h->len;
}

bool seam__conn_held_full(const seam_conn *c)
{
    return (c->held_bytes > c->cfg.max_queue || c->held_fds > HELD_MAX_FDS) &&
           c->held_head != NULL && c->held_head->next != NULL;
}

void seam__conn_hold_frame(seam_conn *c, const seam__frame *f, const int *fds)
{
    seam__held *h = calloc(1, sizeof(*h));
    uint8_t *payload = f->h.len > 0 ? malloc(f->h.len) : NULL;
    if (h == NULL || (f->h.len > 0 && payload == NULL)) {
        free(h);
        free(payload);
        seam__conn_close_fds(fds, f->h.nfds);
        seam__conn_lost(c, SEAM_ENOMEM); /* a frame cannot be lost silently */
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

void seam__conn_hold_connected(seam_conn *c)
{
    seam__held *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        seam__conn_lost(c, SEAM_ENOMEM);
        return;
    }
    h->connected = true;
    *c->held_tail = h;
    c->held_tail = &h->next;
}

void seam__conn_deliver_held(seam_conn *c)
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
            seam__conn_emit(c, &ev);
        } else {
            seam__frame f = {h->h, h->payload};
            h->h.nfds = 0; /* handed over */
            seam__conn_handle_frame(c, &f, h->fds);
        }
        held_free(h);
    }
}
