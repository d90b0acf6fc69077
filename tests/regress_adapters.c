/* SPDX-License-Identifier: MIT */
/* regress_adapters.c - regressions of single adapters and of the loop
 * binding under faults the conformance suite cannot stage: functions of one
 * adapter given another adapter's loop, libev giving up on a watcher
 * (epoll_ctl failing, injected). The parent's loop is libev
 * (drivers/ev.c); servers are poll loops in forked children. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support.h"

#include <seam/ev.h>
#include <seam/poll.h>
#ifdef SEAM_REGRESS_DISPATCH
#include <seam/dispatch.h>
#endif
#ifdef SEAM_REGRESS_CF
#include <seam/cfrunloop.h>
#endif

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NAME "t.regress"

/* ---- fault injection ---- */

/* epoll_ctl() adding or changing a socket fails with ENOMEM while this is
 * positive (counting down; INT32_MAX stays), as the kernel's does when it
 * runs out of memory or of epoll watches. libev calls it from its shared
 * library, so this definition stands in for libc's. */
static atomic_int epoll_failures;

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    struct stat st;
    if (op != EPOLL_CTL_DEL && atomic_load(&epoll_failures) > 0 && fstat(fd, &st) == 0 &&
        S_ISSOCK(st.st_mode)) {
        if (atomic_load(&epoll_failures) != INT32_MAX) {
            atomic_fetch_sub(&epoll_failures, 1);
        }
        errno = ENOMEM;
        return -1;
    }
    return (int)syscall(SYS_epoll_ctl, epfd, op, fd, event);
}

/* ---- fixture ---- */

typedef struct client_log {
    int connected;
    int ended; /* INTERRUPTED or INVALID */
    int replies;
    int status;
} client_log;

typedef struct fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    support_child server;
    client_log log; /* outlives a failed test's loop */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    f->server.chan = -1;
    atomic_store(&epoll_failures, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    atomic_store(&epoll_failures, 0);
    support_child_kill(&f->server);
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

static void echo_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        seam_request_reply(ev->request, ev->value);
    }
}

static const seam_server_config echo_config = {.conn.on_event = echo_event};

static void client_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    client_log *log = userdata;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        log->connected++;
    } else if (ev->type == SEAM_EVENT_INTERRUPTED || ev->type == SEAM_EVENT_INVALID) {
        log->ended++;
    }
}

static void on_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    client_log *log = userdata;
    log->replies++;
    log->status = r->status;
}

/* A client whose handshake never times out within a test's deadline: a
 * watch that stopped delivering shows as a hang, not as a timeout. */
static seam_conn *connect_patient(fixture *f, client_log *log)
{
    seam_conn_config cfg = {
        .on_event = client_event, .userdata = log, .handshake_timeout_ms = 600000};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    return conn;
}

static void call_echo(seam_conn *conn, client_log *log)
{
    seam_value *m = seam_value_new_dict();
    seam_dict_set_string(m, "op", "echo");
    assert_int_equal(seam_conn_call(conn, m, SEAM_NO_TIMEOUT, on_reply, log, NULL), 0);
    seam_value_unref(m);
}

/* ==== a loop of another adapter ========================================== */

static void test_poll_functions_refuse_a_loop_of_another_adapter(void **state)
{
    fixture *f = *state; /* f->loop is a libev binding */
    struct pollfd fds[4];
    memset(fds, 0x5a, sizeof(fds));
    struct pollfd before[4];
    memcpy(before, fds, sizeof(fds));
    assert_int_equal(seam_poll_fds(f->loop, fds, 4), 0);
    assert_memory_equal(fds, before, sizeof(fds));
    assert_int_equal(seam_poll_timeout(f->loop), SEAM_EINVAL);
    seam_poll_dispatch(f->loop, fds, 4);
    assert_int_equal(seam_poll_run_once(f->loop, 0), SEAM_EINVAL);
    assert_int_equal(seam_poll_fds(NULL, fds, 4), 0);
    assert_int_equal(seam_poll_timeout(NULL), SEAM_EINVAL);
    seam_poll_dispatch(NULL, fds, 4);
    assert_int_equal(seam_poll_run_once(NULL, 0), SEAM_EINVAL);
    /* The binding is intact: it still runs. */
    assert_true(support_run_once(f->loop, 0) >= 0);
}

#if defined(SEAM_REGRESS_DISPATCH) || defined(SEAM_REGRESS_CF)
static void never(void *arg)
{
    *(bool *)arg = true;
}

/* Hands a poll loop to another adapter's on_freed: refused, and the poll
 * binding is intact: it still runs and frees cleanly, never calling. */
static void expect_on_freed_refused(int (*on_freed)(seam_loop *, void (*)(void *), void *))
{
    seam_loop *loop = NULL;
    assert_int_equal(seam_poll_new(0, &loop), 0);
    bool called = false;
    assert_int_equal(on_freed(loop, never, &called), SEAM_EINVAL);
    assert_true(seam_poll_run_once(loop, 0) >= 0);
    seam_loop_free(loop);
    assert_false(called);
}
#endif

static void test_dispatch_on_freed_refuses_a_loop_of_another_adapter(void **state)
{
    (void)state;
#ifdef SEAM_REGRESS_DISPATCH
    expect_on_freed_refused(seam_dispatch_on_freed);
#else
    skip();
#endif
}

static void test_cfrunloop_on_freed_refuses_a_loop_of_another_adapter(void **state)
{
    (void)state;
#ifdef SEAM_REGRESS_CF
    expect_on_freed_refused(seam_cfrunloop_on_freed);
#else
    skip();
#endif
}

/* ==== libev giving up on a watcher ======================================= */

/* libev stops a watcher whose descriptor the backend refuses and reports
 * EV_ERROR; a mask the core never changes again must still be watched. */
static void test_ev_watch_rearmed_after_libev_reports_ev_error(void **state)
{
    fixture *f = *state;
    support_spawn_server(&f->server, NAME, &echo_config);
    client_log *log = &f->log;
    /* The first two registrations of the new socket fail: libev kills the
     * watcher twice, the second time with the core's mask at rest. */
    atomic_store(&epoll_failures, 2);
    seam_conn *conn = connect_patient(f, log);
    call_echo(conn, log);
    assert_true(support_run_until_count(f->loop, &log->replies, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(log->status, 0);
    assert_int_equal(log->connected, 1);
    assert_int_equal(atomic_load(&epoll_failures), 0);
    /* And it keeps working. */
    call_echo(conn, log);
    assert_true(support_run_until_count(f->loop, &log->replies, 2, SUPPORT_DEADLINE_MS));
    assert_int_equal(log->status, 0);
    seam_conn_close(conn);
    assert_int_equal(support_server_stop(&f->server), 0);
}

/* A descriptor libev can never watch ends its connection with an error
 * instead of leaving it silent for ever (or spinning). */
static void test_ev_watch_libev_never_accepts_ends_the_connection(void **state)
{
    fixture *f = *state;
    support_spawn_server(&f->server, NAME, &echo_config);
    client_log *log = &f->log;
    atomic_store(&epoll_failures, INT32_MAX);
    seam_conn *conn = connect_patient(f, log);
    call_echo(conn, log);
    assert_true(support_run_until_count(f->loop, &log->ended, 1, SUPPORT_DEADLINE_MS));
    /* The call ended too, answered before the end or failed with it. */
    assert_true(support_run_until_count(f->loop, &log->replies, 1, SUPPORT_DEADLINE_MS));
    /* Once the descriptors can be watched again the client reconnects. */
    atomic_store(&epoll_failures, 0);
    call_echo(conn, log);
    assert_true(support_run_until_count(f->loop, &log->replies, 2, SUPPORT_DEADLINE_MS));
    assert_int_equal(log->status, 0);
    seam_conn_close(conn);
    assert_int_equal(support_server_stop(&f->server), 0);
}

/* ==== the poll adapter's epoll set refusing a change ===================== */

/* Runs a poll loop of our own (not the driver's) until *counter reaches
 * target or the deadline passes. */
static bool poll_run_until(seam_loop *loop, const int *counter, int target)
{
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (*counter < target && support_now_ms() < deadline) {
        if (seam_poll_run_once(loop, 100) < 0) {
            return false;
        }
    }
    return *counter >= target;
}

/* A call too large for the socket buffer needs write interest; the epoll
 * set of SEAM_POLL_ONE_FD refuses that change failures times. The server
 * is stopped meanwhile (SIGSTOP), so that the socket surely fills: a
 * server reading fast enough could otherwise take it all in one go. */
static void call_big_with_refusals(int failures, client_log *log, seam_loop **loop_out,
                                   pid_t server)
{
    seam_loop *loop = NULL;
    assert_int_equal(seam_poll_new(SEAM_POLL_ONE_FD, &loop), 0);
    *loop_out = loop;
    seam_conn_config cfg = {
        .on_event = client_event, .userdata = log, .handshake_timeout_ms = 600000};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(loop, NAME, &cfg, &conn), 0);
    assert_true(poll_run_until(loop, &log->connected, 1));
    assert_int_equal(kill(server, SIGSTOP), 0);
    atomic_store(&epoll_failures, failures);
    size_t len = 4 << 20;
    uint8_t *pad = calloc(1, len);
    assert_non_null(pad);
    seam_value *m = seam_value_new_dict();
    seam_dict_set_data(m, "pad", pad, len);
    free(pad);
    assert_int_equal(seam_conn_call(conn, m, SEAM_NO_TIMEOUT, on_reply, log, NULL), 0);
    seam_value_unref(m);
}

static void test_poll_one_fd_retries_a_mask_change_epoll_refused(void **state)
{
    fixture *f = *state;
    support_spawn_server(&f->server, NAME, &echo_config);
    seam_loop *loop = NULL;
    call_big_with_refusals(1, &f->log, &loop, f->server.pid);
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (atomic_load(&epoll_failures) > 0 && support_now_ms() < deadline) {
        seam_poll_run_once(loop, 100);
    }
    kill(f->server.pid, SIGCONT);
    bool answered = poll_run_until(loop, &f->log.replies, 1);
    int left = atomic_load(&epoll_failures);
    atomic_store(&epoll_failures, 0);
    if (!answered) {
        seam_loop_free(loop);
    }
    assert_true(answered);
    assert_int_equal(left, 0); /* the change was refused once */
    assert_int_equal(f->log.status, 0);
    assert_int_equal(f->log.ended, 0);
    seam_loop_free(loop);
    assert_int_equal(support_server_stop(&f->server), 0);
}

static void test_poll_one_fd_mask_epoll_keeps_refusing_ends_the_connection(void **state)
{
    fixture *f = *state;
    support_spawn_server(&f->server, NAME, &echo_config);
    seam_loop *loop = NULL;
    call_big_with_refusals(INT32_MAX, &f->log, &loop, f->server.pid);
    bool ended = poll_run_until(loop, &f->log.ended, 1);
    atomic_store(&epoll_failures, 0);
    kill(f->server.pid, SIGCONT);
    if (!ended) {
        seam_loop_free(loop);
    }
    assert_true(ended);
    /* The call ended with the connection, or was answered before. */
    assert_true(poll_run_until(loop, &f->log.replies, 1));
    seam_loop_free(loop);
    assert_int_equal(support_server_stop(&f->server), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        T(test_poll_functions_refuse_a_loop_of_another_adapter),
        T(test_dispatch_on_freed_refuses_a_loop_of_another_adapter),
        T(test_cfrunloop_on_freed_refuses_a_loop_of_another_adapter),
        T(test_ev_watch_rearmed_after_libev_reports_ev_error),
        T(test_ev_watch_libev_never_accepts_ends_the_connection),
        T(test_poll_one_fd_retries_a_mask_change_epoll_refused),
        T(test_poll_one_fd_mask_epoll_keeps_refusing_ends_the_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
