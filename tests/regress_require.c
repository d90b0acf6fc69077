/* SPDX-License-Identifier: MIT */
/* regress_require.c - declarative peer requirements (seam_server_config
 * .require) against real peers in other processes, running as other users
 * and groups: who is let in, who is refused, and that a refused client is
 * told which rule refused it (the goodbye's "rule" and "reason", seen in
 * its INVALID event). The server runs in the parent on a poll loop, as
 * root (tests that need other users skip otherwise), on a unix: path in a
 * directory every user may reach. Deadlines only bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conn.h"
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OTHER_GROUP 4242

typedef struct fixture {
    char dir[PATH_MAX];
    char pub[PATH_MAX]; /* a sticky directory every user may write to */
    char name[PATH_MAX + 16];
    seam_loop *loop;
    support_child child;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    support_runtime_dir_create(f->dir, sizeof(f->dir));
    int n = snprintf(f->pub, sizeof(f->pub), "%s/public", f->dir);
    assert_true(n > 0 && (size_t)n < sizeof(f->pub));
    assert_int_equal(mkdir(f->pub, 0700), 0);
    assert_int_equal(chmod(f->pub, 01777), 0);
    assert_int_equal(chmod(f->dir, 0755), 0);
    snprintf(f->name, sizeof(f->name), "unix:%s/r.sock", f->pub);
    support_host_begin();
    f->loop = support_loop_new();
    f->child.chan = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    support_child_kill(&f->child);
    if (f->loop != NULL) {
        seam_loop_free(f->loop);
    }
    support_host_end();
    support_runtime_dir_remove(f->pub);
    rmdir(f->pub);
    support_runtime_dir_remove(f->dir);
    unsetenv("SEAM_RUNTIME_DIR");
    free(f);
    return 0;
}

/* ---- a client in a child, as some user, reporting how it ended ---- */

typedef struct client_spec {
    const char *name;
    bool become; /* take on uid/gid/groups below (needs root) */
    uint32_t uid;
    uint32_t gid;
    gid_t groups[4];
    size_t ngroups;
} client_spec;

typedef struct client_report {
    int result; /* 1 connected, else the error that ended it */
    char rule[32];
    char reason[200];
} client_report;

typedef struct client_state {
    client_report *rep;
    bool done;
} client_state;

static void client_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    client_state *st = userdata;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        st->rep->result = 1;
        st->done = true;
    } else if (ev->type == SEAM_EVENT_INVALID || ev->type == SEAM_EVENT_INTERRUPTED) {
        st->rep->result = ev->error;
        snprintf(st->rep->rule, sizeof(st->rep->rule), "%s", ev->rule != NULL ? ev->rule : "-");
        snprintf(st->rep->reason, sizeof(st->rep->reason), "%s",
                 ev->reason != NULL ? ev->reason : "-");
        st->done = true;
    }
}

static int client_main(int chan, void *arg)
{
    const client_spec *spec = arg;
    if (spec->become && (setgroups(spec->ngroups, spec->groups) != 0 || setgid(spec->gid) != 0 ||
                         setuid(spec->uid) != 0)) {
        return 10;
    }
    client_report rep = {.result = -1};
    client_state st = {.rep = &rep};
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) != 0) {
        return 11;
    }
    /* The server is root's: a client expects its own user's or root's. */
    seam_conn_config cfg = {.on_event = client_event, .userdata = &st};
    seam_conn *c = NULL;
    rep.result = seam_conn_connect(loop, spec->name, &cfg, &c);
    if (rep.result == 0) {
        long long until = support_now_ms() + SUPPORT_DEADLINE_MS;
        while (!st.done && support_now_ms() < until) {
            seam_poll_run_once(loop, 100);
        }
        seam_conn_close(c);
    }
    seam_loop_free(loop);
    return support_write_full(chan, &rep, sizeof(rep)) ? 0 : 12;
}

static void run_client(fixture *f, client_spec *spec, client_report *rep)
{
    spec->name = f->name;
    support_fork(&f->child, client_main, spec);
    int chan = dup(f->child.chan); /* reaping the child closes its channel */
    assert_true(chan >= 0);
    assert_int_equal(support_run_until_exit(f->loop, &f->child, SUPPORT_DEADLINE_MS), 0);
    bool got = support_read_full(chan, rep, sizeof(*rep), SUPPORT_DEADLINE_MS);
    close(chan);
    assert_true(got);
}

static seam_server *listen_with(fixture *f, seam_server_config *cfg)
{
    cfg->socket_mode = 0666;
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, f->name, cfg, &srv), 0);
    return srv;
}

static client_spec as_nobody(void)
{
    client_spec s = {.become = true, .uid = SUPPORT_NOBODY, .gid = SUPPORT_NOBODY};
    return s;
}

#define SKIP_UNLESS_ROOT()                                                                         \
    do {                                                                                           \
        if (geteuid() != 0) {                                                                      \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static void assert_refused_by(const client_report *rep, const char *rule, const char *in_reason)
{
    assert_int_equal(rep->result, SEAM_EACCES);
    assert_string_equal(rep->rule, rule);
    if (strstr(rep->reason, in_reason) == NULL) {
        fail_msg("reason \"%s\" does not say \"%s\"", rep->reason, in_reason);
    }
}

/* ---- uids ---- */

static void test_uid_rule_admits_a_listed_user_other_than_the_servers(void **state)
{
    fixture *f = *state;
    SKIP_UNLESS_ROOT();
    const uint32_t uids[] = {SUPPORT_NOBODY};
    seam_peer_require req = {.uids = uids, .nuids = 1};
    seam_server_config cfg = {.require = &req};
    seam_server *srv = listen_with(f, &cfg);
    client_spec spec = as_nobody();
    client_report rep;
    run_client(f, &spec, &rep);
    assert_int_equal(rep.result, 1);
    seam_server_close(srv);
}

static void test_uid_rule_refuses_an_unlisted_user_and_says_so(void **state)
{
    fixture *f = *state;
    const uint32_t uids[] = {SUPPORT_NOBODY};
    seam_peer_require req = {.uids = uids, .nuids = 1};
    seam_server_config cfg = {.require = &req};
    seam_server *srv = listen_with(f, &cfg);
    client_spec spec = {.become = false}; /* the server's own user, not listed */
    client_report rep;
    run_client(f, &spec, &rep);
    char want[64];
    snprintf(want, sizeof(want), "uid %u ", (unsigned)geteuid());
    assert_refused_by(&rep, "uid", want);
    seam_server_close(srv);
}

static void test_uid_list_is_copied_at_listen(void **state)
{
    fixture *f = *state;
    uint32_t uids[] = {SUPPORT_NOBODY};
    seam_peer_require req = {.uids = uids, .nuids = 1};
    seam_server_config cfg = {.require = &req};
    seam_server *srv = listen_with(f, &cfg);
    uids[0] = (uint32_t)geteuid(); /* changing it afterwards lets nobody new in */
    client_spec spec = {.become = false};
    client_report rep;
    run_client(f, &spec, &rep);
    assert_refused_by(&rep, "uid", "not among the allowed users");
    seam_server_close(srv);
}

/* ---- groups ---- */

static void test_gid_rule_admits_a_peer_by_a_supplementary_group(void **state)
{
    fixture *f = *state;
    SKIP_UNLESS_ROOT();
    const uint32_t gids[] = {OTHER_GROUP};
    seam_peer_require req = {.gids = gids, .ngids = 1};
    seam_server_config cfg = {.require = &req};
    seam_server *srv = listen_with(f, &cfg);
    client_spec spec = as_nobody();
    spec.groups[0] = 100;
    spec.groups[1] = OTHER_GROUP;
    spec.ngroups = 2;
    client_report rep;
    run_client(f, &spec, &rep);
    assert_int_equal(rep.result, 1);
    seam_server_close(srv);
}

static void test_gid_rule_admits_a_peer_by_its_primary_group(void **state)
{
    fixture *f = *state;
    SKIP_UNLESS_ROOT();
    const uint32_t gids[] = {1, OTHER_GROUP};
    seam_peer_require req = {.gids = gids, .ngids = 2};
    seam_server_config cfg = {.require = &req};
    seam_server *srv = listen_with(f, &cfg);
    client_spec spec = as_nobody();
    spec.gid = OTHER_GROUP;
    client_report rep;
    run_client(f, &spec, &rep);
    assert_int_equal(rep.result, 1);
    seam_server_close(srv);
}

static void test_gid_rule_refuses_a_peer_with_no_allowed_group(void **state)
{
    fixture *f = *state;
    SKIP_UNLESS_ROOT();
    const uint32_t gids[] = {OTHER_GROUP};
    seam_peer_require req = {.gids = gids, .ngids = 1};
    seam_server_config cfg = {.require = &req};
    seam_server *srv = listen_with(f, &cfg);
    client_spec spec = as_nobody();
    spec.groups[0] = 100;
    spec.groups[1] = 101;
    spec.ngroups = 2;
    client_report rep;
    run_client(f, &spec, &rep);
    assert_refused_by(&rep, "gid", "its 2 supplementary groups");
    seam_server_close(srv);
}

/* ---- the executable ---- */

static void self_exe(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    assert_true(n > 0 && (size_t)n < len - 1);
    buf[n] = '\0';
}

static void test_exe_rule_admits_a_peer_running_the_named_file_by_any_path(void **state)
{
    fixture *f = *state;
    if (support_under_valgrind()) {
        skip(); /* the peer's process runs valgrind, whatever /proc/self/exe says */
    }
    char exe[PATH_MAX];
    char link_path[PATH_MAX + 16];
    self_exe(exe, sizeof(exe));
    snprintf(link_path, sizeof(link_path), "%s/exe-link", f->dir);
    assert_int_equal(symlink(exe, link_path), 0);
    seam_peer_require req = {.exe = link_path};
    seam_server_config cfg = {.require = &req};
    seam_server *srv = listen_with(f, &cfg);
    client_spec spec = {.become = false};
    client_report rep;
    run_client(f, &spec, &rep);
    if (rep.result == SEAM_EACCES && strstr(rep.reason, "cannot verify") != NULL) {
        seam_server_close(srv);
        skip(); /* a kernel without pidfds of socket peers (before 6.5) */
    }
    assert_int_equal(rep.result, 1);
    seam_server_close(srv);
}

static void test_exe_rule_refuses_a_peer_running_another_executable(void **state)
{
    fixture *f = *state;
    seam_peer_require req = {.exe = "/bin/sh"};
    seam_server_config cfg = {.require = &req};
    seam_server *srv = listen_with(f, &cfg);
    client_spec spec = {.become = false};
    client_report rep;
    run_client(f, &spec, &rep);
    assert_int_equal(rep.result, SEAM_EACCES);
    assert_string_equal(rep.rule, "exe");
    seam_server_close(srv);
}

typedef struct log_state {
    int refusals;
    char last[256];
} log_state;

static void record_log(seam_log_level level, const char *message, void *userdata)
{
    (void)level;
    log_state *st = userdata;
    if (strstr(message, "refused") != NULL) {
        st->refusals++;
        snprintf(st->last, sizeof(st->last), "%s", message);
    }
}

static bool refused_once(void *arg)
{
    const log_state *st = arg;
    return st->refusals > 0;
}

/* A peer that connected and died before the server looked at it: its
 * executable cannot be proven, whatever now runs under its pid, so it is
 * refused - never let in unchecked. */
static int connect_and_exit_main(int chan, void *arg)
{
    const char *name = arg;
    seam_loop *loop = NULL;
    seam_conn *c = NULL;
    if (seam_poll_new(0, &loop) != 0 || seam_conn_connect(loop, name, NULL, &c) != 0) {
        return 10;
    }
    seam_conn_close(c); /* its connection waits in the backlog, its process goes */
    seam_loop_free(loop);
    char done = 1;
    return support_write_full(chan, &done, 1) ? 0 : 11;
}

static void test_exe_rule_refuses_a_peer_gone_before_it_was_checked(void **state)
{
    fixture *f = *state;
    char exe[PATH_MAX];
    self_exe(exe, sizeof(exe));
    seam_peer_require req = {.exe = exe};
    log_state logs = {0};
    seam_loop_set_logger(f->loop, SEAM_LOG_INFO, record_log, &logs);
    seam_server_config cfg = {.require = &req};
    seam_server *srv = listen_with(f, &cfg);
    /* The loop does not run while the child connects and is reaped. */
    support_fork(&f->child, connect_and_exit_main, f->name);
    assert_int_equal(support_child_wait(&f->child, SUPPORT_DEADLINE_MS), 0);
    assert_true(support_run_until(f->loop, refused_once, &logs, SUPPORT_DEADLINE_MS));
    assert_non_null(strstr(logs.last, "cannot verify the executable"));
    assert_int_equal(seam_server_peers(srv, NULL, 0), 0);
    seam_server_close(srv);
}

/* Peers the server holds, the handshake done or not. */
static size_t server_npeers(const seam_server *srv)
{
    return srv->npeers;
}

typedef struct decided_state {
    const log_state *logs;
    const seam_server *srv;
} decided_state;

/* The server refused the peer or took it. */
static bool decided(void *arg)
{
    const decided_state *d = arg;
    return d->logs->refusals > 0 || server_npeers(d->srv) > 0;
}

/* Makes the next process forked in this pid namespace get pid, if the
 * kernel lets root say so and nobody forks first. */
static bool next_pid_is(pid_t pid)
{
    int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    char text[32];
    int n = snprintf(text, sizeof(text), "%ld", (long)pid - 1);
    bool ok = write(fd, text, (size_t)n) == n;
    close(fd);
    return ok;
}

static int wait_for_channel_main(int chan, void *arg)
{
    (void)arg;
    char b;
    support_read_full(chan, &b, 1, SUPPORT_DEADLINE_MS);
    return 0;
}

/* The pid of a peer that died is taken by a new process that runs the
 * very executable the rule names. /proc/PID then shows that executable,
 * but it is not the peer: the peer's pidfd says its process is gone, and
 * the peer is refused. */
static void test_exe_rule_refuses_a_peer_whose_pid_now_belongs_to_another(void **state)
{
    fixture *f = *state;
    SKIP_UNLESS_ROOT();
    if (support_under_valgrind()) {
        skip(); /* the new process would run valgrind */
    }
    char exe[PATH_MAX];
    self_exe(exe, sizeof(exe));
    seam_peer_require req = {.exe = exe};
    log_state logs = {0};
    seam_loop_set_logger(f->loop, SEAM_LOG_INFO, record_log, &logs);
    seam_server_config cfg = {.require = &req};
    seam_server *srv = listen_with(f, &cfg);
    support_fork(&f->child, connect_and_exit_main, f->name);
    pid_t gone = f->child.pid;
    assert_int_equal(support_child_wait(&f->child, SUPPORT_DEADLINE_MS), 0);
    support_child taker = {.chan = -1};
    if (!next_pid_is(gone)) {
        seam_server_close(srv);
        skip();
    }
    support_fork(&taker, wait_for_channel_main, NULL);
    if (taker.pid != gone) {
        support_child_kill(&taker);
        seam_server_close(srv);
        skip(); /* another process took the pid first */
    }
    decided_state d = {&logs, srv};
    assert_true(support_run_until(f->loop, decided, &d, SUPPORT_DEADLINE_MS));
    assert_int_equal(server_npeers(srv), 0);
    assert_non_null(strstr(logs.last, "cannot verify the executable"));
    support_child_kill(&taker);
    seam_server_close(srv);
}

/* ---- same user, the default, and the filter after the rules ---- */

static void test_same_user_rule_refuses_another_user_even_with_a_filter(void **state)
{
    fixture *f = *state;
    SKIP_UNLESS_ROOT();
    seam_peer_require req = {.same_user = true};
    seam_server_config cfg = {.require = &req, .accept = support_accept_anyone};
    seam_server *srv = listen_with(f, &cfg);
    client_spec spec = as_nobody();
    client_report rep;
    run_client(f, &spec, &rep);
    assert_refused_by(&rep, "same_user", "not the server's user");
    seam_server_close(srv);
}

static void test_default_refusal_names_the_same_user_rule(void **state)
{
    fixture *f = *state;
    SKIP_UNLESS_ROOT();
    seam_server_config cfg = {0};
    seam_server *srv = listen_with(f, &cfg);
    client_spec spec = as_nobody();
    client_report rep;
    run_client(f, &spec, &rep);
    assert_refused_by(&rep, "same_user", "uid 65534 ");
    seam_server_close(srv);
}

static bool count_and_refuse(const seam_creds *creds, void *userdata)
{
    (void)creds;
    (*(int *)userdata)++;
    return false;
}

static void test_filter_runs_only_for_peers_the_rules_admit(void **state)
{
    fixture *f = *state;
    SKIP_UNLESS_ROOT();
    int asked = 0;
    const uint32_t uids[] = {SUPPORT_NOBODY};
    seam_peer_require req = {.uids = uids, .nuids = 1};
    seam_server_config cfg = {.require = &req, .accept = count_and_refuse, .accept_data = &asked};
    seam_server *srv = listen_with(f, &cfg);
    client_spec root = {.become = false};
    client_report rep;
    run_client(f, &root, &rep);
    assert_refused_by(&rep, "uid", "not among");
    assert_int_equal(asked, 0);
    client_spec nobody = as_nobody();
    run_client(f, &nobody, &rep);
    assert_refused_by(&rep, "filter", "accept filter");
    assert_int_equal(asked, 1);
    seam_server_close(srv);
}

/* ---- what listen refuses ---- */

static void test_listen_refuses_malformed_requirements(void **state)
{
    fixture *f = *state;
    seam_server *srv = NULL;
    seam_peer_require rel = {.exe = "bin/sh"};
    seam_server_config cfg = {.require = &rel};
    assert_int_equal(seam_server_listen(f->loop, f->name, &cfg, &srv), SEAM_EINVAL);
    seam_peer_require no_list = {.nuids = 1};
    cfg.require = &no_list;
    assert_int_equal(seam_server_listen(f->loop, f->name, &cfg, &srv), SEAM_EINVAL);
    seam_peer_require no_gids = {.ngids = 2};
    cfg.require = &no_gids;
    assert_int_equal(seam_server_listen(f->loop, f->name, &cfg, &srv), SEAM_EINVAL);
    struct stat st;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/r.sock", f->pub);
    assert_int_equal(lstat(path, &st), -1); /* nothing was made */
}

int main(void)
{
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_uid_rule_admits_a_listed_user_other_than_the_servers),
        T(test_uid_rule_refuses_an_unlisted_user_and_says_so),
        T(test_uid_list_is_copied_at_listen),
        T(test_gid_rule_admits_a_peer_by_a_supplementary_group),
        T(test_gid_rule_admits_a_peer_by_its_primary_group),
        T(test_gid_rule_refuses_a_peer_with_no_allowed_group),
        T(test_exe_rule_admits_a_peer_running_the_named_file_by_any_path),
        T(test_exe_rule_refuses_a_peer_running_another_executable),
        T(test_exe_rule_refuses_a_peer_gone_before_it_was_checked),
        T(test_exe_rule_refuses_a_peer_whose_pid_now_belongs_to_another),
        T(test_same_user_rule_refuses_another_user_even_with_a_filter),
        T(test_default_refusal_names_the_same_user_rule),
        T(test_filter_runs_only_for_peers_the_rules_admit),
        T(test_listen_refuses_malformed_requirements),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
