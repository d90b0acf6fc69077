/* SPDX-License-Identifier: MIT */
/* bench_inproc.c - seam over its in-process transport ("inproc:NAME") on
 * poll loops: the server (or receiver) on a second thread pinned as the
 * placement says (same: both threads on CPU 0; split: CPU 0 and 1) -
 * reported as "seam-inproc" - or, with --one-loop, on the client's own loop
 * and thread ("seam-inproc-1loop"). rtt: raw calls answered with the same
 * bytes, one at a time, each issued from the previous reply's callback
 * (also reported as calls_per_s). tput: one-way raw messages sent from
 * loop callbacks, honouring SEAM_EAGAIN, as bench_seam does. Its rows sit
 * beside raw-unix of the same run in bench.md. */
#include "common.h"

#include <seam.h>
#include <seam/poll.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME "inproc:bench"

static bool one_loop;

/* ---- the peer: echoes requests, counts messages ---- */

typedef struct peer {
    const bench_opts *o;
    bench_child self; /* report_fd: where a run's count goes */
    uint64_t count;
    atomic_uint runs; /* end markers counted (runs reported) */
    atomic_bool stop;
    atomic_bool ready;
    int failed;
    seam_loop *loop;
    seam_server *server;
} peer;

static void peer_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    peer *p = userdata;
    (void)conn;
    if (ev->type == SEAM_EVENT_REQUEST) {
        if (seam_request_reply_raw(ev->request, ev->raw_id, ev->raw_bytes, ev->raw_len) < 0) {
            p->failed = 1;
        }
    } else if (ev->type == SEAM_EVENT_MESSAGE && ev->raw) {
        if (bench_tput_count(&p->self, (uint8_t)ev->raw_id, &p->count) < 0) {
            p->failed = 1;
        }
        if (ev->raw_id == BENCH_MARK_END) {
            atomic_fetch_add(&p->runs, 1);
        }
    }
}

static int peer_listen(peer *p, seam_loop *loop)
{
    seam_server_config cfg = {.conn = {.on_event = peer_event, .userdata = p}};
    int r = seam_server_listen(loop, NAME, &cfg, &p->server);
    if (r < 0) {
        fprintf(stderr, "listen: %s\n", seam_strerror(r));
    }
    return r;
}

static void *peer_main(void *arg)
{
    peer *p = arg;
    bench_pin(bench_peer_cpu(p->o));
    if (seam_poll_new(0, &p->loop) < 0 || peer_listen(p, p->loop) < 0) {
        p->failed = 1;
        atomic_store(&p->ready, true);
        return NULL;
    }
    atomic_store(&p->ready, true);
    while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
        seam_poll_run_once(p->loop, 20);
    }
    seam_server_close(p->server);
    seam_loop_free(p->loop);
    return NULL;
}

/* ---- the client ---- */

typedef struct client {
    const bench_opts *o;
    seam_loop *loop;
    seam_conn *conn;
    bool connected;
    int failed;
    uint8_t *payload;
    /* rtt */
    bench_rtt rtt;
    bool rtt_done;
    uint64_t t_measured; /* when the first measured call went out */
    /* tput */
    bool running;
    size_t remaining;
} client;

static void on_reply(seam_conn *conn, const seam_reply *r, void *userdata);

static void call_next(client *c)
{
    c->rtt.t0 = bench_now_ns();
    if (c->rtt.count == c->rtt.warmup) {
        c->t_measured = c->rtt.t0;
    }
    int r =
        seam_conn_call_raw(c->conn, 1, c->payload, c->o->size, SEAM_NO_TIMEOUT, on_reply, c, NULL);
    if (r < 0) {
        c->failed = r;
    }
}

static void on_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    client *c = userdata;
    (void)conn;
    if (r->status != 0 || r->raw_len != c->o->size) {
        c->failed = r->status != 0 ? r->status : SEAM_EPROTO;
        return;
    }
    if (bench_rtt_record(&c->rtt)) {
        c->rtt_done = true;
        return;
    }
    call_next(c);
}

/* Sends until the run is out or the queue is full (WRITABLE resumes). */
static void pump(client *c)
{
    while (c->running) {
        bool end = c->remaining == 0;
        int r = seam_conn_send_raw(c->conn, end ? BENCH_MARK_END : BENCH_MARK_DATA, c->payload,
                                   c->o->size);
        if (r == SEAM_EAGAIN) {
            return;
        }
        if (r < 0) {
            c->failed = r;
            c->running = false;
            return;
        }
        if (end) {
            c->running = false;
        } else {
            c->remaining--;
        }
    }
}

static void pump_posted(void *arg)
{
    pump(arg);
}

static void client_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    client *c = userdata;
    (void)conn;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        c->connected = true;
    } else if (ev->type == SEAM_EVENT_WRITABLE) {
        pump(c);
    } else if (ev->type == SEAM_EVENT_INTERRUPTED || ev->type == SEAM_EVENT_INVALID) {
        c->failed = ev->error;
    }
}

typedef struct tput_ctx {
    client *c;
    peer *p;
} tput_ctx;

/* One run: n messages and the end marker, sent from loop callbacks; the
 * loop runs until the receiver has counted the marker (and reported the
 * run through its pipe, which bench_tput_drive reads). */
static int send_run(void *arg, size_t n)
{
    tput_ctx *t = arg;
    client *c = t->c;
    unsigned runs = atomic_load(&t->p->runs);
    c->remaining = n;
    c->running = true;
    if (seam_loop_post(c->loop, pump_posted, c) < 0) {
        return -1;
    }
    while (atomic_load(&t->p->runs) == runs && c->failed == 0 && t->p->failed == 0) {
        seam_poll_run_once(c->loop, 10);
    }
    return c->failed == 0 && t->p->failed == 0 ? 0 : -1;
}

static const char *transport(void)
{
    return one_loop ? "seam-inproc-1loop" : "seam-inproc";
}

static int run(const bench_opts *o)
{
    bench_pin(0);
    int fds[2];
    if (pipe(fds) < 0) {
        return 1;
    }
    peer p = {.o = o, .self = {.report_fd = fds[1]}};
    bench_child reader = {.pid = 0, .report_fd = fds[0], .control_fd = -1};
    client c = {.o = o};
    c.payload = calloc(1, o->size);
    pthread_t tid;
    if (c.payload == NULL || seam_poll_new(0, &c.loop) < 0) {
        return 1;
    }
    if (one_loop) {
        if (peer_listen(&p, c.loop) < 0) {
            return 1;
        }
    } else {
        if (pthread_create(&tid, NULL, peer_main, &p) != 0) {
            return 1;
        }
        while (!atomic_load(&p.ready)) {
            usleep(100);
        }
        if (p.failed) {
            return 1;
        }
    }
    seam_conn_config cfg = {.on_event = client_event, .userdata = &c, .max_queue = o->max_queue};
    int r = seam_conn_connect(c.loop, NAME, &cfg, &c.conn);
    while (r == 0 && !c.connected && c.failed == 0) {
        seam_poll_run_once(c.loop, 10);
    }
    int status = 0;
    if (r < 0 || c.failed != 0) {
        fprintf(stderr, "%s: connect: %s\n", transport(), seam_strerror(r < 0 ? r : c.failed));
        status = 1;
    } else if (strcmp(o->kase, "rtt") == 0) {
        bench_watchdog(transport(), 120);
        if (bench_rtt_init(&c.rtt, o) < 0) {
            return 1;
        }
        call_next(&c);
        while (!c.rtt_done && c.failed == 0) {
            seam_poll_run_once(c.loop, 10);
        }
        uint64_t t_end = bench_now_ns();
        if (c.failed != 0) {
            fprintf(stderr, "%s: call: %s\n", transport(), seam_strerror(c.failed));
            status = 1;
        } else {
            bench_rtt_emit(&c.rtt, o, transport());
            double s = (double)(t_end - c.t_measured) / 1e9;
            bench_emit("rtt", transport(), o->size, o->placement, "calls_per_s",
                       (double)(c.rtt.per_run * c.rtt.runs) / s, -1, -1, 1);
        }
        bench_rtt_free(&c.rtt);
    } else {
        tput_ctx t = {&c, &p};
        status = bench_tput_drive(o, &reader, transport(), send_run, &t) < 0 ? 1 : 0;
    }
    seam_conn_close(c.conn);
    if (one_loop) {
        seam_server_close(p.server);
    } else {
        atomic_store(&p.stop, true);
        pthread_join(tid, NULL);
    }
    seam_loop_free(c.loop);
    free(c.payload);
    close(fds[0]);
    close(fds[1]);
    return status;
}

int main(int argc, char **argv)
{
    /* --one-loop is this program's own: taken out before the common
     * options are parsed. */
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--one-loop") == 0) {
            one_loop = true;
        } else {
            argv[n++] = argv[i];
        }
    }
    return bench_main(n, argv, run);
}
