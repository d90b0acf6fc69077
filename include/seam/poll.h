/* SPDX-License-Identifier: MIT */
/* seam/poll.h - seam on a hand-written poll() loop (or any loop that can
 * watch a set of descriptors with a timeout).
 *
 * The host loop, safe to copy (seam_poll_fds() may need any number of
 * entries: one per connection, plus one):
 *
 *     // One iteration of the host loop. *fds and *room live across iterations
 *     // (start with NULL and 0): the array grows to what seam needs plus the
 *     // program's own descriptors, however many connections there are.
 *     static int iterate(seam_loop *loop, struct pollfd **fds, size_t *room, size_t own)
 *     {
 *         size_t n; // seam's entries, first in the array
 *         while ((n = seam_poll_fds(loop, *fds, *room)) + own > *room) {
 *             struct pollfd *more = realloc(*fds, (n + own) * sizeof(**fds));
 *             if (more == NULL) {
 *                 return -1;
 *             }
 *             *fds = more;
 *             *room = n + own;
 *         }
 *         add_own_fds(*fds + n, own); // the program's, after seam's
 *         if (poll(*fds, n + own, seam_poll_timeout(loop)) < 0) {
 *             return -1; // EINTR: call again
 *         }
 *         seam_poll_dispatch(loop, *fds, n); // seam's callbacks run here
 *         handle_own_fds(*fds + n, own);
 *         return 0;
 *     }
 *
 * seam_poll_fds() returns how many entries seam needs; when that is more
 * than the room given, it filled only what fits: give more room and ask
 * again before polling. With SEAM_POLL_ONE_FD (Linux) seam
 * needs a single descriptor - an internal epoll set holding its sockets,
 * its timer and its wakeup - for loops that can watch only one; the steps
 * stay the same. */
#ifndef SEAM_POLL_H
#define SEAM_POLL_H

#include "loop.h"

#include <poll.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Gather everything behind one descriptor (epoll; Linux only). */
#define SEAM_POLL_ONE_FD 0x1u

/* Creates a loop binding for poll(). Returns 0, SEAM_ENOTSUP (ONE_FD where
 * epoll is missing), SEAM_EINVAL, or a system error. Free it with
 * seam_loop_free(), which releases everything at once. */
SEAM_EXPORT int seam_poll_new(unsigned flags, seam_loop **out);

/* Fills fds[0..min(n, needed)) and returns needed: the number of entries
 * seam wants watched this iteration. The entries' revents are cleared.
 * These four functions take only loops made by seam_poll_new(): for any
 * other (NULL, or another adapter's) they do nothing - seam_poll_fds()
 * returns 0, seam_poll_timeout() and seam_poll_run_once() SEAM_EINVAL. */
SEAM_EXPORT size_t seam_poll_fds(seam_loop *loop, struct pollfd *fds, size_t n);

/* How long the host may sleep: -1 (until a descriptor is ready), 0, or
 * milliseconds until seam's next timer. */
SEAM_EXPORT int seam_poll_timeout(seam_loop *loop);

/* Handles the results of poll() for the entries seam_poll_fds() filled
 * (pass the same array and count), and any timer that is due. Runs seam's
 * callbacks. Entries for descriptors seam no longer watches are ignored. */
SEAM_EXPORT void seam_poll_dispatch(seam_loop *loop, const struct pollfd *fds, size_t n);

/* One whole iteration with seam's descriptors only: poll for at most
 * max_ms (-1: no limit beyond seam's own timers), then dispatch. Returns
 * the number of ready descriptors, or a negative code. For programs whose
 * loop is seam. */
SEAM_EXPORT int seam_poll_run_once(seam_loop *loop, int max_ms);

#ifdef __cplusplus
}
#endif

#endif /* SEAM_POLL_H */
