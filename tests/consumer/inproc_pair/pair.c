/* SPDX-License-Identifier: MIT */
/* pair.c - the in-process transport from an installed seam: a server on
 * "inproc:consumer.pair" answers {"a": x, "b": y} with their sum, called
 * once from a client on the server's own loop and once from a client on
 * a loop of another thread. Prints "inproc sum 42, 42". */
#include <seam.h>
#include <seam/poll.h>

#include <pthread.h>
#include <stdio.h>

#define NAME "inproc:consumer.pair"

static void on_request(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        int64_t a = 0, b = 0;
        seam_dict_get_int64(ev->value, "a", &a);
        seam_dict_get_int64(ev->value, "b", &b);
        seam_value *r = seam_value_new_dict();
        seam_dict_set_int64(r, "sum", a + b);
        seam_request_reply(ev->request, r);
        seam_value_unref(r);
    }
}

typedef struct call {
    int done;
    int64_t sum;
} call;

static void on_reply(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    call *c = userdata;
    c->done = r->status == 0 ? 1 : -1;
    if (r->status == 0) {
        seam_dict_get_int64(r->value, "sum", &c->sum);
    }
}

static int64_t call_sum(seam_loop *loop)
{
    seam_conn *conn = NULL;
    call c = {0, 0};
    seam_value *m = seam_value_new_dict();
    seam_dict_set_int64(m, "a", 40);
    seam_dict_set_int64(m, "b", 2);
    if (seam_conn_connect(loop, NAME, NULL, &conn) != 0 ||
        seam_conn_call(conn, m, 5000, on_reply, &c, NULL) != 0) {
        return -1;
    }
    seam_value_unref(m);
    for (int i = 0; i < 1000 && c.done == 0; i++) {
        seam_poll_run_once(loop, 10);
    }
    seam_conn_close(conn);
    return c.done == 1 ? c.sum : -1;
}

static seam_loop *server_loop;
static volatile int stop;

static void *serve(void *arg)
{
    (void)arg;
    while (!stop) {
        seam_poll_run_once(server_loop, 10);
    }
    return NULL;
}

int main(void)
{
    seam_server_config cfg = {.conn.on_event = on_request};
    seam_server *server = NULL;
    if (seam_poll_new(0, &server_loop) != 0 ||
        seam_server_listen(server_loop, NAME, &cfg, &server) != 0) {
        fprintf(stderr, "pair: cannot listen on %s\n", NAME);
        return 1;
    }
    int64_t one = call_sum(server_loop); /* both ends on one loop */
    pthread_t t;
    pthread_create(&t, NULL, serve, NULL);
    seam_loop *client_loop = NULL;
    int64_t two = seam_poll_new(0, &client_loop) == 0 ? call_sum(client_loop) : -1;
    stop = 1;
    pthread_join(t, NULL);
    seam_loop_free(client_loop);
    seam_server_close(server);
    seam_loop_free(server_loop);
    printf("inproc sum %lld, %lld\n", (long long)one, (long long)two);
    return one == 42 && two == 42 ? 0 : 1;
}
