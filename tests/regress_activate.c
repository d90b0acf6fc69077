/* SPDX-License-Identifier: MIT */
/* regress_activate.c - socket activation and the idle exit. A server
 * started the way systemd starts one (its listening socket at descriptor
 * 3, LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES) takes that socket over; every
 * descriptor that is not what the variables claim is refused, and those
 * not meant for the server are left to the program. The first test is a
 * harness that binds the socket itself and execs `seam listen` as a
 * second process, twice, as a service manager would; the others set the
 * descriptors and variables up in a forked child that then listens. The
 * parent's loop is a poll loop. Deadlines only bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define NAME "t.activated"
#define CHAN 100 /* the report channel's number in a child: above what is passed */

typedef struct fixture {
    char dir[PATH_MAX];
    char path[PATH_MAX]; /* NAME's socket path */
    seam_loop *loop;
    support_child child;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    assert_int_equal(seam_name_path(NAME, f->path, sizeof(f->path)), 0);
    f->child.chan = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    support_child_kill(&f->child);
    support_test_end(f->loop, f->dir);
    unsetenv("SEAM_RUNTIME_DIR");
    free(f);
    return 0;
}

/* A listening (or, with type SOCK_DGRAM, bound) AF_UNIX socket at path. */
static int bound_socket(const char *path, int type)
{
    int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    unlink(path);
    assert_int_equal(bind(s, (struct sockaddr *)&addr, sizeof(addr)), 0);
    if (type == SOCK_STREAM) {
        assert_int_equal(listen(s, 16), 0);
    }
    return s;
}

static int accepts_connections(int fd)
{
    int v = 0;
    socklen_t len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0) {
        return -1;
    }
    return v;
}

/* 0 when a connect to path is taken (also into a backlog), else -errno. */
static int connect_to(const char *path)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path)) {
        close(s);
        return -ENAMETOOLONG;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int r = connect(s, (struct sockaddr *)&addr, sizeof(addr)) == 0 ? 0 : -errno;
    close(s);
    return r;
}

/* ---- a child set up as a service manager would, listening in-process ---- */

typedef enum pass_kind {
    PASS_CLOSED = 1,       /* the descriptor is not open at all */
    PASS_LISTEN_AT_NAME,   /* listening at NAME's socket path */
    PASS_LISTEN_ELSEWHERE, /* listening at another path */
    PASS_PIPE,             /* not a socket */
    PASS_PAIR,             /* a connected socket that does not listen */
    PASS_DGRAM_AT_NAME,    /* a datagram socket bound at NAME's path */
    PASS_TCP,              /* a listening TCP socket */
} pass_kind;

typedef enum pid_mode {
    PID_OWN = 1, /* LISTEN_PID is the child's pid */
    PID_PARENT,  /* ... another process's */
} pid_mode;

typedef struct act_spec {
    pass_kind pass[2];
    int npass;
    pid_mode pid;
    const char *fds;   /* LISTEN_FDS; NULL: npass */
    const char *names; /* LISTEN_FDNAMES; NULL: unset */
    bool twice;        /* also listen again: while open, and after the close */
} act_spec;

typedef struct act_report {
    int listen;
    int activated;
    int fd_flags[2];  /* F_GETFD of descriptors 3 and 4 after the listen */
    int nonblock[2];  /* O_NONBLOCK set on them */
    int listening[2]; /* SO_ACCEPTCONN on them (-1: not a socket) */
    int second;       /* twice: a second server of the name while the first lives */
    int again;        /* twice: listening again after the close */
    int again_activated;
    int after_close_listening; /* descriptor 3 after the first server closed */
    int after_close_connect;   /* ... and a connect to the name's path then */
} act_report;

static int make_pass(pass_kind kind, const char *path, const char *elsewhere)
{
    int sv[2];
    switch (kind) {
    case PASS_LISTEN_AT_NAME:
        return bound_socket(path, SOCK_STREAM);
    case PASS_LISTEN_ELSEWHERE:
        return bound_socket(elsewhere, SOCK_STREAM);
    case PASS_DGRAM_AT_NAME:
        return bound_socket(path, SOCK_DGRAM);
    case PASS_PIPE:
        if (pipe(sv) != 0) {
            return -1;
        }
        return sv[0]; /* the write end stays open too */
    case PASS_PAIR:
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
            return -1;
        }
        return sv[0];
    case PASS_TCP: {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s, 4) != 0) {
            return -1;
        }
        return s;
    }
    default:
        return -1;
    }
}

static void describe(int fd, act_report *rep, int i)
{
    rep->fd_flags[i] = fcntl(fd, F_GETFD);
    int fl = fcntl(fd, F_GETFL);
    rep->nonblock[i] = fl >= 0 && (fl & O_NONBLOCK) != 0;
    rep->listening[i] = accepts_connections(fd);
}

static int activated_main(int chan, void *arg)
{
    const act_spec *spec = arg;
    char path[PATH_MAX];
    char elsewhere[PATH_MAX];
    if (seam_name_path(NAME, path, sizeof(path)) != 0 || dup2(chan, CHAN) != CHAN) {
        return 10;
    }
    close(chan);
    snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere.sock", getenv("SEAM_RUNTIME_DIR"));
    /* Made above the passed numbers, then moved down to 3, 4, ... as a
     * manager passes them: inherited, so without close-on-exec. */
    for (int i = 0; i < spec->npass; i++) {
        int fd = -1;
        if (spec->pass[i] != PASS_CLOSED) {
            fd = make_pass(spec->pass[i], path, elsewhere);
            if (fd < 0 || dup2(fd, 50 + i) != 50 + i) {
                return 11;
            }
            close(fd);
        }
        close(3 + i);
    }
    for (int i = 0; i < spec->npass; i++) {
        if (spec->pass[i] != PASS_CLOSED && dup2(50 + i, 3 + i) != 3 + i) {
            return 12;
        }
        close(50 + i);
    }
    char pid[32];
    char count[16];
    snprintf(pid, sizeof(pid), "%ld", spec->pid == PID_OWN ? (long)getpid() : (long)getppid());
    snprintf(count, sizeof(count), "%d", spec->npass);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", spec->fds != NULL ? spec->fds : count, 1);
    if (spec->names != NULL) {
        setenv("LISTEN_FDNAMES", spec->names, 1);
    } else {
        unsetenv("LISTEN_FDNAMES");
    }

    act_report rep = {0};
    /* The loop under test, which may let go of a descriptor later than
     * asked (libuv): the passed socket must survive that too. */
    const support_driver *drv = &support_driver_under_test;
    void *host = drv->host_new();
    seam_loop *loop = NULL;
    if (host == NULL || drv->attach(host, &loop) != 0) {
        return 13;
    }
    seam_server *srv = NULL;
    rep.listen = seam_server_listen(loop, NAME, NULL, &srv);
    rep.activated = seam_server_activated(srv);
    for (int i = 0; i < 2; i++) {
        describe(3 + i, &rep, i);
    }
    if (spec->twice && rep.listen == 0) {
        seam_server *other = NULL;
        rep.second = seam_server_listen(loop, NAME, NULL, &other);
        seam_server_close(other);
    }
    seam_server_close(srv);
    for (int i = 0; i < 5; i++) {
        drv->run_once(host, loop, 0); /* the listener is released */
    }
    rep.after_close_listening = accepts_connections(3);
    rep.after_close_connect = connect_to(path);
    if (spec->twice && rep.listen == 0) {
        rep.again = seam_server_listen(loop, NAME, NULL, &srv);
        rep.again_activated = seam_server_activated(srv);
        seam_server_close(srv);
    }
    seam_loop_free(loop);
    if (!drv->host_free(host)) {
        return 15;
    }
    return support_write_full(CHAN, &rep, sizeof(rep)) ? 0 : 14;
}

static void run_activated(fixture *f, const act_spec *spec, act_report *rep)
{
    support_fork(&f->child, activated_main, (void *)spec);
    assert_true(support_read_full(f->child.chan, rep, sizeof(*rep), SUPPORT_DEADLINE_MS));
    assert_int_equal(support_child_wait(&f->child, SUPPORT_DEADLINE_MS), 0);
}

static void test_socket_at_the_names_path_is_adopted_without_names(void **state)
{
    fixture *f = *state;
    act_spec spec = {.pass = {PASS_LISTEN_AT_NAME}, .npass = 1, .pid = PID_OWN, .twice = true};
    act_report rep;
    run_activated(f, &spec, &rep);
    assert_int_equal(rep.listen, 0);
    assert_true(rep.activated);
    /* taken over: it no longer goes to programs the server runs, and it
     * never blocks */
    assert_true(rep.fd_flags[0] >= 0 && (rep.fd_flags[0] & FD_CLOEXEC) != 0);
    assert_true(rep.nonblock[0]);
    /* the manager's socket outlives the server: open and listening, its
     * file left in place for the next start */
    assert_int_equal(rep.after_close_listening, 1);
    assert_int_equal(rep.after_close_connect, 0);
    struct stat st;
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    /* one server of a name at a time; after the close the next one takes
     * the same socket over again */
    assert_int_equal(rep.second, SEAM_EADDRINUSE);
    assert_int_equal(rep.again, 0);
    assert_true(rep.again_activated);
}

static void test_socket_named_in_listen_fdnames_is_adopted_and_the_others_left_alone(void **state)
{
    fixture *f = *state;
    act_spec spec = {.pass = {PASS_PIPE, PASS_LISTEN_AT_NAME},
                     .npass = 2,
                     .pid = PID_OWN,
                     .names = "stdin-ish:" NAME};
    act_report rep;
    run_activated(f, &spec, &rep);
    assert_int_equal(rep.listen, 0);
    assert_true(rep.activated);
    assert_true((rep.fd_flags[1] & FD_CLOEXEC) != 0);
    /* the program's own descriptor: open, inherited flags untouched */
    assert_int_equal(rep.fd_flags[0], 0);
    assert_false(rep.nonblock[0]);
}

static void test_another_processes_variables_are_ignored(void **state)
{
    fixture *f = *state;
    act_spec spec = {.pass = {PASS_LISTEN_AT_NAME}, .npass = 1, .pid = PID_PARENT, .names = NAME};
    act_report rep;
    run_activated(f, &spec, &rep);
    /* not adopted: the live socket at the path is a server's like any
     * other, so the name is in use */
    assert_int_equal(rep.listen, SEAM_EADDRINUSE);
    assert_false(rep.activated);
    assert_int_equal(rep.fd_flags[0], 0);
    assert_false(rep.nonblock[0]);
    assert_int_equal(rep.listening[0], 1);
}

static void test_unrelated_descriptors_stay_the_programs_and_the_server_makes_its_own(void **state)
{
    fixture *f = *state;
    act_spec spec = {.pass = {PASS_LISTEN_ELSEWHERE, PASS_TCP}, .npass = 2, .pid = PID_OWN};
    act_report rep;
    run_activated(f, &spec, &rep);
    assert_int_equal(rep.listen, 0);
    assert_false(rep.activated);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(rep.fd_flags[i], 0);
        assert_false(rep.nonblock[i]);
        assert_int_equal(rep.listening[i], 1);
    }
}

/* The descriptor LISTEN_FDNAMES gives the name is not what it claims. */
static void assert_named_refused(fixture *f, pass_kind kind)
{
    act_spec spec = {.pass = {kind}, .npass = 1, .pid = PID_OWN, .names = NAME};
    act_report rep;
    run_activated(f, &spec, &rep);
    assert_int_equal(rep.listen, SEAM_EBADF);
    assert_false(rep.activated);
    if (kind != PASS_CLOSED) {
        assert_int_equal(rep.fd_flags[0], 0); /* left open, untouched */
    }
}

static void test_named_descriptor_that_is_not_a_socket_is_refused(void **state)
{
    assert_named_refused(*state, PASS_PIPE);
}

static void test_named_descriptor_that_is_closed_is_refused(void **state)
{
    assert_named_refused(*state, PASS_CLOSED);
}

static void test_named_socket_that_does_not_listen_is_refused(void **state)
{
    assert_named_refused(*state, PASS_PAIR);
}

static void test_named_datagram_socket_is_refused(void **state)
{
    assert_named_refused(*state, PASS_DGRAM_AT_NAME);
}

static void test_named_tcp_socket_is_refused(void **state)
{
    assert_named_refused(*state, PASS_TCP);
}

static void test_named_socket_bound_elsewhere_is_refused(void **state)
{
    assert_named_refused(*state, PASS_LISTEN_ELSEWHERE);
}

static void test_malformed_variables_for_this_process_are_refused(void **state)
{
    fixture *f = *state;
    act_spec bad_count = {.pass = {PASS_LISTEN_AT_NAME}, .npass = 1, .pid = PID_OWN, .fds = "1x"};
    act_report rep;
    run_activated(f, &bad_count, &rep);
    assert_int_equal(rep.listen, SEAM_EINVAL);
    act_spec bad_names = {
        .pass = {PASS_LISTEN_AT_NAME}, .npass = 1, .pid = PID_OWN, .names = NAME ":extra"};
    run_activated(f, &bad_names, &rep);
    assert_int_equal(rep.listen, SEAM_EINVAL);
    assert_int_equal(rep.fd_flags[0], 0);
}

/* ---- the harness: bind, pass, exec the tool; the service exits when
 * idle and is started again for the next peer ---- */

#ifdef SEAM_TOOL
/* Forks and execs `seam listen NAME --echo --idle-exit MS -j` with sock at
 * descriptor 3 and the variables set, its output going to out. */
static void exec_service(support_child *c, int sock, const char *out)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int o = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (o < 0 || dup2(o, 1) != 1 || dup2(sock, 3) != 3 || fcntl(3, F_SETFD, 0) != 0) {
            _exit(120); /* passed as a manager passes it: inherited across exec */
        }
        close_range(4, ~0u, 0);
        char pid_text[32];
        snprintf(pid_text, sizeof(pid_text), "%ld", (long)getpid());
        setenv("LISTEN_PID", pid_text, 1);
        setenv("LISTEN_FDS", "1", 1);
        setenv("LISTEN_FDNAMES", NAME, 1);
        char *argv[] = {SEAM_TOOL, "listen", NAME, "--echo", "--idle-exit", "300", "-j", NULL};
        execv(SEAM_TOOL, argv);
        _exit(121);
    }
    c->pid = pid;
    c->chan = -1;
}

static int file_count(const char *path, const char *what)
{
    char buf[16384] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    int count = 0;
    for (const char *p = buf; n > 0 && (p = strstr(p, what)) != NULL; p++) {
        count++;
    }
    return count;
}

static bool file_says(const char *path, const char *what)
{
    return file_count(path, what) > 0;
}

/* The n-th call to NAME, answered by the service, which says so in its
 * output. The kernel names the process that made the socket listen as
 * the server (the harness, as systemd for a real service), whoever
 * accepts. */
static void call_service(const char *out, seam_conn *c, int n)
{
    seam_value *msg = seam_value_new_dict();
    seam_dict_set_int64(msg, "activated", n);
    seam_value *reply = NULL;
    assert_int_equal(seam_conn_call_sync(c, msg, SUPPORT_DEADLINE_MS, &reply), 0);
    assert_true(seam_value_equal(msg, reply));
    char line[64];
    snprintf(line, sizeof(line), "\"value\":{\"activated\":%d}", n);
    assert_int_equal(file_count(out, line), 1);
    seam_creds cr;
    assert_int_equal(seam_conn_creds(c, &cr), 0);
    assert_int_equal(cr.pid, (int32_t)getpid());
    seam_value_unref(reply);
    seam_value_unref(msg);
}

static void test_service_started_the_systemd_way_serves_exits_idle_and_starts_again(void **state)
{
    fixture *f = *state;
    int sock = bound_socket(f->path, SOCK_STREAM);
    struct stat before;
    assert_int_equal(stat(f->path, &before), 0);
    char out[PATH_MAX + 16];
    snprintf(out, sizeof(out), "%s/service.out", f->dir);

    exec_service(&f->child, sock, out);
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, NULL, &c), 0);
    call_service(out, c, 1);
    /* Its status says so, and names the process that really serves. */
    seam_value *ask = seam_value_new_dict();
    seam_dict_set_string(ask, "$seam", "status");
    seam_value *status = NULL;
    assert_int_equal(seam_conn_call_sync(c, ask, SUPPORT_DEADLINE_MS, &status), 0);
    bool activated = false;
    int64_t pid = 0;
    assert_true(seam_dict_get_bool(status, "activated", &activated));
    assert_true(activated);
    assert_true(seam_dict_get_int64(status, "pid", &pid));
    assert_int_equal(pid, f->child.pid);
    seam_value_unref(status);
    seam_value_unref(ask);
    /* It served on the harness's socket, and made none of its own. */
    struct stat now;
    assert_int_equal(stat(f->path, &now), 0);
    assert_true(now.st_ino == before.st_ino && now.st_dev == before.st_dev);
    /* Not idle while a peer is connected: past the idle time it still
     * answers. */
    usleep(700 * 1000);
    call_service(out, c, 2);
    seam_conn_close(c);
    /* Idle: it exits by itself, cleanly, and leaves the socket in place. */
    assert_int_equal(support_child_wait(&f->child, SUPPORT_DEADLINE_MS), 0);
    assert_true(file_says(out, "\"activated\":true"));
    assert_true(file_says(out, "\"idle\""));
    assert_int_equal(stat(f->path, &now), 0);
    assert_true(now.st_ino == before.st_ino);
    assert_int_equal(accepts_connections(sock), 1);

    /* A peer that connects now waits in the socket's backlog until the
     * manager (the harness) starts the service again for it. */
    assert_int_equal(seam_conn_connect(f->loop, NAME, NULL, &c), 0);
    exec_service(&f->child, sock, out);
    call_service(out, c, 3);
    seam_conn_close(c);
    assert_int_equal(support_child_wait(&f->child, SUPPORT_DEADLINE_MS), 0);
    close(sock);
}
#endif

/* ---- the idle exit, in this process ---- */

typedef struct idle_state {
    int calls;
    long long at_ms;
    bool close_it;
} idle_state;

static void on_idle(seam_server *server, void *userdata)
{
    idle_state *st = userdata;
    st->calls++;
    st->at_ms = support_now_ms();
    if (st->close_it) {
        seam_server_close(server);
    }
}

static bool idle_called(void *arg)
{
    return ((const idle_state *)arg)->calls > 0;
}

static bool client_connected_flag(void *arg)
{
    return *(const bool *)arg;
}

static void note_connected(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        *(bool *)userdata = true;
    }
}

static void test_idle_exit_runs_once_no_peer_is_left_for_the_time_given(void **state)
{
    fixture *f = *state;
    idle_state st = {.close_it = true};
    seam_server_config cfg = {.idle_exit_ms = 200, .on_idle = on_idle, .idle_data = &st};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    bool connected = false;
    seam_conn_config ccfg = {.on_event = note_connected, .userdata = &connected};
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &ccfg, &c), 0);
    assert_true(support_run_until(f->loop, client_connected_flag, &connected, SUPPORT_DEADLINE_MS));
    /* a peer is connected, silent or not: never idle */
    long long until = support_now_ms() + 600;
    while (support_now_ms() < until) {
        support_run_once(f->loop, 50);
    }
    assert_int_equal(st.calls, 0);
    long long closed_at = support_now_ms();
    seam_conn_close(c);
    assert_true(support_run_until(f->loop, idle_called, &st, SUPPORT_DEADLINE_MS));
    assert_true(st.at_ms - closed_at >= 190);
    /* closed from inside the callback: it is never called again */
    until = support_now_ms() + 500;
    while (support_now_ms() < until) {
        support_run_once(f->loop, 50);
    }
    assert_int_equal(st.calls, 1);
}

/* A client in a child: connects, says so, stays until its channel closes. */
static int stay_connected_main(int chan, void *arg)
{
    (void)arg;
    seam_loop *loop = NULL;
    seam_conn *c = NULL;
    if (seam_poll_new(0, &loop) != 0 || seam_conn_connect(loop, NAME, NULL, &c) != 0) {
        return 10;
    }
    char b = 1;
    if (!support_write_full(chan, &b, 1)) {
        return 11;
    }
    while (!support_read_full(chan, &b, 1, 0)) {
        seam_poll_run_once(loop, 50);
        char peek;
        if (recv(chan, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
            break; /* the parent closed its end */
        }
    }
    seam_conn_close(c);
    seam_loop_free(loop);
    return 0;
}

static void test_idle_exit_waits_for_a_peer_still_to_be_accepted(void **state)
{
    fixture *f = *state;
    idle_state st = {0};
    seam_server_config cfg = {.idle_exit_ms = 100, .on_idle = on_idle, .idle_data = &st};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    /* The loop does not run while the peer connects and the idle time
     * passes: when it runs, both are due at once. */
    support_fork(&f->child, stay_connected_main, NULL);
    char b;
    assert_true(support_read_full(f->child.chan, &b, 1, SUPPORT_DEADLINE_MS));
    usleep(300 * 1000);
    long long until = support_now_ms() + 300;
    while (support_now_ms() < until) {
        support_run_once(f->loop, 20);
    }
    assert_int_equal(seam_server_peers(srv, NULL, 0), 1);
    assert_int_equal(st.calls, 0);
    close(f->child.chan);
    f->child.chan = -1;
    assert_true(support_run_until(f->loop, idle_called, &st, SUPPORT_DEADLINE_MS));
    assert_int_equal(support_run_until_exit(f->loop, &f->child, SUPPORT_DEADLINE_MS), 0);
    seam_server_close(srv);
}

static void test_idle_exit_repeats_while_the_server_stays_open(void **state)
{
    fixture *f = *state;
    idle_state st = {0};
    seam_server_config cfg = {.idle_exit_ms = 100, .on_idle = on_idle, .idle_data = &st};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    assert_true(support_run_until_count(f->loop, &st.calls, 3, SUPPORT_DEADLINE_MS));
    seam_server_close(srv);
}

static void test_idle_exit_needs_a_callback_and_a_time_not_below_zero(void **state)
{
    fixture *f = *state;
    seam_server *srv = NULL;
    seam_server_config no_fn = {.idle_exit_ms = 100};
    assert_int_equal(seam_server_listen(f->loop, NAME, &no_fn, &srv), SEAM_EINVAL);
    idle_state st = {0};
    seam_server_config negative = {.idle_exit_ms = -1, .on_idle = on_idle, .idle_data = &st};
    assert_int_equal(seam_server_listen(f->loop, NAME, &negative, &srv), SEAM_EINVAL);
    struct stat sb;
    assert_int_equal(lstat(f->path, &sb), -1);
}

int main(void)
{
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#ifdef SEAM_TOOL
        T(test_service_started_the_systemd_way_serves_exits_idle_and_starts_again),
#endif
        T(test_socket_at_the_names_path_is_adopted_without_names),
        T(test_socket_named_in_listen_fdnames_is_adopted_and_the_others_left_alone),
        T(test_another_processes_variables_are_ignored),
        T(test_unrelated_descriptors_stay_the_programs_and_the_server_makes_its_own),
        T(test_named_descriptor_that_is_not_a_socket_is_refused),
        T(test_named_descriptor_that_is_closed_is_refused),
        T(test_named_socket_that_does_not_listen_is_refused),
        T(test_named_datagram_socket_is_refused),
        T(test_named_tcp_socket_is_refused),
        T(test_named_socket_bound_elsewhere_is_refused),
        T(test_malformed_variables_for_this_process_are_refused),
        T(test_idle_exit_runs_once_no_peer_is_left_for_the_time_given),
        T(test_idle_exit_waits_for_a_peer_still_to_be_accepted),
        T(test_idle_exit_repeats_while_the_server_stays_open),
        T(test_idle_exit_needs_a_callback_and_a_time_not_below_zero),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
