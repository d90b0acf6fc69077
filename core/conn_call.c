/* SPDX-License-Identifier: MIT */
/* conn_call.c - calls: the table of calls in flight by id, starting
 * one (streaming or not), its timeout, its single completion, cancelling. */
#include "conn_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

seam__call *seam__conn_call_find(const seam_conn *c, uint64_t id)
{
    return seam__idmap_get(&c->calls, id);
}

int seam__conn_call_insert(seam_conn *c, seam__call *k)
{
    return seam__idmap_put(&c->calls, k->id, k);
}

void seam__conn_call_remove(seam_conn *c, seam__call *k)
{
    seam__idmap_remove(&c->calls, k->id);
    seam__timer_stop(c->loop, &k->timer);
}

/* Ends a call later, from the loop, with status (no reply value). */
void seam__conn_call_end_later(seam_conn *c, seam__call *k, int status)
{
    seam__conn_call_remove(c, k);
    k->status = status;
    k->next_done = NULL;
    *c->done_tail = k;
    c->done_tail = &k->next_done;
    seam__conn_kick(c);
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

void seam__conn_run_reply(seam_conn *c, seam__call *k, seam_reply *r)
{
    r->call_id = k->id;
    if (k->cb != NULL) {
        k->cb(c, r, k->userdata);
    }
    call_release(c, k);
}

seam__call *seam__conn_call_new(seam_conn *c, seam_reply_fn cb, void *userdata)
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
    seam__timer_init(&k->timer, seam__conn_call_expired);
    return k;
}

/* Registers k (its request already queued) and arms its timeout. */
static int call_register(seam_conn *c, seam__call *k, int timeout_ms)
{
    int r = seam__conn_call_insert(c, k);
    if (r < 0) {
        return r;
    }
    if (timeout_ms > 0) {
        seam__timer_start(c->loop, &k->timer, (uint64_t)timeout_ms);
    }
    c->stats.calls_in_flight = seam__idmap_count(&c->calls);
    return 0;
}

void seam__conn_call_expired(seam__timer *t)
{
    seam__call *k = (seam__call *)((char *)t - offsetof(seam__call, timer));
    seam_conn *c = k->conn;
    seam__conn_ref(c);
    c->dispatching++;
    seam__conn_call_remove(c, k);
    c->stats.calls_in_flight = seam__idmap_count(&c->calls);
    if (c->state == SEAM__CONN_OPEN && !k->ping) {
        seam__conn_queue_empty_frame(c, SEAM__KIND_CANCEL, k->id);
    }
    seam__conn_queue_cut_call(c, k->id);
    seam_reply r = {.status = SEAM_ETIMEDOUT};
    seam__conn_run_reply(c, k, &r);
    c->dispatching--;
    seam__conn_unref(c);
}

static int call_start(seam_conn *c, const seam_value *msg, const seam__raw_out *raw,
                      const seam_call_options *o, seam_reply_fn cb, void *userdata,
                      uint64_t *call_id, bool ping)
{
    int timeout_ms = o->timeout_ms;
    if (timeout_ms == 0 || timeout_ms < SEAM_NO_TIMEOUT) {
        return SEAM_EINVAL;
    }
    if (o->timeout != SEAM_TIMEOUT_IDLE && o->timeout != SEAM_TIMEOUT_OVERALL) {
        return SEAM_EINVAL;
    }
    seam__loop_enter(c->loop);
    int r = seam__conn_ready_to_send(c);
    seam__call *k = r == 0 ? seam__conn_call_new(c, cb, userdata) : NULL;
    if (r == 0 && k == NULL) {
        r = SEAM_ENOMEM;
    }
    if (r == 0) {
        k->ping = ping;
        k->more = o->more;
        k->idle = o->timeout == SEAM_TIMEOUT_IDLE;
        k->timeout_ms = timeout_ms;
        if (ping) {
            r = seam__conn_queue_ping(c, k->id);
        } else if (msg != NULL) {
            r = seam__conn_queue_value_flags(c, SEAM__KIND_REQUEST, o->more ? SEAM__FLAG_MORE : 0,
                                             k->id, msg, true);
        } else {
            r = seam__conn_queue_raw_out(c, SEAM__KIND_REQUEST, k->id, raw, true);
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
    seam_call_options o = {.timeout_ms = timeout_ms};
    return call_start(conn, msg, NULL, &o, cb, userdata, call_id, false);
}

int seam_conn_call_stream(seam_conn *conn, const seam_value *msg, const seam_call_options *opts,
                          seam_reply_fn cb, void *userdata, uint64_t *call_id)
{
    if (conn == NULL || msg == NULL || opts == NULL || cb == NULL) {
        return SEAM_EINVAL;
    }
    return call_start(conn, msg, NULL, opts, cb, userdata, call_id, false);
}

int seam_conn_call_raw(seam_conn *conn, uint32_t id, const void *bytes, size_t len, int timeout_ms,
                       seam_reply_fn cb, void *userdata, uint64_t *call_id)
{
    if (conn == NULL || (bytes == NULL && len > 0) || cb == NULL) {
        return SEAM_EINVAL;
    }
    seam_call_options o = {.timeout_ms = timeout_ms};
    return call_start(conn, NULL, &(seam__raw_out){id, bytes, len, -1}, &o, cb, userdata, call_id,
                      false);
}

int seam_conn_call_raw_memfd(seam_conn *conn, uint32_t id, int fd, size_t len, int timeout_ms,
                             seam_reply_fn cb, void *userdata, uint64_t *call_id)
{
    if (conn == NULL || cb == NULL) {
        return SEAM_EINVAL;
    }
    int r = seam__conn_raw_memfd_seal(fd, len);
    if (r < 0) {
        return r;
    }
    seam_call_options o = {.timeout_ms = timeout_ms};
    return call_start(conn, NULL, &(seam__raw_out){id, NULL, len, fd}, &o, cb, userdata, call_id,
                      false);
}

int seam_conn_ping(seam_conn *conn, int timeout_ms, seam_reply_fn cb, void *userdata)
{
    if (conn == NULL || cb == NULL) {
        return SEAM_EINVAL;
    }
    seam_call_options o = {.timeout_ms = timeout_ms};
    return call_start(conn, NULL, NULL, &o, cb, userdata, NULL, true);
}

int seam_conn_cancel(seam_conn *conn, uint64_t call_id)
{
    if (conn == NULL) {
        return SEAM_EINVAL;
    }
    seam__call *k = seam__conn_call_find(conn, call_id);
    if (k == NULL || k == conn->sync_call) {
        return SEAM_ENOCALL;
    }
    seam__loop_enter(conn->loop);
    if (conn->state == SEAM__CONN_OPEN && !k->ping) {
        seam__conn_queue_empty_frame(conn, SEAM__KIND_CANCEL, k->id);
    }
    seam__conn_queue_cut_call(conn, k->id);
    seam__conn_call_end_later(conn, k, SEAM_ECANCELED);
    conn->stats.calls_in_flight = seam__idmap_count(&conn->calls);
    seam__loop_leave(conn->loop);
    return 0;
}
