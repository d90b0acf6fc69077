/* SPDX-License-Identifier: MIT */
/* regress_memfd_amplify.c - what a peer's memfds can make a server hold,
 * bounded: a raw peer that announces no "memfd" sends one 256 KiB memfd
 * named by 4,000 memfd tags in one request, to a server in another
 * process that echoes every request. Received, the memfd is mapped once;
 * echoed, its bytes would be 1 GB of copies for the raw peer (which takes
 * no memfds): the encoder stops with EMSGSIZE at the peer's max_frame, so
 * the server's peak RSS stays far below that, and it still serves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rawpeer.h"
#include "support.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define NAME         "org.seam.test.amplify"
#define MEMFD_LEN    (256u << 10)
#define TIMES        4000u
#define SEALS_ALL    (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
/* Far above what serving takes, far below 4,000 copies of 256 KiB. */
#define RSS_BOUND_KB (128u << 10)

/* ---- the server (a child): {"rss": true} is answered with its peak RSS
 * in KiB; anything else is echoed, or answered with the echo's error. */

static void server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type != SEAM_EVENT_REQUEST || ev->raw) {
        return;
    }
    bool rss = false;
    if (seam_value_type(ev->value) == SEAM_TYPE_DICT &&
        seam_dict_get_bool(ev->value, "rss", &rss)) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        seam_value *r = seam_value_new_dict();
        seam_dict_set_int64(r, "rss", (int64_t)ru.ru_maxrss);
        seam_request_reply(ev->request, r);
        seam_value_unref(r);
        return;
    }
    int rc = seam_request_reply(ev->request, ev->value);
    if (rc != 0) {
        seam_request_reply_error(ev->request, rc, "echo refused", NULL);
    }
}

static const seam_server_config server_cfg = {.conn.on_event = server_event,
                                              .conn.memfd_min = 4096};

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

/* ---- the raw peer (in the parent) ---- */

static int raw_peer(void)
{
    int fd = rawpeer_connect(NAME);
    assert_true(fd >= 0);
    assert_true(support_write_full(fd, rawpeer_hello, sizeof(rawpeer_hello)));
    uint8_t hdr[16];
    uint8_t payload[256];
    long len = rawpeer_read_frame(fd, hdr, payload, sizeof(payload), SUPPORT_DEADLINE_MS);
    assert_true(len > 0);
    assert_int_equal(hdr[4], RAWPEER_HELLO);
    seam_value *hello = NULL;
    assert_int_equal(seam_value_decode(payload, (size_t)len, NULL, &hello), 0);
    assert_non_null(seam_dict_get(hello, "memfd"));
    seam_value_unref(hello);
    return fd;
}

/* Sends a request; reads its answer's header to hdr and payload to buf. */
static long ask(int fd, uint64_t id, const uint8_t *p, size_t n, const int *fds, size_t nfds,
                uint8_t hdr[16], uint8_t *buf, size_t cap)
{
    uint8_t h[16];
    rawpeer_put_header(h, (uint32_t)n, RAWPEER_REQUEST, 0, (uint16_t)nfds, id);
    assert_true(rawpeer_send_with_fds(fd, h, sizeof(h), fds, nfds));
    assert_true(support_write_full(fd, p, n));
    long len = rawpeer_read_frame(fd, hdr, buf, cap, SUPPORT_DEADLINE_MS);
    assert_true(len > 0);
    assert_true(rawpeer_get_id(hdr) == id);
    return len;
}

static int64_t server_peak_rss_kb(int fd)
{
    static const uint8_t q[] = {0xa1, 0x63, 'r', 's', 's', 0xf5}; /* {"rss": true} */
    uint8_t hdr[16];
    uint8_t buf[128];
    long n = ask(fd, 99, q, sizeof(q), NULL, 0, hdr, buf, sizeof(buf));
    assert_int_equal(hdr[4], RAWPEER_REPLY);
    seam_value *v = NULL;
    assert_int_equal(seam_value_decode(buf, (size_t)n, NULL, &v), 0);
    int64_t kb = 0;
    assert_true(seam_dict_get_int64(v, "rss", &kb));
    seam_value_unref(v);
    return kb;
}

static void test_one_memfd_named_4000_times_echoed_as_bytes_is_emsgsize_not_1_gb(void **state)
{
    (void)state;
    int fd = raw_peer();
    int m = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(m >= 0);
    assert_int_equal(fallocate(m, 0, 0, MEMFD_LEN), 0);
    assert_int_equal(fcntl(m, F_ADD_SEALS, SEALS_ALL), 0);
    /* An array of TIMES memfd tags [0, 256 KiB]: 48 KB of payload. */
    size_t n = 3 + (size_t)TIMES * 12;
    uint8_t *p = malloc(n);
    assert_non_null(p);
    p[0] = 0x99;
    p[1] = (uint8_t)(TIMES >> 8);
    p[2] = (uint8_t)TIMES;
    static const uint8_t tag[12] = {0xda, 0x73, 0x65, 0x61, 0x6e, 0x82,
                                    0x00, 0x1a, 0x00, 0x04, 0x00, 0x00};
    for (size_t i = 0; i < TIMES; i++) {
        memcpy(p + 3 + i * 12, tag, sizeof(tag));
    }
    uint8_t hdr[16];
    uint8_t buf[256];
    long len = ask(fd, 1, p, n, &m, 1, hdr, buf, sizeof(buf));
    free(p);
    close(m);
    assert_int_equal(hdr[4], RAWPEER_ERROR);
    assert_int_equal(rawpeer_payload_code(buf, (size_t)len), SEAM_EMSGSIZE);
    assert_true(server_peak_rss_kb(fd) < RSS_BOUND_KB);
    close(fd);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        T(test_one_memfd_named_4000_times_echoed_as_bytes_is_emsgsize_not_1_gb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
