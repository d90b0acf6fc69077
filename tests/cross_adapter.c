/* SPDX-License-Identifier: MIT */
/* cross_adapter.c - seam between different host loops in different
 * processes: a client on one adapter calls a server on another and checks
 * every reply, over real sockets, with each side on its real loop
 * (dispatch_main(), a CFRunLoop, uv_run()). The test process itself never
 * starts libdispatch or CoreFoundation: every side runs in a fresh child. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support.h"

#include <seam/cfrunloop.h>
#include <seam/dispatch.h>
#ifdef SEAM_CROSS_UV
#include <seam/uv.h>
#endif

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME      "com.example.cross"
#define CALLS     40
#define CALL_MS   10000
#define BIG_BYTES (256 * 1024) /* more than a socket takes at once */

/* ---- both sides ---- */

static void echo_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    if (ev->type == SEAM_EVENT_REQUEST) {
        seam_request_reply(ev->request, ev->value);
    }
}

static const seam_server_config echo_config = {.conn.on_event = echo_event};

/* Every fourth request is large, so both sides go through backpressure
 * (write interest) as well as the plain path. */
static seam_value *request(const char *from, int i)
{
    size_t len = i % 4 == 3 ? BIG_BYTES : 16;
    uint8_t *bytes = malloc(len);
    seam_value *m = seam_value_new_dict();
    if (bytes == NULL || m == NULL) {
        free(bytes);
        seam_value_unref(m);
        return NULL;
    }
    memset(bytes, 'a' + i % 26, len);
    seam_dict_set_string(m, "from", from);
    seam_dict_set_int64(m, "i", i);
    seam_dict_set_data(m, "pad", bytes, len);
    free(bytes);
    return m;
}

typedef struct client {
    const char *name;
    seam_loop *loop;
    seam_conn *conn;
    seam_value *sent;
    int next;
    int status; /* 0 while all is well, else why the client failed */
    bool done;  /* every call ended (or one failed) and the loop was freed */
    bool freed; /* the adapter let go of everything */
} client;

static void client_call(client *c);

static void client_finish(client *c, int status)
{
    c->status = status;
    seam_value_unref(c->sent);
    c->sent = NULL;
    seam_conn_close(c->conn);
    seam_loop_free(c->loop); /* inside a callback: completes when it returns */
    c->done = true;
}

static void on_reply(seam_conn *conn, const seam_reply *reply, void *userdata)
{
    client *c = userdata;
    if (reply->status != 0) {
        client_finish(c, 10);
    } else if (!seam_value_equal(reply->value, c->sent)) {
        client_finish(c, 11);
    } else if (++c->next == CALLS) {
        client_finish(c, 0);
    } else {
        client_call(c);
    }
}

static void client_call(client *c)
{
    seam_value_unref(c->sent);
    c->sent = request(c->name, c->next);
    if (c->sent == NULL || seam_conn_call(c->conn, c->sent, CALL_MS, on_reply, c, NULL) != 0) {
        client_finish(c, 12);
    }
}

/* Connects and makes the first call; the rest follow from the replies. */
static int client_start(client *c, seam_loop *loop, const char *name)
{
    c->name = name;
    c->loop = loop;
    int r = seam_conn_connect(loop, NAME, NULL, &c->conn);
    if (r < 0) {
        return r;
    }
    client_call(c);
    return 0;
}

static void mark_freed(void *arg)
{
    *(bool *)arg = true;
}

static bool chan_readable(int chan)
{
    struct pollfd p = {chan, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

static void report_ready(int chan, int r)
{
    support_write_full(chan, &r, sizeof(r));
}

/* ---- libdispatch: the main queue under dispatch_main() ---- */

static client dclient;
static seam_server *dserver;
static seam_loop *dserver_loop;
static dispatch_source_t dserver_quit;
static dispatch_queue_t dserver_queue;

static void dispatch_exit_when_freed(void *arg)
{
    int *status = arg;
    fflush(stdout);
    _exit(*status);
}

static void dispatch_timeout(void *arg)
{
    _exit(20);
}

static int dispatch_client_main(int chan, void *arg)
{
    seam_loop *loop = NULL;
    if (seam_dispatch_attach(dispatch_get_main_queue(), &loop) != 0) {
        return 2;
    }
    seam_dispatch_on_freed(loop, dispatch_exit_when_freed, &dclient.status);
    if (client_start(&dclient, loop, "dispatch") != 0) {
        return 3;
    }
    dispatch_after_f(dispatch_time(DISPATCH_TIME_NOW, 2LL * CALL_MS * 1000000),
                     dispatch_get_main_queue(), NULL, dispatch_timeout);
    dispatch_main();
}

static void dispatch_server_quit(void *arg)
{
    /* Level-triggered like seam's own: fires until cancelled. */
    dispatch_source_cancel(dserver_quit);
    dispatch_release(dserver_quit);
    seam_server_close(dserver);
    seam_loop_free(dserver_loop);
}

static void dispatch_server_freed(void *arg)
{
    _exit(0);
}

/* Runs on the server's queue: everything seam is called from there. */
static void dispatch_server_setup(void *arg)
{
    int chan = *(int *)arg;
    dispatch_queue_t queue = dserver_queue;
    int r = seam_dispatch_attach(queue, &dserver_loop);
    if (r == 0) {
        seam_dispatch_on_freed(dserver_loop, dispatch_server_freed, NULL);
        r = seam_server_listen(dserver_loop, NAME, &echo_config, &dserver);
    }
    report_ready(chan, r);
    if (r != 0) {
        _exit(2);
    }
    /* The parent says "quit" on the channel: a dispatch read source, too. */
    dserver_quit = dispatch_source_create(DISPATCH_SOURCE_TYPE_READ, (uintptr_t)chan, 0, queue);
    dispatch_source_set_event_handler_f(dserver_quit, dispatch_server_quit);
    dispatch_resume(dserver_quit);
}

static int dserver_chan;

static int dispatch_server_main(int chan, void *arg)
{
    dserver_chan = chan;
    dserver_queue = dispatch_get_main_queue();
    dispatch_async_f(dserver_queue, &dserver_chan, dispatch_server_setup);
    dispatch_main();
}

/* The same on a serial queue of its own, served by libdispatch's worker
 * threads while the main thread sits in dispatch_main(). */
static int dispatch_private_server_main(int chan, void *arg)
{
    dserver_chan = chan;
    dserver_queue = dispatch_queue_create("com.example.cross.server", DISPATCH_QUEUE_SERIAL);
    dispatch_async_f(dserver_queue, &dserver_chan, dispatch_server_setup);
    dispatch_main();
}

/* ---- CoreFoundation: the main run loop ---- */

static int cf_client_main(int chan, void *arg)
{
    client c = {0};
    seam_loop *loop = NULL;
    if (seam_cfrunloop_attach(CFRunLoopGetMain(), NULL, &loop) != 0) {
        return 2;
    }
    seam_cfrunloop_on_freed(loop, mark_freed, &c.freed);
    if (client_start(&c, loop, "cf") != 0) {
        return 3;
    }
    long long deadline = support_now_ms() + 2 * CALL_MS;
    while (!c.done && support_now_ms() < deadline) {
        CFRunLoopRunInMode(kCFRunLoopDefaultMode, 0.1, true);
    }
    if (!c.done) {
        return 20;
    }
    return c.status != 0 ? c.status : c.freed ? 0 : 21;
}

static int cf_server_main(int chan, void *arg)
{
    seam_loop *loop = NULL;
    seam_server *server = NULL;
    bool freed = false;
    int r = seam_cfrunloop_attach(CFRunLoopGetMain(), NULL, &loop);
    if (r == 0) {
        seam_cfrunloop_on_freed(loop, mark_freed, &freed);
        r = seam_server_listen(loop, NAME, &echo_config, &server);
    }
    report_ready(chan, r);
    if (r != 0) {
        return 2;
    }
    while (!chan_readable(chan)) {
        CFRunLoopRunInMode(kCFRunLoopDefaultMode, 0.05, true);
    }
    seam_server_close(server);
    seam_loop_free(loop);
    return freed ? 0 : 21;
}

/* ---- libuv ---- */

#ifdef SEAM_CROSS_UV
static int uv_client_main(int chan, void *arg)
{
    client c = {0};
    uv_loop_t uv;
    seam_loop *loop = NULL;
    if (uv_loop_init(&uv) != 0 || seam_uv_attach(&uv, 0, &loop) != 0) {
        return 2;
    }
    if (client_start(&c, loop, "uv") != 0) {
        return 3;
    }
    /* Returns once the client is done and seam's handles are closed. */
    uv_run(&uv, UV_RUN_DEFAULT);
    if (!c.done) {
        return 20;
    }
    return c.status != 0 ? c.status : uv_loop_close(&uv) == 0 ? 0 : 21;
}

typedef struct uv_server {
    seam_loop *loop;
    seam_server *server;
    uv_poll_t quit;
} uv_server;

static void uv_quit_closed(uv_handle_t *h)
{
}

static void uv_server_quit(uv_poll_t *p, int status, int events)
{
    uv_server *s = p->data;
    seam_server_close(s->server);
    seam_loop_free(s->loop);
    uv_close((uv_handle_t *)p, uv_quit_closed);
}

static int uv_server_main(int chan, void *arg)
{
    uv_server s = {0};
    uv_loop_t uv;
    int r = uv_loop_init(&uv) != 0 ? SEAM_ENOMEM : seam_uv_attach(&uv, 0, &s.loop);
    if (r == 0) {
        r = seam_server_listen(s.loop, NAME, &echo_config, &s.server);
    }
    if (r == 0) {
        r = uv_poll_init(&uv, &s.quit, chan) == 0 ? 0 : SEAM_ENOMEM;
    }
    report_ready(chan, r);
    if (r != 0) {
        return 2;
    }
    s.quit.data = &s;
    uv_poll_start(&s.quit, UV_READABLE, uv_server_quit);
    uv_run(&uv, UV_RUN_DEFAULT);
    return uv_loop_close(&uv) == 0 ? 0 : 21;
}
#endif

/* ---- the parent ---- */

static void run_pair(support_child_fn server_main, support_child_fn client_main)
{
    char dir[PATH_MAX];
    support_runtime_dir_create(dir, sizeof(dir));
    support_child server, peer;
    support_fork(&server, server_main, NULL);
    int r = -1;
    assert_true(support_read_full(server.chan, &r, sizeof(r), SUPPORT_DEADLINE_MS));
    assert_int_equal(r, 0);
    support_fork(&peer, client_main, NULL);
    assert_int_equal(support_child_wait(&peer, SUPPORT_DEADLINE_MS), 0);
    assert_true(support_write_full(server.chan, "q", 1));
    assert_int_equal(support_child_wait(&server, SUPPORT_DEADLINE_MS), 0);
    support_runtime_dir_remove(dir);
}

static void test_dispatch_client_gets_every_reply_from_cf_server(void **state)
{
    run_pair(cf_server_main, dispatch_client_main);
}

static void test_cf_client_gets_every_reply_from_dispatch_server(void **state)
{
    run_pair(dispatch_server_main, cf_client_main);
}

static void test_cf_client_gets_every_reply_from_dispatch_server_on_private_queue(void **state)
{
    run_pair(dispatch_private_server_main, cf_client_main);
}

#ifdef SEAM_CROSS_UV
static void test_uv_client_gets_every_reply_from_cf_server(void **state)
{
    run_pair(cf_server_main, uv_client_main);
}

static void test_cf_client_gets_every_reply_from_uv_server(void **state)
{
    run_pair(uv_server_main, cf_client_main);
}
#endif

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_client_gets_every_reply_from_cf_server),
        cmocka_unit_test(test_cf_client_gets_every_reply_from_dispatch_server),
        cmocka_unit_test(test_cf_client_gets_every_reply_from_dispatch_server_on_private_queue),
#ifdef SEAM_CROSS_UV
        cmocka_unit_test(test_uv_client_gets_every_reply_from_cf_server),
        cmocka_unit_test(test_cf_client_gets_every_reply_from_uv_server),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
