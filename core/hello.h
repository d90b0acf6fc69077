/* SPDX-License-Identifier: MIT */
/* hello.h - the handshake frame's contents (docs/protocol.md, "Handshake"). */
#ifndef SEAM_HELLO_H
#define SEAM_HELLO_H

#include "frame.h"

/* The smallest max_frame a peer may announce; every peer accepts at least
 * this much, so a hello always fits. */
#define SEAM__HELLO_MIN_FRAME 4096u

/* The largest hello payload, and the most descriptors per frame a hello
 * can ask for (larger announcements are read as this). */
#define SEAM__HELLO_MAX_PAYLOAD 4096u
#define SEAM__HELLO_MAX_FDS     64u

typedef struct seam__hello {
    uint64_t version;   /* highest protocol version spoken */
    uint64_t max_frame; /* largest payload the sender accepts */
    uint64_t max_fds;   /* most descriptors per frame the sender accepts */
    uint64_t shm;       /* the sender's outgoing ring size when it offers shared memory, else 0 */
    uint64_t memfd;     /* the shortest data the sender takes as a sealed memfd, else 0 */
} seam__hello;

/* The smallest "memfd" threshold a hello may announce: one page. */
#define SEAM__HELLO_MIN_MEMFD 4096u

/* Appends a complete hello frame (header and payload) to out. */
int seam__hello_write(const seam__hello *h, seam__buf *out);

/* Reads a hello payload. Unknown keys are ignored so later versions can add
 * some; a payload over 4096 bytes, a missing or zero "seam" key, or a
 * max_frame below the minimum, is SEAM_EHANDSHAKE; undecodable CBOR returns
 * the codec's error. A max_fds above 64 is read as 64. An "shm" key that
 * is not a ring size (a power of two, 4 KiB to 64 MiB), or a "memfd" key
 * that is not an unsigned integer of at least 4096, is SEAM_EHANDSHAKE. */
int seam__hello_read(const uint8_t *payload, size_t len, seam__hello *out);

#endif /* SEAM_HELLO_H */
