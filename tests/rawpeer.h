/* SPDX-License-Identifier: MIT */
/* rawpeer.h - a peer that is not seam: frames written and read by hand
 * (docs/protocol.md) over a real Unix socket, so that tests can send what
 * no seam encoder would and see exactly what a seam peer answers. Nothing
 * here asserts; every function reports failure to its caller, so it runs
 * in forked children as well as under CMocka. */
#ifndef SEAM_TEST_RAWPEER_H
#define SEAM_TEST_RAWPEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

/* Frame kinds (docs/protocol.md, "Frames"). */
#define RAWPEER_HELLO   1
#define RAWPEER_MESSAGE 2
#define RAWPEER_REQUEST 3
#define RAWPEER_REPLY   4
#define RAWPEER_ERROR   5
#define RAWPEER_PING    7
#define RAWPEER_PONG    8
#define RAWPEER_BYE     9

/* The hello of the protocol's worked example: version 1, max_frame 16 MiB,
 * max_fds 64. */
extern const uint8_t rawpeer_hello[48];

/* Writes a 16-byte frame header. */
void rawpeer_put_header(uint8_t out[16], uint32_t len, uint8_t kind, uint8_t flags, uint16_t nfds,
                        uint64_t id);
/* A little-endian u32 at p: a header's payload length when p is the
 * header. */
uint32_t rawpeer_get_u32(const uint8_t *p);
/* A header's frame id. */
uint64_t rawpeer_get_id(const uint8_t hdr[16]);

/* A hello announcing version 1, max_frame and 64 descriptors (48 bytes). */
void rawpeer_make_hello(uint8_t out[48], uint32_t max_frame);

/* The address of name's socket; false if it has none or it is too long. */
bool rawpeer_name_addr(const char *name, struct sockaddr_un *addr);
/* A blocking socket connected to name, or -1. */
int rawpeer_connect(const char *name);
/* A socket listening on name's path (a stale socket there removed), as a
 * server that is not seam, or -1. */
int rawpeer_listen(const char *name);
/* Connects to name, says rawpeer_hello and reads the server's hello;
 * the socket, or -1. */
int rawpeer_handshake(const char *name);

/* Reads one frame: its header into hdr and up to cap bytes of its payload
 * into buf (buf may be NULL when cap is 0; the rest is discarded).
 * Returns the payload length, or -1 if the connection ended first or
 * timeout_ms passed. */
long rawpeer_read_frame(int fd, uint8_t hdr[16], uint8_t *buf, size_t cap, int timeout_ms);
/* Reads and discards until the peer hangs up; false if it does not before
 * timeout_ms. A reset counts as hanging up. */
bool rawpeer_wait_closed(int fd, int timeout_ms);

/* Sends bytes in one sendmsg with nfds (at most 64) descriptors attached;
 * false unless all of bytes went. */
bool rawpeer_send_with_fds(int fd, const void *bytes, size_t len, const int *fds, size_t nfds);

/* The "code" of a goodbye or error payload, 0 if it has none. */
int rawpeer_payload_code(const uint8_t *bytes, size_t len);
/* Reads until the peer hangs up (or timeout_ms passes with nothing to
 * read); the code of the last goodbye that came, 0 if none did. */
int rawpeer_goodbye_code(int fd, int timeout_ms);

#endif /* SEAM_TEST_RAWPEER_H */
