/* SPDX-License-Identifier: MIT */
/* ev.c - the libev adapter: seam's watches, timer and wakeup as watchers on
 * an ev loop the program owns. libev forgets a watcher as soon as it is
 * stopped, so everything here is released synchronously. */
#include "seam/ev.h"

#include <errno.h>
#include <stdlib.h>

typedef struct binding {
    struct ev_loop *ev;
    seam_loop *loop;
    bool unref;     /* SEAM_EV_UNREF */
    bool zero;      /* a 0 ms timer is armed; the nudge fires it */
    ev_async wake;  /* seam_loop_post() from any thread */
    ev_async nudge; /* sent from the loop itself: a 0 ms timer */
    ev_timer timer; /* deadlines of 1 ms and more */
} binding;

/* EV_ERROR on this many loop iterations in a row: the descriptor cannot
 * be watched (the backend keeps refusing it), not a passing shortage. */
#define EV_ERROR_LIMIT 8

typedef struct watch_rec {
    ev_io io;
    binding *b;
    seam_watch *w;
    unsigned events;     /* the core's mask */
    unsigned errors;     /* EV_ERRORs on consecutive iterations */
    unsigned error_iter; /* ev_iteration() of the last one */
} watch_rec;

/* With SEAM_EV_UNREF an active watcher of ours holds no reference on the
 * loop. libev's idiom: ev_unref after each start, ev_ref before each stop
 * and when libev stopped one itself. */
static void after_start(binding *b)
{
    if (b->unref) {
        ev_unref(b->ev);
    }
}

static void before_stop(binding *b)
{
    if (b->unref) {
        ev_ref(b->ev);
    }
}

static void rec_arm(watch_rec *rec, unsigned events);

static void on_io(struct ev_loop *ev, ev_io *io, int revents)
{
    watch_rec *rec = io->data;
    if (revents & EV_ERROR) {
        /* libev stopped the watcher: its backend refused the descriptor
         * (epoll_ctl out of memory or watches, say). The core's mask stays
         * as it was, so nothing else would start it again. */
        before_stop(rec->b);
        unsigned iter = ev_iteration(ev);
        rec->errors = rec->errors > 0 && iter - rec->error_iter <= 1 ? rec->errors + 1 : 1;
        rec->error_iter = iter;
        if (rec->errors >= EV_ERROR_LIMIT) {
            seam_watch_failed(rec->w, -EIO); /* may stop rec, or free the binding */
            return;
        }
        /* Register it anew (ev_io_set: libev forgets its record of the
         * fd's mask, which the refused change already overwrote), and let
         * the core find out by reading and writing whether the descriptor
         * itself failed. */
        ev_io_set(&rec->io, rec->io.fd, 0);
        rec_arm(rec, rec->events);
        seam_watch_ready(rec->w, SEAM_READ | SEAM_WRITE);
        return;
    }
    unsigned events =
        ((revents & EV_READ) ? SEAM_READ : 0u) | ((revents & EV_WRITE) ? SEAM_WRITE : 0u);
    seam_watch_ready(rec->w, events); /* may stop rec, or free the binding */
}

/* libev cannot change an active watcher's mask: stop, modify, restart. A
 * mask of 0 leaves it stopped. */
static void rec_arm(watch_rec *rec, unsigned events)
{
    binding *b = rec->b;
    rec->events = events;
    if (ev_is_active(&rec->io)) {
        before_stop(b);
        ev_io_stop(b->ev, &rec->io);
    }
    if (events != 0) {
        ev_io_modify(&rec->io,
                     ((events & SEAM_READ) ? EV_READ : 0) | ((events & SEAM_WRITE) ? EV_WRITE : 0));
        ev_io_start(b->ev, &rec->io);
        after_start(b);
    }
}

static int hook_watch_start(void *ctx, seam_watch *w, int fd, unsigned events)
{
    watch_rec *rec = calloc(1, sizeof(*rec));
    if (rec == NULL) {
        return SEAM_ENOMEM;
    }
    /* ev_io_set marks the fd as new to libev: the number may have belonged
     * to a descriptor closed a moment ago. */
    ev_init(&rec->io, on_io);
    ev_io_set(&rec->io, fd, 0);
    rec->io.data = rec;
    rec->b = ctx;
    rec->w = w;
    rec_arm(rec, events);
    seam_watch_set_data(w, rec);
    return 0;
}

static void hook_watch_update(void *ctx, seam_watch *w, unsigned events)
{
    rec_arm(seam_watch_data(w), events);
}

static bool hook_watch_stop(void *ctx, seam_watch *w)
{
    watch_rec *rec = seam_watch_data(w);
    rec_arm(rec, 0);
    free(rec);
    return true; /* libev holds nothing of a stopped watcher */
}

/* A 0 ms ev_timer would make the next iteration block for libev's minimum
 * poll time (1 ms with epoll); an async sent from the loop's own thread
 * costs no syscall and makes the next poll return at once. While armed it
 * keeps the loop alive as a timer would. */
static void zero_set(binding *b, bool on)
{
    if (on == b->zero) {
        return;
    }
    b->zero = on;
    if (on) {
        ev_async_send(b->ev, &b->nudge);
    }
    if (!b->unref) {
        if (on) {
            ev_ref(b->ev);
        } else {
            ev_unref(b->ev);
        }
    }
}

static void on_nudge(struct ev_loop *ev, ev_async *a, int revents)
{
    binding *b = a->data;
    if (b->zero) {
        zero_set(b, false);
        seam_loop_timer_fired(b->loop);
    }
}

static void on_timer(struct ev_loop *ev, ev_timer *t, int revents)
{
    binding *b = t->data;
    before_stop(b); /* libev stopped the one-shot timer */
    seam_loop_timer_fired(b->loop);
}

static void hook_timer_set(void *ctx, int64_t ms)
{
    binding *b = ctx;
    zero_set(b, ms == 0);
    if (ev_is_active(&b->timer)) {
        before_stop(b);
        ev_timer_stop(b->ev, &b->timer);
    }
    if (ms > 0) {
        ev_timer_set(&b->timer, (double)ms / 1000.0, 0.0);
        ev_timer_start(b->ev, &b->timer);
        after_start(b);
    }
}

static void on_wake(struct ev_loop *ev, ev_async *a, int revents)
{
    binding *b = a->data;
    seam_loop_run_pending(b->loop);
}

static void hook_wakeup(void *ctx)
{
    binding *b = ctx;
    ev_async_send(b->ev, &b->wake); /* thread-safe; coalesces */
}

/* Stops what attach started and frees the binding. */
static void binding_free(binding *b)
{
    hook_timer_set(b, -1);
    /* The asyncs were unreferenced at start whatever the flags. */
    ev_ref(b->ev);
    ev_async_stop(b->ev, &b->wake);
    ev_ref(b->ev);
    ev_async_stop(b->ev, &b->nudge);
    free(b);
}

static void hook_detach(void *ctx)
{
    binding_free(ctx); /* every watch was stopped before the core let go */
}

static const seam_loop_ops ev_ops = {
    .watch_start = hook_watch_start,
    .watch_update = hook_watch_update,
    .watch_stop = hook_watch_stop,
    .timer_set = hook_timer_set,
    .wakeup = hook_wakeup,
    .detach = hook_detach,
};

int seam_ev_attach(struct ev_loop *ev, unsigned flags, seam_loop **out)
{
    if (ev == NULL || out == NULL || (flags & ~SEAM_EV_UNREF) != 0) {
        return SEAM_EINVAL;
    }
    binding *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return SEAM_ENOMEM;
    }
    b->ev = ev;
    b->unref = (flags & SEAM_EV_UNREF) != 0;
    ev_async_init(&b->wake, on_wake);
    ev_async_init(&b->nudge, on_nudge);
    ev_init(&b->timer, on_timer);
    b->wake.data = b;
    b->nudge.data = b;
    b->timer.data = b;
    /* Waiting for a wakeup is not work in progress: only watches and
     * timers keep the loop running, and with SEAM_EV_UNREF not even they. */
    ev_async_start(ev, &b->wake);
    ev_unref(ev);
    ev_async_start(ev, &b->nudge);
    ev_unref(ev);
    /* Every watcher exists before the core can call a hook. */
    int r = seam_loop_new(&ev_ops, b, &b->loop);
    if (r < 0) {
        binding_free(b);
        return r;
    }
    *out = b->loop;
    return 0;
}
