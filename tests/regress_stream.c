/* SPDX-License-Identifier: MIT */
/* regress_stream.c - streaming replies at the wire and at their bounds:
 * the MORE flag a streaming request carries, a MORE reply to a call that
 * did not ask (a protocol violation), a responder's intermediate replies
 * to a caller that does not read (bounded like sends), and a responder
 * killed mid-stream. The peer is a raw socket driven by hand or a server
 * in a forked child. Deadlines only bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rawpeer.h"
#include "support.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NAME      "t.stream"
#define CALL_MS   SUPPORT_DEADLINE_MS
#define FLAG_MORE 0x02

typedef struct fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    int listen_fd;
    int fd;
    support_child server;
    int more;
    int final;
    int status;
    int ended_error; /* the error of INVALID or INTERRUPTED */
    int ended;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    f->listen_fd = -1;
    f->fd = -1;
    f->server.chan = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    support_child_kill(&f->server);
    if (f->fd >= 0) {
        close(f->fd);
    }
    if (f->listen_fd >= 0) {
        close(f->listen_fd);
    }
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

static void on_event(seam_conn *c, const seam_event *ev, void *ud)
{
    (void)c;
    fixture *f = ud;
    if (ev->type == SEAM_EVENT_INVALID || ev->type == SEAM_EVENT_INTERRUPTED) {
        f->ended++;
        f->ended_error = ev->error;
    }
}

static void on_reply(seam_conn *c, const seam_reply *r, void *ud)
{
    (void)c;
    fixture *f = ud;
    if (r->more) {
        f->more++;
    } else {
        f->final++;
        f->status = r->status;
    }
}

static void send_frame(int fd, uint8_t kind, uint8_t flags, uint64_t id)
{
    uint8_t b[17];
    rawpeer_put_header(b, 1, kind, flags, 0, id);
    b[16] = 0xa0; /* {} */
    assert_true(support_write_full(fd, b, sizeof(b)));
}

/* Reads the next frame from fd, running the loop while nothing came. */
static void read_frame_running(fixture *f, uint8_t hdr[16])
{
    long long end = support_now_ms() + SUPPORT_DEADLINE_MS;
    struct pollfd p = {.fd = f->fd, .events = POLLIN};
    while (poll(&p, 1, 0) == 0 && support_now_ms() < end) {
        support_run_once(f->loop, 10);
    }
    uint8_t buf[256];
    assert_true(rawpeer_read_frame(f->fd, hdr, buf, sizeof(buf), SUPPORT_DEADLINE_MS) >= 0);
}

/* A seam client connected to a raw server; returns the request frame's
 * header after the client called (streaming or not). */
static seam_conn *raw_server_call(fixture *f, bool more, uint8_t req[16])
{
    f->listen_fd = rawpeer_listen(NAME);
    assert_true(f->listen_fd >= 0);
    seam_conn_config cfg = {.on_event = on_event, .userdata = f};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    f->fd = accept(f->listen_fd, NULL, NULL);
    assert_true(f->fd >= 0);
    assert_true(support_write_full(f->fd, rawpeer_hello, sizeof(rawpeer_hello)));
    seam_value *m = seam_value_new_dict();
    seam_call_options o = {.timeout_ms = CALL_MS, .more = more};
    assert_int_equal(seam_conn_call_stream(conn, m, &o, on_reply, f, NULL), 0);
    seam_value_unref(m);
    do {
        read_frame_running(f, req);
    } while (req[4] == RAWPEER_HELLO);
    assert_int_equal(req[4], RAWPEER_REQUEST);
    return conn;
}

static void test_streaming_request_carries_more_and_takes_more_replies(void **state)
{
    fixture *f = *state;
    uint8_t req[16];
    seam_conn *conn = raw_server_call(f, true, req);
    assert_int_equal(req[5], FLAG_MORE);
    uint64_t id = rawpeer_get_id(req);
    send_frame(f->fd, RAWPEER_REPLY, FLAG_MORE, id);
    send_frame(f->fd, RAWPEER_REPLY, FLAG_MORE, id);
    send_frame(f->fd, RAWPEER_REPLY, 0, id);
    assert_true(support_run_until_count(f->loop, &f->final, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(f->more, 2);
    assert_int_equal(f->status, 0);
    seam_conn_close(conn);
}

static void test_plain_call_request_carries_no_more_flag(void **state)
{
    fixture *f = *state;
    uint8_t req[16];
    seam_conn *conn = raw_server_call(f, false, req);
    assert_int_equal(req[5], 0);
    seam_conn_close(conn);
}

/* A call (streaming or not) answered by the raw server with a frame of
 * kind carrying MORE: the connection fails with want, the call ends once
 * as "peer gone", and the server sees the client hang up. */
static void bad_more_answer_fails_with(fixture *f, bool more, uint8_t kind, int want)
{
    uint8_t req[16];
    seam_conn *conn = raw_server_call(f, more, req);
    send_frame(f->fd, kind, FLAG_MORE, rawpeer_get_id(req));
    assert_true(support_run_until_count(f->loop, &f->ended, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(f->ended_error, want);
    assert_int_equal(f->final, 1);
    assert_int_equal(f->status, SEAM_ECONNRESET);
    assert_int_equal(f->more, 0);
    assert_true(rawpeer_wait_closed(f->fd, SUPPORT_DEADLINE_MS));
    seam_conn_close(conn);
}

static void
test_more_reply_to_a_call_that_did_not_ask_fails_the_connection_with_eproto(void **state)
{
    bad_more_answer_fails_with(*state, false, RAWPEER_REPLY, SEAM_EPROTO);
}

static void test_more_flag_on_an_error_frame_fails_the_connection(void **state)
{
    bad_more_answer_fails_with(*state, true, RAWPEER_ERROR, SEAM_EFRAMEFLAGS);
}

/* ---- a responder ---- */

static seam_request *kept;

/* Serves NAME with cfg here; a raw client says hello and sends a
 * streaming request (id 1), then never reads. */
static seam_server *serve_a_raw_streaming_caller(fixture *f, const seam_server_config *cfg)
{
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, cfg, &srv), 0);
    f->fd = rawpeer_connect(NAME);
    assert_true(f->fd >= 0);
    assert_true(support_write_full(f->fd, rawpeer_hello, sizeof(rawpeer_hello)));
    send_frame(f->fd, RAWPEER_REQUEST, FLAG_MORE, 1);
    return srv;
}

static int writable;

static void keep_request(seam_conn *c, const seam_event *ev, void *ud)
{
    (void)c;
    (void)ud;
    if (ev->type == SEAM_EVENT_WRITABLE) {
        writable++;
    }
    if (ev->type == SEAM_EVENT_REQUEST && kept == NULL) {
        kept = seam_request_keep(ev->request);
        seam_value *m = seam_value_new_dict();
        seam_request_reply_more(kept, m);
        seam_value_unref(m);
    }
}

static bool has_kept(void *arg)
{
    (void)arg;
    return kept != NULL;
}

/* Fills the responder's queue with intermediate replies of 1 KiB until
 * it refuses one; returns what that said. */
static int more_until_refused(void)
{
    seam_value *m = seam_value_new_dict();
    static uint8_t kib[1024];
    seam_dict_set_data(m, "pad", kib, sizeof(kib));
    int r = 0;
    for (int i = 0; i < 1 << 20 && r == 0; i++) {
        r = seam_request_reply_more(kept, m);
    }
    seam_value_unref(m);
    return r;
}

static void test_more_replies_to_a_caller_that_does_not_read_stop_at_the_queue_bound(void **state)
{
    fixture *f = *state;
    kept = NULL;
    seam_server_config cfg = {.conn.on_event = keep_request, .conn.max_queue = 64 << 10};
    seam_server *srv = serve_a_raw_streaming_caller(f, &cfg);
    assert_true(support_run_until(f->loop, has_kept, NULL, SUPPORT_DEADLINE_MS));
    /* The caller never reads: the responder is held back, not buffered
     * without end. */
    assert_int_equal(more_until_refused(), SEAM_EAGAIN);
    seam_conn_stats st;
    seam_conn_get_stats(seam_request_conn(kept), &st);
    assert_true(st.queued_bytes <= (64 << 10) + 2048);
    /* Held back, not broken: the final still goes. */
    seam_value *m = seam_value_new_dict();
    assert_int_equal(seam_request_reply(kept, m), 0);
    seam_value_unref(m);
    seam_server_close(srv);
}

static void test_more_replies_held_back_say_writable_once_the_caller_reads(void **state)
{
    fixture *f = *state;
    kept = NULL;
    writable = 0;
    seam_server_config cfg = {.conn.on_event = keep_request, .conn.max_queue = 64 << 10};
    seam_server *srv = serve_a_raw_streaming_caller(f, &cfg);
    assert_true(support_run_until(f->loop, has_kept, NULL, SUPPORT_DEADLINE_MS));
    assert_int_equal(more_until_refused(), SEAM_EAGAIN);
    /* The caller reads now: the queue drains and the responder hears so. */
    long long end = support_now_ms() + SUPPORT_DEADLINE_MS;
    uint8_t buf[64 << 10];
    while (writable == 0 && support_now_ms() < end) {
        support_run_once(f->loop, 10);
        while (recv(f->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
        }
    }
    assert_int_equal(writable, 1);
    seam_value *m = seam_value_new_dict();
    assert_int_equal(seam_request_reply_more(kept, m), 0);
    assert_int_equal(seam_request_reply(kept, m), 0);
    seam_value_unref(m);
    seam_server_close(srv);
}

static int late_more = 1;

/* Answers, then (the request valid until the callback returns) tries an
 * intermediate reply after its final one. */
static void answer_then_more(seam_conn *c, const seam_event *ev, void *ud)
{
    (void)c;
    (void)ud;
    if (ev->type == SEAM_EVENT_REQUEST) {
        seam_value *m = seam_value_new_dict();
        seam_request_reply(ev->request, m);
        late_more = seam_request_reply_more(ev->request, m);
        seam_value_unref(m);
    }
}

static bool late_more_tried(void *arg)
{
    (void)arg;
    return late_more != 1;
}

static void test_responder_more_after_its_final_is_einval(void **state)
{
    fixture *f = *state;
    seam_server_config cfg = {.conn.on_event = answer_then_more};
    seam_server *srv = serve_a_raw_streaming_caller(f, &cfg);
    assert_true(support_run_until(f->loop, late_more_tried, NULL, SUPPORT_DEADLINE_MS));
    assert_int_equal(late_more, SEAM_EINVAL);
    seam_server_close(srv);
}

static void test_responder_killed_mid_stream_ends_the_call_once_with_econnreset(void **state)
{
    fixture *f = *state;
    static const seam_server_config cfg = {.conn.on_event = keep_request};
    kept = NULL;
    support_spawn_server(&f->server, NAME, &cfg);
    seam_conn_config ccfg = {.on_event = on_event, .userdata = f};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &ccfg, &conn), 0);
    seam_value *m = seam_value_new_dict();
    seam_call_options o = {.timeout_ms = CALL_MS, .more = true};
    assert_int_equal(seam_conn_call_stream(conn, m, &o, on_reply, f, NULL), 0);
    seam_value_unref(m);
    assert_true(support_run_until_count(f->loop, &f->more, 1, SUPPORT_DEADLINE_MS));
    support_child_kill(&f->server);
    assert_true(support_run_until_count(f->loop, &f->ended, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(f->final, 1);
    assert_int_equal(f->status, SEAM_ECONNRESET);
    assert_int_equal(f->more, 1);
    seam_conn_close(conn);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        T(test_streaming_request_carries_more_and_takes_more_replies),
        T(test_plain_call_request_carries_no_more_flag),
        T(test_more_reply_to_a_call_that_did_not_ask_fails_the_connection_with_eproto),
        T(test_more_flag_on_an_error_frame_fails_the_connection),
        T(test_more_replies_to_a_caller_that_does_not_read_stop_at_the_queue_bound),
        T(test_more_replies_held_back_say_writable_once_the_caller_reads),
        T(test_responder_more_after_its_final_is_einval),
        T(test_responder_killed_mid_stream_ends_the_call_once_with_econnreset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
