/* SPDX-License-Identifier: MIT */
/* status.c - the status request: a server's credentials, its peers and
 * their counters, built from the server's own tables and sent as the
 * request's reply. Any peer the accept filter admitted may ask. */
#include "status.h"

#include <string.h>
#include <unistd.h>

/* The request's payload: the canonical CBOR of {"$seam": "status"}. It is
 * matched byte for byte, so a request of any other form, including the same
 * map encoded with wider heads, is the application's. */
static const uint8_t status_request[] = {0xa1, 0x65, '$', 's', 'e', 'a', 'm',
                                         0x66, 's',  't', 'a', 't', 'u', 's'};

static void set_u64(seam_value *d, const char *key, uint64_t u)
{
    seam_dict_set_take(d, key, seam_value_new_uint64(u));
}

static size_t kept_requests(const seam_conn *c)
{
    size_t n = 0;
    for (const seam_request *r = c->kept; r != NULL; r = r->next) {
        n++;
    }
    return n;
}

static seam_value *peer_status(const seam_conn *p, const seam_conn *asking)
{
    seam_value *d = seam_value_new_dict();
    seam_conn_stats st;
    seam_conn_get_stats(p, &st);
    seam_dict_set_int64(d, "pid", p->creds.pid);
    seam_dict_set_int64(d, "uid", p->creds.uid);
    seam_dict_set_int64(d, "gid", p->creds.gid);
    seam_dict_set_bool(d, "self", p == asking);
    seam_dict_set_string(d, "state", p->state == SEAM__CONN_OPEN ? "open" : "handshake");
    set_u64(d, "queued_bytes", st.queued_bytes);
    set_u64(d, "calls_in_flight", st.calls_in_flight);
    set_u64(d, "requests_pending", kept_requests(p));
    set_u64(d, "messages_in", st.messages_in);
    set_u64(d, "messages_out", st.messages_out);
    set_u64(d, "bytes_in", st.bytes_in);
    set_u64(d, "bytes_out", st.bytes_out);
    return d;
}

static seam_value *server_status(const seam_server *s, const seam_conn *asking)
{
    seam_value *d = seam_value_new_dict();
    seam_value *peers = seam_value_new_array();
    seam_conn_stats sum = {0};
    for (const seam_conn *p = s->peers; p != NULL; p = p->snext) {
        seam_conn_stats st;
        seam_conn_get_stats(p, &st);
        sum.messages_in += st.messages_in;
        sum.messages_out += st.messages_out;
        sum.bytes_in += st.bytes_in;
        sum.bytes_out += st.bytes_out;
        sum.queued_bytes += st.queued_bytes;
        sum.calls_in_flight += st.calls_in_flight;
        seam_array_append_take(peers, peer_status(p, asking));
    }
    seam_dict_set_string(d, "seam", seam_version());
    seam_dict_set_int64(d, "protocol", SEAM_PROTOCOL_VERSION);
    seam_dict_set_string(d, "path", s->path);
    seam_dict_set_bool(d, "activated", seam_server_activated(s));
    seam_dict_set_int64(d, "pid", getpid());
    seam_dict_set_int64(d, "uid", geteuid());
    seam_dict_set_int64(d, "gid", getegid());
    seam_dict_set_int64(d, "max_conns", s->cfg.max_conns);
    seam_value *totals = seam_value_new_dict();
    set_u64(totals, "peers", s->npeers);
    set_u64(totals, "queued_bytes", sum.queued_bytes);
    set_u64(totals, "calls_in_flight", sum.calls_in_flight);
    set_u64(totals, "messages_in", sum.messages_in);
    set_u64(totals, "messages_out", sum.messages_out);
    set_u64(totals, "bytes_in", sum.bytes_in);
    set_u64(totals, "bytes_out", sum.bytes_out);
    seam_dict_set_take(d, "totals", totals);
    seam_dict_set_take(d, "peers", peers);
    return d;
}

bool seam__status_answer(seam_conn *c, seam_request *req, const seam__frame *f)
{
    if (f->h.len != sizeof(status_request) || c->server == NULL ||
        f->h.kind != SEAM__KIND_REQUEST || (f->h.flags & SEAM__FLAG_RAW) != 0 ||
        memcmp(f->payload, status_request, sizeof(status_request)) != 0) {
        return false;
    }
    seam_value *status = server_status(c->server, c);
    if (status == NULL) {
        seam_request_reply_error(req, SEAM_ENOMEM, "out of memory", NULL);
        return true;
    }
    /* Too large for the asker's frame limit, or no memory: the reply then
     * says why instead of a partial status. */
    int r = seam_request_reply(req, status);
    if (r < 0 && !req->answered) {
        seam_request_reply_error(req, r, "status not sent", NULL);
    }
    seam_value_unref(status);
    return true;
}
