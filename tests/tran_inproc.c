/* SPDX-License-Identifier: MIT */
/* tran_inproc.c - the in-process transport where it differs from a
 * socket: both ends on one loop (readiness raised by the core, no system
 * call per message), the name registry, the peer's identity, its bounded
 * buffer, descriptors by duplication, and two loops on two threads. The
 * behaviours it shares with the Unix transport are the conformance
 * suite's (conformance_inproc_*). Deadlines only bound a test gone
 * wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "seam/poll.h"
#include "support.h"

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define NAME "inproc:t.inproc"

typedef struct fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    seam_loop *other; /* a second loop on this thread, run by hand */
    seam_server *other_server;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    /* Also after a failed test, so that the next one finds the name free. */
    seam_server_close(f->other_server);
    seam_loop_free(f->other);
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

/* ---- an echo server and a counting client ---- */

typedef struct counts {
    int connected;
    int messages;
    int requests;
    int writable;
    int ended;
    int error;
    size_t last_len;
    int last_fd_ok;
    seam_peer peer;
} counts;

static void echo_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    counts *n = userdata;
    switch (ev->type) {
    case SEAM_EVENT_CONNECTED:
        n->connected++;
        break;
    case SEAM_EVENT_REQUEST:
        n->requests++;
        if (ev->raw) {
            seam_request_reply_raw(ev->request, ev->raw_id, ev->raw_bytes, ev->raw_len);
        } else {
            seam_request_reply(ev->request, ev->value);
        }
        break;
    case SEAM_EVENT_MESSAGE:
        n->messages++;
        n->last_len = ev->raw_len;
        if (ev->value != NULL && seam_dict_get(ev->value, "fd") != NULL) {
            /* The descriptor is a duplicate of the sender's pipe end. */
            char c = 0;
            int fd = seam_value_get_fd(seam_dict_get(ev->value, "fd"));
            n->last_fd_ok = fd >= 0 && read(fd, &c, 1) == 1 && c == 'x';
        }
        break;
    case SEAM_EVENT_WRITABLE:
        n->writable++;
        break;
    case SEAM_EVENT_INTERRUPTED:
    case SEAM_EVENT_INVALID:
        n->ended++;
        n->error = ev->error;
        break;
    }
    (void)conn;
}

static counts server_counts;
static bool peer_filter(const seam_peer *peer, void *userdata)
{
    counts *n = userdata;
    n->peer = *peer;
    return true;
}

static seam_server *listen_echo(seam_loop *loop, const char *name)
{
    memset(&server_counts, 0, sizeof(server_counts));
    seam_server_config cfg = {.conn.on_event = echo_event,
                              .conn.userdata = &server_counts,
                              .accept_peer = peer_filter,
                              .accept_data = &server_counts};
    seam_server *s = NULL;
    assert_int_equal(seam_server_listen(loop, name, &cfg, &s), 0);
    return s;
}

static seam_conn *connect_counting(seam_loop *loop, const char *name, counts *n)
{
    seam_conn_config cfg = {.on_event = echo_event, .userdata = n};
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(loop, name, &cfg, &c), 0);
    return c;
}

typedef struct chain {
    seam_conn *conn;
    int left;
    int done;
    int failed;
} chain;

/* Each reply issues the next call: one round trip at a time. */
static void chain_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    chain *ch = userdata;
    if (r->status != 0 || !r->raw || r->raw_len != 8) {
        ch->failed++;
    }
    ch->done++;
    if (--ch->left > 0) {
        uint64_t x = (uint64_t)ch->left;
        if (seam_conn_call_raw(conn, 7, &x, sizeof(x), 5000, chain_reply, ch, NULL) < 0) {
            ch->failed++;
        }
    }
}

/* ==== one loop, both ends ================================================ */

static void test_calls_between_two_ends_of_one_loop_make_no_system_call(void **state)
{
    fixture *f = *state;
    seam_server *s = listen_echo(f->loop, NAME);
    counts cn = {0};
    seam_conn *c = connect_counting(f->loop, NAME, &cn);
    assert_true(support_run_until_count(f->loop, &cn.connected, 1, SUPPORT_DEADLINE_MS));
    chain ch = {c, 2000, 0, 0};
    uint64_t x = 0;
    assert_int_equal(seam_conn_call_raw(c, 7, &x, sizeof(x), 5000, chain_reply, &ch, NULL), 0);
    /* Readiness raised by the core is told within a dispatch, in bounded
     * rounds: the 2,000 round trips need only a handful of host loop
     * iterations, where a socket pair would need one or more each. */
    int iterations = 0;
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (ch.done < 2000 && support_now_ms() < deadline) {
        assert_int_equal(support_run_once(f->loop, 100), 0);
        iterations++;
    }
    assert_int_equal(ch.done, 2000);
    assert_int_equal(ch.failed, 0);
    assert_int_equal(server_counts.requests, 2000);
    assert_true(iterations < 2000 / 8);
    seam_conn_close(c);
    seam_server_close(s);
}

static void test_peer_is_this_process_with_the_inproc_kind_and_address(void **state)
{
    fixture *f = *state;
    seam_server *s = listen_echo(f->loop, NAME);
    counts cn = {0};
    seam_conn *c = connect_counting(f->loop, NAME, &cn);
    assert_true(support_run_until_count(f->loop, &cn.connected, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(server_counts.peer.kind, SEAM_PEER_INPROC);
    assert_int_equal(server_counts.peer.flags, SEAM_PEER_CREDS);
    assert_int_equal(server_counts.peer.uid, (uint32_t)geteuid());
    assert_int_equal(server_counts.peer.pid, (int32_t)getpid());
    assert_int_equal(server_counts.peer.pidfd, -1);
    seam_peer p;
    assert_int_equal(seam_conn_peer(c, &p), 0);
    assert_int_equal(p.kind, SEAM_PEER_INPROC);
    assert_string_equal(p.address, NAME);
    /* No pidfd for a peer that is this process. */
    assert_int_equal(seam_conn_pidfd(c), SEAM_ENOTSUP);
    seam_conn_close(c);
    seam_server_close(s);
}

typedef struct refusal {
    int ended;
    int error;
    char rule[16];
} refusal;

static void refusal_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    refusal *rf = userdata;
    if (ev->type == SEAM_EVENT_INVALID || ev->type == SEAM_EVENT_INTERRUPTED) {
        rf->ended++;
        rf->error = ev->error;
        snprintf(rf->rule, sizeof(rf->rule), "%s", ev->rule != NULL ? ev->rule : "");
    }
}

/* Connects under a group rule; true if admitted (connected), else *rf
 * says why. */
static bool connect_under_gid_rule(fixture *f, uint32_t gid, refusal *rf)
{
    seam_peer_require req = {.gids = &gid, .ngids = 1};
    seam_server_config cfg = {
        .require = &req, .conn.on_event = echo_event, .conn.userdata = &server_counts};
    seam_server *s = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &s), 0);
    seam_conn_config ccfg = {.on_event = refusal_event, .userdata = rf};
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &ccfg, &c), 0);
    chain ch = {c, 1, 0, 0};
    uint64_t x = 0;
    assert_int_equal(seam_conn_call_raw(c, 7, &x, sizeof(x), 5000, chain_reply, &ch, NULL), 0);
    assert_true(support_run_until_count(f->loop, &ch.done, 1, SUPPORT_DEADLINE_MS));
    seam_conn_close(c);
    seam_server_close(s);
    return ch.failed == 0;
}

static void test_group_rules_see_this_process_groups(void **state)
{
    fixture *f = *state;
    if (geteuid() != 0) {
        skip(); /* it gives this process a supplementary group */
    }
    gid_t saved[256];
    int nsaved = getgroups(256, saved);
    assert_true(nsaved >= 0);
    /* A supplementary group of this process, which is not its primary
     * one, admits: the peer is this process. */
    gid_t extra[257];
    memcpy(extra, saved, (size_t)nsaved * sizeof(gid_t));
    extra[nsaved] = 4242;
    assert_int_equal(setgroups((size_t)nsaved + 1, extra), 0);
    refusal rf = {0};
    bool admitted = connect_under_gid_rule(f, 4242, &rf);
    /* A group nobody here has refuses, and the rule is named. */
    refusal rf2 = {0};
    bool other = connect_under_gid_rule(f, 4243, &rf2);
    assert_int_equal(setgroups((size_t)nsaved, saved), 0);
    assert_true(admitted);
    assert_false(other);
    assert_int_equal(rf2.error, SEAM_EACCES);
    assert_string_equal(rf2.rule, "gid");
}

static void test_names_are_owned_once_and_free_again_after_close(void **state)
{
    fixture *f = *state;
    assert_int_equal(seam_name_owned(NAME), 0);
    seam_server *s = listen_echo(f->loop, NAME);
    assert_int_equal(seam_name_owned(NAME), 1);
    seam_server *again = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, NULL, &again), SEAM_EADDRINUSE);
    /* The same leaf as a Unix name is another name. */
    assert_int_equal(seam_name_owned("t.inproc"), 0);
    seam_server_close(s);
    assert_int_equal(seam_name_owned(NAME), 0);
    s = listen_echo(f->loop, NAME);
    seam_server_close(s);
    assert_int_equal(seam_name_owned("inproc:"), SEAM_EINVAL);
    assert_int_equal(seam_name_owned("inproc:.hidden"), SEAM_EINVAL);
    assert_int_equal(seam_name_owned("inproc:a/b"), SEAM_EINVAL);
    assert_int_equal(seam_server_listen(f->loop, "inproc:a b", NULL, &again), SEAM_EINVAL);
}

static void test_connect_to_a_name_nobody_serves_fails_with_enotfound(void **state)
{
    fixture *f = *state;
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(f->loop, "inproc:nobody.here", NULL, &c), SEAM_ENOTFOUND);
}

static void test_server_close_interrupts_its_client_and_a_new_server_serves_it(void **state)
{
    fixture *f = *state;
    seam_server *s = listen_echo(f->loop, NAME);
    counts cn = {0};
    seam_conn *c = connect_counting(f->loop, NAME, &cn);
    assert_true(support_run_until_count(f->loop, &cn.connected, 1, SUPPORT_DEADLINE_MS));
    seam_server_close(s);
    assert_true(support_run_until_count(f->loop, &cn.ended, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(cn.error, SEAM_ECLOSED);
    s = listen_echo(f->loop, NAME);
    chain ch = {c, 1, 0, 0};
    uint64_t x = 0;
    assert_int_equal(seam_conn_call_raw(c, 7, &x, sizeof(x), 5000, chain_reply, &ch, NULL), 0);
    assert_true(support_run_until_count(f->loop, &ch.done, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(ch.failed, 0);
    assert_int_equal(cn.connected, 2);
    seam_conn_close(c);
    seam_server_close(s);
}

static void test_peer_that_never_reads_makes_sends_fail_with_eagain_then_writable(void **state)
{
    fixture *f = *state;
    /* The server's peers never get to read: its loop is another, never
     * run, so the transport's buffer and then the client's queue fill. */
    assert_int_equal(seam_poll_new(0, &f->other), 0);
    seam_loop *other = f->other;
    f->other_server = listen_echo(other, NAME);
    counts cn = {0};
    seam_conn_config cfg = {.on_event = echo_event, .userdata = &cn, .max_queue = 64 << 10};
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &c), 0);
    static uint8_t chunk[16 << 10];
    int sent = 0;
    int r = 0;
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while ((r = seam_conn_send_raw(c, 1, chunk, sizeof(chunk))) == 0 &&
           support_now_ms() < deadline) {
        sent++;
        assert_int_equal(support_run_once(f->loop, 0), 0);
    }
    assert_int_equal(r, SEAM_EAGAIN);
    /* The transport held at most its 256 KiB bound, the queue 64 KiB and
     * one message. */
    assert_true((size_t)sent * sizeof(chunk) <= (256u << 10) + (64u << 10) + sizeof(chunk));
    assert_int_equal(cn.writable, 0);
    /* Once the server's loop runs, its peer reads and room comes back. */
    deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (cn.writable == 0 && support_now_ms() < deadline) {
        assert_true(seam_poll_run_once(other, 0) >= 0);
        assert_int_equal(support_run_once(f->loop, 1), 0);
    }
    assert_int_equal(cn.writable, 1);
    while (server_counts.messages < sent && support_now_ms() < deadline) {
        assert_true(seam_poll_run_once(other, 0) >= 0);
        assert_int_equal(support_run_once(f->loop, 1), 0);
    }
    assert_int_equal(server_counts.messages, sent);
    seam_conn_close(c);
}

static void test_large_payload_crosses_the_bounded_buffer_intact(void **state)
{
    fixture *f = *state;
    seam_server *s = listen_echo(f->loop, NAME);
    counts cn = {0};
    seam_conn *c = connect_counting(f->loop, NAME, &cn);
    size_t len = 3u << 20;
    uint8_t *big = malloc(len);
    assert_non_null(big);
    for (size_t i = 0; i < len; i++) {
        big[i] = (uint8_t)(i * 131u + 7u);
    }
    assert_int_equal(seam_conn_send_raw(c, 3, big, len), 0);
    assert_true(support_run_until_count(f->loop, &server_counts.messages, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(server_counts.last_len, len);
    free(big);
    seam_conn_close(c);
    seam_server_close(s);
}

static bool nothing_queued(void *arg)
{
    seam_conn_stats st;
    seam_conn_get_stats(arg, &st);
    return st.queued_bytes == 0;
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

static void test_a_large_send_moves_whole_into_an_empty_direction_and_no_further(void **state)
{
    fixture *f = *state;
    assert_int_equal(seam_poll_new(0, &f->other), 0);
    f->other_server = listen_echo(f->other, NAME);
    counts cn = {0};
    seam_conn *c = connect_counting(f->loop, NAME, &cn);
    /* Both hellos are read (not only the server's, which connects us). */
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while ((cn.connected == 0 || server_counts.connected == 0) && support_now_ms() < deadline) {
        assert_true(seam_poll_run_once(f->other, 0) >= 0);
        assert_int_equal(support_run_once(f->loop, 1), 0);
    }
    assert_int_equal(cn.connected, 1);
    /* From here on the server's loop does not run: its peer reads nothing. */
    size_t len = 1u << 20;
    uint8_t *big = calloc(1, len);
    assert_non_null(big);
    /* One message larger than the transport's 256 KiB is taken whole,
     * since nothing else waits there... */
    assert_int_equal(seam_conn_send_raw(c, 1, big, len), 0);
    bool moved = support_run_until(f->loop, nothing_queued, c, SUPPORT_DEADLINE_MS);
    /* ... and the next one waits in the connection's queue, bounded by
     * it, until the peer reads. */
    int r = seam_conn_send_raw(c, 2, big, len);
    support_run_until(f->loop, never, NULL, 200);
    seam_conn_stats st;
    seam_conn_get_stats(c, &st);
    free(big);
    assert_true(moved);
    assert_int_equal(r, 0);
    assert_true(st.queued_bytes >= len);
    seam_conn_close(c);
}

static int open_count(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        if (fcntl(fd, F_GETFD) >= 0) {
            n++;
        }
    }
    return n;
}

static void test_descriptors_pass_as_duplicates_and_none_is_left_open(void **state)
{
    fixture *f = *state;
    int before = open_count();
    seam_server *s = listen_echo(f->loop, NAME);
    counts cn = {0};
    seam_conn *c = connect_counting(f->loop, NAME, &cn);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    seam_value *m = seam_value_new_dict();
    seam_dict_set_take(m, "fd", seam_value_new_fd(p[0]));
    close(p[0]); /* ours: the value holds its own duplicate */
    assert_int_equal(seam_conn_send(c, m), 0);
    seam_value_unref(m);
    assert_true(support_run_until_count(f->loop, &server_counts.messages, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(server_counts.last_fd_ok, 1);
    close(p[1]);
    seam_conn_close(c);
    seam_server_close(s);
    assert_int_equal(open_count(), before);
}

/* ==== two loops on one thread =========================================== */

typedef struct peer_log {
    seam_conn *peer[4];
    int npeers;
    int messages;
} peer_log;

static void peer_log_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    peer_log *pl = userdata;
    if (ev->type == SEAM_EVENT_CONNECTED && pl->npeers < 4) {
        pl->peer[pl->npeers++] = conn;
    } else if (ev->type == SEAM_EVENT_MESSAGE) {
        pl->messages++;
    }
}

static void run_both(seam_loop *a, seam_loop *b, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        assert_true(seam_poll_run_once(a, 0) >= 0);
        assert_true(seam_poll_run_once(b, 0) >= 0);
    }
}

static void send_ping(seam_conn *c)
{
    seam_value *m = seam_value_new_dict();
    assert_int_equal(seam_conn_send(c, m), 0);
    seam_value_unref(m);
}

/* Regression: a watch raised from outside its loop, then closed before
 * the loop took it, left the loop marked as woken with nothing to take:
 * the next raise from outside sent no wake-up and was never told (a new
 * client's hello went unread until its handshake timed out). */
static void test_raise_after_a_raised_watch_closed_still_wakes_the_loop(void **state)
{
    (void)state;
    seam_loop *srv_loop = NULL;
    seam_loop *cli_loop = NULL;
    assert_int_equal(seam_poll_new(0, &srv_loop), 0);
    assert_int_equal(seam_poll_new(0, &cli_loop), 0);
    peer_log pl = {0};
    seam_server_config cfg = {.conn.on_event = peer_log_event, .conn.userdata = &pl};
    seam_server *s = NULL;
    assert_int_equal(seam_server_listen(srv_loop, NAME, &cfg, &s), 0);
    counts n1 = {0};
    counts n2 = {0};
    seam_conn *c1 = connect_counting(cli_loop, NAME, &n1);
    run_both(srv_loop, cli_loop, 10);
    assert_int_equal(pl.npeers, 1);
    seam_conn *p1 = pl.peer[0]; /* c1's server end */
    seam_conn *c2 = connect_counting(cli_loop, NAME, &n2);
    run_both(srv_loop, cli_loop, 10);
    assert_int_equal(pl.npeers, 2);
    /* c1's message raises its server end from the client's loop: another
     * loop than the server's, so the server's loop is woken. */
    send_ping(c1);
    assert_true(seam_poll_run_once(cli_loop, 0) >= 0);
    /* The raised server end closes before its loop took the raise, and the
     * loop then takes its wake-up with nothing left to tell. */
    seam_conn_close(p1);
    assert_true(seam_poll_run_once(srv_loop, 0) >= 0);
    /* c2's message must wake the server's loop again. */
    int before = pl.messages;
    send_ping(c2);
    assert_true(seam_poll_run_once(cli_loop, 0) >= 0);
    for (int i = 0; i < 20 && pl.messages == before; i++) {
        assert_true(seam_poll_run_once(srv_loop, 50) >= 0);
    }
    assert_int_equal(pl.messages, before + 1);
    seam_conn_close(c1);
    seam_conn_close(c2);
    seam_server_close(s);
    seam_loop_free(cli_loop);
    seam_loop_free(srv_loop);
}

/* ==== two loops on two threads ========================================== */

typedef struct thread_server {
    seam_loop *loop;
    atomic_bool stop;
    atomic_bool ready;
    counts n;
} thread_server;

static void *serve_thread(void *arg)
{
    thread_server *t = arg;
    seam_server_config cfg = {.conn.on_event = echo_event, .conn.userdata = &t->n};
    seam_server *s = NULL;
    if (seam_poll_new(0, &t->loop) != 0 || seam_server_listen(t->loop, NAME, &cfg, &s) != 0) {
        return NULL;
    }
    atomic_store(&t->ready, true);
    while (!atomic_load(&t->stop)) {
        seam_poll_run_once(t->loop, 50);
    }
    seam_server_close(s);
    seam_loop_free(t->loop);
    return NULL;
}

static void thread_server_start(thread_server *t, pthread_t *tid)
{
    assert_int_equal(pthread_create(tid, NULL, serve_thread, t), 0);
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (!atomic_load(&t->ready) && support_now_ms() < deadline) {
        usleep(1000);
    }
    assert_true(atomic_load(&t->ready));
}

static void thread_server_stop(thread_server *t, pthread_t tid)
{
    atomic_store(&t->stop, true);
    assert_int_equal(pthread_join(tid, NULL), 0);
}

static void test_calls_to_a_loop_on_another_thread_are_answered_in_order(void **state)
{
    fixture *f = *state;
    thread_server t = {0};
    pthread_t tid;
    thread_server_start(&t, &tid);
    counts cn = {0};
    seam_conn *c = connect_counting(f->loop, NAME, &cn);
    chain ch = {c, 3000, 0, 0};
    uint64_t x = 0;
    assert_int_equal(seam_conn_call_raw(c, 7, &x, sizeof(x), 5000, chain_reply, &ch, NULL), 0);
    assert_true(support_run_until_count(f->loop, &ch.done, 3000, SUPPORT_DEADLINE_MS));
    assert_int_equal(ch.failed, 0);
    seam_conn_close(c);
    thread_server_stop(&t, tid);
}

static void test_sync_call_waits_for_a_loop_on_another_thread(void **state)
{
    fixture *f = *state;
    thread_server t = {0};
    pthread_t tid;
    thread_server_start(&t, &tid);
    counts cn = {0};
    seam_conn *c = connect_counting(f->loop, NAME, &cn);
    for (int i = 0; i < 200; i++) {
        seam_value *m = seam_value_new_dict();
        seam_dict_set_int64(m, "i", i);
        seam_value *reply = NULL;
        assert_int_equal(seam_conn_call_sync(c, m, SUPPORT_DEADLINE_MS, &reply), 0);
        assert_true(seam_value_equal(m, reply));
        seam_value_unref(reply);
        seam_value_unref(m);
    }
    seam_conn_close(c);
    thread_server_stop(&t, tid);
}

static void test_sync_call_to_a_server_that_never_runs_times_out(void **state)
{
    fixture *f = *state;
    seam_server *s = listen_echo(f->loop, NAME);
    counts cn = {0};
    seam_conn *c = connect_counting(f->loop, NAME, &cn);
    seam_value *m = seam_value_new_dict();
    seam_value *reply = NULL;
    /* The server is on this very loop, which cannot run during the wait. */
    assert_int_equal(seam_conn_call_sync(c, m, 50, &reply), SEAM_ETIMEDOUT);
    assert_null(reply);
    seam_value_unref(m);
    seam_conn_close(c);
    seam_server_close(s);
}

static void test_server_thread_gone_interrupts_the_client_once(void **state)
{
    fixture *f = *state;
    thread_server t = {0};
    pthread_t tid;
    thread_server_start(&t, &tid);
    counts cn = {0};
    seam_conn *c = connect_counting(f->loop, NAME, &cn);
    assert_true(support_run_until_count(f->loop, &cn.connected, 1, SUPPORT_DEADLINE_MS));
    thread_server_stop(&t, tid);
    assert_true(support_run_until_count(f->loop, &cn.ended, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(cn.error, SEAM_ECLOSED);
    /* Nobody serves the name any more: the next call fails at once. */
    uint64_t x = 0;
    chain ch = {c, 1, 0, 0};
    assert_int_equal(seam_conn_call_raw(c, 7, &x, sizeof(x), 5000, chain_reply, &ch, NULL),
                     SEAM_ENOTFOUND);
    seam_conn_close(c);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_calls_between_two_ends_of_one_loop_make_no_system_call),
        T(test_peer_is_this_process_with_the_inproc_kind_and_address),
        T(test_group_rules_see_this_process_groups),
        T(test_names_are_owned_once_and_free_again_after_close),
        T(test_connect_to_a_name_nobody_serves_fails_with_enotfound),
        T(test_server_close_interrupts_its_client_and_a_new_server_serves_it),
        T(test_peer_that_never_reads_makes_sends_fail_with_eagain_then_writable),
        T(test_large_payload_crosses_the_bounded_buffer_intact),
        T(test_a_large_send_moves_whole_into_an_empty_direction_and_no_further),
        T(test_descriptors_pass_as_duplicates_and_none_is_left_open),
        T(test_raise_after_a_raised_watch_closed_still_wakes_the_loop),
        T(test_calls_to_a_loop_on_another_thread_are_answered_in_order),
        T(test_sync_call_waits_for_a_loop_on_another_thread),
        T(test_sync_call_to_a_server_that_never_runs_times_out),
        T(test_server_thread_gone_interrupts_the_client_once),
    };
    support_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
