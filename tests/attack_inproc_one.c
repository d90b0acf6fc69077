/* SPDX-License-Identifier: MIT */
/* attack_inproc_one.c - the in-process transport attacked from outside on
 * one thread: backlogs and bounds, descriptors left unread, callbacks
 * that close and free (more in attack_inproc_loops.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "seam/poll.h"
#include "support.h"

#include "attack_inproc_support.h"
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ==== backlog and bounds ================================================= */

static void test_backlog_holds_4096_dials_then_eagain_and_all_are_freed(void **state)
{
    seam_loop *srv = poll_loop();
    seam_loop *cli = poll_loop();
    counts sn, cn;
    memset(&sn, 0, sizeof(sn));
    memset(&cn, 0, sizeof(cn));
    seam_server *s = listen_on(srv, NAME, &sn);
    static seam_conn *conns[4097];
    int fds = open_count();
    for (int i = 0; i < 4096; i++) {
        conns[i] = connect_to(cli, NAME, &cn);
    }
    /* Pending dials cost no descriptor. */
    assert_int_equal(open_count(), fds);
    seam_conn_config cfg = {.on_event = count_event, .userdata = &cn};
    assert_int_equal(seam_conn_connect(cli, NAME, &cfg, &conns[4096]), SEAM_EAGAIN);
    /* The server takes max_conns (1024) and refuses the rest. */
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (atomic_load(&cn.connected) + atomic_load(&cn.ended) < 4096 &&
           support_now_ms() < deadline) {
        seam_poll_run_once(srv, 0);
        seam_poll_run_once(cli, 0);
    }
    assert_int_equal(atomic_load(&cn.connected), 1024);
    assert_int_equal(atomic_load(&cn.ended), 4096 - 1024);
    assert_int_equal(atomic_load(&cn.error), SEAM_EAGAIN);
    seam_server_close(s);
    for (int i = 0; i < 4096; i++) {
        seam_conn_close(conns[i]);
    }
    seam_loop_free(cli);
    seam_loop_free(srv);
    (void)state;
}

static void test_dials_pending_when_the_client_loop_is_freed_are_safe_to_accept(void **state)
{
    seam_loop *srv = poll_loop();
    counts sn;
    memset(&sn, 0, sizeof(sn));
    seam_server *s = listen_on(srv, NAME, &sn);
    for (int i = 0; i < 8; i++) {
        seam_loop *cli = poll_loop();
        counts cn;
        memset(&cn, 0, sizeof(cn));
        seam_conn *c = connect_to(cli, NAME, &cn);
        uint8_t b[100] = {0};
        assert_int_equal(seam_conn_send_raw(c, 1, b, sizeof(b)), 0);
        if (i % 2 == 0) {
            seam_conn_close(c);
        }
        /* The server has not accepted it yet. */
        seam_loop_free(cli);
    }
    for (int i = 0; i < 20; i++) {
        seam_poll_run_once(srv, 1);
    }
    assert_int_equal(atomic_load(&sn.ended), atomic_load(&sn.connected));
    seam_server_close(s);
    seam_loop_free(srv);
    (void)state;
}

/* The server's peer never runs its loop (another, never iterated): what
 * the server may have in memory for it is its queue, plus 256 KiB. */
static void test_server_sends_to_a_peer_that_never_reads_are_bounded(void **state)
{
    seam_loop *srv = poll_loop();
    seam_loop *cli = poll_loop();
    counts sn, cn;
    memset(&sn, 0, sizeof(sn));
    memset(&cn, 0, sizeof(cn));
    seam_server_config cfg = {
        .conn.on_event = count_event, .conn.userdata = &sn, .conn.max_queue = 64 << 10};
    seam_server *s = NULL;
    assert_int_equal(seam_server_listen(srv, NAME, &cfg, &s), 0);
    seam_conn *c = connect_to(cli, NAME, &cn);
    assert_true(run_until(srv, cli, &cn.connected, 1));
    assert_true(run_until(srv, cli, &sn.connected, 1));
    seam_conn *peer = sn.last_peer;
    assert_non_null(peer);
    static uint8_t chunk[16 << 10];
    int sent = 0;
    int r;
    while ((r = seam_conn_send_raw(peer, 1, chunk, sizeof(chunk))) == 0 && sent < 10000) {
        sent++;
        seam_poll_run_once(srv, 0);
    }
    assert_int_equal(r, SEAM_EAGAIN);
    assert_true((size_t)sent * sizeof(chunk) <= (256u << 10) + (64u << 10) + sizeof(chunk));
    /* Broadcast skips it. */
    size_t skipped = 0;
    assert_int_equal(seam_server_broadcast_raw(s, 1, chunk, sizeof(chunk), &skipped), 0);
    assert_int_equal(skipped, 1);
    assert_true(run_until(srv, cli, &cn.messages, sent));
    assert_int_equal(atomic_load(&sn.writable), 1);
    seam_conn_close(c);
    seam_server_close(s);
    seam_loop_free(cli);
    seam_loop_free(srv);
    (void)state;
}

/* A client calls and never reads the answers: the server's memory for it
 * stays within the documented four times its queue bound plus the
 * transport's 256 KiB. */
static void test_answers_to_a_client_reading_in_bursts_stay_bounded(void **state)
{
    seam_loop *srv = poll_loop();
    seam_loop *cli = poll_loop();
    counts sn, cn;
    memset(&sn, 0, sizeof(sn));
    memset(&cn, 0, sizeof(cn));
    size_t q = 64 << 10;
    seam_server_config cfg = {
        .conn.on_event = count_event, .conn.userdata = &sn, .conn.max_queue = q};
    seam_server *s = NULL;
    assert_int_equal(seam_server_listen(srv, NAME, &cfg, &s), 0);
    seam_conn_config ccfg = {.on_event = count_event, .userdata = &cn, .max_queue = 64u << 20};
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(cli, NAME, &ccfg, &c), 0);
    assert_true(run_until(srv, cli, &cn.connected, 1));
    assert_true(run_until(srv, cli, &sn.connected, 1));
    seam_conn *peer = sn.last_peer;
    static uint8_t chunk[8 << 10];
    static call calls[4096];
    int issued = 0;
    for (int i = 0; i < 4096; i++) {
        calls[i].n = &cn;
        if (seam_conn_call_raw(c, 7, chunk, sizeof(chunk), SEAM_NO_TIMEOUT, call_reply, &calls[i],
                               NULL) == 0) {
            issued++;
        }
    }
    /* The client's loop runs once for every 200 rounds of the server's:
     * it writes requests (and reads answers) in bursts, the server's
     * answers pile up in between. */
    uint64_t most = 0;
    for (int i = 0; i < 20000 && atomic_load(&sn.ended) == 0 && atomic_load(&cn.replies) < issued;
         i++) {
        seam_poll_run_once(srv, 0);
        if (i % 200 == 0) {
            seam_poll_run_once(cli, 0);
        }
        if (atomic_load(&sn.ended) == 0) {
            seam_conn_stats st;
            memset(&st, 0, sizeof(st));
            seam_conn_get_stats(peer, &st);
            most = st.queued_bytes > most ? st.queued_bytes : most;
        }
    }
    assert_true(most > 0);
    assert_true(most <= 4 * (q + sizeof(chunk) + 1024) + (256u << 10));
    seam_conn_close(c);
    seam_server_close(s);
    seam_loop_free(cli);
    assert_int_equal(atomic_load(&cn.replies), issued);
    assert_int_equal(atomic_load(&cn.twice), 0);
    seam_loop_free(srv);
    (void)state;
}

/* ==== descriptors ======================================================== */

static void test_descriptors_never_read_are_closed_with_the_receiver(void **state)
{
    int before = open_count();
    for (int how = 0; how < 3; how++) {
        seam_loop *srv = poll_loop();
        seam_loop *cli = poll_loop();
        counts sn, cn;
        memset(&sn, 0, sizeof(sn));
        memset(&cn, 0, sizeof(cn));
        seam_server *s = listen_on(srv, NAME, &sn);
        seam_conn *c = connect_to(cli, NAME, &cn);
        assert_true(run_until(srv, cli, &cn.connected, 1));
        int p[2];
        assert_int_equal(pipe(p), 0);
        seam_value *m = fd_message(p[0]);
        for (int i = 0; i < 20; i++) {
            assert_int_equal(seam_conn_send(c, m), 0);
        }
        seam_value_unref(m);
        close(p[0]);
        close(p[1]);
        seam_poll_run_once(cli, 0); /* flushed into the transport, unread */
        if (how == 0) {
            seam_conn_close(c); /* the sender goes first */
            seam_server_close(s);
        } else if (how == 1) {
            seam_server_close(s); /* the receiver goes, unread */
            seam_conn_close(c);
        } else {
            seam_loop_free(srv); /* the receiver's loop, with the server */
            srv = NULL;
            seam_conn_close(c);
        }
        seam_loop_free(cli);
        if (srv != NULL) {
            seam_loop_free(srv);
        }
        assert_int_equal(open_count(), before);
    }
    (void)state;
}

static void test_descriptors_pending_in_a_dial_never_accepted_are_closed(void **state)
{
    int before = open_count();
    seam_loop *srv = poll_loop();
    seam_loop *cli = poll_loop();
    counts sn, cn;
    memset(&sn, 0, sizeof(sn));
    memset(&cn, 0, sizeof(cn));
    seam_server *s = listen_on(srv, NAME, &sn);
    seam_conn *c = connect_to(cli, NAME, &cn);
    int p[2];
    assert_int_equal(pipe(p), 0);
    seam_value *m = fd_message(p[0]);
    /* Queued during the handshake, which never finishes. */
    assert_int_equal(seam_conn_send(c, m), 0);
    seam_value_unref(m);
    close(p[0]);
    close(p[1]);
    seam_poll_run_once(cli, 0);
    seam_conn_close(c);
    seam_loop_free(cli);
    seam_server_close(s);
    seam_loop_free(srv);
    assert_int_equal(open_count(), before);
    (void)state;
}

static void test_a_message_with_more_descriptors_than_a_frame_holds_fails_cleanly(void **state)
{
    int before = open_count();
    seam_loop *srv = poll_loop();
    seam_loop *cli = poll_loop();
    counts sn, cn;
    memset(&sn, 0, sizeof(sn));
    memset(&cn, 0, sizeof(cn));
    seam_server *s = listen_on(srv, NAME, &sn);
    seam_conn *c = connect_to(cli, NAME, &cn);
    assert_true(run_until(srv, cli, &cn.connected, 1));
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(null >= 0);
    seam_value *a = seam_value_new_array();
    for (int i = 0; i < 65; i++) {
        seam_array_append_take(a, seam_value_new_fd(null));
    }
    close(null);
    assert_true(seam_conn_send(c, a) < 0);
    seam_value_unref(a);
    /* The connection is still good. */
    call cl = {.n = &cn};
    uint64_t x = 0;
    assert_int_equal(seam_conn_call_raw(c, 7, &x, sizeof(x), 5000, call_reply, &cl, NULL), 0);
    assert_true(run_until(srv, cli, &cn.replies, 1));
    assert_int_equal(cl.status, 0);
    seam_conn_close(c);
    seam_server_close(s);
    seam_loop_free(cli);
    seam_loop_free(srv);
    assert_int_equal(open_count(), before);
    (void)state;
}

/* ==== callbacks that close and free ===================================== */

typedef struct freer {
    seam_loop *victim;
    atomic_int done;
} freer;

static void free_loop_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    freer *fr = userdata;
    /* Send once more, so a readiness is raised for the other loop, and
     * then free it or our own. */
    seam_conn_send_raw(conn, 1, "x", 1);
    seam_loop_free(fr->victim);
    atomic_fetch_add(&fr->done, 1);
    (void)r;
}

static void test_reply_callback_frees_its_own_loop_or_the_servers(void **state)
{
    for (int which = 0; which < 2; which++) {
        seam_loop *srv = poll_loop();
        seam_loop *cli = poll_loop();
        counts sn, cn;
        memset(&sn, 0, sizeof(sn));
        memset(&cn, 0, sizeof(cn));
        seam_server *s = listen_on(srv, NAME, &sn);
        (void)s;
        seam_conn *c = connect_to(cli, NAME, &cn);
        freer fr = {.victim = which == 0 ? cli : srv};
        uint64_t x = 0;
        assert_int_equal(seam_conn_call_raw(c, 7, &x, sizeof(x), 5000, free_loop_reply, &fr, NULL),
                         0);
        long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
        while (atomic_load(&fr.done) == 0 && support_now_ms() < deadline) {
            seam_poll_run_once(srv, 0);
            seam_poll_run_once(cli, 0);
        }
        assert_int_equal(atomic_load(&fr.done), 1);
        seam_loop *left = which == 0 ? srv : cli;
        for (int i = 0; i < 10; i++) {
            seam_poll_run_once(left, 1);
        }
        if (which == 0) {
            assert_int_equal(atomic_load(&sn.ended), 1);
        } else {
            assert_int_equal(atomic_load(&cn.ended), 1);
            seam_conn_close(c);
        }
        seam_loop_free(left);
    }
    (void)state;
}

typedef struct relisten {
    seam_server *server;
    counts *n;
    int times;
} relisten;

static void relisten_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    relisten *rl = userdata;
    count_event(conn, ev, rl->n);
    if (ev->type == SEAM_EVENT_MESSAGE && rl->times > 0) {
        rl->times--;
        seam_server *old = rl->server;
        rl->server = NULL;
        seam_server_close(old);
    }
}

static void test_server_closed_inside_a_peer_callback_and_made_again_serves_the_client(void **state)
{
    seam_loop *loop = poll_loop();
    counts sn, cn;
    memset(&sn, 0, sizeof(sn));
    memset(&cn, 0, sizeof(cn));
    relisten rl = {.n = &sn, .times = scaled(50)};
    seam_server_config cfg = {.conn.on_event = relisten_event, .conn.userdata = &rl};
    assert_int_equal(seam_server_listen(loop, NAME, &cfg, &rl.server), 0);
    seam_conn *c = connect_to(loop, NAME, &cn);
    int total = rl.times;
    for (int i = 0; i < total; i++) {
        assert_int_equal(seam_conn_send_raw(c, 1, "m", 1), 0);
        int want = i + 1;
        assert_true(run_until(loop, NULL, &cn.ended, want));
        assert_null(rl.server);
        assert_int_equal(seam_server_listen(loop, NAME, &cfg, &rl.server), 0);
    }
    call cl = {.n = &cn};
    uint64_t x = 0;
    assert_int_equal(seam_conn_call_raw(c, 7, &x, sizeof(x), 5000, call_reply, &cl, NULL), 0);
    assert_true(run_until(loop, NULL, &cn.replies, 1));
    assert_int_equal(cl.status, 0);
    assert_int_equal(atomic_load(&cn.connected), total + 1);
    seam_conn_close(c);
    seam_server_close(rl.server);
    seam_loop_free(loop);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_backlog_holds_4096_dials_then_eagain_and_all_are_freed),
        T(test_dials_pending_when_the_client_loop_is_freed_are_safe_to_accept),
        T(test_server_sends_to_a_peer_that_never_reads_are_bounded),
        T(test_answers_to_a_client_reading_in_bursts_stay_bounded),
        T(test_descriptors_never_read_are_closed_with_the_receiver),
        T(test_descriptors_pending_in_a_dial_never_accepted_are_closed),
        T(test_a_message_with_more_descriptors_than_a_frame_holds_fails_cleanly),
        T(test_reply_callback_frees_its_own_loop_or_the_servers),
        T(test_server_closed_inside_a_peer_callback_and_made_again_serves_the_client),
    };
    support_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
