/* SPDX-License-Identifier: MIT */
/* conformance_stream.c - streaming replies on every adapter (and over the
 * in-process transport): intermediate replies then exactly one final,
 * cancelling, both timeout modes, the end of the connection mid-stream,
 * and a responder that may not stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conformance_stream.h"
#include "support.h"

#include <string.h>
#include <unistd.h>

#ifdef SEAM_CONFORMANCE_INPROC
#define NAME "inproc:t.stream"
#else
#define NAME "t.stream"
#endif
#define CALL_MS SUPPORT_DEADLINE_MS

/* ---- the server (a child): requests {"op": "stream", "n": n} get n
 * intermediate replies {"i": i} then the final {"done": true,
 * "more_status": what the last seam_request_reply_more said}; "follow"
 * is kept, gets {"i": 0} at once and one more at each "tick" message,
 * its final at a "finish" message. A tick after the caller cancelled
 * finishes it and tells the client {"more_status": SEAM_ECANCELED}. */

static struct {
    seam_request *req;
    int64_t next;
} follow;

static seam_value *int_dict(const char *key, int64_t v)
{
    seam_value *m = seam_value_new_dict();
    seam_dict_set_int64(m, key, v);
    return m;
}

static int more_i(seam_request *req, int64_t i)
{
    seam_value *m = int_dict("i", i);
    int r = seam_request_reply_more(req, m);
    seam_value_unref(m);
    return r;
}

static void finish(seam_request *req, int more_status)
{
    seam_value *m = int_dict("more_status", more_status);
    seam_dict_set_bool(m, "done", true);
    seam_request_reply(req, m);
    seam_value_unref(m);
}

static void stream_request(const seam_event *ev)
{
    const char *op = seam_dict_get_string(ev->value, "op");
    if (op != NULL && strcmp(op, "stream") == 0) {
        int64_t n = 0;
        seam_dict_get_int64(ev->value, "n", &n);
        int r = 0;
        for (int64_t i = 0; i < n && r == 0; i++) {
            r = more_i(ev->request, i);
        }
        finish(ev->request, r);
    } else if (op != NULL && strcmp(op, "follow") == 0 && follow.req == NULL) {
        follow.req = seam_request_keep(ev->request);
        follow.next = 1;
        more_i(follow.req, 0);
    }
}

static void stream_message(seam_conn *conn, const seam_event *ev)
{
    const char *op = seam_dict_get_string(ev->value, "op");
    if (op == NULL || follow.req == NULL) {
        return;
    }
    if (strcmp(op, "tick") == 0) {
        int r = more_i(follow.req, follow.next++);
        if (r == SEAM_ECANCELED) {
            finish(follow.req, r);
            follow.req = NULL;
            seam_value *m = int_dict("more_status", r);
            seam_conn_send(conn, m);
            seam_value_unref(m);
        }
    } else if (strcmp(op, "finish") == 0) {
        finish(follow.req, 0);
        follow.req = NULL;
    }
}

static void stream_server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        stream_request(ev);
    } else if (ev->type == SEAM_EVENT_MESSAGE) {
        stream_message(conn, ev);
    } else if (ev->type == SEAM_EVENT_INVALID && follow.req != NULL &&
               (seam_request_conn(follow.req) == conn || seam_request_conn(follow.req) == NULL)) {
        seam_request_drop(follow.req);
        follow.req = NULL;
    }
}

static const seam_server_config stream_server = {.conn.on_event = stream_server_event};

/* ---- the client ---- */

typedef struct stream_log {
    seam_conn *conn;
    int more;
    int final;
    int status;
    int more_at_final; /* intermediate replies seen when the final came */
    int messages_at_final;
    int64_t order[16];
    bool done;
    int64_t more_status;
    bool tick;     /* answer each intermediate reply with a "tick" */
    int cancel_at; /* cancel the call at this intermediate reply (0: never) */
    int messages;  /* messages from the server */
    int64_t told;  /* the "more_status" of the last one */
    int ended;     /* INTERRUPTED or INVALID events */
} stream_log;

static void send_op(seam_conn *conn, const char *op)
{
    seam_value *m = seam_value_new_dict();
    seam_dict_set_string(m, "op", op);
    assert_int_equal(seam_conn_send(conn, m), 0);
    seam_value_unref(m);
}

static void on_stream_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    stream_log *log = userdata;
    if (r->more) {
        int64_t i = -1;
        seam_dict_get_int64(r->value, "i", &i);
        if (log->more < 16) {
            log->order[log->more] = i;
        }
        log->more++;
        if (log->cancel_at == log->more) {
            seam_conn_cancel(conn, r->call_id);
        } else if (log->tick) {
            send_op(conn, "tick");
        }
        return;
    }
    log->final++;
    log->status = r->status;
    log->more_at_final = log->more;
    log->messages_at_final = log->messages;
    if (r->status == 0) {
        seam_dict_get_bool(r->value, "done", &log->done);
        seam_dict_get_int64(r->value, "more_status", &log->more_status);
    }
}

static void client_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    stream_log *log = userdata;
    if (ev->type == SEAM_EVENT_MESSAGE) {
        log->messages++;
        seam_dict_get_int64(ev->value, "more_status", &log->told);
    } else if (ev->type == SEAM_EVENT_INTERRUPTED || ev->type == SEAM_EVENT_INVALID) {
        log->ended++;
    }
}

typedef struct stream_test {
    seam_loop *loop;
    support_child server;
    seam_conn *conn;
    stream_log log;
} stream_test;

static void stream_begin(stream_test *t)
{
    memset(t, 0, sizeof(*t));
    memset(&follow, 0, sizeof(follow));
    t->loop = support_loop_new();
    support_spawn_server(&t->server, NAME, &stream_server);
    seam_conn_config cfg = {.on_event = client_event, .userdata = &t->log};
    assert_int_equal(seam_conn_connect(t->loop, NAME, &cfg, &t->conn), 0);
    t->log.conn = t->conn;
}

static void stream_end(stream_test *t)
{
    if (t->conn != NULL) {
        seam_conn_close(t->conn);
    }
    support_server_stop(&t->server);
    /* A server that is a thread leaves a request it still kept here (a
     * process takes it along). */
    if (follow.req != NULL) {
        seam_request_drop(follow.req);
        follow.req = NULL;
    }
    seam_loop_free(t->loop);
}

static void stream_call(stream_test *t, const char *op, int64_t n, const seam_call_options *o)
{
    seam_value *m = seam_value_new_dict();
    seam_dict_set_string(m, "op", op);
    seam_dict_set_int64(m, "n", n);
    assert_int_equal(seam_conn_call_stream(t->conn, m, o, on_stream_reply, &t->log, NULL), 0);
    seam_value_unref(m);
}

static void wait_final(stream_test *t)
{
    assert_true(support_run_until_count(t->loop, &t->log.final, 1, SUPPORT_DEADLINE_MS));
}

/* A ping behind everything the server sent: by its pong, all was read. */
static void sync_with_server(stream_test *t)
{
    seam_value *ping = seam_value_new_dict();
    seam_value *reply = NULL;
    /* An unknown op is answered with SEAM_ENOTSUP: a round trip. */
    assert_int_equal(seam_conn_call_sync(t->conn, ping, CALL_MS, &reply), SEAM_EREMOTE);
    seam_value_unref(reply);
    seam_value_unref(ping);
}

/* After the caller ended a "follow" stream: a tick finds it cancelled at
 * the responder, which says so. */
static void assert_responder_told_cancelled(stream_test *t)
{
    int before = t->log.messages;
    send_op(t->conn, "tick");
    assert_true(
        support_run_until_count(t->loop, &t->log.messages, before + 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(t->log.told, SEAM_ECANCELED);
}

static const seam_call_options streaming = {.timeout_ms = CALL_MS, .more = true};

void test_stream_delivers_each_intermediate_reply_then_the_final_once(void **state)
{
    (void)state;
    stream_test t;
    stream_begin(&t);
    stream_call(&t, "stream", 5, &streaming);
    wait_final(&t);
    sync_with_server(&t);
    assert_int_equal(t.log.more, 5);
    assert_int_equal(t.log.final, 1);
    assert_int_equal(t.log.status, 0);
    assert_true(t.log.done);
    assert_int_equal(t.log.more_status, 0);
    stream_end(&t);
}

void test_stream_intermediate_replies_arrive_before_the_final_in_order(void **state)
{
    (void)state;
    stream_test t;
    stream_begin(&t);
    stream_call(&t, "stream", 8, &streaming);
    wait_final(&t);
    assert_int_equal(t.log.more_at_final, 8);
    for (int64_t i = 0; i < 8; i++) {
        assert_int_equal(t.log.order[i], i);
    }
    stream_end(&t);
}

void test_stream_responder_more_without_caller_asking_fails_locally(void **state)
{
    (void)state;
    stream_test t;
    stream_begin(&t);
    seam_call_options plain = {.timeout_ms = CALL_MS};
    stream_call(&t, "stream", 3, &plain);
    wait_final(&t);
    sync_with_server(&t);
    assert_int_equal(t.log.more, 0);
    assert_int_equal(t.log.final, 1);
    assert_int_equal(t.log.status, 0);
    assert_int_equal(t.log.more_status, SEAM_ENOTSUP);
    stream_end(&t);
}

void test_stream_plain_call_gets_one_reply_from_a_streaming_responder(void **state)
{
    (void)state;
    stream_test t;
    stream_begin(&t);
    seam_value *m = seam_value_new_dict();
    seam_dict_set_string(m, "op", "stream");
    seam_dict_set_int64(m, "n", 2);
    assert_int_equal(seam_conn_call(t.conn, m, CALL_MS, on_stream_reply, &t.log, NULL), 0);
    seam_value_unref(m);
    wait_final(&t);
    assert_int_equal(t.log.more, 0);
    assert_int_equal(t.log.more_status, SEAM_ENOTSUP);
    stream_end(&t);
}

void test_stream_cancel_mid_stream_ends_once_and_discards_later_replies(void **state)
{
    (void)state;
    stream_test t;
    stream_begin(&t);
    t.log.cancel_at = 1;
    /* All 20 and the final are sent before the cancel is read: the 19
     * after the first, and the final, come after it. */
    stream_call(&t, "stream", 20, &streaming);
    wait_final(&t);
    assert_int_equal(t.log.status, SEAM_ECANCELED);
    sync_with_server(&t);
    assert_int_equal(t.log.more, 1);
    assert_int_equal(t.log.final, 1);
    stream_end(&t);
}

/* A "follow" stream, cancelled at its first intermediate reply. */
static void follow_then_cancel(stream_test *t)
{
    uint64_t id = 0;
    seam_value *m = seam_value_new_dict();
    seam_dict_set_string(m, "op", "follow");
    assert_int_equal(seam_conn_call_stream(t->conn, m, &streaming, on_stream_reply, &t->log, &id),
                     0);
    seam_value_unref(m);
    assert_true(support_run_until_count(t->loop, &t->log.more, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(seam_conn_cancel(t->conn, id), 0);
}

void test_stream_cancel_tells_the_responder(void **state)
{
    (void)state;
    stream_test t;
    stream_begin(&t);
    follow_then_cancel(&t);
    /* The cancelled call ends from the loop, in a later turn: on some
     * hosts after the responder's answer to the tick below has arrived. */
    wait_final(&t);
    assert_int_equal(t.log.status, SEAM_ECANCELED);
    assert_responder_told_cancelled(&t);
    assert_int_equal(t.log.final, 1);
    stream_end(&t);
}

/* A call the caller cancelled ends before anything the peer sent after
 * the cancel: here the responder's answer to a tick behind the cancel is
 * in the socket, unread, when the loop next runs. */
void test_stream_cancelled_call_ends_before_later_news_from_the_peer(void **state)
{
    (void)state;
    stream_test t;
    stream_begin(&t);
    follow_then_cancel(&t);
    send_op(t.conn, "tick");
    usleep(300 * 1000); /* the responder reads both and answers */
    assert_true(support_run_until_count(t.loop, &t.log.messages, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(t.log.told, SEAM_ECANCELED);
    assert_int_equal(t.log.final, 1);
    assert_int_equal(t.log.status, SEAM_ECANCELED);
    assert_int_equal(t.log.messages_at_final, 0);
    stream_end(&t);
}

void test_stream_overall_timeout_ends_a_stream_that_keeps_replying(void **state)
{
    (void)state;
    stream_test t;
    stream_begin(&t);
    t.log.tick = true;
    seam_call_options o = {.timeout_ms = 300, .timeout = SEAM_TIMEOUT_OVERALL, .more = true};
    stream_call(&t, "follow", 0, &o);
    wait_final(&t);
    assert_int_equal(t.log.status, SEAM_ETIMEDOUT);
    assert_true(t.log.more >= 1);
    int more = t.log.more;
    assert_responder_told_cancelled(&t);
    assert_int_equal(t.log.more, more);
    assert_int_equal(t.log.final, 1);
    stream_end(&t);
}

typedef struct until_ms {
    long long at;
    const int *final;
} until_ms;

static bool past_or_final(void *arg)
{
    until_ms *u = arg;
    return *u->final > 0 || support_now_ms() >= u->at;
}

void test_stream_idle_timeout_rearms_at_each_reply_and_expires_when_they_stop(void **state)
{
    (void)state;
    stream_test t;
    stream_begin(&t);
    t.log.tick = true;
    seam_call_options o = {.timeout_ms = 400, .more = true}; /* idle: the default */
    stream_call(&t, "follow", 0, &o);
    until_ms u = {support_now_ms() + 3 * 400, &t.log.final};
    support_run_until(t.loop, past_or_final, &u, SUPPORT_DEADLINE_MS);
    /* Three timeouts' worth of replies later, the call still runs. */
    assert_int_equal(t.log.final, 0);
    t.log.tick = false;
    wait_final(&t);
    assert_int_equal(t.log.status, SEAM_ETIMEDOUT);
    assert_responder_told_cancelled(&t);
    assert_int_equal(t.log.final, 1);
    stream_end(&t);
}

void test_stream_server_close_mid_stream_ends_the_call_once(void **state)
{
    (void)state;
    stream_test t;
    stream_begin(&t);
    stream_call(&t, "follow", 0, &streaming);
    assert_true(support_run_until_count(t.loop, &t.log.more, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(support_server_stop(&t.server), 0);
    wait_final(&t);
    assert_int_equal(t.log.status, SEAM_ECONNRESET);
    assert_true(support_run_until_count(t.loop, &t.log.ended, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(t.log.final, 1);
    assert_int_equal(t.log.more, 1);
    stream_end(&t);
}

void test_stream_bad_timeout_mode_is_einval(void **state)
{
    (void)state;
    stream_test t;
    stream_begin(&t);
    seam_value *m = seam_value_new_dict();
    seam_call_options bad_mode = {.timeout_ms = CALL_MS, .timeout = 7, .more = true};
    seam_call_options no_time = {.timeout_ms = 0, .more = true};
    assert_int_equal(seam_conn_call_stream(t.conn, m, &bad_mode, on_stream_reply, &t.log, NULL),
                     SEAM_EINVAL);
    assert_int_equal(seam_conn_call_stream(t.conn, m, &no_time, on_stream_reply, &t.log, NULL),
                     SEAM_EINVAL);
    assert_int_equal(seam_conn_call_stream(t.conn, m, NULL, on_stream_reply, &t.log, NULL),
                     SEAM_EINVAL);
    seam_value_unref(m);
    stream_end(&t);
}
