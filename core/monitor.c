/* SPDX-License-Identifier: MIT */
/* monitor.c - server-side monitoring: a peer of the server's own user, on a
 * server that allows it, asks with the monitor request and from then on
 * receives a record of every frame the server's other peers send and
 * receive. Off by default; a record that does not fit a monitor's queue is
 * dropped and counted, never waited for: monitoring must not slow the
 * server or grow its memory. */
#include "monitor.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The canonical CBOR of {"$seam": "monitor"}. */
static const uint8_t monitor_request[] = {0xa1, 0x65, '$', 's', 'e', 'a', 'm', 0x67,
                                          'm',  'o',  'n', 'i', 't', 'o', 'r'};

int seam_server_set_monitor(seam_server *server, bool allow)
{
    if (server == NULL) {
        return SEAM_EINVAL;
    }
    server->monitor_allowed = allow;
    if (!allow) {
        /* Stopping means stopping now: the monitors are disconnected. */
        seam_conn *next;
        for (seam_conn *p = server->peers; p != NULL; p = next) {
            next = p->snext;
            if (p->monitor) {
                seam_conn_close(p);
            }
        }
    }
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

void seam__monitor_frame(seam_conn *c, bool out, const uint8_t *head, size_t head_len,
                         const uint8_t *tail, size_t tail_len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    size_t frame_len = head_len + tail_len;
    for (seam_conn *m = c->server->peers; m != NULL; m = m->snext) {
        if (!m->monitor || m->state != SEAM__CONN_OPEN) {
            continue;
        }
        /* The record must fit the monitor's frame limit with its raw id. */
        size_t room = m->peer.max_frame - SEAM__FRAME_RAW_ID_SIZE - SEAM__MONITOR_HEAD;
        size_t copy = frame_len < room ? frame_len : room;
        uint8_t *rec = malloc(SEAM__MONITOR_HEAD + copy);
        if (rec == NULL) {
            m->monitor_dropped++;
            continue;
        }
        put64(rec, now);
        put32(rec + 8, (uint32_t)c->creds.pid);
        put32(rec + 12, c->creds.uid);
        put32(rec + 16, (uint32_t)(c->pipe != NULL ? c->pipe->tran->fd(c->pipe) : -1));
        rec[20] = (uint8_t)((out ? 1u : 0u) | (copy < frame_len ? 2u : 0u));
        rec[21] = rec[22] = rec[23] = 0;
        put32(rec + 24, m->monitor_dropped);
        put32(rec + 28, (uint32_t)frame_len);
        size_t from_head = copy < head_len ? copy : head_len;
        memcpy(rec + SEAM__MONITOR_HEAD, head, from_head);
        if (copy > from_head) {
            memcpy(rec + SEAM__MONITOR_HEAD + from_head, tail, copy - from_head);
        }
        if (seam_conn_send_raw(m, SEAM__MONITOR_RECORD_ID, rec, SEAM__MONITOR_HEAD + copy) == 0) {
            m->monitor_dropped = 0;
        } else {
            m->monitor_dropped++;
        }
        free(rec);
    }
}

void seam__monitor_hello_out(seam_conn *c)
{
    /* The hello went straight into the queue and may be written already:
     * the record is made from the same fields again. */
    seam__hello hello = {SEAM_PROTOCOL_VERSION, c->cfg.max_frame, SEAM__FRAME_MAX_FDS, 0, 0};
    seam__buf b = {0};
    if (seam__hello_write(&hello, &b) == 0) {
        seam__monitor_frame(c, true, b.data, b.len, NULL, 0);
    }
    seam__buf_free(&b);
}

void seam__monitor_frame_in(seam_conn *c, const seam__frame *f)
{
    uint8_t header[SEAM__FRAME_HEADER_SIZE];
    seam__frame_header_write(header, &f->h);
    seam__monitor_frame(c, false, header, sizeof(header), f->payload, f->h.len);
}

bool seam__monitor_request(seam_conn *c, seam_request *req, const seam__frame *f)
{
    if (f->h.len != sizeof(monitor_request) || c->server == NULL ||
        f->h.kind != SEAM__KIND_REQUEST || (f->h.flags & SEAM__FLAG_RAW) != 0 ||
        memcmp(f->payload, monitor_request, sizeof(monitor_request)) != 0) {
        return false;
    }
    if (!c->server->monitor_allowed) {
        seam_request_reply_error(req, SEAM_ENOTSUP, "monitoring is off on this server", NULL);
        return true;
    }
    if (c->creds.uid != (uint32_t)geteuid()) {
        seam_request_reply_error(req, SEAM_EACCES, "only the server's own user may monitor", NULL);
        return true;
    }
    seam_value *ok = seam_value_new_dict();
    seam_dict_set_bool(ok, "monitoring", true);
    int r = seam_request_reply(req, ok);
    seam_value_unref(ok);
    if (r == 0 && !c->monitor) {
        c->monitor = true;
        c->server->monitors++;
    }
    return true;
}

void seam__monitor_leave(seam_conn *c)
{
    if (c->monitor && c->server != NULL) {
        c->monitor = false;
        c->server->monitors--;
    }
}
