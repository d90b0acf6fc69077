/* SPDX-License-Identifier: MIT */
/* common.h - what every benchmark program shares: options, CPU placement,
 * forking the peer process, timing, statistics and the result lines that
 * bench_report turns into tables. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Raw and stream messages carry a one-byte marker first (seam raw
 * messages use the raw id, typed ones a negative "seq"). */
#define BENCH_MARK_DATA 0
#define BENCH_MARK_END  1

typedef struct bench_opts {
    const char *kase;      /* "rtt" or "tput" (what the program measures) */
    const char *placement; /* "same": both on cpu 0; "split": cpu 0 and 1 */
    size_t size;           /* payload bytes */
    bool quick;
    bool typed;       /* seam: typed dictionaries instead of raw bytes */
    bool direct;      /* seam: send outside any callback */
    bool nocopy;      /* seam: seam_conn_send_raw_nocopy() */
    unsigned runs;    /* measured repetitions (after one warm-up) */
    unsigned clients; /* fan-out benchmarks: connections */
    bool quiet;       /* print no timing lines (allocation counting) */
    size_t max_queue; /* seam: the connection's queue bound, 0 for the default */
    int timeout_ms;   /* seam rtt: each call's timeout, 0 for none */
    size_t shm_ring;  /* seam: the shared-memory ring each side writes, 0 for the default */
} bench_opts;

/* Parses --case, --placement, --size, --quick, --typed, --direct, --runs,
 * --nocopy, --clients, --max-queue, --timeout, --shm-ring.
 * Returns 0, or -1 after printing usage. */
int bench_parse(int argc, char **argv, bench_opts *o);

/* The peer's CPU for the placement (the calling process is on cpu 0). */
int bench_peer_cpu(const bench_opts *o);
/* Pins the calling process to one CPU; returns 0 or -1. */
int bench_pin(int cpu);

uint64_t bench_now_ns(void);

/* A scratch directory for sockets, made once per process tree; removed by
 * bench_cleanup() in the process that made it. */
const char *bench_dir(void);
void bench_cleanup(void);
/* "<dir>/<name>" into buf. */
void bench_path(char *buf, size_t len, const char *name);

/* A forked peer. fn runs in the child, pinned to the placement's peer CPU,
 * and its return value is the exit status. The child can talk back through
 * report_fd (a pipe to the parent); the parent reads child->report_fd. */
typedef struct bench_child {
    pid_t pid;
    int report_fd;  /* parent: read end; child: write end */
    int control_fd; /* parent: write end; child: read end */
} bench_child;

typedef int (*bench_child_fn)(const bench_opts *o, bench_child *self, void *arg);

int bench_fork(const bench_opts *o, bench_child *child, bench_child_fn fn, void *arg);
/* Waits for the child, at most BENCH_WAIT_S seconds (then kills it);
 * returns its exit status or -1. */
#define BENCH_WAIT_S 60
int bench_wait(bench_child *child);

/* Whole reads and writes on blocking descriptors; 0 or -1. */
int bench_write_full(int fd, const void *buf, size_t len);
int bench_read_full(int fd, void *buf, size_t len);
int bench_send_u64(int fd, uint64_t v);
/* Writes all of buf on a non-blocking socket, retrying at once when it is
 * full (small messages: the socket takes them at once, so waiting is rare
 * and short). 0 or -1. */
int bench_write_spin(int fd, const void *buf, size_t len);
int bench_recv_u64(int fd, uint64_t *v);

/* ---- statistics ---- */

int bench_cmp_double(const void *a, const void *b);
/* Sorts v in place and returns the p-th percentile (0..100), nearest rank. */
double bench_percentile(double *v, size_t n, double p);

/* Round-trip samples: warm-up plus runs x per_run, in microseconds. */
typedef struct bench_rtt {
    size_t warmup;
    size_t per_run;
    unsigned runs;
    size_t count; /* samples taken so far, warm-up included */
    double *us;
    uint64_t t0;
} bench_rtt;

int bench_rtt_init(bench_rtt *r, const bench_opts *o);
size_t bench_rtt_total(const bench_rtt *r);
/* Records one sample ending now (started at r->t0). True once all taken. */
bool bench_rtt_record(bench_rtt *r);
/* Emits median_us and p99_us (over every measured sample; min/max are the
 * per-run medians and p99s). */
void bench_rtt_emit(bench_rtt *r, const bench_opts *o, const char *transport);
void bench_rtt_free(bench_rtt *r);
/* Times round_trip(arg) (0 or -1) until every sample is taken, then emits
 * them as transport. 0, or -1 at the first failed round trip. */
int bench_rtt_loop(const bench_opts *o, const char *transport, int (*round_trip)(void *arg),
                   void *arg);

/* One-way throughput: the sender sends n messages and an end marker; the
 * receiver reports (end time, messages received). The driver runs a
 * calibration run, then o->runs measured ones, each sized to last about
 * the target duration. send_run returns 0 once everything is handed to the
 * kernel (or the peer library). */
typedef int (*bench_send_run_fn)(void *arg, size_t n);
int bench_tput_drive(const bench_opts *o, bench_child *child, const char *transport,
                     bench_send_run_fn send_run, void *arg);
/* Receiver side: report one run. */
int bench_tput_report(bench_child *self, uint64_t received);
/* Receiver side: counts one message whose first byte is mark; on the end
 * marker reports the count so far and starts again. -1 when the report
 * could not be sent. */
int bench_tput_count(bench_child *self, uint8_t mark, uint64_t *count);

/* A ping-pong over a non-blocking socketpair, each side on a loop of the
 * caller's: serve(fd, o, NULL) echoes in a forked child, serve(fd, o, rtt)
 * measures here. Emits the round trips as transport; returns the exit
 * status for main(). */
typedef int (*bench_pingpong_fn)(int fd, const bench_opts *o, bench_rtt *rtt);
int bench_pingpong(const bench_opts *o, const char *transport, bench_pingpong_fn serve);

/* The whole main() of a bench program: parses the options, runs run(o)
 * and cleans up; returns the exit status. */
int bench_main(int argc, char **argv, int (*run)(const bench_opts *o));

/* Prints one result line (JSON) on stdout, or hands it to the sink when
 * one is set. min/max < 0 are left out. */
void bench_emit(const char *kase, const char *transport, size_t size, const char *placement,
                const char *metric, double value, double min, double max, unsigned runs);

/* One result, as bench_emit() takes it. */
typedef struct bench_result {
    char kase[32];
    char transport[64];
    size_t size;
    char placement[16];
    char metric[48];
    double value;
    double min;
    double max;
    unsigned runs;
} bench_result;

/* Prints a result line for r (never to a sink). */
void bench_print(const bench_result *r);

/* Where bench_emit() sends results instead of stdout (NULL: stdout). */
typedef void (*bench_sink_fn)(const bench_result *r, void *arg);
void bench_set_sink(bench_sink_fn fn, void *arg);

/* Runs run(o) in a forked process of its own (pinned as bench_fork()
 * pins, its own scratch directory, environment changes its own) and hands
 * each result it emits to sink here. Returns its exit status, or -1. */
int bench_collect(const bench_opts *o, int (*run)(const bench_opts *o), bench_sink_fn sink,
                  void *arg);

/* The cases of bench_raw.c and bench_seam.c, linked into bench_shm too
 * (built there with BENCH_NO_MAIN). */
int bench_raw_run(const bench_opts *o);
int bench_seam_run(const bench_opts *o);

/* Raises RLIMIT_NOFILE to its hard limit, or to want if that is higher and
 * the process may raise the hard limit; returns the new soft limit. */
long bench_raise_nofile(long want);

/* Ends the process with a message (exit status 3) if it is still running
 * in `seconds` (0 cancels): a stalled transport fails its case instead of
 * hanging the suite. what names it in the message. */
void bench_watchdog(const char *what, unsigned seconds);

/* False once the child has exited (it is then reaped: don't wait again). */
bool bench_child_alive(bench_child *child);

#endif /* BENCH_COMMON_H */
