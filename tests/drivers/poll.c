/* SPDX-License-Identifier: MIT */
/* poll.c - the conformance driver for the poll() adapter, plain or (with
 * SEAM_DRIVER_ONE_FD) in its one-descriptor epoll mode, where the host
 * watches a single descriptor as a loop that can watch only one would. */
#include "driver.h"

#include <seam/poll.h>

#include <errno.h>
#include <poll.h>

static int host_token;

static void *poll_host_new(void)
{
    return &host_token; /* poll() needs no host object */
}

static int poll_attach(void *host, seam_loop **out)
{
#ifdef SEAM_DRIVER_ONE_FD
    return seam_poll_new(SEAM_POLL_ONE_FD, out);
#else
    return seam_poll_new(0, out);
#endif
}

#ifdef SEAM_DRIVER_ONE_FD
/* Drives the one descriptor through the host's own poll(), the way a loop
 * that can watch one fd would. */
static int poll_run_once(void *host, seam_loop *loop, int max_ms)
{
    struct pollfd fd;
    if (seam_poll_fds(loop, &fd, 1) != 1) {
        return SEAM_EINVAL;
    }
    /* Always -1 here: the epoll set holds a timerfd for seam's timers. */
    int timeout = seam_poll_timeout(loop);
    if (timeout < 0 || timeout > max_ms) {
        timeout = max_ms;
    }
    int got = poll(&fd, 1, timeout);
    if (got < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    seam_poll_dispatch(loop, &fd, 1);
    return 0;
}
#else
static int poll_run_once(void *host, seam_loop *loop, int max_ms)
{
    int r = seam_poll_run_once(loop, max_ms);
    return r < 0 ? r : 0;
}
#endif

static bool poll_host_free(void *host)
{
    return host == &host_token;
}

const support_driver support_driver_under_test = {
#ifdef SEAM_DRIVER_ONE_FD
    .name = "poll-onefd",
#else
    .name = "poll",
#endif
    .host_new = poll_host_new,
    .attach = poll_attach,
    .run_once = poll_run_once,
    .host_free = poll_host_free,
};
