/* SPDX-License-Identifier: MIT */
/* attack_inproc_sync.c - the in-process transport attacked from outside
 * across threads: sync calls, teardown with work in flight, descriptors
 * sent to a server freed midway. Deadlines only bound a test gone wrong. */
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

/* ==== sync calls across threads ========================================= */

typedef struct syncer {
    atomic_int wrong;
    int rounds;
} syncer;

static void *syncer_main(void *arg)
{
    syncer *sy = arg;
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) != 0) {
        atomic_fetch_add(&sy->wrong, 1);
        return NULL;
    }
    counts n;
    memset(&n, 0, sizeof(n));
    seam_conn_config cfg = {.on_event = count_event, .userdata = &n};
    seam_conn *c = NULL;
    if (seam_conn_connect(loop, NAME, &cfg, &c) != 0) {
        atomic_fetch_add(&sy->wrong, 1);
        seam_loop_free(loop);
        return NULL;
    }
    /* Connected and greeted first: the 20 ms calls below time out waiting
     * for an answer, not for a handshake a loaded machine made slow. */
    seam_value *hi = seam_value_new_dict();
    seam_value *greeted = NULL;
    if (seam_conn_call_sync(c, hi, SUPPORT_DEADLINE_MS, &greeted) != 0) {
        atomic_fetch_add(&sy->wrong, 1);
    }
    seam_value_unref(greeted);
    seam_value_unref(hi);
    for (int i = 0; i < sy->rounds; i++) {
        seam_value *slow = seam_value_new_dict();
        seam_dict_set_bool(slow, "slow", true);
        seam_value *reply = NULL;
        if (seam_conn_call_sync(c, slow, 20, &reply) != SEAM_ETIMEDOUT || reply != NULL) {
            atomic_fetch_add(&sy->wrong, 1);
        }
        seam_value_unref(slow);
        seam_value_unref(reply);
        /* The next answer is this call's, not the late one of before. */
        seam_value *m = seam_value_new_dict();
        seam_dict_set_int64(m, "i", i);
        reply = NULL;
        if (seam_conn_call_sync(c, m, SUPPORT_DEADLINE_MS, &reply) != 0 ||
            !seam_value_equal(m, reply)) {
            atomic_fetch_add(&sy->wrong, 1);
        }
        seam_value_unref(reply);
        seam_value_unref(m);
        seam_poll_run_once(loop, 0);
    }
    seam_conn_close(c);
    seam_loop_free(loop);
    return NULL;
}

static void test_sync_calls_from_many_threads_time_out_and_never_take_late_answers(void **state)
{
    static tserver t;
    /* A kept request is answered ("late") when its connection's next
     * request arrives: after the 20 ms call timed out, however slow the
     * machine. */
    t = (tserver){.slow_ms = 1000000, .n.late_on_next = true};
    tserver_start(&t);
    syncer sy[NTHREADS];
    pthread_t tid[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&sy[i], 0, sizeof(sy[i]));
        sy[i].rounds = scaled(25);
        assert_int_equal(pthread_create(&tid[i], NULL, syncer_main, &sy[i]), 0);
    }
    int wrong = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(tid[i], NULL);
        wrong += atomic_load(&sy[i].wrong);
    }
    tserver_stop(&t, STOP_CLOSE);
    assert_int_equal(wrong, 0);
    (void)state;
}

static void *stop_later(void *arg)
{
    usleep(50000);
    atomic_store(&((tserver *)arg)->stop, STOP_FREE_ONLY);
    return NULL;
}

static void test_sync_call_ends_when_the_server_thread_frees_its_loop(void **state)
{
    static tserver t;
    t = (tserver){.slow_ms = 1000000};
    tserver_start(&t);
    seam_loop *loop = poll_loop();
    counts n;
    memset(&n, 0, sizeof(n));
    seam_conn *c = connect_to(loop, NAME, &n);
    pthread_t killer;
    assert_int_equal(pthread_create(&killer, NULL, stop_later, &t), 0);
    seam_value *slow = seam_value_new_dict();
    seam_dict_set_bool(slow, "slow", true);
    seam_value *reply = NULL;
    long long t0 = support_now_ms();
    int r = seam_conn_call_sync(c, slow, SUPPORT_DEADLINE_MS, &reply);
    /* The kept request is dropped before the loop goes (an error reply),
     * or the server is gone: never the whole timeout. */
    assert_true(r == SEAM_EREMOTE || r == SEAM_ECONNRESET);
    assert_true(support_now_ms() - t0 < SUPPORT_DEADLINE_MS / 2);
    seam_value_unref(reply);
    seam_value_unref(slow);
    pthread_join(killer, NULL);
    tserver_stop(&t, STOP_FREE_ONLY); /* stopped already: joined */
    seam_conn_close(c);
    seam_loop_free(loop);
    (void)state;
}

/* ==== teardown with work in flight ====================================== */

static void test_loop_freed_with_both_ends_and_calls_in_flight_completes_each_once(void **state)
{
    seam_loop *loop = poll_loop();
    counts sn, cn;
    memset(&sn, 0, sizeof(sn));
    memset(&cn, 0, sizeof(cn));
    seam_server *s = listen_on(loop, NAME, &sn);
    (void)s;
    seam_conn *c = connect_to(loop, NAME, &cn);
    (void)c;
    static call calls[300];
    for (int i = 0; i < 300; i++) {
        calls[i].n = &cn;
        uint64_t x = (uint64_t)i;
        assert_int_equal(seam_conn_call_raw(c, 7, &x, sizeof(x), 5000, call_reply, &calls[i], NULL),
                         0);
        if (i == 100) {
            seam_poll_run_once(loop, 0);
        }
    }
    seam_loop_free(loop);
    assert_int_equal(atomic_load(&cn.replies), 300);
    assert_int_equal(atomic_load(&cn.twice), 0);
    (void)state;
}

static void test_cancel_races_a_reply_from_a_server_thread_and_completes_once(void **state)
{
    static tserver t;
    t = (tserver){0};
    tserver_start(&t);
    seam_loop *loop = poll_loop();
    counts n;
    memset(&n, 0, sizeof(n));
    seam_conn *c = connect_to(loop, NAME, &n);
    assert_true(run_until(loop, NULL, &n.connected, 1));
    static call calls[1000];
    int issued = 0;
    for (int i = 0; i < 1000; i++) {
        calls[i].n = &n;
        uint64_t id = 0;
        uint64_t x = (uint64_t)i;
        if (seam_conn_call_raw(c, 7, &x, sizeof(x), 5000, call_reply, &calls[i], &id) != 0) {
            continue;
        }
        issued++;
        if (i % 4 == 0) {
            seam_poll_run_once(loop, 0);
        }
        int r = seam_conn_cancel(c, id);
        assert_true(r == 0 || r == SEAM_ENOCALL);
    }
    assert_true(run_until(loop, NULL, &n.replies, issued));
    seam_conn_close(c);
    seam_loop_free(loop);
    tserver_stop(&t, STOP_CLOSE);
    assert_int_equal(atomic_load(&n.replies), issued);
    assert_int_equal(atomic_load(&n.twice), 0);
    (void)state;
}

typedef struct flood_dials {
    seam_loop *loop;
    atomic_int made;
    atomic_bool ready;
    atomic_bool go;
} flood_dials;

/* Fills the backlog of a server whose thread closes it. */
static void *backlog_filler(void *arg)
{
    flood_dials *fd = arg;
    counts n;
    memset(&n, 0, sizeof(n));
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) != 0) {
        return NULL;
    }
    while (!atomic_load(&fd->go)) {
        usleep(100);
    }
    for (int i = 0; i < 4096; i++) {
        seam_conn_config cfg = {.on_event = count_event, .userdata = &n};
        seam_conn *c = NULL;
        if (seam_conn_connect(loop, NAME, &cfg, &c) == 0) {
            atomic_fetch_add(&fd->made, 1);
        }
    }
    long long deadline = support_now_ms() + 2000;
    while (support_now_ms() < deadline) {
        seam_poll_run_once(loop, 10);
    }
    /* Every connection is closed by the free. */
    seam_loop_free(loop);
    return NULL;
}

static void test_server_thread_freed_with_thousands_of_dials_pending(void **state)
{
    for (int round = 0; round < 2; round++) {
        static tserver t;
        t = (tserver){0};
        tserver_start(&t);
        flood_dials fd = {0};
        pthread_t tid;
        assert_int_equal(pthread_create(&tid, NULL, backlog_filler, &fd), 0);
        atomic_store(&fd.go, true);
        usleep(5000);
        tserver_stop(&t, round == 0 ? STOP_FREE_ONLY : STOP_CLOSE);
        pthread_join(tid, NULL);
        assert_true(atomic_load(&fd.made) >= 1);
    }
    (void)state;
}

static void *fd_sender(void *arg)
{
    atomic_bool *go_on = arg;
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) != 0) {
        return NULL;
    }
    counts n;
    memset(&n, 0, sizeof(n));
    seam_conn_config cfg = {.on_event = count_event, .userdata = &n};
    seam_conn *c = NULL;
    if (seam_conn_connect(loop, NAME, &cfg, &c) == 0) {
        int p[2];
        if (pipe(p) == 0) {
            seam_value *m = fd_message(p[0]);
            close(p[0]);
            close(p[1]);
            while (atomic_load(go_on)) {
                seam_conn_send(c, m);
                seam_poll_run_once(loop, 0);
            }
            seam_value_unref(m);
        }
    }
    seam_loop_free(loop);
    return NULL;
}

static void test_descriptors_sent_by_threads_to_a_server_freed_midway_are_all_closed(void **state)
{
    int before = open_count();
    for (int round = 0; round < 3; round++) {
        static tserver t;
        t = (tserver){0};
        tserver_start(&t);
        atomic_bool go_on = true;
        pthread_t tid[2];
        for (int i = 0; i < 2; i++) {
            assert_int_equal(pthread_create(&tid[i], NULL, fd_sender, &go_on), 0);
        }
        usleep(30000);
        tserver_stop(&t, round == 1 ? STOP_CLOSE : STOP_FREE_ONLY);
        usleep(10000);
        atomic_store(&go_on, false);
        for (int i = 0; i < 2; i++) {
            pthread_join(tid[i], NULL);
        }
        assert_int_equal(open_count(), before);
    }
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sync_calls_from_many_threads_time_out_and_never_take_late_answers),
        T(test_sync_call_ends_when_the_server_thread_frees_its_loop),
        T(test_loop_freed_with_both_ends_and_calls_in_flight_completes_each_once),
        T(test_cancel_races_a_reply_from_a_server_thread_and_completes_once),
        T(test_server_thread_freed_with_thousands_of_dials_pending),
        T(test_descriptors_sent_by_threads_to_a_server_freed_midway_are_all_closed),
    };
    support_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
