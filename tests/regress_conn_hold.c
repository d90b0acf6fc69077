/* SPDX-License-Identifier: MIT */
/* regress_conn_hold.c - what one peer can make this process hold: the
 * descriptors in a connection's send queue (config.max_queue_fds) - a peer
 * that sends requests whose answers carry descriptors and reads nothing,
 * sends of descriptors to a peer that reads nothing (without the bound
 * both filled the descriptor table: an echo server reached 19,999 of
 * 20,000 in half a second) - and a first frame announcing a hello far
 * over the 4096 bytes one may have (collected up to max_frame before it
 * was refused). The seam side runs in this process on the poll driver;
 * hostile peers write docs/protocol.md by hand. Deadlines only bound a
 * test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rawpeer.h"
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME        "t.fds"
#define FLOOD       3000 /* requests with a descriptor each */
#define DEFAULT_CAP 128  /* max_queue_fds when 0 */

typedef struct fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    support_child child;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->loop = support_test_begin(f->dir, sizeof(f->dir));
    f->child.chan = -1;
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
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

static int open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        n += e->d_name[0] >= '0' && e->d_name[0] <= '9';
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

/* ---- answers holding descriptors, never read ---- */

static void echo(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        seam_request_reply(ev->request, ev->value);
    }
}

/* {"f": fd 0}: a request whose echo carries the descriptor back. */
static const uint8_t fd_request[] = {0xa1, 0x61, 'f', 0xda, 0x73, 0x65, 0x61, 0x6d, 0x00};

/* Handshakes, then sends FLOOD requests with /dev/null attached, reading
 * nothing, until they are all sent or the server stops taking them for a
 * second; writes how many went, then waits to be killed. */
static int hoarder_main(int chan, void *arg)
{
    (void)arg;
    int fd = rawpeer_handshake(NAME);
    int dn = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || dn < 0) {
        return 1;
    }
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    int32_t sent = 0;
    long long quiet_since = support_now_ms();
    while (sent < FLOOD && support_now_ms() - quiet_since < 1000) {
        uint8_t frame[16 + sizeof(fd_request)];
        rawpeer_put_header(frame, sizeof(fd_request), RAWPEER_REQUEST, 0, 1, (uint64_t)sent + 1);
        memcpy(frame + 16, fd_request, sizeof(fd_request));
        if (rawpeer_send_with_fds(fd, frame, sizeof(frame), &dn, 1)) {
            sent++;
            quiet_since = support_now_ms();
        } else {
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, 10);
        }
    }
    if (!support_write_full(chan, &sent, sizeof(sent))) {
        return 1;
    }
    char end;
    support_read_full(chan, &end, 1, 10 * SUPPORT_DEADLINE_MS);
    return 0;
}

static int replies;

static void count_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    (void)userdata;
    replies += r->status == 0;
}

static void test_peer_leaving_answers_with_descriptors_unread_holds_a_bounded_number(void **state)
{
    fixture *f = *state;
    seam_server_config cfg = {.conn.on_event = echo};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    int before = open_fd_count();
    support_fork(&f->child, hoarder_main, NULL);
    assert_true(support_run_until_readable(f->loop, f->child.chan, 10 * SUPPORT_DEADLINE_MS));
    int32_t sent = 0;
    assert_true(support_read_full(f->child.chan, &sent, sizeof(sent), SUPPORT_DEADLINE_MS));
    for (int i = 0; i < 50; i++) {
        support_run_once(f->loop, 10); /* whatever it still takes */
    }
    int held = open_fd_count() - before;
    print_message("the peer sent %d requests with a descriptor; the server holds %d more\n",
                  (int)sent, held);
    /* At most the bound's worth of answers before reading pauses, what
     * one read brought meanwhile (descriptors unclaimed, up to 253), and
     * the connection's own (socket; with shared memory its rings'). */
    assert_true(held <= DEFAULT_CAP + 253 + 16);
    /* Everyone else is still served, with descriptors too. */
    seam_conn *other = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, NULL, &other), 0);
    int dn = open("/dev/null", O_RDONLY | O_CLOEXEC);
    seam_value *m = seam_value_new_dict();
    seam_dict_set_take(m, "f", seam_value_new_fd(dn));
    close(dn);
    replies = 0;
    assert_int_equal(seam_conn_call(other, m, SUPPORT_DEADLINE_MS, count_reply, NULL, NULL), 0);
    seam_value_unref(m);
    assert_true(support_run_until_count(f->loop, &replies, 1, SUPPORT_DEADLINE_MS));
    seam_conn_close(other);
    seam_server_close(srv);
}

/* ---- sends with descriptors to a peer that reads nothing ---- */

static int writable;

static void count_writable(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    writable += ev->type == SEAM_EVENT_WRITABLE;
}

static void test_sends_with_descriptors_stop_at_the_bound_with_eagain_then_writable(void **state)
{
    fixture *f = *state;
    int lfd = rawpeer_listen(NAME);
    assert_true(lfd >= 0);
    seam_conn_config cfg = {.on_event = count_writable, .max_queue_fds = 40};
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(f->loop, NAME, &cfg, &c), 0);
    int peer = accept(lfd, NULL, NULL);
    assert_true(peer >= 0);
    uint8_t hello[48];
    rawpeer_make_hello(hello, 16u << 20);
    assert_true(support_write_full(peer, hello, sizeof(hello)));
    int small = 4096;
    setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct pollfd p = {peer, POLLIN, 0};
    for (long long end = support_now_ms() + SUPPORT_DEADLINE_MS;
         poll(&p, 1, 0) == 0 && support_now_ms() < end;) {
        support_run_once(f->loop, 10); /* until our hello is written */
    }
    uint8_t hdr[16];
    assert_true(rawpeer_read_frame(peer, hdr, NULL, 0, SUPPORT_DEADLINE_MS) >= 0); /* its hello */
    int before = open_fd_count();
    int dn = open("/dev/null", O_RDONLY | O_CLOEXEC);
    seam_value *m = seam_value_new_dict();
    seam_dict_set_take(m, "f", seam_value_new_fd(dn));
    close(dn);
    int r = 0;
    int sends = 0;
    while (r == 0 && sends < 100000) {
        r = seam_conn_send(c, m);
        sends += r == 0;
        support_run_once(f->loop, 0);
    }
    seam_value_unref(m);
    int held = open_fd_count() - before;
    print_message("%d sends went before %s; the queue holds %d descriptors\n", sends,
                  seam_errname(r), held);
    assert_int_equal(r, SEAM_EAGAIN); /* not EMFILE once the table is full */
    assert_true(held <= 40);
    /* The peer reads it all: the queue drains and says so. */
    fcntl(peer, F_SETFL, O_NONBLOCK);
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (writable == 0 && support_now_ms() < deadline) {
        uint8_t buf[65536];
        char ctl[CMSG_SPACE(64 * sizeof(int))];
        struct iovec iov = {buf, sizeof(buf)};
        struct msghdr msg = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
        if (recvmsg(peer, &msg, MSG_CMSG_CLOEXEC) > 0) {
            for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h != NULL; h = CMSG_NXTHDR(&msg, h)) {
                int *fds = (int *)CMSG_DATA(h);
                for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                    close(fds[i]);
                }
            }
        }
        support_run_once(f->loop, 1);
    }
    assert_true(writable > 0);
    seam_conn_close(c);
    close(peer);
    close(lfd);
}

/* ---- descriptors this process has no room for ---- */

/* A server whose descriptor limit leaves room for a few more once its
 * peer is connected; says when it is listening, serves until killed. */
static int cramped_server_main(int chan, void *arg)
{
    (void)arg;
    seam_loop *loop = NULL;
    seam_server *srv = NULL;
    seam_server_config cfg = {.conn.on_event = echo};
    if (seam_poll_new(0, &loop) < 0 || seam_server_listen(loop, NAME, &cfg, &srv) < 0) {
        return 1;
    }
    int highest = 0;
    for (int fd = 0; fd < 1024; fd++) {
        highest = fcntl(fd, F_GETFD) >= 0 ? fd : highest;
    }
    /* The peer's socket and a few more; the frame's 32 cannot all come. */
    struct rlimit lim = {(rlim_t)highest + 8, (rlim_t)highest + 8};
    if (setrlimit(RLIMIT_NOFILE, &lim) < 0 || !support_write_full(chan, "l", 1)) {
        return 1;
    }
    for (;;) {
        seam_poll_run_once(loop, 100);
    }
}

static void test_descriptors_we_have_no_room_for_end_the_connection_with_emfile(void **state)
{
    fixture *f = *state;
    support_fork(&f->child, cramped_server_main, NULL);
    char listening = 0;
    assert_true(support_read_full(f->child.chan, &listening, 1, SUPPORT_DEADLINE_MS));
    int fd = rawpeer_handshake(NAME);
    assert_true(fd >= 0);
    int fds[32];
    for (size_t i = 0; i < 32; i++) {
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    uint8_t frame[16 + sizeof(fd_request)];
    rawpeer_put_header(frame, sizeof(fd_request), RAWPEER_REQUEST, 0, 32, 1);
    memcpy(frame + 16, fd_request, sizeof(fd_request));
    assert_true(rawpeer_send_with_fds(fd, frame, sizeof(frame), fds, 32));
    /* Its own shortage, said as such: not a violation of ours. */
    assert_int_equal(rawpeer_goodbye_code(fd, SUPPORT_DEADLINE_MS), -EMFILE);
    for (size_t i = 0; i < 32; i++) {
        close(fds[i]);
    }
    close(fd);
}

/* ---- a write the kernel refuses, the peer still there ---- */

typedef struct refused_log {
    int connected;
    int ended;
    int error;
} refused_log;

static void refused_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    refused_log *l = userdata;
    if (ev->type == SEAM_EVENT_CONNECTED) {
        l->connected++;
    } else if (ev->type == SEAM_EVENT_INTERRUPTED || ev->type == SEAM_EVENT_INVALID) {
        l->ended++;
        l->error = ev->error;
    }
}

/* As an unprivileged user whose descriptor limit is 64, sends messages
 * with a descriptor each to a peer that reads nothing: once more than 64
 * are in flight the kernel refuses the write (ETOOMANYREFS) while the
 * peer is still there. Exit 0: the connection ended with that error; 2:
 * it stayed open with the messages lost; others: could not set up. */
static int refused_main(int chan, void *arg)
{
    (void)chan;
    const char *dir = arg;
    char sock[PATH_MAX + 16];
    snprintf(sock, sizeof(sock), "%s/refused/s.sock", dir);
    char name[PATH_MAX + 32];
    snprintf(name, sizeof(name), "unix:%s", sock);
    int lfd = rawpeer_listen(name);
    struct rlimit lim = {64, 64};
    if (lfd < 0 || chmod(sock, 0777) < 0 || setgid(65534) < 0 || setuid(65534) < 0 ||
        setrlimit(RLIMIT_NOFILE, &lim) < 0) {
        return 3;
    }
    seam_loop *loop = NULL;
    seam_conn *c = NULL;
    refused_log log = {0};
    seam_conn_config cfg = {.on_event = refused_event, .userdata = &log, .max_queue_fds = 1000};
    int r = seam_poll_new(0, &loop);
    if (r == 0) {
        r = seam_conn_connect(loop, name, &cfg, &c);
    }
    if (r < 0) {
        fprintf(stderr, "refused: %s\n", seam_errname(r));
        return 4;
    }
    int peer = accept(lfd, NULL, NULL);
    uint8_t hello[48];
    rawpeer_make_hello(hello, 16u << 20);
    if (peer < 0 || !support_write_full(peer, hello, sizeof(hello))) {
        return 5;
    }
    for (int i = 0; i < 200 && log.connected == 0; i++) {
        seam_poll_run_once(loop, 10);
    }
    int dn = open("/dev/null", O_RDONLY | O_CLOEXEC);
    seam_value *m = seam_value_new_dict();
    seam_dict_set_take(m, "f", seam_value_new_fd(dn));
    close(dn);
    for (int i = 0; i < 100 && log.ended == 0; i++) {
        seam_conn_send(c, m);
        seam_poll_run_once(loop, 1);
    }
    for (int i = 0; i < 100 && log.ended == 0; i++) {
        seam_poll_run_once(loop, 10);
    }
    seam_value_unref(m);
    return log.ended == 1 && log.error == -ETOOMANYREFS ? 0 : 2;
}

static void test_a_write_the_kernel_refuses_ends_the_connection(void **state)
{
    fixture *f = *state;
    if (geteuid() != 0) {
        skip(); /* it needs a user without the rights that lift the limit */
    }
    char sub[PATH_MAX + 16];
    snprintf(sub, sizeof(sub), "%s/refused", f->dir);
    assert_int_equal(mkdir(sub, 0777), 0);
    assert_int_equal(chmod(sub, 0777), 0);
    assert_int_equal(chmod(f->dir, 0755), 0);
    support_fork(&f->child, refused_main, f->dir);
    int status = support_child_wait(&f->child, SUPPORT_DEADLINE_MS);
    char sock[PATH_MAX + 32];
    snprintf(sock, sizeof(sock), "%s/s.sock", sub);
    unlink(sock);
    rmdir(sub);
    assert_int_equal(status, 0);
}

/* ---- a hello far too large ---- */

static void test_first_frame_over_the_hello_bound_is_refused_at_its_header(void **state)
{
    fixture *f = *state;
    seam_server_config cfg = {.conn.on_event = echo, .conn.handshake_timeout_ms = 600000};
    seam_server *srv = NULL;
    assert_int_equal(seam_server_listen(f->loop, NAME, &cfg, &srv), 0);
    int fd = rawpeer_connect(NAME);
    assert_true(fd >= 0);
    /* A hello of 16 MiB - 16 announced, 8 KiB of it sent: nothing in it
     * could be a hello, and nothing of it is kept. */
    static uint8_t frame[16 + 8192];
    rawpeer_put_header(frame, (16u << 20) - 16, RAWPEER_HELLO, 0, 0, 0);
    assert_true(support_write_full(fd, frame, sizeof(frame)));
    int code = 0;
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    struct pollfd p = {fd, POLLIN, 0};
    while (code == 0 && support_now_ms() < deadline) {
        support_run_once(f->loop, 10);
        if (poll(&p, 1, 0) <= 0) {
            continue;
        }
        uint8_t hdr[16];
        uint8_t buf[256];
        long n = rawpeer_read_frame(fd, hdr, buf, sizeof(buf), SUPPORT_DEADLINE_MS);
        if (n < 0) {
            break; /* closed without a goodbye */
        }
        if (hdr[4] == RAWPEER_BYE) {
            code = rawpeer_payload_code(buf, (size_t)n);
        }
    }
    assert_int_equal(code, SEAM_EHANDSHAKE);
    close(fd);
    seam_server_close(srv);
}

int main(void)
{
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_peer_leaving_answers_with_descriptors_unread_holds_a_bounded_number, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sends_with_descriptors_stop_at_the_bound_with_eagain_then_writable, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_descriptors_we_have_no_room_for_end_the_connection_with_emfile, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_first_frame_over_the_hello_bound_is_refused_at_its_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_write_the_kernel_refuses_ends_the_connection, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
