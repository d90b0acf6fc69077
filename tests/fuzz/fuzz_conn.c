/* SPDX-License-Identifier: MIT */
/* fuzz_conn.c - a live server on arbitrary peer bytes: each input is what
 * a peer writes after connecting (hello included), over the in-process
 * transport's memory pipe, so no socket is made per input. The server
 * answers what it understands; whatever the bytes, it must end the
 * connection or keep serving - never crash, hang or leak - and a second,
 * well-behaved client must still get its echo afterwards. The peer is the
 * transport's own pipe, driven by hand (core/tran.h), and the server is
 * looked into (core/conn.h) to see that it let the connection go. */
#include <seam.h>
#include <seam/poll.h>

#include "conn.h"
#include "tran.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "inproc:fuzz.conn"

static seam_loop *loop;
static seam_server *server;

static void on_peer(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST && ev->raw) {
        seam_request_reply_raw(ev->request, ev->raw_id, ev->raw_bytes, ev->raw_len);
    } else if (ev->type == SEAM_EVENT_REQUEST) {
        seam_request_reply(ev->request, ev->value);
    } else if (ev->type == SEAM_EVENT_MESSAGE && !ev->raw) {
        seam_conn_send(conn, ev->value);
    }
}

static void teardown(void)
{
    seam_server_close(server);
    seam_loop_free(loop);
}

static void setup_once(void)
{
    if (loop != NULL) {
        return;
    }
    atexit(teardown);
    seam_server_config cfg = {.conn = {.on_event = on_peer, .handshake_timeout_ms = 50}};
    if (seam_poll_new(0, &loop) < 0 || seam_server_listen(loop, NAME, &cfg, &server) < 0) {
        abort();
    }
}

/* Reads and drops what the server sent (and closes any descriptor). */
static void drain(seam__pipe *p)
{
    static uint8_t buf[65536];
    int fds[SEAM__TRAN_MAX_RECV_FDS];
    for (;;) {
        size_t nfds = 0;
        bool truncated = false;
        ssize_t n =
            p->tran->recv(p, buf, sizeof(buf), fds, SEAM__TRAN_MAX_RECV_FDS, &nfds, &truncated);
        for (size_t i = 0; i < nfds; i++) {
            close(fds[i]);
        }
        if (n <= 0) {
            return;
        }
    }
}

static void serve_peer(const uint8_t *data, size_t size)
{
    seam__pipe *p = NULL;
    if (seam__tran_inproc.dial(NAME, &p) < 0) {
        abort();
    }
    size_t off = 0;
    /* Bounded: the handshake timeout ends a peer that stalls. */
    for (int i = 0; i < 2000 && off < size; i++) {
        struct iovec iov = {(void *)(data + off), size - off};
        ssize_t n = p->tran->sendv(p, &iov, 1, NULL, 0);
        if (n < 0 && n != SEAM_EAGAIN) {
            break; /* the server hung up on what it read so far */
        }
        off += n > 0 ? (size_t)n : 0;
        seam_poll_run_once(loop, 0);
        drain(p);
    }
    /* The peer is done: the server reads what is left, then the end, and
     * lets the connection go. */
    p->tran->hangup(p);
    for (int i = 0; i < 2000 && server->npeers > 0; i++) {
        seam_poll_run_once(loop, 5);
    }
    if (server->npeers > 0) {
        abort(); /* the server kept a connection whose peer is gone: a hang */
    }
    p->tran->close(p);
}

static int echoes;

static void on_echo(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    (void)userdata;
    echoes += r->status == 0;
}

/* A good client on the same loop still gets its answer. */
static void check_still_serving(void)
{
    seam_conn *c = NULL;
    if (seam_conn_connect(loop, NAME, NULL, &c) < 0) {
        abort();
    }
    int before = echoes;
    seam_value *v = seam_value_new_string("still there?");
    if (seam_conn_call(c, v, 5000, on_echo, NULL, NULL) < 0) {
        abort();
    }
    seam_value_unref(v);
    for (int i = 0; i < 1000 && echoes == before; i++) {
        seam_poll_run_once(loop, 5);
    }
    if (echoes != before + 1) {
        abort();
    }
    seam_conn_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    serve_peer(data, size);
    check_still_serving();
    return 0;
}
