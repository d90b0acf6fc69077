/* SPDX-License-Identifier: MIT */
/* attack_inproc_support.h - what the in-process attack tests share: loops
 * run until a count is reached, counting event and reply callbacks, a
 * server on a thread of its own. */
#ifndef SEAM_ATTACK_INPROC_SUPPORT_H
#define SEAM_ATTACK_INPROC_SUPPORT_H

#include "seam/poll.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define NAME     "inproc:t.attack"
#define NTHREADS 4

typedef struct counts {
    atomic_int connected;
    atomic_int messages;
    atomic_int requests;
    atomic_int writable;
    atomic_int ended;
    atomic_int error;
    atomic_int replies;   /* reply callbacks */
    atomic_int bad;       /* a reply callback with an unexpected status */
    atomic_int twice;     /* a call completed more than once */
    seam_conn *last_peer; /* the server's newest peer */
    seam_request *kept[64];
    seam_conn *kept_conn[64];
    long long kept_at[64];
    int nkept;
    bool late_on_next; /* a connection's next request answers its kept ones first */
} counts;

/* A call's outcome, counted once; a second completion is counted apart. */
typedef struct call {
    atomic_int done;
    int status;
    counts *n;
} call;

/* A server thread's state: static in the test that starts it, so that a
 * failed test, left by a jump, leaves it valid for attack_teardown, which
 * stops the servers still running. */
typedef struct tserver {
    seam_loop *loop;
    seam_server *server;
    atomic_int stop;
    atomic_bool ready;
    bool flood; /* broadcast 4 KiB to every peer each iteration */
    int slow_ms;
    counts n;
    pthread_t tid;
} tserver;

enum { STOP_NONE, STOP_CLOSE, STOP_FREE_ONLY };

int attack_setup(void **state);
int attack_teardown(void **state);
int scaled(int n);
int open_count(void);
seam_loop *poll_loop(void);
bool run_until(seam_loop *a, seam_loop *b, const atomic_int *counter, int target);
void count_event(seam_conn *conn, const seam_event *ev, void *userdata);
void answer_kept(counts *n, int ms);
void call_reply(seam_conn *conn, const seam_reply *r, void *userdata);
seam_conn *connect_to(seam_loop *loop, const char *name, counts *n);
seam_server *listen_on(seam_loop *loop, const char *name, counts *n);
void *tserver_main(void *arg);
void tserver_start(tserver *t);
void tserver_stop(tserver *t, int how);
seam_value *fd_message(int fd);

#define T(name) cmocka_unit_test_setup_teardown(name, attack_setup, attack_teardown)

#endif
