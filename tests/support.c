/* SPDX-License-Identifier: MIT */
/* support.c - children, runtime directories and loop driving for the
 * runtime tests (support.h). Parent-side helpers assert with CMocka; code
 * that runs in a child never does, since a failed assertion there would
 * jump back into the parent's test runner (the loop-driving helpers are
 * therefore assertion-free and serve children too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

seam_loop *support_child_loop;

/* ---- the host loop under test ---- */

static int poll_child_run_once(void *host, seam_loop *loop, int max_ms)
{
    int r = seam_poll_run_once(loop, max_ms);
    return r < 0 ? r : 0;
}

/* What forked children run: plain poll() loops made with seam_poll_new(). */
static const support_driver child_driver = {.name = "poll (child)",
                                            .run_once = poll_child_run_once};

/* Per thread: children that are threads run the child driver. */
static _Thread_local const support_driver *active_driver = &support_driver_under_test;
static _Thread_local void *active_host;
static void *inherited_host;

const support_driver *support_driver_current(void)
{
    return active_driver;
}

void support_host_begin(void)
{
    assert_null(active_host);
    active_host = active_driver->host_new();
    assert_non_null(active_host);
}

seam_loop *support_loop_new(void)
{
    seam_loop *loop = NULL;
    assert_non_null(active_host);
    assert_int_equal(active_driver->attach(active_host, &loop), 0);
    assert_non_null(loop);
    return loop;
}

static void live_end_all(void);

void support_host_end(void)
{
    live_end_all();
    void *host = active_host;
    active_host = NULL;
    if (host != NULL) {
        assert_true(active_driver->host_free(host));
    }
}

int support_run_once(seam_loop *loop, int max_ms)
{
    return active_driver->run_once(active_host, loop, max_ms);
}

long long support_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool support_under_valgrind(void)
{
    /* Valgrind preloads its own library into the program it runs. */
    const char *preload = getenv("LD_PRELOAD");
    return preload != NULL && strstr(preload, "vgpreload") != NULL;
}

double support_scale(void)
{
    const char *env = getenv("SEAM_TEST_SCALE");
    if (env != NULL && env[0] != '\0') {
        double s = strtod(env, NULL);
        return s > 0 ? s : 1.0;
    }
    return support_under_valgrind() ? 0.05 : 1.0;
}

/* ---- the runtime directory ---- */

void support_runtime_dir_create(char *dir, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] != '/') {
        tmp = "/tmp";
    }
    int n = snprintf(dir, len, "%s/seam-test-XXXXXX", tmp);
    assert_true(n > 0 && (size_t)n < len);
    assert_non_null(mkdtemp(dir));
    assert_int_equal(setenv("SEAM_RUNTIME_DIR", dir, 1), 0);
}

/* Removes a directory tree of plain entries (what the tests make); a link
 * is removed, never followed. */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char path[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path)) {
            continue;
        }
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            remove_tree(path);
        } else {
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

void support_runtime_dir_remove(const char *dir)
{
    remove_tree(dir);
    unsetenv("SEAM_RUNTIME_DIR");
}

/* ---- children ---- */

/* Closes every descriptor but stdio and keep. Descriptors at or above the
 * soft limit belong to a tool running us (valgrind) and are left alone. */
static void close_inherited(int keep)
{
    struct rlimit rl;
    rlim_t limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return;
    }
    int fds[4096];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < sizeof(fds) / sizeof(fds[0])) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != keep && fd != dirfd(d) && (rlim_t)fd < limit) {
            fds[n++] = fd;
        }
    }
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        close(fds[i]);
    }
}

/* ---- children that are threads ---- */

typedef struct support_thread {
    pthread_t tid;
    support_child_fn fn;
    void *arg;
    int chan;
    int status;
    atomic_bool done;
    atomic_bool stop; /* a server child is asked to stop */
} support_thread;

static bool children_as_threads;
static _Thread_local support_thread *self_thread;

/* Children not reaped yet. A test whose assertion failed jumps past its
 * own cleanup: support_host_end() then ends what it left, so that its
 * server does not hold its name (or its thread run on) into the tests
 * after it, which would all fail for it. */
#define SUPPORT_MAX_LIVE 64
static struct live_child {
    pid_t pid; /* 0: a free slot */
    support_thread *thread;
    int chan;
} live[SUPPORT_MAX_LIVE];

static void live_add(pid_t pid, support_thread *thread, int chan)
{
    for (size_t i = 0; i < SUPPORT_MAX_LIVE; i++) {
        if (live[i].pid == 0) {
            live[i] = (struct live_child){pid, thread, chan};
            return;
        }
    }
}

static void live_remove(pid_t pid, const support_thread *thread)
{
    for (size_t i = 0; i < SUPPORT_MAX_LIVE; i++) {
        if (live[i].pid != 0 && live[i].pid == pid && live[i].thread == thread) {
            live[i].pid = 0;
            return;
        }
    }
}

/* Ends every child left: a process is killed, a thread asked to stop and
 * joined (one that does not stop within the deadline is left running). */
static void live_end_all(void)
{
    for (size_t i = 0; i < SUPPORT_MAX_LIVE; i++) {
        struct live_child l = live[i];
        if (l.pid == 0) {
            continue;
        }
        live[i].pid = 0;
        fprintf(stderr, "support: ending a child the test left (its cleanup was skipped)\n");
        close(l.chan);
        if (l.thread == NULL) {
            kill(l.pid, SIGKILL);
            while (waitpid(l.pid, NULL, 0) < 0 && errno == EINTR) {
            }
            continue;
        }
        atomic_store(&l.thread->stop, true);
        long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
        while (!atomic_load(&l.thread->done) && support_now_ms() < deadline) {
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (atomic_load(&l.thread->done)) {
            pthread_join(l.thread->tid, NULL);
            free(l.thread);
        }
    }
}

void support_children_as_threads(bool on)
{
    children_as_threads = on;
}

bool support_children_are_threads(void)
{
    return children_as_threads;
}

static void *thread_child_main(void *arg)
{
    support_thread *t = arg;
    active_driver = &child_driver;
    active_host = NULL;
    self_thread = t;
    t->status = t->fn(t->chan, t->arg);
    close(t->chan);
    atomic_store(&t->done, true);
    return NULL;
}

static void thread_fork(support_child *out, support_child_fn fn, void *arg, const int sv[2])
{
    support_thread *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->fn = fn;
    t->arg = arg;
    t->chan = sv[1];
    assert_int_equal(pthread_create(&t->tid, NULL, thread_child_main, t), 0);
    out->pid = getpid();
    out->chan = sv[0];
    out->thread = t;
    live_add(out->pid, t, sv[0]);
}

/* Joins a thread child that is done; with wait, waits for it up to the
 * deadline first, and a child that does not end by then ends the tests
 * (a thread cannot be killed). */
static bool thread_reap(support_child *c, bool wait, int *status)
{
    support_thread *t = c->thread;
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (!atomic_load(&t->done)) {
        if (!wait) {
            return false;
        }
        if (support_now_ms() >= deadline) {
            fprintf(stderr, "support: a child thread did not end\n");
            abort();
        }
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    pthread_join(t->tid, NULL);
    *status = t->status;
    live_remove(c->pid, t);
    free(t);
    c->thread = NULL;
    return true;
}

void support_fork(support_child *out, support_child_fn fn, void *arg)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    out->thread = NULL;
    if (children_as_threads) {
        thread_fork(out, fn, arg, sv);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(120);
        }
        /* The test runner's crash handlers would jump back into it. */
        int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGSYS, SIGABRT, SIGTERM};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
            signal(sigs[i], SIG_DFL);
        }
        signal(SIGPIPE, SIG_IGN);
        active_driver = &child_driver;
        inherited_host = active_host; /* the parent's: still reachable, never used */
        active_host = NULL;
        close_inherited(sv[1]);
        _exit(fn(sv[1], arg));
    }
    close(sv[1]);
    out->pid = pid;
    out->chan = sv[0];
    live_add(pid, NULL, sv[0]);
}

static int decode_status(int status)
{
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return 255;
}

static void child_forget(support_child *c)
{
    c->pid = 0;
    if (c->chan >= 0) {
        close(c->chan);
        c->chan = -1;
    }
}

bool support_child_exited(support_child *c, int *status)
{
    if (c->pid <= 0) {
        return false;
    }
    if (c->thread != NULL) {
        if (!thread_reap(c, false, status)) {
            return false;
        }
        child_forget(c);
        return true;
    }
    int st;
    pid_t r = waitpid(c->pid, &st, WNOHANG);
    if (r != c->pid) {
        return false;
    }
    *status = decode_status(st);
    live_remove(c->pid, NULL);
    child_forget(c);
    return true;
}

int support_child_wait(support_child *c, int timeout_ms)
{
    if (c->pid <= 0) {
        return -1;
    }
    long long deadline = support_now_ms() + timeout_ms;
    int status;
    while (!support_child_exited(c, &status)) {
        if (support_now_ms() >= deadline) {
            support_child_kill(c);
            return -1;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return status;
}

void support_child_kill(support_child *c)
{
    if (c->pid <= 0) {
        return;
    }
    if (c->thread != NULL) {
        int status;
        atomic_store(&c->thread->stop, true);
        thread_reap(c, true, &status);
        child_forget(c);
        return;
    }
    kill(c->pid, SIGKILL);
    while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    live_remove(c->pid, NULL);
    child_forget(c);
}

bool support_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
    long long deadline = support_now_ms() + timeout_ms;
    size_t have = 0;
    while (have < len) {
        long long left = deadline - support_now_ms();
        if (left <= 0) {
            return false;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno != EINTR) {
            return false;
        }
        if (n <= 0) {
            continue;
        }
        ssize_t got = read(fd, (char *)buf + have, len - have);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (got <= 0) {
            return false;
        }
        have += (size_t)got;
    }
    return true;
}

bool support_write_full(int fd, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        done += (size_t)n;
    }
    return true;
}

/* ---- servers in children ---- */

static volatile sig_atomic_t stop_requested;

static void on_sigterm(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct server_args {
    const char *name;
    const seam_server_config *cfg;
} server_args;

static int server_main(int chan, void *arg)
{
    const server_args *a = arg;
    if (self_thread == NULL) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_sigterm; /* no SA_RESTART: poll() returns at once */
        sigaction(SIGTERM, &sa, NULL);
    }
    seam_loop *loop = NULL;
    seam_server *server = NULL;
    int r = seam_poll_new(0, &loop);
    if (r == 0) {
        r = seam_server_listen(loop, a->name, a->cfg, &server);
    }
    support_write_full(chan, &r, sizeof(r));
    if (r < 0) {
        return 1;
    }
    support_child_loop = loop;
    while (!stop_requested && (self_thread == NULL || !atomic_load(&self_thread->stop))) {
        if (seam_poll_run_once(loop, 100) < 0) {
            return 2;
        }
    }
    seam_server_close(server);
    seam_loop_free(loop);
    return 0;
}

void support_spawn_server(support_child *out, const char *name, const seam_server_config *cfg)
{
    server_args a = {name, cfg};
    support_fork(out, server_main, &a);
    int r = -1;
    assert_true(support_read_full(out->chan, &r, sizeof(r), SUPPORT_DEADLINE_MS));
    assert_int_equal(r, 0);
}

int support_server_stop(support_child *c)
{
    if (c->pid <= 0) {
        return -1;
    }
    if (c->thread != NULL) {
        atomic_store(&c->thread->stop, true);
    } else {
        kill(c->pid, SIGTERM);
    }
    return support_child_wait(c, SUPPORT_DEADLINE_MS);
}

/* ---- running the parent's loop ---- */

bool support_run_until_freed(seam_loop *loop, support_pred pred, void *arg, const bool *freed,
                             int timeout_ms)
{
    long long deadline = support_now_ms() + timeout_ms;
    while (!(freed != NULL && *freed) && !pred(arg)) {
        long long left = deadline - support_now_ms();
        if (left <= 0) {
            break;
        }
        if (support_run_once(loop, left > 100 ? 100 : (int)left) < 0) {
            break;
        }
    }
    return pred(arg);
}

bool support_run_until(seam_loop *loop, support_pred pred, void *arg, int timeout_ms)
{
    return support_run_until_freed(loop, pred, arg, NULL, timeout_ms);
}

typedef struct count_target {
    const int *counter;
    int target;
} count_target;

static bool count_reached(void *arg)
{
    const count_target *t = arg;
    return *t->counter >= t->target;
}

bool support_run_until_count(seam_loop *loop, const int *counter, int target, int timeout_ms)
{
    count_target t = {counter, target};
    return support_run_until(loop, count_reached, &t, timeout_ms);
}

typedef struct exit_wait {
    support_child *child;
    int status;
    bool done;
} exit_wait;

static bool child_done(void *arg)
{
    exit_wait *w = arg;
    if (!w->done) {
        w->done = support_child_exited(w->child, &w->status);
    }
    return w->done;
}

int support_run_until_exit(seam_loop *loop, support_child *c, int timeout_ms)
{
    exit_wait w = {c, -1, false};
    if (!support_run_until(loop, child_done, &w, timeout_ms)) {
        support_child_kill(c);
        return -1;
    }
    return w.status;
}

bool support_become_nobody(void)
{
    return setgroups(0, NULL) == 0 && setgid(SUPPORT_NOBODY) == 0 && setuid(SUPPORT_NOBODY) == 0 &&
           getuid() == SUPPORT_NOBODY;
}

bool support_accept_anyone(const seam_creds *creds, void *userdata)
{
    (void)creds;
    (void)userdata;
    return true;
}

seam_loop *support_test_begin(char *dir, size_t len)
{
    support_runtime_dir_create(dir, len);
    support_host_begin();
    return support_loop_new();
}

void support_test_end(seam_loop *loop, const char *dir)
{
    if (loop != NULL) {
        seam_loop_free(loop);
    }
    support_host_end();
    support_runtime_dir_remove(dir);
}

void support_test_filter_from_env(void)
{
    const char *filter = getenv("SEAM_TEST_FILTER");
    if (filter != NULL && filter[0] != '\0') {
        cmocka_set_test_filter(filter);
    }
}

bool support_run_until_readable(seam_loop *loop, int fd, int timeout_ms)
{
    long long deadline = support_now_ms() + timeout_ms;
    struct pollfd p = {fd, POLLIN, 0};
    while (poll(&p, 1, 0) == 0) {
        if (support_now_ms() >= deadline || support_run_once(loop, 10) < 0) {
            return false;
        }
    }
    return true;
}
