/* SPDX-License-Identifier: MIT */
/* dispatch_service.c - an echo service on the main dispatch queue: every
 * seam callback runs there, under dispatch_main(), next to whatever else
 * the program queues on it.
 *
 *   dispatch_service com.example.echo                 # until SIGINT/SIGTERM
 *   dispatch_service com.example.echo --requests 3    # exit after 3 requests
 *   dispatch_service com.example.echo --seconds 10    # exit after 10 s
 *
 * Try it with: poll_echo call com.example.echo hi */
#include <seam.h>
#include <seam/dispatch.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static seam_loop *loop;
static seam_server *server;
static long requests_left = -1; /* -1: no limit */
static dispatch_source_t signals[2];

/* Teardown is asynchronous on a queue: exit once the binding says it has
 * released everything, so nothing is cut off half way. */
static void on_freed(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < 2; i++) {
        dispatch_source_cancel(signals[i]);
        dispatch_release(signals[i]);
    }
    printf("stopped\n");
    exit(0);
}

static void stop(void *arg)
{
    (void)arg;
    if (server != NULL) {
        seam_server_close(server);
        server = NULL;
        seam_loop_free(loop);
    }
}

static void on_peer_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type != SEAM_EVENT_REQUEST) {
        return;
    }
    seam_request_reply(ev->request, ev->value); /* echo */
    printf("echoed a request\n");
    if (requests_left > 0 && --requests_left == 0) {
        /* Stop on the queue's next turn, after this reply went out. */
        dispatch_async_f(dispatch_get_main_queue(), NULL, stop);
    }
}

/* A signal becomes ordinary work on the main queue. */
static dispatch_source_t watch_signal(int sig)
{
    signal(sig, SIG_IGN);
    dispatch_source_t s = dispatch_source_create(DISPATCH_SOURCE_TYPE_SIGNAL, (uintptr_t)sig, 0,
                                                 dispatch_get_main_queue());
    dispatch_source_set_event_handler_f(s, stop);
    dispatch_resume(s);
    return s;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s NAME [--requests N] [--seconds S]\n", argv[0]);
        return 2;
    }
    long seconds = -1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--requests") == 0) {
            requests_left = strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = strtol(argv[i + 1], NULL, 10);
        }
    }
    seam_server_config cfg = {.conn.on_event = on_peer_event};
    int r = seam_dispatch_attach(dispatch_get_main_queue(), &loop);
    if (r == 0) {
        seam_dispatch_on_freed(loop, on_freed, NULL);
        r = seam_server_listen(loop, argv[1], &cfg, &server);
    }
    if (r < 0) {
        fprintf(stderr, "cannot serve %s: %s\n", argv[1], seam_strerror(r));
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("serving %s on the main queue\n", argv[1]);
    signals[0] = watch_signal(SIGINT);
    signals[1] = watch_signal(SIGTERM);
    if (seconds >= 0) {
        dispatch_after_f(dispatch_time(DISPATCH_TIME_NOW, seconds * 1000000000LL),
                         dispatch_get_main_queue(), NULL, stop);
    }
    dispatch_main(); /* never returns: on_freed exits */
}
