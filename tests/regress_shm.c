/* SPDX-License-Identifier: MIT */
/* regress_shm.c - the shared-memory transport: negotiated when both hellos
 * offer it, kept off by SEAM_NO_SHM, frames larger than a ring, a dead
 * peer noticed at once, and the ring itself against a hostile peer
 * (indices and lengths out of bounds), full and drained, asleep and busy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conn.h"
#include "rawpeer.h"
#include "shm.h"
#include "shm_fds.h"
#include "shm_ring.h"
#include "shmpeer.h"
#include "support.h"

#include <seam/poll.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define NAME    "t.shm"
#define CALL_MS 10000

typedef struct fixture {
    char dir[256];
    seam_loop *loop;
    support_child server;
    int interrupted;
} fixture;

static void echo_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        seam_request_reply(ev->request, ev->value);
    }
}

static const seam_server_config echo_server = {.conn.on_event = echo_event};

static void client_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    fixture *f = userdata;
    if (ev->type == SEAM_EVENT_INTERRUPTED) {
        f->interrupted++;
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    f->server.chan = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    unsetenv("SEAM_NO_SHM");
    support_child_kill(&f->server);
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

static seam_conn *connect_echo(fixture *f)
{
    support_spawn_server(&f->server, NAME, &echo_server);
    seam_conn_config cfg = {.on_event = client_event, .userdata = f};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    return conn;
}

/* A call of size bytes that must come back as it went. */
static void echo_call(seam_conn *conn, size_t size)
{
    uint8_t *bytes = malloc(size);
    assert_non_null(bytes);
    for (size_t i = 0; i < size; i++) {
        bytes[i] = (uint8_t)(i * 7 + size);
    }
    seam_value *m = seam_value_new_dict();
    seam_dict_set_take(m, "b", seam_value_new_data(bytes, size));
    seam_value *reply = NULL;
    assert_int_equal(seam_conn_call_sync(conn, m, CALL_MS, &reply), 0);
    assert_true(seam_value_equal(reply, m));
    seam_value_unref(reply);
    seam_value_unref(m);
    free(bytes);
}

static unsigned shm_active(const seam_conn *conn)
{
    return conn->pipe->tran->shm_active(conn->pipe);
}

/* ==== negotiation ======================================================== */

static void test_both_offering_moves_both_directions_to_rings(void **state)
{
    fixture *f = *state;
    seam_conn *conn = connect_echo(f);
    echo_call(conn, 16);
    assert_int_equal(shm_active(conn), 3);
    for (int i = 0; i < 200; i++) {
        echo_call(conn, 64);
    }
    seam_conn_close(conn);
}

static void test_no_shm_in_the_environment_keeps_the_socket(void **state)
{
    fixture *f = *state;
    setenv("SEAM_NO_SHM", "1", 1);
    seam_conn *conn = connect_echo(f); /* the server offers, we do not */
    echo_call(conn, 16);
    assert_int_equal(shm_active(conn), 0);
    seam_conn_close(conn);
}

static void test_frames_larger_than_a_ring_cross_it_intact(void **state)
{
    fixture *f = *state;
    seam_conn *conn = connect_echo(f);
    echo_call(conn, 16);
    assert_int_equal(shm_active(conn), 3);
    echo_call(conn, 3 * SEAM__RING_DEFAULT + 5);
    echo_call(conn, 1u << 20);
    seam_conn_close(conn);
}

/* The ring a side writes is the size its config asks for, rounded up to
 * a power of two; frames much larger than it cross intact. */
static void test_the_ring_we_write_has_the_configured_size(void **state)
{
    fixture *f = *state;
    support_spawn_server(&f->server, NAME, &echo_server);
    seam_conn_config cfg = {.on_event = client_event, .userdata = f, .shm_ring = 5000};
    seam_conn *conn = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &conn), 0);
    echo_call(conn, 16);
    assert_int_equal(shm_active(conn), 3);
    assert_int_equal(conn->shm_offer, 8192);
    echo_call(conn, 100000);
    echo_call(conn, 64);
    seam_conn_close(conn);
    seam_conn_config dflt = {.on_event = client_event, .userdata = f};
    assert_int_equal(seam_conn_connect(f->loop, NAME, &dflt, &conn), 0);
    echo_call(conn, 16);
    assert_int_equal(conn->shm_offer, SEAM__RING_DEFAULT);
    seam_conn_close(conn);
}

static bool interrupted(void *arg)
{
    return ((fixture *)arg)->interrupted > 0;
}

static void test_a_dead_peer_is_noticed_at_once_over_rings(void **state)
{
    fixture *f = *state;
    seam_conn *conn = connect_echo(f);
    echo_call(conn, 16);
    assert_int_equal(shm_active(conn), 3);
    kill(f->server.pid, SIGKILL);
    assert_true(support_run_until(f->loop, interrupted, f, SUPPORT_DEADLINE_MS));
    seam_conn_close(conn);
}

/* ==== the ring against its peer ========================================== */

typedef struct ring_pair {
    uint8_t *mem;
    seam__ring w;
    seam__ring r;
} ring_pair;

static void ring_pair_init(ring_pair *p, size_t cap)
{
    p->mem = aligned_alloc(4096, SEAM__RING_HDR + cap);
    assert_non_null(p->mem);
    memset(p->mem, 0, SEAM__RING_HDR + cap);
    seam__ring_init(&p->w, p->mem, cap, true);
    seam__ring_init(&p->r, p->mem, cap, false);
}

static size_t ring_put(ring_pair *p, const void *buf, size_t len, bool *ring)
{
    ssize_t room = seam__ring_room(&p->w);
    assert_true(room > 0);
    struct iovec iov = {(void *)buf, len};
    return seam__ring_write(&p->w, &iov, 1, 0, (size_t)room, ring);
}

static void poke_u64(ring_pair *p, size_t off, uint64_t v)
{
    atomic_store((_Atomic uint64_t *)(void *)(p->mem + off), v);
}

static void test_ring_tail_beyond_the_ring_is_eproto(void **state)
{
    (void)state;
    ring_pair p;
    ring_pair_init(&p, SEAM__RING_MIN);
    poke_u64(&p, SEAM__RING_OFF_TAIL, SEAM__RING_MIN + 8);
    uint8_t buf[64];
    uint32_t nfds;
    bool ring;
    assert_int_equal(seam__ring_read(&p.r, buf, sizeof(buf), &nfds, &ring), SEAM_EPROTO);
    poke_u64(&p, SEAM__RING_OFF_TAIL, 3); /* unaligned */
    assert_int_equal(seam__ring_read(&p.r, buf, sizeof(buf), &nfds, &ring), SEAM_EPROTO);
    free(p.mem);
}

static void test_ring_record_longer_than_what_was_published_is_eproto(void **state)
{
    (void)state;
    ring_pair p;
    ring_pair_init(&p, SEAM__RING_MIN);
    bool ring;
    ring_put(&p, "abcdefgh", 8, &ring);
    poke_u64(&p, SEAM__RING_HDR, 9); /* the header now claims 9 bytes of 8 */
    uint8_t buf[64];
    uint32_t nfds;
    assert_int_equal(seam__ring_read(&p.r, buf, sizeof(buf), &nfds, &ring), SEAM_EPROTO);
    poke_u64(&p, SEAM__RING_HDR, 0); /* an empty record */
    assert_int_equal(seam__ring_read(&p.r, buf, sizeof(buf), &nfds, &ring), SEAM_EPROTO);
    free(p.mem);
}

static void test_ring_record_with_more_descriptors_than_a_frame_is_eproto(void **state)
{
    (void)state;
    ring_pair p;
    ring_pair_init(&p, SEAM__RING_MIN);
    bool ring;
    ring_put(&p, "abcdefgh", 8, &ring);
    poke_u64(&p, SEAM__RING_HDR, 8 | ((uint64_t)(SEAM__RING_MAX_FDS + 1) << 32));
    uint8_t buf[64];
    uint32_t nfds;
    assert_int_equal(seam__ring_read(&p.r, buf, sizeof(buf), &nfds, &ring), SEAM_EPROTO);
    free(p.mem);
}

static void test_ring_head_past_the_tail_is_eproto_for_the_writer(void **state)
{
    (void)state;
    ring_pair p;
    ring_pair_init(&p, SEAM__RING_MIN);
    poke_u64(&p, SEAM__RING_OFF_HEAD, 64);
    assert_int_equal(seam__ring_room(&p.w), SEAM_EPROTO);
    free(p.mem);
}

static void test_ring_full_waits_and_the_reader_rings_the_waiting_writer(void **state)
{
    (void)state;
    ring_pair p;
    ring_pair_init(&p, SEAM__RING_MIN);
    static uint8_t big[SEAM__RING_MIN];
    bool ring;
    size_t n = ring_put(&p, big, sizeof(big), &ring);
    assert_true(n < sizeof(big)); /* a record header's room is never payload */
    assert_int_equal(seam__ring_room(&p.w), 0);
    assert_false(seam__ring_writer_arm(&p.w)); /* still full: it sleeps */
    uint8_t buf[SEAM__RING_MIN];
    uint32_t nfds;
    assert_int_equal(seam__ring_read(&p.r, buf, sizeof(buf), &nfds, &ring), (ssize_t)n);
    assert_true(ring); /* the writer said it waits */
    assert_true(seam__ring_room(&p.w) > 0);
    free(p.mem);
}

/* A writer at the bound of descriptors sent and not taken waits; the
 * reader that takes some rings it for that alone, as for room (no record
 * need have been consumed). */
static void test_ring_taking_descriptors_alone_rings_a_writer_at_the_bound(void **state)
{
    (void)state;
    ring_pair p;
    ring_pair_init(&p, SEAM__RING_MIN);
    assert_int_equal(seam__ring_fds_room(&p.w, SEAM__RING_FDS_AHEAD), 1);
    seam__ring_fds_sent(&p.w, SEAM__RING_FDS_AHEAD);
    assert_int_equal(seam__ring_fds_room(&p.w, 1), 0); /* it waits, flag set */
    bool ring = false;
    seam__ring_fds_taken(&p.r, 1, &ring);
    assert_true(ring);
    assert_int_equal(seam__ring_fds_room(&p.w, 1), 1);
    free(p.mem);
}

static void test_ring_rings_a_sleeping_reader_and_not_a_busy_one(void **state)
{
    (void)state;
    ring_pair p;
    ring_pair_init(&p, SEAM__RING_MIN);
    bool ring;
    ring_put(&p, "a", 1, &ring);
    assert_true(ring); /* a new reader starts asleep */
    uint8_t buf[64];
    uint32_t nfds;
    seam__ring_reader_disarm(&p.r);
    ring_put(&p, "b", 1, &ring);
    assert_false(ring); /* busy: no system call for this one */
    assert_int_equal(seam__ring_read(&p.r, buf, sizeof(buf), &nfds, &ring), 2);
    assert_false(seam__ring_reader_arm(&p.r)); /* empty: it sleeps */
    ring_put(&p, "c", 1, &ring);
    assert_true(ring);
    free(p.mem);
}

static void test_ring_records_wrap_around_intact(void **state)
{
    (void)state;
    ring_pair p;
    ring_pair_init(&p, SEAM__RING_MIN);
    uint8_t out[1000];
    uint8_t in[1000];
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < sizeof(out); i++) {
            out[i] = (uint8_t)(i + (size_t)round);
        }
        bool ring;
        assert_int_equal(ring_put(&p, out, sizeof(out), &ring), sizeof(out));
        uint32_t nfds;
        assert_int_equal(seam__ring_read(&p.r, in, sizeof(in), &nfds, &ring), sizeof(in));
        assert_memory_equal(in, out, sizeof(out));
    }
    free(p.mem);
}

/* A record's descriptor count is that of the first record a read takes,
 * whatever records without descriptors it takes after it (their count of
 * 0 used to overwrite it, and the descriptors were never claimed). */
static void test_ring_read_keeps_the_count_of_its_first_record(void **state)
{
    (void)state;
    ring_pair p;
    ring_pair_init(&p, SEAM__RING_MIN);
    bool ring;
    struct iovec iov = {"abcdefgh", 8};
    ssize_t room = seam__ring_room(&p.w);
    seam__ring_write(&p.w, &iov, 1, 2, (size_t)room, &ring);
    ring_put(&p, "ijkl", 4, &ring);
    uint8_t buf[64];
    uint32_t nfds = 0;
    assert_int_equal(seam__ring_read(&p.r, buf, sizeof(buf), &nfds, &ring), 12);
    assert_int_equal(nfds, 2);
    free(p.mem);
}

static void test_hello_ring_sizes_are_powers_of_two_within_bounds(void **state)
{
    (void)state;
    assert_true(seam__ring_size_ok(SEAM__RING_MIN));
    assert_true(seam__ring_size_ok(SEAM__RING_MAX));
    assert_false(seam__ring_size_ok(SEAM__RING_MIN / 2));
    assert_false(seam__ring_size_ok((uint64_t)SEAM__RING_MAX * 2));
    assert_false(seam__ring_size_ok(SEAM__RING_MIN + 8));
}

/* ==== the transport's setup against a hostile peer ======================= */

/* Two shm data paths over a socket pair: a offers its ring (the
 * descriptors of its setup frame, duplicated as SCM_RIGHTS would), b is
 * handed them in give. */
typedef struct shm_pair {
    int sv[2];
    seam__shm *a;
    seam__shm *b;
    int give[SEAM__SHM_SETUP_FDS];
} shm_pair;

static void shm_pair_init(shm_pair *p)
{
    unsetenv("SEAM_NO_SHM");
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->sv), 0);
    assert_int_equal(seam__shm_new(p->sv[0], &p->a), 0);
    assert_int_equal(seam__shm_new(p->sv[1], &p->b), 0);
    assert_non_null(p->a);
    assert_non_null(p->b);
    int fds[SEAM__SHM_SETUP_FDS];
    assert_int_equal(seam__shm_start(p->a, fds), 0);
    for (int i = 0; i < SEAM__SHM_SETUP_FDS; i++) {
        p->give[i] = dup(fds[i]);
        assert_true(p->give[i] >= 0);
    }
}

static void shm_pair_free(shm_pair *p)
{
    seam__shm_free(p->a);
    seam__shm_free(p->b);
    close(p->sv[0]);
    close(p->sv[1]);
}

/* A doorbell of the wrong kind is refused: the room doorbell and the
 * descriptor channel must be stream sockets (a pipe there, never drained by
 * a socket read, kept the loop awake for good), the data doorbell the read
 * end of a pipe. */
static void test_shm_setup_with_a_pipe_for_a_socket_is_eproto(void **state)
{
    (void)state;
    for (int which = 2; which < SEAM__SHM_SETUP_FDS; which++) {
        shm_pair p;
        shm_pair_init(&p);
        int pp[2];
        assert_int_equal(pipe(pp), 0);
        close(p.give[which]);
        p.give[which] = pp[0];
        assert_int_equal(write(pp[1], "x", 1), 1);
        assert_int_equal(seam__shm_attach(p.b, p.give, SEAM__SHM_SETUP_FDS, SEAM__RING_DEFAULT),
                         SEAM_EPROTO);
        close(pp[1]);
        shm_pair_free(&p);
    }
}

static void test_shm_setup_with_a_data_doorbell_not_a_pipe_read_end_is_eproto(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        shm_pair p;
        shm_pair_init(&p);
        int two[2];
        if (kind == 0) {
            assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, two), 0);
        } else {
            assert_int_equal(pipe(two), 0);
            int t = two[0];
            two[0] = two[1]; /* the write end */
            two[1] = t;
        }
        close(p.give[1]);
        p.give[1] = two[0];
        assert_int_equal(seam__shm_attach(p.b, p.give, SEAM__SHM_SETUP_FDS, SEAM__RING_DEFAULT),
                         SEAM_EPROTO);
        close(two[1]);
        shm_pair_free(&p);
    }
}

static void test_shm_setup_with_a_datagram_doorbell_is_eproto(void **state)
{
    (void)state;
    shm_pair p;
    shm_pair_init(&p);
    int dg[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, dg), 0);
    close(p.give[2]);
    p.give[2] = dg[0];
    assert_int_equal(seam__shm_attach(p.b, p.give, SEAM__SHM_SETUP_FDS, SEAM__RING_DEFAULT),
                     SEAM_EPROTO);
    close(dg[1]);
    shm_pair_free(&p);
}

/* Whether the shm path's descriptor reads as ready now. */
static bool shm_fd_ready(seam__shm *s)
{
    struct pollfd pf = {seam__shm_fd(s), POLLIN, 0};
    return poll(&pf, 1, 0) == 1;
}

/* A data doorbell rung (a pipe with bytes in it, whatever its flags: the
 * writer shares the read end and may make it blocking) is drained by the
 * reader without blocking, and leaves the loop asleep. */
static void test_shm_a_rung_data_doorbell_is_drained_and_sleeps_again(void **state)
{
    (void)state;
    shm_pair p;
    shm_pair_init(&p);
    int pp[2];
    assert_int_equal(pipe(pp), 0); /* blocking both ways */
    close(p.give[1]);
    p.give[1] = pp[0];
    assert_int_equal(seam__shm_attach(p.b, p.give, SEAM__SHM_SETUP_FDS, SEAM__RING_DEFAULT), 0);
    seam__shm_watch_events(p.b, SEAM_READ);
    uint8_t buf[16];
    int fds[4];
    size_t nfds = 0;
    bool truncated = false;
    assert_int_equal(seam__shm_recv(p.b, buf, sizeof(buf), fds, 4, &nfds, &truncated), SEAM_EAGAIN);
    assert_int_equal(write(pp[1], "xyz", 3), 3);
    assert_true(shm_fd_ready(p.b));
    assert_int_equal(seam__shm_recv(p.b, buf, sizeof(buf), fds, 4, &nfds, &truncated), SEAM_EAGAIN);
    assert_false(shm_fd_ready(p.b));
    /* Empty again and blocking: still no read blocks. */
    assert_int_equal(seam__shm_recv(p.b, buf, sizeof(buf), fds, 4, &nfds, &truncated), SEAM_EAGAIN);
    close(pp[1]);
    shm_pair_free(&p);
}

/* A writer that closes its data doorbell is gone: the reader ends the
 * stream instead of reading a doorbell that is ready for good. */
static void test_shm_a_closed_data_doorbell_ends_the_stream(void **state)
{
    (void)state;
    shm_pair p;
    shm_pair_init(&p);
    int pp[2];
    assert_int_equal(pipe(pp), 0);
    close(p.give[1]);
    p.give[1] = pp[0];
    assert_int_equal(seam__shm_attach(p.b, p.give, SEAM__SHM_SETUP_FDS, SEAM__RING_DEFAULT), 0);
    seam__shm_watch_events(p.b, SEAM_READ);
    uint8_t buf[16];
    int fds[4];
    size_t nfds = 0;
    bool truncated = false;
    assert_int_equal(seam__shm_recv(p.b, buf, sizeof(buf), fds, 4, &nfds, &truncated), SEAM_EAGAIN);
    close(pp[1]);
    assert_true(shm_fd_ready(p.b));
    assert_int_equal(seam__shm_recv(p.b, buf, sizeof(buf), fds, 4, &nfds, &truncated), 0);
    shm_pair_free(&p);
}

/* A reader that closes its room doorbell is gone: a writer waiting for
 * room fails its send as after a hang-up, instead of a doorbell at end of
 * file keeping the loop awake while the ring is full. */
static void test_shm_a_closed_room_doorbell_fails_the_full_writer(void **state)
{
    (void)state;
    shm_pair p;
    shm_pair_init(&p);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(p.give[2]); /* the writer's room doorbell now reads end of file */
    p.give[2] = sv[0];
    assert_int_equal(seam__shm_attach(p.b, p.give, SEAM__SHM_SETUP_FDS, SEAM__RING_DEFAULT), 0);
    seam__shm_switch_send(p.a, 0);
    seam__shm_watch_events(p.a, SEAM_READ | SEAM_WRITE);
    static uint8_t chunk[4096];
    struct iovec iov = {chunk, sizeof(chunk)};
    ssize_t n;
    size_t sent = 0;
    while ((n = seam__shm_sendv(p.a, &iov, 1, NULL, 0)) > 0) {
        sent += (size_t)n;
        assert_true(sent <= 2 * SEAM__RING_DEFAULT);
    }
    assert_int_equal(n, -EPIPE);
    assert_int_equal(seam__shm_sendv(p.a, &iov, 1, NULL, 0), -EPIPE);
    assert_false(shm_fd_ready(p.a));
    close(sv[1]);
    shm_pair_free(&p);
}

/* The writer's end of p's channel: the socket a byte sent from the
 * reader's end arrives at. */
static int shm_pair_writer_chan(shm_pair *p)
{
    int ready_before[256] = {0};
    for (int fd = 3; fd < 256; fd++) {
        struct pollfd pf = {fd, POLLIN, 0};
        ready_before[fd] = poll(&pf, 1, 0);
    }
    assert_int_equal(send(p->give[2], "x", 1, MSG_DONTWAIT), 1);
    for (int fd = 3; fd < 256; fd++) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (fd != p->give[2] && ready_before[fd] == 0 && seam__shm_is_stream_socket(fd) &&
            poll(&pf, 1, 0) == 1) {
            uint8_t b;
            assert_int_equal(recv(fd, &b, 1, MSG_DONTWAIT), 1);
            return fd;
        }
    }
    return -1;
}

/* A channel too full to take a record's descriptors (its reader has not
 * taken the batches before) is no failure: the record waits, nothing is
 * lost or reordered, the writer sleeps (its descriptor not ready) until
 * the reader, taking a batch, rings it. */
static void test_shm_a_full_descriptor_channel_waits_and_loses_nothing(void **state)
{
    (void)state;
    shm_pair p;
    shm_pair_init(&p);
    int wchan = shm_pair_writer_chan(&p);
    assert_true(wchan >= 0);
    int small = 1; /* the kernel's least */
    assert_int_equal(setsockopt(wchan, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    assert_int_equal(seam__shm_attach(p.b, p.give, SEAM__SHM_SETUP_FDS, SEAM__RING_DEFAULT), 0);
    seam__shm_switch_send(p.a, 0);
    seam__shm_watch_events(p.a, SEAM_READ | SEAM_WRITE);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    uint32_t sent = 0;
    ssize_t n;
    for (;;) {
        uint32_t v = sent;
        struct iovec iov = {&v, sizeof(v)};
        n = seam__shm_sendv(p.a, &iov, 1, &fd, 1);
        if (n != sizeof(v)) {
            break;
        }
        sent++;
        assert_true(sent < SEAM__RING_FDS_AHEAD); /* the channel fills first */
    }
    assert_int_equal(n, SEAM_EAGAIN);
    assert_true(sent > 0);
    assert_false(shm_fd_ready(p.a));
    for (uint32_t i = 0; i <= sent; i++) {
        uint32_t v = 0;
        int fds[4];
        size_t nfds = 0;
        bool truncated = false;
        assert_int_equal(seam__shm_recv(p.b, &v, sizeof(v), fds, 4, &nfds, &truncated), sizeof(v));
        assert_int_equal(v, i);
        assert_int_equal(nfds, 1);
        close(fds[0]);
        if (i == 0) {
            assert_true(shm_fd_ready(p.a)); /* rung */
            uint32_t w = sent;
            struct iovec iov = {&w, sizeof(w)};
            assert_int_equal(seam__shm_sendv(p.a, &iov, 1, &fd, 1), sizeof(w));
        }
    }
    close(fd);
    shm_pair_free(&p);
}

/* A ring holding more than the core reads per wake-up (the writer picks
 * the size: up to 64 MiB) still reads as ready once the core stops after
 * full reads, instead of leaving the rest for a doorbell that never comes:
 * the writer saw its reader awake. */
static void test_shm_a_full_read_leaves_the_ring_ready(void **state)
{
    (void)state;
    shm_pair p;
    unsetenv("SEAM_NO_SHM");
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p.sv), 0);
    assert_int_equal(seam__shm_new(p.sv[0], &p.a), 0);
    assert_int_equal(seam__shm_new(p.sv[1], &p.b), 0);
    size_t size = seam__shm_offer(p.a, 4u << 20);
    int fds[SEAM__SHM_SETUP_FDS];
    assert_int_equal(seam__shm_start(p.a, fds), 0);
    for (int i = 0; i < SEAM__SHM_SETUP_FDS; i++) {
        p.give[i] = dup(fds[i]);
    }
    assert_int_equal(seam__shm_attach(p.b, p.give, SEAM__SHM_SETUP_FDS, size), 0);
    seam__shm_switch_send(p.a, 0);
    seam__shm_watch_events(p.b, SEAM_READ);
    static uint8_t chunk[65536];
    int got[4];
    size_t ngot = 0;
    bool truncated = false;
    /* Empty: the reader sleeps, its wake-ups read. */
    assert_int_equal(seam__shm_recv(p.b, chunk, sizeof(chunk), got, 4, &ngot, &truncated),
                     SEAM_EAGAIN);
    assert_false(shm_fd_ready(p.b));
    struct iovec iov = {chunk, sizeof(chunk)};
    for (int i = 0; i < 32; i++) {
        assert_int_equal(seam__shm_sendv(p.a, &iov, 1, NULL, 0), (ssize_t)sizeof(chunk));
    }
    for (int i = 0; i < 16; i++) {
        assert_int_equal(seam__shm_recv(p.b, chunk, sizeof(chunk), got, 4, &ngot, &truncated),
                         (ssize_t)sizeof(chunk));
    }
    assert_true(shm_fd_ready(p.b));
    shm_pair_free(&p);
}

/* The reader's head is the peer's to write: garbage there is found by the
 * writer, and the connection must end (its reads fail), not stall with
 * everything queued. */
static void test_shm_writer_finding_a_corrupt_head_fails_the_pipe_with_eproto(void **state)
{
    (void)state;
    shm_pair p;
    shm_pair_init(&p);
    size_t len = SEAM__RING_HDR + SEAM__RING_DEFAULT;
    uint8_t *ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, p.give[0], 0);
    assert_true(ring != MAP_FAILED);
    assert_int_equal(seam__shm_attach(p.b, p.give, SEAM__SHM_SETUP_FDS, SEAM__RING_DEFAULT), 0);
    seam__shm_switch_send(p.a, 0);
    _Atomic uint64_t *head = (_Atomic uint64_t *)(void *)(ring + SEAM__RING_OFF_HEAD);
    atomic_store(head, ((uint64_t)1 << 63) + 5);
    struct iovec iov = {"hello", 5};
    assert_true(seam__shm_sendv(p.a, &iov, 1, NULL, 0) < 0);
    uint8_t buf[16];
    int fds[4];
    size_t nfds = 0;
    bool truncated = false;
    assert_int_equal(seam__shm_recv(p.a, buf, sizeof(buf), fds, 4, &nfds, &truncated), SEAM_EPROTO);
    assert_int_equal(seam__shm_wait(p.a, SEAM_READ, 0), SEAM_READ);
    munmap(ring, len);
    shm_pair_free(&p);
}

/* A record whose descriptors the channel refused (its reader closed its
 * end) breaks the ring for good: no later record goes in its place, a
 * receive reports the error, the core is woken to read it. */
static void test_shm_a_refused_descriptor_batch_lets_no_later_record_pass(void **state)
{
    (void)state;
    shm_pair p;
    shm_pair_init(&p);
    size_t len = SEAM__RING_HDR + SEAM__RING_DEFAULT;
    uint8_t *ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, p.give[0], 0);
    assert_true(ring != MAP_FAILED);
    seam__shm_switch_send(p.a, 0); /* its copies of the reader's ends closed */
    close(p.give[2]);
    p.give[2] = -1;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct iovec iov = {"hello", 5};
    assert_int_equal(seam__shm_sendv(p.a, &iov, 1, &fd, 1), -EPIPE);
    close(fd);
    assert_int_equal(seam__shm_sendv(p.a, &iov, 1, NULL, 0), -EPIPE);
    _Atomic uint64_t *tail = (_Atomic uint64_t *)(void *)(ring + SEAM__RING_OFF_TAIL);
    assert_int_equal(atomic_load(tail), 0);
    uint8_t buf[16];
    int fds[4];
    size_t nfds = 0;
    bool truncated = false;
    assert_int_equal(seam__shm_recv(p.a, buf, sizeof(buf), fds, 4, &nfds, &truncated), -EPIPE);
    assert_int_equal(seam__shm_wait(p.a, SEAM_READ, 0), SEAM_READ);
    munmap(ring, len);
    close(p.give[0]);
    close(p.give[1]);
    shm_pair_free(&p);
}

/* A ring the peer sent opened read-only cannot be mapped for writing
 * head: that is the peer's fault, EPROTO. */
static void test_shm_a_ring_sent_read_only_is_eproto(void **state)
{
    (void)state;
    shm_pair p;
    shm_pair_init(&p);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", p.give[0]);
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(ro >= 0);
    close(p.give[0]);
    p.give[0] = ro;
    assert_int_equal(seam__shm_attach(p.b, p.give, SEAM__SHM_SETUP_FDS, SEAM__RING_DEFAULT),
                     SEAM_EPROTO);
    shm_pair_free(&p);
}

/* In a child whose address space is nearly used up: mapping a large ring
 * fails for want of memory, which is ENOMEM, not the peer's violation. */
static int map_without_memory_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    int fd = -1;
    uint8_t *base = NULL;
    if (seam__shm_memfd(SEAM__RING_MAX, &base, &fd) < 0) {
        return 1;
    }
    munmap(base, SEAM__RING_HDR + SEAM__RING_MAX);
    unsigned long pages = 0;
    FILE *st = fopen("/proc/self/statm", "r");
    if (st == NULL || fscanf(st, "%lu", &pages) != 1) {
        return 2;
    }
    fclose(st);
    struct rlimit lim = {(rlim_t)pages * 4096u + (8u << 20), (rlim_t)pages * 4096u + (8u << 20)};
    if (setrlimit(RLIMIT_AS, &lim) < 0) {
        return 3;
    }
    int r = seam__shm_map_checked(fd, SEAM__RING_MAX, &base);
    return r == SEAM_ENOMEM ? 0 : 4;
}

static void test_shm_a_ring_we_lack_the_memory_to_map_is_enomem(void **state)
{
    (void)state;
    if (support_children_are_threads()) {
        skip();
    }
    support_child child = {.chan = -1};
    support_fork(&child, map_without_memory_main, NULL);
    assert_int_equal(support_child_wait(&child, SUPPORT_DEADLINE_MS), 0);
}

/* ==== a hostile ring peer against a real server ========================== */

/* A server in this process that records how its peers ended. */
typedef struct hostile_server {
    int invalid;
    int error;
} hostile_server;

static void hostile_server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    hostile_server *h = userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        seam_request_reply(ev->request, ev->value);
    } else if (ev->type == SEAM_EVENT_INVALID) {
        h->invalid++;
        h->error = ev->error;
    }
}

static bool hostile_server_closed_one(void *arg)
{
    return ((hostile_server *)arg)->invalid > 0;
}

/* The raw peer's tail jumps past the end of its ring: the server's reader
 * finds it. The child exits 0 when the server said goodbye with EPROTO
 * over its own ring, 2 when it said goodbye otherwise or not at all. */
static int bad_tail_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    shmpeer p;
    if (!shmpeer_connect(&p, NAME, SEAM__RING_MIN)) {
        return 1;
    }
    shmpeer_poke_u64(&p, SEAM__RING_OFF_TAIL, 2 * SEAM__RING_MIN + 8);
    shmpeer_ring(&p);
    int code = shmpeer_goodbye_code(&p, SUPPORT_DEADLINE_MS);
    shmpeer_free(&p);
    return code == SEAM_EPROTO ? 0 : 2;
}

/* A violation the reader finds in the peer's ring is a protocol error like
 * any other: the peer is told why (a goodbye with EPROTO) and the user
 * sees EPROTO, not a connection that was merely lost. */
static void test_a_ring_violation_found_by_the_reader_says_goodbye_with_eproto(void **state)
{
    fixture *f = *state;
    hostile_server h = {0};
    seam_server_config cfg = {.conn = {.on_event = hostile_server_event, .userdata = &h}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    support_child child = {.chan = -1};
    support_fork(&child, bad_tail_main, NULL);
    assert_true(support_run_until(f->loop, hostile_server_closed_one, &h, SUPPORT_DEADLINE_MS));
    assert_int_equal(h.error, SEAM_EPROTO);
    assert_int_equal(support_child_wait(&child, SUPPORT_DEADLINE_MS), 0);
    seam_server_close(srv);
}

/* ==== descriptors a hostile setup leaves behind ========================== */

/* Every descriptor open in this process (the server's). */
static int open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9') {
            n++;
        }
    }
    if (d != NULL) {
        closedir(d);
        n--; /* the directory's own */
    }
    return n;
}

static bool fds_back_to(void *arg)
{
    return open_fd_count() <= *(const int *)arg;
}

#define SETUP 13

/* After its own setup, a second shm_setup frame through the ring with
 * *arg descriptors (a well-formed set for 3, descriptors of /dev/null for
 * another count). Exit status 0 when the server said goodbye with EPROTO
 * over its ring. */
static int second_setup_main(int chan, void *arg)
{
    (void)chan;
    int n = *(const int *)arg;
    shmpeer p;
    if (!shmpeer_connect(&p, NAME, SEAM__RING_MIN)) {
        return 1;
    }
    int give[8];
    bool ok = true;
    if (n == SHMPEER_SETUP_FDS) {
        ok = shmpeer_setup_fds(SEAM__RING_MIN, give);
    } else {
        for (int i = 0; i < n; i++) {
            give[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
    }
    uint8_t setup[16];
    rawpeer_put_header(setup, 0, SETUP, 0, (uint16_t)n, 0);
    ok = ok && shmpeer_send_fds(&p, setup, sizeof(setup), give, (size_t)n);
    for (int i = 0; ok && i < n; i++) {
        close(give[i]);
    }
    int code = ok ? shmpeer_goodbye_code(&p, SUPPORT_DEADLINE_MS) : 0;
    shmpeer_free(&p);
    return !ok ? 3 : code == SEAM_EPROTO ? 0 : 2;
}

/* A second setup, or one with the wrong count, is EPROTO and ends the
 * connection; whatever descriptors it brought are closed, so a peer that
 * reconnects and does it again cannot fill the server's table. */
static void test_repeated_setups_through_the_ring_leave_no_descriptors(void **state)
{
    fixture *f = *state;
    hostile_server h = {0};
    seam_server_config cfg = {.conn = {.on_event = hostile_server_event, .userdata = &h}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    int before = open_fd_count();
    static const int counts[] = {3, 3, 3, 4, 2, 3, 0, 1, 3, 3};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        support_child child = {.chan = -1};
        support_fork(&child, second_setup_main, (void *)&counts[i]);
        assert_true(support_run_until_count(f->loop, &h.invalid, (int)i + 1, SUPPORT_DEADLINE_MS));
        assert_int_equal(h.error, SEAM_EPROTO);
        assert_int_equal(support_run_until_exit(f->loop, &child, SUPPORT_DEADLINE_MS), 0);
    }
    assert_true(support_run_until(f->loop, fds_back_to, &before, SUPPORT_DEADLINE_MS));
    seam_server_close(srv);
}

/* A second setup whose header announces 3 descriptors while its record
 * brings 2: the descriptors do not match the frame, EFRAMEFDS as for any
 * frame (protocol.md: the count check of shm_setup is the header's). */
static int short_setup_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    shmpeer p;
    if (!shmpeer_connect(&p, NAME, SEAM__RING_MIN)) {
        return 1;
    }
    int give[SHMPEER_SETUP_FDS];
    bool ok = shmpeer_setup_fds(SEAM__RING_MIN, give);
    uint8_t setup[16];
    rawpeer_put_header(setup, 0, SETUP, 0, SHMPEER_SETUP_FDS, 0);
    ok = ok && shmpeer_send_fds(&p, setup, sizeof(setup), give, SHMPEER_SETUP_FDS - 1);
    for (int i = 0; ok && i < SHMPEER_SETUP_FDS; i++) {
        close(give[i]);
    }
    int code = ok ? shmpeer_goodbye_code(&p, SUPPORT_DEADLINE_MS) : 0;
    shmpeer_free(&p);
    return !ok ? 3 : code == SEAM_EFRAMEFDS ? 0 : 2;
}

static void test_a_setup_short_of_its_descriptors_is_eframefds(void **state)
{
    fixture *f = *state;
    hostile_server h = {0};
    seam_server_config cfg = {.conn = {.on_event = hostile_server_event, .userdata = &h}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    int before = open_fd_count();
    support_child child = {.chan = -1};
    support_fork(&child, short_setup_main, NULL);
    assert_true(support_run_until_count(f->loop, &h.invalid, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(h.error, SEAM_EFRAMEFDS);
    assert_int_equal(support_run_until_exit(f->loop, &child, SUPPORT_DEADLINE_MS), 0);
    assert_true(support_run_until(f->loop, fds_back_to, &before, SUPPORT_DEADLINE_MS));
    seam_server_close(srv);
}

/* Descriptor *arg of the setup (2: the channel, room doorbell and descriptors)
 * swapped for an AF_UNIX stream socket that has no peer: unconnected, or
 * listening on an abstract address. */
static void swap_for_unconnected(int give[4], void *arg)
{
    int which = *(const int *)arg;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if ((which & 4) != 0 && fd >= 0) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "seam-test-%d", (int)getpid());
        (void)!bind(fd, (struct sockaddr *)&a, sizeof(a));
        (void)!listen(fd, 1);
    }
    close(give[which & 3]);
    give[which & 3] = fd;
}

static int unconnected_bell_main(int chan, void *arg)
{
    (void)chan;
    shmpeer p;
    if (!shmpeer_connect_tampered(&p, NAME, SEAM__RING_MIN, swap_for_unconnected, arg)) {
        return 1;
    }
    int code = shmpeer_goodbye_code(&p, SUPPORT_DEADLINE_MS);
    shmpeer_free(&p);
    return code == SEAM_EPROTO ? 0 : 2;
}

/* The room doorbell and the descriptor channel must be connected socket
 * pair ends, as protocol.md says: one with no peer (never rung, its reads
 * fail) is refused as any wrong descriptor is, with EPROTO. */
static void test_a_setup_with_an_unconnected_socket_for_a_doorbell_is_eproto(void **state)
{
    fixture *f = *state;
    hostile_server h = {0};
    seam_server_config cfg = {.conn = {.on_event = hostile_server_event, .userdata = &h}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    static const int which[] = {2, 2 | 4};
    for (size_t i = 0; i < sizeof(which) / sizeof(which[0]); i++) {
        support_child child = {.chan = -1};
        support_fork(&child, unconnected_bell_main, (void *)&which[i]);
        assert_true(support_run_until_count(f->loop, &h.invalid, (int)i + 1, SUPPORT_DEADLINE_MS));
        assert_int_equal(h.error, SEAM_EPROTO);
        assert_int_equal(support_run_until_exit(f->loop, &child, SUPPORT_DEADLINE_MS), 0);
    }
    seam_server_close(srv);
}

/* A socket pair end passes; one connected to a named socket (whose
 * peer is a third process) does not. */
static void test_shm_setup_with_a_named_connection_for_a_doorbell_is_eproto(void **state)
{
    (void)state;
    shm_pair p;
    shm_pair_init(&p);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "seam-test-named-%d", (int)getpid());
    socklen_t alen =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1));
    assert_int_equal(bind(l, (struct sockaddr *)&a, alen), 0);
    assert_int_equal(listen(l, 1), 0);
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, alen), 0);
    close(p.give[2]);
    p.give[2] = c;
    assert_int_equal(seam__shm_attach(p.b, p.give, SEAM__SHM_SETUP_FDS, SEAM__RING_DEFAULT),
                     SEAM_EPROTO);
    close(l);
    shm_pair_free(&p);
}

#define UNKNOWN_REPLIES 120

/* Replies carrying a descriptor for calls the server never made, laid
 * out in the ring three ways (the frame in one record with its
 * descriptor; its header alone, then its payload with the descriptor;
 * behind a ping in one record that carries it), each followed by a ping.
 * Exit status 0 when every ping was answered. */
static int unknown_replies_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    shmpeer p;
    if (!shmpeer_connect(&p, NAME, SEAM__RING_MIN)) {
        return 1;
    }
    int status = 0;
    for (uint64_t i = 1; i <= UNKNOWN_REPLIES && status == 0; i++) {
        uint8_t frames[16 + 17];
        rawpeer_put_header(frames, 0, RAWPEER_PING, 0, 0, 5000 + i);
        rawpeer_put_header(frames + 16, 1, RAWPEER_REPLY, 0, 1, 1000 + i);
        frames[32] = 0xf6; /* null */
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        bool ok;
        switch (i % 3) {
        case 0:
            ok = shmpeer_send_fds(&p, frames + 16, 17, &fd, 1);
            break;
        case 1:
            ok = shmpeer_send(&p, frames + 16, 16) && shmpeer_send_fds(&p, frames + 32, 1, &fd, 1);
            break;
        default:
            ok = shmpeer_send_fds(&p, frames, sizeof(frames), &fd, 1);
            break;
        }
        close(fd);
        uint8_t ping[16];
        rawpeer_put_header(ping, 0, RAWPEER_PING, 0, 0, i);
        uint8_t hdr[16];
        ok = ok && shmpeer_send(&p, ping, sizeof(ping));
        shmpeer_ring(&p);
        while (ok) {
            ok = shmpeer_read_frame(&p, hdr, NULL, 0, SUPPORT_DEADLINE_MS) == 0 &&
                 hdr[4] == RAWPEER_PONG;
            if (ok && rawpeer_get_id(hdr) == i) {
                break;
            }
        }
        status = ok ? 0 : 2;
    }
    shmpeer_free(&p);
    return status;
}

/* A reply for an id with no call in flight is dropped, its descriptors
 * closed, over the ring as over the socket (docs/protocol.md,
 * "Conversation"): the connection goes on. */
static void test_replies_with_descriptors_for_unknown_calls_are_dropped_over_the_ring(void **state)
{
    fixture *f = *state;
    hostile_server h = {0};
    seam_server_config cfg = {.conn = {.on_event = hostile_server_event, .userdata = &h}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    int before = open_fd_count();
    support_child child = {.chan = -1};
    support_fork(&child, unknown_replies_main, NULL);
    assert_int_equal(support_run_until_exit(f->loop, &child, 4 * SUPPORT_DEADLINE_MS), 0);
    /* It ended when the peer hung up, not before. */
    assert_true(support_run_until_count(f->loop, &h.invalid, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(h.error, SEAM_ECONNRESET);
    assert_true(support_run_until(f->loop, fds_back_to, &before, SUPPORT_DEADLINE_MS));
    seam_server_close(srv);
}

#define IDLE_CONNS 16

/* IDLE_CONNS clients, each past one call (both directions on rings), then
 * idle: a byte on chan says so, and they stay until the parent answers. */
static int idle_clients_main(int chan, void *arg)
{
    (void)arg;
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) < 0) {
        return 1;
    }
    seam_conn *conns[IDLE_CONNS] = {0};
    int status = 0;
    for (int i = 0; i < IDLE_CONNS && status == 0; i++) {
        seam_conn_config cfg = {0};
        seam_value *m = seam_value_new_int64(i);
        seam_value *reply = NULL;
        if (seam_conn_connect(loop, NAME, &cfg, &conns[i]) < 0 ||
            seam_conn_call_sync(conns[i], m, CALL_MS, &reply) < 0 ||
            conns[i]->pipe->tran->shm_active(conns[i]->pipe) != 3) {
            status = 2;
        }
        seam_value_unref(reply);
        seam_value_unref(m);
    }
    uint8_t b = (uint8_t)status;
    (void)!write(chan, &b, 1);
    (void)!read(chan, &b, 1);
    for (int i = 0; i < IDLE_CONNS; i++) {
        if (conns[i] != NULL) {
            seam_conn_close(conns[i]);
        }
    }
    seam_loop_free(loop);
    return status;
}

/* Descriptors a server holds per idle shared-memory connection: the
 * socket, the epoll set and its wake-up, our data doorbell's write end
 * and held read end, the peer's data doorbell, and the two channels (one
 * socket pair end each way: room doorbell one way, descriptors the other).
 * The rings' memfds are closed once mapped. A bound: a server with many
 * idle clients runs out of descriptors this many times sooner than with
 * sockets alone (it was 10, with a socket pair for each of the two jobs). */
#define SHM_FDS_PER_CONN 8

static void test_an_idle_shm_connection_holds_a_bounded_number_of_descriptors(void **state)
{
    fixture *f = *state;
    hostile_server h = {0};
    seam_server_config cfg = {.conn = {.on_event = hostile_server_event, .userdata = &h}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    int before = open_fd_count();
    support_child child = {.chan = -1};
    support_fork(&child, idle_clients_main, NULL);
    assert_true(support_run_until_readable(f->loop, child.chan, SUPPORT_DEADLINE_MS));
    uint8_t b = 0xff;
    assert_int_equal(read(child.chan, &b, 1), 1);
    assert_int_equal(b, 0);
    int held = open_fd_count() - before - 1; /* the channel to the child */
    print_message("      %d descriptors per idle connection\n", held / IDLE_CONNS);
    assert_true(held <= SHM_FDS_PER_CONN * IDLE_CONNS);
    assert_int_equal(write(child.chan, &b, 1), 1);
    assert_int_equal(support_run_until_exit(f->loop, &child, SUPPORT_DEADLINE_MS), 0);
    assert_true(support_run_until(f->loop, fds_back_to, &before, SUPPORT_DEADLINE_MS));
    seam_server_close(srv);
}

/* A client given only k descriptors more than it holds, for each k from
 * none to more than a shared-memory connection needs: a connect either
 * fails at once for want of a socket (EMFILE), or its call works, over
 * the socket when the rest does not fit, over rings when it does. Exit
 * status 0 when so (and the last went over rings), 10 + k for the first
 * k whose call failed. */
static int few_descriptors_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) < 0) {
        return 1;
    }
    struct rlimit old;
    if (getrlimit(RLIMIT_NOFILE, &old) < 0) {
        return 2;
    }
    int base = open_fd_count();
    unsigned active = 0;
    for (int k = 0; k <= 16; k++) {
        struct rlimit lim = {(rlim_t)(base + k), old.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &lim) < 0) {
            return 3;
        }
        seam_conn_config cfg = {0};
        seam_conn *conn = NULL;
        int r = seam_conn_connect(loop, NAME, &cfg, &conn);
        if (r == 0) {
            seam_value *m = seam_value_new_int64(k);
            seam_value *reply = NULL;
            r = seam_conn_call_sync(conn, m, CALL_MS, &reply);
            if (r == 0 && (reply == NULL || !seam_value_equal(reply, m))) {
                r = SEAM_EPROTO;
            }
            active = r == 0 ? conn->pipe->tran->shm_active(conn->pipe) : 0;
            seam_value_unref(reply);
            seam_value_unref(m);
            seam_conn_close(conn);
        } else if (r == -EMFILE) {
            r = 0;
        }
        setrlimit(RLIMIT_NOFILE, &old);
        for (int i = 0; i < 50 && open_fd_count() > base; i++) {
            support_run_once(loop, 10);
        }
        if (r != 0) {
            return 10 + k;
        }
    }
    seam_loop_free(loop);
    return active == 3 ? 0 : 4;
}

/* A client short of descriptors for shared memory keeps to the socket
 * instead of failing half-way through the switch (the peer's setup frame
 * came with descriptors the kernel could not give it: the connection
 * ended), and never hangs. */
static void test_a_client_short_of_descriptors_keeps_to_the_socket(void **state)
{
    fixture *f = *state;
    if (support_children_are_threads()) {
        skip();
    }
    hostile_server h = {0};
    seam_server_config cfg = {.conn = {.on_event = hostile_server_event, .userdata = &h}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    support_child child = {.chan = -1};
    support_fork(&child, few_descriptors_main, NULL);
    assert_int_equal(support_run_until_exit(f->loop, &child, 4 * SUPPORT_DEADLINE_MS), 0);
    seam_server_close(srv);
}

/* ==== the writer's descriptor channel and fds_taken ====================== */

/* Whether the server hung up the socket (0 ms: it did already). */
static bool peer_hung_up(const shmpeer *p)
{
    struct pollfd pf = {p->sock, POLLRDHUP, 0};
    return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* Reads the server's ring until it hangs up: how many frames came. */
static int frames_until_hangup(shmpeer *p)
{
    uint8_t hdr[16];
    int n = 0;
    while (shmpeer_read_frame(p, hdr, NULL, 0, SUPPORT_DEADLINE_MS) >= 0) {
        n++;
    }
    return n;
}

/* One ping through the ring, answered through the server's: both
 * directions are on the rings. */
static bool ping_answered(shmpeer *p, uint64_t id)
{
    uint8_t ping[16];
    uint8_t hdr[16];
    rawpeer_put_header(ping, 0, RAWPEER_PING, 0, 0, id);
    if (!shmpeer_send(p, ping, sizeof(ping))) {
        return false;
    }
    shmpeer_ring(p);
    return shmpeer_read_frame(p, hdr, NULL, 0, SUPPORT_DEADLINE_MS) == 0 &&
           hdr[4] == RAWPEER_PONG && rawpeer_get_id(hdr) == id;
}

/* Closes its end of the server's channel, then sends a request naming a
 * descriptor (the echo's reply carries it, over that channel) and a ping.
 * Exit status 0 when nothing more came and the server hung up; 2 when
 * anything came (the pong of a connection that lost the reply and went
 * on) or the server kept the connection. */
static int chan_closed_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    shmpeer p;
    if (!shmpeer_connect(&p, NAME, SEAM__RING_MIN) || !ping_answered(&p, 1)) {
        return 1;
    }
    close(p.in_chan);
    p.in_chan = -1;
    /* {"d": fd 0} */
    static const uint8_t value[] = {0xa1, 0x61, 'd', 0xda, 0x73, 0x65, 0x61, 0x6d, 0x00};
    uint8_t frames[16 + sizeof(value) + 16];
    rawpeer_put_header(frames, sizeof(value), RAWPEER_REQUEST, 0, 1, 5);
    memcpy(frames + 16, value, sizeof(value));
    rawpeer_put_header(frames + 16 + sizeof(value), 0, RAWPEER_PING, 0, 0, 6);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    bool ok = shmpeer_send_fds(&p, frames, sizeof(frames), &fd, 1);
    close(fd);
    shmpeer_ring(&p);
    int came = ok ? frames_until_hangup(&p) : -1;
    bool hung_up = peer_hung_up(&p);
    shmpeer_free(&p);
    return !ok ? 1 : came == 0 && hung_up ? 0 : 2;
}

/* A reply whose descriptors cannot go over the channel (the peer closed
 * its end) is not dropped while the connection goes on (docs/protocol.md,
 * "Shared memory", Descriptors): the connection ends, reported as lost. */
static void test_a_closed_descriptor_channel_ends_the_connection(void **state)
{
    fixture *f = *state;
    hostile_server h = {0};
    seam_server_config cfg = {.conn = {.on_event = hostile_server_event, .userdata = &h}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    support_child child = {.chan = -1};
    support_fork(&child, chan_closed_main, NULL);
    assert_true(support_run_until(f->loop, hostile_server_closed_one, &h, SUPPORT_DEADLINE_MS));
    assert_int_equal(h.error, SEAM_ECONNRESET);
    assert_int_equal(support_run_until_exit(f->loop, &child, SUPPORT_DEADLINE_MS), 0);
    seam_server_close(srv);
}

/* Breaks the server's ring (*arg: the field's offset, fds_taken or head),
 * then sends a ping, whose pong is a record without descriptors. Exit
 * status 0 when nothing came (no pong, no goodbye) and the server hung
 * up. */
static int writer_index_main(int chan, void *arg)
{
    (void)chan;
    size_t off = *(const size_t *)arg;
    shmpeer p;
    if (!shmpeer_connect(&p, NAME, SEAM__RING_MIN) || !ping_answered(&p, 1)) {
        return 1;
    }
    uint64_t v = 7; /* descriptors taken: none were sent */
    if (off == SEAM__RING_OFF_HEAD) {
        v = atomic_load((_Atomic uint64_t *)(void *)(p.in_mem + off)) + SEAM__RING_MIN;
    }
    atomic_store((_Atomic uint64_t *)(void *)(p.in_mem + off), v);
    uint8_t ping[16];
    rawpeer_put_header(ping, 0, RAWPEER_PING, 0, 0, 2);
    bool ok = shmpeer_send(&p, ping, sizeof(ping));
    shmpeer_ring(&p);
    int came = ok ? frames_until_hangup(&p) : -1;
    bool hung_up = peer_hung_up(&p);
    shmpeer_free(&p);
    return !ok ? 1 : came == 0 && hung_up ? 0 : 2;
}

/* The writer checks fds_taken as it checks head, before every record (one
 * without descriptors too), and a writer that finds either broken closes
 * without a goodbye, with EPROTO (docs/protocol.md, "Shared memory",
 * Violations). */
static void test_a_broken_fds_taken_or_head_is_found_before_any_record(void **state)
{
    fixture *f = *state;
    static const size_t fields[] = {SEAM__RING_OFF_FDSTAKEN, SEAM__RING_OFF_HEAD};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        hostile_server h = {0};
        seam_server_config cfg = {.conn = {.on_event = hostile_server_event, .userdata = &h}};
        seam_server *srv = NULL;
        assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
        support_child child = {.chan = -1};
        support_fork(&child, writer_index_main, (void *)&fields[i]);
        assert_true(support_run_until(f->loop, hostile_server_closed_one, &h, SUPPORT_DEADLINE_MS));
        assert_int_equal(h.error, SEAM_EPROTO);
        assert_int_equal(support_run_until_exit(f->loop, &child, SUPPORT_DEADLINE_MS), 0);
        seam_server_close(srv);
    }
}

/* ==== what the shared-memory section pins down =========================== */

/* Its hello and its setup frame in one sendmsg carrying the setup's
 * descriptors, then a ping over the ring. Exit status 0 when it was
 * answered over the server's ring. */
static int joined_setup_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    shmpeer p;
    if (!shmpeer_connect_joined(&p, NAME, SEAM__RING_MIN)) {
        return 1;
    }
    bool ok = ping_answered(&p, 1);
    shmpeer_free(&p);
    return ok ? 0 : 2;
}

/* A setup frame sent before the peer's hello was read (every shmpeer does
 * that) and one whose descriptors came in the hello's sendmsg, both
 * frames read at once, are taken (docs/protocol.md, "Shared memory",
 * Negotiation): descriptors are claimed in frame order. */
static void test_a_setup_sent_with_the_hello_in_one_sendmsg_is_taken(void **state)
{
    fixture *f = *state;
    hostile_server h = {0};
    seam_server_config cfg = {.conn = {.on_event = hostile_server_event, .userdata = &h}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    support_child child = {.chan = -1};
    support_fork(&child, joined_setup_main, NULL);
    assert_int_equal(support_run_until_exit(f->loop, &child, SUPPORT_DEADLINE_MS), 0);
    seam_server_close(srv);
}

/* A ping in a record carrying a descriptor. Exit status 0 when the server
 * said goodbye with EFRAMEFDS over its ring. */
static int unclaimed_fds_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    shmpeer p;
    if (!shmpeer_connect(&p, NAME, SEAM__RING_MIN) || !ping_answered(&p, 1)) {
        return 1;
    }
    uint8_t ping[16];
    rawpeer_put_header(ping, 0, RAWPEER_PING, 0, 0, 2);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    bool ok = shmpeer_send_fds(&p, ping, sizeof(ping), &fd, 1);
    close(fd);
    shmpeer_ring(&p);
    int code = ok ? shmpeer_goodbye_code(&p, SUPPORT_DEADLINE_MS) : 0;
    shmpeer_free(&p);
    return !ok ? 1 : code == SEAM_EFRAMEFDS ? 0 : 2;
}

/* Descriptors on a record whose bytes hold only frames that announce none
 * are claimed by no frame: EFRAMEFDS, as over the socket. */
static void test_descriptors_on_a_record_of_frames_without_any_are_eframefds(void **state)
{
    fixture *f = *state;
    hostile_server h = {0};
    seam_server_config cfg = {.conn = {.on_event = hostile_server_event, .userdata = &h}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    support_child child = {.chan = -1};
    support_fork(&child, unclaimed_fds_main, NULL);
    assert_true(support_run_until(f->loop, hostile_server_closed_one, &h, SUPPORT_DEADLINE_MS));
    assert_int_equal(h.error, SEAM_EFRAMEFDS);
    assert_int_equal(support_run_until_exit(f->loop, &child, SUPPORT_DEADLINE_MS), 0);
    seam_server_close(srv);
}

#define SHUTWR_REQUESTS 20

/* SHUTWR_REQUESTS echo requests published in its ring, then
 * shutdown(SHUT_WR) of the socket. Exit status 0 when every one was
 * answered and the server then hung up. */
static int shutwr_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    shmpeer p;
    if (!shmpeer_connect(&p, NAME, SEAM__RING_MIN) || !ping_answered(&p, 1)) {
        return 1;
    }
    bool ok = true;
    for (uint64_t i = 0; i < SHUTWR_REQUESTS && ok; i++) {
        uint8_t req[17];
        rawpeer_put_header(req, 1, RAWPEER_REQUEST, 0, 0, 100 + i);
        req[16] = (uint8_t)i; /* the unsigned integer i */
        ok = shmpeer_send(&p, req, sizeof(req));
    }
    shmpeer_ring(&p);
    ok = ok && shutdown(p.sock, SHUT_WR) == 0;
    int replies = 0;
    uint8_t hdr[16];
    uint8_t payload[8];
    long len;
    while (ok && (len = shmpeer_read_frame(&p, hdr, payload, sizeof(payload),
                                           SUPPORT_DEADLINE_MS)) >= 0) {
        ok = hdr[4] == RAWPEER_REPLY && rawpeer_get_id(hdr) == 100 + (uint64_t)replies &&
             len == 1 && payload[0] == (uint8_t)replies;
        replies++;
    }
    ok = ok && replies == SHUTWR_REQUESTS && peer_hung_up(&p);
    shmpeer_free(&p);
    return ok ? 0 : 2;
}

/* A peer that shuts down its socket's writing side after publishing
 * requests in its ring has them all answered over the server's ring, then
 * the server closes (docs/protocol.md, "Shared memory", Hang-up). */
static void test_requests_published_before_shut_wr_are_all_answered(void **state)
{
    fixture *f = *state;
    hostile_server h = {0};
    seam_server_config cfg = {.conn = {.on_event = hostile_server_event, .userdata = &h}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    support_child child = {.chan = -1};
    support_fork(&child, shutwr_main, NULL);
    assert_int_equal(support_run_until_exit(f->loop, &child, SUPPORT_DEADLINE_MS), 0);
    seam_server_close(srv);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        T(test_both_offering_moves_both_directions_to_rings),
        T(test_no_shm_in_the_environment_keeps_the_socket),
        T(test_frames_larger_than_a_ring_cross_it_intact),
        T(test_the_ring_we_write_has_the_configured_size),
        T(test_a_dead_peer_is_noticed_at_once_over_rings),
        cmocka_unit_test(test_ring_tail_beyond_the_ring_is_eproto),
        cmocka_unit_test(test_ring_record_longer_than_what_was_published_is_eproto),
        cmocka_unit_test(test_ring_record_with_more_descriptors_than_a_frame_is_eproto),
        cmocka_unit_test(test_ring_head_past_the_tail_is_eproto_for_the_writer),
        cmocka_unit_test(test_ring_full_waits_and_the_reader_rings_the_waiting_writer),
        cmocka_unit_test(test_ring_taking_descriptors_alone_rings_a_writer_at_the_bound),
        cmocka_unit_test(test_ring_rings_a_sleeping_reader_and_not_a_busy_one),
        cmocka_unit_test(test_ring_records_wrap_around_intact),
        cmocka_unit_test(test_ring_read_keeps_the_count_of_its_first_record),
        cmocka_unit_test(test_hello_ring_sizes_are_powers_of_two_within_bounds),
        cmocka_unit_test(test_shm_setup_with_a_pipe_for_a_socket_is_eproto),
        cmocka_unit_test(test_shm_setup_with_a_data_doorbell_not_a_pipe_read_end_is_eproto),
        cmocka_unit_test(test_shm_a_rung_data_doorbell_is_drained_and_sleeps_again),
        cmocka_unit_test(test_shm_a_closed_data_doorbell_ends_the_stream),
        cmocka_unit_test(test_shm_a_closed_room_doorbell_fails_the_full_writer),
        cmocka_unit_test(test_shm_a_full_read_leaves_the_ring_ready),
        cmocka_unit_test(test_shm_a_full_descriptor_channel_waits_and_loses_nothing),
        cmocka_unit_test(test_shm_setup_with_a_datagram_doorbell_is_eproto),
        cmocka_unit_test(test_shm_a_ring_sent_read_only_is_eproto),
        cmocka_unit_test(test_shm_a_ring_we_lack_the_memory_to_map_is_enomem),
        cmocka_unit_test(test_shm_writer_finding_a_corrupt_head_fails_the_pipe_with_eproto),
        cmocka_unit_test(test_shm_a_refused_descriptor_batch_lets_no_later_record_pass),
        T(test_a_ring_violation_found_by_the_reader_says_goodbye_with_eproto),
        T(test_repeated_setups_through_the_ring_leave_no_descriptors),
        T(test_a_setup_short_of_its_descriptors_is_eframefds),
        T(test_a_setup_with_an_unconnected_socket_for_a_doorbell_is_eproto),
        T(test_an_idle_shm_connection_holds_a_bounded_number_of_descriptors),
        T(test_replies_with_descriptors_for_unknown_calls_are_dropped_over_the_ring),
        T(test_a_client_short_of_descriptors_keeps_to_the_socket),
        cmocka_unit_test(test_shm_setup_with_a_named_connection_for_a_doorbell_is_eproto),
        T(test_a_closed_descriptor_channel_ends_the_connection),
        T(test_a_broken_fds_taken_or_head_is_found_before_any_record),
        T(test_a_setup_sent_with_the_hello_in_one_sendmsg_is_taken),
        T(test_descriptors_on_a_record_of_frames_without_any_are_eframefds),
        T(test_requests_published_before_shut_wr_are_all_answered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
