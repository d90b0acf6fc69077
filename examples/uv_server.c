/* SPDX-License-Identifier: MIT */
/* uv_server.c - a libuv program that already serves a TCP line echo, and
 * now also hosts a seam service on the same loop and thread. The service
 * answers every request with the request's own payload.
 *
 *   uv_server [PORT [NAME]]         # defaults: 7007 com.example.echo
 *   nc 127.0.0.1 7007               # lines typed come back
 *   ev_client com.example.echo 5    # requests come back
 *
 * Ctrl-C shuts down in the order libuv needs: free the seam loop, close the
 * program's own handles, run the loop until every close callback has run,
 * then uv_loop_close() - which succeeds, since seam leaves nothing behind. */
#include <seam.h>
#include <seam/uv.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static seam_loop *seam;
static uv_tcp_t listener;
static uv_signal_t sigint;

/* ---- the program's own TCP echo: plain libuv ---------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(hint);
    buf->len = buf->base != NULL ? hint : 0;
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req->data); /* the bytes read, echoed as they came */
    free(req);
}

static void on_read(uv_stream_t *client, ssize_t n, const uv_buf_t *buf)
{
    uv_write_t *req = n > 0 ? malloc(sizeof(*req)) : NULL;
    if (req != NULL) {
        uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
        req->data = buf->base;
        if (uv_write(req, client, &out, 1, on_written) == 0) {
            return;
        }
        free(req);
    }
    free(buf->base);
    if (n < 0) {
        uv_close((uv_handle_t *)client, free_handle);
    }
}

static void on_tcp_connection(uv_stream_t *server, int status)
{
    uv_tcp_t *client = malloc(sizeof(*client));
    if (status < 0 || client == NULL) {
        free(client);
        return;
    }
    uv_tcp_init(server->loop, client);
    if (uv_accept(server, (uv_stream_t *)client) == 0) {
        uv_read_start((uv_stream_t *)client, on_alloc, on_read);
    } else {
        uv_close((uv_handle_t *)client, free_handle);
    }
}

/* ---- the seam service: every peer's events arrive here ----------------- */

static void on_peer_event(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)conn;
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST) {
        if (ev->raw) {
            seam_request_reply_raw(ev->request, ev->raw_id, ev->raw_bytes, ev->raw_len);
        } else {
            seam_request_reply(ev->request, ev->value);
        }
    } else if (ev->type == SEAM_EVENT_CONNECTED) {
        printf("seam: a client connected\n");
    } else if (ev->type == SEAM_EVENT_INVALID) {
        printf("seam: a client left (%s)\n", seam_strerror(ev->error));
    }
}

/* ---- shutting down ------------------------------------------------------ */

/* Closes the program's handles; seam's are seam_loop_free()'s to close. */
static void close_own(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (uv_is_closing(h) || seam_uv_owns_handle(h)) {
        return;
    }
    bool client = h->type == UV_TCP && h != (uv_handle_t *)&listener;
    uv_close(h, client ? free_handle : NULL);
}

static void on_sigint(uv_signal_t *s, int signum)
{
    (void)signum;
    printf("shutting down\n");
    seam_loop_free(seam); /* closes the service, its peers and seam's handles */
    seam = NULL;
    uv_walk(s->loop, close_own, NULL);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 7007;
    const char *name = argc > 2 ? argv[2] : "com.example.echo";
    uv_loop_t *uv = uv_default_loop();
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_init(uv, &listener);
    int r = uv_tcp_bind(&listener, (const struct sockaddr *)&addr, 0);
    if (r == 0) {
        r = uv_listen((uv_stream_t *)&listener, 64, on_tcp_connection);
    }
    if (r < 0) {
        fprintf(stderr, "uv_server: port %d: %s\n", port, uv_strerror(r));
        return 1;
    }
    uv_signal_init(uv, &sigint);
    uv_signal_start(&sigint, on_sigint, SIGINT);

    /* seam joins the same loop: its listening socket keeps the loop alive
     * like the TCP listener does. */
    seam_server *service = NULL;
    seam_server_config cfg = {.conn.on_event = on_peer_event};
    r = seam_uv_attach(uv, 0, &seam);
    if (r == 0) {
        r = seam_server_listen(seam, name, &cfg, &service);
    }
    if (r < 0) {
        fprintf(stderr, "uv_server: %s: %s\n", name, seam_strerror(r));
        seam_loop_free(seam); /* NULL after a failed attach: harmless */
        uv_walk(uv, close_own, NULL);
        uv_run(uv, UV_RUN_DEFAULT);
        uv_loop_close(uv);
        return 1;
    }
    printf("echoing lines on 127.0.0.1:%d and requests on %s; Ctrl-C stops\n", port, name);

    uv_run(uv, UV_RUN_DEFAULT); /* returns once on_sigint closed everything */
    r = uv_loop_close(uv);
    printf("loop closed: %s\n", r == 0 ? "clean" : uv_strerror(r));
    return r == 0 ? 0 : 1;
}
