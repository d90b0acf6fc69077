/* SPDX-License-Identifier: MIT */
/* regress_conn_edges.c - a connection at the edges of its bounds and its
 * life: what is reported after a connection ended, a large answer behind a
 * small one, descriptors and frames that arrive while reading is paused,
 * what a sync call holds, how a goodbye reads inside a sync call, and
 * bounds given as "no bound". The peer is a raw socket driven by hand
 * (frames written byte by byte), or a server in a forked child; the
 * parent's loop is the driver linked in (poll, libuv or libev). Deadlines
 * only bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conn.h"
#include "frame.h"
#include "hello.h"
#include "rawpeer.h"
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define NAME "t.connedges"

/* ---- the event log and the fixture ---- */

#define LOG_MAX 512

typedef struct evlog {
    int types[LOG_MAX];
    int errors[LOG_MAX];
    int n;
    int replies_ok;
    int replies_failed;
} evlog;

typedef struct fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    evlog log;
    int listen_fd;
    support_child server;
} fixture;

static void log_event(seam_conn *c, const seam_event *ev, void *ud)
{
    (void)c;
    evlog *l = ud;
    if (l->n < LOG_MAX) {
        l->types[l->n] = ev->type;
        l->errors[l->n] = ev->error;
        l->n++;
    }
}

static bool log_has(const evlog *l, int type)
{
    for (int i = 0; i < l->n; i++) {
        if (l->types[i] == type) {
            return true;
        }
    }
    return false;
}

static bool has_connected(void *arg)
{
    return log_has(arg, SEAM_EVENT_CONNECTED);
}

static bool has_invalid(void *arg)
{
    return log_has(arg, SEAM_EVENT_INVALID);
}

static bool has_interrupted(void *arg)
{
    return log_has(arg, SEAM_EVENT_INTERRUPTED);
}

static void on_reply_count(seam_conn *c, const seam_reply *r, void *ud)
{
    (void)c;
    evlog *l = ud;
    if (r->status == 0) {
        l->replies_ok++;
    } else {
        l->replies_failed++;
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    f->listen_fd = -1;
    f->server.chan = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    support_child_kill(&f->server);
    if (f->listen_fd >= 0) {
        close(f->listen_fd);
    }
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

/* Runs the loop for about ms (no condition: to let things settle). */
static void run_for(seam_loop *loop, int ms)
{
    long long end = support_now_ms() + ms;
    for (long long now = support_now_ms(); now < end; now = support_now_ms()) {
        support_run_once(loop, (int)(end - now));
    }
}

/* ---- the raw peer ---- */

/* A socket listening on NAME's path, as a server that is not seam. */
static int raw_listen(void)
{
    int fd = rawpeer_listen(NAME);
    assert_true(fd >= 0);
    return fd;
}

static void send_hello(int fd, uint64_t max_frame)
{
    seam__buf b = {0};
    seam__hello h = {SEAM_PROTOCOL_VERSION, max_frame, 64, 0, 0};
    assert_int_equal(seam__hello_write(&h, &b), 0);
    assert_true(support_write_full(fd, b.data, b.len));
    seam__buf_free(&b);
}

/* A frame with a CBOR value payload (or none). */
static void send_value_frame(int fd, uint8_t kind, uint64_t id, const seam_value *v)
{
    seam__buf b = {0};
    assert_int_equal(seam__buf_reserve(&b, SEAM__FRAME_HEADER_SIZE), 0);
    b.len = SEAM__FRAME_HEADER_SIZE;
    if (v != NULL) {
        assert_int_equal(seam__encode(v, &b, NULL, 0, NULL), 0);
    }
    seam__frame_header h = {(uint32_t)(b.len - SEAM__FRAME_HEADER_SIZE), kind, 0, 0, id};
    seam__frame_header_write(b.data, &h);
    assert_true(support_write_full(fd, b.data, b.len));
    seam__buf_free(&b);
}

static void send_goodbye(int fd, int code)
{
    seam_value *m = seam_value_new_dict();
    if (code != 0) {
        seam_dict_set_int64(m, "code", code);
    }
    seam_dict_set_string(m, "reason", "test");
    send_value_frame(fd, SEAM__KIND_GOODBYE, 0, m);
    seam_value_unref(m);
}

/* Reads and throws away what the peer wrote so far. */
static size_t drain_fd(int fd)
{
    static uint8_t buf[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0) {
            break;
        }
        total += (size_t)n;
    }
    return total;
}

/* Connects a client with cfg to a raw peer that says hello; returns the
 * peer's end. */
static int connect_raw(fixture *f, seam_conn_config *cfg, seam_conn **conn)
{
    f->listen_fd = raw_listen();
    assert_int_equal(seam_conn_connect(f->loop, NAME, cfg, conn), 0);
    int sfd = accept(f->listen_fd, NULL, NULL);
    assert_true(sfd >= 0);
    send_hello(sfd, 16 << 20);
    assert_true(support_run_until(f->loop, has_connected, &f->log, SUPPORT_DEADLINE_MS));
    drain_fd(sfd);
    return sfd;
}

/* A tiny message (a CBOR null) is this long. */
enum { TINY = SEAM__FRAME_HEADER_SIZE + 1 };

/* n tiny messages one after the other in out. */
static void tiny_messages(uint8_t *out, int n)
{
    for (int i = 0; i < n; i++) {
        seam__frame_header h = {1, SEAM__KIND_MESSAGE, 0, 0, 0};
        seam__frame_header_write(out + i * TINY, &h);
        out[i * TINY + SEAM__FRAME_HEADER_SIZE] = 0xf6;
    }
}

/* A sync call of m (freed here) that cannot be answered in time; checks
 * that what it held stayed within bound plus one frame's cost at most,
 * and returns how it ended. */
static int sync_call_held_within(seam_conn *conn, seam_value *m, size_t bound)
{
    seam_value *reply = NULL;
    int r = seam_conn_call_sync(conn, m, 300, &reply);
    print_message("sync call: %s, holding %zu bytes (bound %zu)\n", seam_errname(r),
                  conn->held_bytes, bound);
    assert_true(conn->held_bytes <= bound + 4096);
    seam_value_unref(m);
    return r;
}

/* ==== nothing after the end ============================================== */

static void test_no_writable_after_invalid(void **state)
{
    fixture *f = *state;
    seam_conn_config cfg = {.on_event = log_event, .userdata = &f->log, .max_queue = 64 << 10};
    seam_conn *conn = NULL;
    int sfd = connect_raw(f, &cfg, &conn);
    static uint8_t chunk[16 << 10];
    int r;
    while ((r = seam_conn_send_raw(conn, 1, chunk, sizeof(chunk))) == 0) {
    }
    assert_int_equal(r, SEAM_EAGAIN); /* WRITABLE wanted */
    send_goodbye(sfd, SEAM_EACCES);
    /* The sync wait's flush drains the queue, then the goodbye ends the
     * connection inside it. */
    seam_value *m = seam_value_new_dict();
    seam_value *reply = NULL;
    assert_true(seam_conn_call_sync(conn, m, SUPPORT_DEADLINE_MS, &reply) < 0);
    seam_value_unref(m);
    assert_true(support_run_until(f->loop, has_invalid, &f->log, SUPPORT_DEADLINE_MS));
    run_for(f->loop, 100);
    int inv = -1;
    for (int i = 0; i < f->log.n; i++) {
        if (f->log.types[i] == SEAM_EVENT_INVALID) {
            inv = i;
            break;
        }
    }
    assert_true(inv >= 0);
    assert_int_equal(f->log.n, inv + 1); /* INVALID is the last event */
    seam_conn_close(conn);
    close(sfd);
}

static void test_writable_wanted_on_a_lost_socket_is_not_reported_on_the_next(void **state)
{
    fixture *f = *state;
    seam_conn_config cfg = {.on_event = log_event, .userdata = &f->log, .max_queue = 64 << 10};
    seam_conn *conn = NULL;
    int sfd = connect_raw(f, &cfg, &conn);
    static uint8_t chunk[16 << 10];
    int r;
    while ((r = seam_conn_send_raw(conn, 1, chunk, sizeof(chunk))) == 0) {
    }
    assert_int_equal(r, SEAM_EAGAIN);
    close(sfd); /* the server goes before it read anything */
    assert_true(support_run_until(f->loop, has_interrupted, &f->log, SUPPORT_DEADLINE_MS));
    int before = f->log.n;
    assert_int_equal(seam_conn_send_raw(conn, 1, chunk, 10), 0); /* reconnects */
    int sfd2 = accept(f->listen_fd, NULL, NULL);                 /* no hello yet */
    assert_true(sfd2 >= 0);
    run_for(f->loop, 200);
    for (int i = before; i < f->log.n; i++) {
        assert_int_not_equal(f->log.types[i], SEAM_EVENT_WRITABLE);
    }
    seam_conn_close(conn);
    close(sfd2);
}

/* ==== answers ============================================================ */

/* The server's side (in a child): every request is answered with 300 KiB,
 * well over four times its max_queue. */
static void big_reply_event(seam_conn *c, const seam_event *ev, void *ud)
{
    (void)c;
    (void)ud;
    if (ev->type == SEAM_EVENT_REQUEST) {
        static uint8_t blob[300 << 10];
        seam_value *big = seam_value_new_data(blob, sizeof(blob));
        if (big == NULL || seam_request_reply(ev->request, big) != 0) {
            _exit(3);
        }
        seam_value_unref(big);
    }
}

static bool two_replies(void *arg)
{
    const evlog *l = arg;
    return l->replies_ok + l->replies_failed >= 2;
}

static void test_lone_large_reply_behind_a_pong_is_sent(void **state)
{
    fixture *f = *state;
    seam_server_config scfg = {.conn = {.on_event = big_reply_event, .max_queue = 64 << 10}};
    support_spawn_server(&f->server, NAME, &scfg);
    seam_conn_config cfg = {.on_event = log_event, .userdata = &f->log};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    assert_true(support_run_until(f->loop, has_connected, &f->log, SUPPORT_DEADLINE_MS));
    /* The pong is still queued in the server when the reply is. */
    seam_value *m = seam_value_new_dict();
    assert_int_equal(seam_conn_ping(conn, SUPPORT_DEADLINE_MS, on_reply_count, &f->log), 0);
    assert_int_equal(seam_conn_call(conn, m, SUPPORT_DEADLINE_MS, on_reply_count, &f->log, NULL),
                     0);
    seam_value_unref(m);
    assert_true(support_run_until(f->loop, two_replies, &f->log, SUPPORT_DEADLINE_MS));
    assert_int_equal(f->log.replies_ok, 2);
    assert_int_equal(f->log.replies_failed, 0);
    assert_false(log_has(&f->log, SEAM_EVENT_INTERRUPTED));
    seam_conn_close(conn);
    assert_int_equal(support_server_stop(&f->server), 0);
}

/* ==== how an end reads =================================================== */

/* The error of the INTERRUPTED that a clean goodbye (no code) followed by
 * a close gives, seen in the loop or inside a sync call. */
static int goodbye_then_close(fixture *f, bool in_sync)
{
    memset(&f->log, 0, sizeof(f->log));
    seam_conn_config cfg = {.on_event = log_event, .userdata = &f->log};
    seam_conn *conn = NULL;
    int sfd = connect_raw(f, &cfg, &conn);
    send_goodbye(sfd, 0);
    close(sfd);
    if (in_sync) {
        seam_value *m = seam_value_new_dict();
        seam_value *reply = NULL;
        assert_int_equal(seam_conn_call_sync(conn, m, SUPPORT_DEADLINE_MS, &reply),
                         SEAM_ECONNRESET);
        seam_value_unref(m);
    }
    assert_true(support_run_until(f->loop, has_interrupted, &f->log, SUPPORT_DEADLINE_MS));
    int err = 0;
    for (int i = 0; i < f->log.n; i++) {
        if (f->log.types[i] == SEAM_EVENT_INTERRUPTED) {
            err = f->log.errors[i];
        }
    }
    assert_false(log_has(&f->log, SEAM_EVENT_INVALID));
    seam_conn_close(conn);
    close(f->listen_fd);
    f->listen_fd = -1;
    char path[PATH_MAX];
    assert_true(seam_name_path(NAME, path, sizeof(path)) >= 0);
    unlink(path);
    return err;
}

static void test_clean_goodbye_reads_as_a_close_also_during_a_sync_call(void **state)
{
    fixture *f = *state;
    assert_int_equal(goodbye_then_close(f, false), SEAM_ECLOSED);
    assert_int_equal(goodbye_then_close(f, true), SEAM_ECLOSED);
}

/* ==== input while reading is paused ====================================== */

/* The client's side: every request is answered with 64 KiB; messages are
 * counted with the descriptors they brought. */
typedef struct answering {
    evlog *log;
    int messages;
    int message_fds;
} answering;

static void answer_big_event(seam_conn *c, const seam_event *ev, void *ud)
{
    answering *a = ud;
    if (ev->type == SEAM_EVENT_REQUEST) {
        static uint8_t blob[64 << 10];
        assert_int_equal(seam_request_reply_raw(ev->request, 0, blob, sizeof(blob)), 0);
        return;
    }
    if (ev->type == SEAM_EVENT_MESSAGE) {
        a->messages++;
        a->message_fds += (int)ev->nfds;
        return;
    }
    log_event(c, ev, a->log);
}

/* A raw message of 0 bytes (its raw id only) carrying descriptor fd. */
static int send_fd_frame(int sfd, int fd)
{
    uint8_t frame[SEAM__FRAME_HEADER_SIZE + SEAM__FRAME_RAW_ID_SIZE] = {0};
    seam__frame_header h = {SEAM__FRAME_RAW_ID_SIZE, SEAM__KIND_MESSAGE, SEAM__FLAG_RAW, 1, 0};
    seam__frame_header_write(frame, &h);
    struct iovec iov = {frame, sizeof(frame)};
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof(cbuf));
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    return sendmsg(sfd, &msg, MSG_DONTWAIT) == (ssize_t)sizeof(frame) ? 0 : -1;
}

typedef struct drain_until {
    int sfd;
    const answering *a;
    int want;
} drain_until;

static bool peer_reads_until_messages(void *arg)
{
    drain_until *d = arg;
    drain_fd(d->sfd);
    return d->a->messages >= d->want;
}

static void test_descriptors_sent_while_reading_is_paused_are_all_delivered(void **state)
{
    fixture *f = *state;
    answering a = {.log = &f->log};
    seam_conn_config cfg = {.on_event = answer_big_event, .userdata = &a, .max_queue = 64 << 10};
    seam_conn *conn = NULL;
    f->listen_fd = raw_listen();
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    int sfd = accept(f->listen_fd, NULL, NULL);
    assert_true(sfd >= 0);
    send_hello(sfd, 16 << 20);
    assert_true(support_run_until(f->loop, has_connected, &f->log, SUPPORT_DEADLINE_MS));
    drain_fd(sfd); /* the client's hello; from now on the peer reads nothing */
    /* A call of ours in flight, never answered: input is still taken. */
    seam_value *m = seam_value_new_dict();
    assert_int_equal(
        seam_conn_call(conn, m, 4 * SUPPORT_DEADLINE_MS, on_reply_count, &f->log, NULL), 0);
    int reqs = 0;
    while (!conn->read_paused && reqs < 100) {
        send_value_frame(sfd, SEAM__KIND_REQUEST, 1000 + (uint64_t)reqs, m);
        reqs++;
        run_for(f->loop, 10);
    }
    seam_value_unref(m);
    assert_true(conn->read_paused);
    /* Room in the socket for more messages than the store holds, however
     * slowly this loop gets to read under load (root may force it). */
    int room = 8 << 20;
    if (setsockopt(sfd, SOL_SOCKET, SO_SNDBUFFORCE, &room, sizeof(room)) < 0) {
        setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &room, sizeof(room));
    }
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(nullfd >= 0);
    int sent = 0;
    for (int i = 0; i < 600 && !log_has(&f->log, SEAM_EVENT_INVALID); i++) {
        if (send_fd_frame(sfd, nullfd) == 0) {
            sent++;
        }
        run_for(f->loop, 1);
    }
    close(nullfd);
    run_for(f->loop, 50);
    print_message("%d one-descriptor messages sent while paused\n", sent);
    assert_true(sent > 2 * 253); /* more than the descriptor store holds */
    assert_false(log_has(&f->log, SEAM_EVENT_INVALID));
    /* The peer reads its answers: reading resumes, everything arrives. */
    drain_until d = {sfd, &a, sent};
    assert_true(support_run_until(f->loop, peer_reads_until_messages, &d, SUPPORT_DEADLINE_MS));
    assert_int_equal(a.messages, sent);
    assert_int_equal(a.message_fds, sent);
    assert_false(log_has(&f->log, SEAM_EVENT_INVALID));
    seam_conn_close(conn);
    close(sfd);
}

/* ==== what a sync call holds ============================================= */

static void count_messages_event(seam_conn *c, const seam_event *ev, void *ud)
{
    answering *a = ud;
    if (ev->type == SEAM_EVENT_MESSAGE) {
        a->messages++;
        return;
    }
    log_event(c, ev, a->log);
}

static void test_sync_call_holds_no_more_than_its_bound_from_input_set_aside(void **state)
{
    fixture *f = *state;
    answering a = {.log = &f->log};
    seam_conn_config cfg = {
        .on_event = count_messages_event, .userdata = &a, .max_queue = 64 << 10};
    seam_conn *conn = NULL;
    /* The socket's own buffer is what this test shrinks: the socket path. */
    setenv("SEAM_NO_SHM", "1", 1);
    int sfd = connect_raw(f, &cfg, &conn);
    unsetenv("SEAM_NO_SHM");
    assert_int_equal(fcntl(sfd, F_SETFL, O_NONBLOCK), 0);
    int small = 4096;
    assert_int_equal(
        setsockopt(conn->tran->fd(conn->pipe), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    seam_value *m = seam_value_new_dict();
    /* A call of ours in flight: input is taken while answers pile up. */
    assert_int_equal(
        seam_conn_call(conn, m, 4 * SUPPORT_DEADLINE_MS, on_reply_count, &f->log, NULL), 0);
    /* 1. Pings until reading pauses (the peer reads no pong). */
    static uint8_t pings[256 * SEAM__FRAME_HEADER_SIZE];
    for (int i = 0; i < 256; i++) {
        seam__frame_header h = {0, SEAM__KIND_PING, 0, 0, (uint64_t)i + 1};
        seam__frame_header_write(pings + i * SEAM__FRAME_HEADER_SIZE, &h);
    }
    long long end = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (!conn->read_paused && support_now_ms() < end) {
        ssize_t w = write(sfd, pings, sizeof(pings));
        (void)w;
        run_for(f->loop, 3);
    }
    assert_true(conn->read_paused);
    /* 2. Tiny messages (a CBOR null each), taken unhandled. */
    static uint8_t msgs[1000 * TINY];
    tiny_messages(msgs, 1000);
    size_t sent = 0;
    while (conn->in_pending.len < 200000 && !log_has(&f->log, SEAM_EVENT_INVALID) &&
           support_now_ms() < end) {
        ssize_t w = write(sfd, msgs, sizeof(msgs));
        if (w > 0) {
            sent += (size_t)w;
        }
        run_for(f->loop, 3);
    }
    assert_true(conn->in_pending.len >= 200000);
    /* 3. The peer reads a little: answers fall under max_queue, reading
     * stays paused. */
    uint8_t buf[256];
    while (conn->ans_queued + 200 > cfg.max_queue && support_now_ms() < end) {
        ssize_t n = read(sfd, buf, sizeof(buf));
        (void)n;
        run_for(f->loop, 2);
    }
    assert_true(conn->read_paused);
    /* Something to read during the wait: the set-aside input is parsed. */
    assert_true(support_write_full(sfd, msgs, TINY));
    int r = sync_call_held_within(conn, m, cfg.max_queue);
    assert_true(r == SEAM_ENOBUFS || r == SEAM_ETIMEDOUT);
    assert_false(log_has(&f->log, SEAM_EVENT_INVALID));
    seam_conn_close(conn);
    close(sfd);
}

/* Without input set aside: one read of tiny frames is held up to the
 * bound, the rest waits in order. */
static void test_sync_call_holds_no_more_than_its_bound_from_one_read(void **state)
{
    fixture *f = *state;
    answering a = {.log = &f->log};
    seam_conn_config cfg = {
        .on_event = count_messages_event, .userdata = &a, .max_queue = 64 << 10};
    seam_conn *conn = NULL;
    int sfd = connect_raw(f, &cfg, &conn);
    enum { N = 3800 }; /* one 64 KiB read */
    static uint8_t msgs[N * TINY];
    tiny_messages(msgs, N);
    assert_true(support_write_full(sfd, msgs, sizeof(msgs)));
    seam_value *m = seam_value_new_dict();
    assert_int_equal(sync_call_held_within(conn, m, cfg.max_queue), SEAM_ENOBUFS);
    /* Everything is delivered afterwards, nothing lost. */
    assert_true(support_run_until_count(f->loop, &a.messages, N, SUPPORT_DEADLINE_MS));
    assert_int_equal(a.messages, N);
    assert_false(log_has(&f->log, SEAM_EVENT_INVALID));
    seam_conn_close(conn);
    close(sfd);
}

/* ==== "no bound" ========================================================= */

static void test_max_queue_of_size_max_reads_as_no_bound(void **state)
{
    fixture *f = *state;
    answering a = {.log = &f->log};
    seam_conn_config cfg = {
        .on_event = count_messages_event, .userdata = &a, .max_queue = SIZE_MAX};
    seam_conn *conn = NULL;
    int sfd = connect_raw(f, &cfg, &conn);
    /* Sends are bounded by nothing: 4 MiB wait, the peer reads nothing. */
    static uint8_t chunk[64 << 10];
    for (int i = 0; i < 64; i++) {
        assert_int_equal(seam_conn_send_raw(conn, 1, chunk, sizeof(chunk)), 0);
    }
    run_for(f->loop, 50);
    /* Pongs queue behind them: a few bytes of answers, far from any bound. */
    for (uint64_t id = 1; id <= 3; id++) {
        send_value_frame(sfd, SEAM__KIND_PING, id, NULL);
        run_for(f->loop, 20);
    }
    seam_value *m = seam_value_new_dict();
    send_value_frame(sfd, SEAM__KIND_MESSAGE, 0, m);
    seam_value_unref(m);
    assert_true(support_run_until_count(f->loop, &a.messages, 1, SUPPORT_DEADLINE_MS));
    assert_false(conn->read_paused);
    assert_false(log_has(&f->log, SEAM_EVENT_INVALID));
    assert_false(log_has(&f->log, SEAM_EVENT_INTERRUPTED));
    seam_conn_close(conn);
    close(sfd);
}

/* ==== a header's 32-bit length =========================================== */

static void test_peer_max_frame_over_4_gib_reads_as_4_gib(void **state)
{
    fixture *f = *state;
    seam_conn_config cfg = {.on_event = log_event, .userdata = &f->log};
    seam_conn *conn = NULL;
    f->listen_fd = raw_listen();
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    int sfd = accept(f->listen_fd, NULL, NULL);
    assert_true(sfd >= 0);
    send_hello(sfd, (uint64_t)1 << 40); /* no frame header can say that */
    assert_true(support_run_until(f->loop, has_connected, &f->log, SUPPORT_DEADLINE_MS));
    assert_int_equal(conn->peer.max_frame, UINT32_MAX);
    /* The connection works as ever. */
    seam_value *m = seam_value_new_dict();
    assert_int_equal(seam_conn_send(conn, m), 0);
    seam_value_unref(m);
    run_for(f->loop, 20);
    assert_true(drain_fd(sfd) > 0);
    assert_false(log_has(&f->log, SEAM_EVENT_INVALID));
    seam_conn_close(conn);
    close(sfd);
}

/* ==== the idle sweep ===================================================== */

/* A raw client of NAME that has said hello (the server's hello read). */
static int raw_connect(void)
{
    char path[PATH_MAX];
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true(seam_name_path(NAME, path, sizeof(path)) >= 0);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    send_hello(fd, 16 << 20);
    return fd;
}

static bool server_has_peer(void *arg)
{
    const seam_server *srv = arg;
    return srv->peers != NULL && srv->peers->state == SEAM__CONN_OPEN;
}

static bool peer_invalid(void *arg)
{
    return log_has(arg, SEAM_EVENT_INVALID);
}

/* Pings until c stops reading (the pongs are not read). */
static void ping_until_paused(seam_loop *loop, int fd, const seam_conn *c)
{
    static uint8_t pings[256 * SEAM__FRAME_HEADER_SIZE];
    for (int i = 0; i < 256; i++) {
        seam__frame_header h = {0, SEAM__KIND_PING, 0, 0, (uint64_t)i + 1};
        seam__frame_header_write(pings + i * SEAM__FRAME_HEADER_SIZE, &h);
    }
    long long end = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (!c->read_paused && support_now_ms() < end) {
        ssize_t w = send(fd, pings, sizeof(pings), MSG_DONTWAIT);
        (void)w;
        run_for(loop, 2);
    }
    assert_true(c->read_paused);
}

static void test_idle_sweep_spares_a_peer_reading_its_answers_while_we_paused(void **state)
{
    fixture *f = *state;
    seam_server_config scfg = {
        .conn = {.on_event = log_event, .userdata = &f->log, .max_queue = 256 << 10},
        .idle_timeout_ms = 600};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &scfg, &srv), 0);
    /* The socket's own buffer is what this test shrinks: the socket path. */
    setenv("SEAM_NO_SHM", "1", 1);
    int fd = raw_connect();
    assert_true(support_run_until(f->loop, server_has_peer, srv, SUPPORT_DEADLINE_MS));
    unsetenv("SEAM_NO_SHM");
    /* Small writes on the server's side, so that what the peer reads
     * frees room (and moves its bytes out) as it goes. */
    int small = 4096;
    assert_int_equal(setsockopt(srv->peers->tran->fd(srv->peers->pipe), SOL_SOCKET, SO_SNDBUF,
                                &small, sizeof(small)),
                     0);
    ping_until_paused(f->loop, fd, srv->peers);
    /* The peer reads its pongs, slowly: nothing more of it is read for
     * much longer than the idle timeout, yet it is busy. */
    long long end = support_now_ms() + 3000;
    size_t got = 0;
    uint64_t last_in = srv->peers->stats.bytes_in;
    long long since = support_now_ms();
    long long longest = 0; /* the longest stretch with nothing read of it */
    while (support_now_ms() < end && !log_has(&f->log, SEAM_EVENT_INVALID)) {
        long long now = support_now_ms();
        if (srv->peers->stats.bytes_in != last_in) {
            last_in = srv->peers->stats.bytes_in;
            since = now;
        } else if (now - since > longest) {
            longest = now - since;
        }
        uint8_t buf[1024];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            got += (size_t)n;
        }
        run_for(f->loop, 10);
    }
    print_message("the peer read %zu bytes of pongs in 3 s; nothing read of it for %lld ms\n", got,
                  longest);
    assert_true(got > 0);
    assert_true(longest > 600); /* it was not read for longer than the timeout */
    assert_false(log_has(&f->log, SEAM_EVENT_INVALID));
    /* Once nothing moves either way it is idle. */
    assert_true(support_run_until(f->loop, peer_invalid, &f->log, SUPPORT_DEADLINE_MS));
    for (int i = 0; i < f->log.n; i++) {
        if (f->log.types[i] == SEAM_EVENT_INVALID) {
            assert_int_equal(f->log.errors[i], SEAM_ETIMEDOUT);
        }
    }
    close(fd);
    seam_server_close(srv);
}

/* ==== calls ended during the handshake =================================== */

static void release_none(const void *bytes, void *userdata)
{
    (void)bytes;
    (void)userdata;
}

static void test_calls_ended_during_the_handshake_are_never_sent(void **state)
{
    fixture *f = *state;
    seam_conn_config cfg = {.on_event = log_event, .userdata = &f->log};
    seam_conn *conn = NULL;
    f->listen_fd = raw_listen();
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    int sfd = accept(f->listen_fd, NULL, NULL); /* no hello yet */
    assert_true(sfd >= 0);
    seam_value *m = seam_value_new_dict();
    seam_dict_set_string(m, "op", "cancelled");
    uint64_t id = 0;
    assert_int_equal(seam_conn_call(conn, m, SUPPORT_DEADLINE_MS, on_reply_count, &f->log, &id), 0);
    static uint8_t blob[32 << 10]; /* copied: the handshake is not done */
    assert_int_equal(seam_conn_send_raw_nocopy(conn, 7, blob, sizeof(blob), release_none, NULL), 0);
    assert_int_equal(seam_conn_cancel(conn, id), 0);
    seam_value *reply = NULL;
    assert_int_equal(seam_conn_call_sync(conn, m, 100, &reply), SEAM_ETIMEDOUT);
    assert_int_equal(seam_conn_send(conn, m), 0);
    seam_value_unref(m);
    send_hello(sfd, 16 << 20);
    assert_true(support_run_until(f->loop, has_connected, &f->log, SUPPORT_DEADLINE_MS));
    run_for(f->loop, 50);
    /* What the client wrote: its hello, then the two messages only. */
    static uint8_t in[1 << 16];
    size_t n = 0;
    for (long long end = support_now_ms() + 200; support_now_ms() < end;) {
        ssize_t r = recv(sfd, in + n, sizeof(in) - n, MSG_DONTWAIT);
        if (r > 0) {
            n += (size_t)r;
        }
        run_for(f->loop, 10);
    }
    int kinds[16];
    int nframes = 0;
    for (size_t off = 0; off + SEAM__FRAME_HEADER_SIZE <= n && nframes < 16;) {
        seam__frame_header h;
        seam__frame_header_read(in + off, &h);
        kinds[nframes++] = h.kind;
        off += SEAM__FRAME_HEADER_SIZE + h.len;
        assert_true(off <= n);
    }
    assert_int_equal(nframes, 3);
    assert_int_equal(kinds[0], SEAM__KIND_HELLO);
    assert_int_equal(kinds[1], SEAM__KIND_MESSAGE);
    assert_int_equal(kinds[2], SEAM__KIND_MESSAGE);
    assert_int_equal(f->log.replies_failed, 1); /* the cancelled call, once */
    seam_conn_close(conn);
    close(sfd);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        T(test_no_writable_after_invalid),
        T(test_writable_wanted_on_a_lost_socket_is_not_reported_on_the_next),
        T(test_lone_large_reply_behind_a_pong_is_sent),
        T(test_clean_goodbye_reads_as_a_close_also_during_a_sync_call),
        T(test_descriptors_sent_while_reading_is_paused_are_all_delivered),
        T(test_sync_call_holds_no_more_than_its_bound_from_input_set_aside),
        T(test_sync_call_holds_no_more_than_its_bound_from_one_read),
        T(test_max_queue_of_size_max_reads_as_no_bound),
        T(test_peer_max_frame_over_4_gib_reads_as_4_gib),
        T(test_idle_sweep_spares_a_peer_reading_its_answers_while_we_paused),
        T(test_calls_ended_during_the_handshake_are_never_sent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
