/* SPDX-License-Identifier: MIT */
/* regress_tool_echo.c - `seam listen --echo` against a seam client: raw
 * bytes that came in a sealed memfd go back in that memfd, so they reach a
 * client whose max_frame they exceed (they were answered with an error,
 * "reply could not be sent", since the echo copied them into a RAW frame).
 * Deadlines only bound a test gone wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NAME "t.echo"
#define SIZE (256u << 10)

typedef struct fixture {
    char dir[PATH_MAX];
    seam_loop *loop;
    pid_t tool;
} fixture;

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
    if (f->tool > 0) {
        kill(f->tool, SIGTERM);
        waitpid(f->tool, NULL, 0);
    }
    support_test_end(f->loop, f->dir);
    free(f);
    return 0;
}

typedef struct answer {
    int done;
    int status;
    bool in_memfd;
    bool same;
} answer;

static uint8_t expected[SIZE];

static void on_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    answer *a = userdata;
    a->status = r->status;
    a->in_memfd = r->raw_memfd != NULL;
    a->same = r->raw && r->raw_len == SIZE && memcmp(r->raw_bytes, expected, SIZE) == 0;
    a->done++;
}

static int connected;

static void on_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    connected += ev->type == SEAM_EVENT_CONNECTED;
}

/* Starts the tool and connects to it (it may take a moment to listen). */
static seam_conn *start_echo(fixture *f, const seam_conn_config *cfg)
{
    f->tool = fork();
    if (f->tool == 0) {
        execl(SEAM_TOOL_PATH, "seam", "listen", NAME, "--echo", "--quiet", (char *)NULL);
        _exit(127);
    }
    assert_true(f->tool > 0);
    seam_conn *c = NULL;
    for (int i = 0; i < 500; i++) {
        char path[PATH_MAX + 16];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s.sock", f->dir, NAME);
        if (stat(path, &st) == 0) {
            break;
        }
        usleep(10000);
    }
    assert_int_equal(seam_conn_connect(f->loop, NAME, cfg, &c), 0);
    assert_true(support_run_until_count(f->loop, &connected, 1, SUPPORT_DEADLINE_MS));
    return c;
}

static void test_echo_sends_raw_bytes_that_came_in_a_memfd_back_in_it(void **state)
{
    fixture *f = *state;
    /* A client taking memfds from 4096 bytes, frames of 4096 at most. */
    seam_conn_config cfg = {.on_event = on_event, .max_frame = 4096, .memfd_min = 4096};
    seam_conn *c = start_echo(f, &cfg);
    for (size_t i = 0; i < SIZE; i++) {
        expected[i] = (uint8_t)(i * 7 + 3);
    }
    int fd = memfd_create("echo", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    assert_true(support_write_full(fd, expected, SIZE));
    answer a = {0};
    assert_int_equal(
        seam_conn_call_raw_memfd(c, 7, fd, SIZE, SUPPORT_DEADLINE_MS, on_reply, &a, NULL), 0);
    assert_true(support_run_until_count(f->loop, &a.done, 1, SUPPORT_DEADLINE_MS));
    assert_int_equal(a.status, 0);
    assert_true(a.in_memfd);
    assert_true(a.same);
    seam_conn_close(c);
}

int main(void)
{
    support_test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo_sends_raw_bytes_that_came_in_a_memfd_back_in_it,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
