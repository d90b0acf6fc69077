/* SPDX-License-Identifier: MIT */
/* net.c - the tool's commands that talk to endpoints: listen, send, call,
 * ping, flood, watch. Each runs its own poll() loop through the poll adapter. */
#include "tool.h"

#include <seam/poll.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void catch_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Microseconds since the epoch: the tool's own numbers in JSON output are
 * integers, so that no reader mistakes their type (docs/cli.md). */
static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* {"event": what, ...}: the start of every JSON line of a stream. */
static seam_value *json_event(const char *what)
{
    seam_value *e = seam_value_new_dict();
    seam_dict_set_string(e, "event", what);
    return e;
}

/* A message or request as a JSON line: when, from whom, what. */
static void print_value_json(const char *what, seam_conn *c, const seam_event *ev)
{
    seam_value *e = json_event(what);
    seam_dict_set_int64(e, "time_us", wall_us());
    seam_creds cr = {0};
    if (c != NULL && seam_conn_creds(c, &cr) == 0) {
        seam_dict_set_int64(e, "pid", cr.pid);
        seam_dict_set_int64(e, "uid", cr.uid);
    }
    if (ev->raw) {
        seam_value *raw = seam_value_new_dict();
        seam_dict_set_int64(raw, "id", ev->raw_id);
        seam_dict_set_int64(raw, "len", (int64_t)ev->raw_len);
        seam_dict_set_take(e, "raw", raw);
    } else {
        seam_dict_set(e, "value", ev->value);
    }
    tool_print_json(e);
}

static void print_value(const tool_ctx *t, const char *what, seam_conn *c, const seam_event *ev)
{
    if (t->json) {
        print_value_json(what, c, ev);
        return;
    }
    seam_creds cr = {0};
    seam_conn_creds(c, &cr);
    if (ev->raw) {
        printf("%s pid=%d raw id=%u bytes=%zu\n", what, (int)cr.pid, ev->raw_id, ev->raw_len);
    } else {
        char *json = seam_value_to_json(ev->value, 0);
        printf("%s pid=%d %s\n", what, (int)cr.pid, json != NULL ? json : "?");
        free(json);
    }
    fflush(stdout);
}

typedef struct listen_state {
    const tool_ctx *t;
    bool echo;
    bool silent;
    bool quiet;    /* count messages instead of printing them */
    long announce; /* broadcast a tick to every peer this often (ms); 0 = never */
    long count;    /* exit after this many messages and requests; 0 = never */
    long seen;
    seam_request **kept; /* --silent: the requests kept, of peers still here */
    size_t nkept;
    size_t cap;
} listen_state;

/* A peer that went will never read the answers to the requests kept for
 * it: they are dropped with it, not kept for the server's life. */
static void drop_kept_of(listen_state *st, seam_conn *c)
{
    size_t keep = 0;
    long dropped = 0;
    for (size_t i = 0; i < st->nkept; i++) {
        seam_conn *owner = seam_request_conn(st->kept[i]);
        if (owner == c || owner == NULL) {
            seam_request_drop(st->kept[i]);
            dropped++;
        } else {
            st->kept[keep++] = st->kept[i];
        }
    }
    st->nkept = keep;
    if (dropped == 0) {
        return;
    }
    /* Its credentials went with it: the line says how many only. */
    if (st->t->json) {
        seam_value *e = json_event("gone");
        seam_dict_set_int64(e, "dropped", dropped);
        tool_print_json(e);
    } else if (!st->quiet) {
        printf("peer gone: dropped %ld kept requests\n", dropped);
        fflush(stdout);
    }
}

static void on_listen_event(seam_conn *c, const seam_event *ev, void *userdata)
{
    listen_state *st = userdata;
    switch (ev->type) {
    case SEAM_EVENT_MESSAGE:
        if (!st->quiet) {
            print_value(st->t, "message", c, ev);
        }
        st->seen++;
        break;
    case SEAM_EVENT_REQUEST:
        if (!st->quiet) {
            print_value(st->t, "request", c, ev);
        }
        st->seen++;
        if (st->silent) {
            if (st->nkept == st->cap) {
                size_t cap = st->cap > 0 ? 2 * st->cap : 64;
                seam_request **k = realloc(st->kept, cap * sizeof(*k));
                if (k == NULL) {
                    break; /* not kept: answered "not supported" */
                }
                st->kept = k;
                st->cap = cap;
            }
            st->kept[st->nkept++] = seam_request_keep(ev->request);
        } else if (st->echo && ev->raw) {
            seam_request_reply_raw(ev->request, ev->raw_id, ev->raw_bytes, ev->raw_len);
        } else if (st->echo) {
            seam_request_reply(ev->request, ev->value);
        }
        break;
    case SEAM_EVENT_INVALID:
        drop_kept_of(st, c);
        break;
    default:
        break;
    }
}

/* Broadcasts {"tick": n} to every peer and says how many it reached. */
static void announce(const tool_ctx *t, seam_server *server, long n)
{
    seam_value *m = seam_value_new_dict();
    seam_dict_set_int64(m, "tick", n);
    size_t skipped = 0;
    int got = seam_server_broadcast(server, m, &skipped);
    seam_value_unref(m);
    if (got >= 0 && t->json) {
        seam_value *e = json_event("broadcast");
        seam_dict_set_int64(e, "tick", n);
        seam_dict_set_int64(e, "peers", got);
        seam_dict_set_int64(e, "skipped", (int64_t)skipped);
        tool_print_json(e);
    } else if (got >= 0) {
        printf("broadcast tick %ld to %d peers", n, got);
        printf(skipped > 0 ? " (%zu skipped: queue full)\n" : "\n", skipped);
        fflush(stdout);
    }
}

static bool uid_allowed(const seam_creds *creds, void *userdata)
{
    return creds->uid == (uint32_t) * (long *)userdata;
}

int tool_listen(tool_ctx *t, int argc, char **argv)
{
    listen_state st = {.t = t};
    long allow_uid = -1;
    bool monitorable = false;
    const tool_opt opts[] = {
        {"--monitorable", 0, NULL, 0, 0, &monitorable},
        {"--echo", 0, NULL, 0, 0, &st.echo},
        {"--silent", 0, NULL, 0, 0, &st.silent},
        {"--quiet", 0, NULL, 0, 0, &st.quiet},
        {"--count", 'n', "N", 0, LONG_MAX, &st.count},
        {"--announce", 0, "MS", 0, INT_MAX, &st.announce},
        {"--allow-uid", 0, "UID", 0, UINT32_MAX, &allow_uid},
        {0},
    };
    static const char *const names[] = {"NAME"};
    const char *pos[1];
    int status;
    if (!tool_parse(t, argc, argv, opts, pos, 1, 1, names, &status)) {
        return status;
    }
    const char *name = pos[0];
    seam_loop *loop;
    int r = seam_poll_new(0, &loop);
    if (r < 0) {
        return tool_fail(t, "cannot make a loop", r);
    }
    seam_server_config cfg = {.conn = {.on_event = on_listen_event, .userdata = &st}};
    if (allow_uid >= 0) {
        cfg.accept = uid_allowed;
        cfg.accept_data = &allow_uid;
    }
    seam_server *server;
    r = seam_server_listen(loop, name, &cfg, &server);
    if (r < 0) {
        seam_loop_free(loop);
        return tool_fail_name(t, name, r);
    }
    if (monitorable) {
        seam_server_set_monitor(server, true);
    }
    catch_signals();
    if (t->json) {
        seam_value *e = json_event("listening");
        seam_dict_set_string(e, "name", name);
        seam_dict_set_string(e, "path", seam_server_path(server));
        tool_print_json(e);
    } else {
        printf("listening on %s (%s)\n", name, seam_server_path(server));
        fflush(stdout);
    }
    double next_tick = now_ms() + (double)st.announce;
    for (long tick = 1; !stop_requested && (st.count == 0 || st.seen < st.count);) {
        long wait = 200;
        if (st.announce > 0) {
            double left = next_tick - now_ms();
            wait = left <= 0 ? 0 : (long)left + 1 < wait ? (long)left + 1 : wait;
        }
        r = seam_poll_run_once(loop, (int)wait);
        if (r < 0) {
            break;
        }
        if (st.announce > 0 && now_ms() >= next_tick) {
            announce(t, server, tick++);
            next_tick += (double)st.announce;
        }
    }
    if (st.quiet && t->json) {
        seam_value *e = json_event("total");
        seam_dict_set_int64(e, "count", st.seen);
        tool_print_json(e);
    } else if (st.quiet) {
        printf("%ld messages and requests\n", st.seen);
    }
    for (size_t i = 0; i < st.nkept; i++) {
        seam_request_drop(st.kept[i]);
    }
    free(st.kept);
    seam_server_close(server);
    seam_loop_free(loop);
    return r < 0 ? tool_fail(t, "loop", r) : 0;
}

static void on_client_event(seam_conn *c, const seam_event *ev, void *userdata)
{
    tool_client *cl = userdata;
    if (ev->type == SEAM_EVENT_INVALID || ev->type == SEAM_EVENT_INTERRUPTED) {
        cl->ended = ev->error < 0 ? ev->error : SEAM_ECONNRESET;
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

static int ping_wait(seam_loop *loop, seam_conn *conn, int timeout_ms);

int tool_send(tool_ctx *t, int argc, char **argv)
{
    static const char *const names[] = {"NAME", "VALUE"};
    const char *pos[2];
    int status;
    if (!tool_parse(t, argc, argv, NULL, pos, 2, 2, names, &status)) {
        return status;
    }
    seam_value *v = NULL;
    int r = tool_read_value(t, pos[1], &v);
    if (r != 0) {
        return r;
    }
    tool_client cl;
    r = tool_client_open(&cl, pos[0], NULL);
    if (r < 0) {
        seam_value_unref(v);
        return tool_fail_ended(t, pos[0], &cl, r);
    }
    seam_loop *loop = cl.loop;
    seam_conn *conn = cl.conn;
    r = seam_conn_send(conn, v);
    seam_value_unref(v);
    /* A pong proves the message arrived: frames are handled in order. */
    if (r == 0) {
        r = ping_wait(loop, conn, 5000);
    }
    r = tool_client_end(&cl, r);
    if (r == 0 && t->json) {
        seam_value *e = seam_value_new_dict();
        seam_dict_set_bool(e, "delivered", true);
        tool_print_json(e);
    }
    return r < 0 ? tool_fail_ended(t, pos[0], &cl, r) : 0;
}

static int ping_wait(seam_loop *loop, seam_conn *conn, int timeout_ms)
{
    ping_state st = {0};
    int r = seam_conn_ping(conn, timeout_ms, on_pong, &st);
    while (r == 0 && !st.done) {
        r = seam_poll_run_once(loop, -1);
        r = r > 0 ? 0 : r;
    }
    return r < 0 ? r : st.status;
}

int tool_call(tool_ctx *t, int argc, char **argv)
{
    long timeout = 5000;
    const tool_opt opts[] = {
        {"--timeout", 't', "MS", 1, INT_MAX, &timeout},
        {0},
    };
    static const char *const names[] = {"NAME", "VALUE"};
    const char *args[2];
    int status;
    if (!tool_parse(t, argc, argv, opts, args, 2, 2, names, &status)) {
        return status;
    }
    seam_value *v = NULL;
    int r = tool_read_value(t, args[1], &v);
    if (r != 0) {
        return r;
    }
    tool_client cl;
    r = tool_client_open(&cl, args[0], NULL);
    if (r < 0) {
        seam_value_unref(v);
        return tool_fail_ended(t, args[0], &cl, r);
    }
    seam_conn *conn = cl.conn;
    seam_value *reply = NULL;
    r = seam_conn_call_sync(conn, v, (int)timeout, &reply);
    seam_value_unref(v);
    if (r == 0 && t->json) {
        seam_value *e = seam_value_new_dict();
        seam_dict_set(e, "reply", reply);
        tool_print_json(e);
    } else if (r == 0) {
        char *json = seam_value_to_json(reply, SEAM_JSON_PRETTY);
        printf("%s\n", json != NULL ? json : "?");
        free(json);
    } else if (r == SEAM_EREMOTE) {
        int64_t code = 0;
        seam_dict_get_int64(reply, "code", &code);
        if (t->json) {
            seam_value *err = seam_value_copy(reply);
            seam_dict_set_string(err, "name", seam_errname((int)code));
            seam_value *e = seam_value_new_dict();
            seam_dict_set_take(e, "error", err);
            tool_print_json(e);
        }
        char *json = seam_value_to_json(reply, 0);
        fprintf(stderr, "seam call: %s: remote error %s: %s\n", args[0], seam_errname((int)code),
                json != NULL ? json : "?");
        free(json);
    }
    seam_value_unref(reply);
    r = tool_client_end(&cl, r);
    if (r == SEAM_EREMOTE) {
        return TOOL_EXIT_REMOTE;
    }
    return r < 0 ? tool_fail_ended(t, args[0], &cl, r) : 0;
}

int tool_ping(tool_ctx *t, int argc, char **argv)
{
    long count = 4;
    const tool_opt opts[] = {
        {"--count", 'c', "N", 1, LONG_MAX, &count},
        {0},
    };
    static const char *const names[] = {"NAME"};
    const char *pos[1];
    int status;
    if (!tool_parse(t, argc, argv, opts, pos, 1, 1, names, &status)) {
        return status;
    }
    const char *name = pos[0];
    tool_client cl;
    int r = tool_client_open(&cl, name, NULL);
    if (r < 0) {
        return tool_fail_ended(t, name, &cl, r);
    }
    seam_loop *loop = cl.loop;
    seam_conn *conn = cl.conn;
    catch_signals();
    double sum = 0;
    double min = 1e300;
    double max = 0;
    long got = 0;
    for (long i = 0; i < count && !stop_requested; i++) {
        double t0 = now_ms();
        r = ping_wait(loop, conn, 5000);
        if (r < 0) {
            break;
        }
        double ms = now_ms() - t0;
        if (t->json) {
            seam_value *e = json_event("pong");
            seam_dict_set_int64(e, "seq", i);
            seam_dict_set_int64(e, "rtt_us", (int64_t)(ms * 1e3));
            tool_print_json(e);
        } else {
            printf("pong from %s: seq=%ld time=%.3f ms\n", name, i, ms);
            fflush(stdout);
        }
        sum += ms;
        min = ms < min ? ms : min;
        max = ms > max ? ms : max;
        got++;
    }
    if (got > 0 && t->json) {
        seam_value *e = json_event("summary");
        seam_dict_set_int64(e, "count", got);
        seam_dict_set_int64(e, "min_us", (int64_t)(min * 1e3));
        seam_dict_set_int64(e, "avg_us", (int64_t)(sum / (double)got * 1e3));
        seam_dict_set_int64(e, "max_us", (int64_t)(max * 1e3));
        tool_print_json(e);
    } else if (got > 0) {
        printf("%ld pings, min/avg/max = %.3f/%.3f/%.3f ms\n", got, min, sum / (double)got, max);
    }
    r = tool_client_end(&cl, r);
    return r < 0 ? tool_fail_ended(t, name, &cl, r) : 0;
}

static void on_flood_event(seam_conn *c, const seam_event *ev, void *userdata)
{
    (void)c;
    if (ev->type == SEAM_EVENT_WRITABLE) {
        *(bool *)userdata = true;
    }
}

/* Sends count raw one-way messages of size bytes as fast as the queue
 * takes them (waiting for WRITABLE when it is full, never dropping), then
 * pings: the pong comes after the last message was handled, so the rate
 * counts messages the peer received, not just queued. */
int tool_flood(tool_ctx *t, int argc, char **argv)
{
    long count = 100000;
    long size = 64;
    const tool_opt opts[] = {
        {"--count", 'n', "N", 1, UINT32_MAX, &count},
        {"--size", 's', "BYTES", 0, 16L << 20, &size},
        {0},
    };
    static const char *const names[] = {"NAME"};
    const char *pos[1];
    int status;
    if (!tool_parse(t, argc, argv, opts, pos, 1, 1, names, &status)) {
        return status;
    }
    const char *name = pos[0];
    uint8_t *payload = calloc(1, (size_t)size + 1);
    if (payload == NULL) {
        return tool_fail(t, "flood", SEAM_ENOMEM);
    }
    bool writable = false;
    seam_conn_config cfg = {.on_event = on_flood_event, .userdata = &writable};
    tool_client cl;
    int r = tool_client_open(&cl, name, &cfg);
    if (r < 0) {
        free(payload);
        return tool_fail_name(t, name, r);
    }
    seam_loop *loop = cl.loop;
    seam_conn *conn = cl.conn;
    double t0 = now_ms();
    for (long i = 0; i < count && r >= 0;) {
        r = seam_conn_send_raw(conn, (uint32_t)i, payload, (size_t)size);
        if (r == 0) {
            i++;
        } else if (r == SEAM_EAGAIN) {
            writable = false;
            r = 0;
            while (!writable && r >= 0) {
                r = seam_poll_run_once(loop, 5000);
            }
        }
    }
    if (r >= 0) {
        r = ping_wait(loop, conn, 30000);
    }
    double secs = (now_ms() - t0) / 1e3;
    if (r >= 0 && t->json) {
        seam_value *e = json_event("done");
        seam_dict_set_int64(e, "messages", count);
        seam_dict_set_int64(e, "size", size);
        seam_dict_set_int64(e, "elapsed_us", (int64_t)(secs * 1e6));
        seam_dict_set_int64(e, "messages_per_s", (int64_t)((double)count / secs));
        seam_dict_set_int64(e, "bytes_per_s", (int64_t)((double)count * (double)size / secs));
        tool_print_json(e);
    } else if (r >= 0) {
        printf("%ld messages of %ld bytes in %.3f s: %.0f messages/s, %.1f MB/s\n", count, size,
               secs, (double)count / secs, (double)count * (double)size / secs / 1e6);
    }
    tool_client_close(&cl);
    free(payload);
    return r < 0 ? tool_fail_name(t, name, r) : 0;
}

typedef struct watch_state {
    const tool_ctx *t;
    long seen; /* -1 once the server went away */
} watch_state;

static void on_watch_event(seam_conn *c, const seam_event *ev, void *userdata)
{
    watch_state *st = userdata;
    if (ev->type == SEAM_EVENT_MESSAGE) {
        print_value(st->t, "message", c, ev);
        st->seen++;
    } else if (ev->type == SEAM_EVENT_INTERRUPTED || ev->type == SEAM_EVENT_INVALID) {
        const char *what = ev->type == SEAM_EVENT_INVALID ? "closed" : "interrupted";
        if (st->t->json) {
            seam_value *e = json_event(what);
            seam_dict_set_int64(e, "time_us", wall_us());
            seam_dict_set_string(e, "error", seam_errname(ev->error));
            seam_dict_set_string(e, "reason", seam_strerror(ev->error));
            tool_print_json(e);
        } else {
            printf("%s: %s\n", what, seam_strerror(ev->error));
            fflush(stdout);
        }
        st->seen = -1;
    }
}

/* Connects and prints the messages the server sends (broadcasts, events)
 * until count arrived (0: until interrupted) or the server went away. */
int tool_watch(tool_ctx *t, int argc, char **argv)
{
    long count = 0;
    const tool_opt opts[] = {
        {"--count", 'n', "N", 0, LONG_MAX, &count},
        {0},
    };
    static const char *const names[] = {"NAME"};
    const char *pos[1];
    int status;
    if (!tool_parse(t, argc, argv, opts, pos, 1, 1, names, &status)) {
        return status;
    }
    const char *name = pos[0];
    watch_state st = {.t = t};
    seam_conn_config cfg = {.on_event = on_watch_event, .userdata = &st};
    tool_client cl;
    int r = tool_client_open(&cl, name, &cfg);
    if (r < 0) {
        return tool_fail_name(t, name, r);
    }
    seam_loop *loop = cl.loop;
    catch_signals();
    while (r >= 0 && !stop_requested && st.seen >= 0 && (count == 0 || st.seen < count)) {
        r = seam_poll_run_once(loop, 200);
    }
    tool_client_close(&cl);
    if (r < 0) {
        return tool_fail_name(t, name, r);
    }
    return st.seen < 0 ? TOOL_EXIT_FAILURE : 0;
}
