/* SPDX-License-Identifier: MIT */
/* fuzz_decode.c - the CBOR decoder on arbitrary bytes. Whatever decodes must
 * encode again and decode to an equal value; whatever fails must fail with a
 * seam error code, never a crash, a leak or a hang. Decoded values share an
 * arena: parts of them are kept past the whole, changed and moved between
 * two decodes, which must stay equal to copies made on their own. Data
 * decoded from a memfd encodes as plain bytes and compares equal to them. */
#include "internal.h"
#include "memfd.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first child of a container (or v itself), with a reference. */
static seam_value *first_part(seam_value *v)
{
    seam_value *part = NULL;
    if (seam_value_type(v) == SEAM_TYPE_ARRAY) {
        part = seam_array_get(v, 0);
    } else if (seam_value_type(v) == SEAM_TYPE_DICT) {
        part = seam_dict_entry(v, 0, NULL);
    }
    return seam_value_ref(part != NULL ? part : v);
}

/* Changes a decoded container the way a receiver might: grows it past its
 * decoded room with values of its own and of another decode, replaces and
 * removes entries. */
static void change(seam_value *v, seam_value *other)
{
    if (seam_value_type(v) == SEAM_TYPE_ARRAY) {
        for (int i = 0; i < 6; i++) {
            if (seam_array_append(v, i % 2 ? other : seam_array_get(v, 0)) < 0 &&
                seam_array_count(v) > 0) {
                abort();
            }
        }
    } else if (seam_value_type(v) == SEAM_TYPE_DICT) {
        const char *key = NULL;
        seam_value *first = seam_dict_entry(v, 0, &key);
        if (first != NULL) {
            char keep[64] = "k";
            if (strlen(key) < sizeof(keep)) {
                memcpy(keep, key, strlen(key) + 1);
            }
            if (seam_dict_set(v, "a key long enough not to be inline", first) < 0 ||
                seam_dict_set(v, keep, other) < 0 || seam_dict_set_int64(v, "n", 1000) < 0 ||
                seam_dict_remove(v, keep) < 0) {
                abort();
            }
        }
    }
}

/* Descriptor 0 of every input is a sealed memfd of one page, so that the
 * memfd tag on [0, 4096] decodes (and everything else about it fails as
 * it would from a peer). */
static int sealed_page(void)
{
    static int fd = -2;
    if (fd == -2) {
        static const uint8_t page[4096] = {1, 2, 3};
        fd = seam__memfd_from_bytes(page, sizeof(page));
    }
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static seam__memfd_account *account;
    if (account == NULL) {
        account = seam__memfd_account_new();
    }
    const int fds[2] = {sealed_page(), 1};
    const seam__dec_memfd mf = {4096, 1u << 20, account};
    seam_decode_limits lim = {.max_depth = 32, .max_items = 4096, .max_string = 65536};
    seam_value *v = NULL;
    int r = seam__decode_memfd(data, size, &lim, fds, 2, &mf, &v);
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
    /* A part kept past its message stays what it was. */
    seam_value *part = first_part(again);
    seam_value *part_copy = seam_value_copy(part);
    seam_value *changed = seam_value_copy(v);
    change(v, part);
    change(changed, part);
    if (!seam_value_equal(v, changed)) {
        abort();
    }
    seam_value_unref(again);
    seam_value_unref(v);
    if (!seam_value_equal(part, part_copy)) {
        abort();
    }
    seam_value_unref(changed);
    seam_value_unref(part_copy);
    seam_value_unref(part);
    seam__buf_free(&b);
    /* Every mapping a decode made goes with its values. */
    if (seam__memfd_account_live(account) != 0) {
        abort();
    }
    return 0;
}
