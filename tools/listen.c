/* SPDX-License-Identifier: MIT */
/* listen.c - the commands that print what arrives: listen (serving) and watch (a client). */
#include "tool.h"

#include <seam/poll.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A message or request as a JSON line: when, from whom, what. */
static void print_value_json(const char *what, seam_conn *c, const seam_event *ev)
{
    seam_value *e = tool_json_event(what);
    seam_dict_set_int64(e, "time_us", tool_wall_us());
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
    long stream;   /* --stream N: intermediate replies before the echo */
    bool quiet;    /* count messages instead of printing them */
    long announce; /* broadcast a tick to every peer this often (ms); 0 = never */
    long count;    /* exit after this many messages and requests; 0 = never */
    long seen;
    bool idle;           /* --idle-exit: no peer for that long */
    seam_request **kept; /* --silent: the requests kept, of peers still here */
    size_t nkept;
    size_t cap;
} listen_state;

/* Echoes raw bytes as they came: bytes that came in a memfd go back in
 * the same memfd (no copy, and past the peer's max_frame), others as
 * bytes. */
static void echo_raw(const seam_event *ev)
{
    int fd = ev->raw_memfd != NULL ? seam_value_get_memfd(ev->raw_memfd) : -1;
    fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (fd >= 0 && seam_request_reply_raw_memfd(ev->request, ev->raw_id, fd, ev->raw_len) == 0) {
        return;
    }
    if (fd >= 0) {
        close(fd);
    }
    seam_request_reply_raw(ev->request, ev->raw_id, ev->raw_bytes, ev->raw_len);
}

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
        seam_value *e = tool_json_event("gone");
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
        } else if (st->stream > 0 && !ev->raw) {
            tool_stream_answer(ev->request, ev->value, st->stream);
        } else if (st->echo && ev->raw) {
            echo_raw(ev);
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
        seam_value *e = tool_json_event("broadcast");
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

static void on_idle(seam_server *server, void *userdata)
{
    (void)server;
    ((listen_state *)userdata)->idle = true;
}

int tool_listen(tool_ctx *t, int argc, char **argv)
{
    listen_state st = {.t = t};
    long allow_uid = -1;
    long allow_gid = -1;
    long idle_exit = 0;
    const char *exe = NULL;
    bool monitorable = false;
    tool_texts publish = {0};
    bool publish_stdin = false;
    const tool_opt opts[] = {
        {"--publish", 0, "TOPIC=JSON", TOOL_TEXTS, &publish},
        {"--publish-stdin", 0, NULL, 0, 0, &publish_stdin},
        {"--monitorable", 0, NULL, 0, 0, &monitorable},
        {"--echo", 0, NULL, 0, 0, &st.echo},
        {"--silent", 0, NULL, 0, 0, &st.silent},
        {"--stream", 0, "N", 1, 1000000, &st.stream},
        {"--quiet", 0, NULL, 0, 0, &st.quiet},
        {"--count", 'n', "N", 0, LONG_MAX, &st.count},
        {"--announce", 0, "MS", 0, INT_MAX, &st.announce},
        {"--allow-uid", 0, "UID", 0, UINT32_MAX, &allow_uid},
        {"--allow-gid", 0, "GID", 0, UINT32_MAX, &allow_gid},
        {"--require-exe", 0, "PATH", TOOL_TEXT, &exe},
        {"--idle-exit", 0, "MS", 1, INT_MAX, &idle_exit},
        {0},
    };
    const char *name;
    int status;
    if (!tool_parse_name(t, argc, argv, opts, &name, &status)) {
        return status;
    }
    seam_loop *loop;
    int r = seam_poll_new(0, &loop);
    if (r < 0) {
        return tool_fail(t, "cannot make a loop", r);
    }
    seam_server_config cfg = {.conn = {.on_event = on_listen_event, .userdata = &st}};
    /* Declared requirements: a refused peer is told which one. */
    uint32_t uid = (uint32_t)allow_uid;
    uint32_t gid = (uint32_t)allow_gid;
    seam_peer_require req = {.uids = &uid,
                             .nuids = allow_uid >= 0 ? 1 : 0,
                             .gids = &gid,
                             .ngids = allow_gid >= 0 ? 1 : 0,
                             .exe = exe};
    if (allow_uid >= 0 || allow_gid >= 0 || exe != NULL) {
        cfg.require = &req;
    }
    if (idle_exit > 0) {
        cfg.idle_exit_ms = (int)idle_exit;
        cfg.on_idle = on_idle;
        cfg.idle_data = &st;
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
    /* The socket a service manager passed is the server's now: nothing
     * this process may start is to take the variables for its own. */
    bool activated = seam_server_activated(server);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    tool_catch_signals();
    if (t->json) {
        seam_value *e = tool_json_event("listening");
        seam_dict_set_string(e, "name", name);
        seam_dict_set_string(e, "path", seam_server_path(server));
        seam_dict_set_bool(e, "activated", activated);
        tool_print_json(e);
    } else {
        printf("listening on %s (%s%s)\n", name, seam_server_path(server),
               activated ? ", socket passed by the service manager" : "");
        fflush(stdout);
    }
    for (int i = 0; i < publish.n; i++) {
        if (tool_publish_arg(t, server, publish.v[i]) < 0) {
            seam_server_close(server);
            seam_loop_free(loop);
            return TOOL_EXIT_USAGE; /* publish_line said why */
        }
    }
    tool_lines *in = publish_stdin ? calloc(1, sizeof(*in)) : NULL;
    double next_tick = tool_now_ms() + (double)st.announce;
    for (long tick = 1; !tool_stopped() && !st.idle && (st.count == 0 || st.seen < st.count);) {
        long wait = 200;
        if (st.announce > 0) {
            double left = next_tick - tool_now_ms();
            wait = left <= 0 ? 0 : (long)left + 1 < wait ? (long)left + 1 : wait;
        }
        r = seam_poll_run_once(loop, in != NULL && wait > 20 ? 20 : (int)wait);
        if (r < 0) {
            break;
        }
        if (in != NULL && !tool_publish_stdin(t, server, in)) {
            free(in); /* standard input ended: the values stay retained */
            in = NULL;
        }
        if (st.announce > 0 && tool_now_ms() >= next_tick) {
            announce(t, server, tick++);
            next_tick += (double)st.announce;
        }
    }
    if (st.idle && t->json) {
        seam_value *e = tool_json_event("idle");
        seam_dict_set_int64(e, "ms", idle_exit);
        tool_print_json(e);
    } else if (st.idle) {
        printf("no peer for %ld ms: exiting\n", idle_exit);
    }
    if (st.quiet && t->json) {
        seam_value *e = tool_json_event("total");
        seam_dict_set_int64(e, "count", st.seen);
        tool_print_json(e);
    } else if (st.quiet) {
        printf("%ld messages and requests\n", st.seen);
    }
    for (size_t i = 0; i < st.nkept; i++) {
        seam_request_drop(st.kept[i]);
    }
    free(st.kept);
    free(in);
    seam_server_close(server);
    seam_loop_free(loop);
    return r < 0 ? tool_fail(t, "loop", r) : 0;
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
            seam_value *e = tool_json_event(what);
            seam_dict_set_int64(e, "time_us", tool_wall_us());
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
    watch_state st = {.t = t};
    seam_conn_config cfg = {.on_event = on_watch_event, .userdata = &st};
    const char *name;
    int status;
    tool_client cl;
    if (!tool_client_start(t, argc, argv, opts, &cfg, false, &cl, &name, &status)) {
        return status;
    }
    int r = 0;
    tool_catch_signals();
    while (r >= 0 && !tool_stopped() && st.seen >= 0 && (count == 0 || st.seen < count)) {
        r = seam_poll_run_once(cl.loop, 200);
    }
    tool_client_close(&cl);
    if (r < 0) {
        return tool_fail_name(t, name, r);
    }
    return st.seen < 0 ? TOOL_EXIT_FAILURE : 0;
}
