/* SPDX-License-Identifier: MIT */
/* driver.h - what the conformance suite needs from a host loop: make one,
 * bind seam to it through an adapter, run it one iteration at a time, and
 * check it was left as it was found. One driver per adapter, in
 * tests/drivers/; each conformance executable links exactly one. */
#ifndef SEAM_TEST_DRIVER_H
#define SEAM_TEST_DRIVER_H

#include <seam.h>

#include <stdbool.h>

typedef struct support_driver {
    const char *name;
    /* Makes a host loop (uv_loop_t, struct ev_loop, a queue, a run loop,
     * or nothing for poll); NULL on failure. Called on the thread that will
     * run it. */
    void *(*host_new)(void);
    /* Binds seam to the host loop through the adapter's attach function.
     * Returns 0 or a negative seam error. Called again on the same host
     * after an earlier binding was freed (detach and re-attach). */
    int (*attach)(void *host, seam_loop **out);
    /* Runs the host loop once: waits at most max_ms (0: do not block) for
     * something to happen and handles what did. Returns 0, or a negative
     * code when the host loop failed. */
    int (*run_once)(void *host, seam_loop *loop, int max_ms);
    /* Frees the host loop. Every binding on it was freed with
     * seam_loop_free() first; the driver runs the host loop as needed for
     * asynchronous closes to finish. True when the host loop was left
     * exactly as found (libuv: uv_loop_close() returns 0). */
    bool (*host_free)(void *host);
} support_driver;

/* Defined by the driver file linked into the executable. */
extern const support_driver support_driver_under_test;

#endif /* SEAM_TEST_DRIVER_H */
