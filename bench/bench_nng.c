/* SPDX-License-Identifier: MIT */
/* bench_nng.c - nng over ipc://: rtt with pair0 (the peer echoes), tput
 * with push0/pull0. Messages carry the marker byte first; the receive size
 * limit is lifted so that 1 MiB messages pass. */
#include "common.h"

#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct peer_arg {
    const char *url;
    bool tput;
} peer_arg;

static int peer_child(const bench_opts *o, bench_child *self, void *arg)
{
    peer_arg *a = arg;
    nng_socket s;
    int r = a->tput ? nng_pull0_open(&s) : nng_pair0_open(&s);
    if (r == 0) {
        nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
        r = nng_listen(s, a->url, NULL, 0);
    }
    if (r != 0) {
        fprintf(stderr, "nng: listen %s: %s\n", a->url, nng_strerror(r));
        return 1;
    }
    bench_send_u64(self->report_fd, 0); /* listening */
    size_t cap = o->size + 16;
    uint8_t *buf = malloc(cap);
    uint64_t count = 0;
    int status = 0;
    for (;;) {
        size_t n = cap;
        r = nng_recv(s, buf, &n, 0);
        if (r != 0) {
            status = 1;
            break;
        }
        if (n == 0) {
            break; /* the sender is done */
        }
        if (!a->tput) {
            if (nng_send(s, buf, n, 0) != 0) {
                status = 1;
                break;
            }
            continue;
        }
        if (bench_tput_count(self, buf[0], &count) < 0) {
            status = 1;
            break;
        }
    }
    free(buf);
    nng_close(s);
    return status;
}

typedef struct sender {
    nng_socket s;
    uint8_t *payload;
    size_t size;
} sender;

static int send_run(void *arg, size_t n)
{
    sender *s = arg;
    s->payload[0] = BENCH_MARK_DATA;
    for (size_t i = 0; i < n; i++) {
        if (nng_send(s->s, s->payload, s->size, 0) != 0) {
            return -1;
        }
    }
    s->payload[0] = BENCH_MARK_END;
    return nng_send(s->s, s->payload, s->size, 0) != 0 ? -1 : 0;
}

static int run(const bench_opts *o)
{
    bool tput = strcmp(o->kase, "tput") == 0;
    char path[256];
    char url[300];
    bench_path(path, sizeof(path), "nng.ipc");
    snprintf(url, sizeof(url), "ipc://%s", path);
    peer_arg a = {url, tput};
    bench_child child;
    uint64_t ready;
    if (bench_fork(o, &child, peer_child, &a) < 0 || bench_recv_u64(child.report_fd, &ready) < 0) {
        return 1;
    }
    nng_socket s;
    int r = tput ? nng_push0_open(&s) : nng_pair0_open(&s);
    if (r == 0) {
        nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
        r = nng_dial(s, url, NULL, 0);
    }
    uint8_t *buf = calloc(1, o->size + 16);
    if (r != 0 || buf == NULL) {
        fprintf(stderr, "nng: dial %s: %s\n", url, nng_strerror(r));
        return 1;
    }
    int status = 0;
    if (tput) {
        sender snd = {s, buf, o->size};
        status = bench_tput_drive(o, &child, "nng", send_run, &snd) < 0;
    } else {
        bench_rtt rtt;
        if (bench_rtt_init(&rtt, o) < 0) {
            return 1;
        }
        bool done = false;
        while (!done) {
            rtt.t0 = bench_now_ns();
            size_t n = o->size + 16;
            if (nng_send(s, buf, o->size, 0) != 0 || nng_recv(s, buf, &n, 0) != 0) {
                return 1;
            }
            done = bench_rtt_record(&rtt);
        }
        bench_rtt_emit(&rtt, o, "nng");
        bench_rtt_free(&rtt);
    }
    nng_send(s, buf, 0, 0); /* tells the peer to stop */
    /* nng_close may drop what is queued: wait for the peer instead. */
    if (bench_wait(&child) != 0) {
        status = 1;
    }
    nng_close(s);
    free(buf);
    return status;
}

int main(int argc, char **argv)
{
    return bench_main(argc, argv, run);
}
