/* SPDX-License-Identifier: MIT */
/* fuzz_decode.c - the CBOR decoder on arbitrary bytes. Whatever decodes must
 * encode again and decode to an equal value; whatever fails must fail with a
 * seam error code, never a crash, a leak or a hang. */
#include "internal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int fds[2] = {0, 1};
    seam_decode_limits lim = {.max_depth = 32, .max_items = 4096, .max_string = 65536};
    seam_value *v = NULL;
    int r = seam__decode(data, size, &lim, fds, 2, &v);
    if (r < 0) {
        if (v != NULL || r < SEAM__ELAST) {
            abort();
        }
        return 0;
    }
    int out_fds[64];
    size_t nfds = 0;
    seam__buf b = {0};
    if (seam__encode(v, &b, out_fds, 64, &nfds) < 0) {
        abort();
    }
    seam_value *again = NULL;
    if (seam__decode(b.data, b.len, &lim, out_fds, nfds, &again) < 0 ||
        !seam_value_equal(v, again)) {
        abort();
    }
    char *json = seam_value_to_json(v, 0);
    free(json);
    seam_value *copy = seam_value_copy(v);
    if (!seam_value_equal(v, copy)) {
        abort();
    }
    seam_value_unref(copy);
    seam_value_unref(again);
    seam_value_unref(v);
    seam__buf_free(&b);
    return 0;
}
