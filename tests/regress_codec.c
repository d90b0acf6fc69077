/* SPDX-License-Identifier: MIT */
/* regress_codec.c - hostile values sent by a real peer to a real server in
 * another process: what the server holds while it serves them. The peer
 * writes docs/protocol.md by hand, so it can send what no seam encoder
 * would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "internal.h"
#include "rawpeer.h"
#include "support.h"

#include <dirent.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define NAME "org.seam.test.codec"

/* ---- the server (in a child): answers every request with what it holds
 * while the request's value is alive ---- */

static int open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return -1;
    }
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

#if defined(__SANITIZE_ADDRESS__)
/* From the sanitizer runtime (its header is not always installed). */
size_t __sanitizer_get_current_allocated_bytes(void);

static int64_t heap_in_use(void)
{
    return (int64_t)__sanitizer_get_current_allocated_bytes();
}
#else
static int64_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (int64_t)(mi.uordblks + mi.hblkhd);
}
#endif

static void server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type != SEAM_EVENT_REQUEST) {
        return;
    }
    int64_t heap = heap_in_use();
    seam_value *r = seam_value_new_dict();
    seam_dict_set_int64(r, "fds", open_fd_count());
    seam_dict_set_int64(r, "heap", heap);
    seam_dict_set_int64(r, "keys", (int64_t)seam_dict_count(ev->value));
    seam_dict_set_int64(
        r, "probes",
        seam_value_type(ev->value) == SEAM_TYPE_DICT ? (int64_t)seam__dict_probes(ev->value) : 0);
    seam_dict_set_int64(r, "items", (int64_t)seam_array_count(ev->value));
    seam_request_reply(ev->request, r);
    seam_value_unref(r);
}

static const seam_server_config server_cfg = {.conn.on_event = server_event};

/* ---- the peer (in the parent) ---- */

/* Sends a request frame whose payload is bytes, with pass (or no
 * descriptor, when -1) as its one descriptor. */
static void raw_send_request(int fd, uint64_t id, const uint8_t *bytes, size_t len, int pass)
{
    uint8_t hdr[16];
    size_t nfds = pass >= 0 ? 1 : 0;
    rawpeer_put_header(hdr, (uint32_t)len, RAWPEER_REQUEST, 0, (uint16_t)nfds, id);
    assert_true(rawpeer_send_with_fds(fd, hdr, sizeof(hdr), &pass, nfds));
    assert_true(support_write_full(fd, bytes, len));
}

/* Sends a request and returns the server's reply (what it held then), or
 * NULL when the connection ended first. */
static seam_value *ask_value(int fd, uint64_t id, const uint8_t *bytes, size_t len, int pass)
{
    raw_send_request(fd, id, bytes, len, pass);
    uint8_t hdr[16];
    uint8_t payload[4096];
    long plen = rawpeer_read_frame(fd, hdr, payload, sizeof(payload), SUPPORT_DEADLINE_MS);
    if (plen < 0) {
        return NULL;
    }
    assert_true((size_t)plen <= sizeof(payload));
    assert_int_equal(hdr[4], RAWPEER_REPLY);
    seam_value *v = NULL;
    assert_int_equal(seam_value_decode(payload, (size_t)plen, NULL, &v), 0);
    return v;
}

static bool ask(int fd, uint64_t id, const uint8_t *bytes, size_t len, int pass, int64_t *fds,
                int64_t *items)
{
    seam_value *v = ask_value(fd, id, bytes, len, pass);
    if (v == NULL) {
        return false;
    }
    assert_true(seam_dict_get_int64(v, "fds", fds));
    assert_true(seam_dict_get_int64(v, "items", items));
    seam_value_unref(v);
    return true;
}

static int64_t reply_int(const seam_value *v, const char *key)
{
    int64_t n = 0;
    assert_true(seam_dict_get_int64(v, key, &n));
    return n;
}

/* Connects and exchanges hellos. */
static int raw_peer(void)
{
    int fd = rawpeer_connect(NAME);
    assert_true(fd >= 0);
    assert_true(support_write_full(fd, rawpeer_hello, sizeof(rawpeer_hello)));
    uint8_t hdr[16];
    assert_true(rawpeer_read_frame(fd, hdr, NULL, 0, SUPPORT_DEADLINE_MS) >= 0);
    assert_int_equal(hdr[4], RAWPEER_HELLO); /* its hello */
    return fd;
}

typedef struct fixture {
    char dir[PATH_MAX];
    support_child server;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    support_runtime_dir_create(f->dir, sizeof(f->dir));
    support_spawn_server(&f->server, NAME, &server_cfg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int status = support_server_stop(&f->server);
    support_runtime_dir_remove(f->dir);
    free(f);
    return status == 0 ? 0 : -1;
}

/* An array of n items, each the same bytes. */
static uint8_t *array_of(size_t n, const uint8_t *item, size_t item_len, size_t *len)
{
    uint8_t *b = malloc(5 + n * item_len);
    assert_non_null(b);
    b[0] = 0x9a;
    b[1] = (uint8_t)(n >> 24);
    b[2] = (uint8_t)(n >> 16);
    b[3] = (uint8_t)(n >> 8);
    b[4] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        memcpy(b + 5 + i * item_len, item, item_len);
    }
    *len = 5 + n * item_len;
    return b;
}

/* docs/protocol.md, "Values": however often a value names one passed
 * descriptor, the receiver holds one descriptor for it. */
static void test_server_holds_one_descriptor_for_15000_references_to_it(void **state)
{
    (void)state;
    int fd = raw_peer();
    static const uint8_t empty[] = {0x80};
    int64_t base = 0;
    int64_t items = -1;
    assert_true(ask(fd, 1, empty, sizeof(empty), -1, &base, &items));
    assert_int_equal(items, 0);

    int p[2];
    assert_int_equal(pipe(p), 0);
    static const uint8_t ref0[] = {0xda, 0x73, 0x65, 0x61, 0x6d, 0x00};
    size_t len;
    uint8_t *bytes = array_of(15000, ref0, sizeof(ref0), &len);
    int64_t held = 0;
    bool answered = ask(fd, 2, bytes, len, p[1], &held, &items);
    if (!answered || held > base + 1) {
        print_error("15000 references to one descriptor: %s, the server held %lld descriptors "
                    "more than before\n",
                    answered ? "answered" : "connection closed, no answer",
                    (long long)(held - base));
        fail();
    }
    assert_int_equal(items, 15000);
    free(bytes);
    close(p[0]);
    close(p[1]);
    close(fd);
}

/* docs/protocol.md, "Limits": a message of a million nulls costs the server
 * one 8-byte slot per null while it is served, and nothing once served. */
static void test_server_holds_a_million_nulls_in_8_bytes_each_and_gives_them_back(void **state)
{
    (void)state;
    int fd = raw_peer();
    static const uint8_t empty[] = {0x80};
    seam_value *r = ask_value(fd, 1, empty, sizeof(empty), -1);
    assert_non_null(r);
    int64_t base = reply_int(r, "heap");
    seam_value_unref(r);

    static const uint8_t null[] = {0xf6};
    size_t len;
    uint8_t *bytes = array_of(1000000, null, sizeof(null), &len);
    r = ask_value(fd, 2, bytes, len, -1);
    assert_non_null(r);
    assert_int_equal(reply_int(r, "items"), 1000000);
    int64_t held = reply_int(r, "heap") - base;
    seam_value_unref(r);
    /* the payload itself (read into the receive buffer) and 8 bytes a null */
    if (held > 12 * (int64_t)len) {
        print_error("serving %zu bytes of nulls, the server held %lld bytes more\n", len,
                    (long long)held);
        fail();
    }
    r = ask_value(fd, 3, empty, sizeof(empty), -1);
    assert_non_null(r);
    int64_t after = reply_int(r, "heap") - base;
    seam_value_unref(r);
    if (after > (int64_t)len + 65536) {
        print_error("after serving %zu bytes of nulls the server still held %lld bytes more\n", len,
                    (long long)after);
        fail();
    }
    free(bytes);
    close(fd);
}

/* FNV-1a, which dictionaries used to index keys with. */
static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

/* A map of n keys of 7 bytes -> null, the keys' FNV-1a hashes agreeing in
 * their low 16 bits (the last two bytes solved for, running a step of the
 * hash backwards). */
static uint8_t *colliding_map(size_t n, size_t *len)
{
    uint8_t *b = malloc(5 + n * 9);
    assert_non_null(b);
    size_t off = 0;
    b[off++] = 0xba;
    b[off++] = (uint8_t)(n >> 24);
    b[off++] = (uint8_t)(n >> 16);
    b[off++] = (uint8_t)(n >> 8);
    b[off++] = (uint8_t)n;
    uint32_t inv = 16777619u;
    for (int i = 0; i < 5; i++) {
        inv *= 2u - 16777619u * inv;
    }
    const uint32_t target = 0x5EA3;
    for (uint32_t prefix = 0, made = 0; made < n; prefix++) {
        uint8_t k[7];
        uint32_t x = prefix;
        for (int i = 0; i < 5; i++) {
            k[i] = (uint8_t)(0x21 + x % 94);
            x /= 94;
        }
        uint32_t st = fnv1a(k, 5) & 0xFFFF;
        for (uint32_t last = 0x21; last < 0x7F; last++) {
            uint32_t c = ((((target * inv) & 0xFFFF) ^ last) * inv & 0xFFFF) ^ st;
            if (c >= 0x21 && c < 0x7F) {
                k[5] = (uint8_t)c;
                k[6] = (uint8_t)last;
                assert_int_equal(fnv1a(k, 7) & 0xFFFF, target);
                b[off++] = 0x67;
                memcpy(b + off, k, 7);
                off += 7;
                b[off++] = 0xf6;
                made++;
                break;
            }
        }
    }
    *len = off;
    return b;
}

/* A peer choosing keys that collide under the old hash gets a server that
 * finds each key in a few probes, as with any other keys. */
static void test_server_indexes_keys_colliding_under_fnv1a_with_few_probes(void **state)
{
    (void)state;
    int fd = raw_peer();
    size_t n = 16384;
    size_t len;
    uint8_t *bytes = colliding_map(n, &len);
    seam_value *r = ask_value(fd, 1, bytes, len, -1);
    assert_non_null(r);
    assert_int_equal(reply_int(r, "keys"), (int64_t)n);
    int64_t probes = reply_int(r, "probes");
    seam_value_unref(r);
    if (probes > 4 * (int64_t)n) {
        print_error("%zu colliding keys took the server %lld probes to find\n", n,
                    (long long)probes);
        fail();
    }
    free(bytes);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_server_holds_one_descriptor_for_15000_references_to_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_server_holds_a_million_nulls_in_8_bytes_each_and_gives_them_back, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_server_indexes_keys_colliding_under_fnv1a_with_few_probes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
