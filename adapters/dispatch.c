/* SPDX-License-Identifier: MIT */
/* dispatch.c - the libdispatch adapter: seam on a serial dispatch queue.
 * Each watch is a read and a write source on the queue, switched with
 * suspend/resume; the timer is a timer source; wakeups are async work on
 * the queue. Sources let go of a descriptor only once their cancel handler
 * has run, so releases and the final free happen from the queue, later. */
#include "seam/dispatch.h"

#include <stdatomic.h>
#include <stdlib.h>

enum { RD, WR };

typedef struct dispatch_ctx {
    seam_loop *loop; /* NULL once the core detached */
    dispatch_queue_t queue;
    dispatch_source_t timer;
    bool timer_armed;
    /* The binding, each live watch, the timer source and each wakeup in
     * flight hold one; the last to go frees. Wakeups come from any thread. */
    atomic_uint refs;
    void (*on_freed)(void *arg);
    void *on_freed_arg;
} dispatch_ctx;

typedef struct dispatch_watch {
    dispatch_ctx *d;
    seam_watch *w;
    dispatch_source_t src[2];
    bool resumed[2]; /* sources start inactive, which counts as suspended */
    unsigned events;
    bool stopped;
    int cancels_left;
} dispatch_watch;

static void ctx_ref(dispatch_ctx *d)
{
    atomic_fetch_add(&d->refs, 1);
}

static void ctx_unref(dispatch_ctx *d)
{
    if (atomic_fetch_sub(&d->refs, 1) != 1) {
        return;
    }
    void (*fn)(void *) = d->on_freed;
    void *arg = d->on_freed_arg;
    dispatch_queue_t queue = d->queue;
    free(d);
    if (fn != NULL) {
        fn(arg);
    }
    dispatch_release(queue);
}

static void watch_ready(dispatch_watch *dw, unsigned bit)
{
    /* A source may still deliver an event queued before it was suspended
     * or cancelled. The watch outlives this call: it is freed only by its
     * cancel handlers, which run later on this same serial queue. */
    if (!dw->stopped && (dw->events & bit) != 0) {
        seam_watch_ready(dw->w, bit);
    }
}

static void on_readable(void *arg)
{
    watch_ready(arg, SEAM_READ);
}

static void on_writable(void *arg)
{
    watch_ready(arg, SEAM_WRITE);
}

static void on_watch_cancelled(void *arg)
{
    dispatch_watch *dw = arg;
    if (--dw->cancels_left > 0) {
        return;
    }
    /* Both sources are gone from libdispatch: the core may close the fd. */
    dispatch_ctx *d = dw->d;
    seam_watch *w = dw->w;
    free(dw);
    seam_watch_released(w);
    ctx_unref(d);
}

static void source_set(dispatch_watch *dw, int i, bool on)
{
    if (on && !dw->resumed[i]) {
        dispatch_resume(dw->src[i]);
    } else if (!on && dw->resumed[i]) {
        dispatch_suspend(dw->src[i]);
    }
    dw->resumed[i] = on;
}

/* libdispatch crashes when a suspended or inactive source is released, and
 * runs no cancel handler while one is suspended: resume first. */
static void source_retire(dispatch_source_t src, bool resumed)
{
    if (!resumed) {
        dispatch_resume(src);
    }
    dispatch_source_cancel(src);
    dispatch_release(src);
}

static int hook_watch_start(void *ctx, seam_watch *w, int fd, unsigned events)
{
    dispatch_ctx *d = ctx;
    dispatch_watch *dw = calloc(1, sizeof(*dw));
    if (dw == NULL) {
        return SEAM_ENOMEM;
    }
    dw->src[RD] = dispatch_source_create(DISPATCH_SOURCE_TYPE_READ, (uintptr_t)fd, 0, d->queue);
    dw->src[WR] = dispatch_source_create(DISPATCH_SOURCE_TYPE_WRITE, (uintptr_t)fd, 0, d->queue);
    if (dw->src[RD] == NULL || dw->src[WR] == NULL) {
        /* No handlers were set: retiring them calls nothing back. */
        for (int i = RD; i <= WR; i++) {
            if (dw->src[i] != NULL) {
                source_retire(dw->src[i], false);
            }
        }
        free(dw);
        return SEAM_ENOMEM;
    }
    dw->d = d;
    dw->w = w;
    dw->events = events;
    dw->cancels_left = 2;
    for (int i = RD; i <= WR; i++) {
        dispatch_set_context(dw->src[i], dw);
        dispatch_source_set_event_handler_f(dw->src[i], i == RD ? on_readable : on_writable);
        dispatch_source_set_cancel_handler_f(dw->src[i], on_watch_cancelled);
    }
    source_set(dw, RD, (events & SEAM_READ) != 0);
    source_set(dw, WR, (events & SEAM_WRITE) != 0);
    ctx_ref(d);
    seam_watch_set_data(w, dw);
    return 0;
}

static void hook_watch_update(void *ctx, seam_watch *w, unsigned events)
{
    dispatch_watch *dw = seam_watch_data(w);
    dw->events = events;
    source_set(dw, RD, (events & SEAM_READ) != 0);
    source_set(dw, WR, (events & SEAM_WRITE) != 0);
}

static bool hook_watch_stop(void *ctx, seam_watch *w)
{
    dispatch_watch *dw = seam_watch_data(w);
    dw->stopped = true;
    dw->events = 0;
    for (int i = RD; i <= WR; i++) {
        source_retire(dw->src[i], dw->resumed[i]);
        dw->src[i] = NULL;
    }
    /* The fd stays registered until both cancel handlers have run; the
     * last one calls seam_watch_released() from the queue. */
    return false;
}

static void on_timer(void *arg)
{
    dispatch_ctx *d = arg;
    /* A fire already queued when the timer was cancelled is dropped; an
     * early one after a re-arm is harmless, the core just re-arms. */
    if (d->loop == NULL || !d->timer_armed) {
        return;
    }
    d->timer_armed = false;
    seam_loop_timer_fired(d->loop);
}

static void hook_timer_set(void *ctx, int64_t ms)
{
    dispatch_ctx *d = ctx;
    d->timer_armed = ms >= 0;
    dispatch_time_t start = DISPATCH_TIME_FOREVER;
    if (ms >= 0) {
        /* 0 fires from the queue on its next turn, never inline. */
        start = dispatch_time(DISPATCH_TIME_NOW, ms * 1000000);
    }
    dispatch_source_set_timer(d->timer, start, DISPATCH_TIME_FOREVER, 0);
}

static void on_wakeup(void *arg)
{
    dispatch_ctx *d = arg;
    if (d->loop != NULL) {
        seam_loop_run_pending(d->loop);
    }
    ctx_unref(d);
}

static void hook_wakeup(void *ctx)
{
    dispatch_ctx *d = ctx;
    ctx_ref(d);
    dispatch_async_f(d->queue, d, on_wakeup);
}

static void on_timer_cancelled(void *arg)
{
    ctx_unref(arg);
}

static void hook_detach(void *ctx)
{
    dispatch_ctx *d = ctx;
    d->loop = NULL;
    d->timer_armed = false;
    /* The timer's cancel handler drops its reference later, from the
     * queue, so the final free never happens inside a hook. */
    source_retire(d->timer, true);
    d->timer = NULL;
    ctx_unref(d);
}

static const seam_loop_ops dispatch_ops = {
    .watch_start = hook_watch_start,
    .watch_update = hook_watch_update,
    .watch_stop = hook_watch_stop,
    .timer_set = hook_timer_set,
    .wakeup = hook_wakeup,
    .detach = hook_detach,
};

int seam_dispatch_attach(dispatch_queue_t queue, seam_loop **out)
{
    if (queue == NULL || out == NULL) {
        return SEAM_EINVAL;
    }
    dispatch_ctx *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return SEAM_ENOMEM;
    }
    d->timer = dispatch_source_create(DISPATCH_SOURCE_TYPE_TIMER, 0, 0, queue);
    if (d->timer == NULL) {
        free(d);
        return SEAM_ENOMEM;
    }
    dispatch_retain(queue);
    d->queue = queue;
    atomic_init(&d->refs, 2); /* the binding and the timer source */
    dispatch_set_context(d->timer, d);
    dispatch_source_set_event_handler_f(d->timer, on_timer);
    dispatch_source_set_cancel_handler_f(d->timer, on_timer_cancelled);
    dispatch_source_set_timer(d->timer, DISPATCH_TIME_FOREVER, DISPATCH_TIME_FOREVER, 0);
    dispatch_resume(d->timer);
    /* Every resource exists before the core can call a hook. */
    int r = seam_loop_new(&dispatch_ops, d, &d->loop);
    if (r < 0) {
        hook_detach(d);
        return r;
    }
    *out = d->loop;
    return 0;
}

int seam_dispatch_on_freed(seam_loop *loop, void (*fn)(void *arg), void *arg)
{
    if (loop == NULL || fn == NULL || seam_loop_adapter_ops(loop) != &dispatch_ops) {
        return SEAM_EINVAL;
    }
    dispatch_ctx *d = seam_loop_adapter_ctx(loop);
    d->on_freed = fn;
    d->on_freed_arg = arg;
    return 0;
}
