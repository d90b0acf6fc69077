/* SPDX-License-Identifier: MIT */
/* frame.c - frame header encoding, per-kind checks, and the incremental
 * stream parser. */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

#define KEEP_BUFFER_MAX (256u << 10)

static inline void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void seam__frame_header_write(uint8_t out[SEAM__FRAME_HEADER_SIZE], const seam__frame_header *h)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* The wire is little-endian: whole-word copies, not byte shifts. */
    uint32_t len = h->len;
    uint16_t nfds = h->nfds;
    uint64_t id = h->id;
    memcpy(out, &len, 4);
    out[4] = h->kind;
    out[5] = h->flags;
    memcpy(out + 6, &nfds, 2);
    memcpy(out + 8, &id, 8);
#else
    put_le32(out, h->len);
    out[4] = h->kind;
    out[5] = h->flags;
    out[6] = (uint8_t)h->nfds;
    out[7] = (uint8_t)(h->nfds >> 8);
    put_le32(out + 8, (uint32_t)h->id);
    put_le32(out + 12, (uint32_t)(h->id >> 32));
#endif
}

void seam__frame_header_read(const uint8_t in[SEAM__FRAME_HEADER_SIZE], seam__frame_header *h)
{
    h->len = get_le32(in);
    h->kind = in[4];
    h->flags = in[5];
    h->nfds = (uint16_t)(in[6] | in[7] << 8);
    h->id = (uint64_t)get_le32(in + 8) | (uint64_t)get_le32(in + 12) << 32;
}

typedef enum id_rule { ID_ZERO, ID_NONZERO, ID_ANY } id_rule;

typedef struct kind_rule {
    uint8_t flags; /* flags allowed */
    bool fds;      /* may carry descriptors */
    id_rule id;
    uint32_t min_len; /* without the raw flag */
    bool empty;       /* payload must be empty */
} kind_rule;

static const kind_rule rules[] = {
    [SEAM__KIND_HELLO] = {0, false, ID_ZERO, 1, false},
    [SEAM__KIND_MESSAGE] = {SEAM__FLAG_RAW | SEAM__FLAG_MEMFD, true, ID_ZERO, 1, false},
    [SEAM__KIND_REQUEST] = {SEAM__FLAG_RAW | SEAM__FLAG_MORE | SEAM__FLAG_MEMFD, true, ID_NONZERO,
                            1, false},
    [SEAM__KIND_REPLY] = {SEAM__FLAG_RAW | SEAM__FLAG_MORE | SEAM__FLAG_MEMFD, true, ID_NONZERO, 1,
                          false},
    [SEAM__KIND_ERROR] = {0, false, ID_NONZERO, 1, false},
    [SEAM__KIND_CANCEL] = {0, false, ID_NONZERO, 0, true},
    [SEAM__KIND_PING] = {0, false, ID_ANY, 0, true},
    [SEAM__KIND_PONG] = {0, false, ID_ANY, 0, true},
    [SEAM__KIND_GOODBYE] = {0, false, ID_ZERO, 0, false},
    [SEAM__KIND_SUBSCRIBE] = {0, false, ID_NONZERO, 1, false},
    [SEAM__KIND_UNSUBSCRIBE] = {0, false, ID_NONZERO, 0, true},
    [SEAM__KIND_UPDATE] = {0, false, ID_NONZERO, 1, false},
    [SEAM__KIND_SHM_SETUP] = {0, true, ID_ZERO, 0, true},
};

int seam__frame_header_check(const seam__frame_header *h, uint32_t max_payload)
{
    if (h->kind < SEAM__KIND_HELLO || h->kind > SEAM__KIND_SHM_SETUP) {
        return SEAM_EFRAMEKIND;
    }
    const kind_rule *r = &rules[h->kind];
    bool memfd = (h->flags & SEAM__FLAG_MEMFD) != 0;
    if ((h->flags & ~r->flags) != 0 || (memfd && (h->flags & SEAM__FLAG_RAW) == 0)) {
        return SEAM_EFRAMEFLAGS;
    }
    if ((h->nfds > 0 && (!r->fds || h->nfds > SEAM__FRAME_MAX_FDS)) || (memfd && h->nfds == 0)) {
        return SEAM_EFRAMEFDS;
    }
    if ((r->id == ID_ZERO && h->id != 0) || (r->id == ID_NONZERO && h->id == 0)) {
        return SEAM_EFRAMEID;
    }
    if (h->len > max_payload) {
        return SEAM_EMSGSIZE;
    }
    uint32_t min = (h->flags & SEAM__FLAG_RAW) ? SEAM__FRAME_RAW_ID_SIZE : r->min_len;
    if (h->len < min || (r->empty && h->len != 0) || (memfd && h->len != SEAM__FRAME_MEMFD_SIZE)) {
        return SEAM_EFRAMELEN;
    }
    return 0;
}

void seam__frame_parser_init(seam__frame_parser *p, uint32_t max_payload)
{
    memset(p, 0, sizeof(*p));
    p->max_payload = max_payload;
}

void seam__frame_parser_free(seam__frame_parser *p)
{
    free(p->buf);
    p->buf = NULL;
    p->buf_cap = 0;
}

bool seam__frame_parser_idle(const seam__frame_parser *p)
{
    return p->hdr_have == 0 && !p->in_payload;
}

static int parser_fail(seam__frame_parser *p, int err)
{
    p->error = err;
    return err;
}

/* Grows the payload buffer for `more` newly arrived bytes, at least doubling
 * so that a large frame costs few reallocations, never past the frame. */
static int payload_reserve(seam__frame_parser *p, size_t more)
{
    size_t need = p->buf_have + more;
    if (need <= p->buf_cap) {
        return 0;
    }
    size_t cap = p->buf_cap * 2;
    if (cap < need) {
        cap = need;
    }
    if (cap < 4096) {
        cap = 4096;
    }
    if (cap > p->cur.len) {
        cap = p->cur.len;
    }
    uint8_t *buf = realloc(p->buf, cap);
    if (buf == NULL) {
        return SEAM_ENOMEM;
    }
    p->buf = buf;
    p->buf_cap = cap;
    return 0;
}

int seam__frame_parser_next(seam__frame_parser *p, const uint8_t **data, size_t *len,
                            seam__frame *out)
{
    if (p->error != 0) {
        return p->error;
    }
    if (!p->in_payload) {
        /* Fast path: a whole header (and maybe payload) in the input. */
        if (p->hdr_have == 0 && *len >= SEAM__FRAME_HEADER_SIZE) {
            seam__frame_header_read(*data, &p->cur);
            *data += SEAM__FRAME_HEADER_SIZE;
            *len -= SEAM__FRAME_HEADER_SIZE;
        } else {
            size_t take = SEAM__FRAME_HEADER_SIZE - p->hdr_have;
            if (take > *len) {
                take = *len;
            }
            memcpy(p->hdr + p->hdr_have, *data, take);
            p->hdr_have += take;
            *data += take;
            *len -= take;
            if (p->hdr_have < SEAM__FRAME_HEADER_SIZE) {
                return 0;
            }
            seam__frame_header_read(p->hdr, &p->cur);
            p->hdr_have = 0;
        }
        int r = seam__frame_header_check(&p->cur, p->max_payload);
        if (r == 0 && p->hello_max != 0 && p->cur.len > p->hello_max) {
            r = SEAM_EHANDSHAKE;
        }
        if (r < 0) {
            return parser_fail(p, r);
        }
        p->in_payload = true;
        p->buf_have = 0;
        if (p->buf_cap > KEEP_BUFFER_MAX && p->cur.len < p->buf_cap / 4) {
            /* One large frame should not pin its memory for the stream's
             * life; a stream of large frames reuses it. */
            seam__frame_parser_free(p);
        }
        if (*len >= p->cur.len) {
            out->h = p->cur;
            out->payload = *data;
            *data += p->cur.len;
            *len -= p->cur.len;
            p->in_payload = false;
            return 1;
        }
    }
    size_t want = p->cur.len - p->buf_have;
    size_t take = want < *len ? want : *len;
    if (take > 0) {
        int r = payload_reserve(p, take);
        if (r < 0) {
            return parser_fail(p, r);
        }
        memcpy(p->buf + p->buf_have, *data, take);
        p->buf_have += take;
        *data += take;
        *len -= take;
    }
    if (p->buf_have < p->cur.len) {
        return 0;
    }
    out->h = p->cur;
    out->payload = p->buf;
    p->in_payload = false;
    return 1;
}

uint8_t *seam__frame_parser_direct(seam__frame_parser *p, size_t min_direct, size_t *room)
{
    if (p->error != 0 || !p->in_payload) {
        return NULL;
    }
    size_t left = p->cur.len - p->buf_have;
    if (left < min_direct) {
        return NULL;
    }
    /* Grow as payload_reserve does for fed bytes: by what has arrived,
     * never by what the header claims. */
    size_t more = p->buf_have > min_direct ? p->buf_have : min_direct;
    if (payload_reserve(p, more < left ? more : left) < 0) {
        return NULL; /* the fed path reports the failure */
    }
    size_t space = p->buf_cap - p->buf_have;
    *room = space < left ? space : left;
    return p->buf + p->buf_have;
}

void seam__frame_parser_direct_done(seam__frame_parser *p, size_t n)
{
    p->buf_have += n;
}
