/* SPDX-License-Identifier: MIT */
/* rawmemfd_api.c - seam_conn_send_raw_memfd() and
 * seam_request_reply_raw_memfd() between two seam ends in this process (a
 * server and its clients on one poll loop, over real Unix sockets): the
 * receiver gets the bytes as a mapping of the memfd with raw_memfd set;
 * on 0 seam owns the descriptor (nothing in the process holds the memfd
 * once it was delivered), on an argument error the caller keeps it open
 * and nothing is sent; to a peer that takes no memfd, below its
 * threshold, or before the handshake, the bytes go as an ordinary RAW
 * frame, counted against its max_frame; a raw memfd the receiver keeps
 * counts against its max_memfd_bytes until released (include/seam.h,
 * docs/protocol.md "Raw bytes in a sealed memfd"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME        "t.rawmemfd"
#define NAME_NONE   "t.rawmemfd.none"
#define NAME_SMALL  "t.rawmemfd.small"
#define SMALL_FRAME 65536u
#define THRESHOLD   65536u
#define LEN         (1u << 20)
#define SEALS_ALL   (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define BOUND       (2 * LEN) /* the server's max_memfd_bytes */

/* ---- bytes ---- */

static uint8_t pattern_byte(size_t i, unsigned seed)
{
    return (uint8_t)((i * 131u + seed) ^ (i >> 12));
}

static uint64_t bytes_hash(const uint8_t *p, size_t len)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 1099511628211u;
    }
    return h;
}

static uint64_t pattern_hash(size_t len, unsigned seed)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ pattern_byte(i, seed)) * 1099511628211u;
    }
    return h;
}

/* A memfd the caller filled with len bytes of the pattern, written. */
static int filled_memfd(size_t len, unsigned seed)
{
    int fd = memfd_create("api", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    uint8_t buf[4096];
    for (size_t off = 0; off < len; off += sizeof(buf)) {
        size_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);
        for (size_t i = 0; i < n; i++) {
            buf[i] = pattern_byte(off + i, seed);
        }
        assert_true(support_write_full(fd, buf, n));
    }
    return fd;
}

/* ---- which descriptors hold a file ---- */

typedef struct file_id {
    dev_t dev;
    ino_t ino;
} file_id;

static file_id file_of(int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    return (file_id){st.st_dev, st.st_ino};
}

/* Whether fd is open on the file f. */
static bool fd_holds(int fd, file_id f)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == f.dev && st.st_ino == f.ino;
}

/* Whether any descriptor of this process is open on f. */
static bool process_holds(file_id f)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    bool held = false;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) {
            held = held || fd_holds(atoi(e->d_name), f);
        }
    }
    closedir(d);
    return held;
}

/* ---- what the ends saw ---- */

typedef struct seen {
    int count;
    bool raw;
    uint32_t raw_id;
    size_t len;
    uint64_t hash;
    bool memfd;          /* raw_memfd set, with a memfd */
    bool bytes_are_data; /* raw_bytes are raw_memfd's own bytes */
    size_t nfds;
} seen;

static seen message;   /* the server's last message */
static seen reply;     /* a client's last reply */
static int connected;  /* clients connected */
static int peers_gone; /* the servers' peers that went (INVALID) */

/* How the server answers a raw request; NULL: with its own bytes. */
static void (*answer)(const seam_event *ev);

static void see(seen *s, bool raw, uint32_t id, const void *bytes, size_t len, seam_value *memfd,
                size_t nfds)
{
    size_t dlen = 0;
    *s = (seen){.count = s->count + 1,
                .raw = raw,
                .raw_id = id,
                .len = len,
                .hash = bytes != NULL ? bytes_hash(bytes, len) : 0,
                .memfd = memfd != NULL && seam_value_get_memfd(memfd) >= 0,
                .bytes_are_data =
                    memfd != NULL && seam_value_get_data(memfd, &dlen) == bytes && dlen == len,
                .nfds = nfds};
}

static void server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type == SEAM_EVENT_MESSAGE) {
        see(&message, ev->raw, ev->raw_id, ev->raw_bytes, ev->raw_len, ev->raw_memfd, ev->nfds);
    } else if (ev->type == SEAM_EVENT_REQUEST && answer != NULL) {
        answer(ev);
    } else if (ev->type == SEAM_EVENT_INVALID) {
        peers_gone++;
    }
}

static void client_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    connected += ev->type == SEAM_EVENT_CONNECTED;
}

static void on_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    (void)userdata;
    assert_int_equal(r->status, 0);
    see(&reply, r->raw, r->raw_id, r->raw_bytes, r->raw_len, r->raw_memfd, 0);
}

/* ---- the fixture: a server that takes memfds from 64 KiB, one that
 * takes none, and a client of each ---- */

typedef struct fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    seam_server *server;
    seam_server *none;
    seam_server *small;     /* takes no memfd, and frames of 64 KiB at most */
    seam_conn *client;      /* of server */
    seam_conn *client_none; /* of none */
} fixture;

static const seam_server_config server_cfg = {
    .conn.on_event = server_event, .conn.memfd_min = THRESHOLD, .conn.max_memfd_bytes = BOUND};
static const seam_server_config none_cfg = {.conn.on_event = server_event,
                                            .conn.memfd_min = SIZE_MAX};
static const seam_server_config small_cfg = {
    .conn.on_event = server_event, .conn.memfd_min = SIZE_MAX, .conn.max_frame = SMALL_FRAME};
static const seam_conn_config client_cfg = {.on_event = client_event, .memfd_min = THRESHOLD};

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    assert_int_equal(seam_server_listen(f->loop, NAME, &server_cfg, &f->server), 0);
    assert_int_equal(seam_server_listen(f->loop, NAME_NONE, &none_cfg, &f->none), 0);
    assert_int_equal(seam_server_listen(f->loop, NAME_SMALL, &small_cfg, &f->small), 0);
    memset(&message, 0, sizeof(message));
    memset(&reply, 0, sizeof(reply));
    connected = 0;
    peers_gone = 0;
    answer = NULL;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->client != NULL) {
        seam_conn_close(f->client);
    }
    if (f->client_none != NULL) {
        seam_conn_close(f->client_none);
    }
    seam_server_close(f->server);
    seam_server_close(f->none);
    seam_server_close(f->small);
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

static seam_conn *connect_to(fixture *f, const char *name, const seam_conn_config *cfg)
{
    seam_conn *c = NULL;
    int before = connected;
    assert_int_equal(seam_conn_connect(f->loop, name, cfg, &c), 0);
    assert_true(support_run_until_count(f->loop, &connected, before + 1, SUPPORT_DEADLINE_MS));
    return c;
}

static void connect_both(fixture *f)
{
    f->client = connect_to(f, NAME, &client_cfg);
    f->client_none = connect_to(f, NAME_NONE, &client_cfg);
}

static bool message_count_is(void *arg)
{
    return message.count == *(int *)arg;
}

/* Runs the loop until the server got n messages in all. */
static void await_messages(fixture *f, int n)
{
    assert_true(support_run_until(f->loop, message_count_is, &n, SUPPORT_DEADLINE_MS));
}

/* ---- seam_conn_send_raw_memfd ---- */

static void test_send_raw_memfd_arrives_as_a_mapping_of_its_bytes_and_seam_owns_fd(void **state)
{
    fixture *f = *state;
    connect_both(f);
    int fd = filled_memfd(LEN, 1);
    file_id id = file_of(fd);
    assert_true(process_holds(id)); /* the probe sees an open memfd */
    assert_int_equal(seam_conn_send_raw_memfd(f->client, 7, fd, LEN), 0);
    await_messages(f, 1);
    assert_true(message.raw);
    assert_int_equal(message.raw_id, 7);
    assert_int_equal(message.len, LEN);
    assert_true(message.hash == pattern_hash(LEN, 1));
    assert_true(message.memfd);
    assert_true(message.bytes_are_data);
    assert_int_equal(message.nfds, 0);
    /* Delivered and its callback over: nobody here holds the memfd. */
    assert_false(process_holds(id));
}

static void test_send_raw_memfd_of_exactly_the_threshold_goes_in_the_memfd(void **state)
{
    fixture *f = *state;
    connect_both(f);
    assert_int_equal(seam_conn_send_raw_memfd(f->client, 1, filled_memfd(THRESHOLD, 2), THRESHOLD),
                     0);
    await_messages(f, 1);
    assert_true(message.memfd);
    assert_int_equal(message.len, THRESHOLD);
    assert_true(message.hash == pattern_hash(THRESHOLD, 2));
}

/* An error leaves fd the caller's, open on the same memfd, and sends
 * nothing: the next good message is the first the server gets. */
static void assert_send_refused(fixture *f, int fd, size_t len, int code)
{
    file_id id = file_of(fd);
    assert_int_equal(seam_conn_send_raw_memfd(f->client, 9, fd, len), code);
    assert_true(fd_holds(fd, id));
    close(fd);
}

static void assert_nothing_was_sent(fixture *f)
{
    int before = message.count;
    assert_int_equal(seam_conn_send_raw_memfd(f->client, 10, filled_memfd(LEN, 3), LEN), 0);
    await_messages(f, before + 1);
    assert_int_equal(message.raw_id, 10);
    assert_true(message.memfd);
}

static void test_send_raw_memfd_of_fd_below_zero_is_ebadf(void **state)
{
    fixture *f = *state;
    connect_both(f);
    assert_int_equal(seam_conn_send_raw_memfd(f->client, 9, -1, LEN), SEAM_EBADF);
    assert_nothing_was_sent(f);
    assert_int_equal(message.count, 1);
}

static void test_send_raw_memfd_of_a_pipe_is_ebadf_and_fd_stays(void **state)
{
    fixture *f = *state;
    connect_both(f);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    close(p[1]);
    assert_send_refused(f, p[0], LEN, SEAM_EBADF);
    assert_nothing_was_sent(f);
    assert_int_equal(message.count, 1);
}

/* A regular file of the length (in the runtime directory). */
static void test_send_raw_memfd_of_a_regular_file_is_ebadf_and_fd_stays(void **state)
{
    fixture *f = *state;
    connect_both(f);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/regular", f->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fallocate(fd, 0, 0, LEN), 0);
    unlink(path);
    assert_send_refused(f, fd, LEN, SEAM_EBADF);
    assert_nothing_was_sent(f);
    assert_int_equal(message.count, 1);
}

/* include/seam.h: SEAM_EBADF for "not a memfd that allows sealing". */
static void test_send_raw_memfd_of_a_memfd_made_without_sealing_is_eperm_and_fd_stays(void **state)
{
    fixture *f = *state;
    connect_both(f);
    int fd = memfd_create("nosealing", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(fallocate(fd, 0, 0, LEN), 0);
    /* The kernel reports it sealed against further seals (F_SEAL_SEAL):
     * as include/seam.h says, SEAM_EPERM. */
    assert_send_refused(f, fd, LEN, SEAM_EPERM);
    assert_nothing_was_sent(f);
    assert_int_equal(message.count, 1);
}

static void test_send_raw_memfd_of_len_zero_is_einval_and_fd_stays(void **state)
{
    fixture *f = *state;
    connect_both(f);
    assert_send_refused(f, filled_memfd(LEN, 4), 0, SEAM_EINVAL);
    assert_send_refused(f, filled_memfd(0, 4), 0, SEAM_EINVAL);
    assert_nothing_was_sent(f);
    assert_int_equal(message.count, 1);
}

static void test_send_raw_memfd_of_len_not_its_size_is_einval_and_fd_can_be_sent_after(void **state)
{
    fixture *f = *state;
    connect_both(f);
    int fd = filled_memfd(LEN, 5);
    file_id id = file_of(fd);
    assert_int_equal(seam_conn_send_raw_memfd(f->client, 9, fd, LEN - 1), SEAM_EINVAL);
    assert_true(fd_holds(fd, id));
    assert_int_equal(seam_conn_send_raw_memfd(f->client, 9, fd, LEN + 4096), SEAM_EINVAL);
    assert_true(fd_holds(fd, id));
    /* Still the caller's, and still good: sent with its own length. */
    assert_int_equal(seam_conn_send_raw_memfd(f->client, 11, fd, LEN), 0);
    await_messages(f, 1);
    assert_int_equal(message.raw_id, 11);
    assert_true(message.memfd);
    assert_true(message.hash == pattern_hash(LEN, 5));
    assert_false(process_holds(id));
}

static void test_send_raw_memfd_with_holes_is_einval_and_fd_stays(void **state)
{
    fixture *f = *state;
    connect_both(f);
    int fd = memfd_create("sparse", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, LEN), 0);
    assert_int_equal(pwrite(fd, "x", 1, 0), 1);
    assert_send_refused(f, fd, LEN, SEAM_EINVAL);
    assert_nothing_was_sent(f);
    assert_int_equal(message.count, 1);
}

static void test_send_raw_memfd_sealed_against_the_seals_it_needs_is_eperm(void **state)
{
    fixture *f = *state;
    connect_both(f);
    int fd = filled_memfd(LEN, 6);
    assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL), 0);
    assert_send_refused(f, fd, LEN, SEAM_EPERM);
    assert_nothing_was_sent(f);
    assert_int_equal(message.count, 1);
}

static void test_send_raw_memfd_with_a_writable_mapping_alive_is_ebusy(void **state)
{
    fixture *f = *state;
    connect_both(f);
    int fd = filled_memfd(LEN, 7);
    void *map = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(map != MAP_FAILED);
    file_id id = file_of(fd);
    assert_int_equal(seam_conn_send_raw_memfd(f->client, 9, fd, LEN), SEAM_EBUSY);
    assert_true(fd_holds(fd, id));
    munmap(map, LEN);
    assert_int_equal(seam_conn_send_raw_memfd(f->client, 12, fd, LEN), 0);
    await_messages(f, 1);
    assert_int_equal(message.raw_id, 12);
    assert_true(message.hash == pattern_hash(LEN, 7));
}

/* ---- the fallback to an ordinary RAW frame ---- */

static void test_send_raw_memfd_to_a_peer_that_takes_none_goes_as_bytes(void **state)
{
    fixture *f = *state;
    connect_both(f);
    int fd = filled_memfd(LEN, 8);
    file_id id = file_of(fd);
    assert_int_equal(seam_conn_send_raw_memfd(f->client_none, 8, fd, LEN), 0);
    await_messages(f, 1);
    assert_true(message.raw);
    assert_int_equal(message.raw_id, 8);
    assert_int_equal(message.len, LEN);
    assert_true(message.hash == pattern_hash(LEN, 8));
    assert_false(message.memfd);
    assert_false(process_holds(id));
}

static void test_send_raw_memfd_below_the_peers_threshold_goes_as_bytes(void **state)
{
    fixture *f = *state;
    connect_both(f);
    size_t len = THRESHOLD - 1;
    assert_int_equal(seam_conn_send_raw_memfd(f->client, 13, filled_memfd(len, 9), len), 0);
    await_messages(f, 1);
    assert_int_equal(message.len, len);
    assert_true(message.hash == pattern_hash(len, 9));
    assert_false(message.memfd);
}

static void test_send_raw_memfd_before_the_handshake_goes_as_bytes(void **state)
{
    fixture *f = *state;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &client_cfg, &f->client), 0);
    int fd = filled_memfd(LEN, 10);
    file_id id = file_of(fd);
    assert_int_equal(seam_conn_send_raw_memfd(f->client, 14, fd, LEN), 0);
    await_messages(f, 1);
    assert_int_equal(message.raw_id, 14);
    assert_true(message.hash == pattern_hash(LEN, 10));
    assert_false(message.memfd);
    assert_false(process_holds(id));
}

/* Copied into a RAW frame, the bytes count against the peer's max_frame:
 * past it the send fails as seam_conn_send_raw() would, and fd stays the
 * caller's. */
static void test_send_raw_memfd_as_bytes_past_the_peers_max_frame_is_emsgsize(void **state)
{
    fixture *f = *state;
    seam_conn *c = connect_to(f, NAME_SMALL, &client_cfg);
    int fd = filled_memfd(LEN, 15);
    file_id id = file_of(fd);
    assert_int_equal(seam_conn_send_raw_memfd(c, 15, fd, LEN), SEAM_EMSGSIZE);
    assert_true(fd_holds(fd, id));
    close(fd);
    /* The connection stays up. */
    assert_int_equal(seam_conn_send_raw_memfd(c, 16, filled_memfd(8192, 16), 8192), 0);
    await_messages(f, 1);
    assert_int_equal(message.raw_id, 16);
    assert_true(message.hash == pattern_hash(8192, 16));
    seam_conn_close(c);
}

/* ---- seam_request_reply_raw_memfd ---- */

static bool reply_count_is(void *arg)
{
    return reply.count == *(int *)arg;
}

/* Calls the server on c with a raw request; runs until the reply came. */
static void call_and_wait(fixture *f, seam_conn *c)
{
    int n = reply.count + 1;
    assert_int_equal(seam_conn_call_raw(c, 3, "q", 1, SUPPORT_DEADLINE_MS, on_reply, NULL, NULL),
                     0);
    assert_true(support_run_until(f->loop, reply_count_is, &n, SUPPORT_DEADLINE_MS));
}

static file_id answered_file; /* the memfd of the server's last answer */

static void answer_in_memfd(const seam_event *ev)
{
    int fd = filled_memfd(LEN, 20);
    answered_file = file_of(fd);
    assert_int_equal(seam_request_reply_raw_memfd(ev->request, 21, fd, LEN), 0);
}

static void test_reply_raw_memfd_arrives_as_a_mapping_of_its_bytes_and_seam_owns_fd(void **state)
{
    fixture *f = *state;
    connect_both(f);
    answer = answer_in_memfd;
    call_and_wait(f, f->client);
    assert_true(reply.raw);
    assert_int_equal(reply.raw_id, 21);
    assert_int_equal(reply.len, LEN);
    assert_true(reply.hash == pattern_hash(LEN, 20));
    assert_true(reply.memfd);
    assert_true(reply.bytes_are_data);
    assert_false(process_holds(answered_file));
}

/* Each argument error leaves the request unanswered and fd open on the
 * same memfd; then the memfd is good for the answer. */
static void answer_after_argument_errors(const seam_event *ev)
{
    seam_request *req = ev->request;
    assert_int_equal(seam_request_reply_raw_memfd(req, 22, -1, LEN), SEAM_EBADF);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    file_id pipe_id = file_of(p[0]);
    assert_int_equal(seam_request_reply_raw_memfd(req, 22, p[0], LEN), SEAM_EBADF);
    assert_true(fd_holds(p[0], pipe_id));
    close(p[0]);
    close(p[1]);
    int fd = filled_memfd(LEN, 23);
    file_id id = file_of(fd);
    assert_int_equal(seam_request_reply_raw_memfd(req, 22, fd, 0), SEAM_EINVAL);
    assert_true(fd_holds(fd, id));
    assert_int_equal(seam_request_reply_raw_memfd(req, 22, fd, LEN - 1), SEAM_EINVAL);
    assert_true(fd_holds(fd, id));
    assert_int_equal(seam_request_reply_raw_memfd(req, 22, fd, LEN + 1), SEAM_EINVAL);
    assert_true(fd_holds(fd, id));
    assert_int_equal(seam_request_reply_raw_memfd(req, 24, fd, LEN), 0);
    /* Answered: a second answer is EINVAL and leaves that fd the caller's. */
    int again = filled_memfd(LEN, 25);
    file_id again_id = file_of(again);
    assert_int_equal(seam_request_reply_raw_memfd(req, 26, again, LEN), SEAM_EINVAL);
    assert_true(fd_holds(again, again_id));
    close(again);
    answered_file = id;
}

static void test_reply_raw_memfd_argument_errors_leave_fd_and_the_request_open(void **state)
{
    fixture *f = *state;
    connect_both(f);
    answer = answer_after_argument_errors;
    call_and_wait(f, f->client);
    assert_int_equal(reply.count, 1);
    assert_int_equal(reply.raw_id, 24);
    assert_true(reply.memfd);
    assert_true(reply.hash == pattern_hash(LEN, 23));
    assert_false(process_holds(answered_file));
}

static void test_reply_raw_memfd_to_a_client_that_takes_none_goes_as_bytes(void **state)
{
    fixture *f = *state;
    static const seam_conn_config none = {.on_event = client_event, .memfd_min = SIZE_MAX};
    f->client = connect_to(f, NAME, &none);
    answer = answer_in_memfd;
    call_and_wait(f, f->client);
    assert_true(reply.raw);
    assert_int_equal(reply.raw_id, 21);
    assert_int_equal(reply.len, LEN);
    assert_true(reply.hash == pattern_hash(LEN, 20));
    assert_false(reply.memfd);
    assert_false(process_holds(answered_file));
}

static void on_any_reply(seam_conn *conn, const seam_reply *r, void *userdata);

static seam_request *kept_request;

static void answer_later(const seam_event *ev)
{
    kept_request = seam_request_keep(ev->request);
}

static bool request_kept(void *arg)
{
    (void)arg;
    return kept_request != NULL;
}

static void
test_reply_raw_memfd_to_a_kept_request_after_its_callback_arrives_in_the_memfd(void **state)
{
    fixture *f = *state;
    connect_both(f);
    answer = answer_later;
    kept_request = NULL;
    assert_int_equal(
        seam_conn_call_raw(f->client, 3, "q", 1, SUPPORT_DEADLINE_MS, on_reply, NULL, NULL), 0);
    assert_true(support_run_until(f->loop, request_kept, NULL, SUPPORT_DEADLINE_MS));
    int fd = filled_memfd(LEN, 50);
    file_id id = file_of(fd);
    assert_int_equal(seam_request_reply_raw_memfd(kept_request, 51, fd, LEN), 0);
    int n = 1;
    assert_true(support_run_until(f->loop, reply_count_is, &n, SUPPORT_DEADLINE_MS));
    assert_int_equal(reply.raw_id, 51);
    assert_true(reply.memfd);
    assert_true(reply.hash == pattern_hash(LEN, 50));
    assert_false(process_holds(id));
}

static bool peer_gone(void *arg)
{
    (void)arg;
    return peers_gone > 0;
}

/* include/seam.h: "fd stays the caller's on any error", SEAM_ECLOSED
 * included (the request is finished then anyway). */
static void test_reply_raw_memfd_after_the_peer_went_is_eclosed_and_fd_stays(void **state)
{
    fixture *f = *state;
    connect_both(f);
    answer = answer_later;
    kept_request = NULL;
    assert_int_equal(
        seam_conn_call_raw(f->client, 3, "q", 1, SUPPORT_DEADLINE_MS, on_any_reply, NULL, NULL), 0);
    assert_true(support_run_until(f->loop, request_kept, NULL, SUPPORT_DEADLINE_MS));
    seam_conn_close(f->client);
    f->client = NULL;
    assert_true(support_run_until(f->loop, peer_gone, NULL, SUPPORT_DEADLINE_MS));
    int fd = filled_memfd(LEN, 52);
    file_id id = file_of(fd);
    assert_int_equal(seam_request_reply_raw_memfd(kept_request, 53, fd, LEN), SEAM_ECLOSED);
    assert_true(fd_holds(fd, id));
    close(fd);
}

/* ---- the bound on what the peer's memfds keep mapped ---- */

static seam_value *kept[4];
static size_t nkept;

/* Keeps the raw memfd past the callback, answers a byte. */
static void answer_keeping(const seam_event *ev)
{
    if (ev->raw_memfd != NULL && nkept < 4) {
        kept[nkept++] = seam_value_ref(ev->raw_memfd);
    }
    assert_int_equal(seam_request_reply_raw(ev->request, 1, "k", 1), 0);
}

static int call_status;
static int call_remote;
static int calls_done;

static void on_any_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    (void)userdata;
    call_status = r->status;
    call_remote = r->remote_code;
    calls_done++;
}

/* Calls with a memfd of LEN bytes; the call's status. */
static int call_with_memfd(fixture *f, unsigned seed)
{
    int n = calls_done + 1;
    assert_int_equal(seam_conn_call_raw_memfd(f->client, 1, filled_memfd(LEN, seed), LEN,
                                              SUPPORT_DEADLINE_MS, on_any_reply, NULL, NULL),
                     0);
    assert_true(support_run_until_count(f->loop, &calls_done, n, SUPPORT_DEADLINE_MS));
    return call_status;
}

static void test_raw_memfd_kept_counts_against_the_bound_until_released(void **state)
{
    fixture *f = *state;
    connect_both(f);
    answer = answer_keeping;
    nkept = 0;
    assert_int_equal(call_with_memfd(f, 40), 0);
    assert_int_equal(call_with_memfd(f, 41), 0);
    assert_int_equal(nkept, 2);
    /* Two kept make the bound: the third is refused before it is mapped,
     * with an error answer, and the connection goes on. */
    assert_int_equal(call_with_memfd(f, 42), SEAM_EREMOTE);
    assert_int_equal(call_remote, SEAM_ENOBUFS);
    assert_int_equal(nkept, 2);
    /* The kept bytes are still the memfds' own. */
    size_t len = 0;
    const uint8_t *p = seam_value_get_data(kept[1], &len);
    assert_int_equal(len, LEN);
    assert_true(bytes_hash(p, len) == pattern_hash(LEN, 41));
    seam_value_unref(kept[0]);
    seam_value_unref(kept[1]);
    nkept = 0;
    assert_int_equal(call_with_memfd(f, 43), 0);
    seam_value_unref(kept[0]);
    nkept = 0;
}

/* ---- seam_conn_call_raw_memfd's argument errors ---- */

static void test_call_raw_memfd_argument_errors_leave_fd_and_call_nothing(void **state)
{
    fixture *f = *state;
    connect_both(f);
    answer = answer_in_memfd;
    assert_int_equal(
        seam_conn_call_raw_memfd(f->client, 1, -1, LEN, SUPPORT_DEADLINE_MS, on_reply, NULL, NULL),
        SEAM_EBADF);
    int fd = filled_memfd(LEN, 30);
    file_id id = file_of(fd);
    assert_int_equal(
        seam_conn_call_raw_memfd(f->client, 1, fd, 0, SUPPORT_DEADLINE_MS, on_reply, NULL, NULL),
        SEAM_EINVAL);
    assert_true(fd_holds(fd, id));
    assert_int_equal(seam_conn_call_raw_memfd(f->client, 1, fd, LEN - 1, SUPPORT_DEADLINE_MS,
                                              on_reply, NULL, NULL),
                     SEAM_EINVAL);
    assert_true(fd_holds(fd, id));
    close(fd);
    /* No callback came for those: the first reply is this call's. */
    call_and_wait(f, f->client);
    assert_int_equal(reply.count, 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    /* Over the Unix socket itself, not shared-memory rings. */
    setenv("SEAM_NO_SHM", "1", 1);
    unsetenv("SEAM_NO_MEMFD");
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        T(test_send_raw_memfd_arrives_as_a_mapping_of_its_bytes_and_seam_owns_fd),
        T(test_send_raw_memfd_of_exactly_the_threshold_goes_in_the_memfd),
        T(test_send_raw_memfd_of_fd_below_zero_is_ebadf),
        T(test_send_raw_memfd_of_a_pipe_is_ebadf_and_fd_stays),
        T(test_send_raw_memfd_of_a_regular_file_is_ebadf_and_fd_stays),
        T(test_send_raw_memfd_of_a_memfd_made_without_sealing_is_eperm_and_fd_stays),
        T(test_send_raw_memfd_of_len_zero_is_einval_and_fd_stays),
        T(test_send_raw_memfd_of_len_not_its_size_is_einval_and_fd_can_be_sent_after),
        T(test_send_raw_memfd_with_holes_is_einval_and_fd_stays),
        T(test_send_raw_memfd_sealed_against_the_seals_it_needs_is_eperm),
        T(test_send_raw_memfd_with_a_writable_mapping_alive_is_ebusy),
        T(test_send_raw_memfd_to_a_peer_that_takes_none_goes_as_bytes),
        T(test_send_raw_memfd_below_the_peers_threshold_goes_as_bytes),
        T(test_send_raw_memfd_before_the_handshake_goes_as_bytes),
        T(test_send_raw_memfd_as_bytes_past_the_peers_max_frame_is_emsgsize),
        T(test_reply_raw_memfd_arrives_as_a_mapping_of_its_bytes_and_seam_owns_fd),
        T(test_reply_raw_memfd_argument_errors_leave_fd_and_the_request_open),
        T(test_reply_raw_memfd_to_a_client_that_takes_none_goes_as_bytes),
        T(test_reply_raw_memfd_to_a_kept_request_after_its_callback_arrives_in_the_memfd),
        T(test_reply_raw_memfd_after_the_peer_went_is_eclosed_and_fd_stays),
        T(test_raw_memfd_kept_counts_against_the_bound_until_released),
        T(test_call_raw_memfd_argument_errors_leave_fd_and_call_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
