/* SPDX-License-Identifier: MIT */
/* dispatch.c - the conformance driver for the libdispatch adapter. seam is
 * bound to the main queue, and run_once drains it on the main thread (where
 * the tests' bodies run) the way CoreFoundation does: it polls the queue's
 * handle and calls libdispatch's main-queue drain. Both entry points are
 * exported by libdispatch on Linux for CoreFoundation but declared in no
 * public header. */
#include "driver.h"

#include <seam/dispatch.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

int _dispatch_get_main_queue_handle_4CF(void);
void _dispatch_main_queue_callback_4CF(void *msg);

typedef struct dispatch_host {
    int handle; /* an eventfd libdispatch signals when the main queue has work */
    int live;   /* bindings not yet fully freed */
} dispatch_host;

static dispatch_host host_state;

static void *dispatch_host_new(void)
{
    host_state.handle = _dispatch_get_main_queue_handle_4CF();
    host_state.live = 0;
    return host_state.handle >= 0 ? &host_state : NULL;
}

static void binding_freed(void *arg)
{
    dispatch_host *h = arg;
    h->live--;
}

static int dispatch_attach(void *host, seam_loop **out)
{
    dispatch_host *h = host;
    int r = seam_dispatch_attach(dispatch_get_main_queue(), out);
    if (r == 0) {
        seam_dispatch_on_freed(*out, binding_freed, h);
        h->live++;
    }
    return r;
}

static int drain(dispatch_host *h, int max_ms)
{
    struct pollfd p = {h->handle, POLLIN, 0};
    int got = poll(&p, 1, max_ms);
    if (got < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    if (got > 0) {
        /* The drain does not consume the signal: reset it first, so that
         * work queued while draining signals again. */
        uint64_t n;
        if (read(h->handle, &n, sizeof(n)) < 0 && errno != EAGAIN) {
            return -errno;
        }
        _dispatch_main_queue_callback_4CF(NULL);
    }
    return 0;
}

static int dispatch_run_once(void *host, seam_loop *loop, int max_ms)
{
    return drain(host, max_ms);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool dispatch_host_free(void *host)
{
    dispatch_host *h = host;
    /* Cancel handlers finish the teardown from the queue. */
    long long deadline = now_ms() + 5000;
    while (h->live > 0 && now_ms() < deadline) {
        if (drain(h, 50) < 0) {
            break;
        }
    }
    return h->live == 0;
}

const support_driver support_driver_under_test = {
    .name = "dispatch",
    .host_new = dispatch_host_new,
    .attach = dispatch_attach,
    .run_once = dispatch_run_once,
    .host_free = dispatch_host_free,
};
