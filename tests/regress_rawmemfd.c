/* SPDX-License-Identifier: MIT */
/* regress_rawmemfd.c - hostile RAW|MEMFD frames (docs/protocol.md, "Raw
 * bytes in a sealed memfd") sent by a peer that is not seam to a real
 * server in another process: descriptors that are not memfds sealed as
 * asked, lengths that lie, headers that break the MEMFD rules, MEMFD to a
 * server that announced no "memfd". A refused request gets an error
 * answer and its connection goes on; a refused message or reply, and any
 * header violation, ends the connection with a goodbye carrying the
 * documented code. Either way the server closes every descriptor the
 * frame brought (a pipe end passed beside shows it) and holds no more
 * descriptors than before, and another peer connected all along is still
 * served. */
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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define NAME         "org.seam.test.rawmemfd"
#define NAME_NONE    "org.seam.test.rawmemfd.none"
#define THRESHOLD    16384u /* the server's memfd_min */
#define LEN          65536u /* a good memfd's length */
#define SERVER_BOUND (256u << 10)
#define SEALS_ALL    (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define FLAG_RAW     0x01
#define FLAG_MEMFD   0x04
#define RAW_MEMFD    (FLAG_RAW | FLAG_MEMFD)
#define RAW_ID       7u
#define CALL_ME      99u /* a raw message asking the server to call us */
#define CALL_ANSWER  98u /* the raw message that says what the call got */

/* ---- the servers (children) ---- */

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

static uint64_t bytes_hash(const uint8_t *p, size_t len)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 1099511628211u;
    }
    return h;
}

/* What the server tells of raw bytes it got: their length, whether they
 * came in a memfd, their hash, the other descriptors beside them and the
 * descriptors it has open while they live. */
static seam_value *server_account(size_t len, const void *bytes, bool memfd, size_t nfds)
{
    seam_value *r = seam_value_new_dict();
    seam_dict_set_int64(r, "len", (int64_t)len);
    seam_dict_set_bool(r, "memfd", memfd);
    seam_dict_set_take(r, "hash", seam_value_new_uint64(bytes_hash(bytes, len)));
    seam_dict_set_int64(r, "nfds", (int64_t)nfds);
    seam_dict_set_int64(r, "fds", open_fd_count());
    return r;
}

/* A reply to the server's call: its account goes back as a raw message
 * whose bytes are the account's CBOR. */
static void server_on_reply(seam_conn *conn, const seam_reply *reply, void *userdata)
{
    (void)userdata;
    if (reply->status != 0 || !reply->raw) {
        return;
    }
    seam_value *r = server_account(reply->raw_len, reply->raw_bytes, reply->raw_memfd != NULL, 0);
    uint8_t *buf = NULL;
    size_t n = 0;
    if (seam_value_encode(r, &buf, &n) == 0) {
        seam_conn_send_raw(conn, CALL_ANSWER, buf, n);
        free(buf);
    }
    seam_value_unref(r);
}

static void server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == SEAM_EVENT_MESSAGE && ev->raw && ev->raw_id == CALL_ME) {
        seam_conn_call_raw(conn, 1, "?", 1, SUPPORT_DEADLINE_MS, server_on_reply, NULL, NULL);
        return;
    }
    if (ev->type != SEAM_EVENT_REQUEST || !ev->raw) {
        return;
    }
    seam_value *r = server_account(ev->raw_len, ev->raw_bytes, ev->raw_memfd != NULL, ev->nfds);
    seam_request_reply(ev->request, r);
    seam_value_unref(r);
}

/* Takes memfds from 16 KiB; holds at most 256 KiB of them mapped. */
static const seam_server_config server_cfg = {.conn.on_event = server_event,
                                              .conn.memfd_min = THRESHOLD,
                                              .conn.max_memfd_bytes = SERVER_BOUND};
/* Announces no "memfd". */
static const seam_server_config none_cfg = {.conn.on_event = server_event,
                                            .conn.memfd_min = SIZE_MAX};

typedef struct fixture {
    char dir[PATH_MAX];
    support_child server;
    support_child none;
} fixture;

static fixture *the_fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    support_runtime_dir_create(f->dir, sizeof(f->dir));
    support_spawn_server(&f->server, NAME, &server_cfg);
    support_spawn_server(&f->none, NAME_NONE, &none_cfg);
    the_fixture = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int status = support_server_stop(&f->server);
    int none = support_server_stop(&f->none);
    support_runtime_dir_remove(f->dir);
    the_fixture = NULL;
    free(f);
    return status == 0 && none == 0 ? 0 : -1;
}

/* ---- descriptors to send ---- */

static uint8_t pattern_byte(size_t i)
{
    return (uint8_t)((i * 131u + 17u) ^ (i >> 12));
}

static uint64_t pattern_hash(size_t len)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ pattern_byte(i)) * 1099511628211u;
    }
    return h;
}

/* A memfd of len bytes of the pattern, written, with the given seals. */
static int memfd_sealed(size_t len, int seals)
{
    int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    uint8_t buf[4096];
    for (size_t off = 0; off < len; off += sizeof(buf)) {
        size_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);
        for (size_t i = 0; i < n; i++) {
            buf[i] = pattern_byte(off + i);
        }
        assert_true(support_write_full(fd, buf, n));
    }
    if (seals != 0) {
        assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
    }
    return fd;
}

static int memfd_good(void)
{
    return memfd_sealed(LEN, SEALS_ALL);
}

/* ---- frames ---- */

/* A frame of kind with flags whose payload is the raw id and length (the
 * first plen bytes of them, zeros past 12), announcing nfds descriptors
 * and passing the nsend of fds. */
static void send_memfd_frame(int sock, uint8_t kind, uint8_t flags, uint64_t id, uint64_t length,
                             uint32_t plen, uint16_t nfds, const int *fds, size_t nsend)
{
    uint8_t buf[16 + 32] = {0};
    assert_true(plen <= 32);
    rawpeer_put_header(buf, plen, kind, flags, nfds, id);
    for (int i = 0; i < 4; i++) {
        buf[16 + i] = (uint8_t)(RAW_ID >> (8 * i));
    }
    for (int i = 0; i < 8; i++) {
        buf[20 + i] = (uint8_t)(length >> (8 * i));
    }
    assert_true(rawpeer_send_with_fds(sock, buf, 16 + plen, fds, nsend));
}

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

static bool announces(const char *name)
{
    return strcmp(name, NAME) == 0;
}

/* What the server told of raw bytes, decoded from buf. */
typedef struct account {
    int64_t len;
    bool memfd;
    uint64_t hash;
    int64_t nfds;
    int64_t fds;
} account;

static account account_of(const uint8_t *buf, size_t n)
{
    seam_value *v = NULL;
    assert_int_equal(seam_value_decode(buf, n, NULL, &v), 0);
    account a = {0};
    assert_true(seam_dict_get_int64(v, "len", &a.len));
    assert_true(seam_dict_get_bool(v, "memfd", &a.memfd));
    assert_true(seam_value_get_uint64(seam_dict_get(v, "hash"), &a.hash));
    assert_true(seam_dict_get_int64(v, "nfds", &a.nfds));
    assert_true(seam_dict_get_int64(v, "fds", &a.fds));
    seam_value_unref(v);
    return a;
}

/* Reads the answer to request id: true and *a for a reply, false and
 * *code for an error answer. */
static bool read_answer(int sock, uint64_t id, account *a, int *code)
{
    uint8_t hdr[16];
    uint8_t buf[512];
    long n = rawpeer_read_frame(sock, hdr, buf, sizeof(buf), SUPPORT_DEADLINE_MS);
    assert_true(n > 0);
    assert_true(rawpeer_get_id(hdr) == id);
    if (hdr[4] == RAWPEER_ERROR) {
        *code = rawpeer_payload_code(buf, (size_t)n);
        return false;
    }
    assert_int_equal(hdr[4], RAWPEER_REPLY);
    *a = account_of(buf, (size_t)n);
    return true;
}

/* Asks the server on sock with a good raw request: in a good memfd where
 * the server takes memfds, else as 4 bytes. Asserts it was served as such
 * and returns the descriptors the server had open while answering. */
static int64_t served_fds(int sock, bool memfd)
{
    static uint64_t id = 1000;
    id++;
    if (memfd) {
        int m = memfd_good();
        send_memfd_frame(sock, RAWPEER_REQUEST, RAW_MEMFD, id, LEN, 12, 1, &m, 1);
        close(m);
    } else {
        uint8_t frame[16 + 8];
        rawpeer_put_header(frame, 8, RAWPEER_REQUEST, FLAG_RAW, 0, id);
        memcpy(frame + 16, "\x07\0\0\0abcd", 8);
        assert_true(support_write_full(sock, frame, sizeof(frame)));
    }
    account a;
    int code = 0;
    assert_true(read_answer(sock, id, &a, &code));
    assert_int_equal(a.len, memfd ? LEN : 4);
    assert_true(a.memfd == memfd);
    if (memfd) {
        assert_true(a.hash == pattern_hash(LEN));
    }
    return a.fds;
}

/* A pipe whose write end goes beside the memfd: once the server closed
 * its copy, the read end sees the end of the pipe. */
typedef struct witness {
    int rd;
    int wr;
} witness;

static witness witness_new(void)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    return (witness){p[0], p[1]};
}

/* Our write end is closed, and then the server's must be. */
static void witness_assert_closed(witness *w)
{
    if (w->wr >= 0) {
        close(w->wr);
        w->wr = -1;
    }
    struct pollfd p = {w->rd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, SUPPORT_DEADLINE_MS), 1);
    char c;
    assert_int_equal(read(w->rd, &c, 1), 0);
    close(w->rd);
}

/* Waits for the server's call (after CALL_ME) and returns its id. */
static uint64_t await_call(int sock)
{
    uint8_t frame[16 + 4];
    rawpeer_put_header(frame, 4, RAWPEER_MESSAGE, FLAG_RAW, 0, 0);
    memcpy(frame + 16, "\x63\0\0\0", 4); /* CALL_ME */
    assert_true(support_write_full(sock, frame, sizeof(frame)));
    uint8_t hdr[16];
    uint8_t buf[64];
    for (;;) {
        long n = rawpeer_read_frame(sock, hdr, buf, sizeof(buf), SUPPORT_DEADLINE_MS);
        assert_true(n >= 0);
        if (hdr[4] == RAWPEER_REQUEST) {
            assert_true((hdr[5] & FLAG_RAW) != 0);
            return rawpeer_get_id(hdr);
        }
    }
}

/* One hostile frame: of kind (a reply answers a call the server makes
 * first), with flags, the given length in a payload of plen bytes,
 * announcing nfds descriptors, passing first (if >= 0, closed here) and,
 * where nfds is at least 2, a witness. */
typedef struct hostile {
    const char *name;
    uint8_t kind;
    uint8_t flags;
    uint64_t length;
    uint32_t plen;
    uint16_t nfds;
    int first;
} hostile;

static void hostile_send(int sock, const hostile *h, witness *w)
{
    uint64_t id = h->kind == RAWPEER_MESSAGE ? 0 : h->kind == RAWPEER_REPLY ? await_call(sock) : 1;
    int fds[2] = {h->first, -1};
    size_t nsend = h->first >= 0 ? 1 : 0;
    if (h->nfds >= 2) {
        *w = witness_new();
        fds[nsend++] = w->wr;
    }
    send_memfd_frame(sock, h->kind, h->flags, id, h->length, h->plen, h->nfds, fds, nsend);
    if (h->first >= 0) {
        close(h->first);
    }
}

/* Sends h on a new connection and returns the code of the goodbye that
 * ends it. Asserts the server closed what the frame brought, holds no
 * more descriptors than before and still serves a peer connected all
 * along. */
static int hostile_goodbye(const hostile *h)
{
    bool memfd = announces(h->name);
    int other = raw_peer(h->name, memfd);
    int64_t before = served_fds(other, memfd);
    int sock = raw_peer(h->name, memfd);
    witness w = {-1, -1};
    hostile_send(sock, h, &w);
    int code = rawpeer_goodbye_code(sock, SUPPORT_DEADLINE_MS);
    close(sock);
    if (w.rd >= 0) {
        witness_assert_closed(&w);
    }
    assert_int_equal(served_fds(other, memfd), before);
    close(other);
    return code;
}

/* Sends h, a request, and returns the code of its error answer. Asserts
 * the connection goes on, the server closed what the frame brought and
 * holds no more descriptors than before. */
static int hostile_request(const hostile *h)
{
    assert_int_equal(h->kind, RAWPEER_REQUEST);
    bool memfd = announces(h->name);
    int sock = raw_peer(h->name, memfd);
    int64_t before = served_fds(sock, memfd);
    witness w = {-1, -1};
    hostile_send(sock, h, &w);
    account a;
    int code = 0;
    assert_false(read_answer(sock, 1, &a, &code));
    if (w.rd >= 0) {
        witness_assert_closed(&w);
    }
    assert_int_equal(served_fds(sock, memfd), before);
    close(sock);
    return code;
}

/* A memfd (made by make, a fresh one for each) with length refused as a
 * value: a message and a reply end their connection with code, a
 * request is answered with it. */
static void assert_refused(int (*make)(void), uint64_t length, int code)
{
    hostile h = {NAME, RAWPEER_MESSAGE, RAW_MEMFD, length, 12, 2, make()};
    assert_int_equal(hostile_goodbye(&h), code);
    h.kind = RAWPEER_REPLY;
    h.first = make();
    assert_int_equal(hostile_goodbye(&h), code);
    h.kind = RAWPEER_REQUEST;
    h.first = make();
    assert_int_equal(hostile_request(&h), code);
}

/* ---- the cases ---- */

static void test_good_raw_memfd_in_each_kind_is_taken_as_a_mapping(void **state)
{
    (void)state;
    /* The request, with a second descriptor handed beside the bytes. */
    int sock = raw_peer(NAME, true);
    witness w = witness_new();
    int fds[2] = {memfd_good(), w.wr};
    send_memfd_frame(sock, RAWPEER_REQUEST, RAW_MEMFD, 5, LEN, 12, 2, fds, 2);
    close(fds[0]);
    account a;
    int code = 0;
    assert_true(read_answer(sock, 5, &a, &code));
    assert_int_equal(a.len, LEN);
    assert_true(a.memfd);
    assert_true(a.hash == pattern_hash(LEN));
    assert_int_equal(a.nfds, 1);
    witness_assert_closed(&w);
    /* The reply to the server's call. */
    uint64_t id = await_call(sock);
    int m = memfd_good();
    send_memfd_frame(sock, RAWPEER_REPLY, RAW_MEMFD, id, LEN, 12, 1, &m, 1);
    close(m);
    uint8_t hdr[16];
    uint8_t buf[256];
    long n = rawpeer_read_frame(sock, hdr, buf, sizeof(buf), SUPPORT_DEADLINE_MS);
    assert_true(n > 4);
    assert_int_equal(hdr[4], RAWPEER_MESSAGE);
    assert_int_equal(rawpeer_get_u32(buf), CALL_ANSWER);
    a = account_of(buf + 4, (size_t)n - 4);
    assert_int_equal(a.len, LEN);
    assert_true(a.memfd);
    assert_true(a.hash == pattern_hash(LEN));
    close(sock);
}

static int make_unsealed(void)
{
    return memfd_sealed(LEN, 0);
}

static void test_unsealed_memfd_is_ememfd(void **state)
{
    (void)state;
    assert_refused(make_unsealed, LEN, SEAM_EMEMFD);
}

static int missing_seal;

static int make_missing_one_seal(void)
{
    return memfd_sealed(LEN, SEALS_ALL & ~missing_seal);
}

static void test_memfd_missing_any_one_required_seal_is_ememfd(void **state)
{
    (void)state;
    static const int seals[] = {F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE};
    for (size_t i = 0; i < sizeof(seals) / sizeof(seals[0]); i++) {
        missing_seal = seals[i];
        assert_refused(make_missing_one_seal, LEN, SEAM_EMEMFD);
    }
}

static void test_length_not_the_memfds_size_is_ememfd(void **state)
{
    (void)state;
    assert_refused(memfd_good, LEN + 4096, SEAM_EMEMFD);
    assert_refused(memfd_good, LEN - 1, SEAM_EMEMFD);
}

static int make_below_threshold(void)
{
    return memfd_sealed(THRESHOLD - 4096, SEALS_ALL);
}

static void test_length_below_the_receivers_threshold_is_ememfd(void **state)
{
    (void)state;
    assert_refused(make_below_threshold, THRESHOLD - 4096, SEAM_EMEMFD);
}

static int make_empty(void)
{
    return memfd_sealed(0, SEALS_ALL);
}

static void test_zero_length_is_ememfd(void **state)
{
    (void)state;
    assert_refused(make_empty, 0, SEAM_EMEMFD);
}

static int make_big(void)
{
    return memfd_sealed(2 * SERVER_BOUND, SEALS_ALL);
}

static void test_length_past_the_receivers_bound_is_enobufs(void **state)
{
    (void)state;
    assert_refused(make_big, 2 * SERVER_BOUND, SEAM_ENOBUFS);
}

/* The order of docs/protocol.md: the bound is checked before the
 * descriptor is looked at, so a length no memfd could have is past it,
 * up to the largest length of all. */
static void test_length_no_mapping_could_have_is_enobufs(void **state)
{
    (void)state;
    assert_refused(memfd_good, UINT64_C(1) << 63, SEAM_ENOBUFS);
    assert_refused(memfd_good, UINT64_MAX - 4096, SEAM_ENOBUFS);
    assert_refused(memfd_good, UINT64_MAX, SEAM_ENOBUFS);
}

static int make_pipe(void)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_true(support_write_full(p[1], "x", 1));
    close(p[1]);
    return p[0];
}

static void test_pipe_instead_of_a_memfd_is_ememfd(void **state)
{
    (void)state;
    assert_refused(make_pipe, LEN, SEAM_EMEMFD);
}

static int make_socket(void)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[1]);
    return sv[0];
}

static void test_socket_instead_of_a_memfd_is_ememfd(void **state)
{
    (void)state;
    assert_refused(make_socket, LEN, SEAM_EMEMFD);
}

static int make_regular(void)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/regular", the_fixture->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fallocate(fd, 0, 0, LEN), 0);
    unlink(path);
    return fd;
}

static void test_regular_file_of_the_length_instead_of_a_memfd_is_ememfd(void **state)
{
    (void)state;
    assert_refused(make_regular, LEN, SEAM_EMEMFD);
}

/* Sized and sealed but never written past its first page. */
static int make_with_holes(void)
{
    int fd = memfd_create("sparse", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, LEN), 0);
    assert_int_equal(pwrite(fd, "x", 1, 0), 1);
    assert_int_equal(fcntl(fd, F_ADD_SEALS, SEALS_ALL), 0);
    return fd;
}

static void test_memfd_with_holes_is_ememfd(void **state)
{
    (void)state;
    assert_refused(make_with_holes, LEN, SEAM_EMEMFD);
}

/* Header violations end the connection whatever the kind: a request
 * included. */
static void assert_header_violation(uint8_t flags, uint32_t plen, uint16_t nfds, int code)
{
    static const uint8_t kinds[] = {RAWPEER_MESSAGE, RAWPEER_REQUEST, RAWPEER_REPLY};
    for (size_t i = 0; i < sizeof(kinds); i++) {
        hostile h = {NAME, kinds[i], flags, LEN, plen, nfds, nfds > 0 ? memfd_good() : -1};
        assert_int_equal(hostile_goodbye(&h), code);
    }
}

static void test_memfd_without_raw_is_eframeflags(void **state)
{
    (void)state;
    assert_header_violation(FLAG_MEMFD, 12, 2, SEAM_EFRAMEFLAGS);
}

static void test_memfd_on_a_kind_that_allows_none_is_eframeflags(void **state)
{
    (void)state;
    static const uint8_t kinds[] = {RAWPEER_HELLO, RAWPEER_ERROR, RAWPEER_PING, RAWPEER_BYE};
    for (size_t i = 0; i < sizeof(kinds); i++) {
        hostile h = {NAME, kinds[i], RAW_MEMFD, LEN, 12, 2, memfd_good()};
        assert_int_equal(hostile_goodbye(&h), SEAM_EFRAMEFLAGS);
    }
}

static void test_memfd_with_no_descriptor_is_eframefds(void **state)
{
    (void)state;
    assert_header_violation(RAW_MEMFD, 12, 0, SEAM_EFRAMEFDS);
}

static void test_memfd_payload_not_twelve_bytes_is_eframelen(void **state)
{
    (void)state;
    static const uint32_t lens[] = {4, 8, 11, 13, 16};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        assert_header_violation(RAW_MEMFD, lens[i], 2, SEAM_EFRAMELEN);
    }
}

static void test_memfd_to_a_server_that_announced_none_is_eproto_whatever_the_kind(void **state)
{
    (void)state;
    static const uint8_t kinds[] = {RAWPEER_MESSAGE, RAWPEER_REQUEST, RAWPEER_REPLY};
    for (size_t i = 0; i < sizeof(kinds); i++) {
        hostile h = {NAME_NONE, kinds[i], RAW_MEMFD, LEN, 12, 2, memfd_good()};
        assert_int_equal(hostile_goodbye(&h), SEAM_EPROTO);
    }
}

/* A reply no call waits for is ignored unread, MEMFD or not, memfd or
 * not: its descriptors are closed and the connection goes on. */
static void test_memfd_reply_to_no_call_is_ignored_and_its_descriptors_closed(void **state)
{
    (void)state;
    const char *names[] = {NAME, NAME_NONE};
    for (size_t i = 0; i < 2; i++) {
        bool memfd = announces(names[i]);
        int sock = raw_peer(names[i], memfd);
        int64_t before = served_fds(sock, memfd);
        witness w = witness_new();
        int fds[2] = {memfd_sealed(LEN, 0), w.wr};
        send_memfd_frame(sock, RAWPEER_REPLY, RAW_MEMFD, 77, LEN, 12, 2, fds, 2);
        close(fds[0]);
        witness_assert_closed(&w);
        assert_int_equal(served_fds(sock, memfd), before);
        close(sock);
    }
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        T(test_good_raw_memfd_in_each_kind_is_taken_as_a_mapping),
        T(test_unsealed_memfd_is_ememfd),
        T(test_memfd_missing_any_one_required_seal_is_ememfd),
        T(test_length_not_the_memfds_size_is_ememfd),
        T(test_length_below_the_receivers_threshold_is_ememfd),
        T(test_zero_length_is_ememfd),
        T(test_length_past_the_receivers_bound_is_enobufs),
        T(test_length_no_mapping_could_have_is_enobufs),
        T(test_pipe_instead_of_a_memfd_is_ememfd),
        T(test_socket_instead_of_a_memfd_is_ememfd),
        T(test_regular_file_of_the_length_instead_of_a_memfd_is_ememfd),
        T(test_memfd_with_holes_is_ememfd),
        T(test_memfd_without_raw_is_eframeflags),
        T(test_memfd_on_a_kind_that_allows_none_is_eframeflags),
        T(test_memfd_with_no_descriptor_is_eframefds),
        T(test_memfd_payload_not_twelve_bytes_is_eframelen),
        T(test_memfd_to_a_server_that_announced_none_is_eproto_whatever_the_kind),
        T(test_memfd_reply_to_no_call_is_ignored_and_its_descriptors_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
