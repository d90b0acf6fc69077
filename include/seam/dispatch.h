/* SPDX-License-Identifier: MIT */
/* seam/dispatch.h - seam on a libdispatch serial queue (the main queue for
 * an application, or a queue of the program's own).
 *
 *     seam_loop *loop;
 *     seam_dispatch_attach(dispatch_get_main_queue(), &loop);
 *     ... seam_server_listen(loop, ...) / seam_conn_connect(loop, ...) ...
 *     dispatch_main();
 *
 * Every seam callback runs on the queue, and every seam function except
 * seam_loop_post() must be called from it (from work running on the queue,
 * or, for the main queue, from the main thread while it is not draining
 * the queue elsewhere). The queue must be serial.
 *
 * Teardown is asynchronous: seam_loop_free() cancels the binding's dispatch
 * sources, and the memory is released from the queue once their cancel
 * handlers have run. seam_dispatch_on_freed() says when that has
 * happened, e.g. to leave dispatch_main() with nothing left behind.
 *
 * With gcc on Linux the toolchain's dispatch headers need
 * __has_feature/__has_extension defined (docs/adapter-dispatch.md); the
 * seam::dispatch CMake target adds that to its users. */
#ifndef SEAM_DISPATCH_H
#define SEAM_DISPATCH_H

#include "loop.h"

#include <dispatch/dispatch.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Binds seam to queue, which must be serial; the binding retains it. Returns
 * 0, SEAM_EINVAL (queue or out NULL), or SEAM_ENOMEM. Free the binding with
 * seam_loop_free(), on the queue. */
SEAM_EXPORT int seam_dispatch_attach(dispatch_queue_t queue, seam_loop **out);

/* Runs fn(arg) on the queue once the binding, after seam_loop_free(), has
 * let go of everything it held: its sources are cancelled and its memory
 * freed (its reference to the queue is dropped right after fn returns).
 * Call it on the queue before freeing the loop; a second call replaces the
 * first. Returns 0, or SEAM_EINVAL when loop or fn is NULL or loop was not
 * made by seam_dispatch_attach(). */
SEAM_EXPORT int seam_dispatch_on_freed(seam_loop *loop, void (*fn)(void *arg), void *arg);

#ifdef __cplusplus
}
#endif

#endif /* SEAM_DISPATCH_H */
