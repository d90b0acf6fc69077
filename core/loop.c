/* SPDX-License-Identifier: MIT */
/* loop.c - the core's side of a loop binding: watches handed to the
 * adapter, the timer heap behind the adapter's single timer, work posted
 * from other threads, deferred teardown, logging. */
#include "runtime.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* ---- timer heap ---- */

void seam__timer_init(seam__timer *t, seam__timer_fn fn)
{
    t->due_ns = 0;
    t->slot = SIZE_MAX;
    t->seq = 0;
    t->fn = fn;
}

static bool timer_before(const seam__timer *a, const seam__timer *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_place(seam_loop *loop, size_t i, seam__timer *t)
{
    loop->heap[i] = t;
    t->slot = i;
}

static void heap_up(seam_loop *loop, size_t i)
{
    seam__timer *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, loop->heap[parent])) {
            break;
        }
        heap_place(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_place(loop, i, t);
}

static void heap_down(seam_loop *loop, size_t i)
{
    seam__timer *t = loop->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->heap_len) {
            break;
        }
        if (child + 1 < loop->heap_len && timer_before(loop->heap[child + 1], loop->heap[child])) {
            child++;
        }
        if (!timer_before(loop->heap[child], t)) {
            break;
        }
        heap_place(loop, i, loop->heap[child]);
        i = child;
    }
    heap_place(loop, i, t);
}

void seam__timer_stop(seam_loop *loop, seam__timer *t)
{
    if (t->slot == SIZE_MAX) {
        return;
    }
    size_t i = t->slot;
    t->slot = SIZE_MAX;
    seam__timer *last = loop->heap[--loop->heap_len];
    if (last != t) {
        heap_place(loop, i, last);
        heap_down(loop, i);
        heap_up(loop, last->slot);
    }
    seam__loop_sync_timer(loop);
}

void seam__timer_start(seam_loop *loop, seam__timer *t, uint64_t ms)
{
    if (t->slot != SIZE_MAX) {
        seam__timer_stop(loop, t);
    }
    if (loop->heap_len == loop->heap_cap) {
        size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
        seam__timer **heap = realloc(loop->heap, cap * sizeof(*heap));
        if (heap == NULL) {
            /* Without room the timer fires at once rather than never: every
             * user of a timer treats an early expiry as "check again". */
            seam__log(loop, SEAM_LOG_ERROR, "out of memory arming a timer");
            t->fn(t);
            return;
        }
        loop->heap = heap;
        loop->heap_cap = cap;
    }
    t->due_ns = seam__now_ns() + ms * 1000000u;
    t->seq = loop->timer_seq++;
    loop->heap[loop->heap_len] = t;
    t->slot = loop->heap_len++;
    heap_up(loop, t->slot);
    seam__loop_sync_timer(loop);
}

void seam__loop_sync_timer(seam_loop *loop)
{
    if (loop->depth > 0 || loop->detached) {
        return; /* done once at the outermost leave */
    }
    int64_t ms = -1;
    uint64_t due = 0;
    if (loop->heap_len > 0 && loop->armed_ms >= 0 && loop->heap[0]->due_ns == loop->armed_due) {
        return; /* the adapter's timer already stands for this deadline */
    }
    if (loop->heap_len > 0) {
        due = loop->heap[0]->due_ns;
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
    while (loop->heap_len > 0 && loop->heap[0]->due_ns <= now && loop->heap[0]->seq < last_seq) {
        seam__timer *t = loop->heap[0];
        seam__timer_stop(loop, t);
        t->fn(t);
    }
    seam__loop_leave(loop);
}

/* ---- watches ---- */

int seam__watch_start(seam_loop *loop, int fd, unsigned events, seam__ready_fn ready,
                      seam__released_fn released, void *owner, seam_watch **out)
{
    seam_watch *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return SEAM_ENOMEM;
    }
    w->loop = loop;
    w->fd = fd;
    w->events = events;
    w->ready = ready;
    w->released = released;
    w->owner = owner;
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
    close(w->fd);
    seam__released_fn released = w->released;
    void *owner = w->owner;
    free(w);
    if (released != NULL) {
        released(owner);
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
        shutdown(w->fd, SHUT_RDWR);
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
    w->ready(w->owner, events);
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

int seam__loop_name_path(seam_loop *loop, const char *name, char *path, size_t len)
{
    if (loop->freeing) {
        return SEAM_ECLOSED; /* nothing new on a loop going away */
    }
    return seam_name_path(name, path, len);
}

void *seam_loop_adapter_ctx(const seam_loop *loop)
{
    return loop->ctx;
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
    bool was_empty = loop->post_head == NULL;
    *loop->post_tail = p;
    loop->post_tail = &p->next;
    pthread_mutex_unlock(&loop->post_lock);
    /* One wakeup per batch: the loop drains the whole list when it runs. */
    if (was_empty) {
        loop->ops->wakeup(loop->ctx);
    }
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
    pthread_mutex_destroy(&loop->post_lock);
    free(loop->rbuf);
    free(loop->heap);
    free(loop);
}

static void loop_teardown(seam_loop *loop)
{
    run_posts(loop);
    seam__server_close_all(loop);
    seam__conn_close_all(loop);
    run_posts(loop);
    /* Nothing may fire any more; remaining timers belong to objects that
     * are going away. */
    while (loop->heap_len > 0) {
        seam__timer_stop(loop, loop->heap[0]);
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
