/* SPDX-License-Identifier: MIT */
/* conformance_endpoint.c - anonymous endpoints on the adapter under test
 * (and over the in-process transport): the endpoint's server and its
 * clients in this process on the loop under test; the hostile rendezvous
 * writer is this process too (Unix only). Between processes:
 * regress_endpoint.c. Deadlines only bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conformance_endpoint.h"
#include "rawpeer.h"
#include "support.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef SEAM_CONFORMANCE_INPROC
#define EP_FLAGS SEAM_ENDPOINT_INPROC
#define EP_NAME  "inproc:t.named"
#define EP_UNIX  false
#else
#define EP_FLAGS 0u
#define EP_NAME  "t.named"
#define EP_UNIX  true
#endif

typedef struct ep_log {
    int admitted;
    int requests;
    int connected;
    int lost;
    int error;
    bool refuse;
    pid_t pid;
    uint32_t uid;
    char rule[32];
    seam_loop *loop;
    seam_conn *taken; /* a connection made from an endpoint in a message */
} ep_log;

typedef struct ep_fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    seam_server *server;
    seam_conn *conn;
    ep_log log;
} ep_fixture;

int endpoint_setup(void **state)
{
    ep_fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    f->log.loop = f->loop;
    *state = f;
    return 0;
}

int endpoint_teardown(void **state)
{
    ep_fixture *f = *state;
    seam_conn_close(f->log.taken);
    seam_conn_close(f->conn);
    seam_server_close(f->server);
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

static void ep_server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    ep_log *l = userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        l->requests++;
        seam_request_reply(ev->request, ev->value);
    }
}

static bool ep_accept(const seam_peer *peer, void *userdata)
{
    ep_log *l = userdata;
    l->admitted++;
    l->pid = peer->pid;
    l->uid = peer->uid;
    return !l->refuse;
}

static void ep_client_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    ep_log *l = userdata;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        l->connected++;
    } else if (ev->type == SEAM_EVENT_INTERRUPTED || ev->type == SEAM_EVENT_INVALID) {
        l->lost++;
        l->error = ev->error;
        snprintf(l->rule, sizeof(l->rule), "%s", ev->rule != NULL ? ev->rule : "");
    } else if (ev->type == SEAM_EVENT_MESSAGE && l->taken == NULL) {
        /* A message carrying an endpoint: connect through it. */
        seam_value *ep = seam_dict_get(ev->value, "endpoint");
        seam_conn_config cfg = {.on_event = ep_client_event, .userdata = l};
        l->error = seam_conn_connect_endpoint(l->loop, seam_value_get_fd(ep), &cfg, &l->taken);
    }
}

static void ep_listen(ep_fixture *f)
{
    seam_server_config cfg = {0};
    cfg.conn.on_event = ep_server_event;
    cfg.conn.userdata = &f->log;
    cfg.accept_peer = ep_accept;
    cfg.accept_data = &f->log;
    assert_int_equal(seam_endpoint_listen(f->loop, EP_FLAGS, &cfg, &f->server), 0);
}

static int ep_connect(ep_fixture *f, seam_conn **out)
{
    seam_conn_config cfg = {.on_event = ep_client_event, .userdata = &f->log};
    return seam_conn_connect_endpoint(f->loop, seam_endpoint_fd(f->server), &cfg, out);
}

typedef struct ep_reply {
    int count;
    int status;
    int64_t x;
} ep_reply;

static void ep_on_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    ep_reply *rep = userdata;
    rep->count++;
    rep->status = r->status;
    seam_dict_get_int64(r->value, "x", &rep->x);
}

static void ep_call(ep_fixture *f, seam_conn *c, int64_t x)
{
    seam_value *m = seam_value_new_dict();
    seam_dict_set_int64(m, "x", x);
    ep_reply rep = {0};
    assert_int_equal(seam_conn_call(c, m, SUPPORT_DEADLINE_MS, ep_on_reply, &rep, NULL), 0);
    seam_value_unref(m);
    assert_true(support_run_until_count(f->loop, &rep.count, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(rep.status, 0);
    assert_int_equal(rep.x, x);
}

void test_endpoint_client_calls_the_endpoint_server_and_gets_the_reply(void **state)
{
    ep_fixture *f = *state;
    ep_listen(f);
    assert_int_equal(ep_connect(f, &f->conn), 0);
    ep_call(f, f->conn, 42);
    assert_int_equal(f->log.requests, 1);
    assert_int_equal(f->log.connected, 1);
}

void test_endpoint_server_sees_the_connecting_process_as_its_peer(void **state)
{
    ep_fixture *f = *state;
    ep_listen(f);
    assert_int_equal(ep_connect(f, &f->conn), 0);
    ep_call(f, f->conn, 1);
    assert_int_equal(f->log.admitted, 1);
    assert_int_equal(f->log.pid, getpid());
    assert_int_equal(f->log.uid, (uint32_t)geteuid());
}

void test_endpoint_accept_filter_refusal_reaches_the_connector_with_its_rule(void **state)
{
    ep_fixture *f = *state;
    f->log.refuse = true;
    ep_listen(f);
    assert_int_equal(ep_connect(f, &f->conn), 0);
    assert_true(support_run_until_count(f->loop, &f->log.lost, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(f->log.error, SEAM_EACCES);
    assert_string_equal(f->log.rule, "filter");
    assert_int_equal(f->log.connected, 0);
    assert_int_equal(f->log.requests, 0);
}

void test_connect_through_a_closed_endpoint_fails_with_enotfound(void **state)
{
    ep_fixture *f = *state;
    ep_listen(f);
    int fd = fcntl(seam_endpoint_fd(f->server), F_DUPFD_CLOEXEC, 0);
    assert_true(fd >= 0);
    seam_server_close(f->server);
    f->server = NULL;
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect_endpoint(f->loop, fd, NULL, &c), SEAM_ENOTFOUND);
    close(fd);
}

void test_connect_through_a_descriptor_that_is_no_endpoint_fails_with_enotendpoint(void **state)
{
    ep_fixture *f = *state;
    seam_conn *c = NULL;
    int file = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(file >= 0);
    assert_int_equal(seam_conn_connect_endpoint(f->loop, file, NULL, &c), SEAM_ENOTENDPOINT);
    close(file);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(seam_conn_connect_endpoint(f->loop, sv[0], NULL, &c), SEAM_ENOTENDPOINT);
    close(sv[0]);
    close(sv[1]);
    assert_int_equal(seam_conn_connect_endpoint(f->loop, -1, NULL, &c), SEAM_EINVAL);
}

void test_named_server_has_no_endpoint(void **state)
{
    ep_fixture *f = *state;
    assert_int_equal(seam_server_listen(f->loop, EP_NAME, NULL, &f->server), 0);
    assert_int_equal(seam_endpoint_fd(f->server), SEAM_EINVAL);
    assert_int_equal(seam_endpoint_fd(NULL), SEAM_EINVAL);
}

/* A holder writes what no connector sends: bytes without a descriptor;
 * a connect byte with three descriptors; one with a pipe, or a stream
 * socket connected to nobody; a stream socket with the wrong byte, or two
 * bytes. Each
 * is dropped with all its descriptors closed (none is served as a peer),
 * and the next real connect is served. */
void test_rendezvous_garbage_and_extra_descriptors_are_dropped_and_closed(void **state)
{
    ep_fixture *f = *state;
    if (!EP_UNIX) {
        skip(); /* the in-process endpoint is a pipe nobody reads */
    }
    ep_listen(f);
    int ep = seam_endpoint_fd(f->server);
    int p[2];
    int sv[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int three[3] = {sv[1], sv[1], p[1]};
    assert_true(send(ep, "garbage", 7, MSG_NOSIGNAL) == 7);
    assert_true(rawpeer_send_with_fds(ep, "\x01", 1, three, 3));
    assert_true(rawpeer_send_with_fds(ep, "\x01", 1, &p[1], 1));
    assert_true(rawpeer_send_with_fds(ep, "\x02", 1, &sv[1], 1));
    assert_true(rawpeer_send_with_fds(ep, "\x01\x01", 2, &sv[1], 1));
    int lone = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); /* connected to nobody */
    assert_true(lone >= 0);
    assert_true(rawpeer_send_with_fds(ep, "\x01", 1, &lone, 1));
    close(lone);
    close(p[1]);
    close(sv[1]);
    assert_int_equal(ep_connect(f, &f->conn), 0);
    ep_call(f, f->conn, 7);
    assert_int_equal(f->log.admitted, 1);
    /* No copy of what was sent is left with the listener. */
    assert_true(rawpeer_wait_closed(p[0], SUPPORT_DEADLINE_MS));
    assert_true(rawpeer_wait_closed(sv[0], SUPPORT_DEADLINE_MS));
    close(p[0]);
    close(sv[0]);
}

/* A stream socket with an address at either end came from a named
 * server's connection, not from a socketpair() of the connector: its
 * credentials are those of whoever listened or connected there, lent by
 * the holder. Refused like garbage, and the named server's connection is
 * closed, not served. */
void test_rendezvous_refuses_a_socket_with_an_address_at_either_end(void **state)
{
    ep_fixture *f = *state;
    if (!EP_UNIX) {
        skip(); /* the in-process endpoint is a pipe nobody reads */
    }
    ep_listen(f);
    seam_server *named = NULL;
    assert_int_equal(seam_server_listen(f->loop, EP_NAME, NULL, &named), 0);
    int lent = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lent >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", seam_server_path(named));
    assert_int_equal(connect(lent, (struct sockaddr *)&sa, sizeof(sa)), 0);
    int bound[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, bound), 0);
    struct sockaddr_un ab = {.sun_family = AF_UNIX}; /* an abstract name */
    int n = snprintf(ab.sun_path + 1, sizeof(ab.sun_path) - 1, "seam-test-%d", (int)getpid());
    assert_int_equal(bind(bound[1], (struct sockaddr *)&ab,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)),
                     0);
    assert_true(rawpeer_send_with_fds(seam_endpoint_fd(f->server), "\x01", 1, &lent, 1));
    assert_true(rawpeer_send_with_fds(seam_endpoint_fd(f->server), "\x01", 1, &bound[1], 1));
    close(lent);
    close(bound[1]);
    assert_int_equal(ep_connect(f, &f->conn), 0);
    ep_call(f, f->conn, 7);
    assert_int_equal(f->log.admitted, 1);
    assert_true(rawpeer_wait_closed(bound[0], SUPPORT_DEADLINE_MS));
    close(bound[0]);
    seam_server_close(named);
}

static bool ep_has_peer(void *arg)
{
    return seam_server_peers(arg, NULL, 0) == 1;
}

/* The endpoint travels as an fd value in a message over a connection the
 * two already have (here one to a named server of this process). */
void test_endpoint_passed_in_a_message_connects_the_receiver(void **state)
{
    ep_fixture *f = *state;
    ep_listen(f);
    seam_server *named = NULL;
    assert_int_equal(seam_server_listen(f->loop, EP_NAME, NULL, &named), 0);
    seam_conn_config cfg = {.on_event = ep_client_event, .userdata = &f->log};
    assert_int_equal(seam_conn_connect(f->loop, EP_NAME, &cfg, &f->conn), 0);
    assert_true(support_run_until_count(f->loop, &f->log.connected, 1, SUPPORT_DEADLINE_MS));
    seam_value *m = seam_value_new_dict();
    seam_dict_set_take(m, "endpoint", seam_value_new_fd(seam_endpoint_fd(f->server)));
    /* The client's CONNECTED may come before the server's side is done. */
    assert_true(support_run_until(f->loop, ep_has_peer, named, SUPPORT_DEADLINE_MS));
    seam_conn *peer = NULL;
    assert_int_equal(seam_server_peers(named, &peer, 1), 1);
    assert_int_equal(seam_conn_send(peer, m), 0);
    seam_value_unref(m);
    assert_true(support_run_until_count(f->loop, &f->log.connected, 2, SUPPORT_DEADLINE_MS));
    assert_int_equal(f->log.error, 0);
    ep_call(f, f->log.taken, 9);
    seam_server_close(named);
}

/* The client keeps the endpoint: a connection the server ended is made
 * again through it on the next call, as a named client reconnects. */
void test_endpoint_client_reconnects_through_the_endpoint_after_the_server_drops_it(void **state)
{
    ep_fixture *f = *state;
    ep_listen(f);
    assert_int_equal(ep_connect(f, &f->conn), 0);
    ep_call(f, f->conn, 1);
    assert_true(support_run_until(f->loop, ep_has_peer, f->server, SUPPORT_DEADLINE_MS));
    seam_conn *peer = NULL;
    assert_int_equal(seam_server_peers(f->server, &peer, 1), 1);
    seam_conn_close(peer);
    assert_true(support_run_until_count(f->loop, &f->log.lost, 1, SUPPORT_DEADLINE_MS));
    ep_call(f, f->conn, 2);
    assert_int_equal(f->log.admitted, 2);
    assert_int_equal(f->log.requests, 2);
}
