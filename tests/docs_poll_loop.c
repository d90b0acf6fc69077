/* SPDX-License-Identifier: MIT */
/* docs_poll_loop.c - the host loop seam_poll(3) and seam/poll.h show, as
 * written there (extracted at configure time), run with more connections
 * than a fixed array of 64 would hold and one descriptor of the program's
 * own after seam's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support.h"

#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#define NAME  "t.pollloop"
#define CONNS 100 /* + the wakeup: 101 entries for seam */

static int own_rd = -1; /* a pipe never written to: it must stay quiet */
static int own_seen;

static void add_own_fds(struct pollfd *fds, size_t own)
{
    for (size_t i = 0; i < own; i++) {
        fds[i] = (struct pollfd){own_rd, POLLIN, 0};
    }
}

static void handle_own_fds(const struct pollfd *fds, size_t own)
{
    for (size_t i = 0; i < own; i++) {
        assert_int_equal(fds[i].fd, own_rd);
        own_seen += fds[i].revents != 0;
    }
}

#define iterate iterate_from_the_man_page
#include "poll_loop_man.inc"
#undef iterate
#define iterate iterate_from_the_header
#include "poll_loop_header.inc"
#undef iterate

typedef int (*iterate_fn)(seam_loop *loop, struct pollfd **fds, size_t *room, size_t own);

static void echo_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        seam_request_reply(ev->request, ev->value);
    }
}

static void on_reply(seam_conn *conn, const seam_reply *reply, void *userdata)
{
    (void)conn;
    int *answered = userdata;
    assert_int_equal(reply->status, 0);
    (*answered)++;
}

static void run_documented_loop(iterate_fn iterate)
{
    char dir[PATH_MAX];
    support_runtime_dir_create(dir, sizeof(dir));
    seam_server_config scfg = {.conn = {.on_event = echo_event}, .max_conns = 2 * CONNS};
    support_child server;
    support_spawn_server(&server, NAME, &scfg);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    own_rd = pipefd[0];
    own_seen = 0;
    seam_loop *loop = NULL;
    assert_int_equal(seam_poll_new(0, &loop), 0);
    seam_conn *conns[CONNS];
    int answered = 0;
    seam_value *msg = seam_value_new_dict();
    for (int i = 0; i < CONNS; i++) {
        assert_int_equal(seam_conn_connect(loop, NAME, NULL, &conns[i]), 0);
        assert_int_equal(
            seam_conn_call(conns[i], msg, SUPPORT_DEADLINE_MS, on_reply, &answered, NULL), 0);
    }
    seam_value_unref(msg);
    struct pollfd *fds = NULL;
    size_t room = 0;
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (answered < CONNS && support_now_ms() < deadline) {
        assert_int_equal(iterate(loop, &fds, &room, 1), 0);
    }
    assert_int_equal(answered, CONNS);
    assert_true(room >= CONNS + 2); /* it grew past any small fixed array */
    assert_int_equal(own_seen, 0);
    for (int i = 0; i < CONNS; i++) {
        seam_conn_close(conns[i]);
    }
    seam_loop_free(loop);
    free(fds);
    close(pipefd[0]);
    close(pipefd[1]);
    assert_int_equal(support_server_stop(&server), 0);
    support_runtime_dir_remove(dir);
    unsetenv("SEAM_RUNTIME_DIR");
}

static void test_host_loop_of_seam_poll_3_serves_more_than_64_connections(void **state)
{
    (void)state;
    run_documented_loop(iterate_from_the_man_page);
}

static void test_host_loop_of_seam_poll_h_serves_more_than_64_connections(void **state)
{
    (void)state;
    run_documented_loop(iterate_from_the_header);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_loop_of_seam_poll_3_serves_more_than_64_connections),
        cmocka_unit_test(test_host_loop_of_seam_poll_h_serves_more_than_64_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
