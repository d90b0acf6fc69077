/* SPDX-License-Identifier: MIT */
/* endpoint_broker.c - an anonymous channel: two processes that share only
 * a broker connect to each other directly, and go on talking once the
 * broker has gone.
 *
 *   endpoint_broker broker com.example.broker  # keeps one endpoint for whoever asks
 *   endpoint_broker vend com.example.broker 2  # A: an anonymous server; its endpoint
 *                                              # goes to the broker; answers 2 calls
 *   endpoint_broker take com.example.broker 2  # C: takes the endpoint, calls A
 *                                              # directly, once before and once after
 *                                              # the broker is gone
 *
 * A's server has no name and no file: only a holder of its endpoint (a
 * descriptor carried in a message) can connect, and A's accept filter sees
 * the connecting process's own pid and uid, not the broker's. */
#include <seam.h>
#include <seam/poll.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int calls_left;

static const char *op_of(const seam_value *msg)
{
    const char *op = seam_value_get_string(seam_dict_get(msg, "op"), NULL);
    return op != NULL ? op : "";
}

/* The broker: "offer" {endpoint} keeps it, "take" hands it out. */
static int held = -1;

static void on_broker_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type != SEAM_EVENT_REQUEST) {
        return;
    }
    seam_value *reply = seam_value_new_dict();
    if (strcmp(op_of(ev->value), "offer") == 0) {
        if (held >= 0) {
            close(held);
        }
        held = seam_value_dup_fd(seam_dict_get(ev->value, "endpoint"));
        printf("broker: holding an endpoint\n");
    } else if (strcmp(op_of(ev->value), "take") == 0 && held >= 0) {
        seam_dict_set_take(reply, "endpoint", seam_value_new_fd(held));
        printf("broker: handed the endpoint on\n");
    }
    fflush(stdout);
    seam_request_reply(ev->request, reply);
    seam_value_unref(reply);
}

/* A: answers each call with its pid and a count. */
static bool on_vend_accept(const seam_peer *peer, void *userdata)
{
    (void)userdata;
    printf("A: pid %d (uid %u) connected through the endpoint\n", (int)peer->pid,
           (unsigned)peer->uid);
    fflush(stdout);
    return peer->uid == (uint32_t)geteuid();
}

static void on_vend_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        char *json = seam_value_to_json(ev->value, 0);
        printf("A: got %s\n", json);
        fflush(stdout);
        free(json);
        seam_value *reply = seam_value_new_dict();
        seam_dict_set_int64(reply, "a_pid", getpid());
        seam_dict_set_int64(reply, "left", --calls_left);
        seam_request_reply(ev->request, reply);
        seam_value_unref(reply);
    }
}

static int vend(seam_loop *loop, const char *broker)
{
    seam_server_config cfg = {.conn.on_event = on_vend_event, .accept_peer = on_vend_accept};
    seam_server *server = NULL;
    seam_conn *to_broker = NULL;
    int r = seam_endpoint_listen(loop, 0, &cfg, &server);
    if (r == 0) {
        r = seam_conn_connect(loop, broker, NULL, &to_broker);
    }
    if (r == 0) {
        seam_value *offer = seam_value_new_dict();
        seam_dict_set_string(offer, "op", "offer");
        seam_dict_set_take(offer, "endpoint", seam_value_new_fd(seam_endpoint_fd(server)));
        seam_value *reply = NULL;
        r = seam_conn_call_sync(to_broker, offer, 5000, &reply);
        seam_value_unref(offer);
        seam_value_unref(reply);
        seam_conn_close(to_broker);
    }
    if (r != 0) {
        fprintf(stderr, "vend: %s\n", seam_strerror(r));
        return 1;
    }
    printf("A: endpoint sent to the broker; serving %d calls\n", calls_left);
    fflush(stdout);
    while (calls_left > 0) {
        seam_poll_run_once(loop, -1);
    }
    seam_poll_run_once(loop, 100); /* the last reply goes out */
    seam_server_close(server);
    return 0;
}

static int call_a(seam_conn *a, const char *text)
{
    seam_value *msg = seam_value_new_dict();
    seam_dict_set_string(msg, "text", text);
    seam_value *reply = NULL;
    int r = seam_conn_call_sync(a, msg, 5000, &reply);
    seam_value_unref(msg);
    if (r == 0) {
        char *json = seam_value_to_json(reply, 0);
        printf("C: reply %s\n", json);
        fflush(stdout);
        free(json);
    }
    seam_value_unref(reply);
    return r;
}

static int take(seam_loop *loop, const char *broker, int n)
{
    seam_conn *to_broker = NULL;
    seam_conn *a = NULL;
    seam_value *reply = NULL;
    int r = seam_conn_connect(loop, broker, NULL, &to_broker);
    if (r == 0) {
        seam_value *ask = seam_value_new_dict();
        seam_dict_set_string(ask, "op", "take");
        r = seam_conn_call_sync(to_broker, ask, 5000, &reply);
        seam_value_unref(ask);
        seam_conn_close(to_broker);
    }
    if (r == 0) {
        r = seam_conn_connect_endpoint(loop, seam_value_get_fd(seam_dict_get(reply, "endpoint")),
                                       NULL, &a);
    }
    seam_value_unref(reply);
    for (int i = 0; r == 0 && i < n; i++) {
        if (i == 1) {
            /* The rest once the broker is gone: A and C need nobody. */
            for (int t = 0; t < 200 && seam_name_owned(broker) == 1; t++) {
                usleep(50000);
            }
            printf("C: broker %s\n", seam_name_owned(broker) == 1 ? "still there" : "gone");
        }
        r = call_a(a, i == 0 ? "hello A" : "still here");
    }
    seam_conn_close(a);
    if (r != 0) {
        fprintf(stderr, "take: %s\n", seam_strerror(r));
    }
    return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s broker|vend|take BROKER-NAME [CALLS]\n", argv[0]);
        return 2;
    }
    calls_left = argc > 3 ? atoi(argv[3]) : 2;
    seam_loop *loop = NULL;
    if (seam_poll_new(0, &loop) != 0) {
        return 1;
    }
    int status = 2;
    if (strcmp(argv[1], "broker") == 0) {
        seam_server_config cfg = {.conn.on_event = on_broker_event};
        seam_server *server = NULL;
        status = seam_server_listen(loop, argv[2], &cfg, &server) == 0 ? 0 : 1;
        while (status == 0) { /* until killed */
            seam_poll_run_once(loop, -1);
        }
    } else if (strcmp(argv[1], "vend") == 0) {
        status = vend(loop, argv[2]);
    } else if (strcmp(argv[1], "take") == 0) {
        status = take(loop, argv[2], calls_left);
    }
    seam_loop_free(loop);
    return status;
}
