/* SPDX-License-Identifier: MIT */
/* attack_shm.c - a hostile peer on a shared-memory connection: a second
 * process that scribbles on both rings (indices, lengths, sleep flags),
 * floods the doorbells, makes the doorbell it shares blocking, sends
 * descriptors where none belong and batches of them through its ring, while a well-behaved client
 * keeps calling the same server. The server must not crash or hang, must end only the hostile
 * connection, with EPROTO, and must answer every call of the other client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rawpeer.h"
#include "shmpeer.h"
#include "support.h"

#include <seam/poll.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NAME       "t.attack.shm"
#define CALL_MS    10000
#define PINGS      200
#define CALLS      150
#define SCRIBBLES  200000
#define BIG_CALL   100000 /* less than a ring, more than its free room at times */
#define RAW_PING   7
#define RAW_PONG   8
#define RING_BYTES SEAM__RING_MIN

typedef struct fixture {
    char dir[256];
    seam_loop *loop;
} fixture;

typedef struct server_log {
    int eproto; /* connections that ended with EPROTO */
    int other;  /* ... with anything but a client's own close */
} server_log;

static void server_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    server_log *log = userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        seam_request_reply(ev->request, ev->value);
    } else if (ev->type == SEAM_EVENT_INVALID) {
        /* The well-behaved client's own close is its business: had the
         * server ended it, its calls would have failed. */
        if (ev->error == SEAM_EPROTO) {
            log->eproto++;
        } else if (ev->error != SEAM_ECLOSED && ev->error != SEAM_ECONNRESET) {
            log->other++;
        }
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

/* ---- the hostile peer ---- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static bool hostile_hungup(const shmpeer *p)
{
    struct pollfd pf = {p->sock, POLLRDHUP, 0};
    return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* Noise that breaks no rule the reader checks: sleep flags set and
 * cleared at random, doorbells rung far more often than asked, and a
 * descriptor sent over the room doorbell (dropped, closed). */
static void hostile_noise(shmpeer *p, uint64_t *rng)
{
    uint64_t r = rng_next(rng);
    switch (r % 5) {
    case 0:
        shmpeer_poke_u32(p, SEAM__RING_OFF_RWAIT, (uint32_t)(r >> 8));
        break;
    case 1:
        atomic_store((_Atomic uint32_t *)(void *)(p->in_mem + SEAM__RING_OFF_WWAIT),
                     (uint32_t)(r >> 8) & 1);
        break;
    case 2:
        for (int i = 0; i < 64; i++) {
            shmpeer_ring(p);
        }
        break;
    case 3: {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        rawpeer_send_with_fds(p->in_chan, "x", 1, &fd, 1);
        close(fd);
        break;
    }
    default:
        (void)!send(p->in_chan, "yy", 2, MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
    }
}

/* A message whose payload names none of the n descriptors it brings
 * through the ring: the server closes them all. */
static bool hostile_fd_batch(shmpeer *p, size_t n)
{
    int fds[16];
    for (size_t i = 0; i < n; i++) {
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    uint8_t frame[17];
    rawpeer_put_header(frame, 1, RAWPEER_MESSAGE, 0, (uint16_t)n, 0);
    frame[16] = 0xf6; /* null */
    bool ok = shmpeer_send_fds(p, frame, sizeof(frame), fds, n);
    for (size_t i = 0; i < n; i++) {
        close(fds[i]);
    }
    return ok;
}

/* Pings over its ring amid the noise (and batches of descriptors), each answered by a pong; then
 * the data zeroed (so that whatever header the server reads from now on breaks a rule: a zero
 * length, or descriptors that never come) and the indices scribbled on until the server hangs up.
 * Exit status: 0 when it did, else what went wrong first. */
static int hostile_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    signal(SIGPIPE, SIG_IGN);
    shmpeer p;
    if (!shmpeer_connect(&p, NAME, RING_BYTES)) {
        return 1;
    }
    /* The data doorbell's read end is one open file shared with the
     * server: made blocking here, it is blocking there too. */
    fcntl(p.out_bell_hold, F_SETFL, 0);
    uint64_t rng = 0x9e3779b97f4a7c15u;
    for (uint64_t id = 1; id <= PINGS; id++) {
        uint8_t ping[16];
        rawpeer_put_header(ping, 0, RAW_PING, 0, 0, id);
        hostile_noise(&p, &rng);
        if (id % 4 == 0 && !hostile_fd_batch(&p, 1 + (size_t)(rng_next(&rng) % 16))) {
            shmpeer_free(&p);
            return 5;
        }
        if (!shmpeer_send(&p, ping, sizeof(ping))) {
            shmpeer_free(&p);
            return 2; /* the server stopped reading */
        }
        shmpeer_ring(&p);
        uint8_t hdr[16];
        if (shmpeer_read_frame(&p, hdr, NULL, 0, SUPPORT_DEADLINE_MS) != 0 || hdr[4] != RAW_PONG ||
            rawpeer_get_id(hdr) != id) {
            shmpeer_free(&p);
            return 3;
        }
    }
    /* Every ping was read (its pong came): the data is the peer's no more. */
    memset(p.out_mem + SEAM__RING_HDR, 0, p.out_cap);
    int status = 4;
    for (int i = 0; i < SCRIBBLES; i++) {
        uint64_t r = rng_next(&rng);
        switch (r % 8) {
        case 0:
            shmpeer_poke_u64(&p, SEAM__RING_OFF_TAIL, rng_next(&rng));
            break;
        case 1: /* a little ahead: a header of zeros, or one written below */
            shmpeer_poke_u64(&p, SEAM__RING_OFF_TAIL, p.out.pos + 8 * ((r >> 8) % 64));
            break;
        case 2: {
            size_t at = SEAM__RING_HDR + (size_t)((p.out.pos + 8 * ((r >> 8) % 16)) % p.out_cap);
            uint64_t len = (r >> 16) % (2 * p.out_cap);
            uint64_t nfds = 1 + (r >> 40) % 200; /* none are ever sent */
            atomic_store((_Atomic uint64_t *)(void *)(p.out_mem + at), len | nfds << 32);
            break;
        }
        case 3: /* the server's own ring: its reader's head and descriptors */
            atomic_store((_Atomic uint64_t *)(void *)(p.in_mem + SEAM__RING_OFF_HEAD),
                         rng_next(&rng));
            break;
        case 4:
            atomic_store((_Atomic uint64_t *)(void *)(p.in_mem + SEAM__RING_OFF_FDSTAKEN),
                         rng_next(&rng));
            break;
        default:
            hostile_noise(&p, &rng);
            break;
        }
        shmpeer_ring(&p);
        if (i % 64 == 0 && hostile_hungup(&p)) {
            status = 0;
            break;
        }
    }
    if (status != 0 && hostile_hungup(&p)) {
        status = 0;
    }
    shmpeer_free(&p);
    return status;
}

/* ---- the server's descriptors ---- */

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

/* ---- the well-behaved client ---- */

static void quiet_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)ev;
    (void)userdata;
}

/* Calls that alternate small and large payloads, each answered intact:
 * exit status 0 when all were. */
static int caller_main(int chan, void *arg)
{
    (void)chan;
    (void)arg;
    seam_loop *loop = NULL;
    seam_conn *conn = NULL;
    seam_conn_config cfg = {.on_event = quiet_event};
    if (seam_poll_new(0, &loop) < 0 || seam_conn_connect(loop, NAME, &cfg, &conn) < 0) {
        return 1;
    }
    uint8_t *bytes = calloc(1, BIG_CALL);
    int status = bytes == NULL ? 2 : 0;
    for (int i = 0; i < CALLS && status == 0; i++) {
        size_t size = i % 3 == 2 ? BIG_CALL : 64;
        memset(bytes, i, size);
        seam_value *m = seam_value_new_dict();
        seam_dict_set_take(m, "b", seam_value_new_data(bytes, size));
        seam_value *reply = NULL;
        if (seam_conn_call_sync(conn, m, CALL_MS, &reply) != 0 || !seam_value_equal(reply, m)) {
            status = 10 + (i > 100 ? 100 : i);
        }
        seam_value_unref(reply);
        seam_value_unref(m);
    }
    free(bytes);
    seam_conn_close(conn);
    seam_loop_free(loop);
    return status;
}

typedef struct both {
    support_child *hostile;
    support_child *caller;
    int hostile_status;
    int caller_status;
    bool hostile_done;
    bool caller_done;
} both;

static bool both_exited(void *arg)
{
    both *b = arg;
    if (!b->hostile_done) {
        b->hostile_done = support_child_exited(b->hostile, &b->hostile_status);
    }
    if (!b->caller_done) {
        b->caller_done = support_child_exited(b->caller, &b->caller_status);
    }
    return b->hostile_done && b->caller_done;
}

static void test_a_peer_scribbling_on_its_rings_is_closed_alone_with_eproto(void **state)
{
    fixture *f = *state;
    if (support_children_are_threads()) {
        skip();
    }
    server_log log = {0};
    seam_server_config cfg = {.conn = {.on_event = server_event, .userdata = &log}};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    int before = open_fd_count();
    support_child hostile = {.chan = -1};
    support_child caller = {.chan = -1};
    support_fork(&hostile, hostile_main, NULL);
    support_fork(&caller, caller_main, NULL);
    both b = {&hostile, &caller, -1, -1, false, false};
    bool done = support_run_until(f->loop, both_exited, &b, 4 * SUPPORT_DEADLINE_MS);
    if (!done) {
        support_child_kill(&hostile);
        support_child_kill(&caller);
    }
    assert_true(done);
    assert_int_equal(b.hostile_status, 0);
    assert_int_equal(b.caller_status, 0);
    assert_int_equal(log.eproto, 1);
    assert_int_equal(log.other, 0);
    /* Nothing the hostile peer sent is left open. */
    assert_true(support_run_until(f->loop, fds_back_to, &before, SUPPORT_DEADLINE_MS));
    seam_server_close(srv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_peer_scribbling_on_its_rings_is_closed_alone_with_eproto, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
