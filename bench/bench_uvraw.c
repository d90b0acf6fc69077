/* SPDX-License-Identifier: MIT */
/* bench_uvraw.c - the libuv baseline: a non-blocking socketpair ping-pong
 * with a uv_poll_t on each side, so that the cost of the loop itself is
 * known apart from seam's. rtt only. */
#include "common.h"

#include <uv.h>

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct side {
    uv_poll_t poll;
    int fd;
    size_t size;
    uint8_t *buf;
    size_t have;
    bool client;
    bench_rtt *rtt;
    bool failed;
} side;

static int put(side *s)
{
    return bench_write_spin(s->fd, s->buf, s->size);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    side *s = h->data;
    if (status < 0) {
        s->failed = true;
        uv_poll_stop(h);
        return;
    }
    ssize_t n = read(s->fd, s->buf + s->have, s->size - s->have);
    if (n < 0 && errno == EAGAIN) {
        return;
    }
    if (n <= 0) {
        uv_poll_stop(h); /* the other side is done */
        return;
    }
    s->have += (size_t)n;
    if (s->have < s->size) {
        return;
    }
    s->have = 0;
    if (s->client) {
        if (bench_rtt_record(s->rtt)) {
            uv_poll_stop(h);
            return;
        }
        s->rtt->t0 = bench_now_ns();
    }
    if (put(s) < 0) {
        s->failed = true;
        uv_poll_stop(h);
    }
}

static int serve(side *s)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0 || uv_poll_init(&loop, &s->poll, s->fd) != 0) {
        return -1;
    }
    s->poll.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_readable);
    if (s->client) {
        s->rtt->t0 = bench_now_ns();
        if (put(s) < 0) {
            return -1;
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&s->poll, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return s->failed ? -1 : 0;
}

/* One side of the ping-pong: measures when given rtt, else echoes. */
static int serve_side(int fd, const bench_opts *o, bench_rtt *rtt)
{
    side s = {
        .fd = fd, .size = o->size, .buf = calloc(1, o->size), .client = rtt != NULL, .rtt = rtt};
    int r = s.buf != NULL ? serve(&s) : -1;
    free(s.buf);
    return r;
}

static int run(const bench_opts *o)
{
    return bench_pingpong(o, "raw-uv", serve_side);
}

int main(int argc, char **argv)
{
    return bench_main(argc, argv, run);
}
