/* SPDX-License-Identifier: MIT */
/* memfd.h - large payloads as sealed memfds: making one from bytes,
 * sealing one a sender filled itself, and checking and mapping one a peer
 * sent. Never installed; knows nothing of CBOR or of transports. */
#ifndef SEAM_MEMFD_H
#define SEAM_MEMFD_H

#include <stddef.h>
#include <stdint.h>

/* The seals a payload memfd must carry before a receiver maps it. */
#define SEAM__MEMFD_SEALS_REQUIRED 0x0Fu /* F_SEAL_SEAL, _SHRINK, _GROW, _WRITE */

/* A new close-on-exec memfd holding a copy of len bytes, sealed with the
 * required seals. Returns the fd, or a negative errno (-ENOSYS where the
 * system has no memfds). */
int seam__memfd_from_bytes(const void *bytes, size_t len);

/* Seals fd, a memfd its caller filled, with the required seals (those it
 * already has are kept), after checking it holds exactly len bytes.
 * Returns 0; -EBADF for a descriptor that is not a memfd allowing seals,
 * -EINVAL for a size other than len, -EBUSY where the write seal cannot be
 * added (a writable mapping of it is still alive), another -errno. */
int seam__memfd_seal(int fd, uint64_t len);

/* Checks fd, a memfd a peer sent, before anything of it is mapped: it
 * carries every required seal (F_GET_SEALS) and its size (fstat) is
 * exactly len. On success *out is a read-only shared mapping of its len
 * bytes (NULL for len 0) and 0 is returned; release it with
 * seam__memfd_unmap(). Else -EPERM (a seal missing, or not a sealable
 * memfd), -EINVAL (wrong size), or another -errno; nothing is mapped. A
 * mapping made after these checks cannot fault: the size is sealed. */
int seam__memfd_map(int fd, uint64_t len, const void **out);

void seam__memfd_unmap(const void *p, uint64_t len);

#endif
