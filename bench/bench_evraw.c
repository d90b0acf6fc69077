/* SPDX-License-Identifier: MIT */
/* bench_evraw.c - the libev baseline: a non-blocking socketpair ping-pong
 * with an ev_io on each side, so that the cost of the loop itself is
 * known apart from seam's. rtt only. */
#include "common.h"

#include <ev.h>

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct side {
    ev_io io;
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

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    side *s = w->data;
    ssize_t n = read(s->fd, s->buf + s->have, s->size - s->have);
    if (n < 0 && errno == EAGAIN) {
        return;
    }
    if (n <= 0) {
        ev_io_stop(loop, w); /* the other side is done */
        return;
    }
    s->have += (size_t)n;
    if (s->have < s->size) {
        return;
    }
    s->have = 0;
    if (s->client) {
        if (bench_rtt_record(s->rtt)) {
            ev_io_stop(loop, w);
            return;
        }
        s->rtt->t0 = bench_now_ns();
    }
    if (put(s) < 0) {
        s->failed = true;
        ev_io_stop(loop, w);
    }
}

static int serve(side *s)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    if (loop == NULL) {
        return -1;
    }
    ev_io_init(&s->io, on_readable, s->fd, EV_READ);
    s->io.data = s;
    ev_io_start(loop, &s->io);
    if (s->client) {
        s->rtt->t0 = bench_now_ns();
        if (put(s) < 0) {
            return -1;
        }
    }
    ev_run(loop, 0);
    ev_loop_destroy(loop);
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
    return bench_pingpong(o, "raw-ev", serve_side);
}

int main(int argc, char **argv)
{
    return bench_main(argc, argv, run);
}
