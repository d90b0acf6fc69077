/* SPDX-License-Identifier: MIT */
/* bench_fanout.c - one seam server (poll adapter, this process) with many
 * clients in forked processes. --case idle: the server's memory per idle
 * connection (resident set and heap growth divided by the clients, after
 * every handshake is done, and again after one 64-byte call on each). --case broadcast: the time
 * from seam_server_broadcast_raw() until every client has the message. */
#include "common.h"

#include <seam.h>
#include <seam/poll.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT_PROCS 4 /* broadcast: clients spread over this many processes */

/* ---- the clients (children) ---- */

typedef struct clients {
    bench_child *self;
    unsigned want; /* connections in this process */
    unsigned connected;
    unsigned lost;
    unsigned got;     /* broadcast messages this round */
    unsigned replies; /* idle: answers to the one call each */
    bool failed;
} clients;

static void on_reply(seam_conn *conn, const seam_reply *reply, void *userdata)
{
    clients *cl = userdata;
    if (reply->status != 0) {
        cl->failed = true;
    }
    cl->replies++;
}

static void client_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    clients *cl = userdata;
    switch (ev->type) {
    case SEAM_EVENT_CONNECTED:
        cl->connected++;
        break;
    case SEAM_EVENT_MESSAGE:
        if (++cl->got == cl->want) {
            cl->got = 0;
            if (bench_tput_report(cl->self, cl->want) < 0) {
                cl->failed = true;
            }
        }
        break;
    case SEAM_EVENT_INTERRUPTED:
    case SEAM_EVENT_INVALID:
        cl->lost++;
        break;
    default:
        break;
    }
}

typedef struct child_arg {
    const char *name;
    unsigned count;
    bool idle; /* wait for the parent instead of serving broadcasts */
} child_arg;

static int clients_child(const bench_opts *o, bench_child *self, void *arg)
{
    child_arg *a = arg;
    bench_raise_nofile(2 * (long)a->count + 64);
    seam_loop *loop;
    if (seam_poll_new(0, &loop) < 0) {
        return 1;
    }
    clients cl = {.self = self, .want = a->count};
    seam_conn_config cfg = {.on_event = client_event, .userdata = &cl};
    seam_conn **conns = calloc(a->count, sizeof(*conns));
    if (conns == NULL) {
        return 1;
    }
    for (unsigned i = 0; i < a->count; i++) {
        int r;
        /* A full backlog: let the server accept, then try again. */
        while ((r = seam_conn_connect(loop, a->name, &cfg, &conns[i])) == SEAM_EAGAIN) {
            seam_poll_run_once(loop, 1);
        }
        if (r < 0) {
            fprintf(stderr, "fanout: connect #%u: %s\n", i, seam_strerror(r));
            return 1;
        }
        if (i % 256 == 255) {
            seam_poll_run_once(loop, 0);
        }
    }
    while (cl.connected < a->count && cl.lost == 0) {
        seam_poll_run_once(loop, -1);
    }
    bench_send_u64(self->report_fd, cl.connected); /* ready */
    if (a->idle) {
        uint64_t cmd;
        if (bench_recv_u64(self->control_fd, &cmd) == 0) {
            /* One call on every connection, then idle again. */
            uint8_t payload[64] = {0};
            for (unsigned i = 0; i < a->count && !cl.failed; i++) {
                if (seam_conn_call_raw(conns[i], 1, payload, sizeof(payload), SEAM_NO_TIMEOUT,
                                       on_reply, &cl, NULL) < 0) {
                    cl.failed = true;
                }
            }
            while (cl.replies < a->count && !cl.failed && cl.lost == 0) {
                seam_poll_run_once(loop, -1);
            }
            bench_send_u64(self->report_fd, cl.replies);
            bench_recv_u64(self->control_fd, &cmd); /* EOF when the parent is done */
        }
    } else {
        while (cl.lost < a->count && !cl.failed) {
            seam_poll_run_once(loop, -1);
        }
    }
    seam_loop_free(loop);
    free(conns);
    return cl.failed ? 1 : 0;
}

/* ---- the server (parent) ---- */

typedef struct server {
    unsigned connected;
    unsigned requests;
} server;

static void server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    server *s = userdata;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        s->connected++;
    } else if (ev->type == SEAM_EVENT_REQUEST) {
        s->requests++;
        seam_request_reply_raw(ev->request, ev->raw_id, ev->raw_bytes, ev->raw_len);
    }
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f == NULL) {
        return -1;
    }
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) {
        resident = -1;
    }
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static double heap_bytes(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 mi = mallinfo2();
    return (double)(mi.uordblks + mi.hblkhd);
#else
    return -1;
#endif
}

static int listen_server(seam_loop **loop, seam_server **srv, server *s, const char *name,
                         unsigned max)
{
    if (seam_poll_new(0, loop) < 0) {
        return -1;
    }
    seam_server_config cfg = {.conn = {.on_event = server_event, .userdata = s},
                              .max_conns = max + 16};
    int r = seam_server_listen(*loop, name, &cfg, srv);
    if (r < 0) {
        fprintf(stderr, "fanout: listen: %s\n", seam_strerror(r));
        return -1;
    }
    return 0;
}

static int run_idle(const bench_opts *o, const char *name)
{
    unsigned n = o->clients != 0 ? o->clients : 10000;
    /* Each peer holds one descriptor, its socket (a pidfd is made only on
     * request through seam_conn_pidfd(), which this case never makes). */
    long need = (long)n + 64;
    long limit = bench_raise_nofile(need);
    if (limit >= 0 && need > limit) {
        unsigned fit = (unsigned)(limit - 64);
        fprintf(stderr, "fanout: RLIMIT_NOFILE %ld holds %u clients, not %u: measuring %u\n", limit,
                fit, n, fit);
        n = fit;
    }
    seam_loop *loop;
    seam_server *srv;
    server s = {0};
    if (listen_server(&loop, &srv, &s, name, n) < 0) {
        return 1;
    }
    long rss0 = rss_bytes();
    double heap0 = heap_bytes();
    child_arg a = {name, n, true};
    bench_child child;
    if (bench_fork(o, &child, clients_child, &a) < 0) {
        return 1;
    }
    while (s.connected < n) {
        seam_poll_run_once(loop, 100);
        if (!bench_child_alive(&child)) {
            fprintf(stderr, "fanout: the clients gave up at %u of %u\n", s.connected, n);
            return 1;
        }
    }
    long rss1 = rss_bytes();
    double heap1 = heap_bytes();
    uint64_t ready, replies = 0;
    bench_recv_u64(child.report_fd, &ready);
    bench_send_u64(child.control_fd, 1); /* one call on each connection */
    while (s.requests < n && bench_child_alive(&child)) {
        seam_poll_run_once(loop, 100);
    }
    bench_recv_u64(child.report_fd, &replies);
    long rss2 = rss_bytes();
    double heap2 = heap_bytes();
    char kase[32];
    snprintf(kase, sizeof(kase), "idle_%u", n);
    bench_emit(kase, "seam-poll", 0, o->placement, "rss_bytes_per_conn", (double)(rss1 - rss0) / n,
               -1, -1, 1);
    bench_emit(kase, "seam-poll", 0, o->placement, "rss_total_MiB",
               (double)(rss1 - rss0) / (1 << 20), -1, -1, 1);
    if (heap0 >= 0) {
        bench_emit(kase, "seam-poll", 0, o->placement, "heap_bytes_per_conn", (heap1 - heap0) / n,
                   -1, -1, 1);
    }
    if (replies == n) {
        bench_emit(kase, "seam-poll", 0, o->placement, "rss_bytes_per_conn_after_call",
                   (double)(rss2 - rss0) / n, -1, -1, 1);
        if (heap0 >= 0) {
            bench_emit(kase, "seam-poll", 0, o->placement, "heap_bytes_per_conn_after_call",
                       (heap2 - heap0) / n, -1, -1, 1);
        }
    } else {
        fprintf(stderr, "fanout: %llu of %u calls answered\n", (unsigned long long)replies, n);
    }
    seam_server_close(srv);
    seam_loop_free(loop);
    return bench_wait(&child) == 0 ? 0 : 1;
}

static bool all_flushed(seam_server *srv, seam_conn **peers, unsigned n)
{
    size_t got = seam_server_peers(srv, peers, n);
    for (size_t i = 0; i < got && i < n; i++) {
        seam_conn_stats st;
        seam_conn_get_stats(peers[i], &st);
        if (st.queued_bytes > 0) {
            return false;
        }
    }
    return true;
}

static int run_broadcast(const bench_opts *o, const char *name)
{
    unsigned n = o->clients != 0 ? o->clients : 1000;
    bench_raise_nofile(2 * (long)n + 64);
    seam_loop *loop;
    seam_server *srv;
    server s = {0};
    if (listen_server(&loop, &srv, &s, name, n) < 0) {
        return 1;
    }
    bench_child kids[CLIENT_PROCS];
    child_arg args[CLIENT_PROCS];
    for (unsigned k = 0; k < CLIENT_PROCS; k++) {
        args[k] = (child_arg){name, n / CLIENT_PROCS + (k < n % CLIENT_PROCS), false};
        if (bench_fork(o, &kids[k], clients_child, &args[k]) < 0) {
            return 1;
        }
    }
    while (s.connected < n) {
        seam_poll_run_once(loop, 100);
        for (unsigned k = 0; k < CLIENT_PROCS; k++) {
            if (!bench_child_alive(&kids[k])) {
                fprintf(stderr, "fanout: clients gave up at %u of %u\n", s.connected, n);
                return 1;
            }
        }
    }
    for (unsigned k = 0; k < CLIENT_PROCS; k++) {
        uint64_t ready;
        if (bench_recv_u64(kids[k].report_fd, &ready) < 0) {
            return 1;
        }
    }
    unsigned warmup = 5;
    unsigned rounds = o->quick ? 30 : 200;
    double *us = calloc(rounds, sizeof(double));
    seam_conn **peers = calloc(n, sizeof(*peers));
    if (us == NULL || peers == NULL) {
        return 1;
    }
    size_t size = o->size;
    uint8_t *payload = calloc(1, size > 0 ? size : 1);
    if (payload == NULL) {
        return 1;
    }
    /* What one broadcast adds to the heap until it is written: one copy per
     * peer, or one for all. */
    long long queued = 0;
    for (unsigned i = 0; i < warmup + rounds; i++) {
        size_t skipped = 0;
        struct mallinfo2 m0 = mallinfo2();
        uint64_t t0 = bench_now_ns();
        int r = seam_server_broadcast_raw(srv, 0, payload, size, &skipped);
        struct mallinfo2 m1 = mallinfo2();
        long long grew =
            (long long)(m1.uordblks + m1.hblkhd) - (long long)(m0.uordblks + m0.hblkhd);
        queued = grew > queued ? grew : queued;
        if (r != (int)n || skipped != 0) {
            fprintf(stderr, "fanout: broadcast reached %d of %u\n", r, n);
            return 1;
        }
        /* Whatever a socket did not take at once goes out from the loop. */
        while (!all_flushed(srv, peers, n)) {
            seam_poll_run_once(loop, 10);
        }
        uint64_t last = 0;
        for (unsigned k = 0; k < CLIENT_PROCS; k++) {
            uint64_t t, got;
            if (bench_recv_u64(kids[k].report_fd, &t) < 0 ||
                bench_recv_u64(kids[k].report_fd, &got) < 0) {
                return 1;
            }
            last = t > last ? t : last;
        }
        if (i >= warmup) {
            us[i - warmup] = (double)(last - t0) / 1000.0;
        }
    }
    double p99 = bench_percentile(us, rounds, 99);
    double med = bench_percentile(us, rounds, 50);
    char kase[32];
    snprintf(kase, sizeof(kase), "broadcast_%u", n);
    bench_emit(kase, "seam-poll", size, o->placement, "median_us", med, us[0], us[rounds - 1],
               rounds);
    bench_emit(kase, "seam-poll", size, o->placement, "p99_us", p99, -1, -1, rounds);
    bench_emit(kase, "seam-poll", size, o->placement, "queued_heap_MiB",
               (double)queued / (1024.0 * 1024.0), -1, -1, rounds);
    free(payload);
    free(us);
    free(peers);
    seam_server_close(srv);
    seam_loop_free(loop);
    int status = 0;
    for (unsigned k = 0; k < CLIENT_PROCS; k++) {
        if (bench_wait(&kids[k]) != 0) {
            status = 1;
        }
    }
    return status;
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (bench_parse(argc, argv, &o) < 0) {
        return 2;
    }
    char path[256];
    char name[300];
    bench_path(path, sizeof(path), "fanout.sock");
    snprintf(name, sizeof(name), "unix:%s", path);
    int r = strcmp(o.kase, "broadcast") == 0 ? run_broadcast(&o, name) : run_idle(&o, name);
    bench_cleanup();
    return r;
}
