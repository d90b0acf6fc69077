/* SPDX-License-Identifier: MIT */
/* loop.c - the core's side of a loop binding: watches handed to the
 * adapter, the timer heap behind the adapter's single timer, work posted
 * from other threads, deferred teardown, logging. */
#include "runtime.h"
#include "tran.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t seam__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Enters a dispatch from the host loop: writes queued in it go out when
 * the outermost dispatch ends (seam__loop_leave). */
static void dispatch_enter(seam_loop *loop)
{
    loop->depth++;
    loop->in_dispatch = true;
}

/* ---- timer heap ----
 * A pairing heap: arming links the timer in, with no allocation, so that it
 * cannot fail and never has to fire early from inside the arming call. */

void seam__timer_init(seam__timer *t, seam__timer_fn fn)
{
    t->due_ns = 0;
    t->seq = 0;
    t->fn = fn;
    t->armed = false;
    t->child = NULL;
    t->next = NULL;
    t->prev = NULL;
}

static bool timer_before(const seam__timer *a, const seam__timer *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

/* Joins two heaps (roots without siblings); returns the new root. */
static seam__timer *timer_meld(seam__timer *a, seam__timer *b)
{
    if (a == NULL) {
        return b;
    }
    if (b == NULL) {
        return a;
    }
    if (timer_before(b, a)) {
        seam__timer *t = a;
        a = b;
        b = t;
    }
    b->next = a->child;
    if (a->child != NULL) {
        a->child->prev = b;
    }
    b->prev = a;
    a->child = b;
    return a;
}

/* Makes one heap of a list of siblings: melds them in pairs left to right,
 * then the pairs right to left (the two passes keep removal O(log n)
 * amortised). */
static seam__timer *timer_merge_pairs(seam__timer *first)
{
    seam__timer *pairs = NULL; /* melded pairs, last first, linked by next */
    while (first != NULL) {
        seam__timer *a = first;
        seam__timer *b = a->next;
        first = b != NULL ? b->next : NULL;
        a->next = NULL;
        a->prev = NULL;
        if (b != NULL) {
            b->next = NULL;
            b->prev = NULL;
        }
        seam__timer *m = timer_meld(a, b);
        m->next = pairs;
        pairs = m;
    }
    seam__timer *root = NULL;
    while (pairs != NULL) {
        seam__timer *m = pairs;
        pairs = m->next;
        m->next = NULL;
        root = timer_meld(root, m);
    }
    return root;
}

void seam__timer_stop(seam_loop *loop, seam__timer *t)
{
    if (!t->armed) {
        return;
    }
    t->armed = false;
    seam__timer *children = timer_merge_pairs(t->child);
    if (t == loop->timers) {
        loop->timers = children;
    } else {
        if (t->prev->child == t) {
            t->prev->child = t->next;
        } else {
            t->prev->next = t->next;
        }
        if (t->next != NULL) {
            t->next->prev = t->prev;
        }
        loop->timers = timer_meld(loop->timers, children);
    }
    t->child = NULL;
    t->next = NULL;
    t->prev = NULL;
    seam__loop_sync_timer(loop);
}

void seam__timer_start(seam_loop *loop, seam__timer *t, uint64_t ms)
{
    if (t->armed) {
        seam__timer_stop(loop, t);
    }
    t->due_ns = seam__now_ns() + ms * 1000000u;
    t->seq = loop->timer_seq++;
    t->armed = true;
    loop->timers = timer_meld(loop->timers, t);
    seam__loop_sync_timer(loop);
}

void seam__loop_sync_timer(seam_loop *loop)
{
    if (loop->depth > 0 || loop->detached) {
        return; /* done once at the outermost leave */
    }
    int64_t ms = -1;
    uint64_t due = 0;
    if (loop->timers != NULL && loop->armed_ms >= 0 && loop->timers->due_ns == loop->armed_due) {
        return; /* the adapter's timer already stands for this deadline */
    }
    if (loop->timers != NULL) {
        due = loop->timers->due_ns;
        uint64_t now = seam__now_ns();
        ms = due <= now ? 0 : (int64_t)((due - now + 999999u) / 1000000u);
    }
    if (ms == loop->armed_ms && (ms == -1 || due == loop->armed_due)) {
        return;
    }
    loop->armed_ms = ms;
    loop->armed_due = due;
    loop->ops->timer_set(loop->ctx, ms);
}

void seam_loop_timer_fired(seam_loop *loop)
{
    assert(loop != NULL);
    dispatch_enter(loop);
    loop->armed_ms = -2; /* the adapter's timer is spent */
    uint64_t now = seam__now_ns();
    /* Timers armed while this runs wait for the next expiry, so a callback
     * re-arming a 0 ms timer cannot starve the loop. */
    uint64_t last_seq = loop->timer_seq;
    while (loop->timers != NULL && loop->timers->due_ns <= now && loop->timers->seq < last_seq) {
        seam__timer *t = loop->timers;
        seam__timer_stop(loop, t);
        t->fn(t);
    }
    seam__loop_leave(loop);
}

/* ---- watches ---- */

int seam__watch_start(seam_loop *loop, int fd, unsigned events, const seam__watch_hooks *hooks,
                      void *owner, void *handle, seam_watch **out)
{
    seam_watch *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return SEAM_ENOMEM;
    }
    w->loop = loop;
    w->fd = fd;
    w->events = events;
    w->hooks = hooks;
    w->owner = owner;
    w->handle = handle;
    int r = loop->ops->watch_start(loop->ctx, w, fd, events);
    if (r < 0) {
        free(w);
        return r;
    }
    w->next_all = loop->watches;
    if (loop->watches != NULL) {
        loop->watches->prev_all = &w->next_all;
    }
    loop->watches = w;
    w->prev_all = &loop->watches;
    *out = w;
    return 0;
}

void seam__watch_update(seam_watch *w, unsigned events)
{
    if (w->stopping || w->events == events) {
        return;
    }
    w->events = events;
    w->loop->ops->watch_update(w->loop->ctx, w, events);
}

static void loop_finish_if_done(seam_loop *loop);

static void watch_finish(seam_watch *w)
{
    seam_loop *loop = w->loop;
    *w->prev_all = w->next_all;
    if (w->next_all != NULL) {
        w->next_all->prev_all = w->prev_all;
    }
    const seam__watch_hooks *hooks = w->hooks;
    void *owner = w->owner;
    void *handle = w->handle;
    free(w);
    hooks->release(handle);
    if (hooks->released != NULL) {
        hooks->released(owner);
    }
    loop_finish_if_done(loop);
}

void seam__watch_close(seam_watch *w)
{
    if (w->stopping) {
        return;
    }
    w->stopping = true;
    if (w->loop->ops->watch_stop(w->loop->ctx, w)) {
        watch_finish(w);
    } else {
        /* The loop lets go of the fd later (libuv: after uv_close's
         * callback); hang up now so that peers need not wait for it. */
        w->hooks->hangup(w->handle);
    }
}

void seam_watch_released(seam_watch *w)
{
    assert(w != NULL && w->stopping);
    seam_loop *loop = w->loop;
    dispatch_enter(loop);
    watch_finish(w);
    seam__loop_leave(loop);
}

void seam_watch_ready(seam_watch *w, unsigned events)
{
    assert(w != NULL);
    if (w->stopping || events == 0) {
        return;
    }
    seam_loop *loop = w->loop;
    dispatch_enter(loop);
    w->hooks->ready(w->owner, events);
    seam__loop_leave(loop);
}

void seam_watch_failed(seam_watch *w, int error)
{
    assert(w != NULL);
    if (w->stopping) {
        return;
    }
    seam_loop *loop = w->loop;
    dispatch_enter(loop);
    seam__log(loop, SEAM_LOG_ERROR, "the loop cannot watch descriptor %d: %s", w->fd,
              seam_strerror(error));
    /* The owner learns of it as of any failure of its descriptor, by
     * reading and writing: after the hang-up it reads end of stream (a
     * connection closes; a listener accepts no more) and stops the watch. */
    w->hooks->hangup(w->handle);
    w->hooks->ready(w->owner, SEAM_READ | SEAM_WRITE);
    seam__loop_leave(loop);
}

int seam_watch_fd(const seam_watch *w)
{
    return w->fd;
}

void *seam_watch_data(const seam_watch *w)
{
    return w->adapter_data;
}

void seam_watch_set_data(seam_watch *w, void *data)
{
    w->adapter_data = data;
}

/* ---- the loop object ---- */

/* Nothing to do here: leaving the dispatch the timer ran in flushes. */
static void flush_timer_fired(seam__timer *t)
{
    (void)t;
}

void seam__loop_flush_soon(seam_loop *loop)
{
    if (!seam__timer_armed(&loop->flush_timer) && !loop->freeing) {
        seam__timer_start(loop, &loop->flush_timer, 0);
    }
}

int seam_loop_new(const seam_loop_ops *ops, void *ctx, seam_loop **out)
{
    if (ops == NULL || out == NULL || ops->watch_start == NULL || ops->watch_update == NULL ||
        ops->watch_stop == NULL || ops->timer_set == NULL || ops->wakeup == NULL ||
        ops->detach == NULL) {
        return SEAM_EINVAL;
    }
    seam_loop *loop = calloc(1, sizeof(*loop));
    if (loop == NULL) {
        return SEAM_ENOMEM;
    }
    if (pthread_mutex_init(&loop->post_lock, NULL) != 0) {
        free(loop);
        return SEAM_ENOMEM;
    }
    loop->ops = ops;
    loop->ctx = ctx;
    loop->armed_ms = -1;
    loop->post_tail = &loop->post_head;
    seam__timer_init(&loop->flush_timer, flush_timer_fired);
    *out = loop;
    return 0;
}

int seam__loop_resolve(seam_loop *loop, const char *name, const seam__tran **tran, char *addr,
                       size_t len)
{
    if (loop->freeing) {
        return SEAM_ECLOSED; /* nothing new on a loop going away */
    }
    *tran = seam__tran_for(name);
    return (*tran)->resolve(name, addr, len);
}

void *seam_loop_adapter_ctx(const seam_loop *loop)
{
    return loop->ctx;
}

const seam_loop_ops *seam_loop_adapter_ops(const seam_loop *loop)
{
    return loop != NULL ? loop->ops : NULL;
}

int seam_loop_post(seam_loop *loop, void (*fn)(void *arg), void *arg)
{
    if (loop == NULL || fn == NULL) {
        return SEAM_EINVAL;
    }
    seam__post *p = malloc(sizeof(*p));
    if (p == NULL) {
        return SEAM_ENOMEM;
    }
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&loop->post_lock);
    if (loop->posts_closed) {
        pthread_mutex_unlock(&loop->post_lock);
        free(p);
        return SEAM_ECLOSED;
    }
    bool was_empty = loop->post_head == NULL;
    *loop->post_tail = p;
    loop->post_tail = &p->next;
    /* One wakeup per batch: the loop drains the whole list when it runs.
     * It is sent before the unlock because from the unlock on, fn may run
     * and the loop be freed (seam_loop_free takes this lock before it lets
     * go of the adapter): nothing after it may touch the loop. */
    if (was_empty) {
        loop->ops->wakeup(loop->ctx);
    }
    pthread_mutex_unlock(&loop->post_lock);
    return 0;
}

static void run_posts(seam_loop *loop)
{
    pthread_mutex_lock(&loop->post_lock);
    seam__post *p = loop->post_head;
    loop->post_head = NULL;
    loop->post_tail = &loop->post_head;
    pthread_mutex_unlock(&loop->post_lock);
    while (p != NULL) {
        seam__post *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
}

void seam_loop_run_pending(seam_loop *loop)
{
    assert(loop != NULL);
    dispatch_enter(loop);
    run_posts(loop);
    seam__loop_leave(loop);
}

void seam__loop_enter(seam_loop *loop)
{
    loop->depth++;
}

static void loop_teardown(seam_loop *loop);

void seam__loop_leave(seam_loop *loop)
{
    assert(loop->depth > 0);
    if (loop->depth > 1) {
        loop->depth--;
        return;
    }
    if (loop->flush_head != NULL) {
        if (loop->in_dispatch || loop->freeing) {
            seam__conn_flush_all(loop);
        } else {
            /* Queued by a call from outside any dispatch: written on the
             * next iteration, together with whatever else is queued by
             * then. */
            seam__loop_flush_soon(loop);
        }
    }
    loop->in_dispatch = false;
    if (loop->freeing && !loop->detached) {
        /* Teardown requested from inside a callback: do it now, still
         * inside the dispatch so nothing is freed under our feet. */
        loop_teardown(loop);
        /* Closing queued goodbyes: send them before the sockets go. */
        seam__conn_flush_all(loop);
    }
    loop->depth = 0;
    if (loop->detached) {
        loop_finish_if_done(loop);
        return;
    }
    seam__loop_sync_timer(loop);
}

static void loop_finish_if_done(seam_loop *loop)
{
    if (!loop->freeing || loop->depth > 0 || loop->watches != NULL || loop->conns != NULL ||
        loop->servers != NULL) {
        return;
    }
    if (!loop->detached) {
        loop->detached = true;
        loop->ops->timer_set(loop->ctx, -1);
    }
    loop->ops->detach(loop->ctx);
    /* A post refused a moment ago may still hold the lock: wait for it. */
    pthread_mutex_lock(&loop->post_lock);
    assert(loop->post_head == NULL);
    pthread_mutex_unlock(&loop->post_lock);
    pthread_mutex_destroy(&loop->post_lock);
    free(loop->rbuf);
    free(loop);
}

static void loop_teardown(seam_loop *loop)
{
    run_posts(loop);
    seam__server_close_all(loop);
    seam__conn_close_all(loop);
    /* The last drain: work posted up to here (also by the callbacks of the
     * closes above) runs; later posts are refused with SEAM_ECLOSED, so
     * none is left behind when the loop goes. */
    pthread_mutex_lock(&loop->post_lock);
    loop->posts_closed = true;
    pthread_mutex_unlock(&loop->post_lock);
    run_posts(loop);
    /* Nothing may fire any more; remaining timers belong to objects that
     * are going away. */
    while (loop->timers != NULL) {
        seam__timer_stop(loop, loop->timers);
    }
    loop->detached = true;
    loop->ops->timer_set(loop->ctx, -1);
}

void seam_loop_free(seam_loop *loop)
{
    if (loop == NULL || loop->freeing) {
        return;
    }
    loop->freeing = true;
    if (loop->depth > 0) {
        return; /* finished by the outermost seam__loop_leave */
    }
    seam__loop_enter(loop);
    seam__loop_leave(loop);
}

/* ---- logging ---- */

void seam_loop_set_logger(seam_loop *loop, seam_log_level max, seam_log_fn fn, void *userdata)
{
    if (loop == NULL) {
        return;
    }
    loop->log_fn = fn;
    loop->log_data = userdata;
    loop->log_max = max;
}

void seam__log(seam_loop *loop, seam_log_level level, const char *fmt, ...)
{
    if (loop->log_fn == NULL || level > loop->log_max) {
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    loop->log_fn(level, msg, loop->log_data);
}
