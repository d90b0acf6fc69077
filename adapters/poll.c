/* SPDX-License-Identifier: MIT */
/* poll.c - the poll() adapter: a pull view over the core's push model.
 * Watches are kept in a table the host copies into its pollfd array; the
 * timer is a deadline the host turns into a poll timeout; wakeups go
 * through an eventfd (or a pipe). With SEAM_POLL_ONE_FD the same state
 * lives in an epoll set instead, with a timerfd for the timer. */
#include "seam/poll.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#endif

typedef struct watch_rec {
    seam_watch *w;
    int fd;
    unsigned events;
    bool failed; /* the epoll set refused its mask (SEAM_POLL_ONE_FD) */
    bool retry;  /* failed, being retried by this dispatch */
} watch_rec;

typedef struct poll_ctx {
    seam_loop *loop;
    bool one_fd;
    int epfd;
    int timerfd;
    int wake_rd; /* eventfd, or a pipe's read end */
    int wake_wr;
    watch_rec *recs;
    size_t nrecs;
    size_t cap;
    int *by_fd; /* fd -> index in recs, or -1 */
    size_t by_fd_len;
    bool timer_armed;
    uint64_t due_ns;
    unsigned dispatching;
    bool detached; /* the core let go: free at the end of the dispatch */
    bool refused;  /* some rec failed: retry from the next dispatch */
} poll_ctx;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned to_poll(unsigned events)
{
    return ((events & SEAM_READ) ? POLLIN : 0u) | ((events & SEAM_WRITE) ? POLLOUT : 0u);
}

static unsigned from_poll(unsigned revents)
{
    unsigned ev = 0;
    if (revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
        ev |= SEAM_READ;
    }
    if (revents & (POLLOUT | POLLERR)) {
        ev |= SEAM_WRITE;
    }
    return ev;
}

#ifdef __linux__
static int ep_set(poll_ctx *p, int op, int fd, unsigned events)
{
    struct epoll_event ev = {.events = 0, .data.fd = fd};
    if (events & SEAM_READ) {
        ev.events |= EPOLLIN;
    }
    if (events & SEAM_WRITE) {
        ev.events |= EPOLLOUT;
    }
    return epoll_ctl(p->epfd, op, fd, &ev) < 0 ? -errno : 0;
}
#endif

static int hook_watch_start(void *ctx, seam_watch *w, int fd, unsigned events)
{
    poll_ctx *p = ctx;
    if ((size_t)fd >= p->by_fd_len) {
        size_t len = p->by_fd_len ? p->by_fd_len : 64;
        while (len <= (size_t)fd) {
            len *= 2;
        }
        int *by_fd = realloc(p->by_fd, len * sizeof(int));
        if (by_fd == NULL) {
            return SEAM_ENOMEM;
        }
        for (size_t i = p->by_fd_len; i < len; i++) {
            by_fd[i] = -1;
        }
        p->by_fd = by_fd;
        p->by_fd_len = len;
    }
    if (p->nrecs == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        watch_rec *recs = realloc(p->recs, cap * sizeof(*recs));
        if (recs == NULL) {
            return SEAM_ENOMEM;
        }
        p->recs = recs;
        p->cap = cap;
    }
#ifdef __linux__
    if (p->one_fd) {
        int r = ep_set(p, EPOLL_CTL_ADD, fd, events);
        if (r < 0) {
            return r;
        }
    }
#endif
    p->recs[p->nrecs] = (watch_rec){w, fd, events, false, false};
    p->by_fd[fd] = (int)p->nrecs++;
    return 0;
}

static void hook_wakeup(void *ctx);

static void hook_watch_update(void *ctx, seam_watch *w, unsigned events)
{
    poll_ctx *p = ctx;
    watch_rec *r = &p->recs[p->by_fd[seam_watch_fd(w)]];
    r->events = events;
#ifdef __linux__
    /* A refused change (epoll out of memory or of watches) would leave the
     * descriptor watched for the old mask for ever: retry it from the next
     * dispatch, which the wakeup makes come soon. */
    if (p->one_fd && ep_set(p, EPOLL_CTL_MOD, r->fd, events) < 0) {
        r->failed = true;
        p->refused = true;
        hook_wakeup(p);
    }
#endif
}

static bool hook_watch_stop(void *ctx, seam_watch *w)
{
    poll_ctx *p = ctx;
    int fd = seam_watch_fd(w);
    size_t i = (size_t)p->by_fd[fd];
#ifdef __linux__
    if (p->one_fd) {
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
    }
#endif
    p->by_fd[fd] = -1;
    if (i != p->nrecs - 1) {
        p->recs[i] = p->recs[p->nrecs - 1];
        p->by_fd[p->recs[i].fd] = (int)i;
    }
    p->nrecs--;
    return true; /* poll() keeps no reference between iterations */
}

static void hook_timer_set(void *ctx, int64_t ms)
{
    poll_ctx *p = ctx;
    p->timer_armed = ms >= 0;
    p->due_ns = ms > 0 ? now_ns() + (uint64_t)ms * 1000000u : now_ns();
#ifdef __linux__
    if (p->one_fd) {
        struct itimerspec its = {{0, 0}, {0, 0}};
        if (ms >= 0) {
            /* 0 must still fire, through the epoll set: 1 ns away. */
            its.it_value.tv_sec = ms / 1000;
            its.it_value.tv_nsec = ms > 0 ? (ms % 1000) * 1000000 : 1;
        }
        timerfd_settime(p->timerfd, 0, &its, NULL);
    }
#endif
}

static void hook_wakeup(void *ctx)
{
    poll_ctx *p = ctx;
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(p->wake_wr, &one, p->wake_wr == p->wake_rd ? sizeof(one) : 1);
    } while (n < 0 && errno == EINTR);
    /* EAGAIN: a wakeup is already pending, which is all that is needed. */
}

static void ctx_free(poll_ctx *p)
{
    if (p->wake_wr >= 0 && p->wake_wr != p->wake_rd) {
        close(p->wake_wr);
    }
    if (p->wake_rd >= 0) {
        close(p->wake_rd);
    }
    if (p->timerfd >= 0) {
        close(p->timerfd);
    }
    if (p->epfd >= 0) {
        close(p->epfd);
    }
    free(p->recs);
    free(p->by_fd);
    free(p);
}

static void hook_detach(void *ctx)
{
    poll_ctx *p = ctx;
    p->detached = true;
    p->loop = NULL;
    if (p->dispatching == 0) {
        ctx_free(p);
    }
}

static const seam_loop_ops poll_ops = {
    .watch_start = hook_watch_start,
    .watch_update = hook_watch_update,
    .watch_stop = hook_watch_stop,
    .timer_set = hook_timer_set,
    .wakeup = hook_wakeup,
    .detach = hook_detach,
};

static int make_wakeup(poll_ctx *p)
{
#ifdef __linux__
    p->wake_rd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->wake_rd >= 0) {
        p->wake_wr = p->wake_rd;
        return 0;
    }
#endif
    int fds[2];
    if (pipe(fds) < 0) {
        return -errno;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    p->wake_rd = fds[0];
    p->wake_wr = fds[1];
    return 0;
}

int seam_poll_new(unsigned flags, seam_loop **out)
{
    if (out == NULL || (flags & ~SEAM_POLL_ONE_FD) != 0) {
        return SEAM_EINVAL;
    }
#ifndef __linux__
    if (flags & SEAM_POLL_ONE_FD) {
        return SEAM_ENOTSUP;
    }
#endif
    poll_ctx *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return SEAM_ENOMEM;
    }
    p->epfd = -1;
    p->timerfd = -1;
    p->wake_rd = -1;
    p->wake_wr = -1;
    int r = make_wakeup(p);
#ifdef __linux__
    if (r == 0 && (flags & SEAM_POLL_ONE_FD)) {
        p->one_fd = true;
        p->epfd = epoll_create1(EPOLL_CLOEXEC);
        p->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (p->epfd < 0 || p->timerfd < 0) {
            r = -errno;
        } else if ((r = ep_set(p, EPOLL_CTL_ADD, p->wake_rd, SEAM_READ)) == 0) {
            r = ep_set(p, EPOLL_CTL_ADD, p->timerfd, SEAM_READ);
        }
    }
#endif
    /* Every resource exists before the core can call a hook. */
    if (r == 0) {
        r = seam_loop_new(&poll_ops, p, &p->loop);
    }
    if (r < 0) {
        ctx_free(p);
        return r;
    }
    *out = p->loop;
    return 0;
}

/* The binding behind loop, or NULL when loop is not one of ours. */
static poll_ctx *ctx_of(seam_loop *loop)
{
    if (seam_loop_adapter_ops(loop) != &poll_ops) {
        return NULL;
    }
    return seam_loop_adapter_ctx(loop);
}

size_t seam_poll_fds(seam_loop *loop, struct pollfd *fds, size_t n)
{
    poll_ctx *p = ctx_of(loop);
    if (p == NULL) {
        return 0;
    }
    if (p->one_fd) {
        if (n > 0) {
            fds[0] = (struct pollfd){p->epfd, POLLIN, 0};
        }
        return 1;
    }
    size_t need = 1 + p->nrecs;
    if (n > 0) {
        fds[0] = (struct pollfd){p->wake_rd, POLLIN, 0};
    }
    for (size_t i = 0; i < p->nrecs && i + 1 < n; i++) {
        fds[i + 1] = (struct pollfd){p->recs[i].fd, (short)to_poll(p->recs[i].events), 0};
    }
    return need;
}

int seam_poll_timeout(seam_loop *loop)
{
    poll_ctx *p = ctx_of(loop);
    if (p == NULL) {
        return SEAM_EINVAL;
    }
    if (p->one_fd || !p->timer_armed) {
        return -1;
    }
    uint64_t now = now_ns();
    if (p->due_ns <= now) {
        return 0;
    }
    uint64_t ms = (p->due_ns - now + 999999u) / 1000000u;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void drain(int fd)
{
    uint8_t buf[64];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
}

/* Delivers readiness of fd; false once the core has let go of us. */
static bool ready(poll_ctx *p, int fd, unsigned events)
{
    if (fd == p->wake_rd) {
        if (p->wake_wr == p->wake_rd) {
            /* An eventfd: one read takes every wake-up written so far. */
            uint64_t n;
            ssize_t r = read(fd, &n, sizeof(n));
            (void)r;
        } else {
            drain(fd);
        }
        seam_loop_run_pending(p->loop);
    } else if (fd == p->timerfd) {
        drain(fd);
        p->timer_armed = false;
        seam_loop_timer_fired(p->loop);
    } else if (fd >= 0 && (size_t)fd < p->by_fd_len && p->by_fd[fd] >= 0 && events != 0) {
        seam_watch_ready(p->recs[p->by_fd[fd]].w, events);
    }
    return !p->detached;
}

#ifdef __linux__
/* Retries the masks the epoll set refused; a second refusal fails the
 * watch (its owner sees a hung-up socket). Refusals during this pass wait
 * for the next dispatch. False once the core let go. */
static bool retry_refused(poll_ctx *p)
{
    p->refused = false;
    for (size_t i = 0; i < p->nrecs; i++) {
        p->recs[i].retry = p->recs[i].failed;
        p->recs[i].failed = false;
    }
    for (size_t i = 0; i < p->nrecs;) {
        watch_rec *r = &p->recs[i];
        if (!r->retry) {
            i++;
            continue;
        }
        r->retry = false;
        int err = ep_set(p, EPOLL_CTL_MOD, r->fd, r->events);
        if (err == 0) {
            i++;
            continue;
        }
        seam_watch_failed(r->w, err);
        if (p->detached) {
            return false;
        }
        i = 0; /* watches may have stopped, moving recs */
    }
    return true;
}
#endif

void seam_poll_dispatch(seam_loop *loop, const struct pollfd *fds, size_t n)
{
    poll_ctx *p = ctx_of(loop);
    if (p == NULL) {
        return;
    }
    p->dispatching++;
    bool alive = true;
#ifdef __linux__
    if (p->one_fd && p->refused) {
        alive = retry_refused(p);
    }
    if (alive && p->one_fd) {
        struct epoll_event evs[64];
        int got = epoll_wait(p->epfd, evs, 64, 0);
        for (int i = 0; alive && i < got; i++) {
            unsigned e = evs[i].events;
            unsigned ev = ((e & (EPOLLIN | EPOLLHUP | EPOLLERR)) ? SEAM_READ : 0u) |
                          ((e & (EPOLLOUT | EPOLLERR)) ? SEAM_WRITE : 0u);
            alive = ready(p, evs[i].data.fd, ev);
        }
        n = 0;
    }
#endif
    for (size_t i = 0; alive && i < n; i++) {
        if (fds[i].revents != 0) {
            alive = ready(p, fds[i].fd, from_poll((unsigned)fds[i].revents));
        }
    }
    if (alive && !p->one_fd && p->timer_armed && p->due_ns <= now_ns()) {
        p->timer_armed = false;
        seam_loop_timer_fired(p->loop);
        alive = !p->detached;
    }
    if (--p->dispatching == 0 && p->detached) {
        ctx_free(p);
    }
}

int seam_poll_run_once(seam_loop *loop, int max_ms)
{
    if (ctx_of(loop) == NULL) {
        return SEAM_EINVAL;
    }
    struct pollfd stack[64];
    struct pollfd *fds = stack;
    size_t n = seam_poll_fds(loop, fds, 64);
    if (n > 64) {
        fds = malloc(n * sizeof(*fds));
        if (fds == NULL) {
            return SEAM_ENOMEM;
        }
        n = seam_poll_fds(loop, fds, n);
    }
    int timeout = seam_poll_timeout(loop);
    if (max_ms >= 0 && (timeout < 0 || timeout > max_ms)) {
        timeout = max_ms;
    }
    int got = poll(fds, n, timeout);
    int r = got < 0 ? (errno == EINTR ? 0 : -errno) : got;
    if (got >= 0) {
        seam_poll_dispatch(loop, fds, n);
    }
    if (fds != stack) {
        free(fds);
    }
    return r;
}
