/* SPDX-License-Identifier: MIT */
/* shm.h - the shared-memory data path a Unix pipe switches to once both
 * hellos offered it (docs/protocol.md, "Shared memory"): a ring, a
 * doorbell pipe and a channel socket pair each way, and one epoll
 * descriptor the adapter watches holding the socket (for its hang-up) and
 * the doorbells. */
#ifndef SEAM_SHM_H
#define SEAM_SHM_H

#include "shm_ring.h"
#include "tran.h"

/* Descriptors a setup frame carries: the ring's memfd, the reader's ends
 * of the data doorbell and of the channel (room doorbell one way, the
 * records' descriptors the other). */
#define SEAM__SHM_SETUP_FDS SEAM__TRAN_SHM_FDS

typedef struct seam__shm seam__shm;

/* The data path over sock, or NULL (*out) when SEAM_NO_SHM=1 is set or
 * the process is short of descriptors: the pipe then stays a plain
 * socket. */
int seam__shm_new(int sock, seam__shm **out);
void seam__shm_free(seam__shm *s);
int seam__shm_fd(const seam__shm *s);
/* The ring size our hello offers, from the size wanted (0: the default),
 * and the size of the ring seam__shm_start() makes. */
uint64_t seam__shm_offer(seam__shm *s, uint64_t want);
unsigned seam__shm_watch_events(seam__shm *s, unsigned want);
int seam__shm_start(seam__shm *s, int fds[SEAM__SHM_SETUP_FDS]);
void seam__shm_switch_send(seam__shm *s, size_t after);
int seam__shm_attach(seam__shm *s, const int *fds, size_t nfds, uint64_t size);
ssize_t seam__shm_sendv(seam__shm *s, const struct iovec *iov, size_t iovcnt, const int *fds,
                        size_t nfds);
ssize_t seam__shm_recv(seam__shm *s, void *buf, size_t len, int *fds, size_t max_fds, size_t *nfds,
                       bool *truncated);
int seam__shm_wait(seam__shm *s, unsigned events, int timeout_ms);
/* Whether the data flows over the rings: bit 0 out, bit 1 in (tests). */
unsigned seam__shm_active(const seam__shm *s);

#endif /* SEAM_SHM_H */
