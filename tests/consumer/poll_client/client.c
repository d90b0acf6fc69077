/* SPDX-License-Identifier: MIT */
/* client.c - calls NAME once on a poll() loop: {"a": 2, "b": 40} must
 * come back as {"sum": 42}. */
#include <seam.h>
#include <seam/poll.h>

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: client NAME\n");
        return 2;
    }
    seam_loop *loop = NULL;
    seam_conn *conn = NULL;
    seam_value *reply = NULL;
    seam_value *msg = seam_value_new_dict();
    seam_dict_set_int64(msg, "a", 2);
    seam_dict_set_int64(msg, "b", 40);
    int r = seam_poll_new(0, &loop);
    if (r == 0) {
        r = seam_conn_connect(loop, argv[1], NULL, &conn);
    }
    if (r == 0) {
        r = seam_conn_call_sync(conn, msg, 5000, &reply);
    }
    seam_value_unref(msg);
    int64_t sum = 0;
    if (r == 0 && !seam_dict_get_int64(reply, "sum", &sum)) {
        r = SEAM_EPROTO;
    }
    if (r == 0) {
        printf("sum %lld by %s\n", (long long)sum, seam_dict_get_string(reply, "by"));
    } else {
        fprintf(stderr, "client: %s\n", seam_strerror(r));
    }
    seam_value_unref(reply);
    if (conn != NULL) {
        seam_conn_close(conn);
    }
    if (loop != NULL) {
        seam_loop_free(loop);
    }
    return r == 0 && sum == 42 ? 0 : 1;
}
