/* SPDX-License-Identifier: MIT */
/* frame.h - the fixed frame header and an incremental parser for a byte
 * stream of frames (docs/protocol.md, "Frames"). Knows nothing of CBOR. */
#ifndef SEAM_FRAME_H
#define SEAM_FRAME_H

#include "internal.h"

#define SEAM__FRAME_HEADER_SIZE 16
#define SEAM__FRAME_MAX_FDS     64
#define SEAM__FRAME_DEFAULT_MAX (16u << 20)
#define SEAM__FRAME_RAW_ID_SIZE 4
/* A MEMFD payload: the raw id and the 64-bit length of the memfd's bytes. */
#define SEAM__FRAME_MEMFD_SIZE  12

typedef enum seam__frame_kind {
    SEAM__KIND_HELLO = 1,
    SEAM__KIND_MESSAGE = 2,
    SEAM__KIND_REQUEST = 3,
    SEAM__KIND_REPLY = 4,
    SEAM__KIND_ERROR = 5,
    SEAM__KIND_CANCEL = 6,
    SEAM__KIND_PING = 7,
    SEAM__KIND_PONG = 8,
    SEAM__KIND_GOODBYE = 9,
    SEAM__KIND_SUBSCRIBE = 10, /* retained publish/subscribe (pubsub.c) */
    SEAM__KIND_UNSUBSCRIBE = 11,
    SEAM__KIND_UPDATE = 12,
    SEAM__KIND_SHM_SETUP = 13, /* shared-memory rings: docs/protocol.md */
} seam__frame_kind;

/* The payload is a 32-bit message id and opaque bytes instead of CBOR. */
#define SEAM__FLAG_RAW   0x01u
/* A request: the caller accepts intermediate replies. A reply: one of
 * them, more follow (docs/protocol.md, "Streaming replies"). */
#define SEAM__FLAG_MORE  0x02u
/* With RAW only: the raw bytes are the frame's first descriptor, a sealed
 * memfd; the payload says their length (docs/protocol.md, "Raw bytes in a
 * sealed memfd"). */
#define SEAM__FLAG_MEMFD 0x04u

typedef struct seam__frame_header {
    uint32_t len; /* payload bytes after the header */
    uint8_t kind;
    uint8_t flags;
    uint16_t nfds;
    uint64_t id;
} seam__frame_header;

typedef struct seam__frame {
    seam__frame_header h;
    const uint8_t *payload; /* h.len bytes, borrowed until the next parse */
} seam__frame;

void seam__frame_header_write(uint8_t out[SEAM__FRAME_HEADER_SIZE], const seam__frame_header *h);
void seam__frame_header_read(const uint8_t in[SEAM__FRAME_HEADER_SIZE], seam__frame_header *h);

/* Checks a header against the rules of its kind and the payload limit.
 * Returns 0 or SEAM_EFRAMEKIND / EFRAMEFLAGS / EFRAMEFDS / EFRAMEID /
 * EFRAMELEN / EMSGSIZE. */
int seam__frame_header_check(const seam__frame_header *h, uint32_t max_payload);

typedef struct seam__frame_parser {
    uint32_t max_payload;
    /* While non-zero, a frame longer than this fails with SEAM_EHANDSHAKE
     * once its header is read (the first frame must be a hello of at most
     * this much): not collected up to max_payload first. */
    uint32_t hello_max;
    int error; /* sticky: a stream that went wrong stays wrong */
    size_t hdr_have;
    uint8_t hdr[SEAM__FRAME_HEADER_SIZE];
    bool in_payload;
    seam__frame_header cur;
    uint8_t *buf; /* payload collected across reads */
    size_t buf_cap;
    size_t buf_have;
} seam__frame_parser;

void seam__frame_parser_init(seam__frame_parser *p, uint32_t max_payload);
void seam__frame_parser_free(seam__frame_parser *p);

/* Takes bytes from *data and *len (advancing both) until one frame is complete.
 * Returns 1 with *out set (its payload points into the input when the frame
 * was whole there, else into the parser; valid until the next call), 0 when
 * the input is used up mid-frame, or a negative code, after which the parser
 * refuses all further input. Memory for a payload grows with the bytes that
 * actually arrive, never with what a header claims. */
int seam__frame_parser_next(seam__frame_parser *p, const uint8_t **data, size_t *len,
                            seam__frame *out);

/* While a payload of which at least min_direct bytes are still due is being
 * collected: where to read more of it straight from the socket, saving a
 * copy, and how much (*room, never past the frame). NULL otherwise. Call
 * seam__frame_parser_direct_done() with what was read, then
 * seam__frame_parser_next() with no input to collect a completed frame.
 * Memory grows with the bytes that arrived, as when they are fed. */
uint8_t *seam__frame_parser_direct(seam__frame_parser *p, size_t min_direct, size_t *room);
void seam__frame_parser_direct_done(seam__frame_parser *p, size_t n);

/* True between frames: no partial header or payload is held. */
bool seam__frame_parser_idle(const seam__frame_parser *p);

#endif /* SEAM_FRAME_H */
