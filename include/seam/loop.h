/* SPDX-License-Identifier: MIT */
/* seam/loop.h - the adapter contract: how an event loop hosts seam.
 *
 * Programs use an adapter (seam/poll.h, seam/uv.h ...) and never need this
 * header. Adapter writers implement seam_loop_ops and call the functions
 * below; docs/adapters.md explains the rules and why each exists.
 *
 * The core pushes interest changes to the adapter: it starts, updates and
 * stops watches on descriptors and sets one timer. The adapter calls back
 * when a descriptor is ready, when the timer fires and when woken. Every
 * call in either direction happens on the loop's thread, except the
 * adapter's wakeup hook and seam_loop_post(). */
#ifndef SEAM_LOOP_H
#define SEAM_LOOP_H

#include "../seam.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Readiness and interest bits. */
#define SEAM_READ  0x1u
#define SEAM_WRITE 0x2u

/* One watched descriptor, owned by the core. The adapter may keep a pointer
 * of its own in it (seam_watch_set_data). */
typedef struct seam_watch seam_watch;

typedef struct seam_loop_ops {
    /* Begins watching fd for events (SEAM_READ and/or SEAM_WRITE; 0 means
     * registered but paused). Returns 0 or a negative code; on failure the
     * core does not call watch_stop for it. fd is never watched twice at
     * once, but the same number may come back for a new descriptor after a
     * watch on it was released: treat every watch as new. */
    int (*watch_start)(void *ctx, seam_watch *w, int fd, unsigned events);
    /* Replaces the interest mask (the full mask, not a change). Idempotent;
     * 0 pauses the watch. */
    void (*watch_update)(void *ctx, seam_watch *w, unsigned events);
    /* Stops the watch for good. Returns true when the loop holds no
     * reference to the descriptor any more (poll, libev), so the core may
     * close it at once; false when the loop lets go later (libuv after
     * uv_close's callback, dispatch after the cancel handler) - the adapter
     * then calls seam_watch_released(w) from the loop once it has. Only
     * after that does the core close the descriptor. */
    bool (*watch_stop)(void *ctx, seam_watch *w);
    /* Arms the binding's single timer: ms from now (monotonic), replacing
     * any earlier deadline; -1 cancels; 0 means on the next loop iteration,
     * never inline. On expiry the adapter calls seam_loop_timer_fired(). */
    void (*timer_set)(void *ctx, int64_t ms);
    /* Makes the loop call seam_loop_run_pending() soon on its own thread.
     * Called from any thread, also from inside the loop's thread, with the
     * binding's post lock held: it must neither block on the loop nor call
     * back into seam. Never called once detach has been. */
    void (*wakeup)(void *ctx);
    /* The core is finished with the adapter: every watch was released and
     * the timer will not be set again. The adapter frees what it holds
     * (asynchronously if its loop requires). Called exactly once. */
    void (*detach)(void *ctx);
} seam_loop_ops;

/* The core's side of one binding to a host loop. */
typedef struct seam_loop seam_loop;

/* Creates a loop binding with the adapter's hooks. Adapters call this once
 * every resource of their own exists, so a hook is never called half made.
 * ops must outlive the binding. Returns 0 or SEAM_EINVAL / SEAM_ENOMEM. */
SEAM_EXPORT int seam_loop_new(const seam_loop_ops *ops, void *ctx, seam_loop **out);

/* The ctx given to seam_loop_new. */
SEAM_EXPORT void *seam_loop_adapter_ctx(const seam_loop *loop);

/* The ops given to seam_loop_new (NULL for a NULL loop). An adapter's own
 * functions compare it with their table before trusting
 * seam_loop_adapter_ctx(): a loop of another adapter has another ctx. */
SEAM_EXPORT const seam_loop_ops *seam_loop_adapter_ops(const seam_loop *loop);

/* Reports readiness (SEAM_READ / SEAM_WRITE, errors and hang-ups as both)
 * of a started watch. May run user callbacks. Ignored after watch_stop. */
SEAM_EXPORT void seam_watch_ready(seam_watch *w, unsigned events);

/* Reports that the loop can no longer watch a started watch's descriptor
 * (libev after EV_ERROR when re-arming does not help). The core hangs the
 * descriptor up and reports it ready, so its owner fails the way it does on
 * any broken descriptor and stops the watch. May run user callbacks. The
 * adapter need not re-arm the watch afterwards. */
SEAM_EXPORT void seam_watch_failed(seam_watch *w, int error);

/* Acknowledges a watch_stop that returned false: the loop no longer
 * references the descriptor. Never call it from inside a hook. */
SEAM_EXPORT void seam_watch_released(seam_watch *w);

SEAM_EXPORT int seam_watch_fd(const seam_watch *w);
SEAM_EXPORT void *seam_watch_data(const seam_watch *w);
SEAM_EXPORT void seam_watch_set_data(seam_watch *w, void *data);

/* The adapter's timer expired. May run user callbacks. */
SEAM_EXPORT void seam_loop_timer_fired(seam_loop *loop);

/* Runs work posted with seam_loop_post(); the adapter calls it after a
 * wakeup. May run user callbacks. */
SEAM_EXPORT void seam_loop_run_pending(seam_loop *loop);

#ifdef __cplusplus
}
#endif

#endif /* SEAM_LOOP_H */
