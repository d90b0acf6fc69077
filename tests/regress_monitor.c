/* SPDX-License-Identifier: MIT */
/* regress_monitor.c - monitoring never holds a server back: a monitor that
 * stops reading neither stalls the server's other peers nor makes the
 * server queue more than the monitor's bound; the records it missed are
 * counted in the next one it gets. Real processes: the server is a forked
 * child on its own poll loop. */
#include <seam.h>
#include <seam/poll.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define MONITOR_QUEUE 65536 /* the server's bound per peer */
#define PAYLOAD       1024
#define CALLS         2000

static volatile sig_atomic_t child_stop;

static void on_term(int sig)
{
    (void)sig;
    child_stop = 1;
}

static void on_server_event(seam_conn *c, const seam_event *ev, void *userdata)
{
    (void)c;
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        seam_request_reply(ev->request, ev->value);
    }
}

/* The child: serves t.mon with monitoring allowed until SIGTERM. */
static int serve(int ready)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    seam_loop *loop;
    if (seam_poll_new(0, &loop) < 0) {
        return 1;
    }
    seam_server_config cfg = {.conn = {.on_event = on_server_event, .max_queue = MONITOR_QUEUE}};
    seam_server *server;
    if (seam_server_listen(loop, "t.mon", &cfg, &server) < 0 ||
        seam_server_set_monitor(server, true) < 0) {
        return 1;
    }
    if (write(ready, "r", 1) != 1) {
        return 1;
    }
    while (!child_stop) {
        seam_poll_run_once(loop, 100);
    }
    seam_server_close(server);
    seam_loop_free(loop);
    return 0;
}

typedef struct records {
    long count;
    uint32_t max_dropped;
} records;

static void on_monitor_event(seam_conn *c, const seam_event *ev, void *userdata)
{
    (void)c;
    records *r = userdata;
    if (ev->type == SEAM_EVENT_MESSAGE && ev->raw && ev->raw_id == 1 && ev->raw_len >= 32) {
        const uint8_t *p = ev->raw_bytes;
        uint32_t dropped =
            (uint32_t)p[24] | (uint32_t)p[25] << 8 | (uint32_t)p[26] << 16 | (uint32_t)p[27] << 24;
        r->count++;
        r->max_dropped = dropped > r->max_dropped ? dropped : r->max_dropped;
    }
}

static seam_value *library_request(const char *what)
{
    seam_value *v = seam_value_new_dict();
    seam_dict_set_string(v, "$seam", what);
    return v;
}

static void test_a_monitor_that_stops_reading_holds_nothing_back(void **state)
{
    (void)state;
    char dir[] = "/tmp/seam-monitor-XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("SEAM_RUNTIME_DIR", dir, 1);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* a failed assertion ends the parent: the server must not outlive it */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(pipefd[0]);
        _exit(serve(pipefd[1]));
    }
    close(pipefd[1]);
    char ok;
    assert_int_equal(read(pipefd[0], &ok, 1), 1);
    close(pipefd[0]);

    /* the monitor: asks, then its loop is not run while the traffic flows */
    seam_loop *mloop;
    assert_int_equal(seam_poll_new(0, &mloop), 0);
    records recs = {0};
    seam_conn_config mcfg = {.on_event = on_monitor_event, .userdata = &recs};
    seam_conn *monitor;
    assert_int_equal(seam_conn_connect(mloop, "t.mon", &mcfg, &monitor), 0);
    seam_value *req = library_request("monitor");
    seam_value *reply = NULL;
    assert_int_equal(seam_conn_call_sync(monitor, req, 10000, &reply), 0);
    bool monitoring = false;
    assert_true(seam_dict_get_bool(reply, "monitoring", &monitoring) && monitoring);
    seam_value_unref(reply);
    seam_value_unref(req);

    /* another peer's calls all go through while the monitor reads nothing */
    seam_loop *cloop;
    assert_int_equal(seam_poll_new(0, &cloop), 0);
    seam_conn *client;
    assert_int_equal(seam_conn_connect(cloop, "t.mon", NULL, &client), 0);
    uint8_t bytes[PAYLOAD] = {0};
    seam_value *msg = seam_value_new_data(bytes, sizeof(bytes));
    for (int i = 0; i < CALLS; i++) {
        reply = NULL;
        assert_int_equal(seam_conn_call_sync(client, msg, 10000, &reply), 0);
        seam_value_unref(reply);
    }
    seam_value_unref(msg);

    /* and the server holds no more for the monitor than its bound */
    req = library_request("status");
    reply = NULL;
    assert_int_equal(seam_conn_call_sync(client, req, 10000, &reply), 0);
    seam_value_unref(req);
    seam_value *peers = seam_dict_get(reply, "peers");
    assert_int_equal(seam_array_count(peers), 2);
    uint64_t most = 0;
    for (size_t i = 0; i < seam_array_count(peers); i++) {
        uint64_t q = 0;
        assert_true(
            seam_value_get_uint64(seam_dict_get(seam_array_get(peers, i), "queued_bytes"), &q));
        most = q > most ? q : most;
    }
    seam_value_unref(reply);
    assert_true(most <= MONITOR_QUEUE + 32 + 16 + 4 + PAYLOAD + 64);

    /* the monitor reads again: what it missed is counted, not lost silently */
    for (int i = 0; i < 50 && (recs.count == 0 || recs.max_dropped == 0); i++) {
        seam_poll_run_once(mloop, 100);
    }
    seam_value *one = seam_value_new_int64(1);
    reply = NULL;
    assert_int_equal(seam_conn_call_sync(client, one, 10000, &reply), 0);
    seam_value_unref(reply);
    seam_value_unref(one);
    long before = recs.count;
    for (int i = 0; i < 100 && recs.count < before + 2; i++) {
        seam_poll_run_once(mloop, 100);
    }
    assert_true(recs.count > 0);
    assert_true(recs.count < 2L * CALLS);
    assert_true(recs.max_dropped > 0);

    seam_conn_close(client);
    seam_loop_free(cloop);
    seam_conn_close(monitor);
    seam_loop_free(mloop);
    kill(pid, SIGTERM);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/t.mon.lock", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_monitor_that_stops_reading_holds_nothing_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
