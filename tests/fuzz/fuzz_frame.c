/* SPDX-License-Identifier: MIT */
/* fuzz_frame.c - the frame parser on arbitrary streams. The first input byte
 * picks a chunk size; the rest is fed whole and then in chunks, and both
 * feeds must yield the same frames and the same error. Hello payloads and
 * CBOR payloads are decoded too, as the connection would. */
#include "frame.h"
#include "hello.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct result {
    size_t frames;
    uint64_t digest;
    int err;
} result;

static void consume(const seam__frame *f, result *res)
{
    res->frames++;
    uint64_t h = res->digest ^ (f->h.kind | (uint64_t)f->h.len << 8 | f->h.id << 40);
    for (uint32_t i = 0; i < f->h.len; i++) {
        h = (h ^ f->payload[i]) * 1099511628211u;
    }
    res->digest = h;
    if (f->h.kind == SEAM__KIND_HELLO) {
        seam__hello hello;
        (void)seam__hello_read(f->payload, f->h.len, &hello);
    } else if ((f->h.kind == SEAM__KIND_MESSAGE || f->h.kind == SEAM__KIND_ERROR) &&
               !(f->h.flags & SEAM__FLAG_RAW)) {
        seam_value *v = NULL;
        if (seam__decode(f->payload, f->h.len, NULL, NULL, 0, &v) == 0) {
            seam_value_unref(v);
        }
    }
}

static result run(const uint8_t *data, size_t size, size_t chunk)
{
    seam__frame_parser p;
    seam__frame_parser_init(&p, 1u << 16);
    result res = {0, 14695981039346656037u, 0};
    size_t off = 0;
    while (off < size && res.err == 0) {
        size_t n = size - off < chunk ? size - off : chunk;
        const uint8_t *in = data + off;
        size_t left = n;
        for (;;) {
            seam__frame f;
            int r = seam__frame_parser_next(&p, &in, &left, &f);
            if (r < 0) {
                res.err = r;
                break;
            }
            if (r == 0) {
                break;
            }
            consume(&f, &res);
        }
        off += n;
    }
    seam__frame_parser_free(&p);
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t chunk = (size_t)data[0] % 37 + 1;
    result whole = run(data + 1, size - 1, size);
    result parts = run(data + 1, size - 1, chunk);
    if (whole.frames != parts.frames || whole.digest != parts.digest || whole.err != parts.err) {
        abort();
    }
    return 0;
}
