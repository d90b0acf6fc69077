/* SPDX-License-Identifier: MIT */
/* shm_fds.c - the descriptors of the shared-memory setup: making our
 * ring's memfd and socket pairs, and checking what the peer sent before
 * it is used (docs/protocol.md, "Checks before mapping"). */
#include "shm_fds.h"
#include "shm_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Whether the kernel reads a pipe with RWF_NOWAIT: without it the data
 * doorbell could not be read safely, and shared memory is not offered. */
bool seam__shm_nowait_reads(void)
{
    int pp[2];
    if (pipe2(pp, O_CLOEXEC) < 0) {
        return false;
    }
    uint8_t b;
    struct iovec iov = {&b, 1};
    bool ok = preadv2(pp[0], &iov, 1, -1, RWF_NOWAIT) < 0 && errno == EAGAIN;
    close(pp[0]);
    close(pp[1]);
    return ok;
}

int seam__shm_memfd(size_t cap, uint8_t **base, int *fd)
{
    *fd = memfd_create("seam-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (*fd < 0) {
        return -errno;
    }
    size_t size = SEAM__RING_HDR + cap;
    if (ftruncate(*fd, (off_t)size) < 0 ||
        fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        int r = -errno;
        close(*fd);
        *fd = -1;
        return r;
    }
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (m == MAP_FAILED) {
        int r = -errno;
        close(*fd);
        *fd = -1;
        return r;
    }
    *base = m;
    return 0;
}

int seam__shm_socketpair(int *ours, int *theirs)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        return -errno;
    }
    *ours = sv[0];
    *theirs = sv[1];
    return 0;
}

/* The peer's ring: a memfd of exactly the announced size, sealed so that
 * it can be neither shrunk under our mapping (SIGBUS) nor grown. */
int seam__shm_map_checked(int fd, uint64_t size, uint8_t **base)
{
    struct stat st;
    if (!seam__ring_size_ok(size) || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size != SEAM__RING_HDR + size) {
        return SEAM_EPROTO;
    }
    int seals = fcntl(fd, F_GET_SEALS);
    unsigned need = F_SEAL_SHRINK | F_SEAL_GROW;
    if (seals < 0 || ((unsigned)seals & need) != need) {
        return SEAM_EPROTO;
    }
    void *m = mmap(NULL, SEAM__RING_HDR + size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        /* Our own lack of memory is no fault of the peer's; anything else
         * is what it sent (read-only, sealed against writing). */
        return errno == ENOMEM ? SEAM_ENOMEM : SEAM_EPROTO;
    }
    *base = m;
    return 0;
}

/* Whether the process has room for the descriptors a switch takes beyond
 * the epoll set and its wake-up: our ring's five (memfd, pipe, socket
 * pair) and the setup frame's copies of three while it is queued, then
 * the peer's three, with one to spare. Short of them, the connection is
 * better off never offering shared memory (it keeps the socket) than
 * failing half-way: the peer's setup frame, once it comes, must be taken
 * or the connection ends. The kernel gives lowest numbers first, so the
 * probe's copies come and go in slots the switch will use. */
#define SHM_HEADROOM 12

bool seam__shm_fds_room(int sock)
{
    int got[SHM_HEADROOM];
    int n = 0;
    while (n < SHM_HEADROOM && (got[n] = fcntl(sock, F_DUPFD_CLOEXEC, 0)) >= 0) {
        n++;
    }
    for (int i = 0; i < n; i++) {
        close(got[i]);
    }
    return n == SHM_HEADROOM;
}

/* Whether fd is one end of an AF_UNIX stream socket pair, as the channel
 * (room doorbell one way, descriptors the other) must be: a pipe or a datagram socket
 * there would never be drained by our socket reads and keep the loop
 * awake; one with no peer (unconnected, listening) is never rung and fails
 * every read; one with an address at either end is a connection to or
 * from a named socket, another process's, not the writer's pair. */
bool seam__shm_is_stream_socket(int fd)
{
    int v = 0;
    socklen_t len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_UNIX) {
        return false;
    }
    len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM) {
        return false;
    }
    struct sockaddr_storage peer;
    struct sockaddr_storage self;
    socklen_t plen = sizeof(peer);
    socklen_t slen = sizeof(self);
    return getpeername(fd, (struct sockaddr *)&peer, &plen) == 0 && plen == sizeof(sa_family_t) &&
           getsockname(fd, (struct sockaddr *)&self, &slen) == 0 && slen == sizeof(sa_family_t);
}

/* Whether fd is the read end of a pipe, as the data doorbell must be:
 * anything else would not be drained by our pipe reads. */
bool seam__shm_is_pipe_read_end(int fd)
{
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && fl >= 0 && (fl & O_ACCMODE) == O_RDONLY;
}
