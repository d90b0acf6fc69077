/* SPDX-License-Identifier: MIT */
/* conn_request.c - requests: their single answer, keeping and dropping
 * them. */
#include "conn_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

void seam__conn_request_unlink(seam_request *req)
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
 * (seam__conn_on_request_or_message); answered later, a kept one goes here. */
static void request_done(seam_request *req)
{
    if (req->kept && !req->in_event) {
        seam__conn_request_unlink(req);
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
        r = seam__conn_queue_value(req->conn, SEAM__KIND_REPLY, req->id, reply, false);
        if (r < 0) {
            /* The caller must still hear something. */
            seam__conn_queue_error(req->conn, req->id, r, "reply could not be sent", NULL);
        }
        seam__loop_leave(req->conn->loop);
    }
    request_done(req);
    return r;
}

static int reply_raw_out(seam_request *req, const seam__raw_out *raw)
{
    int r = request_answerable(req);
    if (r == 0) {
        seam__loop_enter(req->conn->loop);
        r = seam__conn_queue_raw_out(req->conn, SEAM__KIND_REPLY, req->id, raw, false);
        if (r < 0) {
            seam__conn_queue_error(req->conn, req->id, r, "reply could not be sent", NULL);
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
    return reply_raw_out(req, &(seam__raw_out){id, bytes, len, -1});
}

int seam_request_reply_raw_memfd(seam_request *req, uint32_t id, int fd, size_t len)
{
    if (req == NULL) {
        return SEAM_EINVAL;
    }
    int r = seam__conn_raw_memfd_seal(fd, len);
    return r < 0 ? r : reply_raw_out(req, &(seam__raw_out){id, NULL, len, fd});
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
        r = seam__conn_queue_error(req->conn, req->id, code, message, data);
        if (r < 0 && data != NULL) {
            seam__conn_queue_error(req->conn, req->id, code, message, NULL);
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
