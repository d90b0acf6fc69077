/* SPDX-License-Identifier: MIT */
/* client.c - calls NAME from a libdispatch serial queue: {"a": 20,
 * "b": 22} must come back as {"sum": 42}; then the binding is freed and
 * its release awaited. */
#include <seam.h>
#include <seam/dispatch.h>

#include <stdio.h>

static seam_loop *loop;
static seam_conn *conn;
static const char *name;
static int result = SEAM_ETIMEDOUT;
static dispatch_semaphore_t done;

static void on_reply(seam_conn *c, const seam_reply *reply, void *userdata)
{
    int64_t sum = 0;
    result = reply->status;
    if (result == 0 && (!seam_dict_get_int64(reply->value, "sum", &sum) || sum != 42)) {
        result = SEAM_EPROTO;
    }
    dispatch_semaphore_signal(done);
}

static void start(void *arg)
{
    seam_value *msg = seam_value_new_dict();
    seam_dict_set_int64(msg, "a", 20);
    seam_dict_set_int64(msg, "b", 22);
    int r = seam_conn_connect(loop, name, NULL, &conn);
    if (r == 0) {
        r = seam_conn_call(conn, msg, 5000, on_reply, NULL, NULL);
    }
    seam_value_unref(msg);
    if (r < 0) {
        result = r;
        dispatch_semaphore_signal(done);
    }
}

static void freed(void *arg)
{
    dispatch_semaphore_signal(done);
}

static void stop(void *arg)
{
    seam_dispatch_on_freed(loop, freed, NULL);
    seam_conn_close(conn);
    seam_loop_free(loop);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: dispatch_client NAME\n");
        return 2;
    }
    name = argv[1];
    done = dispatch_semaphore_create(0);
    dispatch_queue_t q = dispatch_queue_create("consumer", DISPATCH_QUEUE_SERIAL);
    int r = seam_dispatch_attach(q, &loop);
    if (r < 0) {
        fprintf(stderr, "dispatch_client: %s\n", seam_strerror(r));
        return 1;
    }
    dispatch_async_f(q, NULL, start);
    dispatch_time_t limit = dispatch_time(DISPATCH_TIME_NOW, 10 * (int64_t)NSEC_PER_SEC);
    if (dispatch_semaphore_wait(done, limit) != 0) {
        fprintf(stderr, "dispatch_client: no reply\n");
        return 1;
    }
    dispatch_async_f(q, NULL, stop);
    if (dispatch_semaphore_wait(done, limit) != 0) {
        fprintf(stderr, "dispatch_client: binding never released\n");
        return 1;
    }
    printf("dispatch_client: %s\n", result == 0 ? "sum 42" : seam_strerror(result));
    return result == 0 ? 0 : 1;
}
