/* SPDX-License-Identifier: MIT */
/* conn_frames.c - handling one frame: hello, goodbye, reply, request
 * and message. */
#include "conn_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
        seam__conn_queue_cut(c, off, len);
        seam__call *k = h.kind == SEAM__KIND_REQUEST ? seam__conn_call_find(c, h.id) : NULL;
        if (k == NULL) {
            seam__log(c->loop, SEAM_LOG_WARN,
                      "a message of %u bytes sent before the handshake exceeds the peer's "
                      "limits: dropped",
                      (unsigned)h.len);
        } else if (k == c->sync_call) {
            seam__conn_call_remove(c, k);
            k->done = true;
            k->status = SEAM_EMSGSIZE;
        } else {
            seam__conn_call_end_later(c, k, SEAM_EMSGSIZE);
        }
    }
    c->stats.calls_in_flight = seam__idmap_count(&c->calls);
    c->stats.queued_bytes = seam__conn_queued(c);
}

static void on_hello(seam_conn *c, const seam__frame *f)
{
    if (c->state != SEAM__CONN_HANDSHAKE) {
        seam__conn_fail(c, SEAM_EPROTO);
        return;
    }
    c->parser.hello_max = 0;
    int r = f->h.len <= SEAM__HELLO_MIN_FRAME ? seam__hello_read(f->payload, f->h.len, &c->peer)
                                              : SEAM_EHANDSHAKE;
    if (r < 0) {
        seam__conn_fail(c, r); /* EHANDSHAKE, or the CBOR's own decode error */
        return;
    }
    if (c->peer.max_fds > seam__conn_our_max_fds(c)) {
        c->peer.max_fds = (uint32_t)seam__conn_our_max_fds(c);
    }
    if (c->peer.max_frame > UINT32_MAX) {
        c->peer.max_frame = UINT32_MAX; /* what a header's len can say */
    }
    drop_oversized_queued(c);
    c->state = SEAM__CONN_OPEN;
    seam__timer_stop(c->loop, &c->handshake_timer);
    if (c->user_closed) {
        seam__conn_close_after_hello(c); /* closed during the handshake (seam__conn_close) */
        return;
    }
    seam__log(c->loop, SEAM_LOG_INFO, "%s connected (pid %d, uid %u)",
              c->server != NULL ? "peer" : "server", (int)c->creds.pid, (unsigned)c->creds.uid);
    seam__conn_shm_begin(c);
    seam__conn_schedule_flush(c); /* what was queued before the handshake may go now */
    if (c->sync_call != NULL || c->held_head != NULL) {
        seam__conn_hold_connected(c);
        return;
    }
    /* A refusing server sends hello and goodbye in one write: CONNECTED
     * waits until the rest of this read is seen, so a refused client gets
     * INVALID alone (seam__conn_connected_settle). */
    c->connected_due = true;
}

/* Reports the handshake a hello completed, unless a goodbye with a code
 * followed it: then the connection never really opened. */
void seam__conn_connected_settle(seam_conn *c)
{
    if (!c->connected_due) {
        return;
    }
    c->connected_due = false;
    if (c->goodbye_code == 0) {
        seam_event ev = {.type = SEAM_EVENT_CONNECTED};
        seam__conn_emit(c, &ev);
    }
    if (c->writable_due) {
        seam__conn_kick(c);
    }
}

void seam__conn_goodbye_clear(seam_conn *c)
{
    free(c->goodbye_reason);
    free(c->goodbye_rule);
    c->goodbye_reason = NULL;
    c->goodbye_rule = NULL;
}

/* A string of the goodbye's, kept for the event that ends the connection
 * (NULL when absent or of another type). */
static char *goodbye_string(const seam_value *m, const char *key)
{
    const char *s = seam_dict_get_string(m, key);
    return s != NULL ? strdup(s) : NULL;
}

static void on_goodbye(seam_conn *c, const seam__frame *f)
{
    c->goodbye_code = 0;
    c->goodbye_seen = true;
    seam__conn_goodbye_clear(c);
    /* Bounded like any payload (max_frame, the value limits): a long
     * reason must not cost the code its meaning. */
    seam_value *m = NULL;
    if (f->h.len > 0 && seam__decode(f->payload, f->h.len, &c->cfg.limits, NULL, 0, &m) == 0) {
        int64_t code = 0;
        if (seam_dict_get_int64(m, "code", &code) && code < 0 && code > INT32_MIN) {
            c->goodbye_code = (int)code;
        }
        c->goodbye_reason = goodbye_string(m, "reason");
        c->goodbye_rule = goodbye_string(m, "rule");
        seam_value_unref(m);
    }
    /* The peer is closing: nothing after its goodbye is handled. The
     * answers to what it sent before go out first (its reading side may
     * still be open), within the handshake timeout; then the connection
     * ends as at a goodbye. */
    if (c->ans_queued > 0 && seam__conn_queued(c) > 0 && c->sync_call == NULL &&
        c->state == SEAM__CONN_OPEN) {
        seam__buf_free(&c->in_pending);
        seam__conn_drain_start(c);
        return;
    }
    seam__conn_lost(c, SEAM_ECONNRESET);
}

static uint32_t raw_id_of(const seam__frame *f)
{
    const uint8_t *p = f->payload;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void on_reply(seam_conn *c, const seam__frame *f, const int *fds)
{
    seam__call *k = seam__conn_call_find(c, f->h.id);
    if (k == NULL) {
        seam__conn_close_fds(fds, f->h.nfds);
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
            seam__conn_fail(c, d < 0 ? d : SEAM_EPROTO);
            return;
        }
        r.status = SEAM_EREMOTE;
        r.remote_code = (int)code;
        r.remote_message = msg;
        r.value = seam_dict_get(v, "data");
    } else if ((f->h.flags & SEAM__FLAG_MEMFD) != 0) {
        int d = seam__conn_raw_memfd_in(c, f, fds, &v); /* v: the bytes' mapping */
        if (d < 0) {
            seam__conn_close_fds(fds, f->h.nfds);
            seam__conn_fail(c, d);
            return;
        }
        r.raw = true;
        r.raw_id = raw_id_of(f);
        r.raw_bytes = seam_value_get_data(v, &r.raw_len);
        r.raw_memfd = v;
    } else if ((f->h.flags & SEAM__FLAG_RAW) != 0) {
        r.raw = true;
        r.raw_id = raw_id_of(f);
        r.raw_bytes = f->payload + SEAM__FRAME_RAW_ID_SIZE;
        r.raw_len = f->h.len - SEAM__FRAME_RAW_ID_SIZE;
    } else {
        seam__dec_memfd mf;
        int d = seam__decode_memfd(f->payload, f->h.len, &c->cfg.limits, fds, f->h.nfds,
                                   seam__conn_memfd_in(c, &mf), &v);
        if (d < 0) {
            seam__conn_close_fds(fds, f->h.nfds);
            seam__conn_fail(c, d);
            return;
        }
        r.value = v;
    }
    seam__conn_close_fds(fds, f->h.nfds);
    if ((f->h.flags & SEAM__FLAG_MORE) != 0) {
        r.more = true;
        if (seam__conn_call_more(c, k)) {
            seam__conn_run_reply_more(c, k, &r);
        }
        seam_value_unref(v);
        return;
    }
    seam__conn_call_remove(c, k);
    c->stats.calls_in_flight = seam__idmap_count(&c->calls);
    if (k == c->sync_call) {
        k->done = true;
        k->status = r.status;
        if (r.raw && r.raw_memfd == NULL) {
            k->result = seam_value_new_data(r.raw_bytes, r.raw_len);
        } else {
            k->result = v != NULL ? seam_value_ref(v) : NULL;
        }
        seam_value_unref(v);
        return;
    }
    seam__conn_run_reply(c, k, &r);
    seam_value_unref(v);
}

/* A payload refused (docs/protocol.md, "A refused value"): the frame
 * itself was sound, so a caller hears why and the connection goes on; a
 * message's refusal, or a violation, ends it. */
static void payload_refused(seam_conn *c, const seam__frame *f, int code)
{
    if (f->h.kind == SEAM__KIND_REQUEST && code != SEAM_EPROTO) {
        seam__conn_queue_error(c, f->h.id, code, seam_strerror(code), NULL);
    } else {
        seam__conn_fail(c, code);
    }
}

void seam__conn_on_request_or_message(seam_conn *c, const seam__frame *f, const int *fds)
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
        seam__dec_memfd mf;
        int d = seam__decode_memfd(f->payload, f->h.len, &c->cfg.limits, fds, f->h.nfds,
                                   seam__conn_memfd_in(c, &mf), &ev.value);
        seam__conn_close_fds(fds, f->h.nfds);
        if (d < 0) {
            payload_refused(c, f, d);
            return;
        }
    }
    if ((f->h.flags & SEAM__FLAG_MEMFD) != 0) {
        /* The bytes are the first descriptor's; the others follow it. */
        int d = seam__conn_raw_memfd_in(c, f, fds, &ev.raw_memfd);
        if (d < 0) {
            seam__conn_close_fds(fds, f->h.nfds);
            payload_refused(c, f, d);
            return;
        }
        ev.raw_bytes = seam_value_get_data(ev.raw_memfd, &ev.raw_len);
        ev.fds = fds + 1;
        ev.nfds = f->h.nfds - 1;
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
            seam_value_unref(ev.raw_memfd);
            if (ev.raw) {
                seam__conn_close_fds(fds, f->h.nfds);
            }
            seam__conn_queue_error(c, f->h.id, SEAM_ENOMEM, "out of memory", NULL);
            return;
        }
        req->conn = c;
        req->gen = c->gen;
        req->id = f->h.id;
        req->more = (f->h.flags & SEAM__FLAG_MORE) != 0;
        req->in_event = true;
        ev.request = req;
    }
    if (req == NULL || !(seam__status_answer(c, req, f) || seam__monitor_request(c, req, f))) {
        seam__conn_emit(c, &ev);
    }
    if (ev.raw) {
        seam__conn_close_fds(fds, f->h.nfds);
    }
    seam_value_unref(ev.value);
    seam_value_unref(ev.raw_memfd);
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
        seam__conn_request_unlink(req);
    } else if (!req->answered) {
        seam_request_reply_error(req, SEAM_ENOTSUP, "request not handled", NULL);
    }
    if (c->spare_req == NULL) {
        c->spare_req = req; /* for the next request: none allocates */
    } else {
        free(req);
    }
}

void seam__conn_handle_frame(seam_conn *c, const seam__frame *f, const int *fds)
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
        seam__conn_close_fds(fds, f->h.nfds);
        seam__conn_fail(c, SEAM_EHANDSHAKE);
        return;
    }
    if (kind != SEAM__KIND_GOODBYE && c->connected_due) {
        seam__conn_connected_settle(c); /* CONNECTED comes before what followed the hello */
        if (c->pipe == NULL || c->user_closed) {
            seam__conn_close_fds(fds, f->h.nfds);
            return;
        }
    }
    switch (kind) {
    case SEAM__KIND_SHM_SETUP:
        seam__conn_on_shm_setup(c, f, fds); /* the transport's: never held back */
        return;
    case SEAM__KIND_PING:
        seam__conn_queue_empty_frame(c, SEAM__KIND_PONG, f->h.id);
        return;
    case SEAM__KIND_GOODBYE:
        on_goodbye(c, f);
        return;
    case SEAM__KIND_CANCEL:
        /* Handlers run to completion here, their answer discarded; a
         * stream's responder is told (seam_request_reply_more). */
        seam__conn_stream_cancelled(c, f->h.id);
        return;
    default:
        break;
    }
    if (kind >= SEAM__KIND_SUBSCRIBE && c->sync_call == NULL) {
        seam__pubsub_frame(c, f);
        return;
    }
    if (c->sync_call != NULL) {
        /* A sync wait takes its own answer and sets the rest aside. */
        bool mine =
            (kind == SEAM__KIND_REPLY || kind == SEAM__KIND_ERROR || kind == SEAM__KIND_PONG) &&
            f->h.id == c->sync_call->id;
        if (!mine) {
            seam__conn_hold_frame(c, f, fds);
            return;
        }
    }
    switch (kind) {
    case SEAM__KIND_PONG: {
        seam__call *k = seam__conn_call_find(c, f->h.id);
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
        seam__conn_on_request_or_message(c, f, fds);
        return;
    }
}
