/* SPDX-License-Identifier: MIT */
/* bench_shm.c - seam's shared-memory path between two processes against
 * what it stands on, in one run for one placement. Rows: raw AF_UNIX
 * (bench_raw.c's cases), a bare ring in a memfd with a doorbell (the
 * floor, no seam code), seam over the negotiated rings and seam kept on
 * the socket (bench_seam.c's cases, the latter with SEAM_NO_SHM=1) and,
 * when built with its C binding, classic iceoryx (publishers and
 * subscribers of a RouDi daemon started here and stopped at the end).
 * Cases: 64 B call round trip, 64 B one-way messages/s, 1 MiB one-way
 * MB/s. Each case of each row runs in a process of its own. Result lines
 * go to stdout (transports "shm-..."); the side-by-side table, with the
 * ratios to raw and the targets, to stderr. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(BENCH_ICEORYX)
#include <iceoryx_binding_c/enums.h>
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/notification_info.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <iceoryx_binding_c/types.h>
#include <iceoryx_binding_c/wait_set.h>
#include <sched.h>
#endif

/* A message marker beyond common.h's: the receiver leaves. */
#define MARK_QUIT 2

/* ---- the floor: a bare ring in a memfd ----
 *
 * One direction: a single-producer single-consumer ring of records (u32
 * length, u32 "last piece of a message", then the bytes padded to 8), in
 * the same layout and with the same doorbell handshake as seam's rings
 * (docs/protocol.md, "Shared memory"): the reader publishes "about to
 * wait" and looks again before it sleeps on its doorbell, the writer
 * rings only when it finds the flag set; the writer waiting for room
 * likewise. Doorbells are socket pairs, as seam's. Nothing is checked:
 * both ends trust each other. */

#define FLOOR_CAP     (256u << 10) /* seam's default ring */
#define FLOOR_HDR     4096u
#define FLOOR_TAIL    64u
#define FLOOR_RWAIT   128u
#define FLOOR_HEAD    192u
#define FLOOR_WWAIT   256u
#define FLOOR_REC     8u
/* A record at most a quarter of the ring: on two CPUs the reader copies
 * one out while the writer fills the next. */
#define FLOOR_REC_MAX (FLOOR_CAP / 4)
/* A stream of small messages is published (the index stored, the flag
 * looked at) once per this many bytes, as a socket writer batches its
 * writes; a message that ends a run, and a side about to sleep, publish
 * at once. */
#define FLOOR_PUBLISH (16u << 10)
/* The spinning variant polls this long before it publishes that it
 * sleeps (0: it never polls, as seam's rings). */
static uint64_t floor_spin_ns;

typedef struct floor_ring {
    uint8_t *base;  /* header page, then FLOOR_CAP data bytes */
    uint64_t pos;   /* ours: the writer's tail or the reader's head */
    uint64_t peer;  /* the other index as last loaded (each load may miss the cache) */
    uint64_t shown; /* pos as last published */
    int bell[2];    /* data doorbell: the writer rings [0], the reader sleeps on [1] */
    int room[2];    /* room doorbell: the reader rings [0], the writer sleeps on [1] */
} floor_ring;

static _Atomic uint64_t *floor_u64(const floor_ring *r, size_t off)
{
    return (_Atomic uint64_t *)(void *)(r->base + off);
}

static _Atomic uint32_t *floor_u32(const floor_ring *r, size_t off)
{
    return (_Atomic uint32_t *)(void *)(r->base + off);
}

#define FLOOR_SLEEP_MAX_S 10 /* a sleep of the bare ring, at most */

static int floor_open(floor_ring *r)
{
    *r = (floor_ring){0};
    int fd = memfd_create("bench-ring", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, FLOOR_HDR + FLOOR_CAP) < 0) {
        return -1;
    }
    void *p = mmap(NULL, FLOOR_HDR + FLOOR_CAP, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd); /* the mapping stays, and is shared across fork() */
    if (p == MAP_FAILED || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->bell) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->room) < 0) {
        return -1;
    }
    /* Both processes hold both ends, so a peer that died never reads as
     * end of file: a sleep is bounded instead (a lost wake-up or a dead
     * peer fails the run rather than waiting for the watchdog). */
    struct timeval most = {FLOOR_SLEEP_MAX_S, 0};
    if (setsockopt(r->bell[1], SOL_SOCKET, SO_RCVTIMEO, &most, sizeof(most)) < 0 ||
        setsockopt(r->room[1], SOL_SOCKET, SO_RCVTIMEO, &most, sizeof(most)) < 0) {
        return -1;
    }
    r->base = p;
    return 0;
}

static int floor_sleep(int fd)
{
    char b;
    ssize_t n;
    do {
        n = recv(fd, &b, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        fprintf(stderr, "bare ring: no wake-up within %d s\n", FLOOR_SLEEP_MAX_S);
    }
    return n == 1 ? 0 : -1;
}

/* Clears the sleeper's flag and rings if it was set. */
static void floor_wake(const floor_ring *r, size_t flag, int fd)
{
    _Atomic uint32_t *f = floor_u32(r, flag);
    if (atomic_load_explicit(f, memory_order_relaxed) != 0 &&
        atomic_exchange_explicit(f, 0, memory_order_relaxed) != 0) {
        char b = 0;
        ssize_t n = send(fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)n; /* full: bytes are already waiting, the sleeper wakes anyway */
    }
}

static void floor_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause");
#endif
}

/* Polls (when spinning), then publishes flag, looks again (ready() true:
 * no sleep), else sleeps. */
static int floor_wait(floor_ring *r, size_t flag, int fd, bool (*ready)(floor_ring *))
{
    if (floor_spin_ns > 0) {
        uint64_t until = bench_now_ns() + floor_spin_ns;
        for (unsigned i = 1;; i++) {
            if (ready(r)) {
                return 0;
            }
            floor_pause();
            if (i % 64 == 0 && bench_now_ns() > until) {
                break;
            }
        }
    }
    _Atomic uint32_t *f = floor_u32(r, flag);
    atomic_store_explicit(f, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    int rc = ready(r) ? 0 : floor_sleep(fd);
    atomic_store_explicit(f, 0, memory_order_relaxed);
    return rc;
}

static uint64_t floor_free(floor_ring *r)
{
    r->peer = atomic_load_explicit(floor_u64(r, FLOOR_HEAD), memory_order_acquire);
    return FLOOR_CAP - (r->pos - r->peer);
}

static bool floor_has_room(floor_ring *r)
{
    return floor_free(r) >= FLOOR_REC + 8;
}

static bool floor_has_data(floor_ring *r)
{
    r->peer = atomic_load_explicit(floor_u64(r, FLOOR_TAIL), memory_order_acquire);
    return r->peer != r->pos;
}

static uint8_t *floor_at(const floor_ring *r, uint64_t at)
{
    return r->base + FLOOR_HDR + (at & (FLOOR_CAP - 1));
}

/* Stores our index (tail or head) and rings the other side if it sleeps. */
static void floor_publish(floor_ring *r, size_t index, size_t flag, int fd)
{
    if (r->shown != r->pos) {
        r->shown = r->pos;
        atomic_store_explicit(floor_u64(r, index), r->pos, memory_order_release);
        atomic_thread_fence(memory_order_seq_cst);
        floor_wake(r, flag, fd);
    }
}

/* Writes one message, in as many records as the free space takes; flush:
 * published at once. */
static int floor_write(floor_ring *r, const uint8_t *msg, size_t len, bool flush)
{
    size_t off = 0;
    while (off < len) {
        uint64_t free_bytes = FLOOR_CAP - (r->pos - r->peer);
        if (free_bytes < FLOOR_REC + 8) {
            free_bytes = floor_free(r);
        }
        if (free_bytes < FLOOR_REC + 8) {
            floor_publish(r, FLOOR_TAIL, FLOOR_RWAIT, r->bell[0]);
            if (floor_wait(r, FLOOR_WWAIT, r->room[1], floor_has_room) < 0) {
                return -1;
            }
            continue;
        }
        size_t take = (size_t)((free_bytes - FLOOR_REC) & ~(uint64_t)7);
        take = take < FLOOR_REC_MAX ? take : FLOOR_REC_MAX;
        take = take < len - off ? take : len - off;
        uint64_t at = r->pos + FLOOR_REC;
        size_t first = FLOOR_CAP - (size_t)(at & (FLOOR_CAP - 1));
        first = first < take ? first : take;
        memcpy(floor_at(r, at), msg + off, first);
        memcpy(floor_at(r, at + first), msg + off + first, take - first);
        off += take;
        uint64_t hdr = (uint64_t)take | (uint64_t)(off == len) << 32;
        atomic_store_explicit((_Atomic uint64_t *)(void *)floor_at(r, r->pos), hdr,
                              memory_order_relaxed);
        r->pos += FLOOR_REC + ((take + 7) & ~(size_t)7);
        if (flush || r->pos - r->shown >= FLOOR_PUBLISH) {
            floor_publish(r, FLOOR_TAIL, FLOOR_RWAIT, r->bell[0]);
        }
    }
    return 0;
}

/* Reads one message into buf; returns its length or -1. */
static ssize_t floor_read(floor_ring *r, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        if (r->peer == r->pos && !floor_has_data(r)) {
            floor_publish(r, FLOOR_HEAD, FLOOR_WWAIT, r->room[0]);
            if (floor_wait(r, FLOOR_RWAIT, r->bell[1], floor_has_data) < 0) {
                return -1;
            }
            continue;
        }
        uint64_t hdr = atomic_load_explicit((_Atomic uint64_t *)(void *)floor_at(r, r->pos),
                                            memory_order_relaxed);
        size_t len = (uint32_t)hdr;
        if (got + len > cap) {
            return -1;
        }
        uint64_t at = r->pos + FLOOR_REC;
        size_t first = FLOOR_CAP - (size_t)(at & (FLOOR_CAP - 1));
        first = first < len ? first : len;
        memcpy(buf + got, floor_at(r, at), first);
        memcpy(buf + got + first, floor_at(r, at + first), len - first);
        got += len;
        r->pos += FLOOR_REC + ((len + 7) & ~(size_t)7);
        if (r->pos - r->shown >= FLOOR_PUBLISH) {
            floor_publish(r, FLOOR_HEAD, FLOOR_WWAIT, r->room[0]);
        }
        if ((hdr >> 32) != 0) {
            return (ssize_t)got;
        }
    }
}

typedef struct floor_pair {
    floor_ring out; /* parent to child */
    floor_ring back;
    uint8_t *buf;
    size_t size;
} floor_pair;

static int floor_echo(const bench_opts *o, bench_child *self, void *arg)
{
    floor_pair *p = arg;
    for (;;) {
        ssize_t n = floor_read(&p->out, p->buf, p->size);
        if (n <= 0 || p->buf[0] == BENCH_MARK_END) {
            return n <= 0;
        }
        if (floor_write(&p->back, p->buf, (size_t)n, true) < 0) {
            return 1;
        }
    }
}

static int floor_sink(const bench_opts *o, bench_child *self, void *arg)
{
    floor_pair *p = arg;
    uint64_t count = 0;
    for (;;) {
        ssize_t n = floor_read(&p->out, p->buf, p->size);
        if (n <= 0 || p->buf[0] == MARK_QUIT) {
            return n <= 0;
        }
        if (bench_tput_count(self, p->buf[0], &count) < 0) {
            return 1;
        }
    }
}

typedef struct floor_sender {
    floor_pair *p;
    uint8_t *msg;
} floor_sender;

/* A data message of a stream is published with the next batch. */
static int floor_send_one(floor_sender *s, uint8_t mark, bool flush)
{
    s->msg[0] = mark;
    return floor_write(&s->p->out, s->msg, s->p->size, flush);
}

static int floor_send_run(void *arg, size_t n)
{
    floor_sender *s = arg;
    for (size_t i = 0; i < n; i++) {
        if (floor_send_one(s, BENCH_MARK_DATA, false) < 0) {
            return -1;
        }
    }
    return floor_send_one(s, BENCH_MARK_END, true);
}

static int floor_round(void *arg)
{
    floor_sender *s = arg;
    floor_pair *p = s->p;
    return floor_send_one(s, BENCH_MARK_DATA, true) < 0 ||
                   floor_read(&p->back, p->buf, p->size) != (ssize_t)p->size
               ? -1
               : 0;
}

static int floor_run(const bench_opts *o)
{
    floor_pair p = {.size = o->size, .buf = malloc(o->size)};
    floor_sender s = {&p, calloc(1, o->size)};
    if (p.buf == NULL || s.msg == NULL || floor_open(&p.out) < 0 || floor_open(&p.back) < 0) {
        return 1;
    }
    bool rtt = strcmp(o->kase, "rtt") == 0;
    bench_child child;
    if (bench_fork(o, &child, rtt ? floor_echo : floor_sink, &p) < 0) {
        return 1;
    }
    int status = 0;
    if (rtt) {
        status = bench_rtt_loop(o, "floor", floor_round, &s) < 0;
        floor_send_one(&s, BENCH_MARK_END, true);
    } else {
        status = bench_tput_drive(o, &child, "floor", floor_send_run, &s) < 0;
        floor_send_one(&s, MARK_QUIT, true);
    }
    if (bench_wait(&child) != 0) {
        status = 1;
    }
    free(p.buf);
    free(s.msg);
    return status;
}

#define FLOOR_SPIN_NS 20000u

static int floor_spin_run(const bench_opts *o)
{
    floor_spin_ns = FLOOR_SPIN_NS;
    return floor_run(o);
}

/* ---- seam, over the rings and on the socket ---- */

static int rings_run(const bench_opts *o)
{
    unsetenv("SEAM_NO_SHM");
    return bench_seam_run(o);
}

static int socket_run(const bench_opts *o)
{
    setenv("SEAM_NO_SHM", "1", 1);
    return bench_seam_run(o);
}

/* ---- classic iceoryx through its C binding ---- */

#if defined(BENCH_ICEORYX)

#define ICE_SERVICE "seam-bench"

/* The daemon's memory: small chunks for the 64 B cases, 64 of 1 MiB (and
 * their headers) for the large one, whose subscriber queue is kept short:
 * with a queue of 8 a blocked publisher still ran out of 64 chunks. */
static const char ice_config[] = "[general]\nversion = 1\n\n[[segment]]\n\n"
                                 "[[segment.mempool]]\nsize = 128\ncount = 10000\n\n"
                                 "[[segment.mempool]]\nsize = 1049600\ncount = 64\n";
#define ICE_QUEUE_SMALL 256u
#define ICE_QUEUE_LARGE 2u

typedef struct ice_sub {
    iox_sub_storage_t storage;
    iox_sub_t sub;
    iox_ws_storage_t ws_storage;
    iox_ws_t ws;
} ice_sub;

typedef struct ice_pub {
    iox_pub_storage_t storage;
    iox_pub_t pub;
} ice_pub;

static void ice_runtime(const char *role)
{
    char name[64];
    snprintf(name, sizeof(name), "seam-bench-%s-%d", role, (int)getpid());
    iox_set_loglevel(Iceoryx_LogLevel_Warn);
    iox_runtime_init(name);
}

/* Ends an iceoryx process with exit(), not _exit(): the runtime's socket
 * files are removed by its destructors. */
static _Noreturn void ice_exit(int status)
{
    iox_runtime_shutdown();
    fflush(stdout);
    exit(status);
}

static int ice_sub_open(ice_sub *s, const char *event, size_t size)
{
    iox_sub_options_t opt;
    iox_sub_options_init(&opt);
    opt.queueCapacity = size > 4096 ? ICE_QUEUE_LARGE : ICE_QUEUE_SMALL;
    opt.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
    s->sub = iox_sub_init(&s->storage, ICE_SERVICE, "bench", event, &opt);
    s->ws = iox_ws_init(&s->ws_storage);
    return iox_ws_attach_subscriber_state(s->ws, s->sub, SubscriberState_HAS_DATA, 0, NULL) ==
                   WaitSetResult_SUCCESS
               ? 0
               : -1;
}

static void ice_sub_close(ice_sub *s)
{
    iox_ws_detach_subscriber_state(s->ws, s->sub, SubscriberState_HAS_DATA);
    iox_ws_deinit(s->ws);
    iox_sub_deinit(s->sub);
}

static void ice_pub_open(ice_pub *p, const char *event)
{
    iox_pub_options_t opt;
    iox_pub_options_init(&opt);
    opt.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
    p->pub = iox_pub_init(&p->storage, ICE_SERVICE, "bench", event, &opt);
}

static void ice_nap(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

/* Waits (up to 10 s) until the publisher has a subscriber and, if sub is
 * given, sub is subscribed to a publisher. */
static int ice_connected(ice_pub *p, ice_sub *s)
{
    for (int i = 0; i < 10000; i++) {
        bool pub_ok = p == NULL || iox_pub_has_subscribers(p->pub);
        bool sub_ok =
            s == NULL || iox_sub_get_subscription_state(s->sub) == SubscribeState_SUBSCRIBED;
        if (pub_ok && sub_ok) {
            return 0;
        }
        ice_nap();
    }
    fprintf(stderr, "iceoryx: publisher and subscriber did not meet\n");
    return -1;
}

/* The longest wait for a chunk, or for a chunk to loan: a peer that died
 * (RouDi runs without monitoring, so nothing reclaims what it held) fails
 * the run instead of holding it until the watchdog. */
#define ICE_WAIT_MAX_S 10

/* The next chunk, sleeping in the wait set while there is none (at most
 * ICE_WAIT_MAX_S in all). */
static const uint8_t *ice_take(ice_sub *s)
{
    uint64_t until = bench_now_ns() + (uint64_t)ICE_WAIT_MAX_S * 1000000000u;
    for (;;) {
        const void *chunk = NULL;
        ENUM iox_ChunkReceiveResult r = iox_sub_take_chunk(s->sub, &chunk);
        if (r == ChunkReceiveResult_SUCCESS) {
            return chunk;
        }
        uint64_t now = bench_now_ns();
        if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE || now >= until) {
            if (now >= until) {
                fprintf(stderr, "iceoryx: no chunk within %d s\n", ICE_WAIT_MAX_S);
            }
            return NULL;
        }
        iox_notification_info_t info[1];
        uint64_t missed = 0;
        uint64_t left = until - now;
        struct timespec most = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
        iox_ws_timed_wait(s->ws, most, info, 1, &missed);
    }
}

/* Loans a chunk, writes bytes (mark first) into it and publishes it. */
static int ice_send(ice_pub *p, const uint8_t *bytes, size_t len, uint8_t mark)
{
    void *chunk = NULL;
    uint64_t until = 0;
    for (;;) {
        ENUM iox_AllocationResult r = iox_pub_loan_chunk(p->pub, &chunk, (uint32_t)len);
        if (r == AllocationResult_SUCCESS) {
            break;
        }
        if (r != AllocationResult_RUNNING_OUT_OF_CHUNKS) {
            return -1;
        }
        uint64_t now = bench_now_ns();
        if (until == 0) {
            until = now + (uint64_t)ICE_WAIT_MAX_S * 1000000000u;
        } else if (now >= until) {
            fprintf(stderr, "iceoryx: no chunk to loan within %d s\n", ICE_WAIT_MAX_S);
            return -1;
        }
        sched_yield();
    }
    memcpy(chunk, bytes, len);
    *(uint8_t *)chunk = mark;
    iox_pub_publish_chunk(p->pub, chunk);
    return 0;
}

static int ice_echo(const bench_opts *o, bench_child *self, void *arg)
{
    ice_runtime("pong");
    ice_sub ping;
    ice_pub pong;
    if (ice_sub_open(&ping, "ping", o->size) < 0) {
        return 1;
    }
    ice_pub_open(&pong, "pong");
    int status = 1;
    for (;;) {
        const uint8_t *m = ice_take(&ping);
        if (m == NULL) {
            break;
        }
        uint8_t mark = m[0];
        int r = mark == BENCH_MARK_END ? 0 : ice_send(&pong, m, o->size, mark);
        iox_sub_release_chunk(ping.sub, m);
        if (r < 0 || mark == BENCH_MARK_END) {
            status = r < 0;
            break;
        }
    }
    iox_pub_deinit(pong.pub);
    ice_sub_close(&ping);
    ice_exit(status);
}

static int ice_sink(const bench_opts *o, bench_child *self, void *arg)
{
    ice_runtime("sink");
    ice_sub data;
    if (ice_sub_open(&data, "data", o->size) < 0) {
        return 1;
    }
    uint64_t count = 0;
    int status = 1;
    for (;;) {
        const uint8_t *m = ice_take(&data);
        if (m == NULL) {
            break;
        }
        uint8_t mark = m[0];
        iox_sub_release_chunk(data.sub, m);
        if (mark == MARK_QUIT) {
            status = 0;
            break;
        }
        if (bench_tput_count(self, mark, &count) < 0) {
            break;
        }
    }
    ice_sub_close(&data);
    ice_exit(status);
}

typedef struct ice_sender {
    ice_pub pub;
    ice_sub *pong; /* round trips: where the answers come */
    const uint8_t *payload;
    size_t size;
} ice_sender;

static int ice_round(void *arg)
{
    ice_sender *s = arg;
    if (ice_send(&s->pub, s->payload, s->size, BENCH_MARK_DATA) < 0) {
        return -1;
    }
    const uint8_t *m = ice_take(s->pong);
    if (m == NULL) {
        return -1;
    }
    iox_sub_release_chunk(s->pong->sub, m);
    return 0;
}

static int ice_send_run(void *arg, size_t n)
{
    ice_sender *s = arg;
    for (size_t i = 0; i < n; i++) {
        if (ice_send(&s->pub, s->payload, s->size, BENCH_MARK_DATA) < 0) {
            return -1;
        }
    }
    return ice_send(&s->pub, s->payload, s->size, BENCH_MARK_END);
}

static int ice_run(const bench_opts *o)
{
    bool rtt = strcmp(o->kase, "rtt") == 0;
    bench_child child;
    /* The peer first: a process may start one runtime, and a child
     * forked after it would inherit it. */
    if (bench_fork(o, &child, rtt ? ice_echo : ice_sink, NULL) < 0) {
        return 1;
    }
    ice_runtime(rtt ? "ping" : "source");
    ice_sub pong;
    ice_sender s = {.size = o->size, .payload = calloc(1, o->size), .pong = &pong};
    bool have_pong = rtt && ice_sub_open(&pong, "pong", o->size) == 0;
    ice_pub_open(&s.pub, rtt ? "ping" : "data");
    int status =
        s.payload == NULL || (rtt && !have_pong) || ice_connected(&s.pub, rtt ? &pong : NULL) < 0;
    if (status == 0 && rtt) {
        status = bench_rtt_loop(o, "iceoryx", ice_round, &s) < 0;
    } else if (status == 0) {
        status = bench_tput_drive(o, &child, "iceoryx", ice_send_run, &s) < 0;
    }
    if (status == 0) {
        ice_send(&s.pub, s.payload, o->size, rtt ? BENCH_MARK_END : MARK_QUIT);
    } else {
        kill(child.pid, SIGKILL); /* it may wait for what never comes */
    }
    if (bench_wait(&child) != 0) {
        status = 1;
    }
    iox_pub_deinit(s.pub.pub);
    if (have_pong) {
        ice_sub_close(&pong);
    }
    free((void *)s.payload);
    bench_cleanup(); /* what bench_collect() would have done */
    ice_exit(status);
}

/* The daemon: started with a configuration of its own in a directory of
 * its own, its output there; ready once it says so. */
typedef struct roudi {
    pid_t pid;
    char dir[64];
} roudi;

static void roudi_file(const roudi *d, char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", d->dir, name);
}

/* Whether the log holds text; the log's last line into why otherwise. */
static bool roudi_log_has(const roudi *d, const char *text, char *why, size_t why_len)
{
    char path[128];
    char log[8192];
    roudi_file(d, path, sizeof(path), "roudi.log");
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(log, 1, sizeof(log) - 1, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    log[n] = '\0';
    if (strstr(log, text) != NULL) {
        return true;
    }
    while (n > 0 && (log[n - 1] == '\n' || log[n - 1] == '\r')) {
        log[--n] = '\0';
    }
    const char *last = strrchr(log, '\n');
    snprintf(why, why_len, "%s", last != NULL ? last + 1 : log);
    return false;
}

static void roudi_stop(roudi *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        int status;
        pid_t r = 0;
        for (int i = 0; i < 5000 && (r = waitpid(d->pid, &status, WNOHANG)) == 0; i++) {
            ice_nap(); /* 5 s, then it is killed */
        }
        if (r == 0) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &status, 0);
        }
        d->pid = -1;
    }
    if (d->dir[0] != '\0') {
        char path[128];
        roudi_file(d, path, sizeof(path), "roudi.log");
        unlink(path);
        roudi_file(d, path, sizeof(path), "roudi.toml");
        unlink(path);
        rmdir(d->dir);
        d->dir[0] = '\0';
    }
}

/* Returns 0, or -1 with the reason in why (the daemon is stopped). */
static int roudi_start(roudi *d, char *why, size_t why_len)
{
    *d = (roudi){.pid = -1};
    snprintf(d->dir, sizeof(d->dir), "/tmp/seam-roudi-XXXXXX");
    if (mkdtemp(d->dir) == NULL) {
        d->dir[0] = '\0';
        snprintf(why, why_len, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    char conf[128];
    char log[128];
    roudi_file(d, conf, sizeof(conf), "roudi.toml");
    roudi_file(d, log, sizeof(log), "roudi.log");
    FILE *f = fopen(conf, "w");
    if (f == NULL || fputs(ice_config, f) < 0 || fclose(f) != 0) {
        snprintf(why, why_len, "cannot write %s", conf);
        roudi_stop(d);
        return -1;
    }
    const char *prog = getenv("BENCH_IOX_ROUDI");
    prog = prog != NULL ? prog : "iox-roudi";
    fflush(stdout);
    fflush(stderr);
    d->pid = fork();
    if (d->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* gone with us, however we end */
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execlp(prog, prog, "-c", conf, "-l", "info", "-m", "off", (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", prog, strerror(errno));
        _exit(127);
    }
    for (int i = 0; d->pid > 0 && i < 10000; i++) {
        if (roudi_log_has(d, "RouDi is ready for clients", why, why_len)) {
            why[0] = '\0';
            return 0;
        }
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = -1;
            break;
        }
        ice_nap();
    }
    if (d->pid > 0) {
        snprintf(why, why_len, "%s was not ready within 10 s", prog);
    }
    roudi_stop(d);
    return -1;
}

#endif /* BENCH_ICEORYX */

/* ---- the table ---- */

enum { ROW_RAW, ROW_FLOOR, ROW_FLOOR_SPIN, ROW_RINGS, ROW_SOCKET, ROW_ICEORYX, ROWS };
enum { CASE_RTT, CASE_TPUT64, CASE_TPUT1M, CASES };

static const struct {
    const char *transport;
    const char *title;
    int (*run)(const bench_opts *o);
} rows[ROWS] = {
    {"shm-raw-unix", "raw AF_UNIX", bench_raw_run},
    {"shm-floor", "bare ring", floor_run},
    {"shm-floor-spin", "bare ring, 20 us poll", floor_spin_run},
    {"shm-seam-rings", "seam, rings", rings_run},
    {"shm-seam-socket", "seam, socket", socket_run},
#if defined(BENCH_ICEORYX)
    {"shm-iceoryx", "iceoryx 2.0", ice_run},
#else
    {"shm-iceoryx", "iceoryx 2.0", NULL},
#endif
};

/* The targets hold seam's rings to the raw socket, on one CPU. */
static const struct {
    const char *kase;
    size_t size;
    const char *metric;
    const char *title;
    double target; /* ratio to raw */
    bool lower;    /* lower is better: at most target */
} cases[CASES] = {
    {"rtt", 64, "median_us", "64 B call RTT, median us", 0.6, true},
    {"tput", 64, "msgs_per_s", "64 B one-way, M msgs/s", 1.0, false},
    {"tput", 1u << 20, "MB_per_s", "1 MiB one-way, MB/s", 2.0, false},
};

typedef struct table {
    double value[ROWS][CASES]; /* < 0: none */
    char why[ROWS][160];       /* a row skipped whole */
    int row;
    int kase;
} table;

static void table_sink(const bench_result *r, void *arg)
{
    table *t = arg;
    bench_result out = *r;
    snprintf(out.transport, sizeof(out.transport), "%s", rows[t->row].transport);
    bench_print(&out);
    if (strcmp(r->metric, cases[t->kase].metric) == 0) {
        t->value[t->row][t->kase] = r->value;
    }
}

static void fmt_cell(char *buf, size_t len, const table *t, int row, int k)
{
    double v = t->value[row][k];
    double raw = t->value[ROW_RAW][k];
    if (v < 0) {
        snprintf(buf, len, "%s", t->why[row][0] != '\0' ? "skipped" : "failed");
        return;
    }
    double shown = k == CASE_TPUT64 ? v / 1e6 : v;
    if (raw > 0) {
        snprintf(buf, len, "%.*f (%.2fx)", shown < 100 ? 2 : 0, shown, v / raw);
    } else {
        snprintf(buf, len, "%.*f", shown < 100 ? 2 : 0, shown);
    }
}

static void print_target(const table *t, int row, int k)
{
    double v = t->value[row][k];
    double raw = t->value[ROW_RAW][k];
    if (v < 0 || raw <= 0) {
        fprintf(stderr, "| %s, %s | - | %s %.1fx | - |\n", cases[k].title, rows[row].title,
                cases[k].lower ? "<=" : ">=", cases[k].target);
        return;
    }
    double ratio = v / raw;
    bool met = cases[k].lower ? ratio <= cases[k].target : ratio >= cases[k].target;
    fprintf(stderr, "| %s, %s | %.2fx | %s %.1fx | %s |\n", cases[k].title, rows[row].title, ratio,
            cases[k].lower ? "<=" : ">=", cases[k].target, met ? "met" : "missed");
}

static void print_table(const table *t, const bench_opts *o)
{
    fprintf(stderr,
            "\nbench_shm --placement %s (%s), medians of %u runs; (x) is the ratio to raw "
            "AF_UNIX\n\n| case |",
            o->placement, strcmp(o->placement, "same") == 0 ? "both on CPU 0" : "CPU 0 and CPU 1",
            o->runs);
    for (int r = 0; r < ROWS; r++) {
        fprintf(stderr, " %s |", rows[r].title);
    }
    fprintf(stderr, "\n|---|");
    for (int r = 0; r < ROWS; r++) {
        fprintf(stderr, "---:|");
    }
    fprintf(stderr, "\n");
    for (int k = 0; k < CASES; k++) {
        fprintf(stderr, "| %s |", cases[k].title);
        for (int r = 0; r < ROWS; r++) {
            char cell[64];
            fmt_cell(cell, sizeof(cell), t, r, k);
            fprintf(stderr, " %s |", cell);
        }
        fprintf(stderr, "\n");
    }
    fprintf(stderr, "\n| target (set for the same CPU) | ratio to raw | target | |\n"
                    "|---|---:|---|---|\n");
    for (int k = 0; k < CASES; k++) {
        print_target(t, ROW_RINGS, k);
    }
    for (int k = 0; k < CASES; k++) {
        print_target(t, ROW_FLOOR, k);
    }
    for (int k = 0; k < CASES; k++) {
        print_target(t, ROW_FLOOR_SPIN, k);
    }
    for (int r = 0; r < ROWS; r++) {
        if (t->why[r][0] != '\0') {
            fprintf(stderr, "\n%s skipped: %s\n", rows[r].title, t->why[r]);
        }
    }
}

static int run(const bench_opts *o)
{
    table t;
    for (int r = 0; r < ROWS; r++) {
        for (int k = 0; k < CASES; k++) {
            t.value[r][k] = -1;
        }
        t.why[r][0] = '\0';
    }
    int failed = 0;
#if defined(BENCH_ICEORYX)
    roudi daemon = {.pid = -1};
    if (roudi_start(&daemon, t.why[ROW_ICEORYX], sizeof(t.why[ROW_ICEORYX])) < 0 &&
        t.why[ROW_ICEORYX][0] == '\0') {
        snprintf(t.why[ROW_ICEORYX], sizeof(t.why[ROW_ICEORYX]), "RouDi did not start");
    }
#else
    snprintf(t.why[ROW_ICEORYX], sizeof(t.why[ROW_ICEORYX]),
             "not built (the iceoryx C binding was not found at configure time)");
#endif
    for (int r = 0; r < ROWS; r++) {
        if (rows[r].run == NULL || t.why[r][0] != '\0') {
            continue;
        }
        for (int k = 0; k < CASES; k++) {
            bench_opts oc = *o;
            oc.kase = cases[k].kase;
            oc.size = cases[k].size;
            t.row = r;
            t.kase = k;
            bench_watchdog("bench_shm", 600);
            int status = bench_collect(&oc, rows[r].run, table_sink, &t);
            if (status != 0 || t.value[r][k] < 0) {
                fprintf(stderr, "bench_shm: %s, %s failed (status %d)\n", rows[r].title,
                        cases[k].title, status);
                failed = 1;
            }
        }
    }
#if defined(BENCH_ICEORYX)
    roudi_stop(&daemon);
#endif
    print_table(&t, o);
    return failed;
}

int main(int argc, char **argv)
{
    return bench_main(argc, argv, run);
}
