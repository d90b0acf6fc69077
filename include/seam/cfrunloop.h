/* SPDX-License-Identifier: MIT */
/* seam/cfrunloop.h - seam on a CoreFoundation run loop, e.g. the main run
 * loop of an application, so its callbacks run on the main thread - also
 * while the UI tracks, when the binding is in the common modes.
 *
 *     seam_loop *loop;
 *     seam_cfrunloop_attach(CFRunLoopGetMain(), NULL, &loop);  // common modes
 *     ... seam_server_listen(loop, ...) / seam_conn_connect(loop, ...) ...
 *     CFRunLoopRun();
 *
 * Every seam callback runs on the run loop's thread, and every seam function
 * except seam_loop_post() must be called on it. seam_loop_free() releases
 * the binding's run loop sources and timer before it returns (when called
 * from inside a seam callback, when that callback returns).
 *
 * With gcc on Linux the toolchain's CoreFoundation headers need
 * __has_feature and __LITTLE_ENDIAN__ defined (docs/adapter-cf.md); the
 * seam::cf CMake target adds that to its users. Include the individual CF
 * headers (CFRunLoop.h ...), not CoreFoundation.h, whose private headers
 * there use blocks. */
#ifndef SEAM_CFRUNLOOP_H
#define SEAM_CFRUNLOOP_H

#include "loop.h"

#include <CoreFoundation/CFRunLoop.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Binds seam to run loop rl in mode (NULL: kCFRunLoopCommonModes). Both
 * are retained. Call it on rl's thread. Returns 0, SEAM_EINVAL (rl or out
 * NULL), or SEAM_ENOMEM. Free the binding with seam_loop_free(). */
SEAM_EXPORT int seam_cfrunloop_attach(CFRunLoopRef rl, CFStringRef mode, seam_loop **out);

/* Calls fn(arg) on the run loop's thread once the binding, after
 * seam_loop_free(), has removed its sources and timer from the run loop and
 * freed its memory. A second call replaces the first. Returns 0, or
 * SEAM_EINVAL when loop or fn is NULL or loop was not made by
 * seam_cfrunloop_attach(). */
SEAM_EXPORT int seam_cfrunloop_on_freed(seam_loop *loop, void (*fn)(void *arg), void *arg);

#ifdef __cplusplus
}
#endif

#endif /* SEAM_CFRUNLOOP_H */
