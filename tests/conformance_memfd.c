/* SPDX-License-Identifier: MIT */
/* conformance_memfd.c - data in sealed memfds on every adapter (and over
 * the in-process transport, which passes descriptors as well): a memfd
 * the sender filled travels as its descriptor and is read from a mapping,
 * below the peer's threshold or to a peer that takes none it travels as
 * bytes, a receiver keeps the mapping by keeping the value, and what a
 * peer's mappings make a connection hold is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conformance_memfd.h"
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef SEAM_CONFORMANCE_INPROC
#define NAME "inproc:t.memfd"
#else
#define NAME "t.memfd"
#endif
#define CALL_MS SUPPORT_DEADLINE_MS
#define MIB     (1u << 20)

/* A hash of every byte and its place: a byte wrong anywhere shows. */
static uint64_t bytes_hash(const uint8_t *p, size_t len)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 1099511628211u;
    }
    return h;
}

static uint8_t pattern_byte(size_t i, unsigned seed)
{
    return (uint8_t)((i * 131u + seed) ^ (i >> 12));
}

static uint8_t *pattern(size_t len, unsigned seed)
{
    uint8_t *b = malloc(len);
    assert_non_null(b);
    for (size_t i = 0; i < len; i++) {
        b[i] = pattern_byte(i, seed);
    }
    return b;
}

/* A memfd the caller fills, as an application would, holding pattern. */
static int filled_memfd(size_t len, unsigned seed)
{
    int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    uint8_t *b = pattern(len, seed);
    assert_true(support_write_full(fd, b, len));
    free(b);
    return fd;
}

static seam_value *memfd_data(size_t len, unsigned seed)
{
    int fd = filled_memfd(len, seed);
    seam_value *v = seam_value_new_data_memfd(fd, len);
    assert_non_null(v);
    return v;
}

static uint64_t pattern_hash(size_t len, unsigned seed)
{
    uint8_t *b = pattern(len, seed);
    uint64_t h = bytes_hash(b, len);
    free(b);
    return h;
}

/* ---- the server (a child): {"op": "look", "data": D} is answered with
 * {"memfd": whether D came as a memfd, "len", "hash"} and, with "echo",
 * D itself; with "keep" D is kept. "kept" answers the hash of the first
 * value kept, read after the callbacks that brought it; "drop" releases
 * them all. ---- */

#define KEPT_MAX 8
static seam_value *kept[KEPT_MAX];
static size_t nkept;

static void drop_kept(void)
{
    for (size_t i = 0; i < nkept; i++) {
        seam_value_unref(kept[i]);
    }
    nkept = 0;
}

static void look(seam_request *req, const seam_value *msg)
{
    seam_value *d = seam_dict_get(msg, "data");
    size_t len = 0;
    const uint8_t *bytes = seam_value_get_data(d, &len);
    seam_value *r = seam_value_new_dict();
    seam_dict_set_bool(r, "memfd", seam_value_get_memfd(d) >= 0);
    seam_dict_set_int64(r, "len", (int64_t)len);
    seam_dict_set_take(r, "hash",
                       seam_value_new_uint64(bytes != NULL ? bytes_hash(bytes, len) : 0));
    bool flag = false;
    if (seam_dict_get_bool(msg, "echo", &flag) && flag) {
        seam_dict_set(r, "data", d);
    }
    if (seam_dict_get_bool(msg, "keep", &flag) && flag && nkept < KEPT_MAX) {
        kept[nkept++] = seam_value_ref(d);
    }
    seam_request_reply(req, r);
    seam_value_unref(r);
}

static void memfd_server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type != SEAM_EVENT_REQUEST) {
        return;
    }
    if (ev->raw) {
        /* Raw bytes: whether they came in a memfd, their length and hash. */
        seam_value *r = seam_value_new_dict();
        seam_dict_set_bool(r, "memfd",
                           ev->raw_memfd != NULL && seam_value_get_memfd(ev->raw_memfd) >= 0);
        seam_dict_set_int64(r, "len", (int64_t)ev->raw_len);
        seam_dict_set_take(r, "hash",
                           seam_value_new_uint64(bytes_hash(ev->raw_bytes, ev->raw_len)));
        seam_request_reply(ev->request, r);
        seam_value_unref(r);
        return;
    }
    const char *op = seam_dict_get_string(ev->value, "op");
    if (op != NULL && strcmp(op, "look") == 0) {
        look(ev->request, ev->value);
    } else if (op != NULL && strcmp(op, "kept") == 0 && nkept > 0) {
        size_t len = 0;
        const uint8_t *bytes = seam_value_get_data(kept[0], &len);
        seam_value *r = seam_value_new_dict();
        seam_dict_set_take(r, "hash", seam_value_new_uint64(bytes_hash(bytes, len)));
        seam_dict_set_bool(r, "memfd", seam_value_get_memfd(kept[0]) >= 0);
        seam_request_reply(ev->request, r);
        seam_value_unref(r);
    } else if (op != NULL && strcmp(op, "drop") == 0) {
        drop_kept();
        seam_value *r = seam_value_new_dict();
        seam_request_reply(ev->request, r);
        seam_value_unref(r);
    }
}

static const seam_server_config default_server = {.conn.on_event = memfd_server_event};
static const seam_server_config memfdless_server = {.conn.on_event = memfd_server_event,
                                                    .conn.memfd_min = SIZE_MAX};
/* Takes memfds from 4 KiB, holds at most 1 MiB of them mapped. */
static const seam_server_config bounded_server = {
    .conn.on_event = memfd_server_event, .conn.memfd_min = 4096, .conn.max_memfd_bytes = MIB};

/* ---- the client ---- */

typedef struct memfd_test {
    seam_loop *loop;
    support_child server;
    seam_conn *conn;
    int connected;
    int ended;
    int ended_error;
} memfd_test;

static void client_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    memfd_test *t = userdata;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        t->connected++;
    }
    if (ev->type == SEAM_EVENT_INTERRUPTED || ev->type == SEAM_EVENT_INVALID) {
        t->ended++;
        t->ended_error = ev->error;
    }
}

static void memfd_begin(memfd_test *t, const seam_server_config *server)
{
    memset(t, 0, sizeof(*t));
    nkept = 0;
    t->loop = support_loop_new();
    support_spawn_server(&t->server, NAME, server);
    seam_conn_config cfg = {.on_event = client_event, .userdata = t};
    assert_int_equal(seam_conn_connect(t->loop, NAME, &cfg, &t->conn), 0);
    /* Before the handshake the server's threshold is unknown: memfd data
     * sent then goes as bytes. */
    assert_true(support_run_until_count(t->loop, &t->connected, 1, SUPPORT_DEADLINE_MS));
}

static void memfd_end(memfd_test *t)
{
    if (t->conn != NULL) {
        seam_conn_close(t->conn);
    }
    support_server_stop(&t->server);
    drop_kept(); /* a server that is a thread leaves what it kept here */
    seam_loop_free(t->loop);
}

/* Calls {"op": op, "data": data (taken), flags...} and returns the reply
 * (the caller releases it), or NULL with *status the call's error. */
static seam_value *call_op(memfd_test *t, const char *op, seam_value *data, bool echo, bool keep,
                           int *status)
{
    seam_value *m = seam_value_new_dict();
    seam_dict_set_string(m, "op", op);
    if (data != NULL) {
        seam_dict_set_take(m, "data", data);
    }
    seam_dict_set_bool(m, "echo", echo);
    seam_dict_set_bool(m, "keep", keep);
    seam_value *reply = NULL;
    int r = seam_conn_call_sync(t->conn, m, CALL_MS, &reply);
    seam_value_unref(m);
    if (status != NULL) {
        *status = r;
    }
    if (r != 0) {
        seam_value_unref(reply);
        return NULL;
    }
    return reply;
}

static uint64_t reply_hash(const seam_value *r)
{
    uint64_t h = 0;
    assert_true(seam_value_get_uint64(seam_dict_get(r, "hash"), &h));
    return h;
}

static bool reply_memfd(const seam_value *r)
{
    bool b = false;
    assert_true(seam_dict_get_bool(r, "memfd", &b));
    return b;
}

/* Sends len bytes of pattern seed as data made by make and says whether
 * the server saw a memfd; asserts that it saw every byte. */
static bool server_saw_memfd(memfd_test *t, seam_value *data, size_t len, unsigned seed)
{
    int status = 0;
    seam_value *r = call_op(t, "look", data, false, false, &status);
    assert_int_equal(status, 0);
    int64_t n = 0;
    assert_true(seam_dict_get_int64(r, "len", &n));
    assert_int_equal(n, (int64_t)len);
    assert_true(reply_hash(r) == pattern_hash(len, seed));
    bool memfd = reply_memfd(r);
    seam_value_unref(r);
    return memfd;
}

void test_memfd_data_reaches_the_server_as_a_mapping_of_its_bytes(void **state)
{
    (void)state;
    memfd_test t;
    memfd_begin(&t, &default_server);
    assert_true(server_saw_memfd(&t, memfd_data(MIB, 1), MIB, 1));
    /* Larger than a frame may be: only the descriptor travels. */
    assert_true(server_saw_memfd(&t, memfd_data(20 * MIB, 2), 20 * MIB, 2));
    memfd_end(&t);
}

void test_memfd_data_sent_on_by_the_receiver_travels_as_the_same_memfd(void **state)
{
    (void)state;
    memfd_test t;
    memfd_begin(&t, &default_server);
    int status = 0;
    seam_value *r = call_op(&t, "look", memfd_data(2 * MIB, 3), true, false, &status);
    assert_int_equal(status, 0);
    assert_true(reply_memfd(r));
    seam_value *back = seam_dict_get(r, "data");
    size_t len = 0;
    const uint8_t *bytes = seam_value_get_data(back, &len);
    assert_int_equal(len, 2 * MIB);
    assert_true(seam_value_get_memfd(back) >= 0);
    assert_true(bytes_hash(bytes, len) == pattern_hash(2 * MIB, 3));
    /* Sealed as the sender sealed it: nobody can change the bytes now. */
    int seals = fcntl(seam_value_get_memfd(back), F_GET_SEALS);
    assert_true((seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)) ==
                (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW));
    seam_value_unref(r);
    memfd_end(&t);
}

void test_memfd_data_below_the_peer_threshold_travels_as_bytes(void **state)
{
    (void)state;
    memfd_test t;
    memfd_begin(&t, &default_server); /* takes memfds from 256 KiB */
    assert_false(server_saw_memfd(&t, memfd_data(64u << 10, 4), 64u << 10, 4));
    assert_true(server_saw_memfd(&t, memfd_data(256u << 10, 5), 256u << 10, 5));
    memfd_end(&t);
}

void test_memfd_data_to_a_peer_that_takes_none_travels_as_bytes(void **state)
{
    (void)state;
    memfd_test t;
    memfd_begin(&t, &memfdless_server);
    assert_false(server_saw_memfd(&t, memfd_data(MIB, 6), MIB, 6));
    memfd_end(&t);
}

void test_plain_data_above_the_threshold_travels_as_bytes(void **state)
{
    (void)state;
    memfd_test t;
    memfd_begin(&t, &default_server);
    uint8_t *b = pattern(MIB, 7);
    seam_value *d = seam_value_new_data(b, MIB);
    free(b);
    assert_int_equal(seam_value_get_memfd(d), -1);
    assert_false(server_saw_memfd(&t, d, MIB, 7));
    memfd_end(&t);
}

void test_memfd_data_kept_past_its_callback_stays_mapped(void **state)
{
    (void)state;
    memfd_test t;
    memfd_begin(&t, &default_server);
    seam_value *r = call_op(&t, "look", memfd_data(MIB, 8), false, true, NULL);
    assert_non_null(r);
    seam_value_unref(r);
    r = call_op(&t, "kept", NULL, false, false, NULL);
    assert_non_null(r);
    assert_true(reply_memfd(r));
    assert_true(reply_hash(r) == pattern_hash(MIB, 8));
    seam_value_unref(r);
    memfd_end(&t);
}

static bool ended(void *arg)
{
    return ((memfd_test *)arg)->ended > 0;
}

void test_memfd_message_past_the_mapping_bound_closes_the_connection(void **state)
{
    (void)state;
    memfd_test t;
    memfd_begin(&t, &bounded_server);
    seam_value *m = seam_value_new_dict();
    seam_dict_set_string(m, "op", "look");
    seam_dict_set_take(m, "data", memfd_data(2 * MIB, 9));
    assert_int_equal(seam_conn_send(t.conn, m), 0);
    seam_value_unref(m);
    assert_true(support_run_until(t.loop, ended, &t, SUPPORT_DEADLINE_MS));
    assert_int_equal(t.ended_error, SEAM_ENOBUFS);
    /* The server lives on: the next connection is served. */
    seam_conn_close(t.conn);
    seam_conn_config cfg = {.on_event = client_event, .userdata = &t};
    assert_int_equal(seam_conn_connect(t.loop, NAME, &cfg, &t.conn), 0);
    assert_true(support_run_until_count(t.loop, &t.connected, 2, SUPPORT_DEADLINE_MS));
    assert_true(server_saw_memfd(&t, memfd_data(64u << 10, 10), 64u << 10, 10));
    memfd_end(&t);
}

void test_memfd_data_kept_counts_against_the_bound_until_released(void **state)
{
    (void)state;
    memfd_test t;
    memfd_begin(&t, &bounded_server);
    const size_t part = 600u << 10;
    seam_value *r = call_op(&t, "look", memfd_data(part, 11), false, true, NULL);
    assert_non_null(r);
    assert_true(reply_memfd(r));
    seam_value_unref(r);
    /* 600 KiB kept and 600 KiB more would pass 1 MiB: a request is
     * refused with an error answer, before anything is mapped. */
    int status = 0;
    r = call_op(&t, "look", memfd_data(part, 12), false, false, &status);
    assert_null(r);
    assert_int_equal(status, SEAM_EREMOTE);
    r = call_op(&t, "drop", NULL, false, false, NULL);
    assert_non_null(r);
    seam_value_unref(r);
    assert_true(server_saw_memfd(&t, memfd_data(part, 13), part, 13));
    assert_int_equal(t.ended, 0);
    memfd_end(&t);
}

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

void test_new_data_memfd_refuses_what_it_cannot_seal_and_leaves_the_fd(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    errno = 0;
    assert_null(seam_value_new_data_memfd(p[0], 1));
    assert_int_equal(errno, EBADF);
    assert_true(fd_open(p[0]));
    close(p[0]);
    close(p[1]);

    int fd = filled_memfd(8192, 14);
    errno = 0;
    assert_null(seam_value_new_data_memfd(fd, 4096));
    assert_int_equal(errno, EINVAL);
    assert_null(seam_value_new_data_memfd(fd, 0));
    assert_int_equal(errno, EINVAL);
    void *w = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(w != MAP_FAILED);
    errno = 0;
    assert_null(seam_value_new_data_memfd(fd, 8192));
    assert_int_equal(errno, EBUSY);
    assert_true(fd_open(fd));
    munmap(w, 8192);

    seam_value *v = seam_value_new_data_memfd(fd, 8192);
    assert_non_null(v);
    assert_int_equal(seam_value_get_memfd(v), fd);
    size_t len = 0;
    const uint8_t *bytes = seam_value_get_data(v, &len);
    assert_int_equal(len, 8192);
    assert_true(bytes_hash(bytes, len) == pattern_hash(8192, 14));
    /* Sealed: the writer can no longer change what was handed over. */
    assert_true(write(fd, "x", 1) < 0);
    seam_value_unref(v);
    assert_false(fd_open(fd));
}

void test_memfd_data_encodes_as_a_plain_byte_string_outside_a_connection(void **state)
{
    (void)state;
    seam_value *v = memfd_data(8192, 15);
    uint8_t *b = pattern(8192, 15);
    seam_value *plain = seam_value_new_data(b, 8192);
    free(b);
    uint8_t *e1 = NULL, *e2 = NULL;
    size_t n1 = 0, n2 = 0;
    assert_int_equal(seam_value_encode(v, &e1, &n1), 0);
    assert_int_equal(seam_value_encode(plain, &e2, &n2), 0);
    assert_int_equal(n1, n2);
    assert_memory_equal(e1, e2, n1);
    assert_true(seam_value_equal(v, plain));
    seam_value *copy = seam_value_copy(v);
    assert_int_equal(seam_value_get_memfd(copy), -1);
    assert_true(seam_value_equal(copy, plain));
    free(e1);
    free(e2);
    seam_value_unref(copy);
    seam_value_unref(plain);
    seam_value_unref(v);
}

typedef struct raw_call {
    int done;
    int status;
    bool memfd;
    int64_t len;
    uint64_t hash;
} raw_call;

static void raw_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    raw_call *rc = userdata;
    rc->status = r->status;
    if (r->status == 0) {
        seam_dict_get_bool(r->value, "memfd", &rc->memfd);
        seam_dict_get_int64(r->value, "len", &rc->len);
        seam_value_get_uint64(seam_dict_get(r->value, "hash"), &rc->hash);
    }
    rc->done++;
}

/* Calls the server with len raw bytes of pattern seed in a memfd; whether
 * it saw a memfd, asserting it saw every byte. */
static bool server_saw_raw_memfd(memfd_test *t, size_t len, unsigned seed)
{
    raw_call rc = {0};
    int fd = filled_memfd(len, seed);
    assert_int_equal(seam_conn_call_raw_memfd(t->conn, 9, fd, len, CALL_MS, raw_reply, &rc, NULL),
                     0);
    assert_true(support_run_until_count(t->loop, &rc.done, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(rc.status, 0);
    assert_int_equal(rc.len, (int64_t)len);
    assert_true(rc.hash == pattern_hash(len, seed));
    return rc.memfd;
}

void test_raw_memfd_call_reaches_the_server_as_a_mapping_of_its_bytes(void **state)
{
    (void)state;
    memfd_test t;
    memfd_begin(&t, &default_server);
    assert_true(server_saw_raw_memfd(&t, MIB, 21));
    /* Larger than a frame may be: only the descriptor travels. */
    assert_true(server_saw_raw_memfd(&t, 20 * MIB, 22));
    memfd_end(&t);
}

void test_raw_memfd_to_a_peer_that_takes_none_travels_as_bytes(void **state)
{
    (void)state;
    memfd_test t;
    memfd_begin(&t, &memfdless_server);
    assert_false(server_saw_raw_memfd(&t, MIB, 23));
    memfd_end(&t);
}

void test_raw_memfd_below_the_peer_threshold_travels_as_bytes(void **state)
{
    (void)state;
    memfd_test t;
    memfd_begin(&t, &default_server);
    assert_false(server_saw_raw_memfd(&t, 64u << 10, 24));
    memfd_end(&t);
}
