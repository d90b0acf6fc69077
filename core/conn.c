/* SPDX-License-Identifier: MIT */
/* conn.c - the connection object: references and freeing, deferred work
 * and events, the transitions when a transport connection is lost or the
 * peer breaks a rule, and the watch's readiness. */
#include "conn_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void lost_report(seam_conn *c);

void seam__conn_ref(seam_conn *c)
{
    c->refs++;
}

static void conn_free(seam_conn *c)
{
    assert(c->watch == NULL && seam__idmap_count(&c->calls) == 0 && c->done_head == NULL);
    seam__timer_stop(c->loop, &c->handshake_timer);
    seam__timer_stop(c->loop, &c->kick);
    for (struct seam_request *r = c->kept; r != NULL; r = r->next) {
        r->conn = NULL;
        r->prev = NULL;
    }
    seam__conn_held_clear(c);
    seam__handle_remove(&c->handle);
    seam__frame_parser_free(&c->parser);
    seam__buf_free(&c->out);
    seam__buf_free(&c->in_pending);
    seam__conn_fdq_clear(c);
    seam__conn_ext_clear(c);
    seam__conn_rfds_clear(c);
    if (c->creds.pidfd >= 0) {
        close(c->creds.pidfd);
    }
    free(c->fdq);
    free(c->ext);
    free(c->rfds);
    free(c->rbuf);
    seam__idmap_free(&c->calls);
    free(c->spare_call);
    free(c->spare_req);
    seam__conn_goodbye_clear(c);
    seam__pubsub_client_free(c);
    seam__pubsub_peer_free(c);
    free(c->path);
    seam__memfd_account_unref(c->memfd_account);
    if (c->endpoint_fd >= 0) {
        close(c->endpoint_fd);
    }
    free(c);
}

void seam__conn_unref(seam_conn *c)
{
    assert(c->refs > 0);
    if (--c->refs == 0) {
        conn_free(c);
    }
}

void seam__conn_kick(seam_conn *c)
{
    if (!c->kick_ref) {
        c->kick_ref = true;
        seam__conn_ref(c);
    }
    if (!seam__timer_armed(&c->kick)) {
        seam__timer_start(c->loop, &c->kick, 0);
    }
}

void seam__conn_emit(seam_conn *c, seam_event *ev)
{
    /* Once the loop is being freed only call completions still run. */
    if (c->cfg.on_event == NULL || c->user_closed || c->loop->freeing) {
        return;
    }
    c->cfg.on_event(c, ev, c->cfg.userdata);
}

void seam__conn_drop_transport(seam_conn *c)
{
    seam__timer_stop(c->loop, &c->handshake_timer);
    if (c->watch != NULL) {
        seam_watch *w = c->watch;
        c->watch = NULL;
        c->pipe = NULL;
        seam__watch_close(w); /* closes the pipe once the loop lets go */
    }
    c->out.len = 0;
    c->out_off = 0;
    c->hello_end = 0;
    seam__conn_fdq_clear(c);
    seam__conn_ext_clear(c);
    seam__conn_rfds_clear(c);
    seam__frame_parser_free(&c->parser);
    seam__frame_parser_init(&c->parser, c->cfg.max_frame);
    c->stats.queued_bytes = 0;
    /* The queue that was full went with the socket: no WRITABLE is owed
     * for it (the next send reconnects), least of all on a new socket. */
    c->want_writable = false;
    c->writable_due = false;
    /* What a sync call set aside came on this socket: it goes with it, so
     * that a reconnected client never takes it for the new server's. */
    seam__conn_held_clear(c);
}

/* Ends every call in flight with status, running callbacks now (inside a
 * dispatch) - each call exactly once, also if a callback closes c. */
static void fail_calls(seam_conn *c, int status)
{
    /* The table is taken whole, in one pass: calls a callback makes go
     * into a new one and are not ended here. */
    seam__idmap calls;
    seam__idmap_take(&c->calls, &calls);
    c->stats.calls_in_flight = 0;
    size_t pos = 0;
    seam__call *k;
    while ((k = seam__idmap_next(&calls, &pos, NULL)) != NULL) {
        seam__timer_stop(c->loop, &k->timer);
    }
    pos = 0;
    while ((k = seam__idmap_next(&calls, &pos, NULL)) != NULL) {
        if (k == c->sync_call) {
            k->done = true;
            k->status = status;
            continue;
        }
        seam_reply r = {.status = status};
        seam__conn_run_reply(c, k, &r);
    }
    seam__idmap_free(&calls);
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
    seam__conn_drop_transport(c);
    seam__idmap calls;
    seam__idmap_take(&c->calls, &calls); /* the whole table empties */
    size_t pos = 0;
    seam__call *k;
    while ((k = seam__idmap_next(&calls, &pos, NULL)) != NULL) {
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
    seam__idmap_free(&calls);
    c->stats.calls_in_flight = 0;
    if (c->lost != 0) {
        /* An earlier loss not reported yet: it was an interruption, since a
         * client reconnected after it. Each loss gets its event. */
        c->lost_earlier++;
    }
    c->lost = code;
    c->lost_invalid = invalid;
    seam__conn_kick(c);
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
        seam__conn_run_reply(c, k, &r);
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
        seam__conn_emit(c, &earlier);
    }
    seam_event ev = {.type = c->lost_invalid ? SEAM_EVENT_INVALID : SEAM_EVENT_INTERRUPTED,
                     .error = c->lost,
                     .reason = c->goodbye_reason,
                     .rule = c->goodbye_rule};
    bool invalid = c->lost_invalid;
    c->lost = 0;
    seam__conn_emit(c, &ev);
    if (invalid && c->server != NULL && !c->user_closed) {
        /* The server's reference goes with its peer. */
        c->user_closed = true;
        seam__conn_server_unlink(c);
        seam__conn_unref(c);
    }
}

void seam__conn_lost(seam_conn *c, int err)
{
    if (c->state == SEAM__CONN_DOWN || c->state == SEAM__CONN_CLOSED) {
        return;
    }
    if (c->sync_call != NULL) {
        conn_lost_in_sync(c, err);
        return;
    }
    seam__conn_ref(c);
    c->connected_due = false; /* it ended before it was reported open */
    bool invalid = lost_reading(c, err, &err);
    c->state = invalid ? SEAM__CONN_CLOSED : SEAM__CONN_DOWN;
    seam__log(c->loop, invalid && err != SEAM_ECONNRESET ? SEAM_LOG_WARN : SEAM_LOG_INFO,
              "%s connection %s: %s", c->server != NULL ? "peer" : "client",
              invalid ? "closed" : "interrupted", seam_strerror(err));
    seam__conn_drop_transport(c);
    c->dispatching++;
    fail_calls(c, SEAM_ECONNRESET);
    seam_event ev = {.type = invalid ? SEAM_EVENT_INVALID : SEAM_EVENT_INTERRUPTED,
                     .error = err,
                     .reason = c->goodbye_reason,
                     .rule = c->goodbye_rule};
    seam__conn_emit(c, &ev);
    c->dispatching--;
    if (c->server != NULL && !c->user_closed) {
        /* The server's reference goes with its peer. */
        c->user_closed = true;
        seam__conn_server_unlink(c);
        seam__conn_unref(c);
    }
    seam__conn_unref(c);
}

/* Tells the peer which rule it broke before hanging up: a goodbye with
 * the code, written now if its socket takes it. */
static void say_goodbye(seam_conn *c, int code)
{
    if (c->pipe == NULL || c->user_closed || c->state == SEAM__CONN_CONNECTING) {
        return;
    }
    if (c->state == SEAM__CONN_HANDSHAKE) {
        /* Only our hello may go before it; sends waiting for the
         * handshake never will. */
        c->out.len = c->hello_end;
        seam__conn_fdq_clear(c);
    }
    seam_value *bye = seam_value_new_dict();
    if (bye != NULL && seam_dict_set_int64(bye, "code", code) == 0 &&
        seam_dict_set_string(bye, "reason", seam_strerror(code)) == 0) {
        seam__conn_queue_value(c, SEAM__KIND_GOODBYE, 0, bye, false);
    }
    seam_value_unref(bye);
    if (c->state == SEAM__CONN_HANDSHAKE) {
        c->hello_end = c->out.len;
    }
    seam__conn_flush(c);
}

void seam__conn_fail(seam_conn *c, int err)
{
    seam__log(c->loop, SEAM_LOG_WARN, "protocol violation by the peer: %s (%s)", seam_strerror(err),
              seam_errname(err));
    say_goodbye(c, err);
    seam__conn_lost(c, err);
}

void seam__conn_fail_ours(seam_conn *c, int err)
{
    seam__log(c->loop, SEAM_LOG_WARN, "the connection cannot go on: %s (%s)", seam_strerror(err),
              seam_errname(err));
    say_goodbye(c, err);
    seam__conn_lost(c, err);
}

void seam__conn_handshake_expired(seam__timer *t)
{
    seam_conn *c = (seam_conn *)((char *)t - offsetof(seam_conn, handshake_timer));
    if (c->state == SEAM__CONN_HANDSHAKE || c->state == SEAM__CONN_CONNECTING) {
        seam__conn_lost(c, SEAM_EHANDSHAKE);
    } else if (c->draining) {
        seam__conn_lost(c, SEAM_ETIMEDOUT); /* it stopped reading what was left */
    }
}

void seam__conn_on_released(void *owner)
{
    seam__conn_unref(owner);
}

void seam__conn_on_ready(void *owner, unsigned events)
{
    seam_conn *c = owner;
    seam__conn_ref(c);
    c->dispatching++;
    if (c->lost != 0) {
        lost_report(c); /* a loss in a sync wait, before the new socket's news */
    }
    if (events != 0 && c->pipe != NULL && c->pipe->tran->watch_events != NULL) {
        events = c->want; /* the descriptor stands for all the pipe waits for */
    }
    if (c->state == SEAM__CONN_CONNECTING && c->pipe != NULL && events != 0) {
        seam__conn_client_dial_done(c); /* a failed dial reads as ready too */
    }
    if ((events & SEAM_WRITE) != 0) {
        seam__conn_flush(c);
    }
    if ((events & SEAM_READ) != 0 && c->sync_call == NULL) {
        run_done_calls(c); /* calls that ended already come before what arrives now */
    }
    if ((events & SEAM_READ) != 0 && c->pipe != NULL) {
        if (c->held_head != NULL) {
            seam__conn_deliver_held(c); /* keep arrival order */
        }
        seam__conn_read_input(c);
    }
    c->dispatching--;
    seam__conn_unref(c);
}

void seam__conn_kick_fired(seam__timer *t)
{
    seam_conn *c = (seam_conn *)((char *)t - offsetof(seam_conn, kick));
    seam__conn_ref(c);
    c->dispatching++;
    run_done_calls(c);
    lost_report(c);
    if (c->fail_due != 0 && c->sync_call == NULL) {
        int err = c->fail_due;
        c->fail_due = 0;
        seam__conn_lost(c, err);
    }
    seam__conn_deliver_held(c);
    if (c->in_pending.len > 0 && !c->read_paused && c->pipe != NULL && c->sync_call == NULL) {
        seam__conn_read_input(c);
    }
    /* WRITABLE is news of a live connection: never after its end, and
     * during a handshake it waits for CONNECTED (seam__conn_connected_settle). */
    if (c->writable_due && !c->user_closed && c->state == SEAM__CONN_OPEN && !c->connected_due) {
        if (c->subs != NULL) {
            seam__pubsub_drained(c); /* coalesced updates first */
        }
        c->writable_due = false;
        seam_event ev = {.type = SEAM_EVENT_WRITABLE};
        seam__conn_emit(c, &ev);
    }
    if (c->shrink_due) {
        seam__conn_out_shrink(c);
    }
    c->dispatching--;
    bool more = c->done_head != NULL || (c->held_head != NULL && c->state == SEAM__CONN_OPEN);
    if (more && !c->user_closed) {
        seam__timer_start(c->loop, &c->kick, 0);
    } else if (c->kick_ref && !seam__timer_armed(&c->kick)) {
        c->kick_ref = false;
        seam__conn_unref(c);
    }
    seam__conn_unref(c);
}
