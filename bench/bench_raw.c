/* SPDX-License-Identifier: MIT */
/* bench_raw.c - the baseline every other transport is compared with: a
 * blocking AF_UNIX stream socketpair. rtt: one process writes size bytes,
 * the other reads them and writes them back. tput: length-prefixed
 * messages packed into large writes; the receiver parses every length. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define BATCH    (256u << 10)
#define READ_MAX (4u << 20)

static int echo_child(const bench_opts *o, bench_child *self, void *arg)
{
    int *sv = arg;
    close(sv[0]);
    uint8_t *buf = malloc(o->size);
    if (buf == NULL) {
        return 1;
    }
    while (bench_read_full(sv[1], buf, o->size) == 0) {
        if (bench_write_full(sv[1], buf, o->size) < 0) {
            break;
        }
    }
    free(buf);
    return 0;
}

typedef struct echo_end {
    int fd;
    uint8_t *buf;
    size_t size;
} echo_end;

static int echo_round(void *arg)
{
    echo_end *e = arg;
    return bench_write_full(e->fd, e->buf, e->size) < 0 ||
                   bench_read_full(e->fd, e->buf, e->size) < 0
               ? -1
               : 0;
}

static int run_rtt(const bench_opts *o)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return 1;
    }
    bench_child child;
    if (bench_fork(o, &child, echo_child, sv) < 0) {
        return 1;
    }
    close(sv[1]);
    echo_end end = {sv[0], calloc(1, o->size), o->size};
    if (end.buf == NULL || bench_rtt_loop(o, "raw-unix", echo_round, &end) < 0) {
        return 1;
    }
    close(sv[0]);
    free(end.buf);
    return bench_wait(&child) == 0 ? 0 : 1;
}

/* ---- throughput ---- */

static int sink_child(const bench_opts *o, bench_child *self, void *arg)
{
    int *sv = arg;
    close(sv[0]);
    /* Large reads let the kernel copy whole large messages at once. */
    size_t cap = o->size + 4 > BATCH ? READ_MAX : BATCH;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) {
        return 1;
    }
    uint8_t hdr[4];
    size_t hdr_have = 0;
    size_t left = 0;    /* payload bytes of the current message still due */
    bool first = false; /* the next payload byte is the marker */
    uint64_t count = 0;
    for (;;) {
        ssize_t n = read(sv[1], buf, cap);
        if (n <= 0) {
            break;
        }
        const uint8_t *p = buf;
        size_t len = (size_t)n;
        while (len > 0) {
            if (left == 0) {
                size_t take = 4 - hdr_have < len ? 4 - hdr_have : len;
                memcpy(hdr + hdr_have, p, take);
                hdr_have += take;
                p += take;
                len -= take;
                if (hdr_have == 4) {
                    hdr_have = 0;
                    left = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 |
                           (size_t)hdr[3] << 24;
                    first = true;
                }
                continue;
            }
            if (first) {
                first = false;
                if (bench_tput_count(self, p[0], &count) < 0) {
                    return 1;
                }
            }
            size_t take = left < len ? left : len;
            left -= take;
            p += take;
            len -= take;
        }
    }
    free(buf);
    return 0;
}

typedef struct sender {
    int fd;
    size_t size;
    uint8_t *batch;
    size_t used;
    uint8_t *payload;
} sender;

static int put(sender *s, uint8_t mark)
{
    uint8_t hdr[4] = {(uint8_t)s->size, (uint8_t)(s->size >> 8), (uint8_t)(s->size >> 16),
                      (uint8_t)(s->size >> 24)};
    s->payload[0] = mark;
    if (4 + s->size > BATCH) {
        /* Large messages go out straight from the caller's memory. */
        if (s->used > 0 && bench_write_full(s->fd, s->batch, s->used) < 0) {
            return -1;
        }
        s->used = 0;
        struct iovec iov[2] = {{hdr, 4}, {s->payload, s->size}};
        size_t total = 4 + s->size;
        while (total > 0) {
            ssize_t n = writev(s->fd, iov, 2);
            if (n <= 0) {
                return -1;
            }
            total -= (size_t)n;
            for (int i = 0; i < 2; i++) {
                size_t d = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
                iov[i].iov_base = (uint8_t *)iov[i].iov_base + d;
                iov[i].iov_len -= d;
                n -= (ssize_t)d;
            }
        }
        return 0;
    }
    if (s->used + 4 + s->size > BATCH) {
        if (bench_write_full(s->fd, s->batch, s->used) < 0) {
            return -1;
        }
        s->used = 0;
    }
    memcpy(s->batch + s->used, hdr, 4);
    memcpy(s->batch + s->used + 4, s->payload, s->size);
    s->used += 4 + s->size;
    return 0;
}

static int send_run(void *arg, size_t n)
{
    sender *s = arg;
    for (size_t i = 0; i < n; i++) {
        if (put(s, BENCH_MARK_DATA) < 0) {
            return -1;
        }
    }
    if (put(s, BENCH_MARK_END) < 0) {
        return -1;
    }
    int r = s->used > 0 ? bench_write_full(s->fd, s->batch, s->used) : 0;
    s->used = 0;
    return r;
}

static int run_tput(const bench_opts *o)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return 1;
    }
    bench_child child;
    if (bench_fork(o, &child, sink_child, sv) < 0) {
        return 1;
    }
    close(sv[1]);
    sender s = {sv[0], o->size, malloc(BATCH), 0, calloc(1, o->size)};
    if (s.batch == NULL || s.payload == NULL) {
        return 1;
    }
    int r = bench_tput_drive(o, &child, "raw-unix", send_run, &s);
    close(sv[0]);
    free(s.batch);
    free(s.payload);
    return bench_wait(&child) == 0 && r == 0 ? 0 : 1;
}

int bench_raw_run(const bench_opts *o)
{
    return strcmp(o->kase, "tput") == 0 ? run_tput(o) : run_rtt(o);
}

#if !defined(BENCH_NO_MAIN)
int main(int argc, char **argv)
{
    return bench_main(argc, argv, bench_raw_run);
}
#endif
