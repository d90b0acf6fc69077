/* SPDX-License-Identifier: MIT */
/* fuzz_conn.c - a live server on arbitrary peer bytes: each input is what
 * a peer writes on a real Unix socket after connecting (hello included).
 * The server answers what it understands; whatever the bytes, it must end
 * the connection or keep serving - never crash, hang or leak - and a
 * second, well-behaved client must still get its echo afterwards. */
#include <seam.h>
#include <seam/poll.h>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.conn"

static seam_loop *loop;
static seam_server *server;
static char sock_path[256];

static void on_peer(seam_conn *conn, const seam_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == SEAM_EVENT_REQUEST && ev->raw) {
        seam_request_reply_raw(ev->request, ev->raw_id, ev->raw_bytes, ev->raw_len);
    } else if (ev->type == SEAM_EVENT_REQUEST) {
        seam_request_reply(ev->request, ev->value);
    } else if (ev->type == SEAM_EVENT_MESSAGE && !ev->raw) {
        seam_conn_send(conn, ev->value);
    }
}

static char dir[] = "/tmp/seam-fuzz-XXXXXX";

static void teardown(void)
{
    seam_server_close(server);
    seam_loop_free(loop);
    rmdir(dir);
}

static void setup_once(void)
{
    if (loop != NULL) {
        return;
    }
    if (mkdtemp(dir) == NULL || setenv("SEAM_RUNTIME_DIR", dir, 1) != 0) {
        abort();
    }
    atexit(teardown);
    seam_server_config cfg = {.conn = {.on_event = on_peer, .handshake_timeout_ms = 50}};
    if (seam_poll_new(0, &loop) < 0 || seam_server_listen(loop, NAME, &cfg, &server) < 0 ||
        seam_name_path(NAME, sock_path, sizeof(sock_path)) < 0) {
        abort();
    }
}

static int raw_connect(void)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, sock_path, strlen(sock_path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        abort();
    }
    return fd;
}

/* Reads and drops what the server sent; false once it hung up. */
static bool drain(int fd)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0) {
            return false;
        }
        if (n < 0) {
            return true; /* EAGAIN: open, nothing more for now */
        }
    }
}

static void serve_peer(const uint8_t *data, size_t size)
{
    int fd = raw_connect();
    size_t off = 0;
    bool open = true;
    /* Bounded: the handshake timeout ends a peer that stalls. */
    for (int i = 0; i < 2000 && open; i++) {
        if (off < size) {
            ssize_t n = write(fd, data + off, size - off);
            off += n > 0 ? (size_t)n : 0;
            if (n < 0 && off < size && !drain(fd)) {
                break; /* the server hung up on what it read so far */
            }
            if (off == size) {
                shutdown(fd, SHUT_WR);
            }
        }
        seam_poll_run_once(loop, off < size ? 0 : 5);
        open = drain(fd);
    }
    if (open) {
        abort(); /* the server kept a connection whose peer is done: a hang */
    }
    close(fd);
}

static int echoes;

static void on_echo(seam_conn *conn, const seam_reply *r, void *userdata)
{
    (void)conn;
    (void)userdata;
    echoes += r->status == 0;
}

/* A good client on the same loop still gets its answer. */
static void check_still_serving(void)
{
    seam_conn *c = NULL;
    if (seam_conn_connect(loop, NAME, NULL, &c) < 0) {
        abort();
    }
    int before = echoes;
    seam_value *v = seam_value_new_string("still there?");
    if (seam_conn_call(c, v, 5000, on_echo, NULL, NULL) < 0) {
        abort();
    }
    seam_value_unref(v);
    for (int i = 0; i < 1000 && echoes == before; i++) {
        seam_poll_run_once(loop, 5);
    }
    if (echoes != before + 1) {
        abort();
    }
    seam_conn_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    serve_peer(data, size);
    check_still_serving();
    return 0;
}
