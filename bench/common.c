/* SPDX-License-Identifier: MIT */
/* common.c - options, placement, peer processes, timing, statistics and
 * result lines shared by the benchmark programs (common.h). */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char scratch_dir[64];
static pid_t scratch_owner;
static char watchdog_msg[160];

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--case rtt|tput] [--placement same|split] [--size BYTES] [--runs N]\n"
            "          [--clients N] [--max-queue BYTES] [--timeout MS] [--quick] [--typed]\n"
            "          [--direct] [--nocopy] [--shm-ring BYTES]\n",
            prog);
}

int bench_parse(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){.kase = "rtt", .placement = "same", .size = 64};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            o->quick = true;
        } else if (strcmp(a, "--typed") == 0) {
            o->typed = true;
        } else if (strcmp(a, "--direct") == 0) {
            o->direct = true;
        } else if (strcmp(a, "--nocopy") == 0) {
            o->nocopy = true;
        } else if (v != NULL && strcmp(a, "--case") == 0) {
            o->kase = v;
            i++;
        } else if (v != NULL && strcmp(a, "--placement") == 0) {
            o->placement = v;
            i++;
        } else if (v != NULL && strcmp(a, "--size") == 0) {
            o->size = strtoull(v, NULL, 10);
            i++;
        } else if (v != NULL && strcmp(a, "--timeout") == 0) {
            o->timeout_ms = atoi(v);
            i++;
        } else if (v != NULL && strcmp(a, "--max-queue") == 0) {
            o->max_queue = strtoull(v, NULL, 10);
            i++;
        } else if (v != NULL && strcmp(a, "--shm-ring") == 0) {
            o->shm_ring = strtoull(v, NULL, 10);
            i++;
        } else if (v != NULL && strcmp(a, "--clients") == 0) {
            o->clients = (unsigned)strtoul(v, NULL, 10);
            i++;
        } else if (v != NULL && strcmp(a, "--runs") == 0) {
            o->runs = (unsigned)strtoul(v, NULL, 10);
            i++;
        } else {
            usage(argv[0]);
            return -1;
        }
    }
    if ((strcmp(o->placement, "same") != 0 && strcmp(o->placement, "split") != 0) || o->size == 0) {
        usage(argv[0]);
        return -1;
    }
    if (o->runs == 0) {
        o->runs = o->quick ? 3 : 5;
    }
    bench_watchdog(argv[0], 600); /* no case takes minutes */
    return 0;
}

int bench_peer_cpu(const bench_opts *o)
{
    return strcmp(o->placement, "split") == 0 ? 1 : 0;
}

int bench_pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0) {
        fprintf(stderr, "bench: cannot pin to cpu %d: %s\n", cpu, strerror(errno));
        return -1;
    }
    return 0;
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *bench_dir(void)
{
    if (scratch_dir[0] == '\0') {
        snprintf(scratch_dir, sizeof(scratch_dir), "/tmp/seam-bench-XXXXXX");
        if (mkdtemp(scratch_dir) == NULL) {
            fprintf(stderr, "bench: mkdtemp: %s\n", strerror(errno));
            exit(1);
        }
        scratch_owner = getpid();
    }
    return scratch_dir;
}

void bench_cleanup(void)
{
    if (scratch_dir[0] == '\0' || scratch_owner != getpid()) {
        return;
    }
    DIR *d = opendir(scratch_dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                char p[512];
                snprintf(p, sizeof(p), "%s/%s", scratch_dir, e->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(scratch_dir);
    scratch_dir[0] = '\0';
}

void bench_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", bench_dir(), name);
}

int bench_fork(const bench_opts *o, bench_child *child, bench_child_fn fn, void *arg)
{
    int rep[2];
    int ctl[2];
    if (bench_pin(0) < 0 || pipe(rep) < 0) {
        return -1;
    }
    if (pipe(ctl) < 0) {
        close(rep[0]);
        close(rep[1]);
        return -1;
    }
    bench_dir(); /* made before the fork, so both sides agree on it */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(rep[0]);
        close(ctl[1]);
        bench_child self = {getpid(), rep[1], ctl[0]};
        int status = bench_pin(bench_peer_cpu(o)) < 0 ? 1 : fn(o, &self, arg);
        fflush(stdout);
        _exit(status);
    }
    close(rep[1]);
    close(ctl[0]);
    *child = (bench_child){pid, rep[0], ctl[1]};
    return 0;
}

int bench_wait(bench_child *child)
{
    if (child->control_fd >= 0) {
        close(child->control_fd);
        child->control_fd = -1;
    }
    int status;
    if (child->pid <= 0) {
        return -1; /* already reaped by bench_child_alive() */
    }
    /* A child that waits for what never comes (a lost wake-up, a daemon
     * gone) fails the run after BENCH_WAIT_S, not at the watchdog. */
    struct timespec nap = {0, 1000000};
    pid_t got = 0;
    for (long i = 0; i < BENCH_WAIT_S * 1000L && (got = waitpid(child->pid, &status, WNOHANG)) == 0;
         i++) {
        nanosleep(&nap, NULL);
    }
    if (got == 0) {
        fprintf(stderr, "bench: the peer did not exit within %d s: killed\n", BENCH_WAIT_S);
        kill(child->pid, SIGKILL);
        while (waitpid(child->pid, &status, 0) < 0 && errno == EINTR) {
        }
        child->pid = 0;
        return -1;
    }
    if (got < 0) {
        return -1;
    }
    if (child->report_fd >= 0) {
        close(child->report_fd);
        child->report_fd = -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void watchdog_fired(int sig)
{
    ssize_t n = write(STDERR_FILENO, watchdog_msg, strlen(watchdog_msg));
    (void)n;
    (void)sig;
    _exit(3);
}

void bench_watchdog(const char *what, unsigned seconds)
{
    snprintf(watchdog_msg, sizeof(watchdog_msg), "bench: %s stalled for %u s, giving up\n", what,
             seconds);
    signal(SIGALRM, watchdog_fired);
    alarm(seconds);
}

bool bench_child_alive(bench_child *child)
{
    int status;
    if (child->pid > 0 && waitpid(child->pid, &status, WNOHANG) == child->pid) {
        child->pid = -1;
    }
    return child->pid > 0;
}

int bench_write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int bench_read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int bench_send_u64(int fd, uint64_t v)
{
    return bench_write_full(fd, &v, sizeof(v));
}

int bench_recv_u64(int fd, uint64_t *v)
{
    return bench_read_full(fd, v, sizeof(*v));
}

/* ---- statistics ---- */

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

double bench_percentile(double *v, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    qsort(v, n, sizeof(*v), bench_cmp_double);
    /* Nearest rank: the smallest sample with at least p% at or below it. */
    size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return v[rank - 1];
}

int bench_rtt_init(bench_rtt *r, const bench_opts *o)
{
    *r = (bench_rtt){
        .warmup = o->quick ? 500 : 2000, .per_run = o->quick ? 2000 : 20000, .runs = o->runs};
    r->us = calloc(bench_rtt_total(r), sizeof(double));
    return r->us != NULL ? 0 : -1;
}

size_t bench_rtt_total(const bench_rtt *r)
{
    return r->warmup + r->per_run * r->runs;
}

bool bench_rtt_record(bench_rtt *r)
{
    uint64_t t1 = bench_now_ns();
    if (r->count < bench_rtt_total(r)) {
        r->us[r->count++] = (double)(t1 - r->t0) / 1000.0;
    }
    return r->count >= bench_rtt_total(r);
}

void bench_rtt_emit(bench_rtt *r, const bench_opts *o, const char *transport)
{
    double med_lo = 1e30, med_hi = 0, p99_lo = 1e30, p99_hi = 0;
    double *tmp = malloc(r->per_run * sizeof(double));
    if (tmp == NULL) {
        return;
    }
    for (unsigned k = 0; k < r->runs; k++) {
        memcpy(tmp, r->us + r->warmup + k * r->per_run, r->per_run * sizeof(double));
        double med = bench_percentile(tmp, r->per_run, 50);
        double p99 = bench_percentile(tmp, r->per_run, 99);
        med_lo = med < med_lo ? med : med_lo;
        med_hi = med > med_hi ? med : med_hi;
        p99_lo = p99 < p99_lo ? p99 : p99_lo;
        p99_hi = p99 > p99_hi ? p99 : p99_hi;
    }
    free(tmp);
    double *all = r->us + r->warmup;
    size_t n = r->per_run * r->runs;
    if (o->quiet) {
        return;
    }
    double med = bench_percentile(all, n, 50);
    double p99 = bench_percentile(all, n, 99);
    bench_emit("rtt", transport, o->size, o->placement, "median_us", med, med_lo, med_hi, r->runs);
    bench_emit("rtt", transport, o->size, o->placement, "p99_us", p99, p99_lo, p99_hi, r->runs);
}

void bench_rtt_free(bench_rtt *r)
{
    free(r->us);
    r->us = NULL;
}

int bench_rtt_loop(const bench_opts *o, const char *transport, int (*round_trip)(void *arg),
                   void *arg)
{
    bench_rtt r;
    if (bench_rtt_init(&r, o) < 0) {
        return -1;
    }
    int rc = 0;
    bool done = false;
    while (!done && rc == 0) {
        r.t0 = bench_now_ns();
        rc = round_trip(arg) < 0 ? -1 : 0;
        done = bench_rtt_record(&r);
    }
    if (rc == 0) {
        bench_rtt_emit(&r, o, transport);
    }
    bench_rtt_free(&r);
    return rc;
}

/* ---- throughput ---- */

int bench_tput_drive(const bench_opts *o, bench_child *child, const char *transport,
                     bench_send_run_fn send_run, void *arg)
{
    double target_s = o->quick ? 0.05 : 0.3;
    size_t bytes0 = o->quick ? (2u << 20) : (16u << 20);
    size_t n = bytes0 / o->size;
    if (n < 8) {
        n = 8;
    }
    double *rates = calloc(o->runs, sizeof(double));
    if (rates == NULL) {
        return -1;
    }
    for (unsigned run = 0; run <= o->runs; run++) {
        /* A run lasts well under a second: this long means it is stuck. */
        bench_watchdog(transport, o->quick ? 20 : 60);
        uint64_t t0 = bench_now_ns();
        if (send_run(arg, n) < 0) {
            fprintf(stderr, "%s: sending failed\n", transport);
            free(rates);
            return -1;
        }
        uint64_t t_end = 0, got = 0;
        if (bench_recv_u64(child->report_fd, &t_end) < 0 ||
            bench_recv_u64(child->report_fd, &got) < 0) {
            fprintf(stderr, "%s: the receiver did not report\n", transport);
            free(rates);
            return -1;
        }
        if (got != n) {
            fprintf(stderr, "%s: sent %zu, received %llu\n", transport, n, (unsigned long long)got);
            free(rates);
            return -1;
        }
        double dt = (double)(t_end - t0) / 1e9;
        if (dt <= 0) {
            dt = 1e-9;
        }
        if (run == 0) {
            /* The calibration run doubles as the warm-up. */
            double scaled = (double)n * target_s / dt;
            n = scaled < 8 ? 8 : scaled > 5e7 ? 50000000 : (size_t)scaled;
            continue;
        }
        rates[run - 1] = (double)n / dt;
    }
    bench_watchdog(transport, 600);
    double med = bench_percentile(rates, o->runs, 50);
    double lo = rates[0], hi = rates[o->runs - 1]; /* sorted by the percentile */
    double mb = (double)o->size / 1e6;
    if (o->quiet) {
        free(rates);
        return 0;
    }
    bench_emit("tput", transport, o->size, o->placement, "msgs_per_s", med, lo, hi, o->runs);
    bench_emit("tput", transport, o->size, o->placement, "MB_per_s", med * mb, lo * mb, hi * mb,
               o->runs);
    free(rates);
    return 0;
}

int bench_tput_report(bench_child *self, uint64_t received)
{
    uint64_t now = bench_now_ns();
    if (bench_send_u64(self->report_fd, now) < 0 || bench_send_u64(self->report_fd, received) < 0) {
        return -1;
    }
    return 0;
}

static bench_sink_fn emit_sink;
static void *emit_sink_arg;

void bench_set_sink(bench_sink_fn fn, void *arg)
{
    emit_sink = fn;
    emit_sink_arg = arg;
}

void bench_print(const bench_result *r)
{
    printf("{\"case\":\"%s\",\"transport\":\"%s\",\"size\":%zu,\"placement\":\"%s\","
           "\"metric\":\"%s\",\"value\":%.6g",
           r->kase, r->transport, r->size, r->placement, r->metric, r->value);
    if (r->min >= 0 && r->max >= 0) {
        printf(",\"min\":%.6g,\"max\":%.6g", r->min, r->max);
    }
    printf(",\"runs\":%u}\n", r->runs);
    fflush(stdout);
}

void bench_emit(const char *kase, const char *transport, size_t size, const char *placement,
                const char *metric, double value, double min, double max, unsigned runs)
{
    bench_result r = {.size = size, .value = value, .min = min, .max = max, .runs = runs};
    snprintf(r.kase, sizeof(r.kase), "%s", kase);
    snprintf(r.transport, sizeof(r.transport), "%s", transport);
    snprintf(r.placement, sizeof(r.placement), "%s", placement);
    snprintf(r.metric, sizeof(r.metric), "%s", metric);
    if (emit_sink != NULL) {
        emit_sink(&r, emit_sink_arg);
    } else {
        bench_print(&r);
    }
}

static void collect_to_pipe(const bench_result *r, void *arg)
{
    bench_write_full(*(int *)arg, r, sizeof(*r));
}

int bench_collect(const bench_opts *o, int (*run)(const bench_opts *o), bench_sink_fn sink,
                  void *arg)
{
    int p[2];
    if (pipe(p) < 0) {
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(p[0]);
        scratch_dir[0] = '\0'; /* a directory of its own, removed by it */
        bench_set_sink(collect_to_pipe, &p[1]);
        bench_watchdog("bench case", 300);
        int status = bench_pin(0) < 0 ? 1 : run(o);
        bench_cleanup();
        fflush(stdout);
        _exit(status);
    }
    close(p[1]);
    bench_result r;
    while (bench_read_full(p[0], &r, sizeof(r)) == 0) {
        sink(&r, arg);
    }
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

long bench_raise_nofile(long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        return -1;
    }
    if (want > 0 && (rlim_t)want > rl.rlim_max) {
        struct rlimit more = {(rlim_t)want, (rlim_t)want};
        if (setrlimit(RLIMIT_NOFILE, &more) == 0) {
            return want; /* privileged: the hard limit went up too */
        }
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        return -1;
    }
    return (long)rl.rlim_cur;
}

int bench_tput_count(bench_child *self, uint8_t mark, uint64_t *count)
{
    if (mark != BENCH_MARK_END) {
        (*count)++;
        return 0;
    }
    int r = bench_tput_report(self, *count);
    *count = 0;
    return r < 0 ? -1 : 0;
}

typedef struct pingpong_echo {
    int *sv;
    bench_pingpong_fn serve;
} pingpong_echo;

static int pingpong_child(const bench_opts *o, bench_child *self, void *arg)
{
    const pingpong_echo *e = arg;
    close(e->sv[0]);
    return e->serve(e->sv[1], o, NULL) < 0 ? 1 : 0;
}

int bench_pingpong(const bench_opts *o, const char *transport, bench_pingpong_fn serve)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        return 1;
    }
    pingpong_echo echo = {sv, serve};
    bench_child child;
    if (bench_fork(o, &child, pingpong_child, &echo) < 0) {
        return 1;
    }
    close(sv[1]);
    bench_rtt rtt;
    if (bench_rtt_init(&rtt, o) < 0 || serve(sv[0], o, &rtt) < 0) {
        return 1;
    }
    close(sv[0]);
    bench_rtt_emit(&rtt, o, transport);
    bench_rtt_free(&rtt);
    return bench_wait(&child) == 0 ? 0 : 1;
}

int bench_main(int argc, char **argv, int (*run)(const bench_opts *o))
{
    bench_opts o;
    if (bench_parse(argc, argv, &o) < 0) {
        return 2;
    }
    int r = run(&o);
    bench_cleanup();
    return r;
}

int bench_write_spin(int fd, const void *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, (const uint8_t *)buf + off, len - off);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        off += (size_t)n;
    }
    return 0;
}
