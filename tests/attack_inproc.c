/* SPDX-License-Identifier: MIT */
/* attack_inproc.c - the in-process transport attacked from outside, with
 * the public API only: loops on many threads connecting, sending, calling
 * and going away while their peers are busy, names taken and given back at
 * once, backlogs filled, peers that never read, descriptors left unread,
 * two loops on one thread. Every test states a documented promise; a test
 * marked FAILS below reproduces a defect of the current code. Deadlines
 * only bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "seam/poll.h"
#include "support.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME     "inproc:t.attack"
#define NTHREADS 4

static char dir[PATH_MAX];

static int setup(void **state)
{
    support_runtime_dir_create(dir, sizeof(dir));
    (void)state;
    return 0;
}

static int teardown(void **state)
{
    support_runtime_dir_remove(dir);
    (void)state;
    return 0;
}

static int scaled(int n)
{
    int s = (int)(n * support_scale());
    return s < 1 ? 1 : s;
}

static int open_count(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++) {
        if (fcntl(fd, F_GETFD) >= 0) {
            n++;
        }
    }
    return n;
}

static seam_loop *poll_loop(void)
{
    seam_loop *l = NULL;
    assert_int_equal(seam_poll_new(0, &l), 0);
    return l;
}

/* Runs loops (NULL-terminated: a, b or a alone) until *counter >= target. */
static bool run_until(seam_loop *a, seam_loop *b, const atomic_int *counter, int target)
{
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (atomic_load(counter) < target && support_now_ms() < deadline) {
        seam_poll_run_once(a, b != NULL ? 0 : 10);
        if (b != NULL) {
            seam_poll_run_once(b, 0);
        }
    }
    return atomic_load(counter) >= target;
}

/* ---- what each end counts ---- */

typedef struct counts {
    atomic_int connected;
    atomic_int messages;
    atomic_int requests;
    atomic_int writable;
    atomic_int ended;
    atomic_int error;
    atomic_int replies;   /* reply callbacks */
    atomic_int bad;       /* a reply callback with an unexpected status */
    atomic_int twice;     /* a call completed more than once */
    seam_conn *last_peer; /* the server's newest peer */
    seam_request *kept[64];
    long long kept_at[64];
    int nkept;
} counts;

static void count_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    counts *n = userdata;
    switch (ev->type) {
    case SEAM_EVENT_CONNECTED:
        atomic_fetch_add(&n->connected, 1);
        n->last_peer = conn;
        break;
    case SEAM_EVENT_MESSAGE:
        atomic_fetch_add(&n->messages, 1);
        break;
    case SEAM_EVENT_REQUEST:
        atomic_fetch_add(&n->requests, 1);
        if (ev->value != NULL && seam_dict_get(ev->value, "slow") != NULL && n->nkept < 64) {
            n->kept_at[n->nkept] = support_now_ms();
            n->kept[n->nkept++] = seam_request_keep(ev->request);
        } else if (ev->raw) {
            seam_request_reply_raw(ev->request, ev->raw_id, ev->raw_bytes, ev->raw_len);
        } else {
            seam_request_reply(ev->request, ev->value);
        }
        break;
    case SEAM_EVENT_WRITABLE:
        atomic_fetch_add(&n->writable, 1);
        break;
    case SEAM_EVENT_INTERRUPTED:
    case SEAM_EVENT_INVALID:
        if (conn == n->last_peer) {
            n->last_peer = NULL;
        }
        atomic_fetch_add(&n->ended, 1);
        atomic_store(&n->error, ev->error);
        break;
    }
}

/* Answers kept "slow" requests older than ms (all of them with ms < 0:
 * dropped). */
static void answer_kept(counts *n, int ms)
{
    int keep = 0;
    for (int i = 0; i < n->nkept; i++) {
        if (ms < 0) {
            seam_request_drop(n->kept[i]);
        } else if (support_now_ms() - n->kept_at[i] >= ms) {
            seam_value *late = seam_value_new_string("late");
            seam_request_reply(n->kept[i], late);
            seam_value_unref(late);
        } else {
            n->kept[keep] = n->kept[i];
            n->kept_at[keep++] = n->kept_at[i];
        }
    }
    n->nkept = ms < 0 ? 0 : keep;
}

/* A call's outcome, counted once; a second completion is counted apart. */
typedef struct call {
    atomic_int done;
    int status;
    counts *n;
} call;

static void call_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    call *c = userdata;
    if (atomic_fetch_add(&c->done, 1) != 0) {
        atomic_fetch_add(&c->n->twice, 1);
    }
    c->status = r->status;
    atomic_fetch_add(&c->n->replies, 1);
    (void)conn;
}

static seam_conn *connect_to(seam_loop *loop, const char *name, counts *n)
{
    seam_conn_config cfg = {.on_event = count_event, .userdata = n};
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(loop, name, &cfg, &c), 0);
    return c;
}

static seam_server *listen_on(seam_loop *loop, const char *name, counts *n)
{
    seam_server_config cfg = {.conn.on_event = count_event, .conn.userdata = n};
    seam_server *s = NULL;
    assert_int_equal(seam_server_listen(loop, name, &cfg, &s), 0);
    return s;
}

/* ---- a server on a thread of its own ---- */

enum { STOP_NONE, STOP_CLOSE, STOP_FREE_ONLY };

typedef struct tserver {
    seam_loop *loop;
    seam_server *server;
    atomic_int stop;
    atomic_bool ready;
    bool flood; /* broadcast 4 KiB to every peer each iteration */
    int slow_ms;
    counts n;
    pthread_t tid;
} tserver;

static void *tserver_main(void *arg)
{
    tserver *t = arg;
    seam_server_config cfg = {.conn.on_event = count_event, .conn.userdata = &t->n};
    if (seam_poll_new(0, &t->loop) != 0 ||
        seam_server_listen(t->loop, NAME, &cfg, &t->server) != 0) {
        return NULL;
    }
    atomic_store(&t->ready, true);
    static const uint8_t chunk[4096];
    while (atomic_load(&t->stop) == STOP_NONE) {
        seam_poll_run_once(t->loop, t->flood ? 1 : 10);
        if (t->flood) {
            seam_server_broadcast_raw(t->server, 9, chunk, sizeof(chunk), NULL);
        }
        answer_kept(&t->n, t->slow_ms);
    }
    answer_kept(&t->n, -1);
    if (atomic_load(&t->stop) == STOP_CLOSE) {
        seam_server_close(t->server);
    }
    seam_loop_free(t->loop);
    return NULL;
}

static void tserver_start(tserver *t)
{
    assert_int_equal(pthread_create(&t->tid, NULL, tserver_main, t), 0);
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (!atomic_load(&t->ready) && support_now_ms() < deadline) {
        usleep(1000);
    }
    assert_true(atomic_load(&t->ready));
}

static void tserver_stop(tserver *t, int how)
{
    atomic_store(&t->stop, how);
    assert_int_equal(pthread_join(t->tid, NULL), 0);
}

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

/* FAILS (most runs): a connection now and then never gets its CONNECTED,
 * or its call times out, though the server thread is live and serves the
 * other threads; see test_call_on_a_fresh_connection_to_a_server_thread_
 * is_answered for the minimal case. */
static void test_threads_connecting_and_closing_in_a_tight_loop_all_succeed(void **state)
{
    tserver t = {0};
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

/* FAILS (within a few dozen rounds, ASan build and dev build): one client
 * loop on the test's thread, one server loop on its own thread polling
 * every 10 ms. Connect, one call, close - repeated. Now and then the call
 * is never answered and times out after 2 s, though the server is live:
 * a readiness raised across threads is lost (the server's loop keeps
 * iterating, so a level re-check would find it). */
static void test_call_on_a_fresh_connection_to_a_server_thread_is_answered(void **state)
{
    tserver t = {0};
    tserver_start(&t);
    seam_loop *loop = poll_loop();
    counts n;
    memset(&n, 0, sizeof(n));
    int lost = 0;
    int first = -1;
    for (int i = 0; i < scaled(300) && lost < 3; i++) {
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

/* ---- a client's loop freed while the server thread floods it ---- */

static void test_client_loop_freed_while_the_server_thread_floods_it(void **state)
{
    tserver t = {.flood = true};
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
        tserver t = {0};
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
static void test_answers_to_a_client_that_never_reads_are_bounded(void **state)
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
    /* Only the server runs; the client's loop is left alone. */
    uint64_t most = 0;
    for (int i = 0; i < 500 && atomic_load(&sn.ended) == 0; i++) {
        seam_poll_run_once(srv, 0);
        if (atomic_load(&sn.ended) == 0) {
            seam_conn_stats st;
            memset(&st, 0, sizeof(st));
            seam_conn_get_stats(peer, &st);
            most = st.queued_bytes > most ? st.queued_bytes : most;
        }
    }
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

static seam_value *fd_message(int fd)
{
    seam_value *m = seam_value_new_dict();
    seam_dict_set_take(m, "fd", seam_value_new_fd(fd));
    return m;
}

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
    tserver t = {.slow_ms = 30};
    tserver_start(&t);
    syncer sy[NTHREADS];
    pthread_t tid[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        memset(&sy[i], 0, sizeof(sy[i]));
        sy[i].rounds = scaled(25);
        assert_int_equal(pthread_create(&tid[i], NULL, syncer_main, &sy[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(tid[i], NULL);
        assert_int_equal(atomic_load(&sy[i].wrong), 0);
    }
    tserver_stop(&t, STOP_CLOSE);
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
    tserver t = {.slow_ms = 1000000};
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
    pthread_join(t.tid, NULL);
    seam_conn_close(c);
    seam_loop_free(loop);
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

/* ==== names ============================================================== */

/* FAILS: docs/api.md ("In-process names") gives NAME the service-name
 * rules, 1 to 200 characters, and no file exists to bound it; but
 * seam_server_listen() (and seam_conn_connect(), seam_name_owned()) refuse
 * any NAME over 100 characters with SEAM_ENAMETOOLONG - a code the docs
 * give only for socket paths that do not fit sockaddr_un - whatever the
 * runtime directory. */
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

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_threads_connecting_and_closing_in_a_tight_loop_all_succeed),
        T(test_call_on_a_fresh_connection_to_a_server_thread_is_answered),
        T(test_client_loop_freed_while_the_server_thread_floods_it),
        T(test_server_loop_freed_while_clients_on_threads_send_and_call),
        T(test_server_closed_and_made_again_while_threads_dial),
        T(test_threads_racing_for_one_name_one_wins),
        T(test_backlog_holds_4096_dials_then_eagain_and_all_are_freed),
        T(test_dials_pending_when_the_client_loop_is_freed_are_safe_to_accept),
        T(test_server_sends_to_a_peer_that_never_reads_are_bounded),
        T(test_answers_to_a_client_that_never_reads_are_bounded),
        T(test_descriptors_never_read_are_closed_with_the_receiver),
        T(test_descriptors_pending_in_a_dial_never_accepted_are_closed),
        T(test_a_message_with_more_descriptors_than_a_frame_holds_fails_cleanly),
        T(test_sync_calls_from_many_threads_time_out_and_never_take_late_answers),
        T(test_sync_call_ends_when_the_server_thread_frees_its_loop),
        T(test_reply_callback_frees_its_own_loop_or_the_servers),
        T(test_server_closed_inside_a_peer_callback_and_made_again_serves_the_client),
        T(test_two_loops_on_one_thread_in_one_poll_never_wait_for_a_timeout),
        T(test_two_loops_on_one_thread_iterated_alternately_exchange_in_order),
        T(test_inproc_name_of_200_characters_is_served),
        T(test_inproc_names_follow_the_service_name_rules),
    };
    support_test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
