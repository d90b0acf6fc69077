/* SPDX-License-Identifier: MIT */
/* seam/ev.h - seam on a libev loop (docs/adapter-ev.md).
 *
 *     struct ev_loop *ev = ev_default_loop(0);   // or ev_loop_new(...)
 *     seam_loop *loop;
 *     seam_ev_attach(ev, 0, &loop);
 *     ... seam_conn_connect(loop, ...), ev_run(ev, 0) ...
 *     seam_loop_free(loop);   // stops and frees every watcher at once
 *
 * Everything happens on the thread that runs the ev loop, except
 * seam_loop_post(). seam owns its watchers: never stop them yourself. */
#ifndef SEAM_EV_H
#define SEAM_EV_H

#include "loop.h"

#include <ev.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Keep none of seam's watchers counted as keeping the loop alive (ev_unref):
 * ev_run() then returns once the program's own watchers are done, even with
 * a server listening or a call in flight. Without it a watched socket or an
 * armed timeout keeps the loop running, as an ev_io or ev_timer would; the
 * wakeup watcher never does. */
#define SEAM_EV_UNREF 0x1u

/* Binds seam to ev, a loop the caller made (ev_default_loop() or
 * ev_loop_new()) and keeps owning. Call on the loop's thread; ev must
 * outlive the binding. Returns 0 and the new binding in *out, or
 * SEAM_EINVAL (ev or out NULL, unknown flags) or SEAM_ENOMEM; nothing is
 * left on the loop after a failure.
 *
 * seam_loop_free() stops and frees everything at once (libev keeps no
 * reference to a stopped watcher), so ev_loop_destroy() may follow it
 * directly. */
SEAM_EXPORT int seam_ev_attach(struct ev_loop *ev, unsigned flags, seam_loop **out);

#ifdef __cplusplus
}
#endif

#endif /* SEAM_EV_H */
