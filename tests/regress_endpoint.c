/* SPDX-License-Identifier: MIT */
/* regress_endpoint.c - anonymous endpoints between real processes: an
 * endpoint handed through a broker to a third process, which connects
 * directly and goes on talking after the broker exits; endpoints whose
 * holder is gone; in-process endpoints sent to another process; a holder
 * flooding the rendezvous socket. The endpoint's listener (A) runs in the
 * parent on the loop under test. Deadlines only bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rawpeer.h"
#include "support.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BROKER "t.broker"

typedef struct fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    seam_server *endpoint; /* A's */
    support_child broker;
    support_child child;
} fixture;

/* What A's endpoint saw. */
static struct {
    int requests;
    int admitted;
    pid_t peer_pid;
    uint32_t peer_uid;
    bool refuse;
} seen;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    f->broker.chan = -1;
    f->child.chan = -1;
    memset(&seen, 0, sizeof(seen));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    support_child_kill(&f->broker);
    support_child_kill(&f->child);
    if (f->endpoint != NULL) {
        seam_server_close(f->endpoint);
    }
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

/* ---- descriptors over a child's channel ---- */

static bool chan_send_fd(int chan, int fd)
{
    char byte = 'F';
    return rawpeer_send_with_fds(chan, &byte, 1, &fd, 1);
}

static int chan_recv_fd(int chan)
{
    char byte;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof(ctl.buf);
    if (recvmsg(chan, &msg, MSG_CMSG_CLOEXEC) != 1) {
        return -1;
    }
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c == NULL || c->cmsg_type != SCM_RIGHTS) {
        return -1;
    }
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(fd));
    return fd;
}

static bool chan_byte(int chan, char want)
{
    char got = 0;
    return support_read_full(chan, &got, 1, SUPPORT_DEADLINE_MS) && got == want;
}

typedef struct ended {
    int connected;
    int lost;
    int error;
    char rule[32];
} ended;

static void ended_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    ended *e = userdata;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        e->connected++;
    } else if (ev->type == SEAM_EVENT_INTERRUPTED || ev->type == SEAM_EVENT_INVALID) {
        e->lost++;
        e->error = ev->error;
        snprintf(e->rule, sizeof(e->rule), "%s", ev->rule != NULL ? ev->rule : "");
    }
}

/* ---- A: the endpoint's listener ---- */

static void a_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        seen.requests++;
        seam_value *r = seam_value_new_dict();
        seam_dict_set_string(r, "from", "A");
        seam_dict_set_int64(r, "n", seen.requests);
        seam_request_reply(ev->request, r);
        seam_value_unref(r);
    }
}

static bool a_accept(const seam_peer *peer, void *userdata)
{
    (void)userdata;
    seen.peer_pid = peer->pid;
    seen.peer_uid = peer->uid;
    seen.admitted++;
    return !seen.refuse;
}

static void endpoint_start(fixture *f, unsigned flags)
{
    seam_server_config cfg = {0};
    cfg.conn.on_event = a_event;
    cfg.accept_peer = a_accept;
    assert_int_equal(seam_endpoint_listen(f->loop, flags, &cfg, &f->endpoint), 0);
}

static bool two_requests(void *arg)
{
    (void)arg;
    return seen.requests >= 2;
}

static bool one_request(void *arg)
{
    (void)arg;
    return seen.requests >= 1;
}

/* ---- B: the broker, keeping one endpoint for whoever asks ---- */

static int broker_held = -1;

static void broker_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type != SEAM_EVENT_REQUEST) {
        return;
    }
    seam_value *op = seam_dict_get(ev->value, "op");
    const char *s = op != NULL ? seam_value_get_string(op, NULL) : NULL;
    seam_value *r = seam_value_new_dict();
    if (s != NULL && strcmp(s, "offer") == 0) {
        broker_held = seam_value_dup_fd(seam_dict_get(ev->value, "endpoint"));
    } else if (s != NULL && strcmp(s, "take") == 0 && broker_held >= 0) {
        seam_dict_set_take(r, "endpoint", seam_value_new_fd(broker_held));
    }
    seam_request_reply(ev->request, r);
    seam_value_unref(r);
}

/* ---- C: takes the endpoint from the broker and talks to A ---- */

static int call_a(seam_conn *c, int64_t want_n)
{
    seam_value *m = seam_value_new_dict();
    seam_value *r = NULL;
    int rc = seam_conn_call_sync(c, m, SUPPORT_DEADLINE_MS, &r);
    seam_value_unref(m);
    int64_t n = 0;
    bool ok = rc == 0 && seam_dict_get_int64(r, "n", &n) && n == want_n;
    seam_value_unref(r);
    return ok ? 0 : (rc != 0 ? rc : -1);
}

static int c_main(int chan, void *arg)
{
    (void)arg;
    seam_loop *loop = NULL;
    seam_conn *broker = NULL;
    seam_conn *a = NULL;
    if (seam_poll_new(0, &loop) != 0 || seam_conn_connect(loop, BROKER, NULL, &broker) != 0) {
        return 10;
    }
    seam_value *take = seam_value_new_dict();
    seam_dict_set_string(take, "op", "take");
    seam_value *r = NULL;
    int rc = seam_conn_call_sync(broker, take, SUPPORT_DEADLINE_MS, &r);
    seam_value_unref(take);
    if (rc != 0) {
        return 11;
    }
    rc =
        seam_conn_connect_endpoint(loop, seam_value_get_fd(seam_dict_get(r, "endpoint")), NULL, &a);
    seam_value_unref(r);
    seam_conn_close(broker); /* from here on A and C need nobody */
    if (rc != 0 || call_a(a, 1) != 0) {
        return 12;
    }
    if (!support_write_full(chan, "1", 1) || !chan_byte(chan, 'B')) {
        return 13;
    }
    if (call_a(a, 2) != 0) {
        return 14;
    }
    seam_conn_close(a);
    seam_loop_free(loop);
    return 0;
}

static void
test_endpoint_sent_through_a_broker_connects_directly_and_outlives_the_broker(void **state)
{
    fixture *f = *state;
    endpoint_start(f, 0);
    seam_server_config bcfg = {0};
    bcfg.conn.on_event = broker_event;
    support_spawn_server(&f->broker, BROKER, &bcfg);
    /* A asks the broker for a channel: its endpoint goes there. */
    seam_conn *to_b = NULL;
    assert_int_equal(seam_conn_connect(f->loop, BROKER, NULL, &to_b), 0);
    seam_value *offer = seam_value_new_dict();
    seam_dict_set_string(offer, "op", "offer");
    seam_dict_set_take(offer, "endpoint", seam_value_new_fd(seam_endpoint_fd(f->endpoint)));
    seam_value *r = NULL;
    assert_int_equal(seam_conn_call_sync(to_b, offer, SUPPORT_DEADLINE_MS, &r), 0);
    seam_value_unref(offer);
    seam_value_unref(r);
    seam_conn_close(to_b);

    support_fork(&f->child, c_main, NULL);
    pid_t c_pid = f->child.pid;
    assert_true(support_run_until(f->loop, one_request, NULL, SUPPORT_DEADLINE_MS));
    assert_true(chan_byte(f->child.chan, '1'));
    assert_int_equal(support_server_stop(&f->broker), 0);
    assert_true(support_write_full(f->child.chan, "B", 1));
    assert_true(support_run_until(f->loop, two_requests, NULL, SUPPORT_DEADLINE_MS));
    assert_int_equal(support_run_until_exit(f->loop, &f->child, SUPPORT_DEADLINE_MS), 0);
    /* The kernel names the process that made the connection's socket
     * pair: C, not the broker that passed the endpoint along. */
    assert_int_equal(seen.admitted, 1);
    assert_int_equal(seen.peer_pid, c_pid);
    assert_int_equal(seen.peer_uid, (uint32_t)geteuid());
}

static int c_connect_and_wait(int chan, void *arg)
{
    (void)arg;
    int fd = chan_recv_fd(chan);
    seam_loop *loop = NULL;
    seam_conn *a = NULL;
    if (fd < 0 || seam_poll_new(0, &loop) != 0 ||
        seam_conn_connect_endpoint(loop, fd, NULL, &a) != 0 || call_a(a, 1) != 0) {
        return 10;
    }
    close(fd);
    bool done = chan_byte(chan, 'Q');
    seam_conn_close(a);
    seam_loop_free(loop);
    return done ? 0 : 11;
}

static void test_endpoint_listener_sees_the_pid_and_uid_of_the_connecting_process(void **state)
{
    fixture *f = *state;
    endpoint_start(f, 0);
    support_fork(&f->child, c_connect_and_wait, NULL);
    assert_true(chan_send_fd(f->child.chan, seam_endpoint_fd(f->endpoint)));
    assert_true(support_run_until(f->loop, one_request, NULL, SUPPORT_DEADLINE_MS));
    assert_int_equal(seen.peer_pid, f->child.pid);
    assert_int_equal(seen.peer_uid, (uint32_t)geteuid());
    assert_true(support_write_full(f->child.chan, "Q", 1));
    assert_int_equal(support_run_until_exit(f->loop, &f->child, SUPPORT_DEADLINE_MS), 0);
}

/* Another user given the endpoint is refused by default, as by a named
 * server: the rule is "same_user". */
static int nobody_main(int chan, void *arg)
{
    (void)arg;
    int fd = chan_recv_fd(chan);
    if (fd < 0 || !support_become_nobody()) {
        return 10;
    }
    seam_loop *loop = NULL;
    seam_conn *a = NULL;
    ended e = {0};
    seam_conn_config cfg = {.on_event = ended_event, .userdata = &e};
    if (seam_poll_new(0, &loop) != 0 || seam_conn_connect_endpoint(loop, fd, &cfg, &a) != 0) {
        return 11;
    }
    long long until = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (e.lost == 0 && e.connected == 0 && support_now_ms() < until) {
        seam_poll_run_once(loop, 100);
    }
    seam_conn_close(a);
    seam_loop_free(loop);
    return e.connected == 0 && e.error == SEAM_EACCES && strcmp(e.rule, "same_user") == 0 ? 0 : 12;
}

static void test_endpoint_given_to_another_user_refuses_it_by_default(void **state)
{
    fixture *f = *state;
    if (geteuid() != 0) {
        skip(); /* becoming another user needs root */
    }
    seam_server_config cfg = {0};
    assert_int_equal(seam_endpoint_listen(f->loop, 0, &cfg, &f->endpoint), 0);
    support_fork(&f->child, nobody_main, NULL);
    assert_true(chan_send_fd(f->child.chan, seam_endpoint_fd(f->endpoint)));
    assert_int_equal(support_run_until_exit(f->loop, &f->child, SUPPORT_DEADLINE_MS), 0);
    assert_int_equal(seam_server_peers(f->endpoint, NULL, 0), 0);
}

/* ---- the holder gone ---- */

static int holder_main(int chan, void *arg)
{
    bool run = arg != NULL; /* else it never accepts: its loop does not run */
    seam_loop *loop = NULL;
    seam_server *s = NULL;
    if (seam_poll_new(0, &loop) != 0 || seam_endpoint_listen(loop, 0, NULL, &s) != 0 ||
        !chan_send_fd(chan, seam_endpoint_fd(s))) {
        return 10;
    }
    char byte = 0;
    while (run && !support_read_full(chan, &byte, 1, 10)) {
        seam_poll_run_once(loop, 10);
    }
    if (!run) {
        support_read_full(chan, &byte, 1, SUPPORT_DEADLINE_MS);
    }
    seam_server_close(s);
    seam_loop_free(loop);
    return 0;
}

static void test_connect_through_the_endpoint_of_an_exited_holder_fails_with_enotfound(void **state)
{
    fixture *f = *state;
    support_fork(&f->child, holder_main, NULL);
    int fd = chan_recv_fd(f->child.chan);
    assert_true(fd >= 0);
    assert_true(support_write_full(f->child.chan, "Q", 1));
    assert_int_equal(support_child_wait(&f->child, SUPPORT_DEADLINE_MS), 0);
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect_endpoint(f->loop, fd, NULL, &c), SEAM_ENOTFOUND);
    close(fd);
}

static bool is_lost(void *arg)
{
    return ((ended *)arg)->lost > 0;
}

static void
test_holder_killed_with_a_connect_waiting_ends_the_connection_without_a_hang(void **state)
{
    fixture *f = *state;
    support_fork(&f->child, holder_main, NULL);
    int fd = chan_recv_fd(f->child.chan);
    assert_true(fd >= 0);
    ended e = {0};
    seam_conn_config cfg = {.on_event = ended_event, .userdata = &e};
    seam_conn *c = NULL;
    /* Queued in the holder's rendezvous socket, never accepted. */
    assert_int_equal(seam_conn_connect_endpoint(f->loop, fd, &cfg, &c), 0);
    support_child_kill(&f->child);
    assert_true(support_run_until(f->loop, is_lost, &e, SUPPORT_DEADLINE_MS));
    assert_int_equal(e.connected, 0);
    assert_int_equal(e.error, SEAM_ECONNRESET);
    seam_conn_close(c);
    close(fd);
}

/* ---- in-process endpoints in another process ---- */

static int inproc_taker_main(int chan, void *arg)
{
    (void)arg;
    int fd = chan_recv_fd(chan);
    seam_loop *loop = NULL;
    seam_conn *c = NULL;
    if (fd < 0 || seam_poll_new(0, &loop) != 0) {
        return 10;
    }
    int r = seam_conn_connect_endpoint(loop, fd, NULL, &c);
    seam_loop_free(loop);
    return r == SEAM_ENOTFOUND ? 0 : 11;
}

static void test_inproc_endpoint_sent_to_another_process_fails_there_with_enotfound(void **state)
{
    fixture *f = *state;
    endpoint_start(f, SEAM_ENDPOINT_INPROC);
    support_fork(&f->child, inproc_taker_main, NULL);
    assert_true(chan_send_fd(f->child.chan, seam_endpoint_fd(f->endpoint)));
    assert_int_equal(support_run_until_exit(f->loop, &f->child, SUPPORT_DEADLINE_MS), 0);
    assert_int_equal(seen.admitted, 0);
}

/* ---- a holder flooding the rendezvous socket ---- */

static void
test_holder_flooding_the_rendezvous_makes_connects_fail_with_eagain_then_recover(void **state)
{
    fixture *f = *state;
    endpoint_start(f, 0);
    int fd = seam_endpoint_fd(f->endpoint);
    /* Datagrams that are no connects, while the listener does not run:
     * the kernel's queue fills and says so. */
    size_t sent = 0;
    char junk[64] = {0};
    while (send(fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
        sent++;
        assert_true(sent < 1000000);
    }
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect_endpoint(f->loop, fd, NULL, &c), SEAM_EAGAIN);
    /* The listener drops them all; a connect then gets through. */
    ended e = {0};
    seam_conn_config cfg = {.on_event = ended_event, .userdata = &e};
    long long until = support_now_ms() + SUPPORT_DEADLINE_MS;
    int r = SEAM_EAGAIN;
    while (r == SEAM_EAGAIN && support_now_ms() < until) {
        support_run_once(f->loop, 10);
        r = seam_conn_connect_endpoint(f->loop, fd, &cfg, &c);
    }
    assert_int_equal(r, 0);
    assert_true(support_run_until_count(f->loop, &e.connected, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(seen.admitted, 1);
    seam_conn_close(c);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        T(test_endpoint_sent_through_a_broker_connects_directly_and_outlives_the_broker),
        T(test_endpoint_listener_sees_the_pid_and_uid_of_the_connecting_process),
        T(test_endpoint_given_to_another_user_refuses_it_by_default),
        T(test_connect_through_the_endpoint_of_an_exited_holder_fails_with_enotfound),
        T(test_holder_killed_with_a_connect_waiting_ends_the_connection_without_a_hang),
        T(test_inproc_endpoint_sent_to_another_process_fails_there_with_enotfound),
        T(test_holder_flooding_the_rendezvous_makes_connects_fail_with_eagain_then_recover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
