/* SPDX-License-Identifier: MIT */
/* attack_inproc.c - the in-process transport attacked from outside, with
 * the public API only, across threads: loops on many threads connecting,
 * calling and going away while their peers are busy, names taken and given
 * back at once (sync calls and teardown: attack_inproc_sync.c). Every test
 * states a documented promise. Deadlines only bound a test gone wrong. */
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

/* ==== many threads, one server ========================================== */

typedef struct churn {
    atomic_int failures;
    atomic_int stalls; /* a connect that never got CONNECTED */
    atomic_int rounds;
    int pattern; /* -1: the three below in turn; else always that one */
    counts n;
} churn;

static void *churn_client(void *arg)
{
    churn *ch = arg;
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) != 0) {
        atomic_fetch_add(&ch->failures, 1);
        return NULL;
    }
    counts n;
    memset(&n, 0, sizeof(n));
    int rounds = scaled(150);
    for (int i = 0; i < rounds; i++) {
        seam_conn_config cfg = {.on_event = count_event, .userdata = &n};
        seam_conn *c = NULL;
        int r = seam_conn_connect(loop, NAME, &cfg, &c);
        if (r != 0) {
            atomic_fetch_add(&ch->failures, 1);
            continue;
        }
        int kind = ch->pattern < 0 ? i % 3 : ch->pattern;
        if (kind == 1) {
            int want = atomic_load(&n.connected) + 1;
            int ended = atomic_load(&n.ended);
            long long deadline = support_now_ms() + 5000;
            while (atomic_load(&n.connected) < want && atomic_load(&n.ended) == ended &&
                   support_now_ms() < deadline) {
                seam_poll_run_once(loop, 10);
            }
            if (atomic_load(&n.connected) < want) {
                fprintf(stderr, "round %d: no CONNECTED (ended %d, error %s)\n", i,
                        atomic_load(&n.ended) - ended, seam_errname(atomic_load(&n.error)));
                atomic_fetch_add(&ch->stalls, 1);
            }
        } else if (kind == 2) {
            call cl = {.n = &n};
            uint64_t x = (uint64_t)i;
            if (seam_conn_call_raw(c, 7, &x, sizeof(x), 5000, call_reply, &cl, NULL) != 0) {
                atomic_fetch_add(&ch->failures, 1);
            } else {
                long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
                while (atomic_load(&cl.done) == 0 && support_now_ms() < deadline) {
                    seam_poll_run_once(loop, 10);
                }
                if (cl.status != 0) {
                    fprintf(stderr, "round %d: call ended %s\n", i, seam_errname(cl.status));
                    atomic_fetch_add(&ch->failures, 1);
                }
            }
        }
        seam_conn_close(c);
        atomic_fetch_add(&ch->rounds, 1);
    }
    seam_loop_free(loop);
    atomic_fetch_add(&ch->n.twice, atomic_load(&n.twice));
    return NULL;
}

/* Regression (found attacking from outside; failed in many runs): a
 * connection now and then never got its CONNECTED, or its call timed out,
 * though the server thread was live and served the other threads; the
 * minimal case is
 * test_call_after_closing_a_connection_with_input_raised_is_answered. */
static void test_threads_connecting_and_closing_in_a_tight_loop_all_succeed(void **state)
{
    static tserver t;
    t = (tserver){0};
    tserver_start(&t);
    churn ch = {.pattern = -1};
    int nthreads = NTHREADS;
    pthread_t tid[NTHREADS];
    for (int i = 0; i < nthreads; i++) {
        assert_int_equal(pthread_create(&tid[i], NULL, churn_client, &ch), 0);
    }
    for (int i = 0; i < nthreads; i++) {
        pthread_join(tid[i], NULL);
    }
    /* Every peer the server saw ends, once the clients are gone (peers
     * closed during their handshake end without CONNECTED). */
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (atomic_load(&t.n.ended) < atomic_load(&t.n.connected) && support_now_ms() < deadline) {
        usleep(1000);
    }
    tserver_stop(&t, STOP_CLOSE);
    assert_int_equal(atomic_load(&ch.stalls), 0);
    assert_int_equal(atomic_load(&ch.failures), 0);
    assert_int_equal(atomic_load(&ch.n.twice), 0);
    assert_int_equal(atomic_load(&ch.rounds), nthreads * scaled(150));
    assert_true(atomic_load(&t.n.ended) >= atomic_load(&t.n.connected));
    (void)state;
}

/* Regression (failed within a few dozen rounds): one client loop on the
 * test's thread, one server loop on its own thread polling every 10 ms.
 * Connect, one call, close - repeated. Now and then the call was never
 * answered and timed out, though the server was live: the request (or the
 * answer) sat unread in the transport until a later send from the client
 * made it found. */
static void test_call_on_a_fresh_connection_to_a_server_thread_is_answered(void **state)
{
    static tserver t;
    t = (tserver){0};
    tserver_start(&t);
    seam_loop *loop = poll_loop();
    counts n;
    memset(&n, 0, sizeof(n));
    int lost = 0;
    int first = -1;
    for (int i = 0; i < scaled(1000) && lost < 3; i++) {
        seam_conn *c = connect_to(loop, NAME, &n);
        call cl = {.n = &n};
        uint64_t x = (uint64_t)i;
        assert_int_equal(seam_conn_call_raw(c, 7, &x, sizeof(x), 2000, call_reply, &cl, NULL), 0);
        long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
        while (atomic_load(&cl.done) == 0 && support_now_ms() < deadline) {
            seam_poll_run_once(loop, 10);
        }
        if (cl.status != 0) {
            fprintf(stderr, "round %d: %s (server: %d requests, %d connected, round %d)\n", i,
                    seam_errname(cl.status), atomic_load(&t.n.requests),
                    atomic_load(&t.n.connected), i + 1);
            first = first < 0 ? i : first;
            lost++;
        }
        seam_conn_close(c);
    }
    seam_loop_free(loop);
    tserver_stop(&t, STOP_CLOSE);
    assert_int_equal(lost, 0);
    (void)state;
}

/* Regression (failed every run): the deterministic form of the test
 * above. A server thread's answer is raised on a client connection while
 * the client's loop is not running; the client closes that connection
 * before its loop runs. A new connection's hello and answer from the same
 * server thread were then never told to the client's loop (it slept in
 * poll() with nothing ready) and the call timed out: the loop's "woken
 * once until it takes what was raised" flag stayed set when the only
 * watch raised was unlinked. */
static void test_call_after_closing_a_connection_with_input_raised_is_answered(void **state)
{
    static tserver t;
    t = (tserver){.slow_ms = 30};
    tserver_start(&t);
    seam_loop *loop = poll_loop();
    counts n;
    memset(&n, 0, sizeof(n));
    seam_conn *c = connect_to(loop, NAME, &n);
    assert_true(run_until(loop, NULL, &n.connected, 1));
    call first = {.n = &n};
    seam_value *slow = seam_value_new_dict();
    seam_dict_set_bool(slow, "slow", true);
    assert_int_equal(seam_conn_call(c, slow, 5000, call_reply, &first, NULL), 0);
    seam_value_unref(slow);
    /* Written on the next iteration ... */
    seam_poll_run_once(loop, 0);
    /* ... answered by the server thread 30 ms later, while this loop does
     * not run. */
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (atomic_load(&t.n.requests) < 1 && support_now_ms() < deadline) {
        usleep(1000);
    }
    usleep(50000);
    seam_conn_close(c); /* before the loop took the raise */
    c = connect_to(loop, NAME, &n);
    call second = {.n = &n};
    uint64_t x = 2;
    assert_int_equal(seam_conn_call_raw(c, 7, &x, sizeof(x), 1000, call_reply, &second, NULL), 0);
    deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (atomic_load(&second.done) == 0 && support_now_ms() < deadline) {
        seam_poll_run_once(loop, 100);
    }
    int status = second.status;
    seam_conn_close(c);
    seam_loop_free(loop);
    tserver_stop(&t, STOP_CLOSE);
    /* The first call completed once (ECANCELED, closed before its answer
     * was read). */
    assert_int_equal(atomic_load(&first.done), 1);
    assert_int_equal(status, 0);
    (void)state;
}

/* ---- a client's loop freed while the server thread floods it ---- */

static void test_client_loop_freed_while_the_server_thread_floods_it(void **state)
{
    static tserver t;
    t = (tserver){.flood = true};
    tserver_start(&t);
    for (int i = 0; i < scaled(40); i++) {
        seam_loop *loop = poll_loop();
        counts n;
        memset(&n, 0, sizeof(n));
        seam_conn *c = connect_to(loop, NAME, &n);
        (void)c;
        assert_true(run_until(loop, NULL, &n.messages, 1 + i % 5));
        /* Freed with the server mid-send: messages in the buffer, the
         * server thread writing more. */
        seam_loop_free(loop);
    }
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (atomic_load(&t.n.ended) < scaled(40) && support_now_ms() < deadline) {
        usleep(1000);
    }
    assert_int_equal(atomic_load(&t.n.ended), scaled(40));
    tserver_stop(&t, STOP_CLOSE);
    (void)state;
}

static void
test_sync_call_under_a_flood_from_a_server_thread_ends_with_reply_or_enobufs(void **state)
{
    static tserver t;
    t = (tserver){.flood = true};
    tserver_start(&t);
    seam_loop *loop = poll_loop();
    counts n;
    memset(&n, 0, sizeof(n));
    seam_conn_config cfg = {.on_event = count_event, .userdata = &n, .max_queue = 64 << 10};
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(loop, NAME, &cfg, &c), 0);
    assert_true(run_until(loop, NULL, &n.connected, 1));
    int results[2] = {0, 0};
    for (int i = 0; i < 20; i++) {
        seam_value *m = seam_value_new_dict();
        seam_dict_set_int64(m, "i", i);
        seam_value *reply = NULL;
        int r = seam_conn_call_sync(c, m, 5000, &reply);
        if (r == 0) {
            results[0]++;
            assert_true(seam_value_equal(m, reply));
        } else {
            assert_int_equal(r, SEAM_ENOBUFS);
            assert_null(reply);
            results[1]++;
        }
        seam_value_unref(reply);
        seam_value_unref(m);
        /* What arrived meanwhile is delivered by the loop. */
        int before = atomic_load(&n.messages);
        assert_true(run_until(loop, NULL, &n.messages, before + 1));
    }
    seam_conn_close(c);
    seam_loop_free(loop);
    tserver_stop(&t, STOP_CLOSE);
    assert_int_equal(results[0] + results[1], 20);
    (void)state;
}

/* ---- the server's loop freed while clients on threads send and call ---- */

typedef struct sender {
    atomic_bool go_on;
    atomic_int issued;
    counts n;
    call calls[512];
    int ncalls;
} sender;

static void *sender_main(void *arg)
{
    sender *s = arg;
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) != 0) {
        return NULL;
    }
    seam_conn_config cfg = {.on_event = count_event, .userdata = &s->n};
    seam_conn *c = NULL;
    if (seam_conn_connect(loop, NAME, &cfg, &c) != 0) {
        seam_loop_free(loop);
        return NULL;
    }
    static const uint8_t chunk[1024];
    while (atomic_load(&s->go_on)) {
        seam_conn_send_raw(c, 1, chunk, sizeof(chunk));
        if (s->ncalls < 512) {
            call *cl = &s->calls[s->ncalls];
            cl->n = &s->n;
            if (seam_conn_call_raw(c, 2, chunk, 8, SEAM_NO_TIMEOUT, call_reply, cl, NULL) == 0) {
                s->ncalls++;
                atomic_fetch_add(&s->issued, 1);
            }
        }
        seam_poll_run_once(loop, 0);
    }
    /* Whatever is still in flight completes here (SEAM_ECANCELED). */
    seam_loop_free(loop);
    return NULL;
}

static void test_server_loop_freed_while_clients_on_threads_send_and_call(void **state)
{
    for (int round = 0; round < scaled(10); round++) {
        static tserver t;
        t = (tserver){0};
        tserver_start(&t);
        sender s[NTHREADS];
        pthread_t tid[NTHREADS];
        for (int i = 0; i < NTHREADS; i++) {
            memset(&s[i], 0, sizeof(s[i]));
            atomic_store(&s[i].go_on, true);
            assert_int_equal(pthread_create(&tid[i], NULL, sender_main, &s[i]), 0);
        }
        usleep(20000);
        /* No seam_server_close: the loop goes with the server on it. */
        tserver_stop(&t, round % 2 == 0 ? STOP_FREE_ONLY : STOP_CLOSE);
        usleep(20000);
        for (int i = 0; i < NTHREADS; i++) {
            atomic_store(&s[i].go_on, false);
            pthread_join(tid[i], NULL);
            /* Exactly one completion for every call issued. */
            assert_int_equal(atomic_load(&s[i].n.twice), 0);
            assert_int_equal(atomic_load(&s[i].n.replies), atomic_load(&s[i].issued));
            for (int k = 0; k < s[i].ncalls; k++) {
                assert_int_equal(atomic_load(&s[i].calls[k].done), 1);
            }
        }
    }
    (void)state;
}

/* ---- listeners closed and re-made while dials come from other threads ---- */

typedef struct dialer {
    atomic_bool go_on;
    atomic_int odd; /* a connect result other than 0 and SEAM_ENOTFOUND */
    atomic_int connects;
    counts n;
} dialer;

static void *dialer_main(void *arg)
{
    dialer *d = arg;
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) != 0) {
        return NULL;
    }
    while (atomic_load(&d->go_on)) {
        seam_conn_config cfg = {.on_event = count_event, .userdata = &d->n};
        seam_conn *c = NULL;
        int r = seam_conn_connect(loop, NAME, &cfg, &c);
        if (r == SEAM_ENOTFOUND) {
            continue;
        }
        if (r != 0) {
            atomic_fetch_add(&d->odd, 1);
            continue;
        }
        atomic_fetch_add(&d->connects, 1);
        call cl = {.n = &d->n};
        uint64_t x = 1;
        if (seam_conn_call_raw(c, 7, &x, sizeof(x), 2000, call_reply, &cl, NULL) == 0) {
            long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
            while (atomic_load(&cl.done) == 0 && support_now_ms() < deadline) {
                seam_poll_run_once(loop, 5);
            }
            if (atomic_load(&cl.done) != 1) {
                atomic_fetch_add(&d->odd, 1);
            }
        }
        seam_conn_close(c);
    }
    seam_loop_free(loop);
    return NULL;
}

static void test_server_closed_and_made_again_while_threads_dial(void **state)
{
    dialer d[NTHREADS];
    pthread_t tid[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&d[i], 0, sizeof(d[i]));
        atomic_store(&d[i].go_on, true);
        assert_int_equal(pthread_create(&tid[i], NULL, dialer_main, &d[i]), 0);
    }
    seam_loop *loop = poll_loop();
    counts n;
    memset(&n, 0, sizeof(n));
    for (int i = 0; i < scaled(300); i++) {
        seam_server *s = listen_on(loop, NAME, &n);
        for (int k = 0; k < i % 4; k++) {
            seam_poll_run_once(loop, 1);
        }
        /* Closed with dials pending in its backlog, re-made at once. */
        seam_server_close(s);
    }
    seam_loop_free(loop);
    for (int i = 0; i < NTHREADS; i++) {
        atomic_store(&d[i].go_on, false);
        pthread_join(tid[i], NULL);
        assert_int_equal(atomic_load(&d[i].odd), 0);
        assert_int_equal(atomic_load(&d[i].n.twice), 0);
    }
    (void)state;
}

/* ---- two threads race for one name ---- */

typedef struct racer {
    pthread_barrier_t *barrier;
    int result;
} racer;

static void *racer_main(void *arg)
{
    racer *r = arg;
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) != 0) {
        r->result = -1;
        return NULL;
    }
    seam_server *s = NULL;
    pthread_barrier_wait(r->barrier);
    r->result = seam_server_listen(loop, NAME, NULL, &s);
    pthread_barrier_wait(r->barrier); /* all have tried */
    if (r->result == 0) {
        seam_server_close(s);
    }
    seam_loop_free(loop);
    return NULL;
}

static void test_threads_racing_for_one_name_one_wins(void **state)
{
    for (int round = 0; round < scaled(100); round++) {
        pthread_barrier_t b;
        pthread_barrier_init(&b, NULL, NTHREADS);
        racer r[NTHREADS];
        pthread_t tid[NTHREADS];
        for (int i = 0; i < NTHREADS; i++) {
            r[i] = (racer){&b, 1};
            assert_int_equal(pthread_create(&tid[i], NULL, racer_main, &r[i]), 0);
        }
        int won = 0;
        for (int i = 0; i < NTHREADS; i++) {
            pthread_join(tid[i], NULL);
            if (r[i].result == 0) {
                won++;
            } else {
                assert_int_equal(r[i].result, SEAM_EADDRINUSE);
            }
        }
        pthread_barrier_destroy(&b);
        assert_int_equal(won, 1);
    }
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_threads_connecting_and_closing_in_a_tight_loop_all_succeed),
        T(test_call_on_a_fresh_connection_to_a_server_thread_is_answered),
        T(test_call_after_closing_a_connection_with_input_raised_is_answered),
        T(test_client_loop_freed_while_the_server_thread_floods_it),
        T(test_sync_call_under_a_flood_from_a_server_thread_ends_with_reply_or_enobufs),
        T(test_server_loop_freed_while_clients_on_threads_send_and_call),
        T(test_server_closed_and_made_again_while_threads_dial),
        T(test_threads_racing_for_one_name_one_wins),
    };
    support_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
