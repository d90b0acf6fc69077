/* SPDX-License-Identifier: MIT */
/* shmpeer.c - a raw peer over shared memory (see shmpeer.h). */
#include "shmpeer.h"

#include "rawpeer.h"
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SHMPEER_SETUP 13

/* Our hello: rawpeer's worked example with "shm" added. */
static size_t shmpeer_hello(uint8_t *out, uint32_t ring_size)
{
    size_t n = 16;
    memcpy(out + n, rawpeer_hello + 16, sizeof(rawpeer_hello) - 16);
    out[n] = 0xa4; /* four entries now */
    n += sizeof(rawpeer_hello) - 16;
    static const uint8_t key[] = {0x63, 's', 'h', 'm', 0x1a};
    memcpy(out + n, key, sizeof(key));
    n += sizeof(key);
    for (int i = 3; i >= 0; i--) {
        out[n++] = (uint8_t)(ring_size >> (8 * i));
    }
    rawpeer_put_header(out, (uint32_t)(n - 16), RAWPEER_HELLO, 0, 0, 0);
    return n;
}

/* Reads exactly len bytes, taking the descriptors that come with them. */
static bool shmpeer_recv_full(int fd, uint8_t *buf, size_t len, int *fds, size_t *nfds,
                              int timeout_ms)
{
    long long deadline = support_now_ms() + timeout_ms;
    for (size_t got = 0; got < len;) {
        struct pollfd pf = {fd, POLLIN, 0};
        long long left = deadline - support_now_ms();
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0) {
            return false;
        }
        struct iovec iov = {buf + got, len - got};
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(int) * 8)];
        } ctl;
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl.buf,
                           .msg_controllen = sizeof(ctl.buf)};
        ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
        if (n <= 0) {
            return false;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                    int d;
                    memcpy(&d, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                    if (*nfds < 8) {
                        fds[(*nfds)++] = d;
                    } else {
                        close(d);
                    }
                }
            }
        }
        got += (size_t)n;
    }
    return true;
}

static bool shmpeer_pair(int *ours, int *theirs)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        return false;
    }
    *ours = sv[0];
    *theirs = sv[1];
    return true;
}

static void shmpeer_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

void shmpeer_free(shmpeer *p)
{
    if (p->out_mem != NULL) {
        munmap(p->out_mem, SEAM__RING_HDR + p->out_cap);
        p->out_mem = NULL;
    }
    if (p->in_mem != NULL) {
        munmap(p->in_mem, SEAM__RING_HDR + p->in_cap);
        p->in_mem = NULL;
    }
    int *fds[] = {&p->sock,     &p->out_bell, &p->out_bell_hold,
                  &p->out_chan, &p->in_bell,  &p->in_chan};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        shmpeer_close(fds[i]);
    }
}

/* Our ring and the ends we give: a sealed memfd, a pipe's read end and a
 * socket pair's end. */
static bool shmpeer_make_ring(shmpeer *p, uint32_t ring_size, int give[SHMPEER_SETUP_FDS])
{
    give[0] = memfd_create("shmpeer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (give[0] < 0 || ftruncate(give[0], SEAM__RING_HDR + ring_size) < 0 ||
        fcntl(give[0], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
        return false;
    }
    void *m =
        mmap(NULL, SEAM__RING_HDR + ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, give[0], 0);
    if (m == MAP_FAILED) {
        return false;
    }
    p->out_mem = m;
    p->out_cap = ring_size;
    seam__ring_init(&p->out, p->out_mem, ring_size, true);
    int pp[2];
    if (pipe2(pp, O_NONBLOCK | O_CLOEXEC) < 0) {
        return false;
    }
    p->out_bell = pp[1];
    give[1] = pp[0];
    p->out_bell_hold = dup(pp[0]); /* no SIGPIPE when ringing a closed reader */
    return shmpeer_pair(&p->out_chan, &give[2]);
}

/* The server's setup frame: its ring mapped, its doorbells kept. */
static bool shmpeer_take_setup(shmpeer *p)
{
    uint8_t hdr[16];
    uint8_t hello[4096];
    int fds[8];
    size_t nfds = 0;
    if (!shmpeer_recv_full(p->sock, hdr, 16, fds, &nfds, SUPPORT_DEADLINE_MS) ||
        hdr[4] != RAWPEER_HELLO || rawpeer_get_u32(hdr) > sizeof(hello) ||
        !shmpeer_recv_full(p->sock, hello, rawpeer_get_u32(hdr), fds, &nfds, SUPPORT_DEADLINE_MS) ||
        !shmpeer_recv_full(p->sock, hdr, 16, fds, &nfds, SUPPORT_DEADLINE_MS)) {
        return false;
    }
    if (hdr[4] != SHMPEER_SETUP || nfds != SHMPEER_SETUP_FDS) {
        for (size_t i = 0; i < nfds; i++) {
            close(fds[i]);
        }
        return false;
    }
    p->in_bell = fds[1];
    p->in_chan = fds[2];
    struct stat st;
    bool ok = fstat(fds[0], &st) == 0 && st.st_size > (off_t)SEAM__RING_HDR;
    if (ok) {
        p->in_cap = (size_t)st.st_size - SEAM__RING_HDR;
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
        ok = m != MAP_FAILED;
        if (ok) {
            p->in_mem = m;
            seam__ring_init(&p->in, p->in_mem, p->in_cap, false);
        }
    }
    close(fds[0]);
    return ok;
}

bool shmpeer_setup_fds(uint32_t ring_size, int give[SHMPEER_SETUP_FDS])
{
    shmpeer scratch;
    memset(&scratch, 0, sizeof(scratch));
    scratch.sock = scratch.out_bell = scratch.out_bell_hold = scratch.out_chan = -1;
    scratch.in_bell = scratch.in_chan = -1;
    for (int i = 0; i < SHMPEER_SETUP_FDS; i++) {
        give[i] = -1;
    }
    bool ok = shmpeer_make_ring(&scratch, ring_size, give);
    shmpeer_free(&scratch);
    if (!ok) {
        for (int i = 0; i < SHMPEER_SETUP_FDS; i++) {
            shmpeer_close(&give[i]);
        }
    }
    return ok;
}

bool shmpeer_connect(shmpeer *p, const char *name, uint32_t ring_size)
{
    return shmpeer_connect_tampered(p, name, ring_size, NULL, NULL);
}

static bool shmpeer_connect_as(shmpeer *p, const char *name, uint32_t ring_size, bool joined,
                               void (*tamper)(int give[SHMPEER_SETUP_FDS], void *arg), void *arg);

bool shmpeer_connect_joined(shmpeer *p, const char *name, uint32_t ring_size)
{
    return shmpeer_connect_as(p, name, ring_size, true, NULL, NULL);
}

bool shmpeer_connect_tampered(shmpeer *p, const char *name, uint32_t ring_size,
                              void (*tamper)(int give[SHMPEER_SETUP_FDS], void *arg), void *arg)
{
    return shmpeer_connect_as(p, name, ring_size, false, tamper, arg);
}

/* joined: the hello and the setup frame in one sendmsg, which carries the
 * setup's descriptors (with the hello's first byte). */
static bool shmpeer_connect_as(shmpeer *p, const char *name, uint32_t ring_size, bool joined,
                               void (*tamper)(int give[SHMPEER_SETUP_FDS], void *arg), void *arg)
{
    memset(p, 0, sizeof(*p));
    p->out_bell = p->out_bell_hold = p->out_chan = p->in_bell = p->in_chan = -1;
    int give[SHMPEER_SETUP_FDS] = {-1, -1, -1};
    p->sock = rawpeer_connect(name);
    uint8_t hello[64 + 16];
    size_t hlen = shmpeer_hello(hello, ring_size);
    uint8_t *setup = hello + hlen;
    rawpeer_put_header(setup, 0, SHMPEER_SETUP, 0, SHMPEER_SETUP_FDS, 0);
    bool ok = p->sock >= 0 && shmpeer_make_ring(p, ring_size, give);
    if (ok && tamper != NULL) {
        tamper(give, arg);
    }
    if (joined) {
        ok = ok && rawpeer_send_with_fds(p->sock, hello, hlen + 16, give, SHMPEER_SETUP_FDS);
    } else {
        ok = ok && support_write_full(p->sock, hello, hlen) &&
             rawpeer_send_with_fds(p->sock, setup, 16, give, SHMPEER_SETUP_FDS);
    }
    for (int i = 0; i < SHMPEER_SETUP_FDS; i++) {
        shmpeer_close(&give[i]);
    }
    ok = ok && shmpeer_take_setup(p);
    if (!ok) {
        shmpeer_free(p);
    }
    return ok;
}

void shmpeer_poke_u64(shmpeer *p, size_t off, uint64_t v)
{
    atomic_store((_Atomic uint64_t *)(void *)(p->out_mem + off), v);
}

void shmpeer_poke_u32(shmpeer *p, size_t off, uint32_t v)
{
    atomic_store((_Atomic uint32_t *)(void *)(p->out_mem + off), v);
}

static void shmpeer_bell(int fd)
{
    (void)!send(fd, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void shmpeer_ring(shmpeer *p)
{
    (void)!write(p->out_bell, "x", 1);
}

bool shmpeer_send(shmpeer *p, const void *bytes, size_t len)
{
    ssize_t room = seam__ring_room(&p->out);
    if (room <= 0 || (size_t)room < len) {
        return false;
    }
    struct iovec iov = {(void *)bytes, len};
    bool ring = false;
    seam__ring_write(&p->out, &iov, 1, 0, (size_t)room, &ring);
    if (ring) {
        shmpeer_ring(p);
    }
    return true;
}

bool shmpeer_send_fds(shmpeer *p, const void *bytes, size_t len, const int *fds, size_t nfds)
{
    ssize_t room = seam__ring_room(&p->out);
    if (room <= 0 || (size_t)room < len ||
        (nfds > 0 && !rawpeer_send_with_fds(p->out_chan, "", 1, fds, nfds))) {
        return false;
    }
    seam__ring_fds_sent(&p->out, nfds); /* the reader's fds_taken is checked against it */
    struct iovec iov = {(void *)bytes, len};
    bool ring = false;
    seam__ring_write(&p->out, &iov, 1, (uint32_t)nfds, (size_t)room, &ring);
    if (ring) {
        shmpeer_ring(p);
    }
    return true;
}

static bool shmpeer_hungup(const shmpeer *p)
{
    struct pollfd pf = {p->sock, POLLRDHUP, 0};
    return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* Fills buf with at least want bytes from the server's ring. */
static bool shmpeer_fill(shmpeer *p, size_t want, long long deadline)
{
    while (p->have < want) {
        uint32_t nfds = 0;
        bool ring = false;
        ssize_t n =
            seam__ring_read(&p->in, p->buf + p->have, sizeof(p->buf) - p->have, &nfds, &ring);
        if (ring) {
            shmpeer_bell(p->in_chan);
        }
        if (n > 0) {
            p->have += (size_t)n;
            continue;
        }
        if (n != SEAM_EAGAIN) {
            return false;
        }
        if (seam__ring_reader_arm(&p->in)) {
            continue;
        }
        if (shmpeer_hungup(p)) {
            /* What it published before closing is visible now. */
            n = seam__ring_read(&p->in, p->buf + p->have, sizeof(p->buf) - p->have, &nfds, &ring);
            if (n <= 0) {
                return false;
            }
            p->have += (size_t)n;
            continue;
        }
        long long left = deadline - support_now_ms();
        struct pollfd pf[2] = {{p->in_bell, POLLIN, 0}, {p->sock, POLLRDHUP, 0}};
        if (left <= 0 || poll(pf, 2, left > 50 ? 50 : (int)left) < 0) {
            return false;
        }
        uint8_t junk[64];
        struct iovec io = {junk, sizeof(junk)};
        (void)!preadv2(p->in_bell, &io, 1, -1, RWF_NOWAIT);
    }
    return true;
}

long shmpeer_read_frame(shmpeer *p, uint8_t hdr[16], uint8_t *buf, size_t cap, int timeout_ms)
{
    long long deadline = support_now_ms() + timeout_ms;
    if (!shmpeer_fill(p, 16, deadline)) {
        return -1;
    }
    memcpy(hdr, p->buf, 16);
    p->have -= 16;
    memmove(p->buf, p->buf + 16, p->have);
    uint32_t len = rawpeer_get_u32(hdr);
    for (uint32_t got = 0; got < len;) {
        if (!shmpeer_fill(p, 1, deadline)) {
            return -1;
        }
        size_t n = len - got < p->have ? len - got : p->have;
        if (got < cap) {
            memcpy(buf + got, p->buf, n < cap - got ? n : cap - got);
        }
        p->have -= n;
        memmove(p->buf, p->buf + n, p->have);
        got += (uint32_t)n;
    }
    return (long)len;
}

int shmpeer_goodbye_code(shmpeer *p, int timeout_ms)
{
    uint8_t hdr[16];
    uint8_t payload[256];
    int code = 0;
    long len;
    while ((len = shmpeer_read_frame(p, hdr, payload, sizeof(payload), timeout_ms)) >= 0) {
        if (hdr[4] == RAWPEER_BYE) {
            code = rawpeer_payload_code(payload, (size_t)len < sizeof(payload) ? (size_t)len
                                                                               : sizeof(payload));
        }
    }
    return code;
}
