/* SPDX-License-Identifier: MIT */
/* conformance_pubsub.c - retained publish/subscribe on the adapter under
 * test (and over the in-process transport): a server and its subscribers
 * in this process on one loop, a slow subscriber in a child that stops
 * reading, then resumes. Deadlines only bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conformance_pubsub.h"
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef SEAM_CONFORMANCE_INPROC
#define PS_NAME "inproc:t.pubsub"
#else
#define PS_NAME "t.pubsub"
#endif

typedef struct sub_log {
    int updates;
    int ended;
    int end_code;
    char topic[64];
    uint64_t seq;
    uint64_t missed;
    int64_t value;
    char topics[512]; /* every topic seen, space-separated */
} sub_log;

typedef struct ps_fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    seam_server *server;
    seam_conn *conns[4];
    support_child child;
} ps_fixture;

static void on_update(seam_conn *conn, const seam_update *u, void *userdata)
{
    (void)conn;
    sub_log *l = userdata;
    if (u->status != 0) {
        l->ended++;
        l->end_code = u->remote_code;
        return;
    }
    l->updates++;
    snprintf(l->topic, sizeof(l->topic), "%s", u->topic);
    size_t n = strlen(l->topics);
    snprintf(l->topics + n, sizeof(l->topics) - n, "%s%s", n > 0 ? " " : "", u->topic);
    l->seq = u->seq;
    l->missed = u->missed;
    l->value = -1;
    seam_value_get_int64(u->value, &l->value);
}

int pubsub_setup(void **state)
{
    ps_fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    f->child.chan = -1;
    *state = f;
    return 0;
}

int pubsub_teardown(void **state)
{
    ps_fixture *f = *state;
    support_child_kill(&f->child);
    if (f->child.chan >= 0) {
        close(f->child.chan);
    }
    for (size_t i = 0; i < 4; i++) {
        if (f->conns[i] != NULL) {
            seam_conn_close(f->conns[i]);
        }
    }
    if (f->server != NULL) {
        seam_server_close(f->server);
    }
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

static void serve(ps_fixture *f, const seam_server_config *cfg)
{
    assert_int_equal(seam_server_listen(f->loop, PS_NAME, cfg, &f->server), 0);
}

static seam_conn *dial(ps_fixture *f, size_t i)
{
    assert_int_equal(seam_conn_connect(f->loop, PS_NAME, NULL, &f->conns[i]), 0);
    return f->conns[i];
}

static void publish_int(ps_fixture *f, const char *topic, int64_t i)
{
    seam_value *v = seam_value_new_int64(i);
    assert_int_equal(seam_server_publish(f->server, topic, v), 0);
    seam_value_unref(v);
}

static void wait_updates(ps_fixture *f, sub_log *l, int n)
{
    assert_true(support_run_until_count(f->loop, &l->updates, n, SUPPORT_DEADLINE_MS));
}

/* Runs the loop until a ping on conn comes back: everything the server
 * sent before its pong has arrived. */
static void on_pong(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    (void)r;
    ++*(int *)userdata;
}

static void settle(ps_fixture *f, seam_conn *conn)
{
    int pongs = 0;
    assert_int_equal(seam_conn_ping(conn, SUPPORT_DEADLINE_MS, on_pong, &pongs), 0);
    assert_true(support_run_until_count(f->loop, &pongs, 1, SUPPORT_DEADLINE_MS));
}

void test_subscriber_gets_the_retained_value_then_each_change_with_its_seq(void **state)
{
    ps_fixture *f = *state;
    serve(f, NULL);
    publish_int(f, "power.battery", 80);
    publish_int(f, "power.battery", 79);
    sub_log l = {0};
    assert_int_equal(seam_conn_subscribe(dial(f, 0), "power.battery", on_update, &l), 0);
    wait_updates(f, &l, 1);
    assert_string_equal(l.topic, "power.battery");
    assert_int_equal(l.seq, 2);
    assert_int_equal(l.value, 79);
    assert_int_equal(l.missed, 0);
    publish_int(f, "power.battery", 78);
    wait_updates(f, &l, 2);
    assert_int_equal(l.seq, 3);
    assert_int_equal(l.value, 78);
    assert_int_equal(seam_server_topic_seq(f->server, "power.battery"), 3);
}

void test_subscription_before_any_publish_gets_the_first_value_with_seq_1(void **state)
{
    ps_fixture *f = *state;
    serve(f, NULL);
    sub_log l = {0};
    seam_conn *c = dial(f, 0);
    assert_int_equal(seam_conn_subscribe(c, "late", on_update, &l), 0);
    settle(f, c); /* the subscribe has been handled */
    assert_int_equal(l.updates, 0);
    publish_int(f, "late", 7);
    wait_updates(f, &l, 1);
    assert_int_equal(l.seq, 1);
    assert_int_equal(l.value, 7);
}

void test_prefix_pattern_gets_every_topic_under_it_and_no_other(void **state)
{
    ps_fixture *f = *state;
    serve(f, NULL);
    publish_int(f, "net.eth0", 1);
    publish_int(f, "netx", 2);
    publish_int(f, "net.wlan0.signal", 3);
    publish_int(f, "disk", 4);
    sub_log l = {0};
    seam_conn *c = dial(f, 0);
    assert_int_equal(seam_conn_subscribe(c, "net.*", on_update, &l), 0);
    wait_updates(f, &l, 2);
    publish_int(f, "disk", 5);
    publish_int(f, "net.lo", 6);
    wait_updates(f, &l, 3);
    settle(f, c);
    /* The retained ones in the order their topics were first published. */
    assert_string_equal(l.topics, "net.eth0 net.wlan0.signal net.lo");
}

void test_unsubscribed_subscription_gets_no_more_updates(void **state)
{
    ps_fixture *f = *state;
    serve(f, NULL);
    sub_log gone = {0};
    sub_log kept = {0};
    seam_conn *c = dial(f, 0);
    assert_int_equal(seam_conn_subscribe(c, "a", on_update, &gone), 0);
    assert_int_equal(seam_conn_subscribe(c, "*", on_update, &kept), 0);
    publish_int(f, "a", 1);
    wait_updates(f, &gone, 1);
    assert_int_equal(seam_conn_unsubscribe(c, "a"), 0);
    assert_int_equal(seam_conn_unsubscribe(c, "a"), SEAM_ENOCALL);
    publish_int(f, "a", 2);
    wait_updates(f, &kept, 2);
    settle(f, c);
    assert_int_equal(gone.updates, 1);
    assert_int_equal(gone.ended, 0);
}

/* ---- a subscriber that stops reading ---- */

#define SLOW_PUBLISHES 3000
#define SLOW_VALUE     2048

typedef struct slow_report {
    uint64_t updates;
    uint64_t missed_total; /* the sum of the missed counts */
    uint64_t missed_max;
    uint64_t last_seq;
    uint64_t gaps_unexplained; /* updates whose missed is not seq - previous - 1 */
} slow_report;

typedef struct slow_sub {
    slow_report rep;
    uint64_t final_seq;
    bool refused;
} slow_sub;

static void slow_on_update(seam_conn *conn, const seam_update *u, void *userdata)
{
    (void)conn;
    slow_sub *s = userdata;
    if (u->status != 0) {
        s->refused = true;
        return;
    }
    if (s->rep.updates > 0 && u->missed != u->seq - s->rep.last_seq - 1) {
        s->rep.gaps_unexplained++;
    }
    s->rep.updates++;
    s->rep.missed_total += u->missed;
    if (u->missed > s->rep.missed_max) {
        s->rep.missed_max = u->missed;
    }
    s->rep.last_seq = u->seq;
}

static bool slow_has_first(void *arg)
{
    const slow_sub *s = arg;
    return s->rep.updates > 0 || s->refused;
}

static bool slow_has_final(void *arg)
{
    const slow_sub *s = arg;
    return s->rep.last_seq >= s->final_seq || s->refused;
}

/* Subscribes, says so, stops reading until the parent says go (with the
 * last seq), then reads until that seq arrives and reports. */
static int slow_subscriber_main(int chan, void *arg)
{
    (void)arg;
    slow_sub s = {0};
    seam_loop *loop = NULL;
    seam_conn *conn = NULL;
    if (seam_poll_new(0, &loop) < 0 || seam_conn_connect(loop, PS_NAME, NULL, &conn) < 0 ||
        seam_conn_subscribe(conn, "t", slow_on_update, &s) < 0 ||
        !support_run_until(loop, slow_has_first, &s, SUPPORT_DEADLINE_MS) ||
        !support_write_full(chan, "r", 1) ||
        !support_read_full(chan, &s.final_seq, sizeof(s.final_seq), 10 * SUPPORT_DEADLINE_MS)) {
        return 1;
    }
    bool done = support_run_until(loop, slow_has_final, &s, 10 * SUPPORT_DEADLINE_MS);
    seam_conn_close(conn);
    seam_loop_free(loop);
    return done && support_write_full(chan, &s.rep, sizeof(s.rep)) ? 0 : 2;
}

/* Runs the loop (serving the child) until the child has written to chan. */
static void serve_until_child_says(ps_fixture *f)
{
    assert_true(support_run_until_readable(f->loop, f->child.chan, 10 * SUPPORT_DEADLINE_MS));
}

void test_slow_subscriber_gets_the_latest_value_with_its_missed_count(void **state)
{
    ps_fixture *f = *state;
    seam_server_config cfg = {.conn.max_queue = 16 << 10};
    serve(f, &cfg);
    seam_value *v = seam_value_new_data(NULL, 0);
    publish_int(f, "t", 0);
    support_fork(&f->child, slow_subscriber_main, NULL);
    char ready = 0;
    serve_until_child_says(f);
    assert_true(support_read_full(f->child.chan, &ready, 1, SUPPORT_DEADLINE_MS));
    /* It reads nothing now: its socket and then its queue fill up. */
    uint8_t *bytes = calloc(1, SLOW_VALUE);
    for (int i = 1; i < SLOW_PUBLISHES; i++) {
        seam_value_unref(v);
        bytes[0] = (uint8_t)i;
        v = seam_value_new_data(bytes, SLOW_VALUE);
        assert_int_equal(seam_server_publish(f->server, "t", v), 0);
        support_run_once(f->loop, 0);
    }
    free(bytes);
    seam_value_unref(v);
    uint64_t final = seam_server_topic_seq(f->server, "t");
    assert_int_equal(final, SLOW_PUBLISHES);
    assert_true(support_write_full(f->child.chan, &final, sizeof(final)));
    serve_until_child_says(f);
    slow_report rep;
    assert_true(support_read_full(f->child.chan, &rep, sizeof(rep), SUPPORT_DEADLINE_MS));
    assert_int_equal(support_run_until_exit(f->loop, &f->child, SUPPORT_DEADLINE_MS), 0);
    assert_int_equal(rep.last_seq, final);                   /* the latest came */
    assert_true(rep.missed_max > 0);                         /* coalesced, */
    assert_int_equal(rep.gaps_unexplained, 0);               /* never skipped silently: */
    assert_int_equal(rep.updates + rep.missed_total, final); /* all counted */
    assert_true(rep.updates < final);
}

/* A subscriber to "*" that stops reading while many topics change, new
 * ones among them: each topic's updates are coalesced on its own (the
 * owed set spans several words and grows while the subscriber is
 * behind), and each arrives at its latest value with every update
 * counted. Topic i is published in rounds i % MANY_ROUNDS .. the last. */
#define MANY_TOPICS 300
#define MANY_ROUNDS 8

typedef struct many_sub {
    uint64_t last_seq[MANY_TOPICS];
    uint64_t counted[MANY_TOPICS]; /* updates plus their missed counts */
    int last_round[MANY_TOPICS];
    int strays; /* updates of a topic not published, or a refusal */
    bool started;
} many_sub;

static uint64_t many_final_seq(int i)
{
    return (uint64_t)(MANY_ROUNDS - i % MANY_ROUNDS);
}

static void many_on_update(seam_conn *conn, const seam_update *u, void *userdata)
{
    (void)conn;
    many_sub *s = userdata;
    int i = -1;
    size_t len = 0;
    const uint8_t *bytes = u->status == 0 ? seam_value_get_data(u->value, &len) : NULL;
    if (bytes == NULL || len == 0 || sscanf(u->topic, "m.%d", &i) != 1 || i < 0 ||
        i >= MANY_TOPICS) {
        s->strays++;
        return;
    }
    s->started = true;
    s->last_seq[i] = u->seq;
    s->counted[i] += 1 + u->missed;
    s->last_round[i] = bytes[0];
}

static bool many_has_first(void *arg)
{
    const many_sub *s = arg;
    return s->started || s->strays > 0;
}

static bool many_has_final(void *arg)
{
    const many_sub *s = arg;
    for (int i = 0; i < MANY_TOPICS; i++) {
        if (s->last_seq[i] < many_final_seq(i)) {
            return s->strays > 0;
        }
    }
    return true;
}

/* Subscribes to "*", says so, stops reading until the parent says go,
 * then reads until every topic's last seq arrived; writes how many
 * topics came wrong. */
static int many_subscriber_main(int chan, void *arg)
{
    (void)arg;
    many_sub *s = calloc(1, sizeof(*s));
    seam_loop *loop = NULL;
    seam_conn *conn = NULL;
    char go = 0;
    if (s == NULL || seam_poll_new(0, &loop) < 0 ||
        seam_conn_connect(loop, PS_NAME, NULL, &conn) < 0 ||
        seam_conn_subscribe(conn, "*", many_on_update, s) < 0 ||
        !support_run_until(loop, many_has_first, s, SUPPORT_DEADLINE_MS) ||
        !support_write_full(chan, "r", 1) ||
        !support_read_full(chan, &go, 1, 10 * SUPPORT_DEADLINE_MS)) {
        return 1;
    }
    bool done = support_run_until(loop, many_has_final, s, 10 * SUPPORT_DEADLINE_MS);
    int wrong = s->strays;
    for (int i = 0; i < MANY_TOPICS; i++) {
        wrong += s->last_seq[i] != many_final_seq(i) || s->counted[i] != many_final_seq(i) ||
                 s->last_round[i] != MANY_ROUNDS;
    }
    seam_conn_close(conn);
    seam_loop_free(loop);
    free(s);
    return done && support_write_full(chan, &wrong, sizeof(wrong)) ? 0 : 2;
}

void test_slow_subscriber_to_many_topics_gets_each_latest_value_with_every_update_counted(
    void **state)
{
    ps_fixture *f = *state;
    seam_server_config cfg = {.conn.max_queue = 16 << 10};
    serve(f, &cfg);
    uint8_t *bytes = calloc(1, SLOW_VALUE);
    assert_non_null(bytes);
    char topic[32];
    /* Round 1 publishes topic 0 only: the subscriber's first update. */
    bytes[0] = 1;
    seam_value *v = seam_value_new_data(bytes, SLOW_VALUE);
    assert_int_equal(seam_server_publish(f->server, "m.000", v), 0);
    seam_value_unref(v);
    support_fork(&f->child, many_subscriber_main, NULL);
    serve_until_child_says(f);
    char ready = 0;
    assert_true(support_read_full(f->child.chan, &ready, 1, SUPPORT_DEADLINE_MS));
    for (int round = 1; round <= MANY_ROUNDS; round++) {
        bytes[0] = (uint8_t)round;
        v = seam_value_new_data(bytes, SLOW_VALUE);
        for (int i = round == 1 ? 1 : 0; i < MANY_TOPICS; i++) {
            if (i % MANY_ROUNDS < round) {
                snprintf(topic, sizeof(topic), "m.%03d", i);
                assert_int_equal(seam_server_publish(f->server, topic, v), 0);
            }
        }
        seam_value_unref(v);
        support_run_once(f->loop, 0);
    }
    free(bytes);
    assert_int_equal(seam_server_topic_seq(f->server, "m.007"), 1);
    assert_int_equal(seam_server_topic_seq(f->server, "m.008"), MANY_ROUNDS);
    assert_true(support_write_full(f->child.chan, "g", 1));
    serve_until_child_says(f);
    int wrong = -1;
    assert_true(support_read_full(f->child.chan, &wrong, sizeof(wrong), SUPPORT_DEADLINE_MS));
    assert_int_equal(support_run_until_exit(f->loop, &f->child, SUPPORT_DEADLINE_MS), 0);
    assert_int_equal(wrong, 0);
}

/* ---- limits ---- */

void test_subscriptions_past_the_peer_limit_are_refused_with_enobufs(void **state)
{
    ps_fixture *f = *state;
    seam_server_config cfg = {.max_subscriptions = 2};
    serve(f, &cfg);
    sub_log a = {0}, b = {0}, c3 = {0};
    seam_conn *c = dial(f, 0);
    assert_int_equal(seam_conn_subscribe(c, "a", on_update, &a), 0);
    assert_int_equal(seam_conn_subscribe(c, "b", on_update, &b), 0);
    assert_int_equal(seam_conn_subscribe(c, "c", on_update, &c3), 0);
    assert_true(support_run_until_count(f->loop, &c3.ended, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(c3.end_code, SEAM_ENOBUFS);
    /* the others are unharmed, and a slot freed can be taken again */
    assert_int_equal(seam_conn_unsubscribe(c, "a"), 0);
    sub_log again = {0};
    assert_int_equal(seam_conn_subscribe(c, "c", on_update, &again), 0);
    publish_int(f, "c", 1);
    publish_int(f, "b", 2);
    wait_updates(f, &again, 1);
    wait_updates(f, &b, 1);
    assert_int_equal(a.ended + b.ended + again.ended, 0);
}

void test_pattern_longer_than_the_server_limit_is_refused_with_etoolong(void **state)
{
    ps_fixture *f = *state;
    seam_server_config cfg = {.max_topic_len = 8};
    serve(f, &cfg);
    sub_log l = {0};
    assert_int_equal(seam_conn_subscribe(dial(f, 0), "123456789", on_update, &l), 0);
    assert_true(support_run_until_count(f->loop, &l.ended, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(l.end_code, SEAM_ETOOLONG);
}

void test_publish_past_max_topics_fails_with_enobufs_and_keeps_the_others(void **state)
{
    ps_fixture *f = *state;
    seam_server_config cfg = {.max_topics = 2};
    serve(f, &cfg);
    publish_int(f, "one", 1);
    publish_int(f, "two", 2);
    seam_value *v = seam_value_new_int64(3);
    assert_int_equal(seam_server_publish(f->server, "three", v), SEAM_ENOBUFS);
    assert_int_equal(seam_server_publish(f->server, "two", v), 0); /* a known one still */
    seam_value_unref(v);
    assert_int_equal(seam_server_topic_seq(f->server, "three"), 0);
    assert_int_equal(seam_server_topic_seq(f->server, "two"), 2);
}

void test_publish_of_a_value_over_max_retained_value_fails_with_emsgsize(void **state)
{
    ps_fixture *f = *state;
    seam_server_config cfg = {.max_retained_value = 100};
    serve(f, &cfg);
    uint8_t bytes[200] = {0};
    seam_value *fits = seam_value_new_data(bytes, 90);
    seam_value *big = seam_value_new_data(bytes, 200);
    assert_int_equal(seam_server_publish(f->server, "v", fits), 0);
    assert_int_equal(seam_server_publish(f->server, "v", big), SEAM_EMSGSIZE);
    assert_int_equal(seam_server_topic_seq(f->server, "v"), 1); /* nothing changed */
    seam_value_unref(fits);
    seam_value_unref(big);
}

void test_publish_refuses_bad_topic_names(void **state)
{
    ps_fixture *f = *state;
    seam_server_config cfg = {.max_topic_len = 8};
    serve(f, &cfg);
    seam_value *v = seam_value_new_int64(1);
    assert_int_equal(seam_server_publish(f->server, "", v), SEAM_EINVAL);
    assert_int_equal(seam_server_publish(f->server, "a*", v), SEAM_EINVAL);
    assert_int_equal(seam_server_publish(f->server, "\xff", v), SEAM_EINVAL);
    assert_int_equal(seam_server_publish(f->server, "123456789", v), SEAM_ETOOLONG);
    assert_int_equal(seam_server_publish(f->server, "12345678", v), 0);
    assert_int_equal(seam_server_publish(NULL, "a", v), SEAM_EINVAL);
    assert_int_equal(seam_server_publish(f->server, "a", NULL), SEAM_EINVAL);
    seam_value_unref(v);
    seam_value *fd = seam_value_new_fd(0);
    assert_int_equal(seam_server_publish(f->server, "a", fd), SEAM_EFD);
    seam_value_unref(fd);
}

void test_subscribe_refuses_bad_patterns_and_duplicates_locally(void **state)
{
    ps_fixture *f = *state;
    serve(f, NULL);
    sub_log l = {0};
    seam_conn *c = dial(f, 0);
    assert_int_equal(seam_conn_subscribe(c, "", on_update, &l), SEAM_EINVAL);
    assert_int_equal(seam_conn_subscribe(c, "a*b", on_update, &l), SEAM_EINVAL);
    assert_int_equal(seam_conn_subscribe(c, "**", on_update, &l), SEAM_EINVAL);
    assert_int_equal(seam_conn_subscribe(c, "a", NULL, &l), SEAM_EINVAL);
    assert_int_equal(seam_conn_subscribe(c, "a*", on_update, &l), 0);
    assert_int_equal(seam_conn_subscribe(c, "a*", on_update, &l), SEAM_EEXIST);
    assert_int_equal(seam_conn_unsubscribe(c, "b"), SEAM_ENOCALL);
}

void test_subscriber_disconnect_frees_its_state_and_others_still_get_updates(void **state)
{
    ps_fixture *f = *state;
    seam_server_config cfg = {.max_subscriptions = 1};
    serve(f, &cfg);
    sub_log leaver = {0}, stayer = {0};
    seam_conn *a = dial(f, 0);
    seam_conn *b = dial(f, 1);
    assert_int_equal(seam_conn_subscribe(a, "x", on_update, &leaver), 0);
    assert_int_equal(seam_conn_subscribe(b, "x", on_update, &stayer), 0);
    publish_int(f, "x", 1);
    wait_updates(f, &leaver, 1);
    wait_updates(f, &stayer, 1);
    seam_conn_close(a);
    f->conns[0] = NULL;
    seam_conn *peers[4];
    while (seam_server_peers(f->server, peers, 4) > 1) {
        assert_true(support_run_once(f->loop, 10) >= 0);
    }
    publish_int(f, "x", 2); /* the gone peer's state is not touched */
    wait_updates(f, &stayer, 2);
    assert_int_equal(stayer.value, 2);
    assert_int_equal(leaver.updates, 1);
}

static void count_interrupted(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    if (ev->type == SEAM_EVENT_INTERRUPTED) {
        ++*(int *)userdata;
    }
}

void test_subscription_is_renewed_after_the_server_restarts(void **state)
{
    ps_fixture *f = *state;
    serve(f, NULL);
    publish_int(f, "state", 1);
    publish_int(f, "state", 2);
    int interrupted = 0;
    seam_conn_config cc = {.on_event = count_interrupted, .userdata = &interrupted};
    assert_int_equal(seam_conn_connect(f->loop, PS_NAME, &cc, &f->conns[0]), 0);
    sub_log l = {0};
    assert_int_equal(seam_conn_subscribe(f->conns[0], "state", on_update, &l), 0);
    wait_updates(f, &l, 1);
    assert_int_equal(l.seq, 2);
    seam_server_close(f->server);
    f->server = NULL;
    assert_true(support_run_until_count(f->loop, &interrupted, 1, SUPPORT_DEADLINE_MS));
    serve(f, NULL);
    publish_int(f, "state", 40);
    settle(f, f->conns[0]); /* the ping reconnects, which subscribes again */
    wait_updates(f, &l, 2);
    assert_int_equal(l.seq, 1); /* a new server counts from 1 */
    assert_int_equal(l.value, 40);
    assert_int_equal(l.ended, 0);
}
