/* SPDX-License-Identifier: MIT */
/* watch.c - watches: one per watched descriptor, the adapter's readiness
 * and release reaching the handle's owner through its hooks. */
#include "runtime.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void raised_local_add(seam_watch *w);
static void raised_unlink(seam_watch *w);

int seam__watch_start(seam_loop *loop, int fd, unsigned events, const seam__watch_hooks *hooks,
                      void *owner, void *handle, seam_watch **out)
{
    if (fd < 0 && (hooks->notify == NULL || hooks->poll == NULL)) {
        return SEAM_ENOTSUP;
    }
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
    if (fd >= 0) {
        int r = loop->ops->watch_start(loop->ctx, w, fd, events);
        if (r < 0) {
            free(w);
            return r;
        }
    }
    w->next_all = loop->watches;
    if (loop->watches != NULL) {
        loop->watches->prev_all = &w->next_all;
    }
    loop->watches = w;
    w->prev_all = &loop->watches;
    if (fd < 0) {
        /* What is there already is told on the next iteration, as the
         * adapter would. */
        hooks->notify(handle, w);
        raised_local_add(w);
    }
    *out = w;
    return 0;
}

void seam__watch_update(seam_watch *w, unsigned events)
{
    if (w->stopping || w->events == events) {
        return;
    }
    unsigned added = events & ~w->events;
    w->events = events;
    if (w->fd >= 0) {
        w->loop->ops->watch_update(w->loop->ctx, w, events);
    } else if (added != 0) {
        raised_local_add(w); /* it may be ready for them already */
    }
}

static void watch_finish(seam_watch *w)
{
    seam_loop *loop = w->loop;
    if (w->fd < 0) {
        raised_unlink(w);
    }
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
    seam__loop_finish_if_done(loop);
}

void seam__watch_close(seam_watch *w)
{
    if (w->stopping) {
        return;
    }
    w->stopping = true;
    if (w->fd < 0) {
        /* From here on the transport raises nothing on w. */
        w->hooks->notify(w->handle, NULL);
        watch_finish(w);
    } else if (w->loop->ops->watch_stop(w->loop->ctx, w)) {
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
    seam__loop_dispatch_enter(loop);
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
    seam__loop_dispatch_enter(loop);
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
    seam__loop_dispatch_enter(loop);
    seam__log(loop, SEAM_LOG_ERROR, "the loop cannot watch descriptor %d: %s", w->fd,
              seam_strerror(error));
    /* The owner learns of it as of any failure of its descriptor, by
     * reading and writing: after the hang-up it reads end of stream (a
     * connection closes; a listener accepts no more) and stops the watch. */
    w->hooks->hangup(w->handle);
    w->hooks->ready(w->owner, SEAM_READ | SEAM_WRITE);
    seam__loop_leave(loop);
}

/* ---- raised readiness, for watches with no descriptor ----
 * The loop's thread keeps one list (no lock: only a thread inside the loop
 * touches it); other threads add to a second one under the post lock and
 * wake the loop once until it takes them. The owners are told at the end
 * of the dispatch (seam__loop_leave), in rounds: a watch raised while its
 * round runs waits for the next, and the host loop gets a turn after a
 * bounded number of rounds. */

static void raised_local_add(seam_watch *w)
{
    seam_loop *loop = w->loop;
    if (w->raised_local) {
        return;
    }
    w->raised_local = true;
    w->local_next = NULL;
    w->local_prev = loop->raised_tail;
    *loop->raised_tail = w;
    loop->raised_tail = &w->local_next;
    loop->raised_count++;
    if (loop->depth == 0 || !loop->in_dispatch) {
        seam__loop_flush_soon(loop); /* no dispatch will end soon by itself */
    }
}

static void raised_local_remove(seam_watch *w)
{
    seam_loop *loop = w->loop;
    if (!w->raised_local) {
        return;
    }
    w->raised_local = false;
    *w->local_prev = w->local_next;
    if (w->local_next != NULL) {
        w->local_next->local_prev = w->local_prev;
    } else {
        loop->raised_tail = w->local_prev;
    }
    loop->raised_count--;
}

/* With the post lock held. */
static void raised_remote_remove(seam_watch *w)
{
    seam_loop *loop = w->loop;
    if (!w->raised_remote) {
        return;
    }
    w->raised_remote = false;
    *w->remote_prev = w->remote_next;
    if (w->remote_next != NULL) {
        w->remote_next->remote_prev = w->remote_prev;
    } else {
        loop->remote_tail = w->remote_prev;
    }
    if (loop->remote_head == NULL) {
        /* Nothing is left for the wake-up in flight to find: the next
         * raise must wake the loop again (it may take this one first). */
        loop->remote_woken = false;
        atomic_store_explicit(&loop->remote_due, false, memory_order_relaxed);
    }
}

static void raised_unlink(seam_watch *w)
{
    seam_loop *loop = w->loop;
    raised_local_remove(w);
    pthread_mutex_lock(&loop->post_lock);
    raised_remote_remove(w);
    pthread_mutex_unlock(&loop->post_lock);
}

void seam__watch_raise(seam_watch *w)
{
    seam_loop *loop = w->loop;
    if (seam__loop_entered_here(loop)) {
        raised_local_add(w);
        return;
    }
    pthread_mutex_lock(&loop->post_lock);
    if (!w->raised_remote) {
        w->raised_remote = true;
        w->remote_next = NULL;
        w->remote_prev = loop->remote_tail;
        *loop->remote_tail = w;
        loop->remote_tail = &w->remote_next;
        atomic_store_explicit(&loop->remote_due, true, memory_order_relaxed);
        if (!loop->remote_woken && !loop->posts_closed) {
            loop->remote_woken = true;
            loop->ops->wakeup(loop->ctx);
        }
    }
    pthread_mutex_unlock(&loop->post_lock);
}

bool seam__watch_raised_any(seam_loop *loop)
{
    return loop->raised_head != NULL ||
           atomic_load_explicit(&loop->remote_due, memory_order_relaxed);
}

/* Moves what other threads raised to the loop's own list. */
static void raised_take_remote(seam_loop *loop)
{
    if (!atomic_load_explicit(&loop->remote_due, memory_order_relaxed)) {
        return;
    }
    pthread_mutex_lock(&loop->post_lock);
    while (loop->remote_head != NULL) {
        seam_watch *w = loop->remote_head;
        raised_remote_remove(w);
        raised_local_add(w);
    }
    loop->remote_woken = false;
    pthread_mutex_unlock(&loop->post_lock);
}

bool seam__watch_run_raised(seam_loop *loop)
{
    raised_take_remote(loop);
    size_t n = loop->raised_count;
    if (n == 0) {
        return false;
    }
    /* The watches raised when the round began; each is raised again
     * before its owner is told, so that what the owner leaves unread or
     * unwritten is looked at in the next round (level-triggered, as a
     * descriptor's readiness is). */
    while (n-- > 0 && loop->raised_head != NULL) {
        seam_watch *w = loop->raised_head;
        raised_local_remove(w);
        unsigned ready = w->hooks->poll(w->handle, w->events) & w->events;
        if (ready != 0 && !w->stopping) {
            raised_local_add(w);
            w->hooks->ready(w->owner, ready);
        }
    }
    return true;
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
