/* SPDX-License-Identifier: MIT */
/* client.c - what the client commands share: connecting, how a connection ended, pings, events. */
#include "tool.h"

#include <seam/poll.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The only state a signal handler may touch: it belongs to the process, as
 * the signals do, not to the library. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

void tool_catch_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool tool_stopped(void)
{
    return stop_requested != 0;
}

double tool_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int64_t tool_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

seam_value *tool_json_event(const char *what)
{
    seam_value *e = seam_value_new_dict();
    seam_dict_set_string(e, "event", what);
    return e;
}

bool tool_parse_name(tool_ctx *t, int argc, char **argv, const tool_opt *opts, const char **name,
                     int *status)
{
    return tool_parse_one(t, argc, argv, opts, "NAME", name, status);
}

bool tool_client_start(tool_ctx *t, int argc, char **argv, const tool_opt *opts,
                       const seam_conn_config *cfg, bool ended, tool_client *cl, const char **name,
                       int *status)
{
    if (!tool_parse_name(t, argc, argv, opts, name, status)) {
        return false;
    }
    int r = tool_client_open(cl, *name, cfg);
    if (r < 0) {
        *status = ended ? tool_fail_ended(t, *name, cl, r) : tool_fail_name(t, *name, r);
        return false;
    }
    return true;
}

static void on_client_event(seam_conn *c, const seam_event *ev, void *userdata)
{
    tool_client *cl = userdata;
    if (ev->type == SEAM_EVENT_INVALID || ev->type == SEAM_EVENT_INTERRUPTED) {
        cl->ended = ev->error < 0 ? ev->error : SEAM_ECONNRESET;
        snprintf(cl->rule, sizeof(cl->rule), "%s", ev->rule != NULL ? ev->rule : "");
        snprintf(cl->reason, sizeof(cl->reason), "%s", ev->reason != NULL ? ev->reason : "");
    }
    if (ev->type == SEAM_EVENT_CONNECTED && cl->state == 0) {
        cl->state = 1;
    } else if ((ev->type == SEAM_EVENT_INVALID || ev->type == SEAM_EVENT_INTERRUPTED) &&
               cl->state == 0) {
        cl->state = ev->error < 0 ? ev->error : SEAM_ECONNRESET;
    }
    if (cl->on_event != NULL) {
        cl->on_event(c, ev, cl->userdata);
    }
}

int tool_client_open(tool_client *cl, const char *name, const seam_conn_config *cfg)
{
    seam_conn_config c = cfg != NULL ? *cfg : (seam_conn_config){0};
    cl->on_event = c.on_event;
    cl->userdata = c.userdata;
    cl->state = 0;
    cl->rule[0] = '\0';
    cl->reason[0] = '\0';
    cl->ended = 0;
    c.on_event = on_client_event;
    c.userdata = cl;
    int r = seam_poll_new(0, &cl->loop);
    if (r < 0) {
        return r;
    }
    r = seam_conn_connect(cl->loop, name, &c, &cl->conn);
    if (r < 0) {
        seam_loop_free(cl->loop);
        return r;
    }
    for (int i = 0; i < 100 && cl->state == 0 && r >= 0; i++) {
        r = seam_poll_run_once(cl->loop, 100);
    }
    r = r < 0 ? r : cl->state == 0 ? SEAM_ETIMEDOUT : cl->state < 0 ? cl->state : 0;
    if (r < 0) {
        seam_conn_close(cl->conn);
        seam_loop_free(cl->loop);
    }
    return r;
}

void tool_client_close(tool_client *cl)
{
    seam_conn_close(cl->conn);
    seam_loop_free(cl->loop);
}

int tool_client_end(tool_client *cl, int r)
{
    if (r == SEAM_ECONNRESET) {
        /* A call that lost its peer says only "peer gone"; the event that
         * follows from the loop says how (refused, which rule, a crash). */
        for (int i = 0; i < 10 && cl->ended == 0; i++) {
            seam_poll_run_once(cl->loop, 10);
        }
        if (cl->ended != 0) {
            r = cl->ended;
        }
    }
    tool_client_close(cl);
    return r;
}

int tool_fail_ended(const tool_ctx *t, const char *name, const tool_client *cl, int err)
{
    const char *cmd = t->cmd->name;
    if (err == SEAM_EACCES && cl->ended == err && cl->rule[0] != '\0' &&
        strcmp(cl->rule, "filter") != 0) {
        /* a declared requirement of the server's: it said which */
        fprintf(stderr, "seam %s: %s: refused by the server's %s rule: %s (%s)\n", cmd, name,
                cl->rule, cl->reason, seam_errname(err));
        return TOOL_EXIT_REFUSED;
    }
    if (err == SEAM_EACCES && cl->ended == err) {
        /* the server's goodbye said so, not a check of ours */
        fprintf(stderr, "seam %s: %s: refused: the server's accept filter refused us (%s)\n", cmd,
                name, seam_errname(err));
        return TOOL_EXIT_REFUSED;
    }
    if (err == SEAM_ECONNRESET) {
        fprintf(stderr, "seam %s: %s: peer crashed (gone without a goodbye)\n", cmd, name);
        return TOOL_EXIT_FAILURE;
    }
    if (err == SEAM_ECLOSED) {
        fprintf(stderr, "seam %s: %s: the peer closed the connection\n", cmd, name);
        return TOOL_EXIT_FAILURE;
    }
    if (err == SEAM_EAGAIN) {
        fprintf(stderr, "seam %s: %s: refused: the server is full (SEAM_EAGAIN)\n", cmd, name);
        return TOOL_EXIT_REFUSED;
    }
    if (err == SEAM_EPROTO || err == SEAM_EHANDSHAKE ||
        (err <= SEAM_ETRUNCATED && err >= SEAM_EFRAMELEN)) {
        fprintf(stderr, "seam %s: %s: protocol error: %s (%s)\n", cmd, name, seam_strerror(err),
                seam_errname(err));
        return TOOL_EXIT_FAILURE;
    }
    return tool_fail_name(t, name, err);
}

typedef struct ping_state {
    bool done;
    int status;
} ping_state;

static void on_pong(seam_conn *c, const seam_reply *reply, void *userdata)
{
    (void)c;
    ping_state *st = userdata;
    st->done = true;
    st->status = reply->status;
}

int tool_ping_wait(tool_client *cl, int timeout_ms)
{
    ping_state st = {0};
    int r = seam_conn_ping(cl->conn, timeout_ms, on_pong, &st);
    while (r == 0 && !st.done) {
        r = seam_poll_run_once(cl->loop, -1);
        r = r > 0 ? 0 : r;
    }
    return r < 0 ? r : st.status;
}

int tool_client_ask(tool_client *cl, const char *what, int timeout_ms, seam_value **reply)
{
    seam_value *req = seam_value_new_dict();
    seam_dict_set_string(req, "$seam", what);
    *reply = NULL;
    int r = seam_conn_call_sync(cl->conn, req, timeout_ms, reply);
    seam_value_unref(req);
    return r;
}
