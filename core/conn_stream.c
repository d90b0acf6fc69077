/* SPDX-License-Identifier: MIT */
/* conn_stream.c - streaming replies: a caller's intermediate replies
 * (MORE) before its single final one, and a responder sending them. */
#include "conn_int.h"

/* An intermediate reply came for k: false when k never asked for one,
 * which fails the connection (its calls then end as at any failure). */
bool seam__conn_call_more(seam_conn *c, seam__call *k)
{
    if (!k->more) {
        seam__conn_fail(c, SEAM_EPROTO);
        return false;
    }
    if (k->idle && k->timeout_ms > 0) {
        seam__timer_stop(c->loop, &k->timer);
        seam__timer_start(c->loop, &k->timer, (uint64_t)k->timeout_ms);
    }
    return true;
}

/* The callback of an intermediate reply: k stays in flight. The callback
 * may cancel it, or close the connection; either ends it later, from the
 * loop, so k outlives this call. */
void seam__conn_run_reply_more(seam_conn *c, seam__call *k, seam_reply *r)
{
    r->call_id = k->id;
    if (k->cb != NULL) {
        k->cb(c, r, k->userdata);
    }
}

/* The peer cancelled call id: a kept streaming request for it learns so
 * at its next intermediate reply. Only kept requests can be open when a
 * frame arrives (one in its callback is answered or kept by its end). */
void seam__conn_stream_cancelled(seam_conn *c, uint64_t id)
{
    for (struct seam_request *r = c->kept; r != NULL; r = r->next) {
        if (r->id == id && r->more && !r->answered) {
            r->cancelled = true;
            return;
        }
    }
}

bool seam_request_wants_more(const seam_request *req)
{
    return req != NULL && req->more;
}

int seam_request_reply_more(seam_request *req, const seam_value *reply)
{
    if (req == NULL || reply == NULL) {
        return SEAM_EINVAL;
    }
    if (req->answered) {
        return SEAM_EINVAL;
    }
    if (!req->more) {
        return SEAM_ENOTSUP;
    }
    if (req->cancelled) {
        return SEAM_ECANCELED;
    }
    seam_conn *c = req->conn;
    if (c == NULL || c->gen != req->gen || c->state != SEAM__CONN_OPEN || c->user_closed) {
        return SEAM_ECLOSED;
    }
    seam__loop_enter(c->loop);
    /* Bounded as a send: a caller that does not read holds us back
     * (SEAM_EAGAIN) instead of growing the queue. */
    int r =
        seam__conn_queue_value_flags(c, SEAM__KIND_REPLY, SEAM__FLAG_MORE, req->id, reply, true);
    seam__loop_leave(c->loop);
    return r;
}
