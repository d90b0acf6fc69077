/* SPDX-License-Identifier: MIT */
/* shm_fds.h - the descriptors of the shared-memory setup (shm_fds.c). */
#ifndef SEAM_SHM_FDS_H
#define SEAM_SHM_FDS_H

#include "internal.h"

/* Whether the kernel reads a pipe with RWF_NOWAIT (the data doorbell is
 * read no other way). */
bool seam__shm_nowait_reads(void);
/* Whether the process has room for the descriptors a switch to shared
 * memory takes (probed with copies of sock, closed again). */
bool seam__shm_fds_room(int sock);
/* Our ring: a sealed memfd of SEAM__RING_HDR + cap bytes, mapped. */
int seam__shm_memfd(size_t cap, uint8_t **base, int *fd);
/* A non-blocking AF_UNIX stream socket pair. */
int seam__shm_socketpair(int *ours, int *theirs);
/* The peer's ring memfd checked (a regular file of exactly the size,
 * sealed against shrinking and growing) and mapped; SEAM_EPROTO if not,
 * SEAM_ENOMEM when we lack the memory to map it. */
int seam__shm_map_checked(int fd, uint64_t size, uint8_t **base);
/* What the channel (room doorbell, descriptors) must be: one end of an
 * AF_UNIX stream socket pair (connected, no address at either end). */
bool seam__shm_is_stream_socket(int fd);
/* What the data doorbell must be. */
bool seam__shm_is_pipe_read_end(int fd);

#endif /* SEAM_SHM_FDS_H */
