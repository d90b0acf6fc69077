/* SPDX-License-Identifier: MIT */
/* seam/uv.h - seam on a libuv loop (docs/adapter-uv.md).
 *
 *     uv_loop_t *uv = uv_default_loop();
 *     seam_loop *loop;
 *     seam_uv_attach(uv, 0, &loop);
 *     ... seam_server_listen(loop, ...), uv_run(uv, UV_RUN_DEFAULT) ...
 *     seam_loop_free(loop);           // closes seam's handles
 *     uv_run(uv, UV_RUN_DEFAULT);     // lets their close callbacks run
 *     uv_loop_close(uv);              // returns 0
 *
 * Everything happens on the thread that runs the uv loop, except
 * seam_loop_post(). seam owns its handles: never close them yourself; a
 * shutdown that closes every handle with uv_walk() skips those for which
 * seam_uv_owns_handle() is true. */
#ifndef SEAM_UV_H
#define SEAM_UV_H

#include "loop.h"

#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Keep none of seam's handles counted as keeping the loop alive (uv_unref):
 * uv_run(UV_RUN_DEFAULT) then returns once the program's own handles are
 * done, even with a server listening or a call in flight. Without it a
 * watched socket or an armed timeout keeps the loop running, as a
 * uv_tcp_t or a uv_timer_t would; the wakeup handle never does. */
#define SEAM_UV_UNREF 0x1u

/* Binds seam to uv, a loop the caller initialised and keeps owning. Call on
 * the loop's thread; uv must outlive the binding. Returns 0 and the new
 * binding in *out, or SEAM_EINVAL (uv or out NULL, unknown flags),
 * SEAM_ENOMEM, or a system error from uv_async_init(). On failure any handle
 * already made is being closed: the loop must run once more before
 * uv_loop_close() succeeds, as after seam_loop_free().
 *
 * seam_loop_free() closes seam's handles (uv_close); their memory is
 * released from the close callbacks, so run the loop (uv_run in any mode)
 * after it and before uv_loop_close(). */
SEAM_EXPORT int seam_uv_attach(uv_loop_t *uv, unsigned flags, seam_loop **out);

/* True when h is one of seam's handles (of any binding): a uv_walk() that
 * closes the program's handles must leave these to seam_loop_free(). seam
 * sets their data field; it is not the program's to change. */
SEAM_EXPORT bool seam_uv_owns_handle(const uv_handle_t *h);

#ifdef __cplusplus
}
#endif

#endif /* SEAM_UV_H */
