/* SPDX-License-Identifier: MIT */
/* pubsub.c - retained topics on the command line: subscribe (a client
 * printing a topic's value and its changes) and the publishing of
 * `seam listen --publish` and `--publish-stdin`. */
#include "tool.h"

#include <seam/poll.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct sub_state {
    const tool_ctx *t;
    long seen;
    int refused; /* the server's code, or SEAM_ECONNRESET when it went */
} sub_state;

static void on_update(seam_conn *conn, const seam_update *u, void *userdata)
{
    (void)conn;
    sub_state *st = userdata;
    if (u->status != 0) {
        st->refused = u->remote_code < 0 ? u->remote_code : u->status;
        return;
    }
    st->seen++;
    if (st->t->json) {
        seam_value *e = tool_json_event("update");
        seam_dict_set_string(e, "topic", u->topic);
        seam_dict_set_take(e, "seq", seam_value_new_uint64(u->seq));
        seam_dict_set_take(e, "missed", seam_value_new_uint64(u->missed));
        seam_dict_set(e, "value", (seam_value *)u->value);
        tool_print_json(e);
        return;
    }
    char *json = seam_value_to_json(u->value, 0);
    printf("%s seq=%llu", u->topic, (unsigned long long)u->seq);
    if (u->missed > 0) {
        printf(" missed=%llu", (unsigned long long)u->missed);
    }
    printf(" %s\n", json != NULL ? json : "?");
    fflush(stdout);
    free(json);
}

static void on_sub_event(seam_conn *c, const seam_event *ev, void *userdata)
{
    (void)c;
    sub_state *st = userdata;
    if (ev->type == SEAM_EVENT_INVALID || ev->type == SEAM_EVENT_INTERRUPTED) {
        st->refused = ev->error < 0 ? ev->error : SEAM_ECONNRESET;
    }
}

int tool_subscribe(tool_ctx *t, int argc, char **argv)
{
    long count = 0;
    const tool_opt opts[] = {
        {"--count", 'n', "N", 1, LONG_MAX, &count},
        {0},
    };
    static const char *const posnames[] = {"NAME", "TOPIC"};
    const char *args[2];
    int status;
    if (!tool_parse(t, argc, argv, opts, args, 2, 2, posnames, &status)) {
        return status;
    }
    sub_state st = {.t = t};
    seam_conn_config cfg = {.on_event = on_sub_event, .userdata = &st};
    tool_client cl;
    int r = tool_client_open(&cl, args[0], &cfg);
    if (r < 0) {
        return tool_fail_name(t, args[0], r);
    }
    r = seam_conn_subscribe(cl.conn, args[1], on_update, &st);
    if (r < 0) {
        tool_client_close(&cl);
        return r == SEAM_EINVAL || r == SEAM_ETOOLONG
                   ? tool_usage_error(t, "not a topic or pattern: %s", args[1])
                   : tool_fail_name(t, args[0], r);
    }
    tool_catch_signals();
    while (r >= 0 && !tool_stopped() && st.refused == 0 && (count == 0 || st.seen < count)) {
        r = seam_poll_run_once(cl.loop, 200);
    }
    tool_client_close(&cl);
    if (r < 0) {
        return tool_fail_name(t, args[0], r);
    }
    if (st.refused != 0) {
        return tool_fail(t, args[1], st.refused);
    }
    return 0;
}

/* Publishes "TOPIC JSON" (or TOPIC=JSON with sep '='). */
static int publish_line(const tool_ctx *t, seam_server *server, char *line, char sep)
{
    char *json = strchr(line, sep);
    if (json == NULL) {
        fprintf(stderr, "seam %s: not TOPIC%sJSON: %s\n", t->cmd->name, sep == '=' ? "=" : " ",
                line);
        return SEAM_EINVAL;
    }
    *json++ = '\0';
    seam_value *v = NULL;
    int r = seam_value_from_json(json, &v);
    if (r == 0) {
        r = seam_server_publish(server, line, v);
    }
    seam_value_unref(v);
    if (r < 0) {
        fprintf(stderr, "seam %s: cannot publish %s: %s\n", t->cmd->name, line, seam_strerror(r));
    } else if (t->json) {
        seam_value *e = tool_json_event("published");
        seam_dict_set_string(e, "topic", line);
        seam_dict_set_take(e, "seq", seam_value_new_uint64(seam_server_topic_seq(server, line)));
        tool_print_json(e);
    } else {
        printf("published %s seq=%llu\n", line,
               (unsigned long long)seam_server_topic_seq(server, line));
        fflush(stdout);
    }
    return r;
}

int tool_publish_arg(const tool_ctx *t, seam_server *server, const char *arg)
{
    char *line = strdup(arg);
    int r = line != NULL ? publish_line(t, server, line, '=') : SEAM_ENOMEM;
    free(line);
    return r;
}

/* Publishes every complete line standard input has ready, without
 * waiting; false once it has ended. */
bool tool_publish_stdin(const tool_ctx *t, seam_server *server, tool_lines *in)
{
    struct pollfd p = {STDIN_FILENO, POLLIN, 0};
    while (in->len < sizeof(in->buf) - 1 && poll(&p, 1, 0) > 0) {
        ssize_t n = read(STDIN_FILENO, in->buf + in->len, sizeof(in->buf) - 1 - in->len);
        if (n <= 0 && !(n < 0 && errno == EINTR)) {
            return false;
        }
        in->len += n > 0 ? (size_t)n : 0;
        char *nl;
        while ((nl = memchr(in->buf, '\n', in->len)) != NULL) {
            *nl = '\0';
            if (nl > in->buf) {
                publish_line(t, server, in->buf, ' ');
            }
            size_t used = (size_t)(nl + 1 - in->buf);
            memmove(in->buf, nl + 1, in->len - used);
            in->len -= used;
        }
    }
    if (in->len == sizeof(in->buf) - 1) {
        fprintf(stderr, "seam %s: a line of standard input is too long: dropped\n", t->cmd->name);
        in->len = 0;
    }
    return true;
}
