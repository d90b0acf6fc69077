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
    seam__loop_finish_if_done(loop);
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
