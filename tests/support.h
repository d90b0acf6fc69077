/* SPDX-License-Identifier: MIT */
/* support.h - helpers for the cross-process runtime tests: a private
 * runtime directory per test, forked children (servers on a poll loop, raw
 * peers, clients) with a channel back to the parent, running a poll loop
 * until a condition holds or a deadline passes.
 *
 * Deadlines are bounds for a test that has gone wrong, never assertions. */
#ifndef SEAM_TEST_SUPPORT_H
#define SEAM_TEST_SUPPORT_H

#include "driver.h"

#include <seam.h>
#include <seam/poll.h>

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

/* How long a test waits for something that should happen at once. */
#define SUPPORT_DEADLINE_MS 30000

/* ---- the runtime directory ---- */

/* Makes a private directory and points SEAM_RUNTIME_DIR at it. */
void support_runtime_dir_create(char *dir, size_t len);
/* Removes the directory and all in it (sockets, lock files, the
 * directories and links a test made), and unsets SEAM_RUNTIME_DIR. */
void support_runtime_dir_remove(const char *dir);

/* ---- children ---- */

typedef struct support_child {
    pid_t pid;                     /* 0 once reaped */
    int chan;                      /* the parent's end of a socketpair to the child */
    struct support_thread *thread; /* a child that is a thread (below) */
} support_child;

/* From here on support_fork() starts children as threads of this process
 * instead of processes (for the in-process transport, whose peers are in
 * one process): each runs fn on a poll loop of its own as a forked child
 * would, and "killing" one asks it to stop (a server child stops, a
 * client child is waited for). Tests that need a second process (a
 * killed peer, another uid, a raw socket) skip themselves then. */
void support_children_as_threads(bool on);
bool support_children_are_threads(void);

/* Runs in the forked child; chan is the child's end of the channel. The
 * return value becomes the child's exit status. */
typedef int (*support_child_fn)(int chan, void *arg);

/* Forks a child running fn(chan, arg). The child dies with the parent and
 * starts with every inherited descriptor but stdio and chan closed, so it
 * holds no copy of the parent's sockets or locks. */
void support_fork(support_child *out, support_child_fn fn, void *arg);

/* Waits for the child to exit (killing it after timeout_ms) and returns
 * its exit status, or 128 + the signal that ended it. */
int support_child_wait(support_child *c, int timeout_ms);
/* Reaps the child without waiting: true and *status (as above) if it has
 * exited. */
bool support_child_exited(support_child *c, int *status);
/* SIGKILLs the child and reaps it. Safe on a child already reaped. */
void support_child_kill(support_child *c);

/* The uid and gid of nobody, which tests become to be another user. */
#define SUPPORT_NOBODY 65534

/* Drops every group and becomes nobody (needs root); true if the process
 * is nobody now. For forked children only. */
bool support_become_nobody(void);

/* An accept filter that admits every peer, whoever it runs as. */
bool support_accept_anyone(const seam_creds *creds, void *userdata);

/* Reads exactly len bytes from fd, waiting at most timeout_ms. */
bool support_read_full(int fd, void *buf, size_t len, int timeout_ms);
/* Writes all of buf to fd; false if it cannot. */
bool support_write_full(int fd, const void *buf, size_t len);

/* ---- servers in children ---- */

/* The loop of a server child, for handlers that need it. */
extern seam_loop *support_child_loop;

/* Forks a child that serves name on a poll loop with cfg until it gets
 * SIGTERM, and waits until it listens. Asserts that listening worked. */
void support_spawn_server(support_child *out, const char *name, const seam_server_config *cfg);

/* Asks a server child to stop (SIGTERM) and returns its exit status: 0
 * when it shut down cleanly. */
int support_server_stop(support_child *c);

/* ---- the host loop under test ----
 * The parent runs its loops on support_driver_under_test; forked children
 * always run plain poll() loops. */

/* Makes the host loop for one test (asserts it worked). */
void support_host_begin(void);
/* Binds a new seam loop to the current host loop (asserts it worked). */
seam_loop *support_loop_new(void);
/* Frees the host loop; asserts it was left as found. Free every seam
 * loop on it first. */
void support_host_end(void);
/* Begins a test that runs a seam loop in this process: a private runtime
 * directory (support_runtime_dir_create), the host loop and a seam loop on
 * it, which it returns. */
seam_loop *support_test_begin(char *dir, size_t len);
/* Ends what support_test_begin() began: frees loop (if not NULL), the host
 * loop and the runtime directory. */
void support_test_end(seam_loop *loop, const char *dir);
/* The driver in use in this process. */
const support_driver *support_driver_current(void);
/* One iteration of the host loop, waiting at most max_ms. */
int support_run_once(seam_loop *loop, int max_ms);

/* ---- running the parent's loop ---- */

typedef bool (*support_pred)(void *arg);

/* Runs loop until pred(arg) holds or timeout_ms passes; returns pred(arg).
 * Stops at once, without touching loop again, once *freed (may be NULL)
 * becomes true. */
bool support_run_until(seam_loop *loop, support_pred pred, void *arg, int timeout_ms);
bool support_run_until_freed(seam_loop *loop, support_pred pred, void *arg, const bool *freed,
                             int timeout_ms);

/* Runs loop until *counter reaches target (or timeout_ms passes). */
bool support_run_until_count(seam_loop *loop, const int *counter, int target, int timeout_ms);

/* Runs loop until fd has something to read (or timeout_ms passes);
 * returns whether it has: a child's report is read before the child is
 * reaped (which closes its channel). */
bool support_run_until_readable(seam_loop *loop, int fd, int timeout_ms);

/* Runs loop until the child exits (or timeout_ms passes, then kills it);
 * returns the exit status as support_child_wait(). */
int support_run_until_exit(seam_loop *loop, support_child *c, int timeout_ms);

/* Milliseconds on the monotonic clock. */
long long support_now_ms(void);

/* True when running under valgrind (seen from its preloaded library). */
bool support_under_valgrind(void);

/* SEAM_TEST_SCALE as a number (default 1.0; 0.05 under valgrind when the
 * variable is unset). */
double support_scale(void);

/* SEAM_TEST_FILTER=pattern (when set and not empty): CMocka runs only
 * the tests whose names match. Call before running the tests. */
void support_test_filter_from_env(void);

#endif /* SEAM_TEST_SUPPORT_H */
