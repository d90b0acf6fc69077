/* SPDX-License-Identifier: MIT */
/* uv.c - the conformance driver for the libuv adapter: a fresh uv_loop_t
 * per test, bounded single iterations, and uv_loop_close() succeeding at
 * the end as the proof that seam left the loop as it found it. With
 * SEAM_DRIVER_UNREF seam's handles are unreferenced (SEAM_UV_UNREF). */
#include "driver.h"

#include <seam/uv.h>

#include <stdlib.h>

typedef struct uv_host {
    uv_loop_t uv;
    uv_timer_t deadline; /* bounds one iteration; stopped in between */
} uv_host;

/* The host in use. Forked children drop it without freeing it; reachable
 * from here it is not reported as lost by valgrind in them. */
static uv_host *volatile current; /* volatile: kept though never read */

static void *uv_host_new(void)
{
    uv_host *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    if (uv_loop_init(&h->uv) != 0) {
        free(h);
        return NULL;
    }
    uv_timer_init(&h->uv, &h->deadline);
    current = h;
    return h;
}

static int uv_attach(void *host, seam_loop **out)
{
    uv_host *h = host;
#ifdef SEAM_DRIVER_UNREF
    return seam_uv_attach(&h->uv, SEAM_UV_UNREF, out);
#else
    return seam_uv_attach(&h->uv, 0, out);
#endif
}

static void on_deadline(uv_timer_t *t)
{
    (void)t; /* its firing is what ends uv_run() */
}

static int uv_run_once(void *host, seam_loop *loop, int max_ms)
{
    uv_host *h = host;
    if (max_ms <= 0) {
        uv_run(&h->uv, UV_RUN_NOWAIT);
    } else {
        /* The loop's clock is as old as its last iteration. */
        uv_update_time(&h->uv);
        uv_timer_start(&h->deadline, on_deadline, (uint64_t)max_ms, 0);
        uv_run(&h->uv, UV_RUN_ONCE);
        uv_timer_stop(&h->deadline);
    }
#ifdef SEAM_DRIVER_UNREF
    /* Whatever seam has open, none of it may keep the loop running. */
    if (h->uv.active_handles != 0) {
        return SEAM_EBUSY;
    }
#endif
    return 0;
}

static bool uv_host_free(void *host)
{
    uv_host *h = host;
    uv_close((uv_handle_t *)&h->deadline, NULL);
    /* seam_loop_free() closed seam's handles; let the closes finish. A
     * handle seam forgot would keep the loop alive: bound the wait. */
    for (int i = 0; i < 100 && uv_loop_alive(&h->uv); i++) {
        uv_run(&h->uv, UV_RUN_NOWAIT);
    }
    if (uv_loop_close(&h->uv) != 0) {
        return false; /* handles remain: the loop cannot be freed */
    }
    current = NULL;
    free(h);
    return true;
}

const support_driver support_driver_under_test = {
#ifdef SEAM_DRIVER_UNREF
    .name = "uv-unref",
#else
    .name = "uv",
#endif
    .host_new = uv_host_new,
    .attach = uv_attach,
    .run_once = uv_run_once,
    .host_free = uv_host_free,
};
