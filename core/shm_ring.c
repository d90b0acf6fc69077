/* SPDX-License-Identifier: MIT */
/* shm_ring.c - the shared ring's records and indices. Every value read
 * from the shared memory (the peer's index, a record's header) is read
 * once into a local, checked, and only the local is used; the bytes of a
 * record are copied out, never parsed in place.
 *
 * Ordering: the writer fills a record, then stores tail with release; the
 * reader loads tail with acquire, so the record's bytes are visible. The
 * reader copies a record out, then stores head with release; the writer
 * loads head with acquire before reusing the space. The sleep flags are
 * the two halves of a Dekker handshake: the side about to sleep stores
 * its flag, a seq_cst fence, then loads the index; the other side stores
 * the index, a seq_cst fence, then loads the flag. At least one of them
 * sees the other, so no wake-up is lost. */
#include "shm_ring.h"

#include <string.h>

#define RING_ALIGN 8u

static _Atomic uint64_t *ring_u64(const seam__ring *r, size_t off)
{
    return (_Atomic uint64_t *)(void *)(r->base + off);
}

static _Atomic uint32_t *ring_u32(const seam__ring *r, size_t off)
{
    return (_Atomic uint32_t *)(void *)(r->base + off);
}

static uint64_t ring_pad(uint64_t n)
{
    return (n + RING_ALIGN - 1) & ~(uint64_t)(RING_ALIGN - 1);
}

bool seam__ring_size_ok(uint64_t size)
{
    return size >= SEAM__RING_MIN && size <= SEAM__RING_MAX && (size & (size - 1)) == 0;
}

void seam__ring_init(seam__ring *r, uint8_t *base, size_t cap, bool init)
{
    memset(r, 0, sizeof(*r));
    r->base = base;
    r->cap = cap;
    if (init) {
        atomic_store_explicit(ring_u32(r, SEAM__RING_OFF_MAGIC), SEAM__RING_MAGIC,
                              memory_order_relaxed);
        atomic_store_explicit(ring_u32(r, SEAM__RING_OFF_MAGIC + 4), SEAM__RING_VERSION,
                              memory_order_relaxed);
        atomic_store_explicit(ring_u64(r, SEAM__RING_OFF_TAIL), 0, memory_order_relaxed);
        atomic_store_explicit(ring_u64(r, SEAM__RING_OFF_HEAD), 0, memory_order_relaxed);
        atomic_store_explicit(ring_u64(r, SEAM__RING_OFF_FDSTAKEN), 0, memory_order_relaxed);
        /* The reader starts asleep: it maps the ring after records may
         * have been written, and learns of them from the doorbell. */
        atomic_store_explicit(ring_u32(r, SEAM__RING_OFF_RWAIT), 1, memory_order_relaxed);
        atomic_store_explicit(ring_u32(r, SEAM__RING_OFF_WWAIT), 0, memory_order_release);
    }
}

bool seam__ring_magic_ok(const seam__ring *r)
{
    uint32_t magic = atomic_load_explicit(ring_u32(r, SEAM__RING_OFF_MAGIC), memory_order_relaxed);
    uint32_t version =
        atomic_load_explicit(ring_u32(r, SEAM__RING_OFF_MAGIC + 4), memory_order_relaxed);
    return magic == SEAM__RING_MAGIC && version == SEAM__RING_VERSION;
}

/* Copies n bytes between the ring at position at and flat memory, in two
 * pieces where they wrap. */
static void ring_copy_out(const seam__ring *r, uint64_t at, uint8_t *dst, size_t n)
{
    size_t off = (size_t)(at & (r->cap - 1));
    size_t first = n < r->cap - off ? n : r->cap - off;
    memcpy(dst, r->base + SEAM__RING_HDR + off, first);
    memcpy(dst + first, r->base + SEAM__RING_HDR, n - first);
}

static void ring_copy_in(seam__ring *r, uint64_t at, const uint8_t *src, size_t n)
{
    size_t off = (size_t)(at & (r->cap - 1));
    size_t first = n < r->cap - off ? n : r->cap - off;
    memcpy(r->base + SEAM__RING_HDR + off, src, first);
    memcpy(r->base + SEAM__RING_HDR, src + first, n - first);
}

ssize_t seam__ring_room(seam__ring *r)
{
    uint64_t head = atomic_load_explicit(ring_u64(r, SEAM__RING_OFF_HEAD), memory_order_acquire);
    if (head > r->pos || r->pos - head > r->cap || (head % RING_ALIGN) != 0) {
        return SEAM_EPROTO;
    }
    /* The reader's other index, checked with this one: a count above what
     * was sent is found before any record, not just one with descriptors. */
    uint64_t taken =
        atomic_load_explicit(ring_u64(r, SEAM__RING_OFF_FDSTAKEN), memory_order_acquire);
    if (taken > r->fds) {
        return SEAM_EPROTO;
    }
    uint64_t free_bytes = r->cap - (r->pos - head);
    if (free_bytes < SEAM__RING_REC_HDR + RING_ALIGN) {
        return 0;
    }
    /* The payload is padded: a record never leaves less than a header's
     * room unaligned. */
    uint64_t room = (free_bytes - SEAM__RING_REC_HDR) & ~(uint64_t)(RING_ALIGN - 1);
    return (ssize_t)(room > UINT32_MAX ? UINT32_MAX & ~(RING_ALIGN - 1) : room);
}

size_t seam__ring_write(seam__ring *r, const struct iovec *iov, size_t iovcnt, uint32_t nfds,
                        size_t room, bool *ring)
{
    uint64_t at = r->pos + SEAM__RING_REC_HDR;
    size_t n = 0;
    for (size_t i = 0; i < iovcnt && n < room; i++) {
        size_t take = iov[i].iov_len < room - n ? iov[i].iov_len : room - n;
        ring_copy_in(r, at + n, iov[i].iov_base, take);
        n += take;
    }
    /* Headers are 8-aligned and the size a power of two: never split. */
    uint64_t hdr = (uint64_t)n | ((uint64_t)nfds << 32);
    atomic_store_explicit(ring_u64(r, SEAM__RING_HDR + (size_t)(r->pos & (r->cap - 1))), hdr,
                          memory_order_relaxed);
    r->pos += SEAM__RING_REC_HDR + ring_pad(n);
    atomic_store_explicit(ring_u64(r, SEAM__RING_OFF_TAIL), r->pos, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    _Atomic uint32_t *rwait = ring_u32(r, SEAM__RING_OFF_RWAIT);
    *ring = atomic_load_explicit(rwait, memory_order_relaxed) != 0 &&
            atomic_exchange_explicit(rwait, 0, memory_order_relaxed) != 0;
    return n;
}

void seam__ring_writer_wait(seam__ring *r)
{
    atomic_store_explicit(ring_u32(r, SEAM__RING_OFF_WWAIT), 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
}

bool seam__ring_writer_arm(seam__ring *r)
{
    seam__ring_writer_wait(r);
    return seam__ring_room(r) != 0; /* an error shows at the next write */
}

static int ring_fds_check(seam__ring *r, size_t nfds)
{
    uint64_t taken =
        atomic_load_explicit(ring_u64(r, SEAM__RING_OFF_FDSTAKEN), memory_order_acquire);
    if (taken > r->fds) {
        return SEAM_EPROTO;
    }
    return r->fds - taken + nfds <= SEAM__RING_FDS_AHEAD ? 1 : 0;
}

int seam__ring_fds_room(seam__ring *r, size_t nfds)
{
    int ok = ring_fds_check(r, nfds);
    if (ok != 0) {
        return ok;
    }
    seam__ring_writer_wait(r);
    return ring_fds_check(r, nfds);
}

void seam__ring_fds_sent(seam__ring *r, size_t nfds)
{
    r->fds += nfds;
}

/* The writer may wait for what the reader just made free. */
static void ring_wake_writer(seam__ring *r, bool *ring)
{
    atomic_thread_fence(memory_order_seq_cst);
    _Atomic uint32_t *wwait = ring_u32(r, SEAM__RING_OFF_WWAIT);
    if (atomic_load_explicit(wwait, memory_order_relaxed) != 0 &&
        atomic_exchange_explicit(wwait, 0, memory_order_relaxed) != 0) {
        *ring = true;
    }
}

void seam__ring_fds_taken(seam__ring *r, size_t nfds, bool *ring)
{
    r->fds += nfds;
    atomic_store_explicit(ring_u64(r, SEAM__RING_OFF_FDSTAKEN), r->fds, memory_order_release);
    ring_wake_writer(r, ring);
}

/* Finishes the record being copied: the writer may reuse its space. */
static void ring_record_done(seam__ring *r, bool *ring)
{
    r->in_rec = false;
    r->pos += SEAM__RING_REC_HDR + ring_pad(r->rec_len);
    atomic_store_explicit(ring_u64(r, SEAM__RING_OFF_HEAD), r->pos, memory_order_release);
    ring_wake_writer(r, ring);
}

/* Reads the next record's header once. Returns 1 (a record begins), 0
 * (none published), or SEAM_EPROTO. */
static int ring_record_begin(seam__ring *r, uint32_t *nfds)
{
    uint64_t tail = atomic_load_explicit(ring_u64(r, SEAM__RING_OFF_TAIL), memory_order_acquire);
    if (tail < r->pos || tail - r->pos > r->cap || (tail % RING_ALIGN) != 0) {
        return SEAM_EPROTO;
    }
    if (tail == r->pos) {
        return 0;
    }
    uint64_t hdr = atomic_load_explicit(
        ring_u64(r, SEAM__RING_HDR + (size_t)(r->pos & (r->cap - 1))), memory_order_relaxed);
    uint32_t len = (uint32_t)hdr;
    uint32_t fds = (uint32_t)(hdr >> 32);
    if (len == 0 || fds > SEAM__RING_MAX_FDS ||
        SEAM__RING_REC_HDR + ring_pad(len) > tail - r->pos) {
        return SEAM_EPROTO;
    }
    r->in_rec = true;
    r->rec_len = len;
    r->rec_left = len;
    r->rec_at = r->pos + SEAM__RING_REC_HDR;
    *nfds = fds;
    return 1;
}

ssize_t seam__ring_read(seam__ring *r, void *buf, size_t len, uint32_t *nfds, bool *ring)
{
    uint8_t *out = buf;
    size_t got = 0;
    *nfds = 0;
    *ring = false;
    while (got < len) {
        if (!r->in_rec) {
            uint32_t fds = 0;
            int b = ring_record_begin(r, &fds);
            if (b < 0) {
                return b;
            }
            if (b == 0) {
                break;
            }
            if (fds > 0 && got > 0) {
                /* Its descriptors go with its first byte: next call. It is
                 * read again then, whatever the peer wrote meanwhile. */
                r->in_rec = false;
                break;
            }
            if (fds > 0) {
                *nfds = fds; /* not undone by the records without any after it */
            }
        }
        size_t n = r->rec_left < len - got ? r->rec_left : len - got;
        ring_copy_out(r, r->rec_at, out + got, n);
        got += n;
        r->rec_at += n;
        r->rec_left -= (uint32_t)n;
        if (r->rec_left == 0) {
            ring_record_done(r, ring);
        }
    }
    return got > 0 ? (ssize_t)got : SEAM_EAGAIN;
}

bool seam__ring_reader_arm(seam__ring *r)
{
    atomic_store_explicit(ring_u32(r, SEAM__RING_OFF_RWAIT), 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (r->in_rec) {
        return true;
    }
    uint64_t tail = atomic_load_explicit(ring_u64(r, SEAM__RING_OFF_TAIL), memory_order_acquire);
    return tail != r->pos; /* a bad index shows at the next read */
}

bool seam__ring_reader_disarm(seam__ring *r)
{
    _Atomic uint32_t *rwait = ring_u32(r, SEAM__RING_OFF_RWAIT);
    if (atomic_load_explicit(rwait, memory_order_relaxed) == 0) {
        return true;
    }
    atomic_store_explicit(rwait, 0, memory_order_relaxed);
    return false;
}
