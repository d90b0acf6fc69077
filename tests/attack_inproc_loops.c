/* SPDX-License-Identifier: MIT */
/* attack_inproc_loops.c - the in-process transport attacked from outside:
 * two loops on one thread, callbacks across loops of one thread, no-copy
 * bytes left unread, pings and idle peers, identity checks, names. */
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

/* ==== two loops on one thread =========================================== */

static int poll_both(seam_loop *a, seam_loop *b, int cap_ms)
{
    struct pollfd fds[64];
    size_t na = seam_poll_fds(a, fds, 32);
    size_t nb = seam_poll_fds(b, fds + na, 32);
    assert_true(na <= 32 && nb <= 32);
    int ta = seam_poll_timeout(a);
    int tb = seam_poll_timeout(b);
    int t = ta < 0 ? tb : (tb < 0 ? ta : (ta < tb ? ta : tb));
    if (t < 0 || t > cap_ms) {
        t = cap_ms;
    }
    int r = poll(fds, na + nb, t);
    seam_poll_dispatch(a, fds, na);
    seam_poll_dispatch(b, fds + na, nb);
    return r;
}

/* Both loops' descriptors in one poll(): a message from one loop to the
 * other on the same thread must make a descriptor of the receiving loop
 * ready (or the sender's dispatch deliver it), never leave it waiting for
 * the poll's timeout. */
static void test_two_loops_on_one_thread_in_one_poll_never_wait_for_a_timeout(void **state)
{
    seam_loop *srv = poll_loop();
    seam_loop *cli = poll_loop();
    counts sn, cn;
    memset(&sn, 0, sizeof(sn));
    memset(&cn, 0, sizeof(cn));
    seam_server *s = listen_on(srv, NAME, &sn);
    seam_conn *c = connect_to(cli, NAME, &cn);
    int rounds = 200;
    long long t0 = support_now_ms();
    for (int i = 0; i < rounds; i++) {
        call cl = {.n = &cn};
        uint64_t x = (uint64_t)i;
        assert_int_equal(seam_conn_call_raw(c, 7, &x, sizeof(x), 5000, call_reply, &cl, NULL), 0);
        long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
        while (atomic_load(&cl.done) == 0 && support_now_ms() < deadline) {
            poll_both(srv, cli, 1000);
        }
        assert_int_equal(cl.status, 0);
    }
    /* 200 round trips: well under a second each. */
    assert_true(support_now_ms() - t0 < 10000);
    seam_conn_close(c);
    seam_server_close(s);
    seam_loop_free(cli);
    seam_loop_free(srv);
    (void)state;
}

static void test_two_loops_on_one_thread_iterated_alternately_exchange_in_order(void **state)
{
    seam_loop *srv = poll_loop();
    seam_loop *cli = poll_loop();
    counts sn, cn;
    memset(&sn, 0, sizeof(sn));
    memset(&cn, 0, sizeof(cn));
    seam_server *s = listen_on(srv, NAME, &sn);
    seam_conn *c = connect_to(cli, NAME, &cn);
    static call calls[2000];
    for (int i = 0; i < 2000; i++) {
        calls[i].n = &cn;
        uint64_t x = (uint64_t)i;
        assert_int_equal(seam_conn_call_raw(c, 7, &x, sizeof(x), 5000, call_reply, &calls[i], NULL),
                         0);
        if (i % 7 == 0) {
            seam_poll_run_once(srv, 0);
            seam_poll_run_once(cli, 0);
        }
    }
    assert_true(run_until(srv, cli, &cn.replies, 2000));
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(calls[i].status, 0);
    }
    assert_int_equal(atomic_load(&cn.twice), 0);
    seam_conn_close(c);
    seam_server_close(s);
    seam_loop_free(cli);
    seam_loop_free(srv);
    (void)state;
}

/* ==== more callbacks across loops of one thread ========================= */

typedef struct syncin {
    seam_conn *to_other; /* a connection of this loop to a server on another loop */
    int result;
    atomic_int done;
} syncin;

static void syncin_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    syncin *si = userdata;
    if (ev->type == SEAM_EVENT_MESSAGE && atomic_load(&si->done) == 0) {
        seam_value *m = seam_value_new_dict();
        seam_value *reply = NULL;
        /* The other loop is on this thread: it cannot run meanwhile. */
        si->result = seam_conn_call_sync(si->to_other, m, 100, &reply);
        seam_value_unref(reply);
        seam_value_unref(m);
        atomic_store(&si->done, 1);
    }
    (void)conn;
}

static void test_sync_call_inside_a_callback_to_another_loop_of_the_thread_times_out(void **state)
{
    seam_loop *a = poll_loop();
    seam_loop *b = poll_loop();
    counts an, bn;
    memset(&an, 0, sizeof(an));
    memset(&bn, 0, sizeof(bn));
    seam_server *sa = listen_on(a, "inproc:t.a", &an);
    syncin si = {0};
    seam_server_config cfg = {.conn.on_event = syncin_event, .conn.userdata = &si};
    seam_server *sb = NULL;
    assert_int_equal(seam_server_listen(b, "inproc:t.b", &cfg, &sb), 0);
    /* b's server calls a's server from inside b's callback. */
    si.to_other = connect_to(b, "inproc:t.a", &bn);
    assert_true(run_until(a, b, &bn.connected, 1));
    seam_conn *poke = connect_to(a, "inproc:t.b", &an);
    assert_int_equal(seam_conn_send_raw(poke, 1, "x", 1), 0);
    assert_true(run_until(a, b, &si.done, 1));
    assert_int_equal(si.result, SEAM_ETIMEDOUT);
    /* Both loops carry on afterwards. */
    call cl = {.n = &bn};
    uint64_t x = 0;
    assert_int_equal(seam_conn_call_raw(si.to_other, 7, &x, sizeof(x), 5000, call_reply, &cl, NULL),
                     0);
    assert_true(run_until(a, b, &bn.replies, 1));
    assert_int_equal(cl.status, 0);
    seam_conn_close(poke);
    seam_conn_close(si.to_other);
    seam_server_close(sa);
    seam_server_close(sb);
    seam_loop_free(a);
    seam_loop_free(b);
    (void)state;
}

typedef struct killer {
    seam_loop *victim;
    atomic_int done;
} killer;

static void killer_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    killer *k = userdata;
    if (ev->type == SEAM_EVENT_MESSAGE && k->victim != NULL) {
        /* Answer first, so the victim has data raised, then free it. */
        seam_conn_send_raw(conn, 1, "y", 1);
        seam_conn_send_raw(conn, 1, "y", 1);
        seam_loop_free(k->victim);
        k->victim = NULL;
        atomic_store(&k->done, 1);
    }
}

static void test_server_callback_frees_the_client_loop_of_its_own_thread(void **state)
{
    seam_loop *srv = poll_loop();
    seam_loop *cli = poll_loop();
    killer k = {.victim = cli};
    seam_server_config cfg = {.conn.on_event = killer_event, .conn.userdata = &k};
    seam_server *s = NULL;
    assert_int_equal(seam_server_listen(srv, NAME, &cfg, &s), 0);
    counts cn;
    memset(&cn, 0, sizeof(cn));
    seam_conn *c = connect_to(cli, NAME, &cn);
    assert_int_equal(seam_conn_send_raw(c, 1, "x", 1), 0);
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (atomic_load(&k.done) == 0 && support_now_ms() < deadline) {
        seam_poll_run_once(cli, 0);
        seam_poll_run_once(srv, 0);
    }
    assert_int_equal(atomic_load(&k.done), 1);
    for (int i = 0; i < 20; i++) {
        seam_poll_run_once(srv, 1);
    }
    seam_server_close(s);
    seam_loop_free(srv);
    (void)state;
}

static atomic_int released;

static void count_release(const void *bytes, void *userdata)
{
    atomic_fetch_add(&released, 1);
    (void)bytes;
    (void)userdata;
}

static void test_nocopy_bytes_released_once_when_the_reader_never_reads(void **state)
{
    atomic_store(&released, 0);
    seam_loop *srv = poll_loop();
    seam_loop *cli = poll_loop();
    counts sn, cn;
    memset(&sn, 0, sizeof(sn));
    memset(&cn, 0, sizeof(cn));
    seam_server *s = listen_on(srv, NAME, &sn);
    seam_conn *c = connect_to(cli, NAME, &cn);
    assert_true(run_until(srv, cli, &cn.connected, 1));
    size_t len = 1u << 20;
    uint8_t *big = calloc(1, len);
    assert_non_null(big);
    int sent = 0;
    for (int i = 0; i < 4; i++) {
        if (seam_conn_send_raw_nocopy(c, 1, big, len, count_release, NULL) == 0) {
            sent++;
        }
        seam_poll_run_once(cli, 0);
    }
    assert_true(sent >= 1);
    /* The server never reads; the client's loop goes with bytes unsent. */
    seam_loop_free(cli);
    assert_int_equal(atomic_load(&released), sent);
    seam_server_close(s);
    seam_loop_free(srv);
    assert_int_equal(atomic_load(&released), sent);
    free(big);
    (void)state;
}

static void test_pings_cross_to_a_server_thread_and_idle_peers_time_out(void **state)
{
    static tserver t;
    t = (tserver){0};
    tserver_start(&t);
    seam_loop *loop = poll_loop();
    counts n;
    memset(&n, 0, sizeof(n));
    seam_conn *c = connect_to(loop, NAME, &n);
    static call pings[200];
    for (int i = 0; i < 200; i++) {
        pings[i].n = &n;
        assert_int_equal(seam_conn_ping(c, 5000, call_reply, &pings[i]), 0);
    }
    assert_true(run_until(loop, NULL, &n.replies, 200));
    for (int i = 0; i < 200; i++) {
        assert_int_equal(pings[i].status, 0);
    }
    seam_conn_close(c);
    seam_loop_free(loop);
    tserver_stop(&t, STOP_CLOSE);
    /* An idle timeout holds over inproc as over a socket. */
    seam_loop *srv = poll_loop();
    seam_loop *cli = poll_loop();
    counts sn, cn;
    memset(&sn, 0, sizeof(sn));
    memset(&cn, 0, sizeof(cn));
    seam_server_config cfg = {
        .conn.on_event = count_event, .conn.userdata = &sn, .idle_timeout_ms = 100};
    seam_server *s = NULL;
    assert_int_equal(seam_server_listen(srv, NAME, &cfg, &s), 0);
    c = connect_to(cli, NAME, &cn);
    assert_true(run_until(srv, cli, &cn.ended, 1));
    assert_int_equal(atomic_load(&sn.error), SEAM_ETIMEDOUT);
    seam_conn_close(c);
    seam_server_close(s);
    seam_loop_free(cli);
    seam_loop_free(srv);
    (void)state;
}

static bool refuse_all(const seam_peer *peer, void *userdata)
{
    (void)peer;
    (void)userdata;
    return false;
}

static void test_identity_checks_hold_over_inproc(void **state)
{
    seam_loop *srv = poll_loop();
    seam_loop *cli = poll_loop();
    counts sn, cn;
    memset(&sn, 0, sizeof(sn));
    memset(&cn, 0, sizeof(cn));
    seam_server *s = listen_on(srv, NAME, &sn);
    assert_non_null(seam_server_path(s));
    /* A client that expects another uid's server refuses this one. */
    seam_conn_config cfg = {.on_event = count_event,
                            .userdata = &cn,
                            .expect_server_uid = true,
                            .server_uid = (uint32_t)geteuid() + 1};
    seam_conn *c = NULL;
    int r = seam_conn_connect(cli, NAME, &cfg, &c);
    if (r == 0) {
        assert_true(run_until(srv, cli, &cn.ended, 1));
        assert_int_equal(atomic_load(&cn.error), SEAM_EACCES);
        assert_int_equal(atomic_load(&cn.connected), 0);
        seam_conn_close(c);
    } else {
        assert_int_equal(r, SEAM_EACCES);
    }
    /* Credentials of a connected inproc peer. */
    memset(&cn, 0, sizeof(cn));
    c = connect_to(cli, NAME, &cn);
    assert_true(run_until(srv, cli, &cn.connected, 1));
    seam_creds cr;
    assert_int_equal(seam_conn_creds(c, &cr), 0);
    assert_int_equal(cr.uid, (uint32_t)geteuid());
    assert_int_equal(cr.pid, (int32_t)getpid());
    assert_int_equal(cr.pidfd, -1);
    seam_conn_close(c);
    seam_server_close(s);
    /* An accept filter refusing: INVALID with SEAM_EACCES. */
    seam_server_config rcfg = {.accept_peer = refuse_all};
    assert_int_equal(seam_server_listen(srv, NAME, &rcfg, &s), 0);
    memset(&cn, 0, sizeof(cn));
    c = connect_to(cli, NAME, &cn);
    assert_true(run_until(srv, cli, &cn.ended, 1));
    assert_int_equal(atomic_load(&cn.error), SEAM_EACCES);
    seam_conn_close(c);
    seam_server_close(s);
    seam_loop_free(cli);
    seam_loop_free(srv);
    (void)state;
}

/* ==== names ============================================================== */

/* Regression (found attacking from outside): docs/api.md gives NAME the
 * service-name rules, 1 to 200 characters, and no file bounds it; yet any
 * NAME over 100 characters was refused with SEAM_ENAMETOOLONG ("inproc:"
 * and NAME had to fit the 108-byte socket address). */
static void test_inproc_name_of_200_characters_is_served(void **state)
{
    seam_loop *loop = poll_loop();
    char name[256] = "inproc:";
    memset(name + 7, 'a', 200);
    name[207] = '\0';
    seam_server *s = NULL;
    int r = seam_server_listen(loop, name, NULL, &s);
    if (r != 0) {
        seam_loop_free(loop);
    }
    assert_int_equal(r, 0);
    assert_int_equal(seam_name_owned(name), 1);
    seam_server_close(s);
    seam_loop_free(loop);
    (void)state;
}

static void test_inproc_names_follow_the_service_name_rules(void **state)
{
    seam_loop *loop = poll_loop();
    char name[256] = "inproc:";
    memset(name + 7, 'a', 201); /* 201 characters */
    name[208] = '\0';
    seam_server *s = NULL;
    assert_int_equal(seam_server_listen(loop, name, NULL, &s), SEAM_EINVAL);
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(loop, name, NULL, &c), SEAM_EINVAL);
    assert_int_equal(seam_name_owned(name), SEAM_EINVAL);
    /* 100 characters are served. */
    name[107] = '\0';
    assert_int_equal(seam_server_listen(loop, name, NULL, &s), 0);
    assert_int_equal(seam_name_owned(name), 1);
    seam_server_close(s);
    static const char *bad[] = {"inproc:",         "inproc:.x",        "inproc:a/b",
                                "inproc:inproc:x", "inproc:a\xc3\xa9", "inproc:a b",
                                "inproc:a\n",      "inproc:..",        "inproc:a:b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(seam_server_listen(loop, bad[i], NULL, &s), SEAM_EINVAL);
        assert_int_equal(seam_conn_connect(loop, bad[i], NULL, &c), SEAM_EINVAL);
    }
    char buf[512];
    assert_int_equal(seam_name_path("inproc:ok", buf, sizeof(buf)), SEAM_EINVAL);
    /* "-x" and "x." are names; "inproc" alone is a Unix service name. */
    assert_int_equal(seam_server_listen(loop, "inproc:-x.", NULL, &s), 0);
    assert_int_equal(seam_name_owned("inproc:-x."), 1);
    seam_server_close(s);
    assert_int_equal(seam_name_owned("inproc"), 0);
    seam_loop_free(loop);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_two_loops_on_one_thread_in_one_poll_never_wait_for_a_timeout),
        T(test_two_loops_on_one_thread_iterated_alternately_exchange_in_order),
        T(test_sync_call_inside_a_callback_to_another_loop_of_the_thread_times_out),
        T(test_server_callback_frees_the_client_loop_of_its_own_thread),
        T(test_nocopy_bytes_released_once_when_the_reader_never_reads),
        T(test_pings_cross_to_a_server_thread_and_idle_peers_time_out),
        T(test_identity_checks_hold_over_inproc),
        T(test_inproc_name_of_200_characters_is_served),
        T(test_inproc_names_follow_the_service_name_rules),
    };
    support_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
