/* SPDX-License-Identifier: MIT */
/* ev.c - the conformance driver for the libev adapter: a loop from
 * ev_loop_new() per test, or with SEAM_DRIVER_DEFAULT the default loop,
 * kept across tests as a program's one loop would be. With
 * SEAM_DRIVER_UNREF seam's watchers are unreferenced (SEAM_EV_UNREF). The
 * loop counts as left as found when its count of referenced active watchers
 * (what ev_run() returns) is back where it was before seam was attached. */
#include "driver.h"

#include <seam/ev.h>

#include <signal.h>
#include <stdlib.h>

typedef struct ev_host {
    struct ev_loop *ev;
    ev_timer deadline; /* bounds one iteration; stopped in between */
    int refs;          /* ev_run()'s count before seam was attached */
} ev_host;

/* The host in use. Forked children drop it without freeing it; reachable
 * from here it is not reported as lost by valgrind in them. */
static ev_host *volatile current; /* volatile: kept though never read */

static void *ev_host_new(void)
{
    ev_host *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
#ifdef SEAM_DRIVER_DEFAULT
    h->ev = ev_default_loop(0);
    /* The default loop reaps every child on SIGCHLD (libev's ev_child
     * support), which would take the tests' own children from under their
     * waitpid(). */
    signal(SIGCHLD, SIG_DFL);
#else
    h->ev = ev_loop_new(EVFLAG_AUTO);
#endif
    if (h->ev == NULL) {
        free(h);
        return NULL;
    }
    ev_init(&h->deadline, NULL);
    h->refs = ev_run(h->ev, EVRUN_NOWAIT);
    current = h;
    return h;
}

static int ev_attach(void *host, seam_loop **out)
{
    ev_host *h = host;
#ifdef SEAM_DRIVER_UNREF
    return seam_ev_attach(h->ev, SEAM_EV_UNREF, out);
#else
    return seam_ev_attach(h->ev, 0, out);
#endif
}

static void on_deadline(struct ev_loop *ev, ev_timer *t, int revents)
{
    (void)ev; /* its firing is what ends ev_run() */
    (void)t;
    (void)revents;
}

static int ev_run_once(void *host, seam_loop *loop, int max_ms)
{
    ev_host *h = host;
    int active = 0;
    if (max_ms <= 0) {
        active = ev_run(h->ev, EVRUN_NOWAIT);
    } else {
        /* The loop's clock is as old as its last iteration. */
        ev_now_update(h->ev);
        ev_timer_init(&h->deadline, on_deadline, (double)max_ms / 1000.0, 0.0);
        ev_timer_start(h->ev, &h->deadline);
        ev_run(h->ev, EVRUN_ONCE);
        ev_timer_stop(h->ev, &h->deadline);
#ifdef SEAM_DRIVER_UNREF
        active = ev_run(h->ev, EVRUN_NOWAIT);
#endif
    }
#ifdef SEAM_DRIVER_UNREF
    /* Whatever seam has open, none of it may keep the loop running: the
     * count of referenced watchers stays where it was without seam. */
    if (active != h->refs) {
        return SEAM_EBUSY;
    }
#endif
    (void)active;
    return 0;
}

static void on_probe(struct ev_loop *ev, ev_async *a, int revents)
{
    (void)ev;
    (void)a;
    (void)revents;
}

static bool ev_host_free(void *host)
{
    ev_host *h = host;
    bool clean = ev_pending_count(h->ev) == 0;
    /* A pending async makes libev scan every async watcher of the loop: one
     * seam left behind, in freed memory, is touched where the sanitizers
     * and valgrind see it. */
    ev_async probe;
    ev_async_init(&probe, on_probe);
    ev_async_start(h->ev, &probe);
    ev_async_send(h->ev, &probe);
    ev_run(h->ev, EVRUN_NOWAIT);
    ev_async_stop(h->ev, &probe);
    clean = clean && ev_run(h->ev, EVRUN_NOWAIT) == h->refs;
#ifndef SEAM_DRIVER_DEFAULT
    ev_loop_destroy(h->ev);
#endif
    current = NULL;
    free(h);
    return clean;
}

const support_driver support_driver_under_test = {
#if defined(SEAM_DRIVER_DEFAULT)
    .name = "ev-default",
#elif defined(SEAM_DRIVER_UNREF)
    .name = "ev-unref",
#else
    .name = "ev",
#endif
    .host_new = ev_host_new,
    .attach = ev_attach,
    .run_once = ev_run_once,
    .host_free = ev_host_free,
};
