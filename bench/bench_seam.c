/* SPDX-License-Identifier: MIT */
/* bench_seam.c - seam itself, on one adapter chosen at build time (poll by
 * default, BENCH_UV or BENCH_EV): a server in a forked process, a client
 * in this one. rtt: raw calls answered with the same bytes. tput: one-way
 * raw messages (or, with --typed, 3-key dictionaries), sent from inside a
 * loop callback so that they are written in batches - or, with --direct,
 * from plain code outside any callback - honouring SEAM_EAGAIN by running
 * the loop until SEAM_EVENT_WRITABLE. --nocopy sends raw messages with
 * seam_conn_send_raw_nocopy() (the payload stays untouched while seam
 * holds it). --timeout gives each call a timeout, as most programs would.
 *
 * Built with BENCH_COUNT_ALLOCS (bench_alloc), the program replaces
 * malloc, calloc and realloc with counting forwarders to glibc's allocator
 * - every allocation in the process, seam's, libcbor's and libc's own -
 * and reports allocations per message or call over the measured runs
 * instead of times. */
#include "common.h"

#include <seam.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(BENCH_UV)
#include <seam/uv.h>
#include <uv.h>
#define TRANSPORT "seam-uv"
#elif defined(BENCH_EV)
#include <ev.h>
#include <seam/ev.h>
#define TRANSPORT "seam-ev"
#else
#include <seam/poll.h>
#define TRANSPORT "seam-poll"
#endif

/* ---- counting allocations ---- */

#if defined(BENCH_COUNT_ALLOCS)
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);

static uint64_t allocations;

void *malloc(size_t size)
{
    allocations++;
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    allocations++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    allocations++;
    return __libc_realloc(p, size);
}
#else
static uint64_t allocations;
#endif

/* ---- the host loop ---- */

typedef struct backend {
    seam_loop *loop;
#if defined(BENCH_UV)
    uv_loop_t uv;
#elif defined(BENCH_EV)
    struct ev_loop *ev;
#endif
} backend;

static int backend_open(backend *b)
{
#if defined(BENCH_UV)
    if (uv_loop_init(&b->uv) != 0) {
        return -1;
    }
    return seam_uv_attach(&b->uv, 0, &b->loop) == 0 ? 0 : -1;
#elif defined(BENCH_EV)
    b->ev = ev_loop_new(EVFLAG_AUTO);
    if (b->ev == NULL) {
        return -1;
    }
    return seam_ev_attach(b->ev, 0, &b->loop) == 0 ? 0 : -1;
#else
    return seam_poll_new(0, &b->loop) == 0 ? 0 : -1;
#endif
}

static void backend_run_once(backend *b)
{
#if defined(BENCH_UV)
    uv_run(&b->uv, UV_RUN_ONCE);
#elif defined(BENCH_EV)
    ev_run(b->ev, EVRUN_ONCE);
#else
    seam_poll_run_once(b->loop, -1);
#endif
}

static void backend_close(backend *b)
{
    seam_loop_free(b->loop);
#if defined(BENCH_UV)
    uv_run(&b->uv, UV_RUN_DEFAULT);
    uv_loop_close(&b->uv);
#elif defined(BENCH_EV)
    ev_loop_destroy(b->ev);
#endif
}

static const char *transport_name(const bench_opts *o)
{
    if (o->timeout_ms > 0) {
        return TRANSPORT "-timeout";
    }
    if (o->typed) {
        return o->direct ? TRANSPORT "-typed-direct" : TRANSPORT "-typed";
    }
    if (o->nocopy) {
        return o->direct ? TRANSPORT "-nocopy-direct" : TRANSPORT "-nocopy";
    }
    return o->direct ? TRANSPORT "-direct" : TRANSPORT;
}

/* ---- the server (child) ---- */

typedef struct server {
    bench_child *self;
    uint64_t requests; /* rtt: requests answered */
    uint64_t warmup;   /* ... before counting allocations */
    uint64_t allocs0;
    double per_msg; /* allocations per message or request, last run */
    bool gone;      /* the client left */
    bool failed;
    uint64_t count;
} server;

static void server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    server *s = userdata;
    switch (ev->type) {
    case SEAM_EVENT_REQUEST:
        if (++s->requests == s->warmup) {
            s->allocs0 = allocations;
        }
        if (ev->raw) {
            seam_request_reply_raw(ev->request, ev->raw_id, ev->raw_bytes, ev->raw_len);
        } else {
            seam_request_reply(ev->request, ev->value);
        }
        break;
    case SEAM_EVENT_MESSAGE: {
        bool end;
        if (ev->raw) {
            end = ev->raw_id == BENCH_MARK_END;
        } else {
            /* A receiver reads what it was sent. */
            int64_t seq = 0;
            size_t len = 0;
            const seam_value *body = seam_dict_get(ev->value, "body");
            if (!seam_dict_get_int64(ev->value, "seq", &seq) ||
                seam_dict_get_string(ev->value, "kind") == NULL ||
                seam_value_get_data(body, &len) == NULL) {
                s->failed = true;
            }
            end = seq < 0;
        }
        if (end) {
            s->per_msg = (double)(allocations - s->allocs0) / (double)(s->count ? s->count : 1);
            if (bench_tput_report(s->self, s->count) < 0) {
                s->failed = true;
            }
            s->count = 0;
            s->allocs0 = allocations;
        } else {
            s->count++;
        }
        break;
    }
    case SEAM_EVENT_INVALID:
        s->gone = true;
        break;
    default:
        break;
    }
}

static int server_child(const bench_opts *o, bench_child *self, void *arg)
{
    const char *name = arg;
    backend b;
    if (backend_open(&b) < 0) {
        return 1;
    }
    server s = {.self = self};
    bench_rtt shape;
    if (bench_rtt_init(&shape, o) < 0) {
        return 1;
    }
    s.warmup = shape.warmup;
    bench_rtt_free(&shape);
    seam_server_config cfg = {
        .conn = {.on_event = server_event, .userdata = &s, .shm_ring = o->shm_ring}};
    seam_server *srv;
    int r = seam_server_listen(b.loop, name, &cfg, &srv);
    if (r < 0) {
        fprintf(stderr, "listen: %s\n", seam_strerror(r));
        return 1;
    }
    bench_send_u64(self->report_fd, 0); /* ready */
    while (!s.gone && !s.failed) {
        backend_run_once(&b);
    }
    if (o->quiet) {
        bool rtt = strcmp(o->kase, "rtt") == 0;
        if (rtt) {
            s.per_msg = (double)(allocations - s.allocs0) / (double)(s.requests - s.warmup);
        }
        bench_emit("allocs", transport_name(o), o->size, o->placement,
                   rtt ? "server_per_call" : "receiver_per_msg", s.per_msg, -1, -1, 1);
    }
    seam_server_close(srv);
    backend_close(&b);
    return s.failed ? 1 : 0;
}

/* ---- the client (parent) ---- */

typedef struct client {
    const bench_opts *o;
    backend b;
    seam_conn *conn;
    bool connected;
    bool lost;
    bool writable;
    int failed;
    /* tput */
    bool running; /* a run is being sent */
    size_t remaining;
    uint8_t *payload;
    seam_value *dict;
    /* rtt */
    bench_rtt rtt;
    bool rtt_done;
    uint64_t allocs0;
    double per_msg;       /* allocations per message or call, whole process */
    uint64_t send_allocs; /* ... inside seam_conn_send*() */
    double send_per_msg;
    uint64_t lent;     /* --nocopy: payloads handed to seam */
    uint64_t released; /* ... and given back */
} client;

static void on_release(const void *bytes, void *userdata)
{
    client *c = userdata;
    c->released++;
}

static void client_event(seam_conn *conn, const seam_event *ev, void *userdata);

static int send_one(client *c, bool end)
{
    int r;
    if (c->o->typed) {
        r = seam_dict_set_int64(c->dict, "seq", end ? -1 : (int64_t)c->remaining);
        if (r < 0) {
            return r;
        }
    }
    uint64_t before = allocations;
    if (c->o->typed) {
        r = seam_conn_send(c->conn, c->dict);
    } else if (c->o->nocopy) {
        r = seam_conn_send_raw_nocopy(c->conn, end ? BENCH_MARK_END : BENCH_MARK_DATA, c->payload,
                                      c->o->size, on_release, c);
        c->lent += r == 0;
    } else {
        r = seam_conn_send_raw(c->conn, end ? BENCH_MARK_END : BENCH_MARK_DATA, c->payload,
                               c->o->size);
    }
    c->send_allocs += allocations - before;
    return r;
}

/* Sends until the run is out or the queue is full. */
static void pump(client *c)
{
    while (c->running) {
        bool end = c->remaining == 0;
        int r = send_one(c, end);
        if (r == SEAM_EAGAIN) {
            return; /* SEAM_EVENT_WRITABLE follows */
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
    switch (ev->type) {
    case SEAM_EVENT_CONNECTED:
        c->connected = true;
        break;
    case SEAM_EVENT_WRITABLE:
        c->writable = true;
        if (!c->o->direct) {
            pump(c);
        }
        break;
    case SEAM_EVENT_INTERRUPTED:
    case SEAM_EVENT_INVALID:
        c->lost = true;
        break;
    default:
        break;
    }
}

static int send_run(void *arg, size_t n)
{
    client *c = arg;
    uint64_t allocs0 = allocations;
    c->send_allocs = 0;
    c->remaining = n;
    c->running = true;
    if (c->o->direct) {
        while (c->running && !c->lost) {
            bool end = c->remaining == 0;
            int r = send_one(c, end);
            if (r == SEAM_EAGAIN) {
                c->writable = false;
                while (!c->writable && !c->lost) {
                    backend_run_once(&c->b);
                }
                continue;
            }
            if (r < 0) {
                c->failed = r;
                break;
            }
            if (end) {
                c->running = false;
            } else {
                c->remaining--;
            }
        }
    } else if (seam_loop_post(c->b.loop, pump_posted, c) < 0) {
        return -1;
    }
    /* Everything handed to the kernel: the receiver can finish alone. */
    seam_conn_stats st;
    for (;;) {
        seam_conn_get_stats(c->conn, &st);
        if ((!c->running && st.queued_bytes == 0) || c->failed != 0 || c->lost) {
            break;
        }
        backend_run_once(&c->b);
    }
    if (c->failed != 0 || c->lost) {
        fprintf(stderr, TRANSPORT ": send failed: %s\n", seam_strerror(c->failed));
        return -1;
    }
    c->per_msg = (double)(allocations - allocs0) / (double)n;
    c->send_per_msg = (double)c->send_allocs / (double)n;
    return 0;
}

static void on_reply(seam_conn *conn, const seam_reply *reply, void *userdata);

static int call_next(client *c)
{
    c->rtt.t0 = bench_now_ns();
    int timeout = c->o->timeout_ms > 0 ? c->o->timeout_ms : SEAM_NO_TIMEOUT;
    return seam_conn_call_raw(c->conn, 7, c->payload, c->o->size, timeout, on_reply, c, NULL);
}

static void on_reply(seam_conn *conn, const seam_reply *reply, void *userdata)
{
    client *c = userdata;
    if (reply->status != 0 || reply->raw_len != c->o->size) {
        c->failed = reply->status != 0 ? reply->status : SEAM_EPROTO;
        return;
    }
    if (bench_rtt_record(&c->rtt)) {
        c->rtt_done = true;
        c->per_msg = (double)(allocations - c->allocs0) / (double)(c->rtt.count - c->rtt.warmup);
        return;
    }
    if (c->rtt.count == c->rtt.warmup) {
        c->allocs0 = allocations;
    }
    int r = call_next(c);
    if (r < 0) {
        c->failed = r;
    }
}

int bench_seam_run(const bench_opts *o)
{
    char path[256];
    char name[300];
    bench_path(path, sizeof(path), "seam.sock");
    snprintf(name, sizeof(name), "unix:%s", path);
    bench_child child;
    if (bench_fork(o, &child, server_child, name) < 0) {
        return 1;
    }
    uint64_t ready;
    if (bench_recv_u64(child.report_fd, &ready) < 0) {
        return 1;
    }
    client c = {.o = o};
    c.payload = calloc(1, o->size);
    if (c.payload == NULL || backend_open(&c.b) < 0) {
        return 1;
    }
    seam_conn_config cfg = {.on_event = client_event,
                            .userdata = &c,
                            .max_queue = o->max_queue,
                            .shm_ring = o->shm_ring};
    int r = seam_conn_connect(c.b.loop, name, &cfg, &c.conn);
    if (r < 0) {
        fprintf(stderr, "connect: %s\n", seam_strerror(r));
        return 1;
    }
    while (!c.connected && !c.lost) {
        backend_run_once(&c.b);
    }
    const char *transport = transport_name(o);
    int status = 0;
    if (strcmp(o->kase, "tput") == 0) {
        c.dict = seam_value_new_dict();
        if (c.dict == NULL || seam_dict_set_int64(c.dict, "seq", 0) < 0 ||
            seam_dict_set_string(c.dict, "kind", "bench") < 0 ||
            seam_dict_set_data(c.dict, "body", c.payload, o->size) < 0) {
            return 1;
        }
        status = bench_tput_drive(o, &child, transport, send_run, &c) < 0;
        seam_value_unref(c.dict);
        if (o->quiet && status == 0) {
            bench_emit("allocs", transport, o->size, o->placement, "sender_per_msg", c.per_msg, -1,
                       -1, 1);
            bench_emit("allocs", transport, o->size, o->placement, "in_send_call_per_msg",
                       c.send_per_msg, -1, -1, 1);
        }
    } else {
        if (bench_rtt_init(&c.rtt, o) < 0 || call_next(&c) < 0) {
            return 1;
        }
        while (!c.rtt_done && c.failed == 0 && !c.lost) {
            backend_run_once(&c.b);
        }
        if (c.rtt_done) {
            bench_rtt_emit(&c.rtt, o, transport);
            if (o->quiet) {
                bench_emit("allocs", transport, o->size, o->placement, "client_per_call", c.per_msg,
                           -1, -1, 1);
            }
        } else {
            fprintf(stderr, TRANSPORT ": call failed: %s\n", seam_strerror(c.failed));
            status = 1;
        }
        bench_rtt_free(&c.rtt);
    }
    seam_conn_close(c.conn);
    backend_close(&c.b);
    if (c.released != c.lent) {
        fprintf(stderr, TRANSPORT ": %llu payloads lent, %llu released\n",
                (unsigned long long)c.lent, (unsigned long long)c.released);
        status = 1;
    }
    free(c.payload);
    if (bench_wait(&child) != 0) {
        status = 1;
    }
    return status;
}

#if !defined(BENCH_NO_MAIN)
int main(int argc, char **argv)
{
    bench_opts o;
    if (bench_parse(argc, argv, &o) < 0) {
        return 2;
    }
#if defined(BENCH_COUNT_ALLOCS)
    o.quiet = true;
#endif
    int r = bench_seam_run(&o);
    bench_cleanup();
    return r;
}
#endif
