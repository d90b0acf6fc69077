/* SPDX-License-Identifier: MIT */
/* poll_echo.c - an echo service and its client, each on a hand-written
 * poll() loop that also watches a descriptor of its own (stdin).
 *
 *   poll_echo serve com.example.echo     # answers every request with itself
 *   poll_echo call com.example.echo hi   # prints {"text":"hi","n":0} ...
 *
 * The pattern: ask seam for its descriptors and timeout, add your own, poll,
 * hand seam its results. seam never blocks and never starts a thread. */
#include <seam.h>
#include <seam/poll.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool running = true;

/* Server side: every event of every peer arrives here. */
static void on_peer_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        seam_request_reply(ev->request, ev->value); /* echo */
    } else if (ev->type == SEAM_EVENT_CONNECTED) {
        printf("a client connected\n");
    } else if (ev->type == SEAM_EVENT_INVALID) {
        printf("a client left (%s)\n", seam_strerror(ev->error));
    }
}

/* Client side: each call ends in exactly one of these. */
static void on_reply(seam_conn *conn, const seam_reply *reply, void *userdata)
{
    (void)conn;
    int *outstanding = userdata;
    if (reply->status == 0) {
        char *json = seam_value_to_json(reply->value, 0);
        printf("reply: %s\n", json);
        free(json);
    } else {
        printf("call failed: %s\n", seam_strerror(reply->status));
    }
    if (--*outstanding == 0) {
        running = false;
    }
}

/* One iteration of the program's own loop: seam's descriptors first, then
 * ours (stdin when watch_stdin). */
static void iterate(seam_loop *loop, bool watch_stdin)
{
    /* Grown to what seam asks for (one entry per connection, plus one) and
     * ours: seam_poll_fds() fills only what fits, so ask until it fits. */
    static struct pollfd *fds;
    static size_t room;
    size_t own = watch_stdin ? 1 : 0;
    size_t n;
    while ((n = seam_poll_fds(loop, fds, room)) + own > room) {
        struct pollfd *more = realloc(fds, (n + own) * sizeof(*fds));
        if (more == NULL) {
            running = false;
            return;
        }
        fds = more;
        room = n + own;
    }
    size_t total = n;
    if (watch_stdin) {
        fds[total++] = (struct pollfd){STDIN_FILENO, POLLIN, 0};
    }
    if (poll(fds, total, seam_poll_timeout(loop)) < 0) {
        return;
    }
    seam_poll_dispatch(loop, fds, n);
    if (watch_stdin && (fds[n].revents & (POLLIN | POLLHUP)) != 0) {
        char line[128];
        if (fgets(line, sizeof(line), stdin) == NULL || strncmp(line, "quit", 4) == 0) {
            running = false;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "serve") != 0 && strcmp(argv[1], "call") != 0)) {
        fprintf(stderr, "usage: poll_echo serve NAME | poll_echo call NAME TEXT...\n");
        return 2;
    }
    seam_loop *loop;
    int r = seam_poll_new(0, &loop);
    if (r < 0) {
        fprintf(stderr, "poll_echo: %s\n", seam_strerror(r));
        return 1;
    }
    if (strcmp(argv[1], "serve") == 0) {
        seam_server_config cfg = {.conn.on_event = on_peer_event};
        seam_server *server;
        r = seam_server_listen(loop, argv[2], &cfg, &server);
        if (r == 0) {
            printf("serving %s; type quit to stop\n", argv[2]);
            fflush(stdout);
            while (running) {
                iterate(loop, true);
            }
            seam_server_close(server);
        }
    } else {
        seam_conn *conn = NULL;
        r = seam_conn_connect(loop, argv[2], NULL, &conn);
        int outstanding = 0;
        for (int i = 3; r == 0 && i < argc; i++) {
            seam_value *msg = seam_value_new_dict();
            seam_dict_set_string(msg, "text", argv[i]);
            seam_dict_set_int64(msg, "n", i - 3);
            r = seam_conn_call(conn, msg, 2000, on_reply, &outstanding, NULL);
            seam_value_unref(msg);
            outstanding += r == 0;
        }
        running = outstanding > 0;
        while (running) {
            iterate(loop, false);
        }
        if (conn != NULL) {
            seam_conn_close(conn);
        }
    }
    seam_loop_free(loop);
    if (r < 0) {
        fprintf(stderr, "poll_echo: %s: %s\n", argv[2], seam_strerror(r));
        return 1;
    }
    return 0;
}
