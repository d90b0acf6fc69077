/* SPDX-License-Identifier: MIT */
/* unix_endpoint.c - the rendezvous of anonymous endpoints on the Unix
 * transport: a SOCK_SEQPACKET socket pair whose one end the listener reads
 * and whose other end is the endpoint that travels in messages. A connector
 * makes a SOCK_STREAM pair, keeps one end as its connection and sends the
 * other over the endpoint, one datagram per connect: one byte
 * (SEAM__UNIX_RENDEZVOUS_VERSION) and exactly one descriptor. */
#include "unix.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Room for more descriptors than a valid datagram has, so that a datagram
 * with several is seen whole (and all of them closed); any beyond this the
 * kernel closes itself (MSG_CTRUNC). */
#define RENDEZVOUS_FDS_ROOM 4

int seam__unix_rendezvous_pair(int *listen_fd, int *endpoint_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        return -errno;
    }
    /* Only the listener's end is non-blocking: the endpoint's file status
     * is shared with every process it goes to, so its sends say
     * MSG_DONTWAIT instead. */
    int fl = fcntl(sv[0], F_GETFL);
    if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0 || shutdown(sv[0], SHUT_WR) < 0) {
        int err = -errno;
        close(sv[0]);
        close(sv[1]);
        return err;
    }
    *listen_fd = sv[0];
    *endpoint_fd = sv[1];
    return 0;
}

/* A connected AF_UNIX stream socket with no address at either end: one
 * end of a socketpair(), whose credentials name the process that made
 * it. An unconnected or listening one has no peer; one with an address
 * is a connection to or from a named socket, whose credentials are those
 * of a third process the holder would be lending. */
static bool rendezvous_is_stream(int fd)
{
    int type = 0;
    int domain = 0;
    socklen_t len = sizeof(type);
    socklen_t dlen = sizeof(domain);
    struct sockaddr_storage peer;
    struct sockaddr_storage self;
    socklen_t plen = sizeof(peer);
    socklen_t slen = sizeof(self);
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM &&
           getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) == 0 && domain == AF_UNIX &&
           getpeername(fd, (struct sockaddr *)&peer, &plen) == 0 && plen == sizeof(sa_family_t) &&
           getsockname(fd, (struct sockaddr *)&self, &slen) == 0 && slen == sizeof(sa_family_t);
}

/* Reads one datagram: 1 with *fd when it is a valid connect, 0 when
 * nothing waits, SEAM_EPROTO when it was not one (its descriptors are
 * closed), or an error. */
static int rendezvous_take_one(int lfd, int *fd)
{
    unsigned char byte[2];
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * RENDEZVOUS_FDS_ROOM)];
    } ctl;
    struct iovec iov = {byte, sizeof(byte)};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof(ctl.buf);
    ssize_t n = recvmsg(lfd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
    int got[RENDEZVOUS_FDS_ROOM];
    size_t ngot = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k && ngot < RENDEZVOUS_FDS_ROOM; i++) {
            memcpy(&got[ngot++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }
    }
    bool valid = n == 1 && byte[0] == SEAM__UNIX_RENDEZVOUS_VERSION && ngot == 1 &&
                 (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0 && rendezvous_is_stream(got[0]);
    if (!valid) {
        for (size_t i = 0; i < ngot; i++) {
            close(got[i]);
        }
        return SEAM_EPROTO;
    }
    int fl = fcntl(got[0], F_GETFL);
    if (fl < 0 || fcntl(got[0], F_SETFL, fl | O_NONBLOCK) < 0) {
        int err = -errno;
        close(got[0]);
        return err;
    }
    *fd = got[0];
    return 1;
}

int seam__unix_rendezvous_take(int lfd, int *fd, size_t *dropped)
{
    *dropped = 0;
    for (;;) {
        int r = rendezvous_take_one(lfd, fd);
        if (r != SEAM_EPROTO) {
            return r;
        }
        /* A holder wrote something else: dropped, bounded per call so that
         * one flooding the socket cannot hold the loop. */
        if (++*dropped >= SEAM__UNIX_RENDEZVOUS_DROPS) {
            return 0;
        }
    }
}

int seam__unix_rendezvous_dial(int endpoint_fd, int *fd)
{
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(endpoint_fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        return errno == ENOTSOCK ? SEAM_ENOTENDPOINT : -errno;
    }
    if (type != SOCK_SEQPACKET) {
        return SEAM_ENOTENDPOINT;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
        return -errno;
    }
    unsigned char byte = SEAM__UNIX_RENDEZVOUS_VERSION;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof(ctl.buf);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &sv[1], sizeof(int));
    ssize_t n;
    do {
        n = sendmsg(endpoint_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : 0;
    close(sv[1]); /* in flight now, or never sent */
    if (n < 0) {
        close(sv[0]);
        if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
            return SEAM_EAGAIN; /* the listener's queue is full */
        }
        if (err == EPIPE || err == ECONNREFUSED || err == ECONNRESET || err == ENOTCONN) {
            return SEAM_ENOTFOUND; /* the listener is gone */
        }
        return -err;
    }
    *fd = sv[0];
    return 0;
}
