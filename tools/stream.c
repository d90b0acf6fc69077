/* SPDX-License-Identifier: MIT */
/* stream.c - streaming replies in the tool: `seam call --more` prints each
 * intermediate reply as it comes, `seam listen --stream N` makes them. */
#include "tool.h"

#include <seam/poll.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct more_state {
    const tool_ctx *t;
    bool done;
    int status;
    seam_value *reply; /* the final reply, or the remote error's map */
} more_state;

static void print_more(const tool_ctx *t, const seam_value *v)
{
    if (t->json) {
        seam_value *e = seam_value_new_dict();
        seam_dict_set(e, "more", (seam_value *)v);
        tool_print_json(e);
        return;
    }
    char *json = seam_value_to_json(v, 0);
    printf("%s\n", json != NULL ? json : "?");
    free(json);
    fflush(stdout);
}

static void on_more_reply(seam_conn *c, const seam_reply *r, void *userdata)
{
    (void)c;
    more_state *st = userdata;
    if (r->more) {
        if (r->value != NULL) {
            print_more(st->t, r->value);
        } else {
            seam_value *d = seam_value_new_data(r->raw_bytes, r->raw_len);
            print_more(st->t, d);
            seam_value_unref(d);
        }
        return;
    }
    st->done = true;
    st->status = r->status;
    if (r->status == 0) {
        st->reply = r->value != NULL ? seam_value_ref(r->value)
                                     : seam_value_new_data(r->raw_bytes, r->raw_len);
    } else if (r->status == SEAM_EREMOTE) {
        st->reply = seam_value_new_dict();
        seam_dict_set_int64(st->reply, "code", r->remote_code);
        seam_dict_set_string(st->reply, "message",
                             r->remote_message != NULL ? r->remote_message : "");
        if (r->value != NULL) {
            seam_dict_set(st->reply, "data", r->value);
        }
    }
}

int tool_call_more(const tool_ctx *t, tool_client *cl, const seam_value *v, int timeout_ms,
                   seam_value **reply)
{
    more_state st = {.t = t};
    seam_call_options o = {.timeout_ms = timeout_ms, .more = true};
    uint64_t id = 0;
    int r = seam_conn_call_stream(cl->conn, v, &o, on_more_reply, &st, &id);
    tool_catch_signals();
    bool cancelled = false;
    while (r == 0 && !st.done) {
        if (tool_stopped() && !cancelled) {
            cancelled = true;
            seam_conn_cancel(cl->conn, id); /* Ctrl-C ends the stream, not the process */
        }
        int n = seam_poll_run_once(cl->loop, 100);
        r = n < 0 ? n : 0;
    }
    *reply = st.reply;
    return r < 0 ? r : st.status;
}

int tool_stream_answer(seam_request *req, const seam_value *request, long n)
{
    int r = 0;
    for (long i = 0; i < n && r == 0; i++) {
        seam_value *m = seam_value_new_dict();
        seam_dict_set_int64(m, "seq", i);
        r = seam_request_reply_more(req, m);
        seam_value_unref(m);
    }
    /* Not asked for intermediate replies, or held back: the final goes. */
    return seam_request_reply(req, request);
}
