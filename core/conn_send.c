/* SPDX-License-Identifier: MIT */
/* conn_send.c - framing into the send queue: frames begun and ended
 * against the peer's limits and the queue bound, flush scheduling, and
 * the public one-way sends. */
#include "conn_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Before the handshake the peer's limit is unknown: assume it matches ours
 * and check again when its hello arrives (check_queued_sizes). */
static uint64_t peer_max_frame(const seam_conn *c)
{
    return c->state == SEAM__CONN_OPEN ? c->peer.max_frame : c->cfg.max_frame;
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

/* Completes the frame begun at start: checks its size against the peer
 * and the queue bound, writes its header, attaches fds (duplicated). */
static int frame_end_gathered(seam_conn *c, size_t start, uint8_t kind, uint8_t flags, uint64_t id,
                              const int *fds, size_t nfds, bool bounded, size_t gathered)
{
    /* Gathered payloads are part of the frame, referenced, not in out. */
    size_t len = c->out.len - start - SEAM__FRAME_HEADER_SIZE + gathered;
    size_t before = start - c->out_off + c->ext_queued - gathered;
    int r = 0;
    if (nfds > 0 && seam__conn_our_max_fds(c) == 0) {
        r = SEAM_EFD; /* the transport cannot carry descriptors at all */
    } else if (len > peer_max_frame(c) || (uint64_t)len > UINT32_MAX ||
               (nfds > 0 && c->state == SEAM__CONN_OPEN && nfds > c->peer.max_fds)) {
        r = SEAM_EMSGSIZE;
    } else if (bounded && before > 0 && before + len + SEAM__FRAME_HEADER_SIZE > c->cfg.max_queue) {
        c->want_writable = true;
        r = SEAM_EAGAIN;
    } else if (bounded && nfds > 0 && c->fdq_fds > 0 && c->fdq_fds + nfds > c->cfg.max_queue_fds) {
        c->want_writable = true;
        r = SEAM_EAGAIN;
    } else if (!bounded && ((c->ans_queued > 0 &&
                             c->ans_queued + len + SEAM__FRAME_HEADER_SIZE >
                                 ANSWERS_HARD_CAP * seam__conn_answers_cap_with(
                                                        c, len + SEAM__FRAME_HEADER_SIZE)) ||
                            (nfds > 0 && c->ans_fds > 0 &&
                             c->ans_fds + nfds > ANSWERS_HARD_CAP * c->cfg.max_queue_fds))) {
        r = SEAM_ENOBUFS;
        seam__conn_answers_overflow(c);
    }
    seam__fdrec *rec = NULL;
    if (r == 0 && nfds > 0) {
        rec = malloc(sizeof(*rec));
        r = rec != NULL ? seam__conn_fdq_reserve(c) : SEAM_ENOMEM;
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
        c->fdq_fds += nfds;
        c->ans_fds += bounded ? 0 : nfds;
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
    seam__conn_schedule_flush(c);
    return 0;
}

static int frame_end(seam_conn *c, size_t start, uint8_t kind, uint8_t flags, uint64_t id,
                     const int *fds, size_t nfds, bool bounded)
{
    return frame_end_gathered(c, start, kind, flags, id, fds, nfds, bounded, 0);
}

static int ext_reserve(seam_conn *c);

/* A message's large data values are written from where they lie: the
 * queue holds a reference to each (a value never changes while one is
 * held elsewhere: the dictionary setters then replace it). */
typedef struct gathering {
    seam_conn *conn;
    size_t count; /* records added for this frame, the last in the queue */
    size_t bytes;
} gathering;

static void gathered_release(const void *bytes, void *userdata)
{
    SEAM__UNUSED(bytes);
    seam_value_unref(userdata);
}

static int gather_data(void *ctx, const seam_value *v)
{
    gathering *g = ctx;
    seam_conn *c = g->conn;
    int r = ext_reserve(c);
    if (r < 0) {
        return r;
    }
    c->ext[c->ext_len++] =
        (seam__extrec){c->out.len, v->as.blob.bytes, v->as.blob.len,
                       0,          gathered_release, seam_value_ref((seam_value *)v)};
    c->ext_queued += v->as.blob.len;
    g->count++;
    g->bytes += v->as.blob.len;
    return 0;
}

static void gathering_undo(gathering *g)
{
    seam_conn *c = g->conn;
    for (; g->count > 0; g->count--) {
        seam__extrec x = c->ext[--c->ext_len];
        c->ext_queued -= x.len;
        x.release(x.bytes, x.userdata);
    }
}

int seam__conn_queue_value(seam_conn *c, uint8_t kind, uint64_t id, const seam_value *v,
                           bool bounded)
{
    return seam__conn_queue_value_flags(c, kind, 0, id, v, bounded);
}

int seam__conn_queue_value_flags(seam_conn *c, uint8_t kind, uint8_t flags, uint64_t id,
                                 const seam_value *v, bool bounded)
{
    size_t start;
    int r = frame_begin(c, &start);
    if (r < 0) {
        return r;
    }
    int fds[MAX_FRAME_FDS];
    size_t nfds = 0;
    /* Only a one-way message of an open connection, unmonitored: the rest
     * of the queue's users see frames whole in it (a handshake's queue is
     * walked frame by frame, a monitor copies frames from it). */
    gathering g = {c, 0, 0};
    bool gather =
        kind == SEAM__KIND_MESSAGE && bounded && c->state == SEAM__CONN_OPEN && !SEAM__MONITORED(c);
    seam__enc_memfd mf;
    r = seam__encode_gather(v, &c->out, fds, MAX_FRAME_FDS, &nfds, gather ? gather_data : NULL, &g,
                            NOCOPY_MIN, seam__conn_memfd_out(c, kind, &mf), peer_max_frame(c));
    if (r == 0) {
        r = frame_end_gathered(c, start, kind, flags, id, fds, nfds, bounded, g.bytes);
    }
    if (r < 0) {
        c->out.len = start;
        gathering_undo(&g);
    }
    return r;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

int seam__conn_queue_raw(seam_conn *c, uint8_t kind, uint64_t id, uint32_t raw_id,
                         const void *bytes, size_t len, bool bounded)
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
    put_le(p, raw_id, SEAM__FRAME_RAW_ID_SIZE);
    if (len > 0) {
        memcpy(p + 4, bytes, len);
    }
    c->out.len += SEAM__FRAME_RAW_ID_SIZE + len;
    return frame_end(c, start, kind, SEAM__FLAG_RAW, id, NULL, 0, bounded);
}

int seam__conn_queue_raw_memfd(seam_conn *c, uint8_t kind, uint64_t id, uint32_t raw_id, int fd,
                               uint64_t len, bool bounded)
{
    size_t start = c->out.len;
    int r = frame_begin(c, &start);
    if (r == 0) {
        r = seam__buf_reserve(&c->out, SEAM__FRAME_MEMFD_SIZE);
    }
    if (r < 0) {
        c->out.len = start;
        return r;
    }
    uint8_t *p = c->out.data + c->out.len;
    put_le(p, raw_id, SEAM__FRAME_RAW_ID_SIZE);
    put_le(p + SEAM__FRAME_RAW_ID_SIZE, len, SEAM__FRAME_MEMFD_SIZE - SEAM__FRAME_RAW_ID_SIZE);
    c->out.len += SEAM__FRAME_MEMFD_SIZE;
    return frame_end(c, start, kind, SEAM__FLAG_RAW | SEAM__FLAG_MEMFD, id, &fd, 1, bounded);
}

int seam__conn_queue_empty_frame(seam_conn *c, uint8_t kind, uint64_t id)
{
    size_t start;
    int r = frame_begin(c, &start);
    return r < 0 ? r : frame_end(c, start, kind, 0, id, NULL, 0, false);
}

/* A payload-less frame carrying descriptors (the shared-memory setup):
 * the transport's, not a message, so it is not counted as one. */
int seam__conn_queue_fds_frame(seam_conn *c, uint8_t kind, const int *fds, size_t nfds)
{
    size_t start;
    int r = frame_begin(c, &start);
    r = r < 0 ? r : frame_end(c, start, kind, 0, 0, fds, nfds, false);
    if (r == 0) {
        c->stats.messages_out--;
    }
    return r;
}

/* A ping is the user's send, bounded like any other (a pong is not). */
int seam__conn_queue_ping(seam_conn *c, uint64_t id)
{
    size_t start;
    int r = frame_begin(c, &start);
    return r < 0 ? r : frame_end(c, start, SEAM__KIND_PING, 0, id, NULL, 0, true);
}

int seam__conn_queue_error(seam_conn *c, uint64_t id, int code, const char *message,
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
        r = seam__conn_queue_value(c, SEAM__KIND_ERROR, id, m, false);
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
    if (seam__conn_queued(c) > 0 && seam__conn_queued(c) + len > c->cfg.max_queue) {
        c->want_writable = true;
        return SEAM_EAGAIN;
    }
    int r = seam__buf_append(&c->out, frame, len);
    if (r == 0) {
        c->stats.messages_out++;
        if (SEAM__MONITORED(c)) {
            seam__monitor_frame(c, true, frame, len, NULL, 0);
        }
        seam__conn_schedule_flush(c);
    }
    return r;
}

/* Writes wait for the end of the dispatch they were queued in, or outside
 * one for the next loop iteration, so that a burst of sends goes out in as
 * few writes as possible (one writev, not one per message). */
void seam__conn_schedule_flush(seam_conn *c)
{
    c->stats.queued_bytes = seam__conn_queued(c);
    if (c->pipe == NULL) {
        return;
    }
    seam__handle_flush_later(c->loop, &c->handle);
}

/* Makes sure a client has a live socket, reconnecting one that lost it. */
int seam__conn_ready_to_send(seam_conn *c)
{
    if (c->user_closed || c->state == SEAM__CONN_CLOSED) {
        return SEAM_ECLOSED;
    }
    if (c->state == SEAM__CONN_DOWN) {
        return seam__conn_client_connect(c);
    }
    return 0;
}

int seam_conn_send(seam_conn *conn, const seam_value *msg)
{
    if (conn == NULL || msg == NULL) {
        return SEAM_EINVAL;
    }
    seam__loop_enter(conn->loop);
    int r = seam__conn_ready_to_send(conn);
    if (r == 0) {
        r = seam__conn_queue_value(conn, SEAM__KIND_MESSAGE, 0, msg, true);
    }
    seam__loop_leave(conn->loop);
    return r;
}

static int send_raw_out(seam_conn *conn, const seam__raw_out *raw)
{
    seam__loop_enter(conn->loop);
    int r = seam__conn_ready_to_send(conn);
    if (r == 0) {
        r = seam__conn_queue_raw_out(conn, SEAM__KIND_MESSAGE, 0, raw, true);
    }
    seam__loop_leave(conn->loop);
    return r;
}

int seam_conn_send_raw(seam_conn *conn, uint32_t id, const void *bytes, size_t len)
{
    if (conn == NULL || (bytes == NULL && len > 0)) {
        return SEAM_EINVAL;
    }
    return send_raw_out(conn, &(seam__raw_out){id, bytes, len, -1});
}

int seam_conn_send_raw_memfd(seam_conn *conn, uint32_t id, int fd, size_t len)
{
    if (conn == NULL) {
        return SEAM_EINVAL;
    }
    int r = seam__conn_raw_memfd_seal(fd, len);
    return r < 0 ? r : send_raw_out(conn, &(seam__raw_out){id, NULL, len, fd});
}

/* Room for one more no-copy payload record. */
static int ext_reserve(seam_conn *c)
{
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
    return 0;
}

int seam__conn_queue_bytes_shared(seam_conn *c, const uint8_t *frame, size_t len,
                                  seam_release_fn release, void *userdata)
{
    if (c->state != SEAM__CONN_OPEN || c->user_closed) {
        return SEAM_ECLOSED;
    }
    if (len - SEAM__FRAME_HEADER_SIZE > peer_max_frame(c)) {
        return SEAM_EMSGSIZE;
    }
    if (seam__conn_queued(c) > 0 && seam__conn_queued(c) + len > c->cfg.max_queue) {
        c->want_writable = true;
        return SEAM_EAGAIN;
    }
    int r = ext_reserve(c);
    if (r == 0) {
        r = seam__buf_append(&c->out, frame, SEAM__FRAME_HEADER_SIZE);
    }
    if (r < 0) {
        return r;
    }
    size_t payload = len - SEAM__FRAME_HEADER_SIZE;
    c->ext[c->ext_len++] =
        (seam__extrec){c->out.len, frame + SEAM__FRAME_HEADER_SIZE, payload, 0, release, userdata};
    c->ext_queued += payload;
    c->stats.messages_out++;
    if (SEAM__MONITORED(c)) {
        seam__monitor_frame(c, true, frame, SEAM__FRAME_HEADER_SIZE,
                            frame + SEAM__FRAME_HEADER_SIZE, payload);
    }
    seam__conn_schedule_flush(c);
    return 0;
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
    if (seam__conn_queued(c) > 0 && seam__conn_queued(c) + frame > c->cfg.max_queue) {
        c->want_writable = true;
        return SEAM_EAGAIN;
    }
    int r = ext_reserve(c);
    if (r < 0) {
        return r;
    }
    size_t start;
    r = frame_begin(c, &start);
    if (r == 0 && (r = seam__buf_reserve(&c->out, SEAM__FRAME_RAW_ID_SIZE)) < 0) {
        c->out.len = start;
    }
    if (r < 0) {
        return r;
    }
    put_le(c->out.data + c->out.len, raw_id, SEAM__FRAME_RAW_ID_SIZE);
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
    seam__conn_schedule_flush(c);
    return 0;
}

int seam_conn_send_raw_nocopy(seam_conn *conn, uint32_t id, const void *bytes, size_t len,
                              seam_release_fn release, void *userdata)
{
    if (conn == NULL || bytes == NULL || release == NULL) {
        return SEAM_EINVAL;
    }
    seam__loop_enter(conn->loop);
    int r = seam__conn_ready_to_send(conn);
    if (r == 0 && (conn->state != SEAM__CONN_OPEN || len < NOCOPY_MIN)) {
        /* Copying is cheaper than the bookkeeping for small payloads, and
         * before the handshake only copied frames may wait. */
        r = seam__conn_queue_raw(conn, SEAM__KIND_MESSAGE, 0, id, bytes, len, true);
        if (r == 0) {
            release(bytes, userdata);
        }
    } else if (r == 0) {
        r = queue_raw_external(conn, id, bytes, len, release, userdata);
    }
    seam__loop_leave(conn->loop);
    return r;
}
