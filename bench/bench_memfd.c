/* SPDX-License-Identifier: MIT */
/* bench_memfd.c - a 16 MiB payload between two processes over AF_UNIX, in
 * one run: copied through the socket (the raw floor) against passed as a
 * sealed memfd that the receiver checks and maps read-only (seam's memfd
 * helpers, core/memfd.c). Each receiver reads one byte per page of what it
 * got, so the memfd side pays its page faults. Two memfd rows: the sender
 * fills a fresh memfd per transfer (one copy, the sender's), and the
 * sender hands over one it filled once (no copy at all). Then the same
 * end to end through seam (a client sending {"blob": data} messages to a
 * server on a poll loop, each acknowledged by a message back, on whatever
 * path the environment leaves: shared memory by default, the socket with
 * SEAM_NO_SHM=1): ordinary data (copied through), data in a memfd the
 * sender fills per transfer, and data in one memfd filled once; and raw
 * messages (seam_conn_send_raw: the bytes copied through;
 * seam_conn_send_raw_memfd: a memfd filled per transfer, and a duplicate
 * of one filled once). Figures go to stderr, one line each, with the
 * ratio to the raw row. --quick runs 5 rounds instead of 20. */
#include "common.h"
#include "memfd.h"

#include <seam.h>
#include <seam/poll.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE        (16u << 20)
#define PAGE        4096u
#define ROUND_FULL  20u
#define ROUND_QUICK 5u

/* Transfers per row, after a warm-up. */
static unsigned rounds = ROUND_FULL;

typedef union cmsg_buf {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
} cmsg_buf;

/* A one-byte message with room for one descriptor. */
static void fd_msghdr(struct msghdr *m, struct iovec *iov, char *byte, cmsg_buf *u)
{
    *iov = (struct iovec){.iov_base = byte, .iov_len = 1};
    *m = (struct msghdr){
        .msg_iov = iov, .msg_iovlen = 1, .msg_control = u->buf, .msg_controllen = sizeof(u->buf)};
}

static int send_fd(int sock, int fd)
{
    char byte = 0;
    struct iovec iov;
    cmsg_buf u;
    struct msghdr m;
    fd_msghdr(&m, &iov, &byte, &u);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
    char byte;
    struct iovec iov;
    cmsg_buf u;
    struct msghdr m;
    fd_msghdr(&m, &iov, &byte, &u);
    if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (c == NULL || c->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

static unsigned touch(const uint8_t *p)
{
    unsigned sum = 0;
    for (size_t i = 0; i < SIZE; i += PAGE)
        sum += p[i];
    return sum;
}

enum mode { RAW, MEMFD_COPY, MEMFD_OWN };

/* The sender: rounds payloads, each acknowledged by one byte. */
static int sender(int sock, enum mode mode, const uint8_t *bytes)
{
    int own = mode == MEMFD_OWN ? seam__memfd_from_bytes(bytes, SIZE) : -1;
    for (unsigned r = 0; r < rounds; r++) {
        if (mode == RAW) {
            if (bench_write_full(sock, bytes, SIZE) < 0)
                return 1;
        } else {
            int fd = mode == MEMFD_OWN ? own : seam__memfd_from_bytes(bytes, SIZE);
            if (fd < 0 || send_fd(sock, fd) < 0)
                return 1;
            if (mode == MEMFD_COPY)
                close(fd);
        }
        char ack;
        if (bench_read_full(sock, &ack, 1) < 0)
            return 1;
    }
    return 0;
}

static int receiver(int sock, enum mode mode, uint8_t *buf, unsigned *sum)
{
    for (unsigned r = 0; r < rounds; r++) {
        if (mode == RAW) {
            if (bench_read_full(sock, buf, SIZE) < 0)
                return -1;
            *sum += touch(buf);
        } else {
            int fd = recv_fd(sock);
            const void *p;
            if (fd < 0 || seam__memfd_map(fd, SIZE, &p) < 0)
                return -1;
            *sum += touch(p);
            seam__memfd_unmap(p, SIZE);
            close(fd);
        }
        if (bench_write_full(sock, "", 1) < 0)
            return -1;
    }
    return 0;
}

static double run(const bench_opts *o, enum mode mode, uint8_t *bytes, uint8_t *buf)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        bench_pin(bench_peer_cpu(o));
        _exit(sender(sv[1], mode, bytes));
    }
    close(sv[1]);
    unsigned sum = 0;
    uint64_t t0 = bench_now_ns();
    int rc = receiver(sv[0], mode, buf, &sum);
    uint64_t ns = bench_now_ns() - t0;
    close(sv[0]);
    int st;
    waitpid(pid, &st, 0);
    if (rc < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || sum != rounds * (SIZE / PAGE) * 7u)
        return -1;
    return (double)SIZE * rounds / ((double)ns / 1e9) / 1e6; /* MB/s */
}

/* ---- end to end through seam ---- */

enum seam_mode {
    SEAM_BYTES,
    SEAM_MEMFD_FRESH,
    SEAM_MEMFD_OWN,
    SEAM_RAW_BYTES,
    SEAM_RAW_MEMFD_FRESH,
    SEAM_RAW_MEMFD_OWN,
};

typedef struct seam_side {
    seam_conn *conn;
    unsigned got;    /* messages received */
    unsigned memfds; /* ... whose data came as a memfd */
    unsigned sum;    /* one byte per page of what came */
    uint64_t t0, t1; /* receiver: after the warm-up message, after the last */
    bool connected;
    bool ended;
} seam_side;

static void receiver_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    seam_side *s = userdata;
    if (ev->type != SEAM_EVENT_MESSAGE) {
        return;
    }
    size_t len = 0;
    const uint8_t *p = NULL;
    bool memfd = false;
    if (ev->raw) {
        p = ev->raw_bytes;
        len = ev->raw_len;
        memfd = ev->raw_memfd != NULL;
    } else {
        seam_value *blob = seam_dict_get(ev->value, "blob");
        p = seam_value_get_data(blob, &len);
        memfd = seam_value_get_memfd(blob) >= 0;
    }
    if (p != NULL && len == SIZE) {
        s->sum += touch(p);
        s->memfds += memfd;
    }
    s->got++;
    if (s->got == 1) {
        s->t0 = bench_now_ns();
    } else if (s->got == rounds + 1) {
        s->t1 = bench_now_ns();
    }
    seam_value *ack = seam_value_new_dict();
    seam_conn_send(conn, ack);
    seam_value_unref(ack);
}

static void sender_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    seam_side *s = userdata;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        s->connected = true;
    } else if (ev->type == SEAM_EVENT_MESSAGE) {
        s->got++;
    } else if (ev->type == SEAM_EVENT_INTERRUPTED || ev->type == SEAM_EVENT_INVALID) {
        s->ended = true;
    }
}

/* What the sender sends in one round, as the mode says. */
static seam_value *seam_blob(enum seam_mode mode, const uint8_t *bytes, seam_value *own)
{
    if (mode != SEAM_MEMFD_FRESH) {
        return seam_value_ref(own);
    }
    int fd = memfd_create("bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || bench_write_full(fd, bytes, SIZE) < 0) {
        return NULL;
    }
    seam_value *v = seam_value_new_data_memfd(fd, SIZE);
    if (v == NULL) {
        close(fd);
    }
    return v;
}

/* A memfd the sender fills with the payload, as an application would. */
static int filled_memfd(const uint8_t *bytes)
{
    int fd = memfd_create("bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd >= 0 && bench_write_full(fd, bytes, SIZE) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Sends one raw message as the mode says; own is the memfd filled once. */
static int seam_send_raw_round(seam_conn *conn, enum seam_mode mode, const uint8_t *bytes, int own)
{
    if (mode == SEAM_RAW_BYTES) {
        return seam_conn_send_raw(conn, 1, bytes, SIZE);
    }
    int fd = mode == SEAM_RAW_MEMFD_OWN ? fcntl(own, F_DUPFD_CLOEXEC, 0) : filled_memfd(bytes);
    if (fd < 0) {
        return -1;
    }
    int r = seam_conn_send_raw_memfd(conn, 1, fd, SIZE); /* owns fd on 0 */
    if (r < 0) {
        close(fd);
    }
    return r;
}

static int seam_sender(const char *name, enum seam_mode mode, const uint8_t *bytes)
{
    seam_loop *loop = NULL;
    seam_side s = {0};
    seam_conn_config cfg = {.on_event = sender_event, .userdata = &s, .max_queue = 64u << 20};
    if (seam_poll_new(0, &loop) < 0 || seam_conn_connect(loop, name, &cfg, &s.conn) < 0) {
        return 1;
    }
    while (!s.connected && !s.ended) {
        seam_poll_run_once(loop, -1);
    }
    seam_value *own = NULL;
    int own_fd = -1;
    if (mode == SEAM_BYTES) {
        own = seam_value_new_data(bytes, SIZE);
    } else if (mode == SEAM_MEMFD_OWN) {
        own = seam_blob(SEAM_MEMFD_FRESH, bytes, NULL);
    } else if (mode == SEAM_RAW_MEMFD_OWN && (own_fd = filled_memfd(bytes)) < 0) {
        return 1;
    }
    for (unsigned r = 0; r < rounds + 1 && !s.ended; r++) {
        if (mode >= SEAM_RAW_BYTES) {
            if (seam_send_raw_round(s.conn, mode, bytes, own_fd) < 0) {
                return 1;
            }
            while (s.got <= r && !s.ended) {
                seam_poll_run_once(loop, -1);
            }
            continue;
        }
        seam_value *m = seam_value_new_dict();
        seam_value *blob = seam_blob(mode, bytes, own);
        if (blob == NULL || seam_dict_set_take(m, "blob", blob) < 0 ||
            seam_conn_send(s.conn, m) < 0) {
            return 1;
        }
        seam_value_unref(m);
        while (s.got <= r && !s.ended) {
            seam_poll_run_once(loop, -1);
        }
    }
    seam_value_unref(own);
    if (own_fd >= 0) {
        close(own_fd);
    }
    seam_conn_close(s.conn);
    seam_loop_free(loop);
    return s.ended ? 1 : 0;
}

/* MB/s of rounds messages after a warm-up one; *memfds counts those that
 * came as memfds. */
static double run_seam(const bench_opts *o, enum seam_mode mode, const uint8_t *bytes,
                       unsigned *memfds)
{
    char name[256] = "unix:";
    bench_path(name + 5, sizeof(name) - 5, "memfd.sock");
    seam_loop *loop = NULL;
    seam_server *srv = NULL;
    seam_side s = {0};
    seam_server_config cfg = {.conn = {.on_event = receiver_event,
                                       .userdata = &s,
                                       .max_frame = 32u << 20,
                                       .limits = {.max_string = 32u << 20}}};
    if (seam_poll_new(0, &loop) < 0 || seam_server_listen(loop, name, &cfg, &srv) < 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        bench_pin(bench_peer_cpu(o));
        _exit(seam_sender(name, mode, bytes));
    }
    uint64_t deadline = bench_now_ns() + 60000000000ull;
    while (s.got < rounds + 1 && bench_now_ns() < deadline) {
        seam_poll_run_once(loop, 100);
    }
    int st;
    while (waitpid(pid, &st, WNOHANG) == 0 && bench_now_ns() < deadline) {
        seam_poll_run_once(loop, 10);
    }
    seam_server_close(srv);
    seam_loop_free(loop);
    *memfds = s.memfds;
    if (s.got != rounds + 1 || s.sum != (rounds + 1) * (SIZE / PAGE) * 7u || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0) {
        return -1;
    }
    return (double)SIZE * rounds / ((double)(s.t1 - s.t0) / 1e9) / 1e6;
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (bench_parse(argc, argv, &o) < 0)
        return 2;
    if (o.quick)
        rounds = ROUND_QUICK;
    bench_pin(0);
    uint8_t *bytes = malloc(SIZE), *buf = malloc(SIZE);
    if (bytes == NULL || buf == NULL)
        return 1;
    memset(bytes, 7, SIZE);
    memset(buf, 0, SIZE);
    static const char *const names[] = {"raw AF_UNIX copy", "sealed memfd, filled per transfer",
                                        "sealed memfd, sender's own"};
    double raw = 0;
    for (int m = RAW; m <= MEMFD_OWN; m++) {
        run(&o, (enum mode)m, bytes, buf); /* warm-up */
        double mbs = run(&o, (enum mode)m, bytes, buf);
        if (mbs < 0) {
            fprintf(stderr, "bench_memfd: %s failed\n", names[m]);
            return 1;
        }
        if (m == RAW)
            raw = mbs;
        fprintf(stderr, "memfd 16 MiB placement=%s %-34s %9.0f MB/s %6.2fx raw\n", o.placement,
                names[m], mbs, mbs / raw);
    }
    static const char *const seam_names[] = {
        "seam: data copied through",    "seam: memfd filled per transfer",
        "seam: memfd, sender's own",    "seam raw: bytes copied through",
        "seam raw: memfd per transfer", "seam raw: memfd, sender's own"};
    const char *no_shm = getenv("SEAM_NO_SHM");
    const char *path = no_shm != NULL && strcmp(no_shm, "1") == 0 ? "socket" : "shm";
    for (int m = SEAM_BYTES; m <= SEAM_RAW_MEMFD_OWN; m++) {
        unsigned memfds = 0;
        double mbs = run_seam(&o, (enum seam_mode)m, bytes, &memfds);
        if (mbs < 0) {
            fprintf(stderr, "bench_memfd: %s failed\n", seam_names[m]);
            return 1;
        }
        fprintf(stderr,
                "memfd 16 MiB placement=%s %-34s %9.0f MB/s %6.2fx raw (%s, %u/%u memfds)\n",
                o.placement, seam_names[m], mbs, mbs / raw, path, memfds, rounds + 1);
    }
    bench_cleanup();
    free(bytes);
    free(buf);
    return 0;
}
