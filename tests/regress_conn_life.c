/* SPDX-License-Identifier: MIT */
/* regress_conn_life.c - a connection's life across its edges: who owns a
 * request answered inside its own callback, what a sync call leaves behind
 * when its server dies under it, how far a sync call waits and what it
 * holds meanwhile, and what a close during the handshake writes. Servers
 * and clients run in forked processes over real Unix sockets; the parent's
 * loop is the driver linked in (poll, libuv or libev). Deadlines only
 * bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rawpeer.h"
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define NAME    "t.connlife"
#define CALL_MS SUPPORT_DEADLINE_MS

static seam_value *op_msg(const char *op)
{
    seam_value *m = seam_value_new_dict();
    if (m != NULL && op != NULL) {
        seam_dict_set_string(m, "op", op);
    }
    return m;
}

/* ---- the servers' behaviour (in children) ----
 * Requests: "echo" (or no op) -> the request; "messages_then_die" -> "n"
 * messages {"i": i}, then the process exits once they are written;
 * "flood" -> "n" raw messages of "size" bytes (id i), or with "fds" "n"
 * messages carrying a descriptor, sent as the queue takes them, then the
 * echo; "big_message_first" -> one raw message of "size" bytes, then the
 * echo; "count" -> {"count": messages seen}.
 * Messages with op "echo" come back as messages. */

typedef struct flood_state {
    seam_request *req;
    seam_value *echo;
    int64_t n;
    int64_t sent;
    uint8_t *bytes;
    size_t size;
    seam_value *fd_msg; /* with "fds": this message, each carrying a descriptor */
} flood_state;

static flood_state flood;
static int64_t messages_seen;

static void die_now(void *arg)
{
    (void)arg;
    _exit(0);
}

/* Sends what the queue takes; the rest follows on WRITABLE. */
static void flood_continue(seam_conn *conn)
{
    while (flood.req != NULL && flood.sent < flood.n) {
        int r = flood.fd_msg != NULL
                    ? seam_conn_send(conn, flood.fd_msg)
                    : seam_conn_send_raw(conn, (uint32_t)flood.sent, flood.bytes, flood.size);
        if (r == SEAM_EAGAIN) {
            return;
        }
        if (r < 0) {
            _exit(3);
        }
        flood.sent++;
    }
    if (flood.req != NULL) {
        seam_request_reply(flood.req, flood.echo);
        seam_value_unref(flood.echo);
        seam_value_unref(flood.fd_msg);
        free(flood.bytes);
        memset(&flood, 0, sizeof(flood));
    }
}

static void serve_request(seam_conn *conn, const seam_event *ev)
{
    const char *op = seam_dict_get_string(ev->value, "op");
    int64_t n = 0;
    seam_dict_get_int64(ev->value, "n", &n);
    if (op == NULL || strcmp(op, "echo") == 0) {
        seam_request_reply(ev->request, ev->value);
    } else if (strcmp(op, "messages_then_die") == 0) {
        for (int64_t i = 0; i < n; i++) {
            seam_value *m = seam_value_new_dict();
            seam_dict_set_int64(m, "i", i);
            seam_conn_send(conn, m);
            seam_value_unref(m);
        }
        /* Posted work runs after this dispatch has written the messages;
         * the request, kept, is never answered. */
        seam_request_keep(ev->request);
        seam_loop_post(support_child_loop, die_now, NULL);
    } else if (strcmp(op, "flood") == 0 && flood.req == NULL) {
        int64_t size = 0;
        seam_dict_get_int64(ev->value, "size", &size);
        flood.req = seam_request_keep(ev->request);
        flood.echo = seam_value_ref(ev->value);
        flood.n = n;
        flood.size = (size_t)size;
        flood.bytes = malloc(flood.size);
        memset(flood.bytes, 0x5a, flood.size);
        bool fds = false;
        if (seam_dict_get_bool(ev->value, "fds", &fds) && fds) {
            flood.fd_msg = seam_value_new_dict();
            seam_dict_set_take(flood.fd_msg, "fd", seam_value_new_fd(STDERR_FILENO));
        }
        flood_continue(conn);
    } else if (strcmp(op, "big_message_first") == 0) {
        int64_t size = 0;
        seam_dict_get_int64(ev->value, "size", &size);
        uint8_t *bytes = calloc(1, (size_t)size);
        seam_conn_send_raw(conn, 0, bytes, (size_t)size);
        free(bytes);
        seam_request_reply(ev->request, ev->value);
    } else if (strcmp(op, "count") == 0) {
        seam_value *m = seam_value_new_dict();
        seam_dict_set_int64(m, "count", messages_seen);
        seam_request_reply(ev->request, m);
        seam_value_unref(m);
    }
}

static void server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        serve_request(conn, ev);
    } else if (ev->type == SEAM_EVENT_MESSAGE) {
        messages_seen++;
        const char *op = seam_dict_get_string(ev->value, "op");
        if (op != NULL && strcmp(op, "echo") == 0) {
            seam_conn_send(conn, ev->value);
        }
    } else if (ev->type == SEAM_EVENT_WRITABLE) {
        flood_continue(conn);
    }
}

static const seam_server_config test_server = {.conn.on_event = server_event};

/* ---- what a client saw ---- */

static int event_clock;

typedef struct client_log {
    int connected;
    int connected_at; /* of the last CONNECTED */
    int messages;
    int message_at; /* of the first message */
    int64_t last_i;
    int raw;
    int raw_out_of_order;
    int interrupted;
    int interrupted_at;
    int invalid;
} client_log;

static void client_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    client_log *log = userdata;
    switch (ev->type) {
    case SEAM_EVENT_CONNECTED:
        log->connected++;
        log->connected_at = ++event_clock;
        break;
    case SEAM_EVENT_MESSAGE:
        if (ev->raw) {
            if (ev->raw_id != (uint32_t)log->raw) {
                log->raw_out_of_order++;
            }
            log->raw++;
            break;
        }
        if (log->messages++ == 0) {
            log->message_at = ++event_clock;
        }
        log->last_i = -1;
        seam_dict_get_int64(ev->value, "i", &log->last_i);
        break;
    case SEAM_EVENT_INTERRUPTED:
        log->interrupted++;
        log->interrupted_at = ++event_clock;
        break;
    case SEAM_EVENT_INVALID:
        log->invalid++;
        break;
    default:
        break;
    }
}

typedef struct reply_log {
    int count;
    int status;
    seam_value *value;
} reply_log;

static void on_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    reply_log *log = userdata;
    log->count++;
    log->status = r->status;
    seam_value_unref(log->value);
    log->value = r->value != NULL ? seam_value_ref(r->value) : NULL;
}

/* ---- fixture ---- */

typedef struct fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    support_child server;
    support_child child;
    client_log log;
    int listen_fd;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    f->server.chan = -1;
    f->child.chan = -1;
    f->listen_fd = -1;
    event_clock = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    support_child_kill(&f->server);
    support_child_kill(&f->child);
    if (f->listen_fd >= 0) {
        close(f->listen_fd);
    }
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

static seam_conn *connect_client(fixture *f)
{
    seam_conn_config cfg = {.on_event = client_event, .userdata = &f->log};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    return conn;
}

/* A ping behind everything sent so far: once its pong is in, every frame
 * the server sent before it has been delivered. */
static void ping_and_wait(fixture *f, seam_conn *conn)
{
    reply_log pong = {0};
    assert_int_equal(seam_conn_ping(conn, CALL_MS, on_reply, &pong), 0);
    assert_true(support_run_until_count(f->loop, &pong.count, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(pong.status, 0);
}

/* A sync call the server answers by sending n messages and dying. */
static void sync_call_to_dying_server(fixture *f, seam_conn *conn, int64_t n)
{
    assert_true(support_run_until_count(f->loop, &f->log.connected, 1, SUPPORT_DEADLINE_MS));
    seam_value *m = op_msg("messages_then_die");
    seam_dict_set_int64(m, "n", n);
    seam_value *reply = NULL;
    assert_int_equal(seam_conn_call_sync(conn, m, CALL_MS, &reply), SEAM_ECONNRESET);
    assert_null(reply);
    seam_value_unref(m);
    assert_int_equal(support_child_wait(&f->server, SUPPORT_DEADLINE_MS), 0);
}

/* ==== requests answered inside their own callback ======================= */

/* The parent serves: each op keeps the request, then answers it at once. */
static void keeping_server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type != SEAM_EVENT_REQUEST) {
        return;
    }
    const char *op = seam_dict_get_string(ev->value, "op");
    seam_request *req = ev->request;
    if (op == NULL) {
        seam_request_reply(req, ev->value);
    } else if (strcmp(op, "keep_reply") == 0) {
        seam_request_reply(seam_request_keep(req), ev->value);
    } else if (strcmp(op, "keep_reply_raw") == 0) {
        seam_request_reply_raw(seam_request_keep(req), 9, "ok", 2);
    } else if (strcmp(op, "keep_error") == 0) {
        seam_request_reply_error(seam_request_keep(req), -4243, "kept, refused", NULL);
    } else if (strcmp(op, "keep_drop") == 0) {
        seam_request_drop(seam_request_keep(req));
    } else if (strcmp(op, "keep_twice_reply") == 0) {
        seam_request_keep(seam_request_keep(req));
        seam_request_reply(req, ev->value);
    }
}

#define KEEP_OPS 6

static const char *const keep_ops[KEEP_OPS] = {"keep_reply", "keep_reply_raw",   "keep_error",
                                               "keep_drop",  "keep_twice_reply", NULL};

typedef struct keep_report {
    int status[KEEP_OPS];
    int64_t code[KEEP_OPS];
} keep_report;

static int keep_caller_main(int chan, void *arg)
{
    (void)arg;
    seam_loop *loop = NULL;
    seam_conn *conn = NULL;
    keep_report rep;
    memset(&rep, 0, sizeof(rep));
    if (seam_poll_new(0, &loop) < 0 || seam_conn_connect(loop, NAME, NULL, &conn) < 0) {
        return 1;
    }
    /* Each op twice: the second reuses what the first left behind. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < KEEP_OPS; i++) {
            seam_value *m = op_msg(keep_ops[i]);
            seam_value *reply = NULL;
            rep.status[i] = seam_conn_call_sync(conn, m, CALL_MS, &reply);
            rep.code[i] = 0;
            seam_dict_get_int64(reply, "code", &rep.code[i]);
            seam_value_unref(reply);
            seam_value_unref(m);
        }
    }
    seam_conn_close(conn);
    seam_loop_free(loop);
    return support_write_full(chan, &rep, sizeof(rep)) ? 0 : 2;
}

static void test_reply_inside_callback_never_frees_a_kept_request(void **state)
{
    fixture *f = *state;
    seam_server_config cfg = {.conn.on_event = keeping_server_event};
    seam_server *server = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &server), 0);
    support_fork(&f->child, keep_caller_main, NULL);
    int chan = dup(f->child.chan);
    assert_int_equal(support_run_until_exit(f->loop, &f->child, SUPPORT_DEADLINE_MS), 0);
    keep_report rep;
    assert_true(support_read_full(chan, &rep, sizeof(rep), SUPPORT_DEADLINE_MS));
    close(chan);
    assert_int_equal(rep.status[0], 0);
    assert_int_equal(rep.status[1], 0);
    assert_int_equal(rep.status[2], SEAM_EREMOTE);
    assert_int_equal(rep.code[2], -4243);
    assert_int_equal(rep.status[3], SEAM_EREMOTE);
    assert_int_equal(rep.code[3], SEAM_ECANCELED);
    assert_int_equal(rep.status[4], 0);
    assert_int_equal(rep.status[5], 0);
    seam_server_close(server);
}

/* ==== a sync call whose server dies under it ============================ */

static void test_frames_held_by_a_sync_call_die_with_its_connection(void **state)
{
    fixture *f = *state;
    support_spawn_server(&f->server, NAME, &test_server);
    seam_conn *conn = connect_client(f);
    sync_call_to_dying_server(f, conn, 3);
    assert_true(support_run_until_count(f->loop, &f->log.interrupted, 1, SUPPORT_DEADLINE_MS));
    support_spawn_server(&f->server, NAME, &test_server);
    seam_value *m = op_msg("echo");
    seam_dict_set_int64(m, "i", 100);
    assert_int_equal(seam_conn_send(conn, m), 0);
    seam_value_unref(m);
    assert_true(support_run_until_count(f->loop, &f->log.messages, 1, SUPPORT_DEADLINE_MS));
    ping_and_wait(f, conn);
    /* Only the new server's message, after the new CONNECTED. */
    assert_int_equal(f->log.messages, 1);
    assert_int_equal(f->log.last_i, 100);
    assert_int_equal(f->log.connected, 2);
    assert_true(f->log.interrupted_at < f->log.connected_at);
    assert_true(f->log.connected_at < f->log.message_at);
    seam_conn_close(conn);
    assert_int_equal(support_server_stop(&f->server), 0);
}

static void test_send_right_after_a_sync_call_lost_its_server_reaches_the_next_one(void **state)
{
    fixture *f = *state;
    support_spawn_server(&f->server, NAME, &test_server);
    seam_conn *conn = connect_client(f);
    sync_call_to_dying_server(f, conn, 0);
    support_spawn_server(&f->server, NAME, &test_server);
    /* No loop iteration since the sync call returned. */
    seam_value *m = op_msg("echo");
    seam_dict_set_int64(m, "i", 7);
    assert_int_equal(seam_conn_send(conn, m), 0);
    seam_value_unref(m);
    assert_true(support_run_until_count(f->loop, &f->log.messages, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(f->log.last_i, 7);
    /* The loss is still reported, and before the new connection. */
    assert_int_equal(f->log.interrupted, 1);
    assert_int_equal(f->log.connected, 2);
    assert_true(f->log.interrupted_at < f->log.connected_at);
    seam_conn_close(conn);
    assert_int_equal(support_server_stop(&f->server), 0);
}

static void test_send_right_after_a_sync_call_lost_its_server_fails_when_none_listens(void **state)
{
    fixture *f = *state;
    support_spawn_server(&f->server, NAME, &test_server);
    seam_conn *conn = connect_client(f);
    sync_call_to_dying_server(f, conn, 0);
    seam_value *m = op_msg("echo");
    assert_int_equal(seam_conn_send(conn, m), SEAM_ENOTFOUND);
    seam_value_unref(m);
    assert_true(support_run_until_count(f->loop, &f->log.interrupted, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(f->log.invalid, 0);
    seam_conn_close(conn);
}

/* Two servers lost under two sync calls in a row, the loop not run in
 * between: the second sync call reaches the second server, and each loss
 * is reported. */
static void test_each_server_lost_under_a_sync_call_is_reported(void **state)
{
    fixture *f = *state;
    support_spawn_server(&f->server, NAME, &test_server);
    seam_conn *conn = connect_client(f);
    sync_call_to_dying_server(f, conn, 0);
    support_spawn_server(&f->server, NAME, &test_server);
    seam_value *m = op_msg("messages_then_die");
    seam_value *reply = NULL;
    assert_int_equal(seam_conn_call_sync(conn, m, CALL_MS, &reply), SEAM_ECONNRESET);
    seam_value_unref(m);
    /* The second server did get the call: it died of it. */
    assert_int_equal(support_child_wait(&f->server, SUPPORT_DEADLINE_MS), 0);
    assert_true(support_run_until_count(f->loop, &f->log.interrupted, 2, SUPPORT_DEADLINE_MS));
    support_run_once(f->loop, 10);
    assert_int_equal(f->log.interrupted, 2);
    assert_int_equal(f->log.invalid, 0);
    seam_conn_close(conn);
}

/* A server's own sync call to a peer that dies: the peer's INVALID comes
 * once, from the loop, and the peer is gone from the server after it. */
typedef struct peer_watch {
    seam_conn *peer;
    int connected;
    int invalid;
} peer_watch;

static peer_watch pw;

static void peer_watch_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        pw.connected++;
        pw.peer = conn;
    } else if (ev->type == SEAM_EVENT_INVALID) {
        pw.invalid++;
        pw.peer = NULL;
    }
}

static void die_on_request(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        _exit(0);
    }
}

static int dying_client_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    seam_loop *loop = NULL;
    seam_conn *conn = NULL;
    seam_conn_config cfg = {.on_event = die_on_request};
    if (seam_poll_new(0, &loop) < 0 || seam_conn_connect(loop, NAME, &cfg, &conn) < 0) {
        return 1;
    }
    for (;;) {
        seam_poll_run_once(loop, 1000);
    }
}

static void test_server_sync_call_to_a_peer_that_dies_reports_its_invalid_once(void **state)
{
    fixture *f = *state;
    memset(&pw, 0, sizeof(pw));
    seam_server_config cfg = {.conn.on_event = peer_watch_event};
    seam_server *server = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &server), 0);
    support_fork(&f->child, dying_client_main, NULL);
    assert_true(support_run_until_count(f->loop, &pw.connected, 1, SUPPORT_DEADLINE_MS));
    seam_value *m = op_msg("die");
    seam_value *reply = NULL;
    assert_int_equal(seam_conn_call_sync(pw.peer, m, CALL_MS, &reply), SEAM_ECONNRESET);
    seam_value_unref(m);
    assert_int_equal(pw.invalid, 0); /* reported from the loop */
    assert_true(support_run_until_count(f->loop, &pw.invalid, 1, SUPPORT_DEADLINE_MS));
    support_run_once(f->loop, 10);
    assert_int_equal(pw.invalid, 1);
    assert_int_equal(seam_server_peers(server, NULL, 0), 0);
    assert_int_equal(support_child_wait(&f->child, SUPPORT_DEADLINE_MS), 0);
    seam_server_close(server);
}

/* ==== closing during the handshake ====================================== */

static void test_close_during_handshake_writes_the_sends_queued_before_it(void **state)
{
    fixture *f = *state;
    support_spawn_server(&f->server, NAME, &test_server);
    seam_conn *early = connect_client(f);
    for (int i = 0; i < 3; i++) {
        seam_value *m = op_msg("note");
        assert_int_equal(seam_conn_send(early, m), 0);
        seam_value_unref(m);
    }
    seam_conn_close(early); /* before the server's hello was read */
    client_log other_log = {0};
    seam_conn_config cfg = {.on_event = client_event, .userdata = &other_log};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    int64_t count = 0;
    while (count < 3 && support_now_ms() < deadline) {
        reply_log log = {0};
        seam_value *m = op_msg("count");
        assert_int_equal(seam_conn_call(conn, m, CALL_MS, on_reply, &log, NULL), 0);
        seam_value_unref(m);
        assert_true(support_run_until_count(f->loop, &log.count, 1, SUPPORT_DEADLINE_MS));
        assert_int_equal(log.status, 0);
        assert_true(seam_dict_get_int64(log.value, "count", &count));
        seam_value_unref(log.value);
        support_run_once(f->loop, 20);
    }
    assert_int_equal(count, 3);
    seam_conn_close(conn);
    assert_int_equal(support_server_stop(&f->server), 0);
}

/* ==== what a sync call waits for ======================================== */

/* Listens on NAME's path and never accepts: connects succeed, no hello
 * ever comes. */
static int listen_mute(void)
{
    int fd = rawpeer_listen(NAME);
    assert_true(fd >= 0);
    return fd;
}

static int mute_caller_main(int chan, void *arg)
{
    (void)arg;
    seam_loop *loop = NULL;
    seam_conn *conn = NULL;
    seam_conn_config cfg = {.handshake_timeout_ms = 200};
    int status = 1;
    if (seam_poll_new(0, &loop) == 0 && seam_conn_connect(loop, NAME, &cfg, &conn) == 0) {
        seam_value *m = op_msg("echo");
        seam_value *reply = NULL;
        status = seam_conn_call_sync(conn, m, SEAM_NO_TIMEOUT, &reply);
        seam_value_unref(reply);
        seam_value_unref(m);
        seam_conn_close(conn);
    }
    if (loop != NULL) {
        seam_loop_free(loop);
    }
    return support_write_full(chan, &status, sizeof(status)) ? 0 : 2;
}

static void test_sync_call_ends_with_ehandshake_when_the_server_never_says_hello(void **state)
{
    fixture *f = *state;
    f->listen_fd = listen_mute();
    support_fork(&f->child, mute_caller_main, NULL);
    int status = 0;
    assert_true(support_read_full(f->child.chan, &status, sizeof(status), SUPPORT_DEADLINE_MS));
    assert_int_equal(status, SEAM_EHANDSHAKE);
    assert_int_equal(support_child_wait(&f->child, SUPPORT_DEADLINE_MS), 0);
}

/* Reads one frame's header (payload discarded). */
static bool raw_read_frame(int fd, uint8_t *kind, uint64_t *id, int timeout_ms)
{
    uint8_t hdr[16];
    if (rawpeer_read_frame(fd, hdr, NULL, 0, timeout_ms) < 0) {
        return false;
    }
    *kind = hdr[4];
    *id = rawpeer_get_id(hdr);
    return true;
}

/* A server by hand: reads two requests, waits up to a second for the
 * cancel of the first, then answers the second with whether it came
 * (CBOR true or false). */
static int cancel_watcher_main(int chan, void *arg)
{
    (void)arg;
    int lfd = rawpeer_listen(NAME);
    if (lfd < 0 || !support_write_full(chan, "r", 1)) {
        return 1;
    }
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0 || !support_write_full(fd, rawpeer_hello, sizeof(rawpeer_hello))) {
        return 2;
    }
    uint64_t ids[2] = {0, 0};
    size_t nreq = 0;
    bool cancelled = false;
    uint8_t kind;
    uint64_t id;
    while (nreq < 2 && raw_read_frame(fd, &kind, &id, SUPPORT_DEADLINE_MS)) {
        if (kind == 3) {
            ids[nreq++] = id;
        }
    }
    long long deadline = support_now_ms() + 1000;
    while (nreq == 2 && !cancelled && support_now_ms() < deadline) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) == 1 && raw_read_frame(fd, &kind, &id, SUPPORT_DEADLINE_MS)) {
            cancelled = kind == 6 && id == ids[0];
        }
    }
    uint8_t reply[17] = {1, 0, 0, 0, 4};
    for (int i = 0; i < 8; i++) {
        reply[8 + i] = (uint8_t)(ids[1] >> (8 * i));
    }
    reply[16] = cancelled ? 0xf5 : 0xf4;
    if (nreq != 2 || !support_write_full(fd, reply, sizeof(reply))) {
        return 3;
    }
    while (raw_read_frame(fd, &kind, &id, SUPPORT_DEADLINE_MS)) {
    }
    close(fd);
    return 0;
}

/* A call whose timeout passes while a sync call waits ends then: the
 * server hears its cancel at once, its callback runs from the loop. */
static void test_call_timing_out_during_a_sync_call_is_cancelled_at_its_deadline(void **state)
{
    fixture *f = *state;
    support_fork(&f->server, cancel_watcher_main, NULL);
    char ready;
    assert_true(support_read_full(f->server.chan, &ready, 1, SUPPORT_DEADLINE_MS));
    seam_conn *conn = connect_client(f);
    assert_true(support_run_until_count(f->loop, &f->log.connected, 1, SUPPORT_DEADLINE_MS));
    seam_value *m = op_msg("hold");
    reply_log log = {0};
    assert_int_equal(seam_conn_call(conn, m, 100, on_reply, &log, NULL), 0);
    seam_value_unref(m);
    m = op_msg("was_the_first_cancelled");
    seam_value *reply = NULL;
    assert_int_equal(seam_conn_call_sync(conn, m, CALL_MS, &reply), 0);
    seam_value_unref(m);
    bool cancelled = false;
    assert_true(seam_value_get_bool(reply, &cancelled));
    seam_value_unref(reply);
    assert_true(cancelled);
    assert_int_equal(log.count, 0); /* its callback waits for the loop */
    assert_true(support_run_until_count(f->loop, &log.count, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(log.status, SEAM_ETIMEDOUT);
    seam_conn_close(conn);
    assert_int_equal(support_child_wait(&f->server, SUPPORT_DEADLINE_MS), 0);
}

/* ==== closing while the server never says hello ========================= */

/* Accepts one connection on the mute listener and waits until the peer
 * hangs up; false if it does not before timeout_ms. */
static bool mute_peer_hangs_up(int listen_fd, int timeout_ms)
{
    struct pollfd p = {listen_fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) {
        return false;
    }
    int fd = accept(listen_fd, NULL, NULL);
    if (fd < 0) {
        return false;
    }
    long long deadline = support_now_ms() + timeout_ms;
    bool closed = false;
    while (!closed && support_now_ms() < deadline) {
        struct pollfd q = {fd, POLLIN, 0};
        if (poll(&q, 1, 50) == 1) {
            uint8_t buf[4096];
            closed = read(fd, buf, sizeof(buf)) <= 0;
        }
    }
    close(fd);
    return closed;
}

static int linger_main(int chan, void *arg)
{
    (void)arg;
    seam_loop *loop = NULL;
    seam_conn *conn = NULL;
    seam_conn_config cfg = {.handshake_timeout_ms = 100};
    int status = 1;
    if (seam_poll_new(0, &loop) == 0 && seam_conn_connect(loop, NAME, &cfg, &conn) == 0) {
        seam_value *m = op_msg("note");
        status = seam_conn_send(conn, m);
        seam_value_unref(m);
        seam_conn_close(conn);
        /* The close waits for a hello that never comes, then gives up. */
        long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
        while (support_now_ms() < deadline && seam_poll_run_once(loop, 50) >= 0) {
            char c;
            if (recv(chan, &c, 1, MSG_DONTWAIT) == 1) {
                break;
            }
        }
    }
    if (loop != NULL) {
        seam_loop_free(loop);
    }
    return status == 0 ? 0 : 2;
}

static void test_close_waiting_for_hello_gives_up_at_the_handshake_timeout(void **state)
{
    fixture *f = *state;
    f->listen_fd = listen_mute();
    support_fork(&f->child, linger_main, NULL);
    assert_true(mute_peer_hangs_up(f->listen_fd, SUPPORT_DEADLINE_MS));
    assert_true(support_write_full(f->child.chan, "x", 1));
    assert_int_equal(support_child_wait(&f->child, SUPPORT_DEADLINE_MS), 0);
}

static void test_loop_free_ends_a_close_waiting_for_hello(void **state)
{
    fixture *f = *state;
    f->listen_fd = listen_mute();
    seam_conn *conn = connect_client(f);
    seam_value *m = op_msg("note");
    assert_int_equal(seam_conn_send(conn, m), 0);
    seam_value_unref(m);
    seam_conn_close(conn);
    support_run_once(f->loop, 10);
    /* teardown frees the loop: the waiting socket goes, nothing leaks */
}

/* ==== what a sync call holds ============================================ */

typedef struct flood_args {
    int n;
    int size;
    bool fds;
} flood_args;

typedef struct flood_report {
    int status;
    long hwm_growth_kib; /* peak RSS growth during the sync call */
    int fds_growth;      /* descriptors open when it returned */
    int delivered;       /* messages delivered afterwards */
    int raw_out_of_order;
    int again; /* a sync call before the loop ran */
    int after; /* a sync call after them all */
} flood_report;

static long hwm_kib(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = atol(line + 6);
        }
    }
    if (fp != NULL) {
        fclose(fp);
    }
    return kib;
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    while (d != NULL && readdir(d) != NULL) {
        n++;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static int flood_caller_main(int chan, void *arg)
{
    const flood_args *a = arg;
    seam_loop *loop = NULL;
    seam_conn *conn = NULL;
    client_log log = {0};
    seam_conn_config cfg = {.on_event = client_event, .userdata = &log};
    flood_report rep;
    memset(&rep, 0, sizeof(rep)); /* padding too: it crosses a socket */
    rep.status = 1;
    rep.again = 1;
    rep.after = 1;
    if (seam_poll_new(0, &loop) < 0 || seam_conn_connect(loop, NAME, &cfg, &conn) < 0) {
        return 1;
    }
    support_run_until_count(loop, &log.connected, 1, SUPPORT_DEADLINE_MS);
    seam_value *m = op_msg("flood");
    seam_dict_set_int64(m, "n", a->n);
    seam_dict_set_int64(m, "size", a->size);
    seam_dict_set_bool(m, "fds", a->fds);
    seam_value *reply = NULL;
    long before = hwm_kib();
    int fds_before = open_fds();
    rep.status = seam_conn_call_sync(conn, m, CALL_MS, &reply);
    rep.hwm_growth_kib = hwm_kib() - before;
    rep.fds_growth = open_fds() - fds_before;
    seam_value_unref(reply);
    reply = NULL;
    rep.again = seam_conn_call_sync(conn, m, CALL_MS, &reply);
    seam_value_unref(reply);
    seam_value_unref(m);
    /* Everything held, and everything behind it, still arrives in order. */
    int *delivered = a->fds ? &log.messages : &log.raw;
    support_run_until_count(loop, delivered, a->n, SUPPORT_DEADLINE_MS);
    rep.delivered = *delivered;
    rep.raw_out_of_order = log.raw_out_of_order;
    m = op_msg("echo");
    reply = NULL;
    rep.after = seam_conn_call_sync(conn, m, CALL_MS, &reply);
    seam_value_unref(reply);
    seam_value_unref(m);
    seam_conn_close(conn);
    seam_loop_free(loop);
    return support_write_full(chan, &rep, sizeof(rep)) ? 0 : 2;
}

static flood_report run_flood(fixture *f, const flood_args *a)
{
    support_spawn_server(&f->server, NAME, &test_server);
    support_fork(&f->child, flood_caller_main, (void *)a);
    flood_report rep;
    assert_true(support_read_full(f->child.chan, &rep, sizeof(rep), 4 * SUPPORT_DEADLINE_MS));
    assert_int_equal(support_child_wait(&f->child, SUPPORT_DEADLINE_MS), 0);
    print_message("sync call during %d messages of %d bytes%s: %s, peak RSS +%ld KiB, %+d fds\n",
                  a->n, a->size, a->fds ? " with a descriptor" : "", seam_errname(rep.status),
                  rep.hwm_growth_kib, rep.fds_growth);
    assert_int_equal(rep.status, SEAM_ENOBUFS);
    assert_int_equal(rep.again, SEAM_ENOBUFS); /* nothing delivered yet, nothing sent */
    assert_int_equal(rep.delivered, a->n);
    assert_int_equal(rep.raw_out_of_order, 0);
    assert_int_equal(rep.after, 0);
    assert_int_equal(support_server_stop(&f->server), 0);
    return rep;
}

static void test_sync_call_holds_at_most_max_queue_then_fails_with_enobufs(void **state)
{
    flood_args a = {48, 1 << 20, false};
    flood_report rep = run_flood(*state, &a);
    /* The default bound is 8 MiB: generous room for one frame in the
     * parser, the read buffer and the allocator's own. */
    assert_true(rep.hwm_growth_kib < 24 * 1024);
}

/* Small frames cost more to hold than their bytes: the bound counts that. */
static void test_sync_call_bound_counts_what_each_held_frame_costs(void **state)
{
    flood_args a = {200000, 1, false};
    flood_report rep = run_flood(*state, &a);
    assert_true(rep.hwm_growth_kib < 24 * 1024);
}

static void test_sync_call_holds_a_bounded_number_of_descriptors(void **state)
{
    flood_args a = {1000, 1, true};
    flood_report rep = run_flood(*state, &a);
    assert_true(rep.fds_growth <= 256 + 64);
}

static void test_sync_call_holds_one_frame_larger_than_max_queue(void **state)
{
    fixture *f = *state;
    support_spawn_server(&f->server, NAME, &test_server);
    seam_conn_config cfg = {.on_event = client_event, .userdata = &f->log, .max_queue = 64 << 10};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    assert_true(support_run_until_count(f->loop, &f->log.connected, 1, SUPPORT_DEADLINE_MS));
    seam_value *m = op_msg("big_message_first");
    seam_dict_set_int64(m, "size", 256 << 10);
    seam_value *reply = NULL;
    assert_int_equal(seam_conn_call_sync(conn, m, CALL_MS, &reply), 0);
    assert_true(seam_value_equal(reply, m));
    seam_value_unref(reply);
    seam_value_unref(m);
    assert_true(support_run_until_count(f->loop, &f->log.raw, 1, SUPPORT_DEADLINE_MS));
    seam_conn_close(conn);
    assert_int_equal(support_server_stop(&f->server), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        T(test_reply_inside_callback_never_frees_a_kept_request),
        T(test_frames_held_by_a_sync_call_die_with_its_connection),
        T(test_send_right_after_a_sync_call_lost_its_server_reaches_the_next_one),
        T(test_send_right_after_a_sync_call_lost_its_server_fails_when_none_listens),
        T(test_each_server_lost_under_a_sync_call_is_reported),
        T(test_server_sync_call_to_a_peer_that_dies_reports_its_invalid_once),
        T(test_close_during_handshake_writes_the_sends_queued_before_it),
        T(test_sync_call_ends_with_ehandshake_when_the_server_never_says_hello),
        T(test_call_timing_out_during_a_sync_call_is_cancelled_at_its_deadline),
        T(test_close_waiting_for_hello_gives_up_at_the_handshake_timeout),
        T(test_loop_free_ends_a_close_waiting_for_hello),
        T(test_sync_call_holds_at_most_max_queue_then_fails_with_enobufs),
        T(test_sync_call_bound_counts_what_each_held_frame_costs),
        T(test_sync_call_holds_a_bounded_number_of_descriptors),
        T(test_sync_call_holds_one_frame_larger_than_max_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
