/* SPDX-License-Identifier: MIT */
/* bench_codec.c - encoding and decoding the typed benchmark's message (a
 * 3-key dictionary: "seq", "kind", a --size byte "body") in one process,
 * with seam's values and with libcbor's own item API, in one run: each
 * round trip updates "seq", encodes, decodes and reads the three keys back.
 * Rows: case "codec", transports "seam" and "libcbor-item". */
#include "common.h"

#include <cbor.h>
#include <seam.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One round trip in seam: returns 0, or -1 when anything came back wrong. */
static int seam_roundtrip(seam_value *dict, int64_t seq)
{
    if (seam_dict_set_int64(dict, "seq", seq) < 0) {
        return -1;
    }
    uint8_t *bytes;
    size_t len;
    if (seam_value_encode(dict, &bytes, &len) < 0) {
        return -1;
    }
    seam_value *v = NULL;
    int r = seam_value_decode(bytes, len, NULL, &v);
    free(bytes);
    if (r < 0) {
        return -1;
    }
    int64_t got = 0;
    size_t body = 0;
    bool ok = seam_dict_get_int64(v, "seq", &got) && got == seq &&
              seam_dict_get_string(v, "kind") != NULL &&
              seam_value_get_data(seam_dict_get(v, "body"), &body) != NULL;
    seam_value_unref(v);
    return ok ? 0 : -1;
}

static cbor_item_t *cbor_lookup(cbor_item_t *map, const char *key)
{
    size_t n = cbor_map_size(map);
    struct cbor_pair *pairs = cbor_map_handle(map);
    size_t len = strlen(key);
    for (size_t i = 0; i < n; i++) {
        if (cbor_isa_string(pairs[i].key) && cbor_string_length(pairs[i].key) == len &&
            memcmp(cbor_string_handle(pairs[i].key), key, len) == 0) {
            return pairs[i].value;
        }
    }
    return NULL;
}

/* The same with libcbor's items: the map is kept and its "seq" updated in
 * place, as the seam sender keeps its dictionary. */
static int cbor_roundtrip(cbor_item_t *map, cbor_item_t *seq_item, uint32_t seq)
{
    cbor_set_uint32(seq_item, seq);
    unsigned char *bytes = NULL;
    size_t cap = 0;
    size_t len = cbor_serialize_alloc(map, &bytes, &cap);
    if (len == 0) {
        return -1;
    }
    struct cbor_load_result res;
    cbor_item_t *v = cbor_load(bytes, len, &res);
    free(bytes);
    if (v == NULL) {
        return -1;
    }
    bool ok = cbor_isa_map(v);
    cbor_item_t *s = ok ? cbor_lookup(v, "seq") : NULL;
    cbor_item_t *k = ok ? cbor_lookup(v, "kind") : NULL;
    cbor_item_t *b = ok ? cbor_lookup(v, "body") : NULL;
    ok = s != NULL && cbor_isa_uint(s) && cbor_get_int(s) == seq && k != NULL &&
         cbor_isa_string(k) && b != NULL && cbor_isa_bytestring(b);
    cbor_decref(&v);
    return ok ? 0 : -1;
}

typedef struct codec_case {
    seam_value *dict;
    cbor_item_t *map;
    cbor_item_t *seq;
} codec_case;

static int cbor_add(cbor_item_t *map, const char *key, cbor_item_t *value)
{
    cbor_item_t *k = cbor_build_string(key);
    bool ok = k != NULL && value != NULL &&
              cbor_map_add(map, (struct cbor_pair){.key = k, .value = value});
    if (k != NULL) {
        cbor_decref(&k);
    }
    return ok ? 0 : -1;
}

static int case_init(codec_case *c, const uint8_t *body, size_t size)
{
    c->dict = seam_value_new_dict();
    if (c->dict == NULL || seam_dict_set_int64(c->dict, "seq", 0) < 0 ||
        seam_dict_set_string(c->dict, "kind", "bench") < 0 ||
        seam_dict_set_data(c->dict, "body", body, size) < 0) {
        return -1;
    }
    c->map = cbor_new_definite_map(3);
    c->seq = cbor_new_int32();
    cbor_item_t *kind = cbor_build_string("bench");
    cbor_item_t *data = cbor_build_bytestring(body, size);
    int r = c->map != NULL && c->seq != NULL ? 0 : -1;
    if (r == 0) {
        cbor_set_uint32(c->seq, 0);
        r = cbor_add(c->map, "seq", c->seq);
    }
    if (r == 0) {
        r = cbor_add(c->map, "kind", kind);
    }
    if (r == 0) {
        r = cbor_add(c->map, "body", data);
    }
    if (kind != NULL) {
        cbor_decref(&kind);
    }
    if (data != NULL) {
        cbor_decref(&data);
    }
    return r;
}

/* Round trips per second of one implementation, each of o->runs runs
 * lasting about the target; emits the median with the spread. */
static int measure(const bench_opts *o, codec_case *c, bool cbor, const char *name)
{
    double target_s = o->quick ? 0.1 : 0.5;
    size_t n = 1000;
    double rates[16];
    unsigned runs = o->runs < 16 ? o->runs : 16;
    for (unsigned run = 0; run <= runs; run++) {
        uint64_t t0 = bench_now_ns();
        for (size_t i = 0; i < n; i++) {
            int r = cbor ? cbor_roundtrip(c->map, c->seq, (uint32_t)(i + 1000))
                         : seam_roundtrip(c->dict, (int64_t)(i + 1000));
            if (r < 0) {
                fprintf(stderr, "bench_codec: %s round trip failed\n", name);
                return -1;
            }
        }
        double s = (double)(bench_now_ns() - t0) / 1e9;
        if (run == 0) {
            /* calibration: size the measured runs */
            n = (size_t)((double)n * target_s / (s > 1e-6 ? s : 1e-6)) + 1;
            continue;
        }
        rates[run - 1] = (double)n / s;
    }
    double lo = rates[0], hi = rates[0];
    for (unsigned i = 1; i < runs; i++) {
        lo = rates[i] < lo ? rates[i] : lo;
        hi = rates[i] > hi ? rates[i] : hi;
    }
    double med = bench_percentile(rates, runs, 50);
    bench_emit("codec", name, o->size, o->placement, "roundtrips_per_s", med, lo, hi, runs);
    return 0;
}

static int run(const bench_opts *o)
{
    if (bench_pin(0) < 0) {
        return 1;
    }
    uint8_t *body = calloc(1, o->size > 0 ? o->size : 1);
    codec_case c = {0};
    int r = body != NULL ? case_init(&c, body, o->size) : -1;
    if (r == 0) {
        r = measure(o, &c, false, "seam");
    }
    if (r == 0) {
        r = measure(o, &c, true, "libcbor-item");
    }
    seam_value_unref(c.dict);
    if (c.seq != NULL) {
        cbor_decref(&c.seq);
    }
    if (c.map != NULL) {
        cbor_decref(&c.map);
    }
    free(body);
    return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    return bench_main(argc, argv, run);
}
