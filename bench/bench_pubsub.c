/* SPDX-License-Identifier: MIT */
/* bench_pubsub.c - a subscription storm against one seam server (poll
 * adapter, a process of its own): the server retains 1,024 topics of
 * 60,000 bytes; --clients connections (spread over processes of 50) each
 * subscribe to 64 different patterns that all match every topic, then
 * never read again, so every queue fills and the rest is owed. Meanwhile
 * a probe connection calls the server every 50 ms for 15 s (--quick: 5 s).
 * Reported: the slowest probe call (how long the storm kept the server
 * from everyone else) and the server's peak resident set. */
#include "common.h"

#include <seam.h>
#include <seam/poll.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOPICS        1024
#define VALUE_BYTES   60000
#define PATTERNS      64
#define PER_PROCESS   50
#define PROBE_GAP_US  50000
#define PREFIX_LENGTH PATTERNS /* patterns "a*" .. 64 a's then '*' */

static char name[256];

static void topic_prefix(char *buf)
{
    memset(buf, 'a', PREFIX_LENGTH);
    buf[PREFIX_LENGTH] = '\0';
}

static void echo(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        seam_request_reply(ev->request, ev->value);
    }
}

/* The server: publishes every topic, says so on ready, serves forever. */
static int server_main(int ready)
{
    seam_loop *loop = NULL;
    seam_server *srv = NULL;
    seam_server_config cfg = {.conn.on_event = echo};
    bench_raise_nofile(4096);
    if (seam_poll_new(0, &loop) < 0 || seam_server_listen(loop, name, &cfg, &srv) < 0) {
        fprintf(stderr, "pubsub: listen failed\n");
        return 1;
    }
    uint8_t *bytes = calloc(1, VALUE_BYTES);
    seam_value *v = bytes != NULL ? seam_value_new_data(bytes, VALUE_BYTES) : NULL;
    char prefix[PREFIX_LENGTH + 1];
    topic_prefix(prefix);
    for (int i = 0; v != NULL && i < TOPICS; i++) {
        char topic[PREFIX_LENGTH + 16];
        snprintf(topic, sizeof(topic), "%s/%04d", prefix, i);
        if (seam_server_publish(srv, topic, v) < 0) {
            fprintf(stderr, "pubsub: publish failed\n");
            return 1;
        }
    }
    seam_value_unref(v);
    free(bytes);
    if (bench_write_full(ready, "r", 1) < 0) {
        return 1;
    }
    for (;;) {
        seam_poll_run_once(loop, 100);
    }
}

static void ignore_update(seam_conn *conn, const seam_update *u, void *userdata)
{
    (void)conn;
    (void)u;
    (void)userdata;
}

/* n storming connections: subscribe, flush for a second, then sleep. */
static int storm_main(unsigned n)
{
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) < 0) {
        return 1;
    }
    for (unsigned i = 0; i < n; i++) {
        seam_conn *c = NULL;
        if (seam_conn_connect(loop, name, NULL, &c) < 0) {
            fprintf(stderr, "pubsub: connect failed\n");
            return 1;
        }
        for (int p = 0; p < PATTERNS; p++) {
            char pattern[PREFIX_LENGTH + 2];
            memset(pattern, 'a', (size_t)p + 1);
            pattern[p + 1] = '*';
            pattern[p + 2] = '\0';
            seam_conn_subscribe(c, pattern, ignore_update, NULL);
        }
    }
    uint64_t end = bench_now_ns() + 1000000000ull;
    while (bench_now_ns() < end) {
        seam_poll_run_once(loop, 10);
    }
    pause();
    return 0;
}

static bool answered;

static void on_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    (void)r;
    (void)userdata;
    answered = true;
}

static long peak_rss_kib(pid_t pid)
{
    char path[64];
    char line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kib;
}

static pid_t start(int (*fn)(unsigned), unsigned arg)
{
    pid_t pid = fork();
    if (pid == 0) {
        _exit(fn(arg));
    }
    return pid;
}

static int server_entry(unsigned ready)
{
    return server_main((int)ready);
}

static int run(const bench_opts *o)
{
    char path[200];
    bench_path(path, sizeof(path), "pubsub.sock");
    snprintf(name, sizeof(name), "unix:%s", path);
    unsigned clients = o->clients != 0 ? o->clients : 200;
    int ready[2];
    if (pipe(ready) < 0) {
        return 1;
    }
    pid_t kids[64];
    unsigned nkids = 0;
    kids[nkids++] = start(server_entry, (unsigned)ready[1]);
    char r = 0;
    if (bench_read_full(ready[0], &r, 1) < 0) {
        fprintf(stderr, "pubsub: the server did not start\n");
        return 1;
    }
    bench_watchdog("pubsub", 300);
    for (unsigned done = 0; done < clients && nkids < 64; done += PER_PROCESS) {
        kids[nkids++] =
            start(storm_main, clients - done < PER_PROCESS ? clients - done : PER_PROCESS);
    }
    seam_loop *loop = NULL;
    seam_conn *probe = NULL;
    if (seam_poll_new(0, &loop) < 0 || seam_conn_connect(loop, name, NULL, &probe) < 0) {
        return 1;
    }
    double worst_ms = 0;
    unsigned calls = 0;
    uint64_t end = bench_now_ns() + (o->quick ? 5 : 15) * 1000000000ull;
    while (bench_now_ns() < end) {
        seam_value *m = seam_value_new_string("probe");
        answered = false;
        uint64_t t0 = bench_now_ns();
        seam_conn_call(probe, m, 120000, on_reply, NULL, NULL);
        seam_value_unref(m);
        while (!answered) {
            seam_poll_run_once(loop, 100);
        }
        double ms = (double)(bench_now_ns() - t0) / 1e6;
        worst_ms = ms > worst_ms ? ms : worst_ms;
        calls++;
        usleep(PROBE_GAP_US);
    }
    long kib = peak_rss_kib(kids[0]);
    char kase[32];
    snprintf(kase, sizeof(kase), "storm_%u", clients);
    bench_emit(kase, "seam-poll", VALUE_BYTES, o->placement, "probe_worst_ms", worst_ms, -1, -1,
               calls);
    bench_emit(kase, "seam-poll", VALUE_BYTES, o->placement, "server_peak_rss_MiB",
               (double)kib / 1024, -1, -1, 1);
    seam_conn_close(probe);
    seam_loop_free(loop);
    for (unsigned i = 0; i < nkids; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    return 0;
}

int main(int argc, char **argv)
{
    return bench_main(argc, argv, run);
}
