/* SPDX-License-Identifier: MIT */
/* net.c - the tool's commands that talk to endpoints: listen, send, call,
 * ping, flood, watch, list. Each runs its own poll() loop through the poll adapter. */
#include "tool.h"

#include <seam/poll.h>

#include <dirent.h>
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

static void print_value(const char *what, seam_conn *c, const seam_event *ev)
{
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
    bool echo;
    bool silent;
    bool quiet;    /* count messages instead of printing them */
    long announce; /* broadcast a tick to every peer this often (ms); 0 = never */
    long count;    /* exit after this many messages and requests; 0 = never */
    long seen;
    seam_request **kept;
    size_t nkept;
} listen_state;

static void on_listen_event(seam_conn *c, const seam_event *ev, void *userdata)
{
    listen_state *st = userdata;
    switch (ev->type) {
    case SEAM_EVENT_MESSAGE:
        if (!st->quiet) {
            print_value("message", c, ev);
        }
        st->seen++;
        break;
    case SEAM_EVENT_REQUEST:
        print_value("request", c, ev);
        st->seen++;
        if (st->silent) {
            seam_request **k = realloc(st->kept, (st->nkept + 1) * sizeof(*k));
            if (k != NULL) {
                st->kept = k;
                k[st->nkept++] = seam_request_keep(ev->request);
            }
        } else if (st->echo && ev->raw) {
            seam_request_reply_raw(ev->request, ev->raw_id, ev->raw_bytes, ev->raw_len);
        } else if (st->echo) {
            seam_request_reply(ev->request, ev->value);
        }
        break;
    default:
        break;
    }
}

/* Broadcasts {"tick": n} to every peer and says how many it reached. */
static void announce(seam_server *server, long n)
{
    seam_value *m = seam_value_new_dict();
    seam_dict_set_int64(m, "tick", n);
    size_t skipped = 0;
    int got = seam_server_broadcast(server, m, &skipped);
    seam_value_unref(m);
    if (got >= 0) {
        printf("broadcast tick %ld to %d peers", n, got);
        printf(skipped > 0 ? " (%zu skipped: queue full)\n" : "\n", skipped);
        fflush(stdout);
    }
}

int tool_listen(int argc, char **argv)
{
    listen_state st = {0};
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--echo") == 0) {
            st.echo = true;
        } else if (strcmp(argv[i], "--silent") == 0) {
            st.silent = true;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            st.quiet = true;
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            st.count = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--announce") == 0 && i + 1 < argc) {
            st.announce = strtol(argv[++i], NULL, 10);
        } else if (name == NULL && argv[i][0] != '-') {
            name = argv[i];
        } else {
            return tool_usage(stderr);
        }
    }
    if (name == NULL || st.announce < 0) {
        return tool_usage(stderr);
    }
    seam_loop *loop;
    int r = seam_poll_new(0, &loop);
    if (r < 0) {
        return tool_fail("cannot make a loop", r);
    }
    seam_server_config cfg = {.conn = {.on_event = on_listen_event, .userdata = &st}};
    seam_server *server;
    r = seam_server_listen(loop, name, &cfg, &server);
    if (r < 0) {
        seam_loop_free(loop);
        return tool_fail(name, r);
    }
    catch_signals();
    printf("listening on %s (%s)\n", name, seam_server_path(server));
    fflush(stdout);
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
            announce(server, tick++);
            next_tick += (double)st.announce;
        }
    }
    if (st.quiet) {
        printf("%ld messages and requests\n", st.seen);
    }
    for (size_t i = 0; i < st.nkept; i++) {
        seam_request_drop(st.kept[i]);
    }
    free(st.kept);
    seam_server_close(server);
    seam_loop_free(loop);
    return r < 0 ? tool_fail("loop", r) : 0;
}

/* The error of the last INTERRUPTED or INVALID event of the command's
 * connection: a call that lost its peer says only "peer gone", the event
 * says how (refused, which protocol error, a crash). */
static int conn_ended;

static void note_end(seam_conn *c, const seam_event *ev, void *userdata)
{
    (void)c;
    (void)userdata;
    if (ev->type == SEAM_EVENT_INTERRUPTED || ev->type == SEAM_EVENT_INVALID) {
        conn_ended = ev->error;
    }
}

/* Reports a command's failure; a lost connection as the person needs it:
 * refused, a protocol error (which), or a peer that crashed. */
static int conn_fail(const char *what, seam_loop *loop, int err)
{
    if (err != SEAM_ECONNRESET) {
        return tool_fail(what, err);
    }
    for (int i = 0; i < 10 && conn_ended == 0; i++) {
        seam_poll_run_once(loop, 10); /* the end is reported from the loop */
    }
    int why = conn_ended != 0 ? conn_ended : err;
    if (why == SEAM_EACCES || why == SEAM_EAGAIN) {
        fprintf(stderr, "seam: %s: refused: %s\n", what, seam_strerror(why));
    } else if (why == SEAM_ECONNRESET) {
        fprintf(stderr, "seam: %s: peer crashed (gone without a goodbye)\n", what);
    } else if (why == SEAM_ECLOSED) {
        fprintf(stderr, "seam: %s: the peer closed the connection\n", what);
    } else if (why == SEAM_EPROTO || why == SEAM_EHANDSHAKE || why == SEAM_EMSGSIZE ||
               (why <= SEAM_ETRUNCATED && why >= SEAM_EFRAMELEN)) {
        fprintf(stderr, "seam: %s: protocol error: %s (%s)\n", what, seam_strerror(why),
                seam_errname(why));
    } else {
        return tool_fail(what, why);
    }
    return 1;
}

/* Connects and waits for the handshake, so errors show up here. */
static int connect_to(const char *name, seam_loop **loop, seam_conn **conn)
{
    int r = seam_poll_new(0, loop);
    if (r < 0) {
        return r;
    }
    seam_conn_config cfg = {.on_event = note_end};
    r = seam_conn_connect(*loop, name, &cfg, conn);
    if (r < 0) {
        seam_loop_free(*loop);
    }
    return r;
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

int tool_send(int argc, char **argv)
{
    if (argc != 2) {
        return tool_usage(stderr);
    }
    seam_value *v = NULL;
    int r = seam_value_from_json(argv[1], &v);
    if (r < 0) {
        return tool_fail("cannot read the JSON value", r);
    }
    seam_loop *loop;
    seam_conn *conn;
    r = connect_to(argv[0], &loop, &conn);
    if (r < 0) {
        seam_value_unref(v);
        return tool_fail(argv[0], r);
    }
    r = seam_conn_send(conn, v);
    seam_value_unref(v);
    /* A pong proves the message arrived: frames are handled in order. */
    if (r == 0) {
        r = ping_wait(loop, conn, 5000);
    }
    int status = r < 0 ? conn_fail("send", loop, r) : 0;
    seam_conn_close(conn);
    seam_loop_free(loop);
    return status;
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

int tool_call(int argc, char **argv)
{
    int timeout = 5000;
    const char *args[2];
    int nargs = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            timeout = (int)strtol(argv[++i], NULL, 10);
        } else if (nargs < 2) {
            args[nargs++] = argv[i];
        } else {
            return tool_usage(stderr);
        }
    }
    if (nargs != 2 || timeout <= 0) {
        return tool_usage(stderr);
    }
    seam_value *v = NULL;
    int r = seam_value_from_json(args[1], &v);
    if (r < 0) {
        return tool_fail("cannot read the JSON value", r);
    }
    seam_loop *loop;
    seam_conn *conn;
    r = connect_to(args[0], &loop, &conn);
    if (r < 0) {
        seam_value_unref(v);
        return tool_fail(args[0], r);
    }
    seam_value *reply = NULL;
    r = seam_conn_call_sync(conn, v, timeout, &reply);
    seam_value_unref(v);
    if (r == 0 || r == SEAM_EREMOTE) {
        char *json = seam_value_to_json(reply, SEAM_JSON_PRETTY);
        fprintf(r == 0 ? stdout : stderr, "%s%s\n",
                r == 0 ? "" : "seam: remote error: ", json != NULL ? json : "?");
        free(json);
    }
    seam_value_unref(reply);
    int status = r == SEAM_EREMOTE ? 1 : r < 0 ? conn_fail("call", loop, r) : 0;
    seam_conn_close(conn);
    seam_loop_free(loop);
    return status;
}

int tool_ping(int argc, char **argv)
{
    long count = 4;
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            count = strtol(argv[++i], NULL, 10);
        } else if (name == NULL) {
            name = argv[i];
        } else {
            return tool_usage(stderr);
        }
    }
    if (name == NULL || count <= 0) {
        return tool_usage(stderr);
    }
    seam_loop *loop;
    seam_conn *conn;
    int r = connect_to(name, &loop, &conn);
    if (r < 0) {
        return tool_fail(name, r);
    }
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
        printf("pong from %s: seq=%ld time=%.3f ms\n", name, i, ms);
        fflush(stdout);
        sum += ms;
        min = ms < min ? ms : min;
        max = ms > max ? ms : max;
        got++;
    }
    if (got > 0) {
        printf("%ld pings, min/avg/max = %.3f/%.3f/%.3f ms\n", got, min, sum / (double)got, max);
    }
    int status = r < 0 ? conn_fail("ping", loop, r) : 0;
    seam_conn_close(conn);
    seam_loop_free(loop);
    return status;
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
int tool_flood(int argc, char **argv)
{
    long count = 100000;
    long size = 64;
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            count = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
            size = strtol(argv[++i], NULL, 10);
        } else if (name == NULL) {
            name = argv[i];
        } else {
            return tool_usage(stderr);
        }
    }
    if (name == NULL || count <= 0 || size < 0 || size > (16L << 20)) {
        return tool_usage(stderr);
    }
    uint8_t *payload = calloc(1, (size_t)size + 1);
    seam_loop *loop;
    int r = payload != NULL ? seam_poll_new(0, &loop) : SEAM_ENOMEM;
    if (r < 0) {
        free(payload);
        return tool_fail("flood", r);
    }
    bool writable = false;
    seam_conn_config cfg = {.on_event = on_flood_event, .userdata = &writable};
    seam_conn *conn;
    r = seam_conn_connect(loop, name, &cfg, &conn);
    if (r < 0) {
        free(payload);
        seam_loop_free(loop);
        return tool_fail(name, r);
    }
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
    if (r >= 0) {
        printf("%ld messages of %ld bytes in %.3f s: %.0f messages/s, %.1f MB/s\n", count, size,
               secs, (double)count / secs, (double)count * (double)size / secs / 1e6);
    }
    seam_conn_close(conn);
    seam_loop_free(loop);
    free(payload);
    return r < 0 ? tool_fail("flood", r) : 0;
}

static void on_watch_event(seam_conn *c, const seam_event *ev, void *userdata)
{
    long *seen = userdata;
    if (ev->type == SEAM_EVENT_MESSAGE) {
        print_value("message", c, ev);
        (*seen)++;
    } else if (ev->type == SEAM_EVENT_INTERRUPTED || ev->type == SEAM_EVENT_INVALID) {
        printf("%s: %s\n", ev->type == SEAM_EVENT_INVALID ? "closed" : "interrupted",
               seam_strerror(ev->error));
        fflush(stdout);
        *seen = -1;
    }
}

/* Connects and prints the messages the server sends (broadcasts, events)
 * until count arrived (0: until interrupted) or the server went away. */
int tool_watch(int argc, char **argv)
{
    long count = 0;
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            count = strtol(argv[++i], NULL, 10);
        } else if (name == NULL) {
            name = argv[i];
        } else {
            return tool_usage(stderr);
        }
    }
    if (name == NULL || count < 0) {
        return tool_usage(stderr);
    }
    seam_loop *loop;
    int r = seam_poll_new(0, &loop);
    if (r < 0) {
        return tool_fail("watch", r);
    }
    long seen = 0;
    seam_conn_config cfg = {.on_event = on_watch_event, .userdata = &seen};
    seam_conn *conn;
    r = seam_conn_connect(loop, name, &cfg, &conn);
    if (r < 0) {
        seam_loop_free(loop);
        return tool_fail(name, r);
    }
    catch_signals();
    while (r >= 0 && !stop_requested && seen >= 0 && (count == 0 || seen < count)) {
        r = seam_poll_run_once(loop, 200);
    }
    seam_conn_close(conn);
    seam_loop_free(loop);
    if (r < 0) {
        return tool_fail("watch", r);
    }
    return seen < 0 ? 1 : 0;
}

int tool_list(int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        return tool_usage(stderr);
    }
    char dir[256];
    int r = seam_runtime_dir(dir, sizeof(dir));
    if (r < 0) {
        return tool_fail("runtime directory", r);
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        return tool_fail(dir, SEAM_ENOTFOUND);
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= 5 || strcmp(e->d_name + n - 5, ".sock") != 0) {
            continue;
        }
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(n - 5), e->d_name);
        int owned = seam_name_owned(name);
        printf("%-40s %s\n", name,
               owned == 1             ? "alive"
               : owned == 0           ? "stale"
               : owned == SEAM_EEXIST ? "not a socket"
                                      : "unknown");
    }
    closedir(d);
    return 0;
}
