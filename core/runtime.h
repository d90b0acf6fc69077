/* SPDX-License-Identifier: MIT */
/* runtime.h - the loop binding, watches and timers shared by connections
 * and servers (loop.c), and the pieces connections and servers share. */
#ifndef SEAM_RUNTIME_H
#define SEAM_RUNTIME_H

#include "frame.h"
#include "seam/loop.h"

#include <pthread.h>

/* ---- timers: a min-heap per loop, driving the adapter's one timer ----
 * The heap is intrusive (a pairing heap linked through the timers), so
 * arming a timer never allocates and cannot fail: a timer never fires from
 * inside the call that armed it. */

typedef struct seam__timer seam__timer;
typedef void (*seam__timer_fn)(seam__timer *t);

struct seam__timer {
    uint64_t due_ns;
    uint64_t seq; /* arming order, so equal deadlines fire first-in first-out */
    seam__timer_fn fn;
    bool armed;
    seam__timer *child; /* first of the timers due after this one */
    seam__timer *next;  /* next sibling */
    seam__timer *prev;  /* previous sibling, or the parent of a first child */
};

void seam__timer_init(seam__timer *t, seam__timer_fn fn);
/* Arms (or re-arms) t to fire after ms milliseconds; 0 = next iteration. */
void seam__timer_start(seam_loop *loop, seam__timer *t, uint64_t ms);
void seam__timer_stop(seam_loop *loop, seam__timer *t);
static inline bool seam__timer_armed(const seam__timer *t)
{
    return t->armed;
}

uint64_t seam__now_ns(void);

/* ---- watches ---- */

/* What a watch does for its owner (a connection, a server) and with the
 * handle (a transport's pipe or listener) whose descriptor it watches. */
typedef struct seam__watch_hooks {
    void (*ready)(void *owner, unsigned events);
    /* For a handle with no descriptor (the transport raises its
     * readiness): tells the transport where to raise it (w, or NULL: never
     * again), and asks which of events it is ready for now. */
    void (*notify)(void *handle, seam_watch *w);
    unsigned (*poll)(void *handle, unsigned events);
    /* The peer is to learn now that we are gone, while the loop still
     * holds the descriptor. */
    void (*hangup)(void *handle);
    /* Nothing watches the descriptor any more: the handle is closed. */
    void (*release)(void *handle);
    /* ... after which the owner may drop what the watch kept alive. */
    void (*released)(void *owner);
} seam__watch_hooks;

struct seam_watch {
    seam_loop *loop;
    int fd; /* -1: readiness is raised by the transport (seam__watch_raise) */
    unsigned events;
    bool stopping;
    /* Raised readiness, for a watch with no descriptor: on the list the
     * loop's own thread keeps (raised_local), and on the one other threads
     * add to under the post lock (raised_remote). */
    bool raised_local;
    bool raised_remote;
    struct seam_watch *local_next, **local_prev;
    struct seam_watch *remote_next, **remote_prev;
    void *adapter_data;
    const seam__watch_hooks *hooks;
    void *owner;
    void *handle;
    struct seam_watch *next_all; /* every live watch of the loop */
    struct seam_watch **prev_all;
};

/* Starts watching fd (handle's) for owner. On failure the handle is left
 * to the caller. */
int seam__watch_start(seam_loop *loop, int fd, unsigned events, const seam__watch_hooks *hooks,
                      void *owner, void *handle, seam_watch **out);
void seam__watch_update(seam_watch *w, unsigned events);
/* Stops the watch; the handle is released and released(owner) called once
 * the adapter lets go, which may be before this returns (never re-entering
 * a user callback: the hooks are internal). */
void seam__watch_close(seam_watch *w);

/* Readiness of a watch with no descriptor may have changed: its owner is
 * told (hooks->poll decides what is ready) within the current dispatch
 * when called from inside the watch's loop, else on the loop's next
 * iteration, waking the loop when it runs on another thread. Callable from
 * any thread, by a transport that holds the lock under which it clears
 * the watch given to hooks->notify. */
void seam__watch_raise(seam_watch *w);

/* ---- handles: what a loop holds (servers, connections) ----
 * As libuv's handle queue: the loop knows its objects only through these
 * hooks, to flush what they batched and to close them when it goes. A
 * handle stays in the loop's list until it is freed. */

typedef struct seam__handle seam__handle;

typedef struct seam__handle_ops {
    /* Teardown closes the handles of rank 0 first, then rank 1 (closing
     * a server closes its peers: servers go first). */
    unsigned rank;
    void (*ref)(seam__handle *h);
    void (*unref)(seam__handle *h); /* may free h, and what only h held */
    /* The loop is going away: close h, completing what must complete. */
    void (*close)(seam__handle *h);
    /* Writes what was batched for h (seam__handle_flush_later). */
    void (*flush)(seam__handle *h);
} seam__handle_ops;

struct seam__handle {
    const seam__handle_ops *ops;
    seam__handle *next; /* the loop's handles */
    seam__handle **prev;
    seam__handle *flush_next;
    bool in_flush_list;
};

void seam__handle_add(seam_loop *loop, seam__handle *h, const seam__handle_ops *ops);
void seam__handle_remove(seam__handle *h);
/* Has h flushed when the dispatch ends (or, outside one, on the next loop
 * iteration); the flush list holds a reference on h meanwhile. */
void seam__handle_flush_later(seam_loop *loop, seam__handle *h);

/* ---- the loop ---- */

typedef struct seam__post {
    void (*fn)(void *arg);
    void *arg;
    struct seam__post *next;
} seam__post;

struct seam_loop {
    const seam_loop_ops *ops;
    void *ctx;
    unsigned depth;      /* nested dispatch: callbacks are running */
    bool in_dispatch;    /* the outermost entry came from the host loop */
    bool freeing;        /* seam_loop_free was called */
    bool detached;       /* ops->detach called */
    seam__timer *timers; /* the armed timers' heap: the next due first */
    uint64_t timer_seq;
    int64_t armed_ms;         /* last value given to timer_set, -2 = unknown */
    uint64_t armed_due;       /* due time that value stood for */
    seam_watch *watches;      /* every watch not yet released */
    seam__handle *handles;    /* every server and connection not yet freed */
    seam__handle *flush_head; /* handles with writes batched until the dispatch ends */
    seam__timer flush_timer;  /* a dispatch soon, for writes queued outside one */
    seam_watch *raised_head;  /* watches with readiness raised: this thread's */
    seam_watch **raised_tail;
    size_t raised_count;
    _Atomic(void *) entered_by; /* the token of the thread inside, or NULL (loop.c) */
    uint8_t *rbuf;              /* the read buffer the loop's handles share */
    bool rbuf_busy;             /* a read is using it (reads can nest) */
    pthread_mutex_t post_lock;  /* guards the posts and the remote raises below */
    bool posts_closed;          /* the teardown took the last posted work */
    seam__post *post_head;
    seam__post **post_tail;
    seam_watch *remote_head; /* watches raised from other threads */
    seam_watch **remote_tail;
    bool remote_woken;      /* the adapter was woken for them */
    atomic_bool remote_due; /* remote_head is not NULL (read unlocked) */
    seam_log_fn log_fn;
    void *log_data;
    seam_log_level log_max;
};

/* Brackets code that may run user callbacks or free objects: the loop and
 * what it owns stay allocated until the outermost leave. */
void seam__loop_enter(seam_loop *loop);
void seam__loop_leave(seam_loop *loop);
/* The same for an entry from the host loop (readiness, a timer): writes
 * queued in it go out when the outermost dispatch ends. */
void seam__loop_dispatch_enter(seam_loop *loop);
/* Frees a loop being freed once nothing of it is left (watch.c calls it
 * as the last watch goes). */
void seam__loop_finish_if_done(seam_loop *loop);

/* True when the calling thread is inside loop (between the outermost
 * enter and leave), so that loop's state is its to touch. */
bool seam__loop_entered_here(const seam_loop *loop);

/* Tells the owners of raised watches (watch.c); returns false when none
 * was raised. */
bool seam__watch_run_raised(seam_loop *loop);
bool seam__watch_raised_any(seam_loop *loop);

/* Makes sure a dispatch happens on the next loop iteration, so that what
 * was queued outside one is written then, in as few writes as possible. */
void seam__loop_flush_soon(seam_loop *loop);

/* Re-computes the adapter's timer after the heap changed (deferred to the
 * outermost leave when inside a dispatch). */
void seam__loop_sync_timer(seam_loop *loop);

void seam__log(seam_loop *loop, seam_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The transport and its address for name, for a new server or connection
 * on loop: SEAM_ECLOSED once the loop is being freed, else as the
 * transport's resolve (for unix, seam_name_path()). */
struct seam__tran;
int seam__loop_resolve(seam_loop *loop, const char *name, const struct seam__tran **tran,
                       char *addr, size_t len);

#endif /* SEAM_RUNTIME_H */
