/* SPDX-License-Identifier: MIT */
/* conn_sync.c - the sync call: waiting for one answer on one connection
 * through the transport's wait, keeping every timer that concerns it. */
#include "conn_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Ends, as seam__conn_call_expired would, every other call on c whose timeout has
 * passed; their callbacks run from the loop once the sync call is over. */
static void sync_expire_calls(seam_conn *c, uint64_t now)
{
    size_t pos = 0;
    seam__call *k;
    while ((k = seam__idmap_next(&c->calls, &pos, NULL)) != NULL) {
        if (k == c->sync_call || !seam__timer_armed(&k->timer) || k->timer.due_ns > now) {
            continue;
        }
        if (c->state == SEAM__CONN_OPEN && !k->ping) {
            seam__conn_queue_empty_frame(c, SEAM__KIND_CANCEL, k->id);
        }
        seam__conn_queue_cut_call(c, k->id);
        seam__conn_call_end_later(c, k, SEAM_ETIMEDOUT); /* removing keeps the iteration */
    }
    c->stats.calls_in_flight = seam__idmap_count(&c->calls);
}

/* The earliest timeout among c's other calls, 0 if none. */
static uint64_t sync_calls_due(const seam_conn *c)
{
    uint64_t due = 0;
    size_t pos = 0;
    const seam__call *k;
    while ((k = seam__idmap_next(&c->calls, &pos, NULL)) != NULL) {
        if (k != c->sync_call && seam__timer_armed(&k->timer) &&
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
int seam__conn_sync_wait(seam_conn *c, seam__call *k, uint64_t deadline_ns)
{
    uint64_t calls_due = sync_calls_due(c);
    while (!k->done) {
        if (c->pipe == NULL) {
            return SEAM_ECLOSED;
        }
        if (seam__conn_held_full(c)) {
            return SEAM_ENOBUFS;
        }
        if (seam__conn_flush(c) < 0) {
            /* keep reading: the reset shows up there */
        }
        uint64_t now = seam__now_ns();
        if (seam__timer_armed(&c->handshake_timer) && c->handshake_timer.due_ns <= now) {
            seam__timer_stop(c->loop, &c->handshake_timer);
            seam__conn_handshake_expired(&c->handshake_timer); /* ends k with SEAM_EHANDSHAKE */
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
        unsigned want = SEAM_READ | (c->out_off < limit ? SEAM_WRITE : 0);
        int ready = c->pipe->tran->wait(c->pipe, want, timeout);
        if (ready < 0) {
            return ready;
        }
        if (ready != 0 && c->state == SEAM__CONN_CONNECTING) {
            seam__conn_client_dial_done(c);
            continue;
        }
        if (((unsigned)ready & SEAM_READ) != 0) {
            seam__conn_read_input(c);
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
    if (seam__conn_held_full(c)) {
        /* An earlier sync call held all it may: the loop delivers that
         * first, and this request is not sent. */
        return SEAM_ENOBUFS;
    }
    seam__loop_enter(c->loop);
    seam__conn_ref(c);
    int r = seam__conn_ready_to_send(c);
    seam__call *k = r == 0 ? seam__conn_call_new(c, NULL, NULL) : NULL;
    if (r == 0 && k == NULL) {
        r = SEAM_ENOMEM;
    }
    if (r == 0) {
        r = seam__conn_queue_value(c, SEAM__KIND_REQUEST, k->id, msg, true);
    }
    if (r == 0) {
        r = seam__conn_call_insert(c, k);
    }
    if (r < 0) {
        free(k);
        seam__conn_unref(c);
        seam__loop_leave(c->loop);
        return r;
    }
    c->sync_call = k;
    uint64_t deadline = timeout_ms > 0 ? seam__now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
    r = seam__conn_sync_wait(c, k, deadline);
    c->sync_call = NULL;
    if (!k->done) {
        seam__conn_call_remove(c, k);
        if (c->state == SEAM__CONN_OPEN) {
            seam__conn_queue_empty_frame(c, SEAM__KIND_CANCEL, k->id);
        }
        seam__conn_queue_cut_call(c, k->id);
    }
    if (r == 0 || r == SEAM_EREMOTE) {
        *reply = k->result;
    } else {
        seam_value_unref(k->result);
    }
    free(k);
    c->stats.calls_in_flight = seam__idmap_count(&c->calls);
    if (c->held_head != NULL || c->lost != 0) {
        seam__conn_kick(c);
    }
    seam__conn_unref(c);
    seam__loop_leave(c->loop);
    return r;
}
