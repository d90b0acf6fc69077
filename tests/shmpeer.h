/* SPDX-License-Identifier: MIT */
/* shmpeer.h - a peer that is not seam and moves to shared memory
 * (docs/protocol.md, "Shared memory"): it says a hello offering a ring,
 * sends its setup frame, takes the server's, and then reads the server's
 * ring and writes its own by hand, so that tests can scribble on what a
 * seam reader trusts nothing of. Nothing here asserts; it runs in forked
 * children. */
#ifndef SEAM_TEST_SHMPEER_H
#define SEAM_TEST_SHMPEER_H

#include "shm_ring.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A setup frame's descriptors: the ring, the data doorbell, the channel. */
#define SHMPEER_SETUP_FDS 3

typedef struct shmpeer {
    int sock;
    /* Our ring, which the server reads: mapped here, ours to scribble on. */
    uint8_t *out_mem;
    size_t out_cap;
    seam__ring out;
    int out_bell;      /* we ring the server's reader: a pipe's write end */
    int out_bell_hold; /* its read end, held: ringing never raises SIGPIPE */
    int out_chan;      /* the server rings us for room; our descriptors go out */
    /* The server's ring, which we read. */
    uint8_t *in_mem;
    size_t in_cap;
    seam__ring in;
    int in_bell;
    int in_chan;
    /* Ring bytes read and not yet taken as frames. */
    uint8_t buf[4096];
    size_t have;
} shmpeer;

/* Connects to name, offers a ring of ring_size bytes, sends its setup and
 * takes the server's; false if any step failed (p is then freed). */
bool shmpeer_connect(shmpeer *p, const char *name, uint32_t ring_size);
/* As shmpeer_connect, with tamper (if not NULL) called on the
 * descriptors of our setup frame before they are sent: it may close one
 * and put another in its place. */
bool shmpeer_connect_tampered(shmpeer *p, const char *name, uint32_t ring_size,
                              void (*tamper)(int give[SHMPEER_SETUP_FDS], void *arg), void *arg);
/* As shmpeer_connect, the hello and the setup frame in one sendmsg that
 * carries the setup's descriptors (which thus come with the hello's first
 * byte, not the setup's). */
bool shmpeer_connect_joined(shmpeer *p, const char *name, uint32_t ring_size);
void shmpeer_free(shmpeer *p);
/* The descriptors of a well-formed setup frame for a fresh ring of
 * ring_size bytes (the ends we would keep are closed); false if one could
 * not be made. */
bool shmpeer_setup_fds(uint32_t ring_size, int give[SHMPEER_SETUP_FDS]);

/* Our ring's shared field at off (SEAM__RING_OFF_*), for scribbling. */
void shmpeer_poke_u64(shmpeer *p, size_t off, uint64_t v);
void shmpeer_poke_u32(shmpeer *p, size_t off, uint32_t v);
/* Rings the server's data doorbell, whether or not it sleeps. */
void shmpeer_ring(shmpeer *p);

/* Writes bytes (a whole frame or any part) as one record into our ring
 * and rings when the server sleeps; false when the ring has no room. */
bool shmpeer_send(shmpeer *p, const void *bytes, size_t len);

/* As shmpeer_send, the record carrying nfds descriptors: they go over the
 * descriptor channel with one byte before the record is published. */
bool shmpeer_send_fds(shmpeer *p, const void *bytes, size_t len, const int *fds, size_t nfds);

/* Reads one frame from the server's ring as rawpeer_read_frame does:
 * the payload length, or -1 when none came within timeout_ms, the ring
 * broke the rules, or the server hung up with nothing more published. */
long shmpeer_read_frame(shmpeer *p, uint8_t hdr[16], uint8_t *buf, size_t cap, int timeout_ms);

/* Reads the server's ring until it hangs up (or timeout_ms passes): the
 * code of the goodbye that came, 0 if none did. */
int shmpeer_goodbye_code(shmpeer *p, int timeout_ms);

#endif /* SEAM_TEST_SHMPEER_H */
