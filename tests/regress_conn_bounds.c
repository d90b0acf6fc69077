/* SPDX-License-Identifier: MIT */
/* regress_conn_bounds.c - what one connection may cost and how it ends: a
 * peer that does not read its answers, unclaimed descriptors, many calls
 * ended at once, the send buffer after a large message, sends over the
 * peer's frame limit, goodbyes and their codes, half-closed peers. The
 * seam side runs in this process on the poll driver; hostile peers are
 * forked processes writing docs/protocol.md by hand over real sockets.
 * Deadlines only bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conn.h"
#include "rawpeer.h"
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SEAM_ENOBUFS
#define SEAM_ENOBUFS (-ENOBUFS)
#endif

#define NAME    "t.bounds"
#define WAIT_MS SUPPORT_DEADLINE_MS

static bool chan_readable(void *arg)
{
    struct pollfd p = {*(int *)arg, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

/* Open descriptors, leaving out the host loop's own (eventfds, timerfds,
 * epoll: libdispatch makes some lazily, in the middle of a test). */
static int open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[300];
        char target[64] = "";
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' ||
            (readlink(path, target, sizeof(target) - 1) > 0 &&
             strncmp(target, "anon_inode:", 11) == 0)) {
            continue;
        }
        n++;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

/* ---- a seam server in this process ---- */

typedef struct bounds_server {
    seam_server *server;
    seam_conn *peer; /* the last peer to connect, until it leaves */
    int connected;
    int invalid;
    int invalid_error;
    int requests;
    int messages;
    size_t last_nfds;
    uint64_t max_queued; /* of the peer, sampled */
    /* Requests: kept until keep_until of them wait, then all answered
     * with reply_size raw bytes; without keep_until answered at once with
     * as many raw bytes as the raw id says. */
    size_t keep_until;
    size_t reply_size;
    seam_request *kept[64];
    size_t nkept;
} bounds_server;

static bounds_server bsrv;

static void bsrv_sample(void)
{
    if (bsrv.peer != NULL) {
        seam_conn_stats st;
        seam_conn_get_stats(bsrv.peer, &st);
        if (st.queued_bytes > bsrv.max_queued) {
            bsrv.max_queued = st.queued_bytes;
        }
    }
}

static void bsrv_reply(seam_request *req, size_t size)
{
    uint8_t *bytes = malloc(size + 1);
    memset(bytes, 0x5a, size);
    seam_request_reply_raw(req, 1, bytes, size);
    free(bytes);
}

static void bsrv_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)userdata;
    switch (ev->type) {
    case SEAM_EVENT_CONNECTED:
        bsrv.connected++;
        bsrv.peer = conn;
        break;
    case SEAM_EVENT_INVALID:
        bsrv.invalid++;
        bsrv.invalid_error = ev->error;
        if (bsrv.peer == conn) {
            bsrv_sample();
            bsrv.peer = NULL;
        }
        break;
    case SEAM_EVENT_MESSAGE:
        bsrv.messages++;
        bsrv.last_nfds = ev->nfds;
        break;
    case SEAM_EVENT_REQUEST:
        bsrv.requests++;
        if (bsrv.keep_until > 0 && bsrv.nkept + 1 < bsrv.keep_until) {
            bsrv.kept[bsrv.nkept++] = seam_request_keep(ev->request);
        } else if (bsrv.keep_until > 0) {
            for (size_t i = 0; i < bsrv.nkept; i++) {
                bsrv_reply(bsrv.kept[i], bsrv.reply_size);
                bsrv_sample();
            }
            bsrv.nkept = 0;
            bsrv_reply(ev->request, bsrv.reply_size);
            bsrv_sample();
        } else if (ev->raw) {
            bsrv_reply(ev->request, ev->raw_id);
            bsrv_sample();
        }
        break;
    default:
        break;
    }
}

static void bsrv_listen(seam_loop *loop, size_t max_queue)
{
    seam_server_config cfg = {.conn.on_event = bsrv_event, .conn.max_queue = max_queue};
    assert_int_equal(seam_server_listen(loop, NAME, &cfg, &bsrv.server), 0);
}

/* Runs the loop until the child says something, sampling the peer. */
static bool chan_readable_sampling(void *arg)
{
    bsrv_sample();
    return chan_readable(arg);
}

/* ---- a client in this process ---- */

typedef struct client_log {
    int connected;
    int interrupted;
    int interrupted_error;
    int invalid;
    int invalid_error;
} client_log;

static void client_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    client_log *log = userdata;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        log->connected++;
    } else if (ev->type == SEAM_EVENT_INTERRUPTED) {
        log->interrupted++;
        log->interrupted_error = ev->error;
    } else if (ev->type == SEAM_EVENT_INVALID) {
        log->invalid++;
        log->invalid_error = ev->error;
    } else if (ev->type == SEAM_EVENT_REQUEST && ev->raw) {
        bsrv_reply(ev->request, ev->raw_id); /* as many bytes as asked for */
    }
}

typedef struct reply_log {
    int count;
    int status;
} reply_log;

static void on_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    reply_log *log = userdata;
    log->count++;
    log->status = r->status;
}

/* ---- fixture ---- */

typedef struct fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    support_child child;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    f->child.chan = -1;
    memset(&bsrv, 0, sizeof(bsrv));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    support_child_kill(&f->child);
    if (f->child.chan >= 0) {
        close(f->child.chan);
    }
    if (bsrv.server != NULL) {
        seam_server_close(bsrv.server);
    }
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

/* Waits for the child's report (an int64) while running the loop. */
static int64_t child_report(fixture *f, int timeout_ms)
{
    int64_t v = INT64_MIN;
    assert_true(support_run_until(f->loop, chan_readable_sampling, &f->child.chan, timeout_ms));
    assert_true(support_read_full(f->child.chan, &v, sizeof(v), WAIT_MS));
    return v;
}

static void child_say(int chan, int64_t v)
{
    support_write_full(chan, &v, sizeof(v));
}

static void child_wait_word(int chan)
{
    int64_t v;
    support_read_full(chan, &v, sizeof(v), WAIT_MS);
}

/* ==== item 7: answers a peer does not read ============================== */

#define PING_FLOOD_BYTES (32u << 20)
#define SMALL_QUEUE      (1u << 20)

/* Pings until the socket stays full for a while (or all were sent),
 * reports the bytes sent, then on a word reads that many bytes of pongs
 * and reports how many arrived. */
static int ping_flood_main(int chan, void *arg)
{
    (void)arg;
    int fd = rawpeer_handshake(NAME);
    if (fd < 0) {
        return 1;
    }
    static uint8_t chunk[4096 * 16];
    uint64_t id = 1;
    uint64_t sent = 0;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    while (sent < PING_FLOOD_BYTES) {
        for (size_t i = 0; i < sizeof(chunk); i += 16) {
            rawpeer_put_header(chunk + i, 0, RAWPEER_PING, 0, 0, id++);
        }
        size_t off = 0;
        while (off < sizeof(chunk)) {
            struct pollfd p = {fd, POLLOUT, 0};
            if (poll(&p, 1, 2000) <= 0) {
                goto blocked;
            }
            ssize_t n = write(fd, chunk + off, sizeof(chunk) - off);
            if (n < 0 && errno != EAGAIN) {
                return 2;
            }
            off += n > 0 ? (size_t)n : 0;
            sent += n > 0 ? (uint64_t)n : 0;
        }
    }
blocked:
    child_say(chan, (int64_t)sent);
    child_wait_word(chan);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    uint64_t got = 0;
    uint8_t hdr[16];
    while (got < sent && rawpeer_read_frame(fd, hdr, NULL, 0, WAIT_MS) == 0 &&
           hdr[4] == RAWPEER_PONG) {
        got += 16;
    }
    child_say(chan, (int64_t)got);
    child_wait_word(chan);
    return 0;
}

static void test_peer_that_pings_without_reading_is_paused_at_the_queue_bound(void **state)
{
    fixture *f = *state;
    bsrv_listen(f->loop, SMALL_QUEUE);
    support_fork(&f->child, ping_flood_main, NULL);
    int64_t sent = child_report(f, 120000);
    assert_true(sent > 0);
    print_message("peer sent %lld bytes of pings; at most %llu bytes queued for it\n",
                  (long long)sent, (unsigned long long)bsrv.max_queued);
    /* Reading stops once the pongs waiting pass the bound: the bound plus
     * what one read can add. */
    assert_true(bsrv.max_queued <= SMALL_QUEUE + (128u << 10));
    assert_int_equal(bsrv.invalid, 0);
    assert_non_null(bsrv.peer);
    /* Once the peer reads, every ping is answered. */
    child_say(f->child.chan, 1);
    int64_t got = child_report(f, 120000);
    assert_int_equal(got, sent);
    assert_int_equal(bsrv.invalid, 0);
    child_say(f->child.chan, 1);
}

/* Sends 16 raw requests, then reads nothing until told to stop. */
static int requests_no_read_main(int chan, void *arg)
{
    (void)arg;
    int fd = rawpeer_handshake(NAME);
    if (fd < 0) {
        return 1;
    }
    for (uint64_t id = 1; id <= 16; id++) {
        uint8_t frame[20];
        rawpeer_put_header(frame, 4, RAWPEER_REQUEST, 0x01, 0, id);
        memset(frame + 16, 0, 4);
        if (!support_write_full(fd, frame, sizeof(frame))) {
            return 2;
        }
    }
    child_wait_word(chan);
    return 0;
}

static void test_answers_past_the_hard_cap_disconnect_with_enobufs(void **state)
{
    fixture *f = *state;
    bsrv.keep_until = 16;
    bsrv.reply_size = 512u << 10; /* 8 MiB of answers against a 1 MiB queue */
    bsrv_listen(f->loop, SMALL_QUEUE);
    support_fork(&f->child, requests_no_read_main, NULL);
    assert_true(support_run_until_count(f->loop, &bsrv.invalid, 1, 10000));
    assert_int_equal(bsrv.invalid_error, SEAM_ENOBUFS);
    /* Four times the point where reading pauses: the bound plus the
     * largest answer. */
    assert_true(bsrv.max_queued <= 4 * (SMALL_QUEUE + bsrv.reply_size + 64));
    child_say(f->child.chan, 1);
}

static void count_ok(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    reply_log *log = userdata;
    log->count++;
    if (r->status != 0 || r->raw_len != (2u << 20)) {
        log->status = r->status != 0 ? r->status : -1;
    }
}

/* Requests that arrive in one read and ask for large answers: handling
 * stops in the middle of that read once the answers pile up, and goes on
 * as the peer reads them - no disconnect, and memory stays bounded. */
static void test_pipelined_calls_for_large_answers_all_complete_bounded(void **state)
{
    fixture *f = *state;
    bsrv_listen(f->loop, SMALL_QUEUE);
    client_log log = {0};
    seam_conn_config cfg = {.on_event = client_event, .userdata = &log, .max_queue = 64u << 20};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    assert_true(support_run_until_count(f->loop, &log.connected, 1, WAIT_MS));
    static reply_log rl;
    rl = (reply_log){0};
    for (int i = 0; i < 32; i++) {
        assert_int_equal(seam_conn_call_raw(conn, 2u << 20, "x", 1, WAIT_MS, count_ok, &rl, NULL),
                         0);
    }
    assert_true(support_run_until_count(f->loop, &rl.count, 32, 60000));
    assert_int_equal(rl.status, 0);
    assert_int_equal(bsrv.invalid, 0);
    /* The bound, the largest answer, and the one answer past them. */
    assert_true(bsrv.max_queued <= SMALL_QUEUE + 2 * (2u << 20) + (64u << 10));
    seam_conn_close(conn);
}

/* Both ends call each other for large answers at once: neither may stop
 * reading the other for good (each waits for the other's answers). */
static void test_peers_calling_each_other_for_large_answers_do_not_stall(void **state)
{
    fixture *f = *state;
    bsrv_listen(f->loop, 0);
    client_log log = {0};
    seam_conn_config cfg = {.on_event = client_event, .userdata = &log};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    assert_true(support_run_until_count(f->loop, &log.connected, 1, WAIT_MS));
    assert_true(support_run_until_count(f->loop, &bsrv.connected, 1, WAIT_MS));
    static reply_log mine;
    static reply_log theirs;
    mine = (reply_log){0};
    theirs = (reply_log){0};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(seam_conn_call_raw(conn, 4u << 20, "x", 1, WAIT_MS, on_reply, &mine, NULL),
                         0);
        assert_int_equal(
            seam_conn_call_raw(bsrv.peer, 4u << 20, "x", 1, WAIT_MS, on_reply, &theirs, NULL), 0);
    }
    assert_true(support_run_until_count(f->loop, &mine.count, 8, WAIT_MS + 5000));
    assert_true(support_run_until_count(f->loop, &theirs.count, 8, WAIT_MS + 5000));
    assert_int_equal(mine.status, 0);
    assert_int_equal(theirs.status, 0);
    assert_int_equal(bsrv.invalid, 0);
    seam_conn_close(conn);
}

static void test_client_pings_fail_with_eagain_past_the_queue_bound(void **state)
{
    fixture *f = *state;
    bsrv_listen(f->loop, 0);
    client_log log = {0};
    seam_conn_config cfg = {.on_event = client_event, .userdata = &log, .max_queue = 64u << 10};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    static reply_log rl;
    rl = (reply_log){0};
    int r = 0;
    int made = 0;
    while (made < 100000 && (r = seam_conn_ping(conn, WAIT_MS, on_reply, &rl)) == 0) {
        made++;
    }
    assert_int_equal(r, SEAM_EAGAIN);
    seam_conn_stats st;
    seam_conn_get_stats(conn, &st);
    assert_true(st.queued_bytes <= 64u << 10);
    seam_conn_close(conn);
    assert_true(support_run_until_count(f->loop, &rl.count, made, WAIT_MS));
}

/* ==== item 8: descriptors no frame claims ================================ */

/* Sends 300 messages that announce no descriptors, each with one
 * attached, then reports how many went and waits. */
static int unclaimed_fds_main(int chan, void *arg)
{
    (void)arg;
    int fd = rawpeer_handshake(NAME);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || devnull < 0) {
        return 1;
    }
    int64_t n = 0;
    for (; n < 300; n++) {
        uint8_t frame[17];
        rawpeer_put_header(frame, 1, RAWPEER_MESSAGE, 0, 0, 0);
        frame[16] = 0xf6; /* null */
        if (!rawpeer_send_with_fds(fd, frame, sizeof(frame), &devnull, 1)) {
            break;
        }
        usleep(1000);
    }
    child_say(chan, n);
    child_wait_word(chan);
    return 0;
}

/* True once no more descriptors are open than *arg: a loop that lets go
 * of a closed socket later (libdispatch's cancel handler) closes it then. */
static bool fds_down_to(void *arg)
{
    return open_fd_count() <= *(const int *)arg;
}

static void test_descriptors_no_frame_claims_disconnect_the_peer(void **state)
{
    fixture *f = *state;
    bsrv_listen(f->loop, 0);
    int before = open_fd_count();
    support_fork(&f->child, unclaimed_fds_main, NULL);
    child_report(f, 60000);
    support_run_until_count(f->loop, &bsrv.invalid, 1, 2000);
    /* What the peer parked is not held: never more than one frame's worth. */
    assert_true(open_fd_count() <= before + 2 + 64);
    assert_int_equal(bsrv.invalid, 1);
    assert_int_equal(bsrv.invalid_error, SEAM_EFRAMEFDS);
    int expect = before + 1; /* the channel */
    support_run_until(f->loop, fds_down_to, &expect, 2000);
    assert_int_equal(open_fd_count(), expect);
    child_say(f->child.chan, 1);
}

/* A raw message with three descriptors whose payload arrives in two
 * pieces a while apart. */
static int slow_fd_frame_main(int chan, void *arg)
{
    (void)arg;
    int fd = rawpeer_handshake(NAME);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || devnull < 0) {
        return 1;
    }
    size_t len = 4 + (200u << 10);
    uint8_t *frame = calloc(1, 16 + len);
    rawpeer_put_header(frame, (uint32_t)len, RAWPEER_MESSAGE, 0x01, 3, 0);
    int fds[3] = {devnull, devnull, devnull};
    if (!rawpeer_send_with_fds(fd, frame, 100, fds, 3)) {
        return 2;
    }
    usleep(200000);
    if (!support_write_full(fd, frame + 100, 16 + len - 100)) {
        return 3;
    }
    free(frame);
    child_say(chan, 0);
    child_wait_word(chan);
    return 0;
}

static void test_descriptors_wait_for_their_frame_to_complete(void **state)
{
    fixture *f = *state;
    bsrv_listen(f->loop, 0);
    support_fork(&f->child, slow_fd_frame_main, NULL);
    child_report(f, WAIT_MS);
    assert_true(support_run_until_count(f->loop, &bsrv.messages, 1, WAIT_MS));
    assert_int_equal(bsrv.last_nfds, 3);
    assert_int_equal(bsrv.invalid, 0);
    child_say(f->child.chan, 1);
}

/* ==== item 11: many calls ended at once ================================== */

#define MANY_CALLS   300000
#define HANG_BOUND_S 30 /* linear work takes well under a second */

static void count_each(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    uint8_t *hit = userdata;
    if (*hit < 255) {
        (*hit)++;
    }
    hit[MANY_CALLS] = (uint8_t)(r->status == SEAM_ECANCELED    ? 1
                                : r->status == SEAM_ECONNRESET ? 2
                                                               : 3);
}

static uint8_t *start_many_calls(seam_conn *conn)
{
    uint8_t *hits = calloc(2, MANY_CALLS);
    seam_value *m = seam_value_new_null();
    for (size_t i = 0; i < MANY_CALLS; i++) {
        assert_int_equal(seam_conn_call(conn, m, SEAM_NO_TIMEOUT, count_each, &hits[i], NULL), 0);
    }
    seam_value_unref(m);
    return hits;
}

static bool all_hit(void *arg)
{
    const uint8_t *hits = arg;
    for (size_t i = 0; i < MANY_CALLS; i++) {
        if (hits[i] == 0) {
            return false;
        }
    }
    return true;
}

static void assert_each_once(const uint8_t *hits, uint8_t status)
{
    for (size_t i = 0; i < MANY_CALLS; i++) {
        assert_int_equal(hits[i], 1);
        assert_int_equal(hits[MANY_CALLS + i], status);
    }
}

/* Accepts the handshake, then reads nothing until killed. */
static int silent_peer_main(int chan, void *arg)
{
    (void)arg;
    int lfd = rawpeer_listen(NAME);
    child_say(chan, lfd >= 0 ? 0 : -1);
    int fd = lfd >= 0 ? accept(lfd, NULL, NULL) : -1;
    uint8_t hello[48];
    rawpeer_make_hello(hello, 16u << 20);
    if (fd < 0 || !support_write_full(fd, hello, sizeof(hello))) {
        return 1;
    }
    child_wait_word(chan);
    return 0;
}

static seam_conn *connect_to_silent_peer(fixture *f, client_log *log)
{
    support_fork(&f->child, silent_peer_main, NULL);
    int64_t ok = -1;
    assert_true(support_read_full(f->child.chan, &ok, sizeof(ok), WAIT_MS));
    assert_int_equal(ok, 0);
    seam_conn_config cfg = {.on_event = client_event, .userdata = log, .max_queue = 256u << 20};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    assert_true(support_run_until_count(f->loop, &log->connected, 1, WAIT_MS));
    return conn;
}

static void test_close_with_many_calls_in_flight_ends_each_once(void **state)
{
    fixture *f = *state;
    client_log log = {0};
    seam_conn *conn = connect_to_silent_peer(f, &log);
    uint8_t *hits = start_many_calls(conn);
    alarm(HANG_BOUND_S); /* the quadratic close took minutes */
    long long t0 = support_now_ms();
    seam_conn_close(conn);
    assert_true(support_run_until(f->loop, all_hit, hits, WAIT_MS));
    long long ms = support_now_ms() - t0;
    alarm(0);
    print_message("closed %d calls in %lld ms\n", MANY_CALLS, ms);
    assert_each_once(hits, 1);
    free(hits);
}

static void test_peer_lost_with_many_calls_in_flight_ends_each_once(void **state)
{
    fixture *f = *state;
    client_log log = {0};
    seam_conn *conn = connect_to_silent_peer(f, &log);
    uint8_t *hits = start_many_calls(conn);
    support_run_once(f->loop, 0);
    alarm(HANG_BOUND_S);
    long long t0 = support_now_ms();
    support_child_kill(&f->child);
    assert_true(support_run_until(f->loop, all_hit, hits, WAIT_MS));
    long long ms = support_now_ms() - t0;
    alarm(0);
    print_message("failed %d calls in %lld ms\n", MANY_CALLS, ms);
    assert_each_once(hits, 2);
    assert_int_equal(log.interrupted, 1);
    free(hits);
    seam_conn_close(conn);
}

/* ==== item 12: the send buffer after a large message ==================== */

static bool queue_empty(void *arg)
{
    seam_conn_stats st;
    seam_conn_get_stats(arg, &st);
    return st.queued_bytes == 0;
}

static bool send_buffer_small(void *arg)
{
    const seam_conn *conn = arg;
    return conn->out.cap <= 256u << 10;
}

static void test_send_buffer_is_given_back_once_a_large_message_drained(void **state)
{
    fixture *f = *state;
    bsrv_listen(f->loop, 0);
    client_log log = {0};
    seam_conn_config cfg = {.on_event = client_event, .userdata = &log};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    assert_true(support_run_until_count(f->loop, &log.connected, 1, WAIT_MS));
    size_t len = 12u << 20;
    uint8_t *big = calloc(1, len);
    assert_int_equal(seam_conn_send_raw(conn, 1, big, len), 0);
    free(big);
    assert_true(support_run_until_count(f->loop, &bsrv.messages, 1, WAIT_MS));
    assert_true(support_run_until(f->loop, queue_empty, conn, WAIT_MS));
    /* Once the loop has turned with the queue empty, only a small working
     * buffer stays. */
    support_run_until(f->loop, send_buffer_small, conn, WAIT_MS);
    assert_true(conn->out.cap <= 256u << 10);
    /* And it still works. */
    assert_int_equal(seam_conn_send_raw(conn, 2, "x", 1), 0);
    assert_true(support_run_until_count(f->loop, &bsrv.messages, 2, WAIT_MS));
    seam_conn_close(conn);
}

/* ==== item 19: sends over the peer's max_frame ========================== */

/* A server that is not seam: announces max_frame 4096, answers pings,
 * and reports each frame's kind and length (kind << 32 | len) until the
 * client leaves, then -1. */
static int small_frame_server_main(int chan, void *arg)
{
    (void)arg;
    int lfd = rawpeer_listen(NAME);
    child_say(chan, lfd >= 0 ? 0 : -1);
    int fd = lfd >= 0 ? accept(lfd, NULL, NULL) : -1;
    uint8_t hello[48];
    rawpeer_make_hello(hello, 4096);
    if (fd < 0 || !support_write_full(fd, hello, sizeof(hello))) {
        return 1;
    }
    uint8_t hdr[16];
    long len;
    while ((len = rawpeer_read_frame(fd, hdr, NULL, 0, 60000)) >= 0) {
        if (hdr[4] == RAWPEER_PING) {
            uint8_t pong[16];
            rawpeer_put_header(pong, 0, RAWPEER_PONG, 0, 0, rawpeer_get_id(hdr));
            support_write_full(fd, pong, sizeof(pong));
        }
        if (hdr[4] != 1) {
            child_say(chan, (int64_t)hdr[4] << 32 | len);
        }
    }
    child_say(chan, -1);
    child_wait_word(chan);
    return 0;
}

static seam_conn *connect_to_small_frame_server(fixture *f, client_log *log)
{
    support_fork(&f->child, small_frame_server_main, NULL);
    int64_t ok = -1;
    assert_true(support_read_full(f->child.chan, &ok, sizeof(ok), WAIT_MS));
    assert_int_equal(ok, 0);
    seam_conn_config cfg = {.on_event = client_event, .userdata = log};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    return conn;
}

static void test_send_over_peer_max_frame_fails_locally_and_connection_stays(void **state)
{
    fixture *f = *state;
    client_log log = {0};
    seam_conn *conn = connect_to_small_frame_server(f, &log);
    static uint8_t big[5000];
    /* Queued before the peer's hello: found too large when it arrives. */
    static reply_log early;
    early = (reply_log){0};
    assert_int_equal(seam_conn_call_raw(conn, 1, big, sizeof(big), WAIT_MS, on_reply, &early, NULL),
                     0);
    assert_int_equal(seam_conn_send_raw(conn, 2, "early", 5), 0);
    /* A one-way message found too large then is dropped, not sent. */
    assert_int_equal(seam_conn_send_raw(conn, 5, big, sizeof(big)), 0);
    assert_true(support_run_until_count(f->loop, &early.count, 1, WAIT_MS));
    assert_int_equal(early.status, SEAM_EMSGSIZE);
    assert_true(support_run_until_count(f->loop, &log.connected, 1, WAIT_MS));
    /* After the handshake the send itself says so. */
    assert_int_equal(seam_conn_send_raw(conn, 3, big, sizeof(big)), SEAM_EMSGSIZE);
    assert_int_equal(seam_conn_send_raw(conn, 4, "late", 4), 0);
    static reply_log pong;
    pong = (reply_log){0};
    assert_int_equal(seam_conn_ping(conn, WAIT_MS, on_reply, &pong), 0);
    assert_true(support_run_until_count(f->loop, &pong.count, 1, WAIT_MS));
    assert_int_equal(pong.status, 0);
    assert_int_equal(log.invalid + log.interrupted, 0);
    /* The peer saw exactly the two small messages and the ping. */
    assert_int_equal(child_report(f, WAIT_MS), (int64_t)RAWPEER_MESSAGE << 32 | 9);
    assert_int_equal(child_report(f, WAIT_MS), (int64_t)RAWPEER_MESSAGE << 32 | 8);
    assert_int_equal(child_report(f, WAIT_MS), (int64_t)RAWPEER_PING << 32 | 0);
    seam_conn_close(conn);
    child_say(f->child.chan, 1);
}

static void test_sync_call_before_handshake_over_peer_max_frame_fails_with_emsgsize(void **state)
{
    fixture *f = *state;
    client_log log = {0};
    seam_conn *conn = connect_to_small_frame_server(f, &log);
    static uint8_t big[5000];
    seam_value *m = seam_value_new_data(big, sizeof(big));
    seam_value *reply = NULL;
    assert_int_equal(seam_conn_call_sync(conn, m, WAIT_MS, &reply), SEAM_EMSGSIZE);
    seam_value_unref(m);
    assert_null(reply);
    static reply_log pong;
    pong = (reply_log){0};
    assert_int_equal(seam_conn_ping(conn, WAIT_MS, on_reply, &pong), 0);
    assert_true(support_run_until_count(f->loop, &pong.count, 1, WAIT_MS));
    assert_int_equal(pong.status, 0);
    assert_int_equal(log.connected, 1);
    assert_int_equal(log.invalid + log.interrupted, 0);
    seam_conn_close(conn);
    child_say(f->child.chan, 1);
}

/* ==== item 21: goodbyes and their codes ================================= */

/* Sends a frame of an unknown kind and reports the code of the goodbye
 * that came back before the hang-up (0: none). */
static int violator_main(int chan, void *arg)
{
    (void)arg;
    int fd = rawpeer_handshake(NAME);
    if (fd < 0) {
        return 1;
    }
    uint8_t bad[16];
    rawpeer_put_header(bad, 0, 0x42, 0, 0, 0);
    support_write_full(fd, bad, sizeof(bad));
    child_say(chan, rawpeer_goodbye_code(fd, WAIT_MS));
    return 0;
}

static void test_protocol_violation_is_answered_with_goodbye_carrying_its_code(void **state)
{
    fixture *f = *state;
    bsrv_listen(f->loop, 0);
    support_fork(&f->child, violator_main, NULL);
    assert_int_equal(child_report(f, WAIT_MS), SEAM_EFRAMEKIND);
    assert_true(support_run_until_count(f->loop, &bsrv.invalid, 1, WAIT_MS));
    assert_int_equal(bsrv.invalid_error, SEAM_EFRAMEKIND);
}

/* A seam client that connects, then closes cleanly or dies. */
static int leaving_client_main(int chan, void *arg)
{
    bool crash = *(const bool *)arg;
    seam_loop *loop = NULL;
    seam_conn *conn = NULL;
    client_log log = {0};
    seam_conn_config cfg = {.on_event = client_event, .userdata = &log};
    if (seam_poll_new(0, &loop) < 0 || seam_conn_connect(loop, NAME, &cfg, &conn) < 0) {
        return 1;
    }
    while (log.connected == 0) {
        seam_poll_run_once(loop, 100);
    }
    child_wait_word(chan);
    if (crash) {
        kill(getpid(), SIGKILL);
    }
    seam_conn_close(conn);
    seam_loop_free(loop);
    return 0;
}

static void client_leaves(fixture *f, bool crash)
{
    int before = bsrv.invalid;
    int connected = bsrv.connected;
    support_fork(&f->child, leaving_client_main, &crash);
    assert_true(support_run_until_count(f->loop, &bsrv.connected, connected + 1, WAIT_MS));
    child_say(f->child.chan, 1);
    assert_true(support_run_until_count(f->loop, &bsrv.invalid, before + 1, WAIT_MS));
    support_child_wait(&f->child, WAIT_MS);
    close(f->child.chan);
    f->child.chan = -1;
}

static void test_server_tells_a_clean_client_close_from_a_crash(void **state)
{
    fixture *f = *state;
    bsrv_listen(f->loop, 0);
    client_leaves(f, false);
    assert_int_equal(bsrv.invalid_error, SEAM_ECLOSED);
    client_leaves(f, true);
    assert_int_equal(bsrv.invalid_error, SEAM_ECONNRESET);
}

/* A server that is not seam: says hello, then on a word a goodbye with
 * the given payload (or none at all) and hangs up. */
typedef struct bye_args {
    const uint8_t *payload;
    size_t len;
    bool send;
} bye_args;

static int goodbye_server_main(int chan, void *arg)
{
    const bye_args *a = arg;
    int lfd = rawpeer_listen(NAME);
    child_say(chan, lfd >= 0 ? 0 : -1);
    int fd = lfd >= 0 ? accept(lfd, NULL, NULL) : -1;
    uint8_t hello[48];
    rawpeer_make_hello(hello, 16u << 20);
    if (fd < 0 || !support_write_full(fd, hello, sizeof(hello))) {
        return 1;
    }
    child_wait_word(chan);
    if (a->send) {
        uint8_t *frame = malloc(16 + a->len);
        if (frame == NULL) {
            return 1;
        }
        rawpeer_put_header(frame, (uint32_t)a->len, RAWPEER_BYE, 0, 0, 0);
        memcpy(frame + 16, a->payload, a->len);
        support_write_full(fd, frame, 16 + a->len);
        free(frame);
    }
    close(fd);
    child_wait_word(chan);
    return 0;
}

static bool client_ended(void *arg)
{
    const client_log *log = arg;
    return log->interrupted + log->invalid > 0;
}

static void server_says_goodbye(fixture *f, const bye_args *a, client_log *log)
{
    support_fork(&f->child, goodbye_server_main, (void *)a);
    int64_t ok = -1;
    assert_true(support_read_full(f->child.chan, &ok, sizeof(ok), WAIT_MS));
    assert_int_equal(ok, 0);
    seam_conn_config cfg = {.on_event = client_event, .userdata = log};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    assert_true(support_run_until_count(f->loop, &log->connected, 1, WAIT_MS));
    child_say(f->child.chan, 1);
    support_run_until(f->loop, client_ended, log, WAIT_MS);
    seam_conn_close(conn);
    child_say(f->child.chan, 1);
}

static void test_client_tells_a_server_goodbye_from_a_crash(void **state)
{
    fixture *f = *state;
    static const uint8_t closed[] = {0xa1, 0x66, 'r', 'e', 'a', 's', 'o', 'n',
                                     0x66, 'c',  'l', 'o', 's', 'e', 'd'};
    static const uint8_t coded[] = {0xa1, 0x64, 'c', 'o', 'd', 'e', 0x39, 0x0b, 0xc5};
    client_log clean = {0};
    server_says_goodbye(f, &(bye_args){closed, sizeof(closed), true}, &clean);
    assert_int_equal(clean.interrupted, 1);
    assert_int_equal(clean.interrupted_error, SEAM_ECLOSED);
    support_child_kill(&f->child);
    close(f->child.chan);

    client_log crash = {0};
    server_says_goodbye(f, &(bye_args){NULL, 0, false}, &crash);
    assert_int_equal(crash.interrupted, 1);
    assert_int_equal(crash.interrupted_error, SEAM_ECONNRESET);
    support_child_kill(&f->child);
    close(f->child.chan);

    client_log refused = {0};
    server_says_goodbye(f, &(bye_args){coded, sizeof(coded), true}, &refused);
    assert_int_equal(refused.invalid, 1);
    assert_int_equal(refused.invalid_error, SEAM_EFRAMEKIND);
}

static void test_goodbye_with_a_long_reason_still_carries_its_code(void **state)
{
    fixture *f = *state;
    /* {"code": -13, "reason": 5000 x "x"}: a goodbye within max_frame. */
    seam_value *bye = seam_value_new_dict();
    char reason[5001];
    memset(reason, 'x', 5000);
    reason[5000] = '\0';
    assert_int_equal(seam_dict_set_int64(bye, "code", SEAM_EACCES), 0);
    assert_int_equal(seam_dict_set_string(bye, "reason", reason), 0);
    uint8_t *bytes = NULL;
    size_t len = 0;
    assert_int_equal(seam_value_encode(bye, &bytes, &len), 0);
    seam_value_unref(bye);
    client_log refused = {0};
    server_says_goodbye(f, &(bye_args){bytes, len, true}, &refused);
    free(bytes);
    assert_int_equal(refused.invalid, 1);
    assert_int_equal(refused.invalid_error, SEAM_EACCES);
}

/* ==== item 22: refused values, and what follows a goodbye =============== */

/* Sends a request whose payload is not CBOR, then a ping; reports the
 * code of the error answer to the request and whether the pong came. */
static int bad_request_main(int chan, void *arg)
{
    (void)arg;
    int fd = rawpeer_handshake(NAME);
    if (fd < 0) {
        return 1;
    }
    uint8_t frame[17 + 16];
    rawpeer_put_header(frame, 1, RAWPEER_REQUEST, 0, 0, 5);
    frame[16] = 0xff; /* a stray break */
    rawpeer_put_header(frame + 17, 0, RAWPEER_PING, 0, 0, 9);
    support_write_full(fd, frame, sizeof(frame));
    uint8_t hdr[16];
    uint8_t payload[256];
    int64_t code = 0;
    int64_t pong = 0;
    long len;
    while (pong == 0 &&
           (len = rawpeer_read_frame(fd, hdr, payload, sizeof(payload), WAIT_MS)) >= 0) {
        if (hdr[4] == RAWPEER_ERROR && rawpeer_get_id(hdr) == 5) {
            code = rawpeer_payload_code(payload, (size_t)len);
        } else if (hdr[4] == RAWPEER_PONG && rawpeer_get_id(hdr) == 9) {
            pong = 1;
        }
    }
    child_say(chan, code);
    child_say(chan, pong);
    child_wait_word(chan);
    return 0;
}

static void test_request_with_a_refused_value_gets_an_error_reply(void **state)
{
    fixture *f = *state;
    bsrv_listen(f->loop, 0);
    support_fork(&f->child, bad_request_main, NULL);
    assert_int_equal(child_report(f, WAIT_MS), SEAM_EMALFORMED);
    assert_int_equal(child_report(f, WAIT_MS), 1);
    assert_int_equal(bsrv.requests, 0);
    assert_int_equal(bsrv.invalid, 0);
    child_say(f->child.chan, 1);
}

/* Frames a peer writes in one go after its hello, and the two kinds of
 * answer it counts. */
typedef struct burst {
    uint8_t bytes[64];
    size_t len;
    uint8_t counted[2];
} burst;

/* Writes a burst, then reports how many answers of the counted kinds
 * arrived before the hang-up (or a while). */
static int burst_main(int chan, void *arg)
{
    const burst *b = arg;
    int fd = rawpeer_handshake(NAME);
    if (fd < 0) {
        return 1;
    }
    support_write_full(fd, b->bytes, b->len);
    uint8_t hdr[16];
    int64_t answers = 0;
    while (rawpeer_read_frame(fd, hdr, NULL, 0, 2000) >= 0) {
        answers += hdr[4] == b->counted[0] || hdr[4] == b->counted[1];
    }
    close(fd);
    child_say(chan, answers);
    child_wait_word(chan);
    return 0;
}

/* Serves a peer writing b: it counts answers answers, the server sees
 * requests requests, then the goodbye. */
static void expect_burst(fixture *f, const burst *b, int64_t answers, int requests)
{
    bsrv_listen(f->loop, 0);
    support_fork(&f->child, burst_main, (void *)b);
    /* The loop runs (serving the peer) until the child reports. */
    assert_int_equal(child_report(f, WAIT_MS), answers);
    assert_true(support_run_until_count(f->loop, &bsrv.invalid, 1, WAIT_MS));
    assert_int_equal(bsrv.requests, requests);
    assert_int_equal(bsrv.invalid_error, SEAM_ECLOSED);
    child_say(f->child.chan, 1);
}

/* A goodbye and a request after it in one write: no answer comes. */
static void test_nothing_after_a_received_goodbye_is_handled(void **state)
{
    fixture *f = *state;
    burst b = {.len = 16 + 20, .counted = {RAWPEER_REPLY, RAWPEER_ERROR}};
    rawpeer_put_header(b.bytes, 0, RAWPEER_BYE, 0, 0, 0);
    rawpeer_put_header(b.bytes + 16, 4, RAWPEER_REQUEST, 0x01, 0, 3);
    expect_burst(f, &b, 0, 0);
}

/* A raw request, a ping and a goodbye in one write: both answers arrive
 * before the hang-up. */
static void test_answers_to_frames_before_a_goodbye_are_still_sent(void **state)
{
    fixture *f = *state;
    burst b = {.len = 20 + 16 + 16, .counted = {RAWPEER_REPLY, RAWPEER_PONG}};
    rawpeer_put_header(b.bytes, 4, RAWPEER_REQUEST, 0x01, 0, 5);
    rawpeer_put_header(b.bytes + 20, 0, RAWPEER_PING, 0, 0, 6);
    rawpeer_put_header(b.bytes + 36, 0, RAWPEER_BYE, 0, 0, 0);
    expect_burst(f, &b, 2, 1);
}

/* Says a hello that is not valid CBOR (a duplicate key) and reports the
 * code of the goodbye the server answers with. */
static int undecodable_hello_main(int chan, void *arg)
{
    (void)arg;
    int fd = rawpeer_connect(NAME);
    /* {"seam": 1, "seam": 1} */
    static const uint8_t payload[] = {0xa2, 0x64, 's', 'e', 'a', 'm', 0x01,
                                      0x64, 's',  'e', 'a', 'm', 0x01};
    uint8_t out[16 + sizeof(payload)];
    rawpeer_put_header(out, sizeof(payload), 1, 0, 0, 0);
    memcpy(out + 16, payload, sizeof(payload));
    if (fd < 0 || !support_write_full(fd, out, sizeof(out))) {
        return 1;
    }
    int64_t code = rawpeer_goodbye_code(fd, 2000);
    close(fd);
    child_say(chan, code);
    child_wait_word(chan);
    return 0;
}

static void test_undecodable_hello_is_refused_with_its_own_decode_error(void **state)
{
    fixture *f = *state;
    bsrv_listen(f->loop, 0);
    support_fork(&f->child, undecodable_hello_main, NULL);
    assert_int_equal(child_report(f, WAIT_MS), SEAM_EDUPKEY);
    child_say(f->child.chan, 1);
}

/* ==== item 25: a half-closed peer gets what was queued for it ========== */

/* Sends a raw request asking for size bytes, shuts its writing side and
 * reports the payload length of the reply (-1: none came). */
static int half_close_main(int chan, void *arg)
{
    uint32_t size = *(const uint32_t *)arg;
    int fd = rawpeer_handshake(NAME);
    if (fd < 0) {
        return 1;
    }
    uint8_t frame[20];
    rawpeer_put_header(frame, 4, RAWPEER_REQUEST, 0x01, 0, 1);
    for (int i = 0; i < 4; i++) {
        frame[16 + i] = (uint8_t)(size >> (8 * i));
    }
    support_write_full(fd, frame, sizeof(frame));
    shutdown(fd, SHUT_WR);
    usleep(300000); /* the server sees the end of input before it could write much */
    uint8_t hdr[16];
    int64_t got = -1;
    long len;
    while ((len = rawpeer_read_frame(fd, hdr, NULL, 0, WAIT_MS)) >= 0) {
        if (hdr[4] == RAWPEER_REPLY && rawpeer_get_id(hdr) == 1) {
            got = len;
        }
    }
    child_say(chan, got);
    child_wait_word(chan);
    return 0;
}

static void test_half_closed_peer_still_gets_large_replies(void **state)
{
    fixture *f = *state;
    bsrv_listen(f->loop, 0);
    uint32_t sizes[] = {60u << 10, 200u << 10, 1u << 20};
    for (size_t i = 0; i < 3; i++) {
        support_fork(&f->child, half_close_main, &sizes[i]);
        assert_int_equal(child_report(f, WAIT_MS), (int64_t)sizes[i] + 4);
        child_say(f->child.chan, 1);
        support_child_wait(&f->child, WAIT_MS);
        close(f->child.chan);
        f->child.chan = -1;
    }
    assert_true(support_run_until_count(f->loop, &bsrv.invalid, 3, WAIT_MS));
}

/* ==== item 21: the tool says how a connection ended ===================== */

#ifdef SEAM_TOOL_PATH
#include <sys/wait.h>

/* A server that is not seam: says hello, then refuses (0), breaks a rule
 * (1), or reads the request and hangs up without a word (2). */
static int ending_server_main(int chan, void *arg)
{
    int mode = *(const int *)arg;
    int lfd = rawpeer_listen(NAME);
    child_say(chan, lfd >= 0 ? 0 : -1);
    int fd = lfd >= 0 ? accept(lfd, NULL, NULL) : -1;
    uint8_t out[48 + 32];
    rawpeer_make_hello(out, 16u << 20);
    size_t len = 48;
    if (mode == 0) {
        static const uint8_t refused[] = {0xa1, 0x64, 'c', 'o', 'd', 'e', 0x2c}; /* -13 */
        rawpeer_put_header(out + len, sizeof(refused), RAWPEER_BYE, 0, 0, 0);
        memcpy(out + len + 16, refused, sizeof(refused));
        len += 16 + sizeof(refused);
    } else if (mode == 1) {
        rawpeer_put_header(out + len, 0, 0x42, 0, 0, 0);
        len += 16;
    }
    if (fd < 0 || !support_write_full(fd, out, len)) {
        return 1;
    }
    uint8_t hdr[16];
    if (mode == 2) {
        rawpeer_read_frame(fd, hdr, NULL, 0, WAIT_MS); /* its hello */
        rawpeer_read_frame(fd, hdr, NULL, 0, WAIT_MS); /* the request */
        close(fd);
    } else {
        while (rawpeer_read_frame(fd, hdr, NULL, 0, WAIT_MS) >= 0) {
        }
    }
    child_wait_word(chan);
    return 0;
}

/* Runs `seam call NAME 1`: what it printed, and its exit status. */
static int run_tool_call(char *out, size_t cap)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        execl(SEAM_TOOL_PATH, "seam", "call", NAME, "1", "--timeout", "10000", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t got;
    while (n + 1 < cap && (got = read(p[0], out + n, cap - 1 - n)) > 0) {
        n += (size_t)got;
    }
    out[n] = '\0';
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_tool_tells_refused_from_protocol_error_from_crash(void **state)
{
    fixture *f = *state;
    static const char *expect[] = {"refused", "protocol error: unknown frame kind", "peer crashed"};
    static const int exit_code[] = {4, 1, 1}; /* docs/cli.md: refused, other failure */
    for (int mode = 0; mode < 3; mode++) {
        support_fork(&f->child, ending_server_main, &mode);
        int64_t ok = -1;
        assert_true(support_read_full(f->child.chan, &ok, sizeof(ok), WAIT_MS));
        assert_int_equal(ok, 0);
        char out[1024];
        assert_int_equal(run_tool_call(out, sizeof(out)), exit_code[mode]);
        print_message("%s", out);
        assert_non_null(strstr(out, expect[mode]));
        child_say(f->child.chan, 1);
        support_child_kill(&f->child);
        close(f->child.chan);
        f->child.chan = -1;
    }
}
#endif

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        T(test_peer_that_pings_without_reading_is_paused_at_the_queue_bound),
        T(test_answers_past_the_hard_cap_disconnect_with_enobufs),
        T(test_pipelined_calls_for_large_answers_all_complete_bounded),
        T(test_peers_calling_each_other_for_large_answers_do_not_stall),
        T(test_client_pings_fail_with_eagain_past_the_queue_bound),
        T(test_descriptors_no_frame_claims_disconnect_the_peer),
        T(test_descriptors_wait_for_their_frame_to_complete),
        T(test_close_with_many_calls_in_flight_ends_each_once),
        T(test_peer_lost_with_many_calls_in_flight_ends_each_once),
        T(test_send_buffer_is_given_back_once_a_large_message_drained),
        T(test_send_over_peer_max_frame_fails_locally_and_connection_stays),
        T(test_sync_call_before_handshake_over_peer_max_frame_fails_with_emsgsize),
        T(test_protocol_violation_is_answered_with_goodbye_carrying_its_code),
        T(test_server_tells_a_clean_client_close_from_a_crash),
        T(test_client_tells_a_server_goodbye_from_a_crash),
        T(test_goodbye_with_a_long_reason_still_carries_its_code),
        T(test_request_with_a_refused_value_gets_an_error_reply),
        T(test_nothing_after_a_received_goodbye_is_handled),
        T(test_answers_to_frames_before_a_goodbye_are_still_sent),
        T(test_undecodable_hello_is_refused_with_its_own_decode_error),
        T(test_half_closed_peer_still_gets_large_replies),
#ifdef SEAM_TOOL_PATH
        T(test_tool_tells_refused_from_protocol_error_from_crash),
#endif
    };
    /* REGRESS_FILTER=pattern runs only the tests whose names match. */
    if (getenv("REGRESS_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("REGRESS_FILTER"));
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
