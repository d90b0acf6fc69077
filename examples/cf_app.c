/* SPDX-License-Identifier: MIT */
/* cf_app.c - an application's main thread on a CFRunLoop: a repeating timer
 * stands in for the UI (it prints a tick), and a seam echo endpoint lives on
 * the same run loop, in the common modes. Requests are answered between
 * ticks; neither waits for the other.
 *
 *   cf_app com.example.echo                  # until SIGINT
 *   cf_app com.example.echo --requests 3     # exit after 3 requests
 *   cf_app com.example.echo --seconds 10     # exit after 10 s
 *
 * Try it with: poll_echo call com.example.echo hi */
#include <seam.h>
#include <seam/cfrunloop.h>

#include <CoreFoundation/CFDate.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long requests_left = -1; /* -1: no limit */
static volatile sig_atomic_t interrupted;

/* The "UI": a tick every 250 ms, also while requests are being served. */
static void on_tick(CFRunLoopTimerRef timer, void *info)
{
    (void)timer;
    long *ticks = info;
    printf("tick %ld\n", ++*ticks);
    if (interrupted) {
        CFRunLoopStop(CFRunLoopGetMain());
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
        /* CFRunLoopRun() returns once this callout is over. */
        CFRunLoopStop(CFRunLoopGetMain());
    }
}

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1; /* seen by the next tick */
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s NAME [--requests N] [--seconds S]\n", argv[0]);
        return 2;
    }
    double seconds = -1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--requests") == 0) {
            requests_left = strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = strtod(argv[i + 1], NULL);
        }
    }
    CFRunLoopRef main_rl = CFRunLoopGetMain();
    seam_loop *loop = NULL;
    seam_server *server = NULL;
    seam_server_config cfg = {.conn.on_event = on_peer_event};
    int r = seam_cfrunloop_attach(main_rl, NULL, &loop);
    if (r == 0) {
        r = seam_server_listen(loop, argv[1], &cfg, &server);
    }
    if (r < 0) {
        fprintf(stderr, "cannot serve %s: %s\n", argv[1], seam_strerror(r));
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGINT, on_sigint);
    printf("serving %s on the main run loop\n", argv[1]);

    long ticks = 0;
    CFRunLoopTimerContext tc = {0, &ticks, NULL, NULL, NULL};
    CFRunLoopTimerRef tick =
        CFRunLoopTimerCreate(NULL, CFAbsoluteTimeGetCurrent() + 0.25, 0.25, 0, 0, on_tick, &tc);
    CFRunLoopAddTimer(main_rl, tick, kCFRunLoopCommonModes);

    if (seconds >= 0) {
        CFRunLoopRunInMode(kCFRunLoopDefaultMode, seconds, false);
    } else {
        CFRunLoopRun();
    }

    /* seam lets go of the run loop before seam_loop_free() returns. */
    seam_server_close(server);
    seam_loop_free(loop);
    CFRunLoopTimerInvalidate(tick);
    CFRelease(tick);
    printf("stopped after %ld ticks\n", ticks);
    return 0;
}
