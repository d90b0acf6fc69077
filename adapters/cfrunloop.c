/* SPDX-License-Identifier: MIT */
/* cfrunloop.c - the CoreFoundation adapter: seam on a CFRunLoop in one
 * mode (the common modes by default). Each watch is a CFSocket with read
 * and write callbacks, the timer a CFRunLoopTimer moved with
 * SetNextFireDate, the wakeup a version-0 source signalled from any thread.
 * Darwin takes the same CFSocket path (CF's own select()-based socket
 * manager on both); only Linux is exercised here. */
#include "seam/cfrunloop.h"

#include <CoreFoundation/CFDate.h>
#include <CoreFoundation/CFSocket.h>

#include <stdlib.h>

/* "Never" for the timer: CF clamps far dates to its own limit. */
#define TIMER_NEVER    1.0e10
#define TIMER_INTERVAL 1.0e9

typedef struct cf_ctx {
    seam_loop *loop; /* NULL once the core detached */
    CFRunLoopRef rl;
    CFStringRef mode;
    CFRunLoopTimerRef timer;
    CFRunLoopSourceRef wake;
    unsigned depth; /* seam calls in progress from our callouts */
    bool detached;
    void (*on_freed)(void *arg);
    void *on_freed_arg;
} cf_ctx;

typedef struct cf_watch {
    cf_ctx *c;
    seam_watch *w;
    CFSocketRef sock;
    CFRunLoopSourceRef src;
    unsigned events;
} cf_watch;

static CFOptionFlags to_cf(unsigned events)
{
    return ((events & SEAM_READ) ? kCFSocketReadCallBack : 0) |
           ((events & SEAM_WRITE) ? kCFSocketWriteCallBack : 0);
}

static void ctx_free(cf_ctx *c)
{
    void (*fn)(void *) = c->on_freed;
    void *arg = c->on_freed_arg;
    if (c->timer != NULL) {
        CFRunLoopTimerInvalidate(c->timer);
        CFRelease(c->timer);
    }
    if (c->wake != NULL) {
        CFRunLoopSourceInvalidate(c->wake);
        CFRelease(c->wake);
    }
    CFRelease(c->mode);
    CFRelease(c->rl);
    free(c);
    if (fn != NULL) {
        fn(arg);
    }
}

/* Callouts bracket their call into seam: it may free the binding, whose
 * memory then goes when the outermost callout returns. */
static void enter(cf_ctx *c)
{
    c->depth++;
}

static void leave(cf_ctx *c)
{
    if (--c->depth == 0 && c->detached) {
        ctx_free(c);
    }
}

static void on_socket(CFSocketRef s, CFSocketCallBackType type, CFDataRef address, const void *data,
                      void *info)
{
    cf_watch *cw = info;
    unsigned bit = type == kCFSocketReadCallBack ? SEAM_READ : SEAM_WRITE;
    /* A callback signalled before the interest changed is dropped. */
    if ((cw->events & bit) == 0) {
        return;
    }
    /* cw may be freed inside (the watch stopped): CF makes no further
     * callout for an invalidated socket, and nothing here touches cw. */
    cf_ctx *c = cw->c;
    enter(c);
    seam_watch_ready(cw->w, bit);
    leave(c);
}

/* CF disables a callback after it fires and re-enables it afterwards only
 * if it was not disabled explicitly (the socket's auto-reenable flags), so
 * Disable/Enable is the interest mask. */
static void set_callbacks(cf_watch *cw, unsigned from, unsigned to)
{
    CFOptionFlags off = to_cf(from & ~to);
    CFOptionFlags on = to_cf(to & ~from);
    if (off != 0) {
        CFSocketDisableCallBacks(cw->sock, off);
    }
    if (on != 0) {
        CFSocketEnableCallBacks(cw->sock, on);
    }
    cw->events = to;
}

static int hook_watch_start(void *ctx, seam_watch *w, int fd, unsigned events)
{
    cf_ctx *c = ctx;
    cf_watch *cw = calloc(1, sizeof(*cw));
    if (cw == NULL) {
        return SEAM_ENOMEM;
    }
    cw->c = c;
    cw->w = w;
    CFSocketContext sc = {0, cw, NULL, NULL, NULL};
    cw->sock = CFSocketCreateWithNative(NULL, fd, kCFSocketReadCallBack | kCFSocketWriteCallBack,
                                        on_socket, &sc);
    if (cw->sock == NULL) {
        free(cw);
        return SEAM_ENOMEM;
    }
    /* CF hands back an existing CFSocket for a descriptor that has one: the
     * program's own, never ours (each of our watches invalidates its
     * socket when it stops). Two owners cannot share it. */
    CFSocketContext got = {0, NULL, NULL, NULL, NULL};
    CFSocketGetContext(cw->sock, &got);
    if (got.info != cw) {
        CFRelease(cw->sock);
        free(cw);
        return SEAM_EBUSY;
    }
    /* Without kCFSocketCloseOnInvalidate: the core owns the descriptor.
     * kCFSocketLeaveErrors keeps CF from reading (and so clearing) SO_ERROR,
     * which the core's own reads and writes must see. */
    CFSocketSetSocketFlags(cw->sock, kCFSocketAutomaticallyReenableReadCallBack |
                                         kCFSocketAutomaticallyReenableWriteCallBack |
                                         kCFSocketLeaveErrors);
    cw->src = CFSocketCreateRunLoopSource(NULL, cw->sock, 0);
    if (cw->src == NULL) {
        CFSocketInvalidate(cw->sock);
        CFRelease(cw->sock);
        free(cw);
        return SEAM_ENOMEM;
    }
    /* Scheduling enables every callback type; then narrow to events. */
    CFRunLoopAddSource(c->rl, cw->src, c->mode);
    set_callbacks(cw, SEAM_READ | SEAM_WRITE, events);
    seam_watch_set_data(w, cw);
    return 0;
}

static void hook_watch_update(void *ctx, seam_watch *w, unsigned events)
{
    cf_watch *cw = seam_watch_data(w);
    set_callbacks(cw, cw->events, events);
}

static bool hook_watch_stop(void *ctx, seam_watch *w)
{
    cf_watch *cw = seam_watch_data(w);
    /* After CFSocketInvalidate the descriptor is out of CF's socket manager
     * sets and its run loop source is invalidated and removed. With plain
     * read/write callbacks and kCFSocketLeaveErrors CF does no I/O on it and
     * never closes it; a select() in progress on the manager thread still
     * has the number in its copy of the set, which can only end in EBADF
     * (handled by CF) or a spurious readiness for a new descriptor with the
     * same number, which level-triggered seam tolerates. So the core may
     * close it at once. */
    CFSocketInvalidate(cw->sock);
    CFRelease(cw->src);
    CFRelease(cw->sock);
    free(cw);
    return true;
}

static void on_timer(CFRunLoopTimerRef timer, void *info)
{
    cf_ctx *c = info;
    enter(c);
    seam_loop_timer_fired(c->loop);
    leave(c);
}

static void hook_timer_set(void *ctx, int64_t ms)
{
    cf_ctx *c = ctx;
    /* CF turns the date into a monotonic deadline when it is set; 0 fires
     * on the run loop's next pass, never inline. */
    CFAbsoluteTime when = ms < 0 ? TIMER_NEVER : CFAbsoluteTimeGetCurrent() + (double)ms / 1000.0;
    CFRunLoopTimerSetNextFireDate(c->timer, when);
}

static void on_wake(void *info)
{
    cf_ctx *c = info;
    enter(c);
    seam_loop_run_pending(c->loop);
    leave(c);
}

static void hook_wakeup(void *ctx)
{
    cf_ctx *c = ctx;
    CFRunLoopSourceSignal(c->wake);
    CFRunLoopWakeUp(c->rl);
}

static void hook_detach(void *ctx)
{
    cf_ctx *c = ctx;
    c->loop = NULL;
    c->detached = true;
    /* Off the run loop now; the memory goes once our callouts unwind. */
    CFRunLoopTimerInvalidate(c->timer);
    CFRunLoopSourceInvalidate(c->wake);
    if (c->depth == 0) {
        ctx_free(c);
    }
}

static const seam_loop_ops cf_ops = {
    .watch_start = hook_watch_start,
    .watch_update = hook_watch_update,
    .watch_stop = hook_watch_stop,
    .timer_set = hook_timer_set,
    .wakeup = hook_wakeup,
    .detach = hook_detach,
};

int seam_cfrunloop_attach(CFRunLoopRef rl, CFStringRef mode, seam_loop **out)
{
    if (rl == NULL || out == NULL) {
        return SEAM_EINVAL;
    }
    cf_ctx *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return SEAM_ENOMEM;
    }
    c->rl = (CFRunLoopRef)CFRetain(rl);
    c->mode = (CFStringRef)CFRetain(mode != NULL ? mode : kCFRunLoopCommonModes);
    CFRunLoopTimerContext tc = {0, c, NULL, NULL, NULL};
    c->timer = CFRunLoopTimerCreate(NULL, TIMER_NEVER, TIMER_INTERVAL, 0, 0, on_timer, &tc);
    CFRunLoopSourceContext sc = {0};
    sc.info = c;
    sc.perform = on_wake;
    c->wake = CFRunLoopSourceCreate(NULL, 0, &sc);
    int r = c->timer != NULL && c->wake != NULL ? 0 : SEAM_ENOMEM;
    /* Every resource exists before the core can call a hook. */
    if (r == 0) {
        r = seam_loop_new(&cf_ops, c, &c->loop);
    }
    if (r < 0) {
        ctx_free(c);
        return r;
    }
    CFRunLoopAddTimer(rl, c->timer, c->mode);
    CFRunLoopAddSource(rl, c->wake, c->mode);
    *out = c->loop;
    return 0;
}

int seam_cfrunloop_on_freed(seam_loop *loop, void (*fn)(void *arg), void *arg)
{
    if (loop == NULL || fn == NULL || seam_loop_adapter_ops(loop) != &cf_ops) {
        return SEAM_EINVAL;
    }
    cf_ctx *c = seam_loop_adapter_ctx(loop);
    c->on_freed = fn;
    c->on_freed_arg = arg;
    return 0;
}
