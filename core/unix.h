/* SPDX-License-Identifier: MIT */
/* unix.h - the Unix transport's socket primitives (tran_unix.c is its ops
 * table, names.c its names): connect, listen, accept, non-blocking send
 * and receive with descriptors, peer credentials. Knows nothing of frames. Every function returns a
 * negative SEAM_E* or errno code on failure. */
#ifndef SEAM_UNIX_H
#define SEAM_UNIX_H

#include "internal.h"

#include <sys/types.h>
#include <sys/uio.h>

/* Most descriptors one receive can carry (the kernel's SCM_MAX_FD). */
#define SEAM__UNIX_MAX_RECV_FDS 253

/* Listens at leaf in the directory open as dir_fd (path is the socket's
 * full path, used only where /proc is missing), which must be free
 * (SEAM_EEXIST if anything appeared there), with the socket file's
 * permission bits set to mode (0: the umask's); *dev and *ino receive the
 * socket file's inode. */
int seam__unix_listen(int dir_fd, const char *path, const char *leaf, unsigned mode, int *fd,
                      dev_t *dev, ino_t *ino);
/* Whether fd is a listening AF_UNIX stream socket: 0 with the path it is
 * bound to in path ("" for an unnamed or abstract one), SEAM_EBADF if it
 * is not (closed, not a socket, another family or type, not listening). */
int seam__unix_listening(int fd, char *path, size_t len);
/* Whether a socket at leaf in dir_fd takes connections: 1 if a connect
 * succeeds or finds its backlog full, 0 if it is refused (nobody listens)
 * or nothing is there, or a negative code. */
int seam__unix_alive_at(int dir_fd, const char *path, const char *leaf);
/* SEAM_ENOTFOUND when nobody listens at path, SEAM_EAGAIN when its backlog
 * is full, SEAM_EPERM when the kernel refuses the connect (the socket's or
 * a directory's permission bits). */
int seam__unix_connect(const char *path, int *fd);
/* Returns 1 with *fd set, 0 when no connection is waiting. */
int seam__unix_accept(int lfd, int *fd);
int seam__unix_creds(int fd, bool want_pidfd, seam_creds *out);
/* A pidfd for the process that connected fd's peer end (the kernel keeps
 * it from connect time), or -1 where the kernel has none. */
int seam__unix_peer_pidfd(int fd);
/* The supplementary groups of fd's peer from connect time (SO_PEERGROUPS),
 * in a malloc'd array the caller frees. */
int seam__unix_peer_groups(int fd, uint32_t **gids, size_t *n);
/* Sends up to len bytes, with fds (if nfds > 0) attached to the first byte.
 * Returns the bytes taken (never 0 for len > 0) or a negative code;
 * SEAM_EAGAIN when the socket is full. Never raises SIGPIPE. */
ssize_t seam__unix_send(int fd, const void *buf, size_t len, const int *fds, size_t nfds);
/* The same from several buffers in one system call. */
ssize_t seam__unix_sendv(int fd, const struct iovec *iov, size_t iovcnt, const int *fds,
                         size_t nfds);
/* Receives up to len bytes; descriptors that arrive are appended to
 * fds[*nfds..max_fds) (the rest are closed and *truncated set). Returns the
 * bytes read, 0 at end of stream, or a negative code (SEAM_EAGAIN when
 * nothing is there). */
ssize_t seam__unix_recv(int fd, void *buf, size_t len, int *fds, size_t max_fds, size_t *nfds,
                        bool *truncated);

/* ---- anonymous endpoints (unix_endpoint.c) ---- */

/* The one byte a rendezvous datagram carries with its descriptor. */
#define SEAM__UNIX_RENDEZVOUS_VERSION 1
/* Invalid datagrams one take() drops before it lets the loop go on. */
#define SEAM__UNIX_RENDEZVOUS_DROPS   64

/* A rendezvous socket pair: *listen_fd (non-blocking, read only) for the
 * listener, *endpoint_fd to hand out. */
int seam__unix_rendezvous_pair(int *listen_fd, int *endpoint_fd);
/* Takes one waiting connect: 1 with *fd (a non-blocking AF_UNIX stream
 * socket), 0 when none waits; datagrams that are not valid connects are
 * dropped (their descriptors closed) and counted in *dropped. */
int seam__unix_rendezvous_take(int lfd, int *fd, size_t *dropped);
/* Connects through the endpoint: 0 with *fd, SEAM_ENOTFOUND when its
 * listener is gone, SEAM_EAGAIN when its queue is full, SEAM_ENOTENDPOINT
 * when endpoint_fd is no rendezvous socket. */
int seam__unix_rendezvous_dial(int endpoint_fd, int *fd);

#endif /* SEAM_UNIX_H */
