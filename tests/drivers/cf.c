/* SPDX-License-Identifier: MIT */
/* cf.c - the conformance driver for the CFRunLoop adapter: seam bound to
 * the main run loop in the common modes, run_once running it in the
 * default mode on the main thread (where the tests' bodies run). */
#include "driver.h"

#include <seam/cfrunloop.h>

typedef struct cf_host {
    CFRunLoopRef rl;
    int live; /* bindings not yet fully freed */
} cf_host;

static cf_host host_state;

static void *cf_host_new(void)
{
    host_state.rl = CFRunLoopGetMain();
    host_state.live = 0;
    return host_state.rl != NULL ? &host_state : NULL;
}

static void binding_freed(void *arg)
{
    cf_host *h = arg;
    h->live--;
}

static int cf_attach(void *host, seam_loop **out)
{
    cf_host *h = host;
    int r = seam_cfrunloop_attach(h->rl, NULL, out);
    if (r == 0) {
        seam_cfrunloop_on_freed(*out, binding_freed, h);
        h->live++;
    }
    return r;
}

static int cf_run_once(void *host, seam_loop *loop, int max_ms)
{
    /* Returns after one source was handled or max_ms passed; timers firing
     * do not end it early, which only makes waits coarser. */
    CFRunLoopRunInMode(kCFRunLoopDefaultMode, (double)max_ms / 1000.0, true);
    return 0;
}

static bool cf_host_free(void *host)
{
    cf_host *h = host;
    /* Freeing is synchronous; a few passes let anything still signalled
     * run, and would show a source or timer of ours left behind firing. */
    for (int i = 0; i < 3; i++) {
        CFRunLoopRunInMode(kCFRunLoopDefaultMode, 0, true);
    }
    return h->live == 0;
}

const support_driver support_driver_under_test = {
    .name = "cf",
    .host_new = cf_host_new,
    .attach = cf_attach,
    .run_once = cf_run_once,
    .host_free = cf_host_free,
};
