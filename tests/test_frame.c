/* SPDX-License-Identifier: MIT */
/* test_frame.c - the frame header's bytes, the rules of every kind, and the
 * incremental parser: however a stream is cut up, the same frames come out,
 * and a bad header ends the stream for good. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"

#define MAX      SEAM__FRAME_DEFAULT_MAX
/* Mirrors KEEP_BUFFER_MAX in frame.c: larger payload buffers are released. */
#define KEEP_MAX (256u << 10)

static seam__frame_header hdr(uint8_t kind, uint8_t flags, uint16_t nfds, uint64_t id, uint32_t len)
{
    seam__frame_header h = {len, kind, flags, nfds, id};
    return h;
}

#define assert_check(want, kind, flags, nfds, id, len)                                             \
    do {                                                                                           \
        seam__frame_header h_ = hdr(kind, flags, nfds, id, len);                                   \
        assert_int_equal(seam__frame_header_check(&h_, MAX), want);                                \
    } while (0)

/* ---- header bytes ---- */

static void test_header_is_sixteen_little_endian_bytes(void **state)
{
    (void)state;
    const uint8_t want[SEAM__FRAME_HEADER_SIZE] = {0x01, 0x02, 0x03, 0x04, 0x03, 0x01, 0x05, 0x06,
                                                   0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e};
    seam__frame_header h = hdr(3, 1, 0x0605, 0x0e0d0c0b0a090807u, 0x04030201u);
    uint8_t out[SEAM__FRAME_HEADER_SIZE];
    memset(out, 0xAA, sizeof(out));
    seam__frame_header_write(out, &h);
    assert_memory_equal(out, want, sizeof(want));

    seam__frame_header back;
    memset(&back, 0, sizeof(back));
    seam__frame_header_read(want, &back);
    assert_int_equal(back.len, 0x04030201u);
    assert_int_equal(back.kind, 3);
    assert_int_equal(back.flags, 1);
    assert_int_equal(back.nfds, 0x0605);
    assert_true(back.id == 0x0e0d0c0b0a090807u);
}

static void test_header_round_trips_extreme_field_values(void **state)
{
    (void)state;
    const seam__frame_header cases[] = {
        hdr(0, 0, 0, 0, 0),
        hdr(255, 255, UINT16_MAX, UINT64_MAX, UINT32_MAX),
        hdr(9, 0x80, 0x8000, 0x8000000000000000u, 0x80000000u),
        hdr(1, 0, 1, 1, 1),
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t bytes[SEAM__FRAME_HEADER_SIZE];
        seam__frame_header back;
        seam__frame_header_write(bytes, &cases[i]);
        seam__frame_header_read(bytes, &back);
        assert_int_equal(back.len, cases[i].len);
        assert_int_equal(back.kind, cases[i].kind);
        assert_int_equal(back.flags, cases[i].flags);
        assert_int_equal(back.nfds, cases[i].nfds);
        assert_true(back.id == cases[i].id);
    }
    uint8_t ones[SEAM__FRAME_HEADER_SIZE];
    seam__frame_header all = hdr(255, 255, UINT16_MAX, UINT64_MAX, UINT32_MAX);
    seam__frame_header_write(ones, &all);
    for (size_t i = 0; i < sizeof(ones); i++) {
        assert_int_equal(ones[i], 0xff);
    }
}

/* ---- per-kind rules (docs/protocol.md, "Frame kinds") ---- */

static void test_hello_needs_id_0_a_payload_and_no_fds_or_flags(void **state)
{
    (void)state;
    assert_check(0, SEAM__KIND_HELLO, 0, 0, 0, 1);
    assert_check(0, SEAM__KIND_HELLO, 0, 0, 0, 4096);
    assert_check(SEAM_EFRAMEID, SEAM__KIND_HELLO, 0, 0, 1, 1);
    assert_check(SEAM_EFRAMELEN, SEAM__KIND_HELLO, 0, 0, 0, 0);
    assert_check(SEAM_EFRAMEFDS, SEAM__KIND_HELLO, 0, 1, 0, 1);
    assert_check(SEAM_EFRAMEFLAGS, SEAM__KIND_HELLO, SEAM__FLAG_RAW, 0, 0, 4);
}

static void test_message_needs_id_0_and_a_payload_and_may_carry_fds_and_raw(void **state)
{
    (void)state;
    assert_check(0, SEAM__KIND_MESSAGE, 0, 0, 0, 1);
    assert_check(0, SEAM__KIND_MESSAGE, 0, 64, 0, 1);
    assert_check(0, SEAM__KIND_MESSAGE, SEAM__FLAG_RAW, 3, 0, 4);
    assert_check(SEAM_EFRAMEID, SEAM__KIND_MESSAGE, 0, 0, 1, 1);
    assert_check(SEAM_EFRAMELEN, SEAM__KIND_MESSAGE, 0, 0, 0, 0);
    assert_check(SEAM_EFRAMELEN, SEAM__KIND_MESSAGE, SEAM__FLAG_RAW, 0, 0, 3);
    assert_check(SEAM_EFRAMELEN, SEAM__KIND_MESSAGE, SEAM__FLAG_RAW, 0, 0, 0);
    assert_check(SEAM_EFRAMEFDS, SEAM__KIND_MESSAGE, 0, 65, 0, 1);
    assert_check(SEAM_EFRAMEFDS, SEAM__KIND_MESSAGE, 0, UINT16_MAX, 0, 1);
}

static void test_request_and_reply_need_a_nonzero_id_and_a_payload(void **state)
{
    (void)state;
    const uint8_t kinds[] = {SEAM__KIND_REQUEST, SEAM__KIND_REPLY};
    for (size_t i = 0; i < 2; i++) {
        assert_check(0, kinds[i], 0, 0, 1, 1);
        assert_check(0, kinds[i], 0, 64, UINT64_MAX, 100);
        assert_check(0, kinds[i], SEAM__FLAG_RAW, 2, 7, 4);
        assert_check(SEAM_EFRAMEID, kinds[i], 0, 0, 0, 1);
        assert_check(SEAM_EFRAMELEN, kinds[i], 0, 0, 1, 0);
        assert_check(SEAM_EFRAMELEN, kinds[i], SEAM__FLAG_RAW, 0, 1, 3);
        assert_check(SEAM_EFRAMEFDS, kinds[i], 0, 65, 1, 1);
    }
}

static void test_error_needs_a_nonzero_id_a_payload_and_no_fds_or_raw(void **state)
{
    (void)state;
    assert_check(0, SEAM__KIND_ERROR, 0, 0, 1, 1);
    assert_check(SEAM_EFRAMEID, SEAM__KIND_ERROR, 0, 0, 0, 1);
    assert_check(SEAM_EFRAMELEN, SEAM__KIND_ERROR, 0, 0, 1, 0);
    assert_check(SEAM_EFRAMEFDS, SEAM__KIND_ERROR, 0, 1, 1, 1);
    assert_check(SEAM_EFRAMEFLAGS, SEAM__KIND_ERROR, SEAM__FLAG_RAW, 0, 1, 4);
}

static void test_cancel_needs_a_nonzero_id_and_an_empty_payload(void **state)
{
    (void)state;
    assert_check(0, SEAM__KIND_CANCEL, 0, 0, 1, 0);
    assert_check(0, SEAM__KIND_CANCEL, 0, 0, UINT64_MAX, 0);
    assert_check(SEAM_EFRAMEID, SEAM__KIND_CANCEL, 0, 0, 0, 0);
    assert_check(SEAM_EFRAMELEN, SEAM__KIND_CANCEL, 0, 0, 1, 1);
    assert_check(SEAM_EFRAMEFDS, SEAM__KIND_CANCEL, 0, 1, 1, 0);
    assert_check(SEAM_EFRAMEFLAGS, SEAM__KIND_CANCEL, SEAM__FLAG_RAW, 0, 1, 4);
}

static void test_ping_and_pong_take_any_id_and_an_empty_payload(void **state)
{
    (void)state;
    const uint8_t kinds[] = {SEAM__KIND_PING, SEAM__KIND_PONG};
    for (size_t i = 0; i < 2; i++) {
        assert_check(0, kinds[i], 0, 0, 0, 0);
        assert_check(0, kinds[i], 0, 0, 42, 0);
        assert_check(0, kinds[i], 0, 0, UINT64_MAX, 0);
        assert_check(SEAM_EFRAMELEN, kinds[i], 0, 0, 1, 1);
        assert_check(SEAM_EFRAMEFDS, kinds[i], 0, 1, 1, 0);
        assert_check(SEAM_EFRAMEFLAGS, kinds[i], SEAM__FLAG_RAW, 0, 1, 4);
    }
}

static void test_goodbye_needs_id_0_and_may_be_empty_or_carry_a_map(void **state)
{
    (void)state;
    assert_check(0, SEAM__KIND_GOODBYE, 0, 0, 0, 0);
    assert_check(0, SEAM__KIND_GOODBYE, 0, 0, 0, 20);
    assert_check(SEAM_EFRAMEID, SEAM__KIND_GOODBYE, 0, 0, 1, 0);
    assert_check(SEAM_EFRAMEFDS, SEAM__KIND_GOODBYE, 0, 1, 0, 0);
    assert_check(SEAM_EFRAMEFLAGS, SEAM__KIND_GOODBYE, SEAM__FLAG_RAW, 0, 0, 4);
}

static void test_kinds_0_and_13_to_255_are_eframekind(void **state)
{
    (void)state;
    assert_check(SEAM_EFRAMEKIND, 0, 0, 0, 0, 1);
    for (unsigned k = 13; k <= 255; k++) {
        if (k == SEAM__KIND_SHM_SETUP) {
            continue; /* test_shm_setup_is_empty_with_descriptors_and_id_zero */
        }
        assert_check(SEAM_EFRAMEKIND, (uint8_t)k, 0, 0, 0, 1);
    }
}

static void test_shm_setup_is_empty_with_descriptors_and_id_zero(void **state)
{
    (void)state;
    assert_check(0, SEAM__KIND_SHM_SETUP, 0, 4, 0, 0);
    assert_check(SEAM_EFRAMELEN, SEAM__KIND_SHM_SETUP, 0, 4, 0, 1);
    assert_check(SEAM_EFRAMEID, SEAM__KIND_SHM_SETUP, 0, 4, 1, 0);
    assert_check(SEAM_EFRAMEFLAGS, SEAM__KIND_SHM_SETUP, SEAM__FLAG_RAW, 4, 0, 4);
}

static void test_subscribe_and_update_need_an_id_and_a_payload(void **state)
{
    (void)state;
    const uint8_t kinds[] = {SEAM__KIND_SUBSCRIBE, SEAM__KIND_UPDATE};
    for (size_t i = 0; i < sizeof(kinds); i++) {
        assert_check(0, kinds[i], 0, 0, 1, 1);
        assert_check(SEAM_EFRAMEID, kinds[i], 0, 0, 0, 1);
        assert_check(SEAM_EFRAMELEN, kinds[i], 0, 0, 1, 0);
        assert_check(SEAM_EFRAMEFDS, kinds[i], 0, 1, 1, 1);
        assert_check(SEAM_EFRAMEFLAGS, kinds[i], SEAM__FLAG_RAW, 0, 1, 4);
    }
}

static void test_unsubscribe_needs_an_id_and_no_payload(void **state)
{
    (void)state;
    assert_check(0, SEAM__KIND_UNSUBSCRIBE, 0, 0, 1, 0);
    assert_check(SEAM_EFRAMEID, SEAM__KIND_UNSUBSCRIBE, 0, 0, 0, 0);
    assert_check(SEAM_EFRAMELEN, SEAM__KIND_UNSUBSCRIBE, 0, 0, 1, 1);
}

static void test_flag_bits_2_to_7_are_eframeflags_on_every_kind(void **state)
{
    (void)state;
    for (uint8_t kind = SEAM__KIND_HELLO; kind <= SEAM__KIND_SHM_SETUP; kind++) {
        for (unsigned bit = 2; bit < 8; bit++) {
            assert_check(SEAM_EFRAMEFLAGS, kind, (uint8_t)(1u << bit), 0, 1, 4);
        }
        assert_check(SEAM_EFRAMEFLAGS, kind, 0xff, 0, 1, 4);
    }
}

static void test_more_flag_is_eframeflags_but_on_request_and_reply(void **state)
{
    (void)state;
    for (uint8_t kind = SEAM__KIND_HELLO; kind <= SEAM__KIND_GOODBYE; kind++) {
        if (kind != SEAM__KIND_REQUEST && kind != SEAM__KIND_REPLY) {
            assert_check(SEAM_EFRAMEFLAGS, kind, SEAM__FLAG_MORE, 0, 1, 4);
        }
    }
}

static void test_more_flag_is_valid_on_request_and_reply_also_with_raw(void **state)
{
    (void)state;
    assert_check(0, SEAM__KIND_REQUEST, SEAM__FLAG_MORE, 0, 1, 1);
    assert_check(0, SEAM__KIND_REPLY, SEAM__FLAG_MORE, 0, 1, 1);
    assert_check(0, SEAM__KIND_REPLY, SEAM__FLAG_MORE | SEAM__FLAG_RAW, 0, 1, 4);
}

static void test_memfd_flag_with_raw_is_valid_on_message_request_and_reply(void **state)
{
    (void)state;
    const uint8_t raw_memfd = SEAM__FLAG_RAW | SEAM__FLAG_MEMFD;
    assert_check(0, SEAM__KIND_MESSAGE, raw_memfd, 1, 0, 12);
    assert_check(0, SEAM__KIND_MESSAGE, raw_memfd, 64, 0, 12);
    assert_check(0, SEAM__KIND_REQUEST, raw_memfd, 1, 7, 12);
    assert_check(0, SEAM__KIND_REPLY, raw_memfd, 3, 7, 12);
    assert_check(0, SEAM__KIND_REPLY, raw_memfd | SEAM__FLAG_MORE, 1, 7, 12);
    assert_check(0, SEAM__KIND_REQUEST, raw_memfd | SEAM__FLAG_MORE, 1, 7, 12);
}

static void test_memfd_flag_without_raw_is_eframeflags(void **state)
{
    (void)state;
    assert_check(SEAM_EFRAMEFLAGS, SEAM__KIND_MESSAGE, SEAM__FLAG_MEMFD, 1, 0, 12);
    assert_check(SEAM_EFRAMEFLAGS, SEAM__KIND_REQUEST, SEAM__FLAG_MEMFD, 1, 1, 12);
    assert_check(SEAM_EFRAMEFLAGS, SEAM__KIND_REPLY, SEAM__FLAG_MEMFD | SEAM__FLAG_MORE, 1, 1, 12);
}

static void test_memfd_flag_is_eframeflags_on_every_other_kind(void **state)
{
    (void)state;
    for (uint8_t kind = SEAM__KIND_HELLO; kind <= SEAM__KIND_SHM_SETUP; kind++) {
        if (kind < SEAM__KIND_MESSAGE || kind > SEAM__KIND_REPLY) {
            assert_check(SEAM_EFRAMEFLAGS, kind, SEAM__FLAG_RAW | SEAM__FLAG_MEMFD, 1, 1, 12);
        }
    }
}

static void test_memfd_frame_without_a_descriptor_is_eframefds(void **state)
{
    (void)state;
    const uint8_t raw_memfd = SEAM__FLAG_RAW | SEAM__FLAG_MEMFD;
    assert_check(SEAM_EFRAMEFDS, SEAM__KIND_MESSAGE, raw_memfd, 0, 0, 12);
    assert_check(SEAM_EFRAMEFDS, SEAM__KIND_REQUEST, raw_memfd, 0, 1, 12);
    assert_check(SEAM_EFRAMEFDS, SEAM__KIND_REPLY, raw_memfd, 65, 1, 12);
}

static void test_memfd_payload_other_than_12_bytes_is_eframelen(void **state)
{
    (void)state;
    const uint8_t raw_memfd = SEAM__FLAG_RAW | SEAM__FLAG_MEMFD;
    const uint32_t lens[] = {0, 3, 4, 11, 13, 4096};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        assert_check(SEAM_EFRAMELEN, SEAM__KIND_MESSAGE, raw_memfd, 1, 0, lens[i]);
        assert_check(SEAM_EFRAMELEN, SEAM__KIND_REPLY, raw_memfd, 1, 1, lens[i]);
    }
}

static void test_memfd_frame_breaks_its_rules_in_document_order(void **state)
{
    (void)state;
    const uint8_t raw_memfd = SEAM__FLAG_RAW | SEAM__FLAG_MEMFD;
    /* flags (MEMFD without RAW), then fds, then id, then size, then length */
    assert_check(SEAM_EFRAMEFLAGS, SEAM__KIND_MESSAGE, SEAM__FLAG_MEMFD, 0, 1, UINT32_MAX);
    assert_check(SEAM_EFRAMEFDS, SEAM__KIND_MESSAGE, raw_memfd, 0, 1, UINT32_MAX);
    assert_check(SEAM_EFRAMEID, SEAM__KIND_MESSAGE, raw_memfd, 1, 1, UINT32_MAX);
    assert_check(SEAM_EMSGSIZE, SEAM__KIND_MESSAGE, raw_memfd, 1, 0, UINT32_MAX);
    assert_check(SEAM_EFRAMELEN, SEAM__KIND_MESSAGE, raw_memfd, 1, 0, 4);
}

static void test_payload_above_max_is_emsgsize(void **state)
{
    (void)state;
    seam__frame_header h = hdr(SEAM__KIND_MESSAGE, 0, 0, 0, 4096);
    assert_int_equal(seam__frame_header_check(&h, 4096), 0);
    h.len = 4097;
    assert_int_equal(seam__frame_header_check(&h, 4096), SEAM_EMSGSIZE);
    h.len = UINT32_MAX;
    assert_int_equal(seam__frame_header_check(&h, MAX), SEAM_EMSGSIZE);
    assert_int_equal(seam__frame_header_check(&h, UINT32_MAX), 0);
}

static void test_first_broken_rule_in_document_order_gives_the_error(void **state)
{
    (void)state;
    /* kind, then flags, then fds, then id, then size, then length */
    assert_check(SEAM_EFRAMEKIND, 0, 0xff, 100, 1, UINT32_MAX);
    assert_check(SEAM_EFRAMEFLAGS, SEAM__KIND_CANCEL, 0x02, 100, 0, UINT32_MAX);
    assert_check(SEAM_EFRAMEFDS, SEAM__KIND_CANCEL, 0, 1, 0, UINT32_MAX);
    assert_check(SEAM_EFRAMEID, SEAM__KIND_CANCEL, 0, 0, 0, UINT32_MAX);
    assert_check(SEAM_EMSGSIZE, SEAM__KIND_CANCEL, 0, 0, 1, UINT32_MAX);
    assert_check(SEAM_EFRAMELEN, SEAM__KIND_CANCEL, 0, 0, 1, 1);
}

/* ---- the parser ---- */

static uint64_t rng_state;

static uint32_t rnd(void)
{
    /* xorshift64*: fixed seed, same stream on every run */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717u) >> 32);
}

typedef struct stream {
    uint8_t *bytes;
    size_t len;
    size_t nframes;
    seam__frame_header h[64];
    size_t at[64]; /* offset of each frame's payload in bytes */
} stream;

static void stream_add(stream *s, seam__frame_header h)
{
    assert_int_equal(seam__frame_header_check(&h, MAX), 0);
    assert_true(s->nframes < 64);
    s->bytes = realloc(s->bytes, s->len + SEAM__FRAME_HEADER_SIZE + h.len);
    assert_non_null(s->bytes);
    seam__frame_header_write(s->bytes + s->len, &h);
    s->len += SEAM__FRAME_HEADER_SIZE;
    for (uint32_t i = 0; i < h.len; i++) {
        s->bytes[s->len + i] = (uint8_t)rnd();
    }
    s->h[s->nframes] = h;
    s->at[s->nframes] = s->len;
    s->nframes++;
    s->len += h.len;
}

/* Fifty frames of every kind, most small, three large: 300 KiB and 280 KiB
 * (past the size whose buffer the parser releases) and 100 KiB. */
static stream mixed_stream(void)
{
    static const uint8_t cycle[] = {
        SEAM__KIND_MESSAGE, SEAM__KIND_REQUEST, SEAM__KIND_REPLY,   SEAM__KIND_ERROR,
        SEAM__KIND_CANCEL,  SEAM__KIND_PING,    SEAM__KIND_PONG,    SEAM__KIND_MESSAGE,
        SEAM__KIND_REQUEST, SEAM__KIND_REPLY,   SEAM__KIND_MESSAGE,
    };
    stream s = {0};
    rng_state = 0x5EA3u;
    stream_add(&s, hdr(SEAM__KIND_HELLO, 0, 0, 0, 32));
    for (size_t i = 1; i < 49; i++) {
        uint8_t kind = cycle[i % sizeof(cycle)];
        bool raw = i % 4 == 0 && (kind == SEAM__KIND_MESSAGE || kind == SEAM__KIND_REQUEST ||
                                  kind == SEAM__KIND_REPLY);
        uint32_t len = 1 + rnd() % 2000;
        if (i == 10) {
            len = 300u << 10;
        } else if (i == 25) {
            len = 280u << 10;
        } else if (i == 40) {
            len = 100u << 10;
        } else if (kind == SEAM__KIND_CANCEL || kind == SEAM__KIND_PING ||
                   kind == SEAM__KIND_PONG) {
            len = 0;
        } else if (raw && len < 4) {
            len = 4;
        }
        if (i == 10 || i == 25 || i == 40) {
            kind = SEAM__KIND_MESSAGE;
            raw = false;
        }
        uint64_t id = 0;
        if (kind != SEAM__KIND_MESSAGE) {
            id = ((uint64_t)rnd() << 32 | rnd()) | 1;
        }
        uint16_t nfds = 0;
        if (kind == SEAM__KIND_MESSAGE || kind == SEAM__KIND_REQUEST || kind == SEAM__KIND_REPLY) {
            nfds = (uint16_t)(rnd() % 65);
        }
        stream_add(&s, hdr(kind, raw ? SEAM__FLAG_RAW : 0, nfds, id, len));
    }
    stream_add(&s, hdr(SEAM__KIND_GOODBYE, 0, 0, 0, 0));
    assert_int_equal(s.nframes, 50);
    return s;
}

typedef enum cut { CUT_WHOLE, CUT_BYTES, CUT_RANDOM } cut;

typedef struct feed_result {
    size_t frames;
    size_t max_buf_cap;
    size_t copied; /* frames delivered from the parser's own buffer */
    bool released; /* a buffer above KEEP_MAX was dropped at the next frame */
} feed_result;

static size_t next_chunk(cut how, size_t left)
{
    size_t n = left;
    if (how == CUT_BYTES) {
        n = 1;
    } else if (how == CUT_RANDOM) {
        /* many small cuts (inside headers), some large ones (across frames) */
        n = rnd() % 4 == 0 ? 1 + rnd() % 20 : 1 + rnd() % 70000;
    }
    return n < left ? n : left;
}

static void assert_frame_is(const stream *s, size_t i, const seam__frame *f)
{
    assert_true(i < s->nframes);
    assert_int_equal(f->h.len, s->h[i].len);
    assert_int_equal(f->h.kind, s->h[i].kind);
    assert_int_equal(f->h.flags, s->h[i].flags);
    assert_int_equal(f->h.nfds, s->h[i].nfds);
    assert_true(f->h.id == s->h[i].id);
    if (f->h.len > 0) {
        assert_memory_equal(f->payload, s->bytes + s->at[i], f->h.len);
    }
}

static feed_result feed(const stream *s, cut how)
{
    seam__frame_parser p;
    seam__frame_parser_init(&p, MAX);
    feed_result res = {0};
    rng_state = 0xC0FFEEu;
    size_t off = 0;
    size_t prev_cap = 0;
    while (off < s->len) {
        size_t n = next_chunk(how, s->len - off);
        const uint8_t *in = s->bytes + off;
        size_t left = n;
        for (;;) {
            seam__frame f;
            int r = seam__frame_parser_next(&p, &in, &left, &f);
            assert_true(r == 0 || r == 1);
            if (p.buf_cap > res.max_buf_cap) {
                res.max_buf_cap = p.buf_cap;
            }
            if (prev_cap > KEEP_MAX && p.buf_cap < prev_cap) {
                res.released = true;
            }
            prev_cap = p.buf_cap;
            if (r == 0) {
                break;
            }
            assert_frame_is(s, res.frames, &f);
            if (f.h.len > 0 && f.payload == p.buf) {
                res.copied++;
            } else if (f.h.len > 0) {
                assert_ptr_equal(f.payload, s->bytes + s->at[res.frames]);
            }
            res.frames++;
            assert_true(seam__frame_parser_idle(&p));
        }
        /* the parser takes every byte it is given */
        assert_int_equal(left, 0);
        assert_ptr_equal(in, s->bytes + off + n);
        off += n;
    }
    assert_true(seam__frame_parser_idle(&p));
    assert_int_equal(p.error, 0);
    seam__frame_parser_free(&p);
    return res;
}

static void test_stream_given_whole_yields_every_frame_without_copying(void **state)
{
    (void)state;
    stream s = mixed_stream();
    feed_result r = feed(&s, CUT_WHOLE);
    assert_int_equal(r.frames, 50);
    assert_int_equal(r.copied, 0);
    assert_int_equal(r.max_buf_cap, 0);
    free(s.bytes);
}

static void test_stream_given_byte_by_byte_yields_the_same_frames(void **state)
{
    (void)state;
    stream s = mixed_stream();
    feed_result r = feed(&s, CUT_BYTES);
    assert_int_equal(r.frames, 50);
    /* every non-empty payload was collected; the big ones grew the buffer to
     * their size, which was given back at the frame after */
    assert_int_equal(r.max_buf_cap, 300u << 10);
    assert_true(r.released);
    free(s.bytes);
}

static void test_stream_given_in_random_chunks_yields_the_same_frames(void **state)
{
    (void)state;
    stream s = mixed_stream();
    feed_result r = feed(&s, CUT_RANDOM);
    assert_int_equal(r.frames, 50);
    assert_true(r.copied > 0);
    assert_true(r.released);
    free(s.bytes);
}

static void test_buffer_above_256k_is_released_and_smaller_one_kept(void **state)
{
    (void)state;
    stream s = {0};
    rng_state = 7;
    stream_add(&s, hdr(SEAM__KIND_MESSAGE, 0, 0, 0, 200u << 10));
    stream_add(&s, hdr(SEAM__KIND_MESSAGE, 0, 0, 0, 10));
    stream_add(&s, hdr(SEAM__KIND_MESSAGE, 0, 0, 0, KEEP_MAX + 1));
    stream_add(&s, hdr(SEAM__KIND_MESSAGE, 0, 0, 0, 10));

    seam__frame_parser p;
    seam__frame_parser_init(&p, MAX);
    seam__frame f;
    for (size_t i = 0; i < 4; i++) {
        /* each frame in two pieces, so that its payload is collected */
        const uint8_t *in = s.bytes + s.at[i] - SEAM__FRAME_HEADER_SIZE;
        size_t left = SEAM__FRAME_HEADER_SIZE + 1;
        assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 0);
        if (i == 1) {
            assert_int_equal(p.buf_cap, 200u << 10); /* kept */
        } else if (i == 3) {
            assert_true(p.buf_cap <= 4096); /* released, regrown small */
        }
        left = s.h[i].len - 1;
        assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 1);
        assert_frame_is(&s, i, &f);
        assert_ptr_equal(f.payload, p.buf);
    }
    seam__frame_parser_free(&p);
    free(s.bytes);
}

static void test_large_frames_in_a_row_reuse_their_buffer(void **state)
{
    (void)state;
    stream s = {0};
    rng_state = 9;
    stream_add(&s, hdr(SEAM__KIND_MESSAGE, 0, 0, 0, KEEP_MAX * 2));
    stream_add(&s, hdr(SEAM__KIND_MESSAGE, 0, 0, 0, KEEP_MAX * 2 - 5));
    seam__frame_parser p;
    seam__frame_parser_init(&p, MAX);
    seam__frame f;
    uint8_t *first_buf = NULL;
    for (size_t i = 0; i < 2; i++) {
        const uint8_t *in = s.bytes + s.at[i] - SEAM__FRAME_HEADER_SIZE;
        size_t left = SEAM__FRAME_HEADER_SIZE + 1;
        assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 0);
        if (i == 1) {
            assert_ptr_equal(p.buf, first_buf); /* kept, not freed and regrown */
        }
        left = s.h[i].len - 1;
        assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 1);
        assert_frame_is(&s, i, &f);
        first_buf = p.buf;
    }
    seam__frame_parser_free(&p);
    free(s.bytes);
}

static void test_direct_reads_collect_a_large_payload_in_place(void **state)
{
    (void)state;
    stream s = {0};
    rng_state = 11;
    stream_add(&s, hdr(SEAM__KIND_MESSAGE, 0, 0, 0, 300000));
    seam__frame_parser p;
    seam__frame_parser_init(&p, MAX);
    size_t room = 0;
    assert_null(seam__frame_parser_direct(&p, 4096, &room)); /* between frames */
    const uint8_t *in = s.bytes;
    size_t left = SEAM__FRAME_HEADER_SIZE + 100;
    seam__frame f;
    assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 0);
    size_t have = 100;
    while (have < 300000) {
        uint8_t *at = seam__frame_parser_direct(&p, 4096, &room);
        if (at == NULL) {
            /* the last bytes, fewer than min_direct, are fed as usual */
            assert_true(300000 - have < 4096);
            in = s.bytes + SEAM__FRAME_HEADER_SIZE + have;
            left = 300000 - have;
            assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 1);
            break;
        }
        assert_true(room > 0 && room <= 300000 - have);
        /* memory follows what arrived: never more than twice that ahead */
        assert_true(p.buf_cap <= 4 * (have > 4096 ? have : 4096));
        size_t n = room < 70000 ? room : 70000; /* a short read */
        memcpy(at, s.bytes + SEAM__FRAME_HEADER_SIZE + have, n);
        seam__frame_parser_direct_done(&p, n);
        have += n;
        left = 0;
        int r = seam__frame_parser_next(&p, &in, &left, &f);
        assert_int_equal(r, have == 300000 ? 1 : 0);
    }
    assert_frame_is(&s, 0, &f);
    assert_true(seam__frame_parser_idle(&p));
    seam__frame_parser_free(&p);
    free(s.bytes);
}

static void test_payload_memory_follows_bytes_received_not_len_claimed(void **state)
{
    (void)state;
    seam__frame_parser p;
    seam__frame_parser_init(&p, MAX);
    uint8_t bytes[SEAM__FRAME_HEADER_SIZE + 100] = {0};
    seam__frame_header h = hdr(SEAM__KIND_MESSAGE, 0, 0, 0, MAX);
    seam__frame_header_write(bytes, &h);
    const uint8_t *in = bytes;
    size_t left = sizeof(bytes);
    seam__frame f;
    assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 0);
    assert_int_equal(left, 0);
    assert_true(p.buf_cap <= 4096);
    assert_false(seam__frame_parser_idle(&p));
    seam__frame_parser_free(&p);
}

static void test_bad_header_mid_stream_fails_and_stays_failed(void **state)
{
    (void)state;
    for (int bytewise = 0; bytewise <= 1; bytewise++) {
        stream s = {0};
        rng_state = 99;
        stream_add(&s, hdr(SEAM__KIND_HELLO, 0, 0, 0, 20));
        stream_add(&s, hdr(SEAM__KIND_REQUEST, 0, 0, 5, 300));
        stream_add(&s, hdr(SEAM__KIND_PING, 0, 0, 0, 0));
        size_t bad_at = s.len;
        uint8_t bad[SEAM__FRAME_HEADER_SIZE];
        seam__frame_header bh = hdr(SEAM__KIND_CANCEL, 0, 0, 0, 0); /* cancel with id 0 */
        seam__frame_header_write(bad, &bh);
        s.bytes = realloc(s.bytes, s.len + sizeof(bad));
        memcpy(s.bytes + s.len, bad, sizeof(bad));
        s.len += sizeof(bad);
        stream_add(&s, hdr(SEAM__KIND_PING, 0, 0, 0, 0));

        seam__frame_parser p;
        seam__frame_parser_init(&p, MAX);
        const uint8_t *in = s.bytes;
        size_t frames = 0;
        int r = 0;
        while (in < s.bytes + s.len) {
            size_t left = bytewise ? 1 : (size_t)(s.bytes + s.len - in);
            seam__frame f;
            while ((r = seam__frame_parser_next(&p, &in, &left, &f)) == 1) {
                assert_frame_is(&s, frames++, &f);
            }
            if (r < 0) {
                break;
            }
        }
        assert_int_equal(r, SEAM_EFRAMEID);
        assert_int_equal(frames, 3);
        /* the error comes with the bad header's last byte, not before */
        assert_ptr_equal(in, s.bytes + bad_at + SEAM__FRAME_HEADER_SIZE);

        /* sticky: good bytes afterwards are refused and left untouched */
        const uint8_t *good = s.bytes + s.at[3] - SEAM__FRAME_HEADER_SIZE;
        in = good;
        size_t left = SEAM__FRAME_HEADER_SIZE;
        seam__frame f;
        assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), SEAM_EFRAMEID);
        assert_ptr_equal(in, good);
        assert_int_equal(left, SEAM__FRAME_HEADER_SIZE);
        left = 0;
        assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), SEAM_EFRAMEID);
        seam__frame_parser_free(&p);
        free(s.bytes);
    }
}

static void test_oversize_frame_fails_with_emsgsize_before_its_payload(void **state)
{
    (void)state;
    seam__frame_parser p;
    seam__frame_parser_init(&p, 4096);
    uint8_t bytes[SEAM__FRAME_HEADER_SIZE];
    seam__frame_header h = hdr(SEAM__KIND_MESSAGE, 0, 0, 0, 4097);
    seam__frame_header_write(bytes, &h);
    const uint8_t *in = bytes;
    size_t left = sizeof(bytes);
    seam__frame f;
    assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), SEAM_EMSGSIZE);
    assert_int_equal(p.buf_cap, 0);
    assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), SEAM_EMSGSIZE);
    seam__frame_parser_free(&p);
}

static void test_parser_is_idle_only_between_frames(void **state)
{
    (void)state;
    seam__frame_parser p;
    seam__frame_parser_init(&p, MAX);
    assert_true(seam__frame_parser_idle(&p));

    uint8_t bytes[2 * SEAM__FRAME_HEADER_SIZE + 3] = {0};
    seam__frame_header h = hdr(SEAM__KIND_MESSAGE, 0, 0, 0, 3);
    seam__frame_header_write(bytes, &h);
    memcpy(bytes + SEAM__FRAME_HEADER_SIZE, "abc", 3);
    seam__frame_header ping = hdr(SEAM__KIND_PING, 0, 0, 9, 0);
    seam__frame_header_write(bytes + SEAM__FRAME_HEADER_SIZE + 3, &ping);

    const uint8_t *in = bytes;
    size_t left = 0;
    seam__frame f;
    assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 0);
    assert_true(seam__frame_parser_idle(&p)); /* nothing given, nothing held */

    left = 1;
    assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 0);
    assert_false(seam__frame_parser_idle(&p)); /* part of a header */

    left = SEAM__FRAME_HEADER_SIZE - 1;
    assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 0);
    assert_false(seam__frame_parser_idle(&p)); /* header done, payload due */

    left = 2;
    assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 0);
    assert_false(seam__frame_parser_idle(&p)); /* part of the payload */

    left = 1;
    assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 1);
    assert_true(seam__frame_parser_idle(&p));
    assert_int_equal(f.h.len, 3);
    assert_memory_equal(f.payload, "abc", 3);

    /* an empty frame completes with its header */
    left = SEAM__FRAME_HEADER_SIZE;
    assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 1);
    assert_true(seam__frame_parser_idle(&p));
    assert_int_equal(f.h.kind, SEAM__KIND_PING);
    assert_true(f.h.id == 9);
    assert_int_equal(left, 0);
    seam__frame_parser_free(&p);
}

static void test_one_call_returns_one_frame_and_leaves_the_rest(void **state)
{
    (void)state;
    uint8_t bytes[3 * SEAM__FRAME_HEADER_SIZE];
    for (int i = 0; i < 3; i++) {
        seam__frame_header h = hdr(SEAM__KIND_PONG, 0, 0, (uint64_t)i, 0);
        seam__frame_header_write(bytes + i * SEAM__FRAME_HEADER_SIZE, &h);
    }
    seam__frame_parser p;
    seam__frame_parser_init(&p, MAX);
    const uint8_t *in = bytes;
    size_t left = sizeof(bytes);
    seam__frame f;
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 1);
        assert_true(f.h.id == i);
        assert_int_equal(left, sizeof(bytes) - (i + 1) * SEAM__FRAME_HEADER_SIZE);
    }
    assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 0);
    seam__frame_parser_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_is_sixteen_little_endian_bytes),
        cmocka_unit_test(test_header_round_trips_extreme_field_values),
        cmocka_unit_test(test_hello_needs_id_0_a_payload_and_no_fds_or_flags),
        cmocka_unit_test(test_message_needs_id_0_and_a_payload_and_may_carry_fds_and_raw),
        cmocka_unit_test(test_request_and_reply_need_a_nonzero_id_and_a_payload),
        cmocka_unit_test(test_error_needs_a_nonzero_id_a_payload_and_no_fds_or_raw),
        cmocka_unit_test(test_cancel_needs_a_nonzero_id_and_an_empty_payload),
        cmocka_unit_test(test_ping_and_pong_take_any_id_and_an_empty_payload),
        cmocka_unit_test(test_goodbye_needs_id_0_and_may_be_empty_or_carry_a_map),
        cmocka_unit_test(test_kinds_0_and_13_to_255_are_eframekind),
        cmocka_unit_test(test_shm_setup_is_empty_with_descriptors_and_id_zero),
        cmocka_unit_test(test_subscribe_and_update_need_an_id_and_a_payload),
        cmocka_unit_test(test_unsubscribe_needs_an_id_and_no_payload),
        cmocka_unit_test(test_flag_bits_2_to_7_are_eframeflags_on_every_kind),
        cmocka_unit_test(test_more_flag_is_eframeflags_but_on_request_and_reply),
        cmocka_unit_test(test_more_flag_is_valid_on_request_and_reply_also_with_raw),
        cmocka_unit_test(test_memfd_flag_with_raw_is_valid_on_message_request_and_reply),
        cmocka_unit_test(test_memfd_flag_without_raw_is_eframeflags),
        cmocka_unit_test(test_memfd_flag_is_eframeflags_on_every_other_kind),
        cmocka_unit_test(test_memfd_frame_without_a_descriptor_is_eframefds),
        cmocka_unit_test(test_memfd_payload_other_than_12_bytes_is_eframelen),
        cmocka_unit_test(test_memfd_frame_breaks_its_rules_in_document_order),
        cmocka_unit_test(test_payload_above_max_is_emsgsize),
        cmocka_unit_test(test_first_broken_rule_in_document_order_gives_the_error),
        cmocka_unit_test(test_stream_given_whole_yields_every_frame_without_copying),
        cmocka_unit_test(test_stream_given_byte_by_byte_yields_the_same_frames),
        cmocka_unit_test(test_stream_given_in_random_chunks_yields_the_same_frames),
        cmocka_unit_test(test_buffer_above_256k_is_released_and_smaller_one_kept),
        cmocka_unit_test(test_large_frames_in_a_row_reuse_their_buffer),
        cmocka_unit_test(test_direct_reads_collect_a_large_payload_in_place),
        cmocka_unit_test(test_payload_memory_follows_bytes_received_not_len_claimed),
        cmocka_unit_test(test_bad_header_mid_stream_fails_and_stays_failed),
        cmocka_unit_test(test_oversize_frame_fails_with_emsgsize_before_its_payload),
        cmocka_unit_test(test_parser_is_idle_only_between_frames),
        cmocka_unit_test(test_one_call_returns_one_frame_and_leaves_the_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
