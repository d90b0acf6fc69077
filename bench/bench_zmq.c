/* SPDX-License-Identifier: MIT */
/* bench_zmq.c - ZeroMQ over ipc://: rtt with a PAIR socket pair (the peer
 * echoes), tput with PUSH/PULL at the library's default high-water marks.
 * Messages carry the marker byte first. */
#include "common.h"

#include <zmq.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct peer_arg {
    const char *url;
    int type;
} peer_arg;

static void *open_socket(void *ctx, int type, const char *url, bool bind)
{
    void *s = zmq_socket(ctx, type);
    int zero = 0;
    if (s == NULL) {
        return NULL;
    }
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    if ((bind ? zmq_bind(s, url) : zmq_connect(s, url)) != 0) {
        fprintf(stderr, "zmq: %s %s: %s\n", bind ? "bind" : "connect", url,
                zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static int peer_child(const bench_opts *o, bench_child *self, void *arg)
{
    peer_arg *a = arg;
    void *ctx = zmq_ctx_new();
    void *s = open_socket(ctx, a->type, a->url, true);
    if (s == NULL) {
        return 1;
    }
    bench_send_u64(self->report_fd, 0); /* bound */
    size_t cap = o->size + 16;
    uint8_t *buf = malloc(cap);
    uint64_t count = 0;
    int status = 0;
    for (;;) {
        int n = zmq_recv(s, buf, cap, 0);
        if (n < 0) {
            status = 1;
            break;
        }
        if (a->type == ZMQ_PAIR) {
            if (n == 0) {
                break; /* the client is done */
            }
            if (zmq_send(s, buf, (size_t)n, 0) < 0) {
                status = 1;
                break;
            }
            continue;
        }
        if (n == 0) {
            break;
        }
        if (bench_tput_count(self, buf[0], &count) < 0) {
            status = 1;
            break;
        }
    }
    free(buf);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return status;
}

typedef struct sender {
    void *s;
    uint8_t *payload;
    size_t size;
} sender;

static int send_run(void *arg, size_t n)
{
    sender *s = arg;
    s->payload[0] = BENCH_MARK_DATA;
    for (size_t i = 0; i < n; i++) {
        if (zmq_send(s->s, s->payload, s->size, 0) < 0) {
            return -1;
        }
    }
    s->payload[0] = BENCH_MARK_END;
    return zmq_send(s->s, s->payload, s->size, 0) < 0 ? -1 : 0;
}

static int run(const bench_opts *o)
{
    bool tput = strcmp(o->kase, "tput") == 0;
    char path[256];
    char url[300];
    bench_path(path, sizeof(path), "zmq.ipc");
    snprintf(url, sizeof(url), "ipc://%s", path);
    peer_arg a = {url, tput ? ZMQ_PULL : ZMQ_PAIR};
    bench_child child;
    uint64_t ready;
    if (bench_fork(o, &child, peer_child, &a) < 0 || bench_recv_u64(child.report_fd, &ready) < 0) {
        return 1;
    }
    void *ctx = zmq_ctx_new();
    void *s = open_socket(ctx, tput ? ZMQ_PUSH : ZMQ_PAIR, url, false);
    uint8_t *buf = calloc(1, o->size + 16);
    if (s == NULL || buf == NULL) {
        return 1;
    }
    int status = 0;
    if (tput) {
        sender snd = {s, buf, o->size};
        status = bench_tput_drive(o, &child, "zeromq", send_run, &snd) < 0;
        zmq_send(s, "", 0, 0); /* tells the receiver to stop */
    } else {
        bench_rtt rtt;
        if (bench_rtt_init(&rtt, o) < 0) {
            return 1;
        }
        bool done = false;
        while (!done) {
            rtt.t0 = bench_now_ns();
            if (zmq_send(s, buf, o->size, 0) < 0 || zmq_recv(s, buf, o->size + 16, 0) < 0) {
                return 1;
            }
            done = bench_rtt_record(&rtt);
        }
        bench_rtt_emit(&rtt, o, "zeromq");
        bench_rtt_free(&rtt);
        zmq_send(s, "", 0, 0);
    }
    /* Let the stop message out before the socket goes (linger is 0). */
    int linger = 1000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_close(s);
    zmq_ctx_term(ctx);
    free(buf);
    if (bench_wait(&child) != 0) {
        status = 1;
    }
    return status;
}

int main(int argc, char **argv)
{
    return bench_main(argc, argv, run);
}
