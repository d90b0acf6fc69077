/* SPDX-License-Identifier: MIT */
/* attack_inproc_support.c - helpers of the in-process attack tests (see
 * attack_inproc_support.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "seam/poll.h"
#include "support.h"

#include "attack_inproc_support.h"
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[PATH_MAX];
static tserver *running[8]; /* started and not yet stopped */

int attack_setup(void **state)
{
    support_runtime_dir_create(dir, sizeof(dir));
    (void)state;
    return 0;
}

int attack_teardown(void **state)
{
    for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++) {
        if (running[i] != NULL) {
            tserver_stop(running[i], STOP_CLOSE); /* a failed test left it */
        }
    }
    support_runtime_dir_remove(dir);
    (void)state;
    return 0;
}

int scaled(int n)
{
    int s = (int)(n * support_scale());
    return s < 1 ? 1 : s;
}

int open_count(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++) {
        if (fcntl(fd, F_GETFD) >= 0) {
            n++;
        }
    }
    return n;
}

seam_loop *poll_loop(void)
{
    seam_loop *l = NULL;
    assert_int_equal(seam_poll_new(0, &l), 0);
    return l;
}

/* Runs loop a (and b alternately, if not NULL) until *counter >= target. */
bool run_until(seam_loop *a, seam_loop *b, const atomic_int *counter, int target)
{
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (atomic_load(counter) < target && support_now_ms() < deadline) {
        seam_poll_run_once(a, b != NULL ? 0 : 10);
        if (b != NULL) {
            seam_poll_run_once(b, 0);
        }
    }
    return atomic_load(counter) >= target;
}

/* ---- what each end counts ---- */

/* Answers the kept "slow" requests of conn: late, since conn sent a
 * request after them. */
static void answer_kept_of(counts *n, seam_conn *conn)
{
    int keep = 0;
    for (int i = 0; i < n->nkept; i++) {
        if (n->kept_conn[i] == conn) {
            seam_value *late = seam_value_new_string("late");
            seam_request_reply(n->kept[i], late);
            seam_value_unref(late);
        } else {
            n->kept[keep] = n->kept[i];
            n->kept_conn[keep] = n->kept_conn[i];
            n->kept_at[keep++] = n->kept_at[i];
        }
    }
    n->nkept = keep;
}

void count_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    counts *n = userdata;
    switch (ev->type) {
    case SEAM_EVENT_CONNECTED:
        atomic_fetch_add(&n->connected, 1);
        n->last_peer = conn;
        break;
    case SEAM_EVENT_MESSAGE:
        atomic_fetch_add(&n->messages, 1);
        break;
    case SEAM_EVENT_REQUEST:
        atomic_fetch_add(&n->requests, 1);
        if (ev->value != NULL && seam_dict_get(ev->value, "slow") != NULL && n->nkept < 64) {
            n->kept_at[n->nkept] = support_now_ms();
            n->kept_conn[n->nkept] = conn;
            n->kept[n->nkept++] = seam_request_keep(ev->request);
            break;
        }
        if (n->late_on_next) {
            answer_kept_of(n, conn);
        }
        if (ev->raw) {
            seam_request_reply_raw(ev->request, ev->raw_id, ev->raw_bytes, ev->raw_len);
        } else {
            seam_request_reply(ev->request, ev->value);
        }
        break;
    case SEAM_EVENT_WRITABLE:
        atomic_fetch_add(&n->writable, 1);
        break;
    case SEAM_EVENT_INTERRUPTED:
    case SEAM_EVENT_INVALID:
        if (conn == n->last_peer) {
            n->last_peer = NULL;
        }
        atomic_fetch_add(&n->ended, 1);
        atomic_store(&n->error, ev->error);
        break;
    }
}

/* Answers kept "slow" requests older than ms (all of them with ms < 0:
 * dropped). */
void answer_kept(counts *n, int ms)
{
    int keep = 0;
    for (int i = 0; i < n->nkept; i++) {
        if (ms < 0) {
            seam_request_drop(n->kept[i]);
        } else if (support_now_ms() - n->kept_at[i] >= ms) {
            seam_value *late = seam_value_new_string("late");
            seam_request_reply(n->kept[i], late);
            seam_value_unref(late);
        } else {
            n->kept[keep] = n->kept[i];
            n->kept_conn[keep] = n->kept_conn[i];
            n->kept_at[keep++] = n->kept_at[i];
        }
    }
    n->nkept = ms < 0 ? 0 : keep;
}

/* Counts a call's outcome once; a second completion is counted apart. */

void call_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    call *c = userdata;
    if (atomic_fetch_add(&c->done, 1) != 0) {
        atomic_fetch_add(&c->n->twice, 1);
    }
    c->status = r->status;
    atomic_fetch_add(&c->n->replies, 1);
    (void)conn;
}

seam_conn *connect_to(seam_loop *loop, const char *name, counts *n)
{
    seam_conn_config cfg = {.on_event = count_event, .userdata = n};
    seam_conn *c = NULL;
    assert_int_equal(seam_conn_connect(loop, name, &cfg, &c), 0);
    return c;
}

seam_server *listen_on(seam_loop *loop, const char *name, counts *n)
{
    seam_server_config cfg = {.conn.on_event = count_event, .conn.userdata = n};
    seam_server *s = NULL;
    assert_int_equal(seam_server_listen(loop, name, &cfg, &s), 0);
    return s;
}

/* ---- a server on a thread of its own ---- */

void *tserver_main(void *arg)
{
    tserver *t = arg;
    seam_server_config cfg = {.conn.on_event = count_event, .conn.userdata = &t->n};
    if (seam_poll_new(0, &t->loop) != 0 ||
        seam_server_listen(t->loop, NAME, &cfg, &t->server) != 0) {
        return NULL;
    }
    atomic_store(&t->ready, true);
    static const uint8_t chunk[4096];
    while (atomic_load(&t->stop) == STOP_NONE) {
        seam_poll_run_once(t->loop, t->flood ? 1 : 10);
        if (t->flood) {
            seam_server_broadcast_raw(t->server, 9, chunk, sizeof(chunk), NULL);
        }
        answer_kept(&t->n, t->slow_ms);
    }
    answer_kept(&t->n, -1);
    if (atomic_load(&t->stop) == STOP_CLOSE) {
        seam_server_close(t->server);
    }
    seam_loop_free(t->loop);
    return NULL;
}

void tserver_start(tserver *t)
{
    assert_int_equal(pthread_create(&t->tid, NULL, tserver_main, t), 0);
    for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++) {
        if (running[i] == NULL) {
            running[i] = t;
            break;
        }
    }
    long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
    while (!atomic_load(&t->ready) && support_now_ms() < deadline) {
        usleep(1000);
    }
    assert_true(atomic_load(&t->ready));
}

void tserver_stop(tserver *t, int how)
{
    for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++) {
        if (running[i] == t) {
            running[i] = NULL;
        }
    }
    atomic_store(&t->stop, how);
    assert_int_equal(pthread_join(t->tid, NULL), 0);
}

seam_value *fd_message(int fd)
{
    seam_value *m = seam_value_new_dict();
    seam_dict_set_take(m, "fd", seam_value_new_fd(fd));
    return m;
}
