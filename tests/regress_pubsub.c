/* SPDX-License-Identifier: MIT */
/* regress_pubsub.c - retained publish/subscribe on the wire: a peer that
 * is not seam (rawpeer) subscribes with the bytes docs/protocol.md gives
 * and gets exactly the bytes it gives back; hostile subscribe, update and
 * unsubscribe frames get a goodbye with a clear code and a closed
 * connection, and the server goes on serving. The server runs in the
 * parent on a poll loop, the raw peers in forked children. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rawpeer.h"
#include "support.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME "org.seam.test.pubsub"

#define RAW_SUBSCRIBE   10
#define RAW_UNSUBSCRIBE 11
#define RAW_UPDATE      12

typedef struct fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    seam_server *server;
    support_child child;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    f->child.chan = -1;
    assert_int_equal(seam_server_listen(f->loop, NAME, NULL, &f->server), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    support_child_kill(&f->child);
    if (f->child.chan >= 0) {
        close(f->child.chan);
    }
    seam_server_close(f->server);
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

/* Sends one frame: header and payload. */
static bool send_frame(int fd, uint8_t kind, uint64_t id, const uint8_t *payload, size_t len)
{
    uint8_t frame[16 + 512];
    if (len > 512) {
        return false;
    }
    rawpeer_put_header(frame, (uint32_t)len, kind, 0, 0, id);
    if (len > 0) {
        memcpy(frame + 16, payload, len);
    }
    return support_write_full(fd, frame, 16 + len); /* one write: a refusal may follow it */
}

/* Reads one frame and compares it with kind, id and the payload bytes. */
static bool expect_frame(int fd, uint8_t kind, uint64_t id, const uint8_t *payload, size_t len)
{
    uint8_t hdr[16];
    uint8_t buf[256];
    long n = rawpeer_read_frame(fd, hdr, buf, sizeof(buf), SUPPORT_DEADLINE_MS);
    return n == (long)len && hdr[4] == kind && rawpeer_get_id(hdr) == id &&
           (len == 0 || memcmp(buf, payload, len) == 0);
}

/* {"topic": "t"} */
static const uint8_t sub_t[] = {0xa1, 0x65, 't', 'o', 'p', 'i', 'c', 0x61, 't'};
/* {"topic": "t", "seq": 1, "missed": 0, "value": 7} */
static const uint8_t update_t1[] = {0xa4, 0x65, 't',  'o',  'p',  'i', 'c', 0x61, 't', 0x63,
                                    's',  'e',  'q',  0x01, 0x66, 'm', 'i', 's',  's', 'e',
                                    'd',  0x00, 0x65, 'v',  'a',  'l', 'u', 'e',  0x07};
/* {"retained": 1} */
static const uint8_t reply_1[] = {0xa1, 0x68, 'r', 'e', 't', 'a', 'i', 'n', 'e', 'd', 0x01};

/* Subscribes to "t" as id 5 and checks the bytes that come back; then
 * unsubscribes, and after the parent published again sees only its pong. */
static int wire_main(int chan, void *arg)
{
    (void)arg;
    int fd = rawpeer_handshake(NAME);
    char go = 0;
    if (fd < 0 || !send_frame(fd, RAW_SUBSCRIBE, 5, sub_t, sizeof(sub_t))) {
        return 1;
    }
    if (!expect_frame(fd, RAW_UPDATE, 5, update_t1, sizeof(update_t1))) {
        return 2;
    }
    if (!expect_frame(fd, RAWPEER_REPLY, 5, reply_1, sizeof(reply_1))) {
        return 3;
    }
    if (!send_frame(fd, RAW_UNSUBSCRIBE, 5, NULL, 0) || !send_frame(fd, RAWPEER_PING, 9, NULL, 0) ||
        !expect_frame(fd, RAWPEER_PONG, 9, NULL, 0)) {
        return 4;
    }
    if (!support_write_full(chan, "u", 1) ||
        !support_read_full(chan, &go, 1, SUPPORT_DEADLINE_MS)) {
        return 5;
    }
    if (!send_frame(fd, RAWPEER_PING, 10, NULL, 0) ||
        !expect_frame(fd, RAWPEER_PONG, 10, NULL, 0)) {
        return 6; /* an update after the unsubscribe */
    }
    close(fd);
    return 0;
}

static void serve_until_child_says(fixture *f, char *what)
{
    assert_true(support_run_until_readable(f->loop, f->child.chan, SUPPORT_DEADLINE_MS));
    assert_true(support_read_full(f->child.chan, what, 1, SUPPORT_DEADLINE_MS));
}

static void
test_raw_subscriber_gets_the_documented_bytes_and_nothing_after_unsubscribe(void **state)
{
    fixture *f = *state;
    seam_value *v = seam_value_new_int64(7);
    assert_int_equal(seam_server_publish(f->server, "t", v), 0);
    seam_value_unref(v);
    support_fork(&f->child, wire_main, NULL);
    char what = 0;
    serve_until_child_says(f, &what);
    assert_int_equal(what, 'u');
    v = seam_value_new_int64(8);
    assert_int_equal(seam_server_publish(f->server, "t", v), 0);
    seam_value_unref(v);
    assert_true(support_write_full(f->child.chan, "g", 1));
    assert_int_equal(support_run_until_exit(f->loop, &f->child, SUPPORT_DEADLINE_MS), 0);
}

/* ---- hostile frames ---- */

typedef struct hostile {
    uint8_t kind;
    uint64_t id;
    const uint8_t *payload;
    size_t len;
} hostile;

/* Sends the frame and reports the code of the goodbye that closed the connection. */
static int hostile_main(int chan, void *arg)
{
    const hostile *h = arg;
    int fd = rawpeer_handshake(NAME);
    if (fd < 0 || !send_frame(fd, h->kind, h->id, h->payload, h->len)) {
        return 1;
    }
    int code = rawpeer_goodbye_code(fd, SUPPORT_DEADLINE_MS);
    close(fd);
    return support_write_full(chan, &code, sizeof(code)) ? 0 : 2;
}

/* The code a child reports once it has ended its connection (reaping it
 * closes its channel: read first). */
static int child_code(fixture *f, support_child_fn fn, void *arg)
{
    support_fork(&f->child, fn, arg);
    assert_true(support_run_until_readable(f->loop, f->child.chan, SUPPORT_DEADLINE_MS));
    int code = 0;
    assert_true(support_read_full(f->child.chan, &code, sizeof(code), SUPPORT_DEADLINE_MS));
    assert_int_equal(support_run_until_exit(f->loop, &f->child, SUPPORT_DEADLINE_MS), 0);
    return code;
}

static int goodbye_for(fixture *f, const hostile *h)
{
    return child_code(f, hostile_main, (void *)h);
}

static void test_subscribe_that_is_not_a_map_closes_with_eproto(void **state)
{
    static const uint8_t one[] = {0x01};
    assert_int_equal(goodbye_for(*state, &(hostile){RAW_SUBSCRIBE, 1, one, 1}), SEAM_EPROTO);
}

static void test_subscribe_without_a_text_topic_closes_with_eproto(void **state)
{
    static const uint8_t empty_map[] = {0xa0};
    static const uint8_t int_topic[] = {0xa1, 0x65, 't', 'o', 'p', 'i', 'c', 0x01};
    assert_int_equal(goodbye_for(*state, &(hostile){RAW_SUBSCRIBE, 1, empty_map, 1}), SEAM_EPROTO);
    assert_int_equal(goodbye_for(*state, &(hostile){RAW_SUBSCRIBE, 1, int_topic, 8}), SEAM_EPROTO);
}

static void test_subscribe_that_is_not_cbor_closes_with_its_decode_error(void **state)
{
    static const uint8_t junk[] = {0xa1, 0x65, 't', 'o'};
    assert_int_equal(goodbye_for(*state, &(hostile){RAW_SUBSCRIBE, 1, junk, 4}), SEAM_ETRUNCATED);
}

static void test_subscribe_without_an_id_closes_with_eframeid(void **state)
{
    assert_int_equal(goodbye_for(*state, &(hostile){RAW_SUBSCRIBE, 0, sub_t, sizeof(sub_t)}),
                     SEAM_EFRAMEID);
}

static void test_unsubscribe_with_a_payload_closes_with_eframelen(void **state)
{
    assert_int_equal(goodbye_for(*state, &(hostile){RAW_UNSUBSCRIBE, 1, sub_t, sizeof(sub_t)}),
                     SEAM_EFRAMELEN);
}

static void test_update_sent_to_a_server_closes_with_eproto(void **state)
{
    assert_int_equal(goodbye_for(*state, &(hostile){RAW_UPDATE, 1, update_t1, sizeof(update_t1)}),
                     SEAM_EPROTO);
}

/* The same id subscribed twice while the first lives. */
static int twice_main(int chan, void *arg)
{
    (void)arg;
    int fd = rawpeer_handshake(NAME);
    if (fd < 0 || !send_frame(fd, RAW_SUBSCRIBE, 3, sub_t, sizeof(sub_t)) ||
        !send_frame(fd, RAW_SUBSCRIBE, 3, sub_t, sizeof(sub_t))) {
        return 1;
    }
    int code = rawpeer_goodbye_code(fd, SUPPORT_DEADLINE_MS);
    close(fd);
    return support_write_full(chan, &code, sizeof(code)) ? 0 : 2;
}

static void test_subscribe_reusing_a_live_subscription_id_closes_with_eproto(void **state)
{
    fixture *f = *state;
    assert_int_equal(child_code(f, twice_main, NULL), SEAM_EPROTO);
    /* and the server goes on: a new subscriber is served */
    assert_int_equal(goodbye_for(f, &(hostile){RAW_UPDATE, 1, update_t1, sizeof(update_t1)}),
                     SEAM_EPROTO);
}

/* ---- the order a subscribe is checked in (docs/protocol.md, "subscribe") ---- */

/* Writes {"topic": pattern} into buf; its length. */
static size_t sub_payload(uint8_t *buf, const char *pattern, size_t len)
{
    static const uint8_t head[] = {0xa1, 0x65, 't', 'o', 'p', 'i', 'c'};
    memcpy(buf, head, sizeof(head));
    size_t n = sizeof(head);
    if (len < 24) {
        buf[n++] = (uint8_t)(0x60 + len);
    } else if (len < 256) {
        buf[n++] = 0x78;
        buf[n++] = (uint8_t)len;
    } else {
        buf[n++] = 0x79;
        buf[n++] = (uint8_t)(len >> 8);
        buf[n++] = (uint8_t)len;
    }
    memcpy(buf + n, pattern, len);
    return n + len;
}

static bool subscribe(int fd, uint64_t id, const char *pattern, size_t len)
{
    uint8_t buf[512];
    return len <= 400 && send_frame(fd, RAW_SUBSCRIBE, id, buf, sub_payload(buf, pattern, len));
}

/* The code of the error answering id, 0 if the next frame is another. */
static int error_code(int fd, uint64_t id)
{
    uint8_t hdr[16];
    uint8_t buf[256];
    long n = rawpeer_read_frame(fd, hdr, buf, sizeof(buf), SUPPORT_DEADLINE_MS);
    if (n < 0 || hdr[4] != RAWPEER_ERROR || rawpeer_get_id(hdr) != id) {
        return 0;
    }
    return rawpeer_payload_code(buf, (size_t)n);
}

/* {"retained": 0} */
static const uint8_t reply_0[] = {0xa1, 0x68, 'r', 'e', 't', 'a', 'i', 'n', 'e', 'd', 0x00};

/* Length before syntax: a pattern too long is ETOOLONG whatever else is
 * wrong with it; one within the length is checked for its '*'. */
static int length_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    char p[257];
    memset(p, 'a', sizeof(p));
    p[10] = '*';
    int fd = rawpeer_handshake(NAME);
    if (fd < 0 || !subscribe(fd, 1, p, 257) || error_code(fd, 1) != SEAM_ETOOLONG) {
        return 1;
    }
    if (!subscribe(fd, 2, p, 256) || error_code(fd, 2) != SEAM_EINVAL) {
        return 2;
    }
    if (!subscribe(fd, 3, "", 0) || error_code(fd, 3) != SEAM_EINVAL) {
        return 3;
    }
    memset(p, 'a', sizeof(p));
    p[255] = '*';
    if (!subscribe(fd, 4, p, 256) ||
        !expect_frame(fd, RAWPEER_REPLY, 4, reply_0, sizeof(reply_0))) {
        return 4; /* 256 bytes with the '*': within the limit */
    }
    close(fd);
    return 0;
}

static void test_subscribe_checks_the_pattern_length_before_its_syntax(void **state)
{
    fixture *f = *state;
    support_fork(&f->child, length_main, NULL);
    assert_int_equal(support_run_until_exit(f->loop, &f->child, SUPPORT_DEADLINE_MS), 0);
}

/* At the subscription limit: a bad pattern is still EINVAL, a good one
 * ENOBUFS; a live id reused is EPROTO before its pattern is looked at. */
static int limit_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    int fd = rawpeer_handshake(NAME);
    if (fd < 0) {
        return 1;
    }
    for (uint64_t id = 1; id <= 64; id++) {
        if (!subscribe(fd, id, "t", 1) ||
            !expect_frame(fd, RAWPEER_REPLY, id, reply_0, sizeof(reply_0))) {
            return 2; /* a server that never published takes subscriptions */
        }
    }
    if (!subscribe(fd, 65, "a*b", 3) || error_code(fd, 65) != SEAM_EINVAL) {
        return 3;
    }
    if (!subscribe(fd, 66, "u", 1) || error_code(fd, 66) != SEAM_ENOBUFS) {
        return 4;
    }
    if (!send_frame(fd, RAW_UNSUBSCRIBE, 64, NULL, 0) || !subscribe(fd, 67, "u", 1) ||
        !expect_frame(fd, RAWPEER_REPLY, 67, reply_0, sizeof(reply_0))) {
        return 5; /* an unsubscribe makes room */
    }
    if (!subscribe(fd, 1, "a*b", 3) ||
        rawpeer_goodbye_code(fd, SUPPORT_DEADLINE_MS) != SEAM_EPROTO) {
        return 6;
    }
    close(fd);
    return 0;
}

static void test_subscribe_checks_id_then_pattern_then_the_limit(void **state)
{
    fixture *f = *state;
    support_fork(&f->child, limit_main, NULL);
    assert_int_equal(support_run_until_exit(f->loop, &f->child, SUPPORT_DEADLINE_MS), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_raw_subscriber_gets_the_documented_bytes_and_nothing_after_unsubscribe, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_that_is_not_a_map_closes_with_eproto, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_without_a_text_topic_closes_with_eproto,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_subscribe_that_is_not_cbor_closes_with_its_decode_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_without_an_id_closes_with_eframeid, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unsubscribe_with_a_payload_closes_with_eframelen,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_sent_to_a_server_closes_with_eproto, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_subscribe_reusing_a_live_subscription_id_closes_with_eproto, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_checks_the_pattern_length_before_its_syntax,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_checks_id_then_pattern_then_the_limit, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
