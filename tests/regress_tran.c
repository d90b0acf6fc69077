/* SPDX-License-Identifier: MIT */
/* regress_tran.c - what the transport layer tells about a peer, across
 * processes: the transport-neutral seam_peer given to an accept_peer
 * filter and returned by seam_conn_peer(), beside the seam_creds of
 * today's callers, and what a peer's goodbye said (seam_event.reason and
 * .rule). The parent's loop is the loop under test; its peers are
 * forked processes. Deadlines only bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "seam/poll.h"
#include "support.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME "t.tran"

typedef struct fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    support_child child;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    f->child.chan = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    support_child_kill(&f->child);
    support_test_end(f->loop, f->dir);
    unsetenv("SEAM_RUNTIME_DIR");
    free(f);
    return 0;
}

/* ---- a client in a child: connects, reports its pid and how it ended ---- */

typedef struct client_state {
    int connected;
    int invalid;
    int code;
} client_state;

static void client_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    client_state *st = userdata;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        st->connected++;
    } else if (ev->type == SEAM_EVENT_INVALID || ev->type == SEAM_EVENT_INTERRUPTED) {
        st->invalid++;
        st->code = ev->error;
    }
}

static bool client_done(void *arg)
{
    const client_state *st = arg;
    return st->connected > 0 || st->invalid > 0;
}

/* Writes its pid, then 1 (connected) or the error that ended it. */
static int client_main(int chan, void *arg)
{
    (void)arg;
    int32_t pid = (int32_t)getpid();
    if (!support_write_full(chan, &pid, sizeof(pid))) {
        return 10;
    }
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) < 0) {
        return 12;
    }
    client_state st = {0};
    seam_conn_config cfg = {.on_event = client_event, .userdata = &st};
    seam_conn *c = NULL;
    int r = seam_conn_connect(loop, NAME, &cfg, &c);
    int32_t out = r;
    if (r == 0) {
        long long until = support_now_ms() + SUPPORT_DEADLINE_MS;
        while (!client_done(&st) && support_now_ms() < until) {
            seam_poll_run_once(loop, 100);
        }
        out = st.connected > 0 ? 1 : (st.invalid > 0 ? st.code : -1);
        seam_conn_close(c);
    }
    seam_loop_free(loop);
    return support_write_full(chan, &out, sizeof(out)) ? 0 : 11;
}

/* ---- the filter in the parent ---- */

typedef struct filter_state {
    int asked;
    bool admit;
    seam_peer seen;
    char address[256];
    bool pidfd_was_open;
} filter_state;

static bool record_peer(const seam_peer *peer, void *userdata)
{
    filter_state *st = userdata;
    st->asked++;
    st->seen = *peer;
    snprintf(st->address, sizeof(st->address), "%s", peer->address != NULL ? peer->address : "");
    st->pidfd_was_open = peer->pidfd >= 0 && fcntl(peer->pidfd, F_GETFD) >= 0;
    return st->admit;
}

static bool filter_answered(void *arg)
{
    const filter_state *st = arg;
    return st->asked > 0;
}

static int32_t run_client(fixture *f, filter_state *st, int32_t *pid)
{
    support_fork(&f->child, client_main, NULL);
    assert_true(support_read_full(f->child.chan, pid, sizeof(*pid), SUPPORT_DEADLINE_MS));
    assert_true(support_run_until(f->loop, filter_answered, st, SUPPORT_DEADLINE_MS));
    int32_t result = 0;
    for (int i = 0; i < 1000; i++) {
        support_run_once(f->loop, 10);
        if (support_read_full(f->child.chan, &result, sizeof(result), 1)) {
            break;
        }
    }
    assert_int_equal(support_child_wait(&f->child, SUPPORT_DEADLINE_MS), 0);
    return result;
}

static void test_accept_peer_filter_is_given_the_unix_peer_with_kernel_credentials(void **state)
{
    fixture *f = *state;
    filter_state st = {.admit = true};
    seam_server_config cfg = {.accept_peer = record_peer, .accept_data = &st};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    int32_t pid = 0;
    assert_int_equal(run_client(f, &st, &pid), 1);
    assert_int_equal(st.asked, 1);
    assert_int_equal(st.seen.kind, SEAM_PEER_UNIX);
    assert_true((st.seen.flags & SEAM_PEER_CREDS) != 0);
    assert_int_equal(st.seen.uid, (uint32_t)geteuid());
    assert_int_equal(st.seen.gid, (uint32_t)getegid());
    assert_int_equal(st.seen.pid, pid);
    /* The filter may look at the process: a pidfd where the kernel has
     * one, and the flag says which. */
    assert_int_equal((st.seen.flags & SEAM_PEER_PIDFD) != 0, st.seen.pidfd >= 0);
    assert_int_equal(st.pidfd_was_open, st.seen.pidfd >= 0);
    assert_string_equal(st.address, seam_server_path(srv));
    seam_server_close(srv);
}

static void test_accept_peer_filter_refusal_reaches_the_peer_as_eacces(void **state)
{
    fixture *f = *state;
    filter_state st = {.admit = false};
    seam_server_config cfg = {.accept_peer = record_peer, .accept_data = &st};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    int32_t pid = 0;
    assert_int_equal(run_client(f, &st, &pid), SEAM_EACCES);
    assert_int_equal(st.asked, 1);
    seam_server_close(srv);
}

/* ---- seam_conn_peer on a client, against a server in a child ---- */

static bool client_connected(void *arg)
{
    const client_state *st = arg;
    return st->connected > 0;
}

static void test_conn_peer_names_the_server_process_and_address_like_conn_creds(void **state)
{
    fixture *f = *state;
    support_spawn_server(&f->child, NAME, NULL);
    client_state st = {0};
    seam_conn_config cfg = {.on_event = client_event, .userdata = &st};
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &c), 0);
    assert_true(support_run_until(f->loop, client_connected, &st, SUPPORT_DEADLINE_MS));
    seam_peer peer;
    seam_creds creds;
    assert_int_equal(seam_conn_peer(c, &peer), 0);
    assert_int_equal(seam_conn_creds(c, &creds), 0);
    assert_int_equal(peer.kind, SEAM_PEER_UNIX);
    assert_true((peer.flags & SEAM_PEER_CREDS) != 0);
    assert_int_equal(peer.pid, (int32_t)f->child.pid);
    assert_int_equal(peer.pid, creds.pid);
    assert_int_equal(peer.uid, creds.uid);
    assert_int_equal(peer.gid, creds.gid);
    /* No descriptor is made for it: none until seam_conn_pidfd asks. */
    assert_int_equal(peer.pidfd, -1);
    assert_int_equal(peer.flags & SEAM_PEER_PIDFD, 0);
    char path[256];
    assert_int_equal(seam_name_path(NAME, path, sizeof(path)), 0);
    assert_string_equal(peer.address, path);
    int pidfd = seam_conn_pidfd(c);
    if (pidfd >= 0) {
        assert_int_equal(seam_conn_peer(c, &peer), 0);
        assert_int_equal(peer.pidfd, pidfd);
        assert_true((peer.flags & SEAM_PEER_PIDFD) != 0);
    }
    seam_conn_close(c);
    assert_int_equal(seam_conn_peer(NULL, &peer), SEAM_EINVAL);
    assert_int_equal(support_server_stop(&f->child), 0);
}

/* ---- what a goodbye said, in the event that ends a connection ---- */

typedef struct ended_state {
    int connected;
    int ended;
    char reason[64]; /* "(null)" when the event had none */
    char rule[64];
} ended_state;

static void record_ending(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    ended_state *st = userdata;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        st->connected++;
    } else if (ev->type == SEAM_EVENT_INTERRUPTED || ev->type == SEAM_EVENT_INVALID) {
        st->ended++;
        snprintf(st->reason, sizeof(st->reason), "%s", ev->reason != NULL ? ev->reason : "(null)");
        snprintf(st->rule, sizeof(st->rule), "%s", ev->rule != NULL ? ev->rule : "(null)");
    }
}

static bool ended_once_more(void *arg)
{
    const ended_state *st = arg;
    return st->ended > 0;
}

static bool connected_once_more(void *arg)
{
    const ended_state *st = arg;
    return st->connected > 0;
}

static void test_goodbye_reason_reaches_the_event_and_is_forgotten_on_reconnect(void **state)
{
    fixture *f = *state;
    ended_state st = {0};
    seam_conn_config cfg = {.on_event = record_ending, .userdata = &st};
    support_spawn_server(&f->child, NAME, NULL);
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &c), 0);
    assert_true(support_run_until(f->loop, connected_once_more, &st, SUPPORT_DEADLINE_MS));
    /* A round trip: the server has our hello, so it will say goodbye. */
    seam_value *ask = seam_value_new_null();
    seam_value *answer = NULL;
    assert_int_equal(seam_conn_call_sync(c, ask, SUPPORT_DEADLINE_MS, &answer), SEAM_EREMOTE);
    seam_value_unref(answer);
    seam_value_unref(ask);
    /* A server that closes says goodbye: its reason, and no rule. */
    assert_int_equal(support_server_stop(&f->child), 0);
    assert_true(support_run_until(f->loop, ended_once_more, &st, SUPPORT_DEADLINE_MS));
    assert_string_equal(st.reason, "closed");
    assert_string_equal(st.rule, "(null)");
    /* Reconnected to a new server that then dies without a word: nothing
     * of the old goodbye is left. */
    support_spawn_server(&f->child, NAME, NULL);
    st.connected = 0;
    st.ended = 0;
    seam_value *msg = seam_value_new_null();
    assert_int_equal(seam_conn_send(c, msg), 0);
    seam_value_unref(msg);
    assert_true(support_run_until(f->loop, connected_once_more, &st, SUPPORT_DEADLINE_MS));
    support_child_kill(&f->child);
    assert_true(support_run_until(f->loop, ended_once_more, &st, SUPPORT_DEADLINE_MS));
    assert_string_equal(st.reason, "(null)");
    assert_string_equal(st.rule, "(null)");
    seam_conn_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_accept_peer_filter_is_given_the_unix_peer_with_kernel_credentials, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_accept_peer_filter_refusal_reaches_the_peer_as_eacces,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_conn_peer_names_the_server_process_and_address_like_conn_creds, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_goodbye_reason_reaches_the_event_and_is_forgotten_on_reconnect, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
