/* SPDX-License-Identifier: MIT */
/* regress_memfd.c - hostile memfd tags sent by a peer that is not seam to
 * a real server in another process: descriptors that are not memfds
 * sealed as docs/protocol.md asks, lengths that lie, tags where none may
 * go, more mapped than the server's bound. Each message gets the
 * documented code in a goodbye and a closed connection, while another
 * peer connected all along is still served. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rawpeer.h"
#include "support.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NAME         "org.seam.test.memfd"
#define NAME_NONE    "org.seam.test.memfd.none"
#define LEN          16384u
#define SEALS_ALL    (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define SERVER_BOUND (64u << 10)

/* ---- the servers (children): every request is answered {"ok": n}, n
 * the bytes of its data when it came as a memfd, and "fds", the
 * descriptors the server has open while the request's value lives. ---- */

static int64_t open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return -1;
    }
    int64_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static void server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type != SEAM_EVENT_REQUEST) {
        return;
    }
    seam_value *r = seam_value_new_dict();
    size_t len = 0;
    seam_value *d =
        seam_value_type(ev->value) == SEAM_TYPE_ARRAY ? seam_array_get(ev->value, 0) : ev->value;
    if (seam_value_get_memfd(d) >= 0 && seam_value_get_data(d, &len) != NULL) {
        seam_dict_set_int64(r, "ok", (int64_t)len);
    } else {
        seam_dict_set_int64(r, "ok", 0);
    }
    seam_dict_set_int64(r, "fds", open_fd_count());
    seam_request_reply(ev->request, r);
    seam_value_unref(r);
}

/* Takes memfds from 4 KiB; holds at most 64 KiB of them mapped. */
static const seam_server_config server_cfg = {
    .conn.on_event = server_event, .conn.memfd_min = 4096, .conn.max_memfd_bytes = SERVER_BOUND};
/* Announces no "memfd". */
static const seam_server_config none_cfg = {.conn.on_event = server_event,
                                            .conn.memfd_min = SIZE_MAX};

typedef struct fixture {
    char dir[PATH_MAX];
    support_child server;
    support_child none;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    support_runtime_dir_create(f->dir, sizeof(f->dir));
    support_spawn_server(&f->server, NAME, &server_cfg);
    support_spawn_server(&f->none, NAME_NONE, &none_cfg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int status = support_server_stop(&f->server);
    int none = support_server_stop(&f->none);
    support_runtime_dir_remove(f->dir);
    free(f);
    return status == 0 && none == 0 ? 0 : -1;
}

/* ---- the peer (in the parent) ---- */

/* Connects and exchanges hellos; asserts the server announced "memfd"
 * (or not) as expected. */
static int raw_peer(const char *name, bool announces)
{
    int fd = rawpeer_connect(name);
    assert_true(fd >= 0);
    assert_true(support_write_full(fd, rawpeer_hello, sizeof(rawpeer_hello)));
    uint8_t hdr[16];
    uint8_t payload[256];
    long len = rawpeer_read_frame(fd, hdr, payload, sizeof(payload), SUPPORT_DEADLINE_MS);
    assert_true(len > 0);
    assert_int_equal(hdr[4], RAWPEER_HELLO);
    seam_value *hello = NULL;
    assert_int_equal(seam_value_decode(payload, (size_t)len, NULL, &hello), 0);
    assert_true((seam_dict_get(hello, "memfd") != NULL) == announces);
    seam_value_unref(hello);
    return fd;
}

/* A memfd of len bytes with the given seals. */
static int memfd_sealed(size_t len, int seals)
{
    int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    assert_int_equal(fallocate(fd, 0, 0, (off_t)len), 0);
    if (seals != 0) {
        assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
    }
    return fd;
}

/* The memfd tag's CBOR on [index, length], appended at p; its size. */
static size_t put_memfd_tag(uint8_t *p, uint8_t index, uint64_t len)
{
    static const uint8_t tag[] = {0xda, 0x73, 0x65, 0x61, 0x6e, 0x82};
    memcpy(p, tag, sizeof(tag));
    p[6] = index; /* 0-23: one byte */
    int width = len > UINT32_MAX ? 8 : 4;
    p[7] = width == 8 ? 0x1b : 0x1a;
    for (int i = 0; i < width; i++) {
        p[8 + i] = (uint8_t)(len >> (8 * (width - 1 - i)));
    }
    return 8 + (size_t)width;
}

static void raw_send(int fd, uint8_t kind, uint64_t id, const uint8_t *payload, size_t len,
                     const int *fds, size_t nfds)
{
    uint8_t hdr[16];
    rawpeer_put_header(hdr, (uint32_t)len, kind, 0, (uint16_t)nfds, id);
    assert_true(rawpeer_send_with_fds(fd, hdr, sizeof(hdr), fds, nfds));
    assert_true(support_write_full(fd, payload, len));
}

/* A request answered by the server: its "ok", or -1 for an error
 * answer, whose code goes to *code. */
static int64_t last_fds; /* the server's open descriptors at the last reply */

static int64_t raw_ask(int fd, uint64_t id, const uint8_t *payload, size_t len, const int *fds,
                       size_t nfds, int *code)
{
    raw_send(fd, RAWPEER_REQUEST, id, payload, len, fds, nfds);
    uint8_t hdr[16];
    uint8_t buf[512];
    long n = rawpeer_read_frame(fd, hdr, buf, sizeof(buf), SUPPORT_DEADLINE_MS);
    assert_true(n > 0);
    assert_true(rawpeer_get_id(hdr) == id);
    if (hdr[4] == RAWPEER_ERROR) {
        *code = rawpeer_payload_code(buf, (size_t)n);
        return -1;
    }
    assert_int_equal(hdr[4], RAWPEER_REPLY);
    seam_value *v = NULL;
    assert_int_equal(seam_value_decode(buf, (size_t)n, NULL, &v), 0);
    int64_t ok = -2;
    assert_true(seam_dict_get_int64(v, "ok", &ok));
    assert_true(seam_dict_get_int64(v, "fds", &last_fds));
    seam_value_unref(v);
    return ok;
}

/* A good memfd in a request on the connection that was there all along:
 * it is still served. */
static void assert_still_served(int other)
{
    static uint64_t id = 100;
    int m = memfd_sealed(LEN, SEALS_ALL);
    uint8_t p[16];
    size_t n = put_memfd_tag(p, 0, LEN);
    int code = 0;
    assert_int_equal(raw_ask(other, ++id, p, n, &m, 1, &code), LEN);
    close(m);
}

/* Sends a message whose payload is one memfd tag on [index, len] with
 * pass as its one descriptor (closed here), and returns the code of the
 * goodbye that ends the connection; another peer is served after. */
static int hostile_message(const char *name, uint8_t index, uint64_t len, int pass)
{
    int other = raw_peer(NAME, true);
    int fd = raw_peer(name, strcmp(name, NAME) == 0);
    uint8_t p[16];
    size_t n = put_memfd_tag(p, index, len);
    raw_send(fd, RAWPEER_MESSAGE, 0, p, n, &pass, 1);
    close(pass);
    int code = rawpeer_goodbye_code(fd, SUPPORT_DEADLINE_MS);
    close(fd);
    assert_still_served(other);
    close(other);
    return code;
}

/* A length no bound holds is over the bound (ENOBUFS, checked before the
 * seals and size), also where rounding it to pages would wrap. */
static void test_memfd_length_near_2_to_the_64_is_enobufs(void **state)
{
    (void)state;
    assert_int_equal(hostile_message(NAME, 0, UINT64_MAX, memfd_sealed(LEN, SEALS_ALL)),
                     SEAM_ENOBUFS);
    assert_int_equal(hostile_message(NAME, 0, UINT64_MAX - 4095, memfd_sealed(LEN, SEALS_ALL)),
                     SEAM_ENOBUFS);
}

/* A sealed memfd opened for writing only cannot be mapped for reading:
 * the peer's fault (EMEMFD), not an access refusal of ours. */
static void test_memfd_opened_write_only_is_ememfd(void **state)
{
    (void)state;
    int m = memfd_sealed(LEN, SEALS_ALL);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", m);
    int wo = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(wo >= 0);
    close(m);
    assert_int_equal(hostile_message(NAME, 0, LEN, wo), SEAM_EMEMFD);
}

static void test_unsealed_memfd_is_ememfd(void **state)
{
    (void)state;
    assert_int_equal(hostile_message(NAME, 0, LEN, memfd_sealed(LEN, 0)), SEAM_EMEMFD);
}

static void test_memfd_without_the_write_seal_is_ememfd(void **state)
{
    (void)state;
    int seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW;
    assert_int_equal(hostile_message(NAME, 0, LEN, memfd_sealed(LEN, seals)), SEAM_EMEMFD);
}

static void test_memfd_without_the_shrink_seal_is_ememfd(void **state)
{
    (void)state;
    int seals = F_SEAL_WRITE | F_SEAL_GROW;
    assert_int_equal(hostile_message(NAME, 0, LEN, memfd_sealed(LEN, seals)), SEAM_EMEMFD);
}

static void test_memfd_whose_length_is_not_the_tags_is_ememfd(void **state)
{
    (void)state;
    assert_int_equal(hostile_message(NAME, 0, LEN + 4096, memfd_sealed(LEN, SEALS_ALL)),
                     SEAM_EMEMFD);
    assert_int_equal(hostile_message(NAME, 0, LEN - 1, memfd_sealed(LEN, SEALS_ALL)), SEAM_EMEMFD);
}

/* Sealed at its length, but with holes (never written, only sized): the
 * pages the receiver would read are allocated by reading them, to the
 * receiver's cost, and stay as long as the sender keeps the memfd. */
static void test_memfd_with_holes_is_ememfd(void **state)
{
    (void)state;
    int fd = memfd_create("sparse", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, LEN), 0);
    assert_int_equal(pwrite(fd, "x", 1, 0), 1); /* its first page only */
    assert_int_equal(fcntl(fd, F_ADD_SEALS, SEALS_ALL), 0);
    assert_int_equal(hostile_message(NAME, 0, LEN, fd), SEAM_EMEMFD);
}

static void test_memfd_shorter_than_the_announced_threshold_is_ememfd(void **state)
{
    (void)state;
    assert_int_equal(hostile_message(NAME, 0, 1024, memfd_sealed(1024, SEALS_ALL)), SEAM_EMEMFD);
}

static void test_pipe_instead_of_a_memfd_is_ememfd(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_true(support_write_full(p[1], "x", 1));
    close(p[1]);
    assert_int_equal(hostile_message(NAME, 0, LEN, p[0]), SEAM_EMEMFD);
}

static void test_regular_file_instead_of_a_memfd_is_ememfd(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/regular", f->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, LEN), 0);
    unlink(path);
    assert_int_equal(hostile_message(NAME, 0, LEN, fd), SEAM_EMEMFD);
}

static void test_memfd_index_out_of_range_is_efdindex(void **state)
{
    (void)state;
    assert_int_equal(hostile_message(NAME, 1, LEN, memfd_sealed(LEN, SEALS_ALL)), SEAM_EFDINDEX);
}

static void test_memfd_past_the_mapping_bound_is_enobufs(void **state)
{
    (void)state;
    uint32_t big = 2 * SERVER_BOUND;
    assert_int_equal(hostile_message(NAME, 0, big, memfd_sealed(big, SEALS_ALL)), SEAM_ENOBUFS);
}

static void test_memfd_tag_to_a_server_that_announced_none_is_etag(void **state)
{
    (void)state;
    assert_int_equal(hostile_message(NAME_NONE, 0, LEN, memfd_sealed(LEN, SEALS_ALL)), SEAM_ETAG);
}

/* Sends a message with payload p and one good memfd; the goodbye's code. */
static int hostile_payload(const uint8_t *p, size_t n)
{
    int other = raw_peer(NAME, true);
    int fd = raw_peer(NAME, true);
    int m = memfd_sealed(LEN, SEALS_ALL);
    raw_send(fd, RAWPEER_MESSAGE, 0, p, n, &m, 1);
    close(m);
    int code = rawpeer_goodbye_code(fd, SUPPORT_DEADLINE_MS);
    close(fd);
    assert_still_served(other);
    close(other);
    return code;
}

static void test_memfd_tag_on_a_string_is_etag(void **state)
{
    (void)state;
    static const uint8_t p[] = {0xda, 0x73, 0x65, 0x61, 0x6e, 0x61, 0x78};
    assert_int_equal(hostile_payload(p, sizeof(p)), SEAM_ETAG);
}

static void test_memfd_tag_on_an_array_of_three_or_a_bare_integer_is_etag(void **state)
{
    (void)state;
    static const uint8_t three[] = {0xda, 0x73, 0x65, 0x61, 0x6e, 0x83,
                                    0x00, 0x19, 0x40, 0x00, 0x00};
    assert_int_equal(hostile_payload(three, sizeof(three)), SEAM_ETAG);
    static const uint8_t bare[] = {0xda, 0x73, 0x65, 0x61, 0x6e, 0x00};
    assert_int_equal(hostile_payload(bare, sizeof(bare)), SEAM_ETAG);
    static const uint8_t text_len[] = {0xda, 0x73, 0x65, 0x61, 0x6e, 0x82, 0x00, 0x61, 0x78};
    assert_int_equal(hostile_payload(text_len, sizeof(text_len)), SEAM_ETAG);
}

static void test_one_descriptor_named_by_the_fd_and_the_memfd_tag_is_etag(void **state)
{
    (void)state;
    uint8_t p[32] = {0x82, 0xda, 0x73, 0x65, 0x61, 0x6d, 0x00};
    size_t n = 7 + put_memfd_tag(p + 7, 0, LEN);
    assert_int_equal(hostile_payload(p, n), SEAM_ETAG);
}

static void
test_bad_memfd_in_a_request_is_answered_with_ememfd_and_the_connection_goes_on(void **state)
{
    (void)state;
    int fd = raw_peer(NAME, true);
    int bad = memfd_sealed(LEN, 0);
    uint8_t p[16];
    size_t n = put_memfd_tag(p, 0, LEN);
    int code = 0;
    assert_int_equal(raw_ask(fd, 1, p, n, &bad, 1, &code), -1);
    assert_int_equal(code, SEAM_EMEMFD);
    close(bad);
    assert_still_served(fd);
    close(fd);
}

static void test_one_memfd_named_twice_is_mapped_once_and_both_read_it(void **state)
{
    (void)state;
    int fd = raw_peer(NAME, true);
    int m = memfd_sealed(LEN, SEALS_ALL);
    uint8_t p[32] = {0x82};
    size_t n = 1 + put_memfd_tag(p + 1, 0, LEN);
    n += put_memfd_tag(p + n, 0, LEN);
    int code = 0;
    assert_int_equal(raw_ask(fd, 1, p, n, &m, 1, &code), LEN);
    close(m);
    close(fd);
}

static void test_memfds_refused_or_released_leave_no_descriptor_open(void **state)
{
    (void)state;
    int fd = raw_peer(NAME, true);
    assert_still_served(fd);
    int64_t before = last_fds;
    int seals[] = {0, F_SEAL_SHRINK | F_SEAL_GROW, SEALS_ALL};
    for (size_t i = 0; i < 3; i++) {
        int m = memfd_sealed(i == 2 ? 2 * SERVER_BOUND : LEN, seals[i]);
        uint8_t p[16];
        size_t n = put_memfd_tag(p, 0, i == 2 ? 2 * SERVER_BOUND : LEN);
        int code = 0;
        assert_int_equal(raw_ask(fd, 10 + i, p, n, &m, 1, &code), -1);
        assert_int_equal(code, i == 2 ? SEAM_ENOBUFS : SEAM_EMEMFD);
        close(m);
        assert_still_served(fd);
    }
    /* The mapped one of each good request was there while it was
     * answered, and gone after: the count is the same each time. */
    assert_int_equal(last_fds, before);
    close(fd);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        T(test_unsealed_memfd_is_ememfd),
        T(test_memfd_without_the_write_seal_is_ememfd),
        T(test_memfd_without_the_shrink_seal_is_ememfd),
        T(test_memfd_whose_length_is_not_the_tags_is_ememfd),
        T(test_memfd_with_holes_is_ememfd),
        T(test_memfd_length_near_2_to_the_64_is_enobufs),
        T(test_memfd_opened_write_only_is_ememfd),
        T(test_memfd_shorter_than_the_announced_threshold_is_ememfd),
        T(test_pipe_instead_of_a_memfd_is_ememfd),
        T(test_regular_file_instead_of_a_memfd_is_ememfd),
        T(test_memfd_index_out_of_range_is_efdindex),
        T(test_memfd_past_the_mapping_bound_is_enobufs),
        T(test_memfd_tag_to_a_server_that_announced_none_is_etag),
        T(test_memfd_tag_on_a_string_is_etag),
        T(test_memfd_tag_on_an_array_of_three_or_a_bare_integer_is_etag),
        T(test_one_descriptor_named_by_the_fd_and_the_memfd_tag_is_etag),
        T(test_bad_memfd_in_a_request_is_answered_with_ememfd_and_the_connection_goes_on),
        T(test_one_memfd_named_twice_is_mapped_once_and_both_read_it),
        T(test_memfds_refused_or_released_leave_no_descriptor_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
