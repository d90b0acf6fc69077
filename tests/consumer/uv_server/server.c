/* SPDX-License-Identifier: MIT */
/* server.c - serves NAME on a libuv loop: a request {"a": A, "b": B} is
 * answered with {"sum": A + B, "by": "uv"}; the request {"stop": true}
 * with {"stopping": true}, after which the service closes and the program
 * leaves with the loop left clean. */
#include <seam.h>
#include <seam/uv.h>

#include <stdio.h>

static seam_loop *loop;
static seam_server *server;
static int requests;

static void on_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    int64_t a = 0;
    int64_t b = 0;
    bool stop = false;
    if (ev->type == SEAM_EVENT_REQUEST && seam_dict_get_bool(ev->value, "stop", &stop) && stop) {
        seam_value *reply = seam_value_new_dict();
        seam_dict_set_bool(reply, "stopping", true);
        seam_request_reply(ev->request, reply);
        seam_value_unref(reply);
        /* The reply is written as the peers are closed. */
        seam_server_close(server);
        seam_loop_free(loop);
    } else if (ev->type == SEAM_EVENT_REQUEST) {
        if (!seam_dict_get_int64(ev->value, "a", &a) || !seam_dict_get_int64(ev->value, "b", &b)) {
            seam_request_reply_error(ev->request, SEAM_EINVAL, "want {\"a\": int, \"b\": int}",
                                     NULL);
            return;
        }
        seam_value *reply = seam_value_new_dict();
        seam_dict_set_int64(reply, "sum", a + b);
        seam_dict_set_string(reply, "by", "uv");
        seam_request_reply(ev->request, reply);
        seam_value_unref(reply);
        requests++;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: uv_server NAME\n");
        return 2;
    }
    uv_loop_t uv;
    uv_loop_init(&uv);
    seam_server_config cfg = {.conn.on_event = on_event};
    int r = seam_uv_attach(&uv, 0, &loop);
    if (r == 0) {
        r = seam_server_listen(loop, argv[1], &cfg, &server);
    }
    if (r < 0) {
        fprintf(stderr, "uv_server: %s\n", seam_strerror(r));
        return 1;
    }
    uv_run(&uv, UV_RUN_DEFAULT);
    r = uv_loop_close(&uv);
    printf("uv_server: %d requests, loop close %d\n", requests, r);
    return r == 0 && requests > 0 ? 0 : 1;
}
