/* SPDX-License-Identifier: MIT */
/* regress_polish.c - what a program written from the documentation meets
 * at the edges: a server other users may reach (the socket's file mode), a
 * connect the kernel refuses, kept requests outliving their loop, and the
 * names of codes. Peers are forked processes; the parent's loop is a poll
 * loop. Deadlines only bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CALL_MS SUPPORT_DEADLINE_MS

typedef struct fixture {
    char dir[PATH_MAX];
    char pub[PATH_MAX];  /* a sticky directory every user may write to */
    char sock[PATH_MAX]; /* pub/x.sock */
    char name[PATH_MAX + 8];
    seam_loop *loop;
    support_child child;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    support_runtime_dir_create(f->dir, sizeof(f->dir));
    int n = snprintf(f->pub, sizeof(f->pub), "%s/public", f->dir);
    assert_true(n > 0 && (size_t)n < sizeof(f->pub));
    assert_int_equal(mkdir(f->pub, 0700), 0);
    assert_int_equal(chmod(f->pub, 01777), 0);
    assert_int_equal(chmod(f->dir, 0755), 0);
    n = snprintf(f->sock, sizeof(f->sock), "%s/x.sock", f->pub);
    assert_true(n > 0 && (size_t)n < sizeof(f->sock));
    snprintf(f->name, sizeof(f->name), "unix:%s", f->sock);
    support_host_begin();
    f->loop = support_loop_new();
    f->child.chan = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    support_child_kill(&f->child);
    if (f->loop != NULL) {
        seam_loop_free(f->loop);
    }
    support_host_end();
    support_runtime_dir_remove(f->pub);
    rmdir(f->pub);
    support_runtime_dir_remove(f->dir);
    unsetenv("SEAM_RUNTIME_DIR");
    free(f);
    return 0;
}

typedef struct server_state {
    int requests;
    seam_request *kept;
    bool keep;
    bool bad_code_first; /* reply_error with a code >= 0, then reply */
    int bad_code_result;
    int reply_result;
} server_state;

static void server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    server_state *st = userdata;
    if (ev->type != SEAM_EVENT_REQUEST) {
        return;
    }
    st->requests++;
    if (st->keep) {
        st->kept = seam_request_keep(ev->request);
    } else if (st->bad_code_first) {
        st->bad_code_result = seam_request_reply_error(ev->request, 5, "not an error code", NULL);
        st->reply_result = seam_request_reply(ev->request, ev->value);
    } else {
        seam_request_reply(ev->request, ev->value);
    }
}

/* What a client of another user saw: the connect's result and, if it
 * connected, the call's. */
typedef struct client_report {
    int connect;
    int call;
    char text[128];
} client_report;

/* A client that becomes nobody, connects to the unix: path in arg and
 * calls once; reports what happened. */
static int other_user_client_main(int chan, void *arg)
{
    const char *name = arg;
    client_report rep = {.connect = 1, .call = 1};
    if (!support_become_nobody()) {
        return 10;
    }
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) != 0) {
        return 11;
    }
    seam_conn *conn = NULL;
    rep.connect = seam_conn_connect(loop, name, NULL, &conn);
    snprintf(rep.text, sizeof(rep.text), "%s", seam_strerror(rep.connect));
    if (rep.connect == 0) {
        seam_value *msg = seam_value_new_dict();
        seam_value *reply = NULL;
        rep.call = seam_conn_call_sync(conn, msg, CALL_MS, &reply);
        seam_value_unref(msg);
        if (reply != NULL) {
            seam_value_unref(reply);
        }
        seam_conn_close(conn);
    }
    seam_loop_free(loop);
    return support_write_full(chan, &rep, sizeof(rep)) ? 0 : 12;
}

static void run_other_user_client(fixture *f, client_report *rep)
{
    support_fork(&f->child, other_user_client_main, f->name);
    int chan = dup(f->child.chan); /* reaping the child closes its channel */
    assert_true(chan >= 0);
    assert_int_equal(support_run_until_exit(f->loop, &f->child, CALL_MS), 0);
    bool got = support_read_full(chan, rep, sizeof(*rep), CALL_MS);
    close(chan);
    assert_true(got);
}

/* ---- A: the socket's file mode ---- */

static void test_server_with_socket_mode_0666_is_reachable_by_another_user(void **state)
{
    fixture *f = *state;
    if (getuid() != 0) {
        skip();
    }
    server_state st = {0};
    seam_server_config cfg = {.conn = {.on_event = server_event, .userdata = &st},
                              .accept = support_accept_anyone,
                              .socket_mode = 0666};
    mode_t old = umask(022); /* the usual umask: 0755 without the option */
    seam_server *srv = NULL;
    int r = seam_server_listen(f->loop, f->name, &cfg, &srv);
    umask(old);
    assert_int_equal(r, 0);
    struct stat sb;
    assert_int_equal(lstat(f->sock, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0666);
    client_report rep;
    run_other_user_client(f, &rep);
    assert_int_equal(rep.connect, 0);
    assert_int_equal(rep.call, 0);
    assert_int_equal(st.requests, 1);
    seam_server_close(srv);
}

static void test_socket_mode_outside_0777_is_refused_and_creates_nothing(void **state)
{
    fixture *f = *state;
    seam_server_config cfg = {.socket_mode = 04666};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, f->name, &cfg, &srv), SEAM_EINVAL);
    struct stat sb;
    assert_int_equal(lstat(f->sock, &sb), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_socket_mode_0_leaves_the_mode_the_umask_gives(void **state)
{
    fixture *f = *state;
    mode_t old = umask(027);
    seam_server *srv = NULL;
    int r = seam_server_listen(f->loop, f->name, NULL, &srv);
    umask(old);
    assert_int_equal(r, 0);
    struct stat sb;
    assert_int_equal(lstat(f->sock, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0750);
    seam_server_close(srv);
}

/* The kernel refuses the connect (no write permission on the socket): the
 * client is told so, not that an accept filter that never ran refused. */
static void test_connect_refused_by_the_sockets_mode_is_eperm_not_the_accept_filter(void **state)
{
    fixture *f = *state;
    if (getuid() != 0) {
        skip();
    }
    server_state st = {0};
    seam_server_config cfg = {.conn = {.on_event = server_event, .userdata = &st},
                              .accept = support_accept_anyone,
                              .socket_mode = 0600};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, f->name, &cfg, &srv), 0);
    client_report rep;
    run_other_user_client(f, &rep);
    assert_int_equal(rep.connect, SEAM_EPERM);
    assert_string_equal(seam_errname(rep.connect), "SEAM_EPERM");
    assert_null(strstr(rep.text, "accept filter"));
    assert_non_null(strstr(rep.text, "file mode"));
    assert_int_equal(st.requests, 0);
    seam_server_close(srv);
}

/* ---- C: kept requests and seam_loop_free ---- */

/* Connects to name on a fresh poll loop and calls once: 0 and the call's
 * result in *result, or the exit status of a child that could not call. */
static int call_once(const char *name, int *result)
{
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) != 0) {
        return 11;
    }
    seam_conn *conn = NULL;
    if (seam_conn_connect(loop, name, NULL, &conn) != 0) {
        return 12;
    }
    seam_value *msg = seam_value_new_dict();
    seam_value *reply = NULL;
    *result = seam_conn_call_sync(conn, msg, CALL_MS, &reply);
    seam_value_unref(msg);
    if (reply != NULL) {
        seam_value_unref(reply);
    }
    seam_conn_close(conn);
    seam_loop_free(loop);
    return 0;
}

static int one_call_client_main(int chan, void *arg)
{
    (void)chan;
    int r = 0;
    int status = call_once(arg, &r);
    if (status != 0) {
        return status;
    }
    /* The server freed its loop: its peer went away. */
    return r == SEAM_ECONNRESET || r == SEAM_ECANCELED || r == SEAM_EREMOTE ? 0 : 13;
}

typedef enum kept_end { DROP_BEFORE_FREE, DROP_AFTER_FREE, REPLY_AFTER_FREE } kept_end;

static void kept_request_then_loop_free(fixture *f, kept_end how)
{
    server_state st = {.keep = true};
    seam_server_config cfg = {.conn = {.on_event = server_event, .userdata = &st}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, f->name, &cfg, &srv), 0);
    support_fork(&f->child, one_call_client_main, f->name);
    assert_true(support_run_until_count(f->loop, &st.requests, 1, CALL_MS));
    assert_non_null(st.kept);
    if (how == DROP_BEFORE_FREE) {
        seam_request_drop(st.kept);
    }
    seam_loop_free(f->loop); /* closes the server and its peer */
    f->loop = NULL;
    if (how == DROP_AFTER_FREE) {
        assert_null(seam_request_conn(st.kept));
        seam_request_drop(st.kept);
    } else if (how == REPLY_AFTER_FREE) {
        seam_value *v = seam_value_new_dict();
        assert_int_equal(seam_request_reply(st.kept, v), SEAM_ECLOSED); /* and released */
        seam_value_unref(v);
    }
    assert_int_equal(support_child_wait(&f->child, CALL_MS), 0);
}

static void test_kept_request_dropped_after_seam_loop_free_is_released_cleanly(void **state)
{
    kept_request_then_loop_free(*state, DROP_AFTER_FREE);
}

static void test_kept_request_dropped_before_seam_loop_free_is_released_cleanly(void **state)
{
    kept_request_then_loop_free(*state, DROP_BEFORE_FREE);
}

static void
test_kept_request_answered_after_seam_loop_free_gets_eclosed_and_is_released(void **state)
{
    kept_request_then_loop_free(*state, REPLY_AFTER_FREE);
}

/* ---- I: documented results ---- */

/* A client in this process's user (no setuid) that calls once and
 * expects a plain reply. */
static int replied_client_main(int chan, void *arg)
{
    (void)chan;
    int r = 0;
    int status = call_once(arg, &r);
    if (status != 0) {
        return status;
    }
    return r == 0 ? 0 : 13;
}

/* A code >= 0 is refused with SEAM_EINVAL and leaves the request
 * unanswered: the reply that follows is the one the client gets. */
static void test_reply_error_with_a_code_not_negative_leaves_the_request_answerable(void **state)
{
    fixture *f = *state;
    server_state st = {.bad_code_first = true, .bad_code_result = 1, .reply_result = 1};
    seam_server_config cfg = {.conn = {.on_event = server_event, .userdata = &st}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, f->name, &cfg, &srv), 0);
    support_fork(&f->child, replied_client_main, f->name);
    assert_int_equal(support_run_until_exit(f->loop, &f->child, CALL_MS), 0);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.bad_code_result, SEAM_EINVAL);
    assert_int_equal(st.reply_result, 0);
    seam_server_close(srv);
}

/* A descriptor goes to one peer; a broadcast holding one is refused
 * whole, with a negative count, whether peers are connected or not. */
static void test_broadcast_of_a_value_holding_an_fd_is_efd_and_sends_nothing(void **state)
{
    fixture *f = *state;
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, f->name, NULL, &srv), 0);
    seam_value *msg = seam_value_new_dict();
    assert_int_equal(seam_dict_set_take(msg, "fd", seam_value_new_fd(0)), 0);
    size_t skipped = 7;
    assert_int_equal(seam_server_broadcast(srv, msg, &skipped), SEAM_EFD);
    seam_value_unref(msg);
    seam_server_close(srv);
}

/* A large broadcast is queued to every peer from one block: the queues
 * hold a header each, not a copy each (and every peer gets it whole). */
#define BIG_PEERS 8
#define BIG_BODY  (64u << 10)

typedef struct big_log {
    int messages;
    int wrong;
} big_log;

static void big_client_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    big_log *log = userdata;
    (void)conn;
    if (ev->type != SEAM_EVENT_MESSAGE) {
        return;
    }
    size_t len = 0;
    const uint8_t *b = ev->raw ? ev->raw_bytes : NULL;
    if (ev->raw) {
        len = ev->raw_len;
    } else {
        b = seam_value_get_data(seam_dict_get(ev->value, "body"), &len);
    }
    if (b == NULL || len != BIG_BODY || b[0] != 0x5A || b[len - 1] != 0x5A) {
        log->wrong++;
    }
    log->messages++;
}

static bool big_peers_open(void *arg)
{
    return seam_server_peers(arg, NULL, 0) == BIG_PEERS;
}

static void count_connected(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        ++*(int *)userdata;
    }
}

static long long heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return (long long)(m.uordblks + m.hblkhd);
}

static void test_a_large_broadcast_queues_one_payload_for_all_peers(void **state)
{
    fixture *f = *state;
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, f->name, NULL, &srv), 0);
    big_log log = {0};
    seam_conn_config cc = {.on_event = big_client_event, .userdata = &log};
    seam_conn *clients[BIG_PEERS];
    for (int i = 0; i < BIG_PEERS; i++) {
        assert_int_equal(seam_conn_connect(f->loop, f->name, &cc, &clients[i]), 0);
    }
    assert_true(support_run_until(f->loop, big_peers_open, srv, CALL_MS));
    uint8_t *body = malloc(BIG_BODY);
    assert_non_null(body);
    memset(body, 0x5A, BIG_BODY);
    seam_value *m = seam_value_new_dict();
    assert_int_equal(seam_dict_set_data(m, "body", body, BIG_BODY), 0);
    size_t skipped = 9;
    long long before = heap_in_use();
    assert_int_equal(seam_server_broadcast(srv, m, &skipped), BIG_PEERS);
    long long typed = heap_in_use() - before;
    before = heap_in_use();
    assert_int_equal(seam_server_broadcast_raw(srv, 7, body, BIG_BODY, &skipped), BIG_PEERS);
    long long raw = heap_in_use() - before;
    assert_int_equal(skipped, 0);
    if (typed > 3 * (long long)BIG_BODY || raw > 3 * (long long)BIG_BODY) {
        print_error("queued %lld (typed) and %lld (raw) bytes for %d peers of %u bytes\n", typed,
                    raw, BIG_PEERS, BIG_BODY);
        fail();
    }
    assert_true(support_run_until_count(f->loop, &log.messages, 2 * BIG_PEERS, CALL_MS));
    assert_int_equal(log.wrong, 0);
    seam_value_unref(m);
    free(body);
    for (int i = 0; i < BIG_PEERS; i++) {
        seam_conn_close(clients[i]);
    }
    seam_server_close(srv);
}

/* A large data value of a message is written from the value, not copied
 * into the queue; the value, changed after the send, is replaced, so what
 * was sent stays what it was. */
static void test_a_large_data_value_is_sent_from_the_value_not_a_copy(void **state)
{
    fixture *f = *state;
    big_log log = {0};
    seam_server_config sc = {.conn = {.on_event = big_client_event, .userdata = &log}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, f->name, &sc, &srv), 0);
    int connected = 0;
    seam_conn_config cc = {.on_event = count_connected, .userdata = &connected};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, f->name, &cc, &conn), 0);
    assert_true(support_run_until_count(f->loop, &connected, 1, CALL_MS));
    uint8_t *body = malloc(BIG_BODY);
    assert_non_null(body);
    memset(body, 0x5A, BIG_BODY);
    seam_value *m = seam_value_new_dict();
    assert_int_equal(seam_dict_set_data(m, "body", body, BIG_BODY), 0);
    long long before = heap_in_use();
    assert_int_equal(seam_conn_send(conn, m), 0);
    long long queued = heap_in_use() - before;
    memset(body, 0xA5, BIG_BODY);
    assert_int_equal(seam_dict_set_data(m, "body", body, BIG_BODY), 0);
    seam_value_unref(m);
    if (queued > (long long)BIG_BODY / 2) {
        print_error("queued %lld bytes for a message of %u\n", queued, BIG_BODY);
        fail();
    }
    assert_true(support_run_until_count(f->loop, &log.messages, 1, CALL_MS));
    assert_int_equal(log.wrong, 0);
    free(body);
    seam_conn_close(conn);
    seam_server_close(srv);
}

static void test_code_0_is_named_and_described_as_success(void **state)
{
    (void)state;
    assert_string_equal(seam_strerror(0), "success");
    assert_string_equal(seam_errname(0), "0");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_server_with_socket_mode_0666_is_reachable_by_another_user),
        T(test_socket_mode_outside_0777_is_refused_and_creates_nothing),
        T(test_socket_mode_0_leaves_the_mode_the_umask_gives),
        T(test_connect_refused_by_the_sockets_mode_is_eperm_not_the_accept_filter),
        T(test_kept_request_dropped_after_seam_loop_free_is_released_cleanly),
        T(test_kept_request_dropped_before_seam_loop_free_is_released_cleanly),
        T(test_kept_request_answered_after_seam_loop_free_gets_eclosed_and_is_released),
        T(test_broadcast_of_a_value_holding_an_fd_is_efd_and_sends_nothing),
        T(test_a_large_broadcast_queues_one_payload_for_all_peers),
        T(test_a_large_data_value_is_sent_from_the_value_not_a_copy),
        T(test_reply_error_with_a_code_not_negative_leaves_the_request_answerable),
        T(test_code_0_is_named_and_described_as_success),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
