/* SPDX-License-Identifier: MIT */
/* shm.c - the shared-memory data path of a Unix pipe: the setup (memfd,
 * seals, doorbells), the switch point of each direction, readiness
 * through one epoll descriptor, and the doorbell protocol around the
 * rings (shm_ring.c).
 *
 * The data doorbell, rung for nearly every message when the reader keeps
 * up, is a pipe: a write and a read of a byte cost far less than a Unix
 * socket's (no buffer allocated per ring). Its write end stays ours alone,
 * so its O_NONBLOCK cannot be cleared by the peer, and we keep the read
 * end open too, so a ring never raises SIGPIPE. The read end is shared
 * with the peer, which may clear O_NONBLOCK on it: the reader reads it
 * with RWF_NOWAIT only, never blocking whatever its flags say. Not an
 * eventfd: one object, flags and all, shared both ways, so a peer could
 * make our ring block. The channel is a Unix socket pair, whose ends are
 * ours alone and MSG_DONTWAIT never blocks, used both ways: the reader
 * rings the writer over it when a ring was full (the room doorbell), and
 * the writer sends over it the descriptors of the records that announce
 * some, read only when such a record is. One pair, not two: a connection
 * holds two descriptors fewer on each side. */
#include "shm.h"
#include "shm_fds.h"
#include "unix.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SHM_DRAIN_MAX 16 /* doorbell reads per drain (a flooding peer is read again later) */

/* The descriptors of a setup frame, in order (docs/protocol.md). */
enum { SHM_GIVE_RING, SHM_GIVE_BELL, SHM_GIVE_CHAN };

/* The descriptors in the epoll set. */
enum { SHM_REG_SOCK, SHM_REG_INBELL, SHM_REG_OUTROOM, SHM_REG_SELF, SHM_REGS };

struct seam__shm {
    int sock; /* the pipe's, not ours */
    int epfd;
    unsigned want; /* what the core waits for */
    int self;      /* our own eventfd (never shared): wakes us when waiting starts */
    bool self_set; /* it was written and not read since */
    uint32_t regs[SHM_REGS];
    /* Sending: until the switch, the socket; sock_left bytes more then. */
    bool switching;
    bool out_on;
    size_t sock_left;
    seam__ring out;
    int out_bell;                  /* the data doorbell's write end: we ring the reader */
    int out_bell_hold;             /* and its read end, held so that ringing never raises SIGPIPE */
    int out_chan;                  /* our end of the channel: the reader rings us for room here, and
                                    * the records' descriptors go out here */
    int give[SEAM__SHM_SETUP_FDS]; /* for the setup frame, closed at the switch (but the
                                    * data doorbell's read end: it is out_bell_hold) */
    /* Receiving. */
    bool in_on;
    seam__ring in;
    int in_bell;      /* the peer's data doorbell: we wait on it */
    int in_chan;      /* the peer's channel: we ring the writer, its descriptors come */
    bool in_armed;    /* we said we sleep: a writer that saw it rang */
    bool bell_eof;    /* the writer closed the data doorbell: it is gone */
    bool room_eof;    /* the reader closed the room doorbell: it is gone */
    size_t ring_size; /* of the ring we write (our hello's offer) */
    /* A violation the writer found in the peer's indices: every receive
     * (and wait) reports it, so the connection ends instead of stalling. */
    int broken;
};

static void shm_close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

int seam__shm_new(int sock, seam__shm **out)
{
    *out = NULL;
    const char *no = getenv("SEAM_NO_SHM");
    if ((no != NULL && strcmp(no, "1") == 0) || !seam__shm_nowait_reads()) {
        return 0;
    }
    seam__shm *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return SEAM_ENOMEM;
    }
    s->sock = sock;
    s->out_bell = s->out_bell_hold = s->out_chan = s->in_bell = s->in_chan = -1;
    for (int i = 0; i < SEAM__SHM_SETUP_FDS; i++) {
        s->give[i] = -1;
    }
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->self = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->epfd < 0 || s->self < 0 || !seam__shm_fds_room(sock)) {
        /* Out of descriptors (or memory): the socket alone, which works. */
        shm_close_fd(&s->epfd);
        shm_close_fd(&s->self);
        free(s);
        return 0;
    }
    *out = s;
    return 0;
}

static void shm_close_all(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        close(fds[i]);
    }
}

static void shm_give_close(seam__shm *s)
{
    s->give[SHM_GIVE_BELL] = -1; /* out_bell_hold's */
    for (int i = 0; i < SEAM__SHM_SETUP_FDS; i++) {
        shm_close_fd(&s->give[i]);
    }
}

void seam__shm_free(seam__shm *s)
{
    if (s == NULL) {
        return;
    }
    if (s->out.base != NULL) {
        munmap(s->out.base, SEAM__RING_HDR + s->out.cap);
    }
    if (s->in.base != NULL) {
        munmap(s->in.base, SEAM__RING_HDR + s->in.cap);
    }
    shm_give_close(s);
    shm_close_fd(&s->out_bell);
    shm_close_fd(&s->out_bell_hold);
    shm_close_fd(&s->out_chan);
    shm_close_fd(&s->in_bell);
    shm_close_fd(&s->in_chan);
    close(s->epfd);
    close(s->self);
    free(s);
}

int seam__shm_fd(const seam__shm *s)
{
    return s->epfd;
}

uint64_t seam__shm_offer(seam__shm *s, uint64_t want)
{
    uint64_t size = SEAM__RING_MIN;
    if (want == 0) {
        size = SEAM__RING_DEFAULT;
    }
    while (size < want && size < SEAM__RING_MAX) {
        size <<= 1;
    }
    s->ring_size = (size_t)size;
    return size;
}

unsigned seam__shm_active(const seam__shm *s)
{
    return (s->out_on ? 1u : 0u) | (s->in_on ? 2u : 0u);
}

/* One descriptor's epoll events, changed only when they differ. */
static int shm_reg(seam__shm *s, int which, int fd, uint32_t ev)
{
    if (fd < 0 || s->regs[which] == ev) {
        return 0;
    }
    struct epoll_event e = {.events = ev, .data.u32 = (uint32_t)which};
    int op = s->regs[which] == 0 ? EPOLL_CTL_ADD : ev == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (epoll_ctl(s->epfd, op, fd, &e) < 0) {
        return -errno;
    }
    s->regs[which] = ev;
    return 0;
}

/* The epoll set follows what the core waits for and which paths are on:
 * a descriptor ready for something nobody waits for would keep the epoll
 * descriptor readable, and the loop spinning. Once input comes over the
 * ring, the socket is watched only for its hang-up. */
static int shm_regs_update(seam__shm *s)
{
    bool rd = (s->want & SEAM_READ) != 0;
    bool wr = (s->want & SEAM_WRITE) != 0;
    uint32_t sock = 0;
    if (rd) {
        sock |= EPOLLRDHUP | (s->in_on ? 0 : EPOLLIN);
    }
    if (wr && !s->out_on) {
        sock |= EPOLLOUT;
    }
    int r = shm_reg(s, SHM_REG_SOCK, s->sock, sock);
    if (r == 0) {
        r = shm_reg(s, SHM_REG_INBELL, s->in_bell, rd && s->in_on && !s->bell_eof ? EPOLLIN : 0);
    }
    if (r == 0) {
        r = shm_reg(s, SHM_REG_OUTROOM, s->out_chan, wr && s->out_on && !s->room_eof ? EPOLLIN : 0);
    }
    if (r == 0) {
        r = shm_reg(s, SHM_REG_SELF, s->self, s->want != 0 ? EPOLLIN : 0);
    }
    return r;
}

/* Readiness over a ring is a doorbell rung only to a reader (or writer)
 * that said it sleeps: one that starts waiting again (reading resumed
 * after a pause) looks once on its own. */
static void shm_self_wake(seam__shm *s)
{
    uint64_t one = 1;
    if (!s->self_set) {
        s->self_set = true;
        (void)!write(s->self, &one, sizeof(one));
    }
}

static void shm_self_drain(seam__shm *s)
{
    uint64_t n;
    if (s->self_set) {
        s->self_set = false;
        (void)!read(s->self, &n, sizeof(n));
    }
}

unsigned seam__shm_watch_events(seam__shm *s, unsigned want)
{
    unsigned gained = want & ~s->want;
    if (((gained & SEAM_READ) != 0 && s->in_on) || ((gained & SEAM_WRITE) != 0 && s->out_on)) {
        shm_self_wake(s);
    }
    s->want = want;
    /* A failure leaves the adapter watching: the next send or receive
     * reports what is wrong. */
    if (shm_regs_update(s) < 0) {
        return SEAM_READ;
    }
    return want != 0 ? SEAM_READ : 0;
}

/* The data doorbell: the write end stays here, the read end goes to the
 * reader and is held here too. */
static int shm_bell_pipe(seam__shm *s)
{
    int pp[2];
    if (pipe2(pp, O_NONBLOCK | O_CLOEXEC) < 0) {
        return -errno;
    }
    s->out_bell = pp[1];
    s->out_bell_hold = s->give[SHM_GIVE_BELL] = pp[0];
    return 0;
}

/* Undoes a start that failed half-way (out of descriptors or memory): the
 * direction stays on the socket, holding nothing. */
static void shm_start_undo(seam__shm *s)
{
    if (s->out.base != NULL) {
        munmap(s->out.base, SEAM__RING_HDR + s->out.cap);
        memset(&s->out, 0, sizeof(s->out));
    }
    shm_give_close(s);
    shm_close_fd(&s->out_bell);
    shm_close_fd(&s->out_bell_hold);
    shm_close_fd(&s->out_chan);
}

int seam__shm_start(seam__shm *s, int fds[SEAM__SHM_SETUP_FDS])
{
    if (s->out.base != NULL || s->switching) {
        return SEAM_EINVAL;
    }
    uint8_t *base = NULL;
    size_t size = s->ring_size != 0 ? s->ring_size : SEAM__RING_DEFAULT;
    int r = seam__shm_memfd(size, &base, &s->give[SHM_GIVE_RING]);
    if (r == 0) {
        seam__ring_init(&s->out, base, size, true);
        r = shm_bell_pipe(s);
    }
    if (r == 0) {
        r = seam__shm_socketpair(&s->out_chan, &s->give[SHM_GIVE_CHAN]);
    }
    if (r < 0) {
        shm_start_undo(s);
        return r;
    }
    memcpy(fds, s->give, sizeof(s->give));
    return 0;
}

void seam__shm_switch_send(seam__shm *s, size_t after)
{
    s->switching = true;
    s->sock_left = after;
    if (after == 0) {
        s->out_on = true;
        shm_give_close(s);
        shm_regs_update(s);
    }
}

/* The peer's ring, checked and mapped (shm_fds.c), and its header. */
static int shm_map_peer(seam__shm *s, int fd, uint64_t size)
{
    uint8_t *base = NULL;
    int r = seam__shm_map_checked(fd, size, &base);
    if (r < 0) {
        return r;
    }
    seam__ring_init(&s->in, base, size, false);
    if (!seam__ring_magic_ok(&s->in)) {
        munmap(base, SEAM__RING_HDR + size);
        memset(&s->in, 0, sizeof(s->in));
        return SEAM_EPROTO;
    }
    return 0;
}

/* Whether the data doorbell and the channel are what they must be. */
static bool shm_bells_ok(const int *fds)
{
    return seam__shm_is_pipe_read_end(fds[SHM_GIVE_BELL]) &&
           seam__shm_is_stream_socket(fds[SHM_GIVE_CHAN]);
}

/* The descriptors are ours whatever happens: the ones refused are closed
 * at once, never kept until the connection ends (a peer that sends setup
 * after setup on new connections would fill our table). */
int seam__shm_attach(seam__shm *s, const int *fds, size_t nfds, uint64_t size)
{
    if (s->in_on || s->in.base != NULL || nfds != SEAM__SHM_SETUP_FDS) {
        shm_close_all(fds, nfds);
        return SEAM_EPROTO;
    }
    int r = shm_bells_ok(fds) ? shm_map_peer(s, fds[SHM_GIVE_RING], size) : SEAM_EPROTO;
    close(fds[SHM_GIVE_RING]); /* the mapping keeps the ring */
    if (r < 0) {
        shm_close_all(fds + 1, nfds - 1);
        return r;
    }
    s->in_bell = fds[SHM_GIVE_BELL];
    s->in_chan = fds[SHM_GIVE_CHAN];
    s->in_on = true;
    if (shm_regs_update(s) < 0) {
        return SEAM_ENOMEM; /* epoll's memory or watches (checked: it takes both) */
    }
    return 0;
}

/* Rings the room doorbell; a full one already wakes its reader. */
static void shm_ring_bell(int fd)
{
    static const uint8_t b = 1;
    struct iovec iov = {(void *)&b, 1};
    (void)seam__unix_sendv(fd, &iov, 1, NULL, 0);
}

/* Rings the data doorbell; a full pipe already wakes its reader. */
static void shm_ring_data(seam__shm *s)
{
    static const uint8_t b = 1;
    (void)!write(s->out_bell, &b, 1);
}

/* Whether the peer hung up (the socket's reading side ended, or it closed
 * the data doorbell). */
static bool shm_hungup(const seam__shm *s)
{
    struct pollfd p = {s->sock, POLLRDHUP, 0};
    return s->bell_eof || s->room_eof ||
           (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0);
}

/* The peer broke its side of the ring (err < 0, not SEAM_EAGAIN): from now
 * on our reads fail with err, and the core is woken to read. */
static ssize_t shm_broke(seam__shm *s, ssize_t err)
{
    if (err < 0 && err != SEAM_EAGAIN && s->broken == 0) {
        s->broken = (int)err;
        shm_self_wake(s);
    }
    return err;
}

/* Empties the room doorbell: bytes dropped, descriptors closed. At end of
 * file (or reset) the reader is gone: the doorbell is no longer watched (it
 * would read as ready for good, and the loop spin while the ring is full),
 * sends fail as after a hang-up, and a ring reader is woken to end its
 * stream. */
static void shm_room_drain(seam__shm *s)
{
    for (int i = 0; i < SHM_DRAIN_MAX && !s->room_eof; i++) {
        uint8_t junk[64];
        int got[SEAM__TRAN_MAX_RECV_FDS];
        size_t ngot = 0;
        bool truncated = false;
        ssize_t n = seam__unix_recv(s->out_chan, junk, sizeof(junk), got, SEAM__TRAN_MAX_RECV_FDS,
                                    &ngot, &truncated);
        shm_close_all(got, ngot);
        if (n == 0 || (n < 0 && n != SEAM_EAGAIN)) {
            s->room_eof = true;
            (void)shm_regs_update(s);
            if (s->in_on) {
                shm_self_wake(s); /* the ring reader ends the stream */
            }
        }
        if (n < (ssize_t)sizeof(junk)) {
            return; /* drained (or broken): no second read to learn it */
        }
    }
}

/* A record's descriptors, sent before it is published, with one byte: a
 * full channel loses nothing, the writer waits as for room (the reader
 * rings once it took a batch); any other failure ends the connection. */
static ssize_t shm_send_fds(seam__shm *s, const int *fds, size_t nfds)
{
    static const uint8_t b = 0;
    struct iovec one = {(void *)&b, 1};
    ssize_t n = seam__unix_sendv(s->out_chan, &one, 1, fds, nfds);
    if (n == SEAM_EAGAIN) {
        shm_self_drain(s);
        shm_room_drain(s);
        seam__ring_writer_wait(&s->out);
        n = seam__unix_sendv(s->out_chan, &one, 1, fds, nfds);
    }
    if (n < 0) {
        return shm_broke(s, n);
    }
    seam__ring_fds_sent(&s->out, nfds);
    return 0;
}

static ssize_t shm_send_ring(seam__shm *s, const struct iovec *iov, size_t iovcnt, const int *fds,
                             size_t nfds)
{
    ssize_t room = seam__ring_room(&s->out);
    if (room == 0) {
        shm_self_drain(s);
        shm_room_drain(s);
        if (!seam__ring_writer_arm(&s->out)) {
            return shm_hungup(s) ? -EPIPE : SEAM_EAGAIN;
        }
        room = seam__ring_room(&s->out);
    }
    if (room <= 0) {
        return room < 0 ? shm_broke(s, room) : SEAM_EAGAIN;
    }
    if (nfds > 0) {
        int ok = seam__ring_fds_room(&s->out, nfds);
        if (ok <= 0) {
            /* the reader rings once it took some */
            return ok < 0 ? shm_broke(s, ok) : SEAM_EAGAIN;
        }
        ssize_t r = shm_send_fds(s, fds, nfds);
        if (r < 0) {
            return r;
        }
    }
    bool ring = false;
    size_t n = seam__ring_write(&s->out, iov, iovcnt, (uint32_t)nfds, (size_t)room, &ring);
    if (ring) {
        shm_ring_data(s);
    }
    size_t total = 0;
    for (size_t i = 0; i < iovcnt && total <= n; i++) {
        total += iov[i].iov_len;
    }
    /* A short write is the core's cue to wait for room: say so first. */
    if (n < total && seam__ring_writer_arm(&s->out)) {
        shm_self_wake(s);
    }
    return (ssize_t)n;
}

ssize_t seam__shm_sendv(seam__shm *s, const struct iovec *iov, size_t iovcnt, const int *fds,
                        size_t nfds)
{
    if (s->out_on) {
        /* Broken: nothing more goes, lest a frame pass one that was lost. */
        return s->broken != 0 ? s->broken : shm_send_ring(s, iov, iovcnt, fds, nfds);
    }
    if (!s->switching) {
        return seam__unix_sendv(s->sock, iov, iovcnt, fds, nfds);
    }
    /* Up to the switch point over the socket, not a byte further. */
    struct iovec cut[64];
    size_t n = 0;
    size_t total = 0;
    for (; n < iovcnt && n < 64 && total < s->sock_left; n++) {
        cut[n] = iov[n];
        if (cut[n].iov_len > s->sock_left - total) {
            cut[n].iov_len = s->sock_left - total;
        }
        total += cut[n].iov_len;
    }
    ssize_t r = seam__unix_sendv(s->sock, cut, n, fds, nfds);
    if (r > 0) {
        s->sock_left -= (size_t)r;
        if (s->sock_left == 0) {
            seam__shm_switch_send(s, 0);
        }
    }
    return r;
}

/* Reads the data doorbell's wake-ups, never blocking: the peer may have
 * cleared O_NONBLOCK on the read end it shares with us. A flooding writer
 * is read again on the next wake-up. End of file: the writer is gone; the
 * doorbell is no longer watched (it would read as ready for good) and the
 * reader ends the stream once the ring is empty. */
static int shm_bell_drain(seam__shm *s)
{
    for (int i = 0; i < SHM_DRAIN_MAX && !s->bell_eof; i++) {
        uint8_t junk[64];
        struct iovec iov = {junk, sizeof(junk)};
        ssize_t n = preadv2(s->in_bell, &iov, 1, -1, RWF_NOWAIT);
        if (n == 0) {
            s->bell_eof = true;
            (void)shm_regs_update(s);
            shm_self_wake(s);
        }
        if (n < (ssize_t)sizeof(junk)) {
            break;
        }
    }
    return 0;
}

/* Says the reader sleeps unless a record came: true when one did. */
static bool shm_reader_arm(seam__shm *s)
{
    s->in_armed = true;
    return seam__ring_reader_arm(&s->in);
}

/* Awake again. A writer that took our flag rang the doorbell: it is read
 * now, so that its byte does not wake the loop once more for nothing. */
static void shm_reader_wake(seam__shm *s)
{
    if (s->in_armed) {
        s->in_armed = false;
        if (seam__ring_reader_disarm(&s->in)) {
            shm_bell_drain(s);
        }
    }
}

/* Hands the descriptors of a record that announced nfds to the caller:
 * one byte of the channel and what came with it, exactly nfds.
 * They were sent before the record was published, so they are there. */
static int shm_take_fds(seam__shm *s, uint32_t nfds, int *fds, size_t max_fds, size_t *n,
                        bool *truncated)
{
    uint8_t one;
    int got[SEAM__TRAN_MAX_RECV_FDS];
    size_t ngot = 0;
    bool cut = false;
    ssize_t r = seam__unix_recv(s->in_chan, &one, 1, got, SEAM__TRAN_MAX_RECV_FDS, &ngot, &cut);
    if (r != 1 || cut || ngot != nfds) {
        shm_close_all(got, ngot);
        return SEAM_EPROTO;
    }
    for (size_t i = 0; i < ngot; i++) {
        if (*n < max_fds) {
            fds[(*n)++] = got[i];
        } else {
            close(got[i]);
            *truncated = true;
        }
    }
    bool ring = false;
    seam__ring_fds_taken(&s->in, nfds, &ring);
    if (ring) {
        shm_ring_bell(s->in_chan);
    }
    return 0;
}

static ssize_t shm_recv_ring(seam__shm *s, void *buf, size_t len, int *fds, size_t max_fds,
                             size_t *nfds, bool *truncated)
{
    shm_reader_wake(s);
    for (int round = 0; round < 2; round++) {
        uint32_t recfds = 0;
        bool ring = false;
        ssize_t n = seam__ring_read(&s->in, buf, len, &recfds, &ring);
        if (ring) {
            shm_ring_bell(s->in_chan);
        }
        if (n > 0 && recfds > 0) {
            int r = shm_take_fds(s, recfds, fds, max_fds, nfds, truncated);
            if (r < 0) {
                return r;
            }
        }
        if (n >= 0 && (size_t)n < len && shm_reader_arm(s)) {
            /* A short read is the core's cue to wait: the reader sleeps
             * (the writer will ring) unless more came meanwhile. */
            shm_reader_wake(s);
            shm_self_wake(s);
        }
        if (n > 0 && (size_t)n == len) {
            /* The core may stop reading after a few full reads: a ring
             * larger than they take (the peer picks its size) must still
             * read as ready, or what is left waits for a doorbell that
             * never comes (the writer saw us awake). */
            shm_self_wake(s);
        }
        if (n != SEAM_EAGAIN) {
            return n;
        }
        shm_self_drain(s);
        int r = shm_bell_drain(s);
        if (r < 0) {
            return r;
        }
        /* Empty: a peer that hung up has published all it will (before
         * its close, so before we saw the hang-up). */
        if (shm_hungup(s)) {
            if (round == 0) {
                continue;
            }
            return 0;
        }
        if (!shm_reader_arm(s)) {
            return SEAM_EAGAIN;
        }
        shm_reader_wake(s);
    }
    return SEAM_EAGAIN; /* the doorbell was drained: the next wake-up comes */
}

ssize_t seam__shm_recv(seam__shm *s, void *buf, size_t len, int *fds, size_t max_fds, size_t *nfds,
                       bool *truncated)
{
    if (s->broken != 0) {
        return s->broken;
    }
    if (!s->in_on) {
        return seam__unix_recv(s->sock, buf, len, fds, max_fds, nfds, truncated);
    }
    return shm_recv_ring(s, buf, len, fds, max_fds, nfds, truncated);
}

int seam__shm_wait(seam__shm *s, unsigned events, int timeout_ms)
{
    unsigned ready = 0;
    if ((events & SEAM_READ) != 0 && s->broken != 0) {
        return SEAM_READ; /* the receive tells what broke */
    }
    if ((events & SEAM_READ) != 0 && s->in_on) {
        if (shm_bell_drain(s) < 0 || shm_reader_arm(s)) {
            ready |= SEAM_READ;
        }
    }
    if ((events & SEAM_WRITE) != 0 && s->out_on) {
        shm_room_drain(s);
        if (seam__ring_writer_arm(&s->out)) {
            ready |= SEAM_WRITE;
        }
    }
    if (ready != 0) {
        timeout_ms = 0;
    }
    struct pollfd p[3] = {{s->sock, 0, 0}, {s->in_bell, 0, 0}, {s->out_chan, 0, 0}};
    if ((events & SEAM_READ) != 0) {
        p[0].events |= POLLRDHUP | (s->in_on ? 0 : POLLIN);
        p[1].events = s->in_on ? POLLIN : 0;
    }
    if ((events & SEAM_WRITE) != 0) {
        p[0].events |= s->out_on ? 0 : POLLOUT;
        p[2].events = s->out_on ? POLLIN : 0;
    }
    int n = poll(p, 3, timeout_ms);
    if (n < 0) {
        return errno == EINTR ? (int)ready : -errno;
    }
    if ((p[0].revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0 ||
        (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        ready |= SEAM_READ;
    }
    if ((p[0].revents & POLLOUT) != 0 || (p[2].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        ready |= SEAM_WRITE;
    }
    return (int)(ready & events);
}
