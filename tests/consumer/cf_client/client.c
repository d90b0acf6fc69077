/* SPDX-License-Identifier: MIT */
/* client.c - calls NAME from the main thread's CFRunLoop: {"a": 40,
 * "b": 2} must come back as {"sum": 42}. */
#include <seam.h>
#include <seam/cfrunloop.h>

#include <stdio.h>

static int result = SEAM_ETIMEDOUT;

static void on_reply(seam_conn *c, const seam_reply *reply, void *userdata)
{
    int64_t sum = 0;
    result = reply->status;
    if (result == 0 && (!seam_dict_get_int64(reply->value, "sum", &sum) || sum != 42)) {
        result = SEAM_EPROTO;
    }
    CFRunLoopStop(CFRunLoopGetCurrent());
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: cf_client NAME\n");
        return 2;
    }
    seam_loop *loop = NULL;
    seam_conn *conn = NULL;
    seam_value *msg = seam_value_new_dict();
    seam_dict_set_int64(msg, "a", 40);
    seam_dict_set_int64(msg, "b", 2);
    int r = seam_cfrunloop_attach(CFRunLoopGetCurrent(), NULL, &loop);
    if (r == 0) {
        r = seam_conn_connect(loop, argv[1], NULL, &conn);
    }
    if (r == 0) {
        r = seam_conn_call(conn, msg, 5000, on_reply, NULL, NULL);
    }
    seam_value_unref(msg);
    if (r == 0) {
        CFRunLoopRunInMode(kCFRunLoopDefaultMode, 10, false);
        r = result;
    }
    if (conn != NULL) {
        seam_conn_close(conn);
    }
    if (loop != NULL) {
        seam_loop_free(loop);
    }
    printf("cf_client: %s\n", r == 0 ? "sum 42" : seam_strerror(r));
    return r == 0 ? 0 : 1;
}
