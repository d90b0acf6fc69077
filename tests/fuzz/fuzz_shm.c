/* SPDX-License-Identifier: MIT */
/* fuzz_shm.c - a shared ring read by us while a hostile peer writes
 * anything anywhere in it: the input is a script of the peer's stores (to
 * the indices, the sleep flags, record headers, the data) between our
 * reads and writes. Every read must return what it may (bytes within the
 * buffer, SEAM_EAGAIN, or SEAM_EPROTO, after which the connection would
 * end) and never touch memory outside the ring. */
#include "shm_ring.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP SEAM__RING_MIN

static uint64_t take(const uint8_t **data, size_t *size, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i<n && * size> 0; i++) {
        v |= (uint64_t) * *data << (8 * i);
        (*data)++;
        (*size)--;
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t mem[SEAM__RING_HDR + CAP] __attribute__((aligned(64)));
    memset(mem, 0, sizeof(mem));
    seam__ring w;
    seam__ring r;
    seam__ring_init(&w, mem, CAP, true);
    seam__ring_init(&r, mem, CAP, false);
    static uint8_t buf[2 * CAP];
    bool dead_r = false;
    bool dead_w = false;
    while (size > 0 && !(dead_r && dead_w)) {
        uint8_t op = (uint8_t)take(&data, &size, 1);
        switch (op % 4) {
        case 0: { /* the peer stores 8 bytes at an 8-aligned offset */
            size_t off = (size_t)(take(&data, &size, 2) * 8) % sizeof(mem);
            uint64_t v = take(&data, &size, 8);
            atomic_store_explicit((_Atomic uint64_t *)(void *)(mem + off), v, memory_order_relaxed);
            break;
        }
        case 1: { /* we read */
            if (dead_r) {
                break;
            }
            size_t len = 1 + (size_t)take(&data, &size, 2) % sizeof(buf);
            uint32_t nfds = 0;
            bool ring = false;
            ssize_t n = seam__ring_read(&r, buf, len, &nfds, &ring);
            if (n == SEAM_EPROTO) {
                dead_r = true;
            } else if (n != SEAM_EAGAIN &&
                       (n <= 0 || (size_t)n > len || nfds > SEAM__RING_MAX_FDS)) {
                abort();
            }
            (void)seam__ring_reader_arm(&r);
            break;
        }
        case 2: { /* we write */
            if (dead_w) {
                break;
            }
            ssize_t room = seam__ring_room(&w);
            if (room == SEAM_EPROTO) {
                dead_w = true;
                break;
            }
            if (room <= 0 || (size_t)room > CAP) {
                if (room > (ssize_t)CAP) {
                    abort();
                }
                (void)seam__ring_writer_arm(&w);
                break;
            }
            struct iovec iov = {buf, 1 + (size_t)take(&data, &size, 2) % sizeof(buf)};
            bool ring = false;
            size_t n = seam__ring_write(&w, &iov, 1, (uint32_t)(op >> 2) % 3, (size_t)room, &ring);
            if (n == 0 || n > (size_t)room) {
                abort();
            }
            break;
        }
        default: { /* the peer takes descriptors it never got */
            bool ring = false;
            seam__ring_fds_taken(&r, (size_t)take(&data, &size, 1), &ring);
            if (!dead_w && seam__ring_fds_room(&w, 1) == SEAM_EPROTO) {
                dead_w = true;
            }
            break;
        }
        }
    }
    return 0;
}
