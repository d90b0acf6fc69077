/* SPDX-License-Identifier: MIT */
/* loop.c - the core's side of a loop binding: entering and leaving a
 * dispatch, work posted from other threads, deferred teardown, logging.
 * Watches are in watch.c, timers in timer.c. */
#include "runtime.h"
#include "tran.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Rounds of raised readiness one dispatch tells before the host loop
 * gets a turn (two loops' worth of ping-pong would otherwise keep it). */
#define RAISE_ROUNDS 256

/* Which thread is inside a loop (between its outermost enter and leave),
 * so that a thread raising readiness on it need not wake it (watch.c):
 * each thread's token is the address of its own copy of this variable. */
static _Thread_local char entered_token;

static void entered_push(seam_loop *loop)
{
    atomic_store_explicit(&loop->entered_by, (void *)&entered_token, memory_order_relaxed);
}

static void entered_pop(seam_loop *loop)
{
    atomic_store_explicit(&loop->entered_by, NULL, memory_order_relaxed);
}

bool seam__loop_entered_here(const seam_loop *loop)
{
    /* Only this thread stores its own token: a stale read by another
     * thread can never show that thread's token. */
    return atomic_load_explicit(&((seam_loop *)loop)->entered_by, memory_order_relaxed) ==
           (void *)&entered_token;
}

/* Enters a dispatch from the host loop: writes queued in it go out when
 * the outermost dispatch ends (seam__loop_leave). */
void seam__loop_dispatch_enter(seam_loop *loop)
{
    if (loop->depth++ == 0) {
        entered_push(loop);
    }
    loop->in_dispatch = true;
}

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
    loop->raised_tail = &loop->raised_head;
    loop->remote_tail = &loop->remote_head;
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
    seam__loop_dispatch_enter(loop);
    run_posts(loop);
    seam__loop_leave(loop);
}

void seam__loop_enter(seam_loop *loop)
{
    if (loop->depth++ == 0) {
        entered_push(loop);
    }
}

static void loop_teardown(seam_loop *loop);

/* ---- handles ---- */

void seam__handle_add(seam_loop *loop, seam__handle *h, const seam__handle_ops *ops)
{
    h->ops = ops;
    h->next = loop->handles;
    if (loop->handles != NULL) {
        loop->handles->prev = &h->next;
    }
    loop->handles = h;
    h->prev = &loop->handles;
}

void seam__handle_remove(seam__handle *h)
{
    *h->prev = h->next;
    if (h->next != NULL) {
        h->next->prev = h->prev;
    }
}

void seam__handle_flush_later(seam_loop *loop, seam__handle *h)
{
    if (!h->in_flush_list) {
        h->in_flush_list = true;
        h->ops->ref(h);
        h->flush_next = loop->flush_head;
        loop->flush_head = h;
    }
    if (loop->depth == 0) {
        seam__loop_flush_soon(loop);
    }
}

static void flush_all(seam_loop *loop)
{
    while (loop->flush_head != NULL) {
        seam__handle *h = loop->flush_head;
        loop->flush_head = h->flush_next;
        h->in_flush_list = false;
        h->ops->flush(h);
        h->ops->unref(h);
    }
}

/* The first handle of rank from h on, or NULL. */
static seam__handle *handle_of_rank(seam__handle *h, unsigned rank)
{
    while (h != NULL && h->ops->rank != rank) {
        h = h->next;
    }
    return h;
}

/* Closes every handle, rank by rank. A close may free other handles: the
 * next one is held before the current one is let go, and found only after
 * the close (a handle stays listed while held). */
static void handles_close(seam_loop *loop)
{
    for (unsigned rank = 0; rank < 2; rank++) {
        seam__handle *h = handle_of_rank(loop->handles, rank);
        if (h != NULL) {
            h->ops->ref(h);
        }
        while (h != NULL) {
            h->ops->close(h);
            seam__handle *next = handle_of_rank(h->next, rank);
            if (next != NULL) {
                next->ops->ref(next);
            }
            h->ops->unref(h);
            h = next;
        }
    }
}

void seam__loop_leave(seam_loop *loop)
{
    assert(loop->depth > 0);
    if (loop->depth > 1) {
        loop->depth--;
        return;
    }
    for (unsigned round = 0;; round++) {
        if (loop->flush_head != NULL) {
            if (loop->in_dispatch || loop->freeing) {
                flush_all(loop);
            } else {
                /* Queued by a call from outside any dispatch: written on
                 * the next iteration, together with whatever else is
                 * queued by then. */
                seam__loop_flush_soon(loop);
            }
        }
        /* Readiness raised by transports is told here, in the dispatch
         * (never inside a call from outside one: then on the next
         * iteration). */
        if (!loop->in_dispatch || loop->freeing || !seam__watch_raised_any(loop)) {
            break;
        }
        if (round == RAISE_ROUNDS) {
            seam__loop_flush_soon(loop);
            break;
        }
        seam__watch_run_raised(loop);
    }
    loop->in_dispatch = false;
    if (loop->freeing && !loop->detached) {
        /* Teardown requested from inside a callback: do it now, still
         * inside the dispatch so nothing is freed under our feet. */
        loop_teardown(loop);
        /* Closing queued goodbyes: send them before the sockets go. */
        flush_all(loop);
    }
    loop->depth = 0;
    entered_pop(loop);
    if (loop->detached) {
        seam__loop_finish_if_done(loop);
        return;
    }
    seam__loop_sync_timer(loop);
}

void seam__loop_finish_if_done(seam_loop *loop)
{
    if (!loop->freeing || loop->depth > 0 || loop->watches != NULL || loop->handles != NULL) {
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
    handles_close(loop);
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
