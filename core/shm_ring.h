/* SPDX-License-Identifier: MIT */
/* shm_ring.h - one direction of the shared-memory transport: a
 * single-producer single-consumer ring of records in memory the peer also
 * maps and may scribble on at any time (docs/protocol.md, "Shared-memory
 * rings"). Knows nothing of sockets or frames. */
#ifndef SEAM_SHM_RING_H
#define SEAM_SHM_RING_H

#include "internal.h"

#include <stdatomic.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The header page before the data area, and where its fields lie. */
#define SEAM__RING_HDR          4096u
#define SEAM__RING_OFF_MAGIC    0u          /* u32 "SEAM" ring magic, u32 layout version */
#define SEAM__RING_OFF_TAIL     64u         /* u64, written by the writer */
#define SEAM__RING_OFF_RWAIT    128u        /* u32, reader about to sleep */
#define SEAM__RING_OFF_HEAD     192u        /* u64, written by the reader */
#define SEAM__RING_OFF_WWAIT    256u        /* u32, writer waiting for room */
#define SEAM__RING_OFF_FDSTAKEN 320u        /* u64, descriptors the reader took */
#define SEAM__RING_FDS_AHEAD    256u        /* descriptors sent and not yet taken, at most */
#define SEAM__RING_MAGIC        0x4d414553u /* "SEAM" little-endian */
#define SEAM__RING_VERSION      1u
#define SEAM__RING_REC_HDR      8u /* u32 length, u32 descriptors */
#define SEAM__RING_MIN          4096u
#define SEAM__RING_MAX          (64u << 20)
#define SEAM__RING_DEFAULT      (256u << 10)
#define SEAM__RING_MAX_FDS      64u /* per record, as per frame */

typedef struct seam__ring {
    uint8_t *base; /* the mapping: header page, then cap data bytes */
    size_t cap;    /* a power of two in [SEAM__RING_MIN, SEAM__RING_MAX] */
    uint64_t pos;  /* ours alone: the writer's tail or the reader's head */
    /* Reader: the record being copied out (its header read once). */
    uint64_t rec_at;   /* ring position of its next byte */
    uint32_t rec_left; /* bytes of it not yet copied */
    uint32_t rec_len;
    bool in_rec;
    uint64_t fds; /* ours alone: descriptors sent (writer) or taken (reader) */
} seam__ring;

/* Whether size is a ring size a hello may announce. */
bool seam__ring_size_ok(uint64_t size);

/* Starts a ring over base (SEAM__RING_HDR + cap bytes). init: we create
 * it (the writer), so the header is written. */
void seam__ring_init(seam__ring *r, uint8_t *base, size_t cap, bool init);

/* Whether the header's magic and version are ours (read once). */
bool seam__ring_magic_ok(const seam__ring *r);

/* Writer. Free bytes for one record's payload now (0: full), or
 * SEAM_EPROTO when the reader's head or fds_taken makes no sense. */
ssize_t seam__ring_room(seam__ring *r);
/* Writes one record of up to room bytes from iov (at least 1: call after
 * seam__ring_room said so) carrying nfds. Returns the bytes taken; *ring
 * is set when the reader said it was about to sleep. */
size_t seam__ring_write(seam__ring *r, const struct iovec *iov, size_t iovcnt, uint32_t nfds,
                        size_t room, bool *ring);
/* Publishes that the writer waits (for room, or for the reader to take
 * descriptors), with the fence after it: what it looks at next is seen by
 * a reader that missed the flag. */
void seam__ring_writer_wait(seam__ring *r);
/* Publishes that the writer waits for room, then looks again: true when
 * there is room now (the flag stays set; the reader may ring anyway). */
bool seam__ring_writer_arm(seam__ring *r);

/* Writer: whether nfds more descriptors may be sent ahead of their
 * record (at most SEAM__RING_FDS_AHEAD untaken): 1, 0 (wait: the flag that
 * asks for a ring is set), or SEAM_EPROTO for a count that makes no sense.
 * seam__ring_fds_sent counts them once sent. */
int seam__ring_fds_room(seam__ring *r, size_t nfds);
void seam__ring_fds_sent(seam__ring *r, size_t nfds);

/* Reader: nfds descriptors were taken; *ring when the writer waits. */
void seam__ring_fds_taken(seam__ring *r, size_t nfds, bool *ring);

/* Reader. Copies up to len bytes of the records published, starting a
 * record with descriptors only at the start of a call (*nfds says how
 * many it carries, else 0) and stopping before the next one with any.
 * Returns the bytes copied, SEAM_EAGAIN when none is published, or
 * SEAM_EPROTO when an index or a length read from the ring breaks the
 * rules. *ring is set when the writer waits for the room made. */
ssize_t seam__ring_read(seam__ring *r, void *buf, size_t len, uint32_t *nfds, bool *ring);
/* Publishes that the reader is about to sleep, then looks again: true when
 * a record was published meanwhile. */
bool seam__ring_reader_arm(seam__ring *r);
/* The reader is awake: the writer need not ring. True when the flag was
 * clear already: a writer took it, so it rang (or is about to). */
bool seam__ring_reader_disarm(seam__ring *r);

#endif /* SEAM_SHM_RING_H */
