/* SPDX-License-Identifier: MIT */
/* bench_doorbell.c - the floor under a shared-memory round trip whose
 * peers sleep: a doorbell each way and nothing else (no ring, no frames),
 * each side waiting in poll(), draining what woke it and ringing back.
 * One row per kind of doorbell: a Unix socket pair, a pipe, an eventfd.
 * Only --case rtt; --size is ignored. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BELL_SOCKET, BELL_PIPE, BELL_EVENTFD, BELL_KINDS };

static const char *const bell_names[BELL_KINDS] = {"doorbell-socketpair", "doorbell-pipe",
                                                   "doorbell-eventfd"};

typedef struct bell {
    int kind;
    int rd; /* waited on */
    int wr; /* rung */
} bell;

static int bell_make(int kind, bell *b)
{
    int two[2];
    b->kind = kind;
    int r;
    if (kind == BELL_SOCKET) {
        r = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, two);
    } else if (kind == BELL_PIPE) {
        r = pipe2(two, O_NONBLOCK | O_CLOEXEC);
    } else {
        two[0] = two[1] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        r = two[0] < 0 ? -1 : 0;
    }
    b->rd = two[0];
    b->wr = two[1];
    return r;
}

static void bell_ring(const bell *b)
{
    uint64_t one = 1;
    if (b->kind == BELL_SOCKET) {
        (void)!send(b->wr, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
        (void)!write(b->wr, &one, b->kind == BELL_EVENTFD ? sizeof(one) : 1);
    }
}

static int bell_wait(const bell *b)
{
    struct pollfd p = {b->rd, POLLIN, 0};
    if (poll(&p, 1, -1) != 1) {
        return -1;
    }
    uint8_t junk[64];
    return read(b->rd, junk, b->kind == BELL_EVENTFD ? sizeof(uint64_t) : sizeof(junk)) > 0 ? 0
                                                                                            : -1;
}

typedef struct bells {
    bell ping;
    bell pong;
    size_t total;
} bells;

static int bell_echo(const bench_opts *o, bench_child *self, void *arg)
{
    (void)o;
    (void)self;
    bells *b = arg;
    for (size_t i = 0; i < b->total; i++) {
        if (bell_wait(&b->ping) < 0) {
            return 1;
        }
        bell_ring(&b->pong);
    }
    return 0;
}

static int bell_run(const bench_opts *o, int kind)
{
    bells b;
    bench_rtt rtt;
    if (bell_make(kind, &b.ping) < 0 || bell_make(kind, &b.pong) < 0 ||
        bench_rtt_init(&rtt, o) < 0) {
        return 1;
    }
    b.total = bench_rtt_total(&rtt);
    bench_child child;
    if (bench_fork(o, &child, bell_echo, &b) < 0) {
        return 1;
    }
    int status = 0;
    for (size_t i = 0; i < b.total && status == 0; i++) {
        rtt.t0 = bench_now_ns();
        bell_ring(&b.ping);
        status = bell_wait(&b.pong) < 0;
        bench_rtt_record(&rtt);
    }
    if (bench_wait(&child) != 0) {
        status = 1;
    }
    if (status == 0) {
        bench_rtt_emit(&rtt, o, bell_names[kind]);
    }
    bench_rtt_free(&rtt);
    return status;
}

static int run(const bench_opts *o)
{
    if (strcmp(o->kase, "rtt") != 0) {
        fprintf(stderr, "bench_doorbell: only --case rtt\n");
        return 2;
    }
    int status = 0;
    for (int kind = 0; kind < BELL_KINDS; kind++) {
        status |= bell_run(o, kind);
    }
    return status;
}

int main(int argc, char **argv)
{
    return bench_main(argc, argv, run);
}
