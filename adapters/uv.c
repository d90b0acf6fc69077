/* SPDX-License-Identifier: MIT */
/* uv.c - the libuv adapter: seam's watches, timer and wakeup as handles on
 * a uv loop the program owns. libuv closes handles asynchronously, so each
 * handle's memory lives until its close callback, and the binding is freed
 * from the last one. */
#include "seam/uv.h"

#include <stddef.h>
#include <stdlib.h>

typedef struct binding {
    uv_loop_t *uv;
    seam_loop *loop; /* NULL once detached */
    unsigned flags;
    uv_async_t wake;
    uv_timer_t timer; /* deadlines of 1 ms and more */
    uv_idle_t zero;   /* 0 ms: the next iteration */
    int open;         /* of the three above; the last close frees us */
    bool detached;
} binding;

typedef struct watch_rec {
    uv_poll_t poll; /* first: the handle is the record */
    seam_watch *w;  /* NULL for a poll the core never got */
    unsigned events;
} watch_rec;

/* Every handle's data points here, so that programs can tell seam's handles
 * from their own (seam_uv_owns_handle); each finds its record by its
 * address instead. */
static char handle_tag;

static binding *binding_of(void *handle, size_t offset)
{
    return (binding *)(void *)((char *)handle - offset);
}

/* libuv's codes are negated errnos on Unix, like seam's, except its own
 * (UV_EOF, the UV_EAI_* family), which would collide with seam's range. */
static int map_err(int r)
{
    return r < 0 && r > SEAM__ERRNO_MAX ? r : -EIO;
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Applies rec->events; libuv has no paused state, so 0 stops the poll. */
static int rec_arm(watch_rec *rec)
{
    if (rec->events == 0) {
        return uv_poll_stop(&rec->poll);
    }
    int ev = ((rec->events & SEAM_READ) ? UV_READABLE : 0) |
             ((rec->events & SEAM_WRITE) ? UV_WRITABLE : 0);
    return uv_poll_start(&rec->poll, ev, on_poll);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    watch_rec *rec = (watch_rec *)h;
    unsigned ev = 0;
    if (status < 0) {
        /* libuv stops a poll on POLLERR. The core finds the error by
         * reading or writing; level-triggered interest means re-arming. */
        ev = SEAM_READ | SEAM_WRITE;
        (void)rec_arm(rec);
    } else {
        ev = ((events & UV_READABLE) ? SEAM_READ : 0u) | ((events & UV_WRITABLE) ? SEAM_WRITE : 0u);
    }
    seam_watch_ready(rec->w, ev); /* may stop rec, or free the binding */
}

static void on_poll_closed(uv_handle_t *h)
{
    watch_rec *rec = (watch_rec *)h;
    seam_watch *w = rec->w;
    free(rec);
    if (w != NULL) {
        seam_watch_released(w); /* may detach the binding */
    }
}

static int hook_watch_start(void *ctx, seam_watch *w, int fd, unsigned events)
{
    binding *b = ctx;
    watch_rec *rec = calloc(1, sizeof(*rec));
    if (rec == NULL) {
        return SEAM_ENOMEM;
    }
    int r = uv_poll_init(b->uv, &rec->poll, fd);
    if (r < 0) {
        free(rec); /* a failed init registers nothing */
        return map_err(r);
    }
    rec->poll.data = &handle_tag;
    if (b->flags & SEAM_UV_UNREF) {
        uv_unref((uv_handle_t *)&rec->poll);
    }
    rec->events = events;
    r = rec_arm(rec);
    if (r < 0) {
        uv_close((uv_handle_t *)&rec->poll, on_poll_closed);
        return map_err(r);
    }
    rec->w = w;
    seam_watch_set_data(w, rec);
    return 0;
}

static void hook_watch_update(void *ctx, seam_watch *w, unsigned events)
{
    watch_rec *rec = seam_watch_data(w);
    rec->events = events;
    /* uv_poll_start() only checks its arguments, and this hook could not
     * report a failure anyway. */
    (void)rec_arm(rec);
}

static bool hook_watch_stop(void *ctx, seam_watch *w)
{
    watch_rec *rec = seam_watch_data(w);
    uv_close((uv_handle_t *)&rec->poll, on_poll_closed);
    return false; /* released from on_poll_closed, never from here */
}

static void on_timer(uv_timer_t *h)
{
    seam_loop_timer_fired(binding_of(h, offsetof(binding, timer))->loop);
}

static void on_zero(uv_idle_t *h)
{
    uv_idle_stop(h);
    seam_loop_timer_fired(binding_of(h, offsetof(binding, zero))->loop);
}

static void hook_timer_set(void *ctx, int64_t ms)
{
    binding *b = ctx;
    /* A 0 ms uv timer re-armed from a timer callback runs again in the same
     * pass (libuv < 1.45), with no I/O polled in between; an idle handle
     * runs once per iteration and keeps the poll from blocking meanwhile. */
    if (ms == 0) {
        uv_timer_stop(&b->timer);
        uv_idle_start(&b->zero, on_zero);
        return;
    }
    uv_idle_stop(&b->zero);
    if (ms > 0) {
        uv_timer_start(&b->timer, on_timer, (uint64_t)ms, 0);
    } else {
        uv_timer_stop(&b->timer);
    }
}

static void on_wake(uv_async_t *h)
{
    seam_loop_run_pending(binding_of(h, offsetof(binding, wake))->loop);
}

static void hook_wakeup(void *ctx)
{
    binding *b = ctx;
    uv_async_send(&b->wake); /* thread-safe; coalesces with a pending send */
}

static void on_closed(uv_handle_t *h)
{
    size_t offset = h->type == UV_ASYNC   ? offsetof(binding, wake)
                    : h->type == UV_TIMER ? offsetof(binding, timer)
                                          : offsetof(binding, zero);
    binding *b = binding_of(h, offset);
    if (--b->open == 0) {
        free(b);
    }
}

static void close_handles(binding *b)
{
    uv_close((uv_handle_t *)&b->wake, on_closed);
    uv_close((uv_handle_t *)&b->timer, on_closed);
    uv_close((uv_handle_t *)&b->zero, on_closed);
}

static void hook_detach(void *ctx)
{
    binding *b = ctx;
    if (b->detached) {
        return;
    }
    b->detached = true;
    b->loop = NULL;
    close_handles(b); /* every watch was released before the core let go */
}

static const seam_loop_ops uv_ops = {
    .watch_start = hook_watch_start,
    .watch_update = hook_watch_update,
    .watch_stop = hook_watch_stop,
    .timer_set = hook_timer_set,
    .wakeup = hook_wakeup,
    .detach = hook_detach,
};

int seam_uv_attach(uv_loop_t *uv, unsigned flags, seam_loop **out)
{
    if (uv == NULL || out == NULL || (flags & ~SEAM_UV_UNREF) != 0) {
        return SEAM_EINVAL;
    }
    binding *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return SEAM_ENOMEM;
    }
    b->uv = uv;
    b->flags = flags;
    /* The one init that can fail goes first, leaving nothing to close. */
    int r = uv_async_init(uv, &b->wake, on_wake);
    if (r < 0) {
        free(b);
        return map_err(r);
    }
    uv_timer_init(uv, &b->timer);
    uv_idle_init(uv, &b->zero);
    b->open = 3;
    b->wake.data = &handle_tag;
    b->timer.data = &handle_tag;
    b->zero.data = &handle_tag;
    /* Waiting for a wakeup is not work in progress: only watches and
     * timers keep the loop running, and with SEAM_UV_UNREF not even they. */
    uv_unref((uv_handle_t *)&b->wake);
    if (flags & SEAM_UV_UNREF) {
        uv_unref((uv_handle_t *)&b->timer);
        uv_unref((uv_handle_t *)&b->zero);
    }
    /* Every handle exists before the core can call a hook. */
    r = seam_loop_new(&uv_ops, b, &b->loop);
    if (r < 0) {
        close_handles(b);
        return r;
    }
    *out = b->loop;
    return 0;
}

bool seam_uv_owns_handle(const uv_handle_t *h)
{
    return h != NULL && h->data == &handle_tag;
}
