/* SPDX-License-Identifier: MIT */
/* regress_names.c - names, runtime directories, lock files and the peer
 * limits of a server, attacked across processes: descriptor exhaustion,
 * probes racing owners, other users planting links and squatting names,
 * files in the way, successors whose files must survive, quotas. Each test
 * runs in a private runtime directory; the parent's loop is a poll loop,
 * its peers are forked processes. Deadlines only bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support.h"

#include "frame.h"
#include "hello.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SEAM_SOURCE_DIR
#error "SEAM_SOURCE_DIR must name the source tree"
#endif

#ifndef SEAM_EEXIST
#define SEAM_EEXIST (-EEXIST) /* for a run against the code before it */
#endif

#ifndef SEAM_ENAMETOOLONG
#define SEAM_ENAMETOOLONG (-ENAMETOOLONG) /* for a run against the code before it */
#endif

#define NAME    "t.names"
#define CALL_MS SUPPORT_DEADLINE_MS
#define NOBODY  SUPPORT_NOBODY

/* ---- fixture ---- */

typedef struct fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    support_child children[4];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    for (size_t i = 0; i < 4; i++) {
        f->children[i].chan = -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < 4; i++) {
        support_child_kill(&f->children[i]);
    }
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

static void path_in(const fixture *f, const char *leaf, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/%s", f->dir, leaf);
    assert_true(n > 0 && (size_t)n < len);
}

/* ---- an echo server's behaviour ---- */

/* Forks fn into c; what it reports once ready (0 when it is). */
static int fork_reporting(support_child *c, support_child_fn fn, void *arg)
{
    support_fork(c, fn, arg);
    int r = -1;
    assert_true(support_read_full(c->chan, &r, sizeof(r), SUPPORT_DEADLINE_MS));
    return r;
}

typedef struct echo_state {
    int connected;
    int invalid;
    int last_invalid;
    bool ask_creds; /* ask every new peer for its credentials, as `seam listen` does */
} echo_state;

static void echo_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    echo_state *st = userdata;
    switch (ev->type) {
    case SEAM_EVENT_CONNECTED:
        st->connected++;
        if (st->ask_creds) {
            seam_creds cr;
            seam_conn_creds(conn, &cr);
        }
        break;
    case SEAM_EVENT_REQUEST:
        seam_request_reply(ev->request, ev->value);
        break;
    case SEAM_EVENT_INVALID:
        st->invalid++;
        st->last_invalid = ev->error;
        break;
    default:
        break;
    }
}

/* ---- a server in a child, with its own limits ---- */

typedef struct limited_args {
    const char *name;
    rlim_t nofile;      /* 0: leave the limit alone */
    int fill_below;     /* > 0: hold every descriptor below this, then lower the limit to it */
    unsigned max_conns; /* 0: default */
    unsigned per_uid;   /* 0: default */
    bool ask_creds;
} limited_args;

typedef struct limited_report {
    long long iterations; /* loop iterations while serving */
    int errors_logged;
    int listen_status;
} limited_report;

static volatile sig_atomic_t limited_stop;
static volatile sig_atomic_t limited_free;

static void limited_on_signal(int sig)
{
    if (sig == SIGTERM) {
        limited_stop = 1;
    } else {
        limited_free = 1;
    }
}

static void count_errors(seam_log_level level, const char *message, void *userdata)
{
    (void)message;
    if (level == SEAM_LOG_ERROR) {
        (*(int *)userdata)++;
    }
}

/* Serves the echo behaviour until SIGTERM; SIGUSR1 frees the descriptors
 * held by fill_below. Reports its iterations and error logs on the way
 * out. */
static int limited_server_main(int chan, void *arg)
{
    const limited_args *a = arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = limited_on_signal; /* no SA_RESTART: poll() returns */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    limited_report rep = {0, 0, 0};
    if (a->nofile > 0) {
        struct rlimit rl = {a->nofile, a->nofile};
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = a->nofile;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            return 3;
        }
    }
    int held[1024];
    int nheld = 0;
    if (a->fill_below > 0) {
        for (int fd = 0; fd < a->fill_below && nheld < 1024; fd++) {
            if (fcntl(fd, F_GETFD) < 0) {
                held[nheld++] = open("/dev/null", O_RDONLY | O_CLOEXEC);
            }
        }
    }
    echo_state st = {.ask_creds = a->ask_creds};
    seam_loop *loop = NULL;
    seam_server *server = NULL;
    seam_server_config cfg = {.conn = {.on_event = echo_event, .userdata = &st},
                              .max_conns = a->max_conns};
#ifndef REGRESS_BEFORE
    cfg.max_conns_per_uid = a->per_uid;
#endif
    int r = seam_poll_new(0, &loop);
    if (r == 0) {
        seam_loop_set_logger(loop, SEAM_LOG_ERROR, count_errors, &rep.errors_logged);
        r = seam_server_listen(loop, a->name, &cfg, &server);
    }
    if (r == 0 && a->fill_below > 0) {
        /* Every descriptor below the limit is taken, and the ones the
         * server holds lie above it: freeing one of those gains nothing. */
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = (rlim_t)a->fill_below;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    rep.listen_status = r;
    support_write_full(chan, &r, sizeof(r));
    if (r < 0) {
        return 1;
    }
    while (!limited_stop) {
        if (limited_free) {
            limited_free = 0;
            for (int i = 0; i < nheld; i++) {
                close(held[i]);
            }
            nheld = 0;
        }
        if (seam_poll_run_once(loop, 100) < 0) {
            return 2;
        }
        rep.iterations++;
    }
    seam_server_close(server);
    seam_loop_free(loop);
    return support_write_full(chan, &rep, sizeof(rep)) ? 0 : 4;
}

static void spawn_limited(support_child *c, const limited_args *a)
{
    support_fork(c, limited_server_main, (void *)a);
    int r = -1;
    assert_true(support_read_full(c->chan, &r, sizeof(r), SUPPORT_DEADLINE_MS));
    assert_int_equal(r, 0);
}

static limited_report stop_limited(support_child *c)
{
    limited_report rep = {-1, -1, -1};
    kill(c->pid, SIGTERM);
    int chan = dup(c->chan);
    assert_int_equal(support_child_wait(c, SUPPORT_DEADLINE_MS), 0);
    assert_true(support_read_full(chan, &rep, sizeof(rep), SUPPORT_DEADLINE_MS));
    close(chan);
    return rep;
}

/* ---- many clients, each calling once ---- */

typedef struct peer {
    seam_conn *conn;
    bool replied; /* the call ended */
    int status;   /* ... with this */
    int lost;     /* INVALID or INTERRUPTED: why */
} peer;

typedef struct crowd {
    peer *peers;
    int n;
    int ended; /* calls ended */
    int lost;  /* connections lost */
} crowd;

typedef struct outcome {
    int ok;
    int refused; /* a goodbye with SEAM_EAGAIN */
    int other;
    int other_error; /* the first other outcome's code */
} outcome;

static void crowd_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    peer *p = userdata;
    (void)conn;
    if ((ev->type == SEAM_EVENT_INVALID || ev->type == SEAM_EVENT_INTERRUPTED) && p->lost == 0) {
        p->lost = ev->error != 0 ? ev->error : -1;
    }
}

static crowd *crowd_of;

static void crowd_reply(seam_conn *conn, const seam_reply *reply, void *userdata)
{
    peer *p = userdata;
    (void)conn;
    p->replied = true;
    p->status = reply->status;
    crowd_of->ended++;
}

static bool crowd_settled(void *arg)
{
    crowd *c = arg;
    if (c->ended < c->n) {
        return false;
    }
    for (int i = 0; i < c->n; i++) {
        if (c->peers[i].status != 0 && c->peers[i].lost == 0) {
            return false; /* the goodbye's code is still on its way */
        }
    }
    return true;
}

static void crowd_call(seam_conn *conn, peer *p)
{
    seam_value *m = seam_value_new_dict();
    seam_dict_set_string(m, "op", "echo");
    p->replied = false;
    int r = seam_conn_call(conn, m, CALL_MS, crowd_reply, p, NULL);
    seam_value_unref(m);
    if (r < 0) {
        p->replied = true;
        p->status = r;
        crowd_of->ended++;
    }
}

/* Connects n clients to name and has each call once; keeps them open.
 * No assertions: it also runs in children. */
static void crowd_run(seam_loop *loop, crowd *c, const char *name, const seam_conn_config *base,
                      int n)
{
    *c = (crowd){0};
    c->peers = calloc((size_t)n, sizeof(peer));
    c->n = n;
    crowd_of = c;
    for (int i = 0; i < n; i++) {
        seam_conn_config cfg = base != NULL ? *base : (seam_conn_config){0};
        cfg.on_event = crowd_event;
        cfg.userdata = &c->peers[i];
        int r;
        long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
        /* A full backlog: let the server catch up. */
        while ((r = seam_conn_connect(loop, name, &cfg, &c->peers[i].conn)) == SEAM_EAGAIN &&
               support_now_ms() < deadline) {
            support_run_once(loop, 10);
        }
        if (r < 0) {
            c->peers[i].conn = NULL;
            c->peers[i].replied = true;
            c->peers[i].status = r;
            c->peers[i].lost = r;
            c->ended++;
            continue;
        }
        crowd_call(c->peers[i].conn, &c->peers[i]);
        support_run_once(loop, 0);
    }
    support_run_until(loop, crowd_settled, c, SUPPORT_DEADLINE_MS);
}

static outcome crowd_outcome(const crowd *c)
{
    outcome o = {0, 0, 0, 0};
    for (int i = 0; i < c->n; i++) {
        const peer *p = &c->peers[i];
        if (p->replied && p->status == 0) {
            o.ok++;
        } else if (p->lost == SEAM_EAGAIN) {
            o.refused++;
        } else {
            if (o.other == 0) {
                o.other_error = p->replied ? (p->lost != 0 ? p->lost : p->status) : 1;
            }
            o.other++;
        }
    }
    return o;
}

static void crowd_close(crowd *c)
{
    for (int i = 0; i < c->n; i++) {
        if (c->peers[i].conn != NULL) {
            seam_conn_close(c->peers[i].conn);
        }
    }
    free(c->peers);
    c->peers = NULL;
}

/* ==== descriptors (items 10 and 23) ======================================= */

/* Valgrind closes a descriptor the kernel made above the limit it
 * pretends, itself and without a word: no descriptor-limit test means
 * anything under it. */
static bool fd_limits_are_real(void)
{
    return !support_under_valgrind();
}

static void test_accept_out_of_descriptors_refuses_with_goodbye_and_keeps_serving(void **state)
{
    fixture *f = *state;
    if (!fd_limits_are_real()) {
        skip();
    }
    enum { LIMIT = 32, CLIENTS = 48 };
    limited_args a = {.name = NAME, .nofile = LIMIT};
    spawn_limited(&f->children[0], &a);
    /* The handshake bound is short so that a peer left waiting in the
     * backlog (what happened before) fails the test soon. */
    seam_conn_config cfg = {.handshake_timeout_ms = 3000};
    crowd c = {0};
    crowd_run(f->loop, &c, NAME, &cfg, CLIENTS);
    outcome o = crowd_outcome(&c);
    if (o.other != 0) {
        fail_msg("%d answered, %d refused, %d neither (first: %s)", o.ok, o.refused, o.other,
                 seam_errname(o.other_error));
    }
    assert_int_equal(o.ok + o.refused, CLIENTS);
    assert_true(o.refused > 0);      /* the limit was reached */
    assert_true(o.ok >= LIMIT - 12); /* one descriptor per peer */
    /* Existing peers are still served. */
    int before = c.ended;
    for (int i = 0; i < CLIENTS; i++) {
        if (c.peers[i].status == 0) {
            crowd_call(c.peers[i].conn, &c.peers[i]);
            assert_true(support_run_until_count(f->loop, &c.ended, before + 1, CALL_MS));
            assert_int_equal(c.peers[i].status, 0);
            break;
        }
    }
    /* Descriptors free again: a new peer is served. */
    crowd_close(&c);
    for (int i = 0; i < 10; i++) {
        support_run_once(f->loop, 20);
    }
    crowd again = {0};
    crowd_run(f->loop, &again, NAME, &cfg, 1);
    outcome o2 = crowd_outcome(&again);
    crowd_close(&again);
    assert_int_equal(o2.ok, 1);
    limited_report rep = stop_limited(&f->children[0]);
    print_message("%d peers: %d answered, %d refused; %lld server iterations, %d errors logged\n",
                  CLIENTS, o.ok, o.refused, rep.iterations, rep.errors_logged);
    /* Before, each of the ~150,000 wake-ups a second logged an error. */
    if (rep.errors_logged != 0 || rep.iterations >= 20000) {
        fail_msg("%lld iterations, %d errors logged", rep.iterations, rep.errors_logged);
    }
}

/* The refusal needs a descriptor too; here not even giving up the reserve
 * frees one below the limit, so the listener must rest instead of waking
 * the loop without end, and take the waiting peer once one is free. */
static void test_accept_with_no_descriptor_to_spare_pauses_instead_of_spinning(void **state)
{
    fixture *f = *state;
    if (!fd_limits_are_real()) {
        skip();
    }
    limited_args a = {.name = NAME, .fill_below = 40};
    spawn_limited(&f->children[0], &a);
    seam_conn_config cfg = {.handshake_timeout_ms = CALL_MS};
    crowd c = {0};
    c.peers = calloc(1, sizeof(peer));
    c.n = 1;
    crowd_of = &c;
    cfg.on_event = crowd_event;
    cfg.userdata = &c.peers[0];
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &c.peers[0].conn), 0);
    crowd_call(c.peers[0].conn, &c.peers[0]);
    /* A second of the server being stuck. */
    long long until = support_now_ms() + 1000;
    while (support_now_ms() < until) {
        support_run_once(f->loop, 50);
    }
    assert_int_equal(c.ended, 0);
    kill(f->children[0].pid, SIGUSR1); /* descriptors free up */
    assert_true(support_run_until_count(f->loop, &c.ended, 1, CALL_MS));
    assert_int_equal(c.peers[0].status, 0);
    crowd_close(&c);
    limited_report rep = stop_limited(&f->children[0]);
    print_message("%lld server iterations, %d errors logged\n", rep.iterations, rep.errors_logged);
    /* A rest of 100 ms between tries: a few dozen wake-ups, where the
     * spinning loop made hundreds of thousands. */
    if (rep.iterations >= 2000 || rep.errors_logged >= 50) {
        fail_msg("%lld iterations, %d errors logged", rep.iterations, rep.errors_logged);
    }
}

static int count_open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

typedef struct creds_probe {
    seam_conn *peer;
} creds_probe;

static void probe_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    creds_probe *p = userdata;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        p->peer = conn;
    } else if (ev->type == SEAM_EVENT_REQUEST) {
        seam_request_reply(ev->request, ev->value);
    }
}

static bool probe_connected(void *arg)
{
    return ((creds_probe *)arg)->peer != NULL;
}

static void test_asking_a_peer_for_credentials_costs_no_descriptor(void **state)
{
    fixture *f = *state;
    creds_probe p = {NULL};
    seam_server_config scfg = {.conn = {.on_event = probe_event, .userdata = &p}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &scfg, &srv), 0);
    seam_conn *client = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, NULL, &client), 0);
    assert_true(support_run_until(f->loop, probe_connected, &p, SUPPORT_DEADLINE_MS));
    int before = count_open_fds();
    seam_creds cr;
    assert_int_equal(seam_conn_creds(p.peer, &cr), 0);
    assert_int_equal(cr.pid, getpid());
    assert_int_equal(cr.uid, geteuid());
    assert_int_equal(count_open_fds(), before);
    assert_int_equal(cr.pidfd, -1);
#ifndef REGRESS_BEFORE
    /* The pidfd is made only when asked for, once. */
    int pidfd = seam_conn_pidfd(p.peer);
    if (pidfd != SEAM_ENOTSUP) {
        assert_true(pidfd >= 0);
        assert_int_equal(count_open_fds(), before + 1);
        assert_int_equal(seam_conn_pidfd(p.peer), pidfd);
        assert_int_equal(seam_conn_creds(p.peer, &cr), 0);
        assert_int_equal(cr.pidfd, pidfd);
        assert_int_equal(count_open_fds(), before + 1);
    }
#endif
    seam_conn_close(client);
    seam_server_close(srv);
}

/* The peer limit is reachable at the default descriptor limit (1,024),
 * with a server asking every peer for its credentials as `seam listen`
 * does; what does not fit is refused with a goodbye, never left waiting. */
static void test_max_conns_peers_served_or_refused_with_goodbye_at_default_fd_limit(void **state)
{
    fixture *f = *state;
    if (!fd_limits_are_real()) {
        skip();
    }
    enum { PEERS = 1024 };
    limited_args a = {.name = NAME, .nofile = 1024, .ask_creds = true};
    spawn_limited(&f->children[0], &a);
    seam_conn_config cfg = {.handshake_timeout_ms = 5000};
    crowd c = {0};
    crowd_run(f->loop, &c, NAME, &cfg, PEERS);
    outcome o = crowd_outcome(&c);
    crowd_close(&c);
    limited_report rep = stop_limited(&f->children[0]);
    print_message("%d peers: %d answered, %d refused with a goodbye, %d neither; %lld server "
                  "iterations\n",
                  PEERS, o.ok, o.refused, o.other, rep.iterations);
    if (o.other != 0) {
        fail_msg("%d answered, %d refused, %d neither (first: %s)", o.ok, o.refused, o.other,
                 seam_errname(o.other_error));
    }
    assert_int_equal(o.ok + o.refused, PEERS);
    /* One descriptor per peer: all but the server's own few fit (before,
     * a pidfd beside each socket halved that). */
    assert_true(o.ok >= PEERS - 16);
}

/* ==== probing a name (item 13) ============================================ */

static int prober_main(int chan, void *arg)
{
    (void)arg;
    int n = 0;
    char c;
    for (;;) {
        seam_name_owned(NAME);
        n++;
        if ((n & 63) == 0 && recv(chan, &c, 1, MSG_DONTWAIT) > 0) {
            break;
        }
    }
    return support_write_full(chan, &n, sizeof(n)) ? 0 : 11;
}

static void test_probing_a_name_never_makes_a_listen_fail(void **state)
{
    fixture *f = *state;
    enum { PROBERS = 3 };
    int rounds = (int)(2000 * support_scale() + 0.5);
    for (int i = 0; i < PROBERS; i++) {
        support_fork(&f->children[i], prober_main, NULL);
    }
    int failed = 0;
    int first_error = 0;
    for (int i = 0; i < rounds; i++) {
        seam_server *srv = NULL;
        int r = seam_server_listen(f->loop, NAME, NULL, &srv);
        if (r < 0) {
            failed++;
            first_error = first_error != 0 ? first_error : r;
            continue;
        }
        seam_server_close(srv);
    }
    for (int i = 0; i < PROBERS; i++) {
        assert_true(support_write_full(f->children[i].chan, "x", 1));
        int probes = 0;
        assert_true(
            support_read_full(f->children[i].chan, &probes, sizeof(probes), SUPPORT_DEADLINE_MS));
        assert_true(probes > 0);
        assert_int_equal(support_child_wait(&f->children[i], SUPPORT_DEADLINE_MS), 0);
    }
    if (failed != 0) {
        fail_msg("%d of %d listens failed, first with %s", failed, rounds,
                 seam_errname(first_error));
    }
}

/* ==== the lock file's name (item 17) ====================================== */

/* docs/protocol.md as one string, its lines joined by spaces (static: a
 * failed assertion leaks nothing). */
static char *read_protocol(void)
{
    FILE *fp = fopen(SEAM_SOURCE_DIR "/docs/protocol.md", "r");
    assert_non_null(fp);
    static char text[256 * 1024];
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        text[i] = text[i] == '\n' ? ' ' : text[i];
    }
    return text;
}

/* Replaces the directory prefix from with to in path. */
static void rebase(const char *path, const char *from, const char *to, char *out, size_t len)
{
    size_t fl = strlen(from);
    assert_memory_equal(path, from, fl);
    int n = snprintf(out, len, "%s%s", to, path + fl);
    assert_true(n > 0 && (size_t)n < len);
}

/* Every example "`unix:P` is locked by `L`" of docs/protocol.md holds:
 * serving P makes L (in a directory of our own). And one socket has one
 * lock however it is addressed: a name and the unix: path of its socket
 * exclude each other. */
static void test_lock_file_of_a_unix_path_is_the_one_protocol_md_names(void **state)
{
    fixture *f = *state;
    char *doc = read_protocol();
    int examples = 0;
    bool with_sock = false;
    const char *key = "` is locked by `";
    for (char *p = strstr(doc, key); p != NULL; p = strstr(p + 1, key)) {
        char *open_tick = p;
        while (open_tick > doc && *(open_tick - 1) != '`') {
            open_tick--;
        }
        char sock[256];
        char lock[256];
        size_t sl = (size_t)(p - open_tick);
        assert_true(sl < sizeof(sock) && strncmp(open_tick, "unix:", 5) == 0);
        memcpy(sock, open_tick + 5, sl - 5);
        sock[sl - 5] = '\0';
        const char *l = p + strlen(key);
        const char *end = strchr(l, '`');
        assert_non_null(end);
        assert_true((size_t)(end - l) < sizeof(lock));
        memcpy(lock, l, (size_t)(end - l));
        lock[end - l] = '\0';
        /* The examples live in one directory, /run/app. */
        char s2[PATH_MAX];
        char l2[PATH_MAX];
        char name[PATH_MAX + 8];
        rebase(sock, "/run/app", f->dir, s2, sizeof(s2));
        rebase(lock, "/run/app", f->dir, l2, sizeof(l2));
        snprintf(name, sizeof(name), "unix:%s", s2);
        seam_server *srv = NULL;
        assert_int_equal(seam_server_listen(f->loop, name, NULL, &srv), 0);
        struct stat st;
        if (stat(l2, &st) != 0) {
            fail_msg("serving %s made no lock file %s", sock, lock);
        }
        seam_server_close(srv);
        with_sock = with_sock || strstr(sock, ".sock") != NULL;
        examples++;
    }
    assert_true(examples >= 2);
    assert_true(with_sock);
    /* A name and its socket's path are one name. */
    seam_server *by_name = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, NULL, &by_name), 0);
    char path[PATH_MAX];
    char name[PATH_MAX + 8];
    assert_int_equal(seam_name_path(NAME, path, sizeof(path)), 0);
    snprintf(name, sizeof(name), "unix:%s", path);
    seam_server *by_path = NULL;
    assert_int_equal(seam_server_listen(f->loop, name, NULL, &by_path), SEAM_EADDRINUSE);
    seam_server_close(by_name);
}

/* ==== runtime directories (items 22 and 27) =============================== */

static void test_empty_runtime_variables_count_as_unset_and_fallback_is_tmp_seam_uid(void **state)
{
    fixture *f = *state;
    char *doc = read_protocol();
    assert_non_null(strstr(doc, "`/tmp/seam-UID`"));
    assert_non_null(strstr(doc, "An empty variable counts as unset"));
    char *old_xdg = getenv("XDG_RUNTIME_DIR") != NULL ? strdup(getenv("XDG_RUNTIME_DIR")) : NULL;
    char dir[PATH_MAX];
    char want[PATH_MAX + 8];
    /* Empty SEAM_RUNTIME_DIR: XDG_RUNTIME_DIR/seam. */
    setenv("SEAM_RUNTIME_DIR", "", 1);
    setenv("XDG_RUNTIME_DIR", f->dir, 1);
    assert_int_equal(seam_runtime_dir(dir, sizeof(dir)), 0);
    snprintf(want, sizeof(want), "%s/seam", f->dir);
    assert_string_equal(dir, want);
    /* Empty (or relative) XDG_RUNTIME_DIR too: /tmp/seam-UID. */
    snprintf(want, sizeof(want), "/tmp/seam-%u", (unsigned)geteuid());
    struct stat st;
    bool existed = lstat(want, &st) == 0;
    setenv("XDG_RUNTIME_DIR", "", 1);
    assert_int_equal(seam_runtime_dir(dir, sizeof(dir)), 0);
    assert_string_equal(dir, want);
    setenv("XDG_RUNTIME_DIR", "relative/dir", 1);
    assert_int_equal(seam_runtime_dir(dir, sizeof(dir)), 0);
    assert_string_equal(dir, want);
    assert_int_equal(lstat(want, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    if (!existed) {
        rmdir(want);
    }
    if (old_xdg != NULL) {
        setenv("XDG_RUNTIME_DIR", old_xdg, 1);
        free(old_xdg);
    } else {
        unsetenv("XDG_RUNTIME_DIR");
    }
    setenv("SEAM_RUNTIME_DIR", f->dir, 1);
}

static void test_runtime_dir_others_may_write_to_or_of_another_user_is_refused(void **state)
{
    fixture *f = *state;
    if (getuid() != 0) {
        skip();
    }
    char dir[PATH_MAX];
    path_in(f, "shared", dir, sizeof(dir));
    assert_int_equal(mkdir(dir, 0700), 0);
    setenv("SEAM_RUNTIME_DIR", dir, 1);
    seam_server *srv = NULL;
    char path[PATH_MAX];
    seam_conn *conn = NULL;
    /* Mode 1777 (like /tmp): anyone can plant links or rename sockets. */
    assert_int_equal(chmod(dir, 01777), 0);
    assert_int_equal(seam_server_listen(f->loop, NAME, NULL, &srv), SEAM_EACCES);
    assert_int_equal(seam_name_path(NAME, path, sizeof(path)), SEAM_EACCES);
    assert_int_equal(seam_conn_connect(f->loop, NAME, NULL, &conn), SEAM_EACCES);
    /* Group-writable: the same. */
    assert_int_equal(chmod(dir, 0770), 0);
    assert_int_equal(seam_server_listen(f->loop, NAME, NULL, &srv), SEAM_EACCES);
    /* Another user's, even closed to everyone else. */
    assert_int_equal(chmod(dir, 0700), 0);
    assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
    assert_int_equal(seam_server_listen(f->loop, NAME, NULL, &srv), SEAM_EACCES);
    /* Ours, readable by others (a service's directory): accepted. */
    assert_int_equal(chown(dir, 0, 0), 0);
    assert_int_equal(chmod(dir, 0755), 0);
    assert_int_equal(seam_server_listen(f->loop, NAME, NULL, &srv), 0);
    seam_server_close(srv);
    setenv("SEAM_RUNTIME_DIR", f->dir, 1);
}

typedef struct plant_args {
    const char *link;
    const char *target;
} plant_args;

static int plant_main(int chan, void *arg)
{
    const plant_args *a = arg;
    if (!support_become_nobody()) {
        return 10;
    }
    int r = symlink(a->target, a->link) == 0 ? 0 : errno;
    return support_write_full(chan, &r, sizeof(r)) ? 0 : 11;
}

/* Has another user (nobody) plant link -> target, and waits until done. */
static void plant_as_nobody(fixture *f, const char *link, const char *target)
{
    plant_args a = {link, target};
    int r = fork_reporting(&f->children[0], plant_main, &a);
    assert_int_equal(support_child_wait(&f->children[0], SUPPORT_DEADLINE_MS), 0);
    assert_int_equal(r, 0);
}

/* leaf, made with mode in a test directory others may look into. */
static void make_open_dir(const fixture *f, const char *leaf, mode_t mode, char *dir, size_t len)
{
    path_in(f, leaf, dir, len);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chmod(dir, mode), 0);
    assert_int_equal(chmod(f->dir, 0755), 0);
}

/* A directory every user may write to (sticky, like /tmp), for unix:
 * paths: those are the caller's own choice and not checked. */
static void make_public_dir(const fixture *f, char *dir, size_t len)
{
    make_open_dir(f, "public", 01777, dir, len);
}

static void test_lock_path_symlink_planted_by_another_user_is_never_followed(void **state)
{
    fixture *f = *state;
    if (getuid() != 0) {
        skip();
    }
    char dir[PATH_MAX];
    make_public_dir(f, dir, sizeof(dir));
    char link_path[PATH_MAX];
    char target[PATH_MAX];
    char sock[PATH_MAX + 16];
    path_in(f, "public/x.lock", link_path, sizeof(link_path));
    path_in(f, "made-by-root", target, sizeof(target));
    snprintf(sock, sizeof(sock), "unix:%s/x.sock", dir);
    plant_as_nobody(f, link_path, target);
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, sock, NULL, &srv), SEAM_EACCES);
    struct stat st;
    assert_int_equal(lstat(target, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(lstat(link_path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
}

/* The server binds under a staging name first; another user who can
 * guess it (pid and a fixed suffix, before) blocks the name by planting a
 * file there. */
static void test_staging_name_cannot_be_guessed_to_block_a_listen(void **state)
{
    fixture *f = *state;
    if (getuid() != 0) {
        skip();
    }
    char dir[PATH_MAX];
    make_public_dir(f, dir, sizeof(dir));
    char guess[PATH_MAX + 64];
    snprintf(guess, sizeof(guess), "%s/x.sock.%ld.new", dir, (long)getpid());
    char target[PATH_MAX];
    path_in(f, "nowhere", target, sizeof(target));
    plant_as_nobody(f, guess, target);
    char name[PATH_MAX + 16];
    snprintf(name, sizeof(name), "unix:%s/x.sock", dir);
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, name, NULL, &srv), 0);
    seam_server_close(srv);
    struct stat st;
    assert_int_equal(lstat(guess, &st), 0); /* theirs, left alone */
}

/* Another user's server (a squatter) on a path in a public directory. */
static int squatter_main(int chan, void *arg)
{
    const char *name = arg;
    if (!support_become_nobody()) {
        return 10;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = limited_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    echo_state st = {0};
    seam_server_config cfg = {.conn = {.on_event = echo_event, .userdata = &st},
                              .accept = support_accept_anyone};
    seam_loop *loop = NULL;
    seam_server *srv = NULL;
    int r = seam_poll_new(0, &loop);
    if (r == 0) {
        r = seam_server_listen(loop, name, &cfg, &srv);
    }
    support_write_full(chan, &r, sizeof(r));
    if (r < 0) {
        return 1;
    }
    while (!limited_stop) {
        seam_poll_run_once(loop, 100);
    }
    seam_server_close(srv);
    seam_loop_free(loop);
    return 0;
}

static void test_client_talks_only_to_a_server_of_its_own_uid_or_root(void **state)
{
    fixture *f = *state;
    if (getuid() != 0) {
        skip();
    }
    char dir[PATH_MAX];
    make_public_dir(f, dir, sizeof(dir));
    char name[PATH_MAX + 16];
    snprintf(name, sizeof(name), "unix:%s/squat.sock", dir);
    assert_int_equal(fork_reporting(&f->children[0], squatter_main, name), 0);
    /* By default: refused before a byte is exchanged. */
    crowd c = {0};
    crowd_run(f->loop, &c, name, NULL, 1);
    int status = c.peers[0].status;
    crowd_close(&c);
    assert_int_equal(status, SEAM_EACCES);
#ifndef REGRESS_BEFORE
    /* A client that expects that user talks to it. */
    seam_conn_config cfg = {.expect_server_uid = true, .server_uid = NOBODY};
    crowd_run(f->loop, &c, name, &cfg, 1);
    outcome o = crowd_outcome(&c);
    crowd_close(&c);
    assert_int_equal(o.ok, 1);
    /* ... and to no one else: our own server is refused then. */
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, NULL, &srv), 0);
    crowd_run(f->loop, &c, NAME, &cfg, 1);
    status = c.peers[0].status;
    crowd_close(&c);
    seam_server_close(srv);
    assert_int_equal(status, SEAM_EACCES);
#endif
    kill(f->children[0].pid, SIGTERM);
    assert_int_equal(support_child_wait(&f->children[0], SUPPORT_DEADLINE_MS), 0);
}

/* ==== files that are not ours (items 28 and 29) =========================== */

static void test_listen_over_a_file_that_is_not_a_socket_leaves_it_intact(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX];
    char name[PATH_MAX + 8];
    path_in(f, "data", path, sizeof(path));
    snprintf(name, sizeof(name), "unix:%s", path);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("precious", fp);
    fclose(fp);
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, name, NULL, &srv), SEAM_EEXIST);
    char text[32] = {0};
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(text, sizeof(text), fp));
    fclose(fp);
    assert_string_equal(text, "precious");
    char lock[PATH_MAX + 8];
    snprintf(lock, sizeof(lock), "%s.lock", path);
    struct stat st;
    assert_int_equal(lstat(lock, &st), -1); /* nothing left behind */
    /* A symbolic link, a directory: the same. */
    char link_path[PATH_MAX];
    path_in(f, "link.sock", link_path, sizeof(link_path));
    assert_int_equal(symlink(path, link_path), 0);
    snprintf(name, sizeof(name), "unix:%s", link_path);
    assert_int_equal(seam_server_listen(f->loop, name, NULL, &srv), SEAM_EEXIST);
    assert_int_equal(lstat(link_path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    char sub[PATH_MAX];
    path_in(f, "sub", sub, sizeof(sub));
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(name, sizeof(name), "unix:%s", sub);
    assert_int_equal(seam_server_listen(f->loop, name, NULL, &srv), SEAM_EEXIST);
    assert_int_equal(lstat(sub, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

static void test_server_whose_lock_was_deleted_leaves_its_successors_files_on_exit(void **state)
{
    fixture *f = *state;
    char lock[PATH_MAX];
    char sock[PATH_MAX];
    path_in(f, NAME ".lock", lock, sizeof(lock));
    assert_int_equal(seam_name_path(NAME, sock, sizeof(sock)), 0);
    limited_args a = {.name = NAME};
    spawn_limited(&f->children[0], &a);
    assert_int_equal(unlink(lock), 0); /* a cleaner removed both of A's files */
    assert_int_equal(unlink(sock), 0);
    spawn_limited(&f->children[1], &a); /* takes the name: A's lock is gone */
    stop_limited(&f->children[0]);      /* A exits cleanly */
    struct stat st;
    assert_int_equal(lstat(sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(lstat(lock, &st), 0);
    assert_int_equal(seam_name_owned(NAME), 1);
    crowd c = {0};
    crowd_run(f->loop, &c, NAME, NULL, 1);
    outcome o = crowd_outcome(&c);
    crowd_close(&c);
    assert_int_equal(o.ok, 1); /* B answers */
    stop_limited(&f->children[1]);
    assert_int_equal(lstat(sock, &st), -1);
    assert_int_equal(lstat(lock, &st), -1);
}

/* ==== quotas (item 30) ==================================================== */

typedef struct crowd_args {
    const char *name;
    int n;
    bool as_nobody;
} crowd_args;

/* n clients calling once, reporting their outcome; they stay connected
 * until the parent writes a byte. */
static int crowd_main(int chan, void *arg)
{
    const crowd_args *a = arg;
    if (a->as_nobody && !support_become_nobody()) {
        return 10;
    }
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) < 0) {
        return 12;
    }
    crowd c = {0};
    crowd_run(loop, &c, a->name, NULL, a->n);
    outcome o = crowd_outcome(&c);
    support_write_full(chan, &o, sizeof(o));
    char byte;
    support_read_full(chan, &byte, 1, SUPPORT_DEADLINE_MS);
    crowd_close(&c);
    seam_loop_free(loop);
    return 0;
}

static outcome run_crowd_child(fixture *f, support_child *c, const crowd_args *a)
{
    support_fork(c, crowd_main, (void *)a);
    outcome o = {-1, -1, -1, 0};
    int chan = dup(c->chan);
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    struct pollfd p = {chan, POLLIN, 0};
    while (support_now_ms() < deadline && poll(&p, 1, 0) == 0) {
        support_run_once(f->loop, 10);
    }
    assert_true(support_read_full(chan, &o, sizeof(o), SUPPORT_DEADLINE_MS));
    close(chan);
    return o;
}

static void release_crowd_child(fixture *f, support_child *c)
{
    assert_true(support_write_full(c->chan, "x", 1));
    assert_int_equal(support_run_until_exit(f->loop, c, SUPPORT_DEADLINE_MS), 0);
}

static void test_peers_of_another_user_beyond_their_quota_refused_with_goodbye(void **state)
{
    fixture *f = *state;
    if (getuid() != 0) {
        skip();
    }
    echo_state st = {0};
    seam_server_config cfg = {.conn = {.on_event = echo_event, .userdata = &st},
                              .accept = support_accept_anyone,
                              .max_conns = 16};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    assert_int_equal(chmod(f->dir, 0755), 0);
    char path[PATH_MAX];
    assert_int_equal(seam_name_path(NAME, path, sizeof(path)), 0);
    assert_int_equal(chmod(path, 0777), 0);
    /* By default another user holds a quarter of the slots: 4 of 16. */
    crowd_args a = {NAME, 6, true};
    outcome o = run_crowd_child(f, &f->children[0], &a);
    assert_int_equal(o.other, 0);
    assert_int_equal(o.ok, 4);
    assert_int_equal(o.refused, 2);
    /* The server's own user still gets in beside them. */
    crowd_args own = {NAME, 6, false};
    outcome o2 = run_crowd_child(f, &f->children[1], &own);
    assert_int_equal(o2.ok, 6);
    release_crowd_child(f, &f->children[0]);
    release_crowd_child(f, &f->children[1]);
    seam_server_close(srv);
}

#ifndef REGRESS_BEFORE
static void test_per_uid_limit_set_applies_to_the_servers_own_user_too(void **state)
{
    fixture *f = *state;
    echo_state st = {0};
    seam_server_config cfg = {.conn = {.on_event = echo_event, .userdata = &st},
                              .max_conns_per_uid = 3};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    crowd_args a = {NAME, 5, false};
    outcome o = run_crowd_child(f, &f->children[0], &a);
    assert_int_equal(o.other, 0);
    assert_int_equal(o.ok, 3);
    assert_int_equal(o.refused, 2);
    release_crowd_child(f, &f->children[0]);
    seam_server_close(srv);
}

static bool peer_gone(void *arg)
{
    return ((echo_state *)arg)->invalid > 0;
}

static void pinged(seam_conn *conn, const seam_reply *reply, void *userdata)
{
    (void)conn;
    (void)reply;
    (*(int *)userdata)++;
}

static void test_idle_peer_closed_with_a_goodbye_carrying_etimedout(void **state)
{
    fixture *f = *state;
    echo_state st = {0};
    seam_server_config cfg = {.conn = {.on_event = echo_event, .userdata = &st},
                              .idle_timeout_ms = 1000};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    /* A client that pings every 100 ms stays; a silent one goes. */
    crowd busy = {0};
    crowd_run(f->loop, &busy, NAME, NULL, 1);
    crowd c = {0};
    crowd_run(f->loop, &c, NAME, NULL, 1);
    assert_int_equal(c.peers[0].status, 0);
    int pongs = 0;
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (c.peers[0].lost == 0 && support_now_ms() < deadline) {
        assert_int_equal(seam_conn_ping(busy.peers[0].conn, CALL_MS, pinged, &pongs), 0);
        long long next = support_now_ms() + 100;
        while (support_now_ms() < next) {
            support_run_once(f->loop, 20);
        }
    }
    assert_int_equal(c.peers[0].lost, SEAM_ETIMEDOUT);
    assert_true(support_run_until(f->loop, peer_gone, &st, SUPPORT_DEADLINE_MS));
    assert_int_equal(st.invalid, 1);
    assert_int_equal(st.last_invalid, SEAM_ETIMEDOUT);
    assert_int_equal(busy.peers[0].lost, 0);
    assert_true(pongs >= 5);
    crowd_close(&busy);
    crowd_close(&c);
    seam_server_close(srv);
}

typedef struct holder {
    seam_request *held;
} holder;

static void hold_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    holder *h = userdata;
    (void)conn;
    if (ev->type == SEAM_EVENT_REQUEST) {
        h->held = seam_request_keep(ev->request);
    }
}

static bool request_held(void *arg)
{
    return ((holder *)arg)->held != NULL;
}

/* Quiet while the server owes it an answer is not idle. */
static void test_peer_waiting_for_a_held_request_is_not_idle(void **state)
{
    fixture *f = *state;
    holder h = {NULL};
    seam_server_config cfg = {.conn = {.on_event = hold_event, .userdata = &h},
                              .idle_timeout_ms = 200};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    crowd c = {0};
    c.peers = calloc(1, sizeof(peer));
    c.n = 1;
    crowd_of = &c;
    seam_conn_config ccfg = {.on_event = crowd_event, .userdata = &c.peers[0]};
    assert_int_equal(seam_conn_connect(f->loop, NAME, &ccfg, &c.peers[0].conn), 0);
    crowd_call(c.peers[0].conn, &c.peers[0]);
    assert_true(support_run_until(f->loop, request_held, &h, SUPPORT_DEADLINE_MS));
    long long until = support_now_ms() + 1000; /* five idle timeouts */
    while (support_now_ms() < until) {
        support_run_once(f->loop, 50);
    }
    assert_int_equal(c.peers[0].lost, 0);
    seam_value *v = seam_value_new_dict();
    assert_int_equal(seam_request_reply(h.held, v), 0);
    seam_value_unref(v);
    assert_true(support_run_until_count(f->loop, &c.ended, 1, CALL_MS));
    assert_int_equal(c.peers[0].status, 0);
    crowd_close(&c);
    seam_server_close(srv);
}

/* ==== the runtime directory's path, liveness, descriptors (names2) ======== */

/* A listening socket at path that is no seam server's. */
static int plain_listener(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || n >= sizeof(addr.sun_path)) {
        return -1;
    }
    memcpy(addr.sun_path, path, n + 1);
    if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(s, 4) < 0) {
        close(s);
        return -1;
    }
    return s;
}

/* Listens on name where no server may start, and checks why; a server
 * that started all the same is closed so that nothing outlives the test. */
static void assert_listen_refused(fixture *f, const char *name, int expect)
{
    seam_server *srv = NULL;
    int r = seam_server_listen(f->loop, name, NULL, &srv);
    if (r == 0) {
        seam_server_close(srv);
    }
    assert_int_equal(r, expect);
}

static int nobody_listener_main(int chan, void *arg)
{
    const char *path = arg;
    if (!support_become_nobody()) {
        return 10;
    }
    int r = plain_listener(path) >= 0 ? 0 : errno;
    char c;
    if (!support_write_full(chan, &r, sizeof(r)) || r != 0) {
        return 11;
    }
    return read(chan, &c, 1) >= 0 ? 0 : 12; /* listens until told */
}

/* Nobody plants pw/cur -> other in a directory everyone may write to; the
 * directory reached (root's, closed) passed the check, so nobody chose
 * where root's server removes sockets and takes locks. */
static void test_runtime_dir_reached_through_another_users_link_is_refused(void **state)
{
    fixture *f = *state;
    if (getuid() != 0) {
        skip();
    }
    char pw[PATH_MAX];
    char other[PATH_MAX];
    char svc[PATH_MAX];
    char link_path[PATH_MAX];
    char env[PATH_MAX];
    /* Everyone may write to pw, and it is not sticky. */
    make_open_dir(f, "pw", 0777, pw, sizeof(pw));
    path_in(f, "other", other, sizeof(other));
    path_in(f, "other/svc", svc, sizeof(svc));
    path_in(f, "pw/cur", link_path, sizeof(link_path));
    path_in(f, "pw/cur/svc", env, sizeof(env));
    assert_int_equal(mkdir(other, 0755), 0);
    assert_int_equal(mkdir(svc, 0755), 0);
    /* Another root program's live socket, without a lock file. */
    char victim[PATH_MAX];
    path_in(f, "other/svc/" NAME ".sock", victim, sizeof(victim));
    int v = plain_listener(victim);
    assert_true(v >= 0);
    plant_as_nobody(f, link_path, other);
    setenv("SEAM_RUNTIME_DIR", env, 1);
    char buf[PATH_MAX];
    assert_int_equal(seam_runtime_dir(buf, sizeof(buf)), SEAM_EACCES);
    assert_listen_refused(f, NAME, SEAM_EACCES);
    struct stat st;
    assert_int_equal(lstat(victim, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    /* The same path through a link of root's, in a directory only root
     * may write to, is fine (like /var/run -> /run). */
    char mine[PATH_MAX];
    path_in(f, "mine", mine, sizeof(mine));
    assert_int_equal(symlink(other, mine), 0);
    path_in(f, "mine/svc", env, sizeof(env));
    setenv("SEAM_RUNTIME_DIR", env, 1);
    assert_int_equal(seam_runtime_dir(buf, sizeof(buf)), 0);
    close(v);
    setenv("SEAM_RUNTIME_DIR", f->dir, 1);
}

/* In a directory everyone may write to (not sticky), another user can
 * rename the runtime directory away and put one of theirs in its place
 * while the server runs; under a sticky one (like /tmp) they cannot. */
static void test_runtime_dir_under_a_directory_others_may_rename_in_is_refused(void **state)
{
    fixture *f = *state;
    if (getuid() != 0) {
        skip();
    }
    char pw[PATH_MAX];
    char run[PATH_MAX];
    char buf[PATH_MAX];
    make_open_dir(f, "pw", 0777, pw, sizeof(pw));
    path_in(f, "pw/run", run, sizeof(run));
    assert_int_equal(mkdir(run, 0755), 0);
    setenv("SEAM_RUNTIME_DIR", run, 1);
    assert_listen_refused(f, NAME, SEAM_EACCES);
    assert_int_equal(seam_runtime_dir(buf, sizeof(buf)), SEAM_EACCES);
    seam_server *srv = NULL;
    assert_int_equal(chmod(pw, 01777), 0);
    assert_int_equal(seam_runtime_dir(buf, sizeof(buf)), 0);
    assert_int_equal(seam_server_listen(f->loop, NAME, NULL, &srv), 0);
    seam_server_close(srv);
    setenv("SEAM_RUNTIME_DIR", f->dir, 1);
}

/* The directory checked is the one used: after the path to it is made to
 * lead elsewhere, the server still removes its own files on close. */
static void test_server_works_in_the_directory_it_checked_after_the_path_is_swapped(void **state)
{
    fixture *f = *state;
    char run[PATH_MAX];
    char old[PATH_MAX];
    char sock[PATH_MAX];
    char lock[PATH_MAX];
    path_in(f, "run", run, sizeof(run));
    path_in(f, "run.old", old, sizeof(old));
    path_in(f, "run.old/" NAME ".sock", sock, sizeof(sock));
    path_in(f, "run.old/" NAME ".lock", lock, sizeof(lock));
    assert_int_equal(mkdir(run, 0700), 0);
    setenv("SEAM_RUNTIME_DIR", run, 1);
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, NULL, &srv), 0);
    assert_int_equal(rename(run, old), 0);
    assert_int_equal(mkdir(run, 0700), 0);
    seam_server_close(srv);
    struct stat st;
    assert_int_equal(lstat(sock, &st), -1);
    assert_int_equal(lstat(lock, &st), -1);
    setenv("SEAM_RUNTIME_DIR", f->dir, 1);
}

/* A live server whose lock file a cleaner deleted still serves: it is
 * listed alive, and a second server of the name is refused instead of
 * unlinking its socket. */
static void test_live_socket_whose_lock_was_deleted_is_never_taken_over(void **state)
{
    fixture *f = *state;
    char lock[PATH_MAX];
    char sock[PATH_MAX];
    path_in(f, NAME ".lock", lock, sizeof(lock));
    assert_int_equal(seam_name_path(NAME, sock, sizeof(sock)), 0);
    limited_args a = {.name = NAME};
    spawn_limited(&f->children[0], &a);
    assert_int_equal(unlink(lock), 0);
    assert_int_equal(seam_name_owned(NAME), 1);
    assert_listen_refused(f, NAME, SEAM_EADDRINUSE);
    crowd c = {0};
    crowd_run(f->loop, &c, NAME, NULL, 1);
    outcome o = crowd_outcome(&c);
    crowd_close(&c);
    assert_int_equal(o.ok, 1); /* the first server still answers */
    stop_limited(&f->children[0]);
    /* Dead now: its socket is stale and is replaced. */
    assert_int_equal(seam_name_owned(NAME), 0);
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, NULL, &srv), 0);
    seam_server_close(srv);
}

static void test_live_socket_of_another_program_is_never_removed(void **state)
{
    fixture *f = *state;
    char sock[PATH_MAX];
    assert_int_equal(seam_name_path(NAME, sock, sizeof(sock)), 0);
    int v = plain_listener(sock);
    assert_true(v >= 0);
    assert_int_equal(seam_name_owned(NAME), 1);
    assert_listen_refused(f, NAME, SEAM_EADDRINUSE);
    struct stat st;
    assert_int_equal(lstat(sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    close(v);
}

static void test_socket_of_another_user_is_never_removed(void **state)
{
    fixture *f = *state;
    if (getuid() != 0) {
        skip();
    }
    char dir[PATH_MAX];
    make_public_dir(f, dir, sizeof(dir));
    char sock[PATH_MAX];
    char name[PATH_MAX + 8];
    path_in(f, "public/x.sock", sock, sizeof(sock));
    snprintf(name, sizeof(name), "unix:%s", sock);
    assert_int_equal(fork_reporting(&f->children[0], nobody_listener_main, sock), 0);
    assert_listen_refused(f, name, SEAM_EADDRINUSE);
    struct stat st;
    assert_int_equal(lstat(sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_true(support_write_full(f->children[0].chan, "x", 1));
    assert_int_equal(support_child_wait(&f->children[0], SUPPORT_DEADLINE_MS), 0);
    /* Dead, but still nobody's: left alone all the same. */
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, name, NULL, &srv), SEAM_EADDRINUSE);
    assert_int_equal(lstat(sock, &st), 0);
}

/* A directory or a link named like a socket is what it is, not a stale
 * socket. */
static void test_entry_that_is_not_a_socket_is_not_reported_stale(void **state)
{
    fixture *f = *state;
    char d[PATH_MAX];
    char l[PATH_MAX];
    path_in(f, "d.sock", d, sizeof(d));
    path_in(f, "l.sock", l, sizeof(l));
    assert_int_equal(mkdir(d, 0700), 0);
    assert_int_equal(symlink(d, l), 0);
    assert_int_equal(seam_name_owned("d"), SEAM_EEXIST);
    assert_int_equal(seam_name_owned("l"), SEAM_EEXIST);
    assert_int_equal(seam_name_owned("none"), 0);
}

static int reserve_main(int chan, void *arg)
{
    (void)arg;
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) < 0) {
        return 10;
    }
    int low = open("/dev/null", O_RDONLY); /* the lowest free descriptor */
    close(low);
    /* Raise the limit one descriptor at a time: the first that lets the
     * server start must let it hold its reserve too. */
    seam_server *srv = NULL;
    int r = -1;
    int refused[16];
    int nrefused = 0;
    for (int k = 0; k < 16 && r != 0; k++) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = (rlim_t)(low + k);
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            return 11;
        }
        r = seam_server_listen(loop, NAME, NULL, &srv);
        if (r != 0) {
            refused[nrefused++] = r;
        }
    }
    /* Every refusal says why, and a server that started can refuse a peer
     * with a goodbye: its reserve is what it takes the peer on. */
    for (int i = 0; i < nrefused; i++) {
        if (refused[i] != -EMFILE) {
            return 20 + i;
        }
    }
    if (!support_write_full(chan, &r, sizeof(r)) || r != 0) {
        return 12;
    }
    char c;
    while (read(chan, &c, 0) == 0) {
        struct pollfd p = {chan, POLLIN, 0};
        if (poll(&p, 1, 0) > 0) {
            break;
        }
        seam_poll_run_once(loop, 50);
    }
    seam_server_close(srv);
    seam_loop_free(loop);
    return 0;
}

static void test_server_never_starts_without_its_reserve_descriptor(void **state)
{
    fixture *f = *state;
    if (!fd_limits_are_real()) {
        skip();
    }
    assert_int_equal(fork_reporting(&f->children[0], reserve_main, NULL), 0);
    crowd c = {0};
    crowd_run(f->loop, &c, NAME, NULL, 1);
    outcome o = crowd_outcome(&c);
    crowd_close(&c);
    /* No descriptor for the peer: refused with a goodbye, never left to
     * time out. */
    assert_int_equal(o.ok + o.refused, 1);
    assert_true(support_write_full(f->children[0].chan, "x", 1));
    assert_int_equal(support_child_wait(&f->children[0], SUPPORT_DEADLINE_MS), 0);
}

static void test_relative_runtime_dir_is_refused(void **state)
{
    fixture *f = *state;
    char buf[PATH_MAX];
    seam_server *srv = NULL;
    setenv("SEAM_RUNTIME_DIR", "relative/dir", 1);
    assert_int_equal(seam_runtime_dir(buf, sizeof(buf)), SEAM_EINVAL);
    assert_int_equal(seam_name_path(NAME, buf, sizeof(buf)), SEAM_EINVAL);
    assert_int_equal(seam_server_listen(f->loop, NAME, NULL, &srv), SEAM_EINVAL);
    setenv("SEAM_RUNTIME_DIR", f->dir, 1);
}

static void test_socket_path_one_byte_too_long_is_enametoolong(void **state)
{
    fixture *f = *state;
    char name[256] = "unix:/";
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1; /* with the NUL */
    memset(name + 6, 'a', max);                                   /* one byte past */
    name[6 + max] = '\0';
    char buf[PATH_MAX];
    seam_server *srv = NULL;
    assert_int_equal(seam_name_path(name, buf, sizeof(buf)), SEAM_ENAMETOOLONG);
    assert_int_equal(seam_server_listen(f->loop, name, NULL, &srv), SEAM_ENAMETOOLONG);
    assert_string_equal(seam_errname(SEAM_ENAMETOOLONG), "SEAM_ENAMETOOLONG");
    assert_non_null(strstr(seam_strerror(SEAM_ENAMETOOLONG), "too long"));
    /* A name whose socket path would be too long, in the runtime
     * directory: the same. */
    char longname[201];
    memset(longname, 'n', 200);
    longname[200] = '\0';
    assert_int_equal(seam_name_path(longname, buf, sizeof(buf)), SEAM_ENAMETOOLONG);
}

/* A raw peer: connected, hello sent. */
static int raw_peer(const char *name)
{
    char path[PATH_MAX];
    assert_int_equal(seam_name_path(name, path, sizeof(path)), 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(addr.sun_path));
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    assert_int_equal(connect(s, (struct sockaddr *)&addr, sizeof(addr)), 0);
    seam__buf out = {0};
    seam__hello hello = {SEAM_PROTOCOL_VERSION, SEAM__FRAME_DEFAULT_MAX, 0, 0, 0};
    assert_int_equal(seam__hello_write(&hello, &out), 0);
    assert_int_equal(send(s, out.data, out.len, MSG_NOSIGNAL), (ssize_t)out.len);
    seam__buf_free(&out);
    return s;
}

/* Reads what s has; returns true at end of stream. Notes a goodbye. */
static bool raw_drain(int s, bool *goodbye)
{
    uint8_t buf[4096];
    for (;;) {
        ssize_t n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            return true;
        }
        if (n < 0) {
            return false;
        }
        /* The server's frames are small and come whole: its hello, then
         * (at the end) a goodbye, each a 16-byte header and its payload. */
        for (ssize_t i = 0; i + SEAM__FRAME_HEADER_SIZE <= n;) {
            uint32_t len = (uint32_t)buf[i] | (uint32_t)buf[i + 1] << 8 |
                           (uint32_t)buf[i + 2] << 16 | (uint32_t)buf[i + 3] << 24;
            if (buf[i + 4] == SEAM__KIND_GOODBYE) {
                *goodbye = true;
            }
            i += SEAM__FRAME_HEADER_SIZE + (ssize_t)len;
        }
    }
}

/* One byte of a never-finished frame every 300 ms kept bytes arriving,
 * which was all the idle timer looked at: the peer stayed for ever. */
static void test_peer_trickling_a_frame_is_closed_with_etimedout(void **state)
{
    fixture *f = *state;
    echo_state st = {0};
    seam_server_config cfg = {
        .conn = {.on_event = echo_event, .userdata = &st, .handshake_timeout_ms = 1500},
        .idle_timeout_ms = 1000};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    int s = raw_peer(NAME);
    /* A request header announcing 1 MiB, then nothing but a byte at a
     * time of it. */
    uint8_t frame[SEAM__FRAME_HEADER_SIZE + 64] = {0};
    seam__frame_header h = {1u << 20, SEAM__KIND_REQUEST, 0, 0, 1};
    seam__frame_header_write(frame, &h);
    bool goodbye = false;
    bool closed = false;
    size_t sent = 0;
    long long deadline = support_now_ms() + 8000; /* 5 frame timeouts */
    while (!closed && support_now_ms() < deadline && sent < sizeof(frame)) {
        if (send(s, frame + sent, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
            sent++;
        }
        long long next = support_now_ms() + 300;
        while (support_now_ms() < next && !closed) {
            support_run_once(f->loop, 20);
            closed = raw_drain(s, &goodbye);
        }
    }
    assert_true(closed);
    assert_true(goodbye);
    assert_true(support_run_until(f->loop, peer_gone, &st, SUPPORT_DEADLINE_MS));
    assert_int_equal(st.last_invalid, SEAM_ETIMEDOUT);
    close(s);
    seam_server_close(srv);
}

#endif

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        T(test_accept_out_of_descriptors_refuses_with_goodbye_and_keeps_serving),
        T(test_accept_with_no_descriptor_to_spare_pauses_instead_of_spinning),
        T(test_asking_a_peer_for_credentials_costs_no_descriptor),
        T(test_max_conns_peers_served_or_refused_with_goodbye_at_default_fd_limit),
        T(test_probing_a_name_never_makes_a_listen_fail),
        T(test_lock_file_of_a_unix_path_is_the_one_protocol_md_names),
        T(test_empty_runtime_variables_count_as_unset_and_fallback_is_tmp_seam_uid),
        T(test_runtime_dir_others_may_write_to_or_of_another_user_is_refused),
        T(test_lock_path_symlink_planted_by_another_user_is_never_followed),
        T(test_staging_name_cannot_be_guessed_to_block_a_listen),
        T(test_client_talks_only_to_a_server_of_its_own_uid_or_root),
        T(test_listen_over_a_file_that_is_not_a_socket_leaves_it_intact),
        T(test_server_whose_lock_was_deleted_leaves_its_successors_files_on_exit),
        T(test_peers_of_another_user_beyond_their_quota_refused_with_goodbye),
#ifndef REGRESS_BEFORE
        T(test_per_uid_limit_set_applies_to_the_servers_own_user_too),
        T(test_idle_peer_closed_with_a_goodbye_carrying_etimedout),
        T(test_peer_waiting_for_a_held_request_is_not_idle),
        T(test_runtime_dir_reached_through_another_users_link_is_refused),
        T(test_runtime_dir_under_a_directory_others_may_rename_in_is_refused),
        T(test_server_works_in_the_directory_it_checked_after_the_path_is_swapped),
        T(test_live_socket_whose_lock_was_deleted_is_never_taken_over),
        T(test_live_socket_of_another_program_is_never_removed),
        T(test_socket_of_another_user_is_never_removed),
        T(test_entry_that_is_not_a_socket_is_not_reported_stale),
        T(test_server_never_starts_without_its_reserve_descriptor),
        T(test_relative_runtime_dir_is_refused),
        T(test_socket_path_one_byte_too_long_is_enametoolong),
        T(test_peer_trickling_a_frame_is_closed_with_etimedout),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
