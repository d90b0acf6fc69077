/* SPDX-License-Identifier: MIT */
/* ev_client.c - a libev program that calls a seam service N times, one call
 * after another, and prints each reply with its round-trip time.
 *
 *   ev_client [NAME [N]]     # defaults: com.example.echo 5
 *
 * Run uv_server (or `poll_echo serve NAME`) first. The calls run on libev's
 * default loop; when the last reply is in, the client frees its seam loop
 * from inside the reply callback, which leaves no watcher active, so
 * ev_run() returns by itself. */
#include <seam.h>
#include <seam/ev.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct client {
    seam_loop *loop;
    seam_conn *conn;
    int n, done;
    double started; /* of the call in flight, seconds on the monotonic clock */
    int status;
} client;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_reply(seam_conn *conn, const seam_reply *reply, void *userdata);

/* Sends call number c->done; 0 or a seam error. */
static int call_next(client *c)
{
    seam_value *msg = seam_value_new_dict();
    if (msg == NULL) {
        return SEAM_ENOMEM;
    }
    seam_dict_set_string(msg, "text", "hello over seam");
    seam_dict_set_int64(msg, "n", c->done);
    c->started = now();
    int r = seam_conn_call(c->conn, msg, 2000, on_reply, c, NULL);
    seam_value_unref(msg);
    return r;
}

static void on_reply(seam_conn *conn, const seam_reply *reply, void *userdata)
{
    (void)conn;
    client *c = userdata;
    double ms = (now() - c->started) * 1000.0;
    if (reply->status == 0) {
        char *json = seam_value_to_json(reply->value, 0);
        printf("reply %d: %s (%.3f ms)\n", c->done, json != NULL ? json : "?", ms);
        free(json);
    } else {
        printf("call %d failed: %s\n", c->done, seam_strerror(reply->status));
    }
    c->status = reply->status;
    if (reply->status == 0 && ++c->done < c->n) {
        c->status = call_next(c);
        if (c->status == 0) {
            return;
        }
    }
    /* Finished, or failed: closing and freeing here is safe, and afterwards
     * seam has nothing left on the ev loop. */
    seam_conn_close(c->conn);
    seam_loop_free(c->loop);
    c->loop = NULL;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "com.example.echo";
    client c = {.n = argc > 2 ? atoi(argv[2]) : 5};
    if (c.n <= 0) {
        fprintf(stderr, "usage: ev_client [NAME [N]]\n");
        return 2;
    }
    struct ev_loop *ev = ev_default_loop(0);
    int r = seam_ev_attach(ev, 0, &c.loop);
    if (r == 0) {
        r = seam_conn_connect(c.loop, name, NULL, &c.conn);
    }
    if (r == 0) {
        r = call_next(&c); /* queued until the handshake completes */
    }
    if (r < 0) {
        fprintf(stderr, "ev_client: %s: %s\n", name, seam_strerror(r));
        seam_loop_free(c.loop); /* also closes c.conn */
        return 1;
    }
    double t0 = now();
    ev_run(ev, 0); /* until the last reply freed the seam loop */
    printf("%d of %d calls answered in %.1f ms\n", c.done, c.n, (now() - t0) * 1000.0);
    ev_loop_destroy(ev);
    return c.done == c.n ? 0 : 1;
}
