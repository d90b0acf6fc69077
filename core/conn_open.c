/* SPDX-License-Identifier: MIT */
/* conn_open.c - opening and closing connections: configuration defaults,
 * dial (also in progress) and accept, starting a transport connection
 * with our hello, closing, and what can be asked of a connection. */
#include "conn_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void config_defaults(seam_conn_config *cfg)
{
    if (cfg->max_queue == 0) {
        cfg->max_queue = DEFAULT_MAX_QUEUE;
    } else if (cfg->max_queue > MAX_QUEUE_CLAMP) {
        /* "No bound": the answers' pause point (max_queue plus the largest
         * answer, times ANSWERS_HARD_CAP) must not wrap around. */
        cfg->max_queue = MAX_QUEUE_CLAMP;
    }
    if (cfg->max_frame == 0) {
        cfg->max_frame = SEAM__FRAME_DEFAULT_MAX;
    } else if (cfg->max_frame < SEAM__HELLO_MIN_FRAME) {
        cfg->max_frame = SEAM__HELLO_MIN_FRAME;
    }
    if (cfg->max_queue_fds == 0) {
        cfg->max_queue_fds = DEFAULT_MAX_QUEUE_FDS;
    }
    if (cfg->handshake_timeout_ms <= 0) {
        cfg->handshake_timeout_ms = DEFAULT_HANDSHAKE;
    }
    seam__conn_memfd_defaults(cfg);
}

static seam_conn *conn_new(seam_loop *loop, const seam_conn_config *cfg)
{
    seam_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->memfd_account = seam__memfd_account_new();
    if (c->memfd_account == NULL) {
        free(c);
        return NULL;
    }
    c->loop = loop;
    c->refs = 1;
    c->creds.pidfd = -1;
    c->endpoint_fd = -1;
    if (cfg != NULL) {
        c->cfg = *cfg;
    }
    config_defaults(&c->cfg);
    c->next_id = 1;
    c->done_tail = &c->done_head;
    c->held_tail = &c->held_head;
    seam__timer_init(&c->handshake_timer, seam__conn_handshake_expired);
    seam__timer_init(&c->kick, seam__conn_kick_fired);
    seam__frame_parser_init(&c->parser, c->cfg.max_frame);
    seam__handle_add(loop, &c->handle, &seam__conn_handle_ops);
    return c;
}

static void pipe_hangup(void *handle)
{
    seam__pipe *p = handle;
    p->tran->hangup(p);
}

static void pipe_release(void *handle)
{
    seam__pipe *p = handle;
    p->tran->close(p);
}

static void pipe_notify(void *handle, seam_watch *w)
{
    seam__pipe *p = handle;
    p->tran->notify(p, w);
}

static unsigned pipe_poll(void *handle, unsigned events)
{
    seam__pipe *p = handle;
    int r = p->tran->wait(p, events, 0);
    return r < 0 ? events : (unsigned)r; /* a failure shows when reading or writing */
}

static const seam__watch_hooks conn_hooks = {
    .ready = seam__conn_on_ready,
    .notify = pipe_notify,
    .poll = pipe_poll,
    .hangup = pipe_hangup,
    .release = pipe_release,
    .released = seam__conn_on_released,
};

/* Takes pipe: starts watching it and queues our hello (sent once the
 * pipe is connected). */
static int conn_start(seam_conn *c, seam__pipe *pipe, bool connecting)
{
    seam__frame_parser_free(&c->parser);
    seam__frame_parser_init(&c->parser, c->cfg.max_frame);
    c->parser.hello_max = SEAM__HELLO_MIN_FRAME; /* until the peer's hello is read */
    c->out.len = 0;
    c->out_off = 0;
    seam__conn_fdq_clear(c);
    c->shm_offer = seam__conn_shm_offer(pipe, c->cfg.shm_ring);
    c->memfd_offer = seam__conn_memfd_offer(c);
    seam__hello hello = {SEAM_PROTOCOL_VERSION, c->cfg.max_frame,
                         (uint32_t)seam__conn_our_max_fds(c), c->shm_offer, c->memfd_offer};
    int r = seam__hello_write(&hello, &c->out);
    if (r == 0) {
        /* With no descriptor (fd -1) the transport raises readiness. */
        unsigned ev = seam__conn_watch_events(c, pipe, SEAM_READ | SEAM_WRITE);
        r = seam__watch_start(c->loop, pipe->tran->fd(pipe), ev, &conn_hooks, c, pipe, &c->watch);
    }
    if (r < 0) {
        pipe->tran->close(pipe);
        c->out.len = 0;
        return r;
    }
    seam__conn_ref(c); /* the watch's */
    c->pipe = pipe;
    c->hello_end = c->out.len;
    c->state = connecting ? SEAM__CONN_CONNECTING : SEAM__CONN_HANDSHAKE;
    c->gen++;
    c->goodbye_code = 0;
    c->goodbye_seen = false;
    seam__conn_goodbye_clear(c);
    c->fail_due = 0;
    c->ans_queued = 0;
    c->ans_largest = 0;
    c->read_paused = false;
    c->draining = false;
    seam__buf_free(&c->in_pending);
    /* The handshake timeout covers a dial in progress too. */
    seam__timer_start(c->loop, &c->handshake_timer, (uint64_t)c->cfg.handshake_timeout_ms);
    seam__pubsub_client_restart(c);
    if (c->loop->depth == 0) {
        seam__conn_flush(c);
    } else {
        seam__conn_schedule_flush(c);
    }
    return 0;
}

/* A socket under the name may be another user's (one who could write to
 * the directory): talk only to the server expected - by default one of
 * our own user or root. A transport the kernel does not vouch for has no
 * server we could expect. */
static int client_verify(seam_conn *c, seam__pipe *pipe)
{
    if (c->creds.pidfd >= 0) {
        close(c->creds.pidfd);
    }
    c->creds.pidfd = -1;
    c->pidfd_asked = false;
    seam_peer peer;
    uint32_t me = (uint32_t)geteuid();
    if (pipe->tran->peer(pipe, false, &peer) < 0 || (peer.flags & SEAM_PEER_CREDS) == 0 ||
        (c->cfg.expect_server_uid ? peer.uid != c->cfg.server_uid
                                  : peer.uid != me && peer.uid != 0)) {
        return SEAM_EACCES;
    }
    c->creds = (seam_creds){peer.uid, peer.gid, peer.pid, -1};
    return 0;
}

int seam__conn_client_connect(seam_conn *c)
{
    seam__pipe *pipe = NULL;
    int r = c->endpoint_fd >= 0 ? c->tran->dial_endpoint(c->endpoint_fd, &pipe)
                                : c->tran->dial(c->path, &pipe);
    if (r < 0) {
        return r;
    }
    bool connecting = r == SEAM__TRAN_INPROGRESS;
    if (!connecting && (r = client_verify(c, pipe)) < 0) {
        pipe->tran->close(pipe);
        return r;
    }
    return conn_start(c, pipe, connecting);
}

/* The dial of a CONNECTING client finished (or failed): the hello goes. */
void seam__conn_client_dial_done(seam_conn *c)
{
    int r = c->pipe->tran->dial_check(c->pipe);
    if (r == SEAM_EAGAIN) {
        return;
    }
    if (r == 0) {
        r = client_verify(c, c->pipe);
    }
    if (r < 0) {
        seam__conn_lost(c, r == -ECONNREFUSED || r == -ENOENT ? SEAM_ENOTFOUND : r);
        return;
    }
    c->state = SEAM__CONN_HANDSHAKE;
    seam__conn_flush(c);
}

int seam_conn_connect(seam_loop *loop, const char *name, const seam_conn_config *config,
                      seam_conn **out)
{
    if (loop == NULL || name == NULL || out == NULL) {
        return SEAM_EINVAL;
    }
    char path[SEAM__TRAN_ADDR_MAX];
    const seam__tran *tran;
    int r = seam__loop_resolve(loop, name, &tran, path, sizeof(path));
    return r < 0 ? r : seam__conn_open(loop, tran, path, -1, config, out);
}

int seam__conn_open(seam_loop *loop, const seam__tran *tran, const char *path, int endpoint_fd,
                    const seam_conn_config *config, seam_conn **out)
{
    seam_conn *c = conn_new(loop, config);
    int r = c == NULL || (c->path = strdup(path)) == NULL ? SEAM_ENOMEM : 0;
    /* Kept for reconnecting, as a client keeps its name. */
    if (r == 0 && endpoint_fd >= 0 &&
        (c->endpoint_fd = fcntl(endpoint_fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        r = -errno;
    }
    if (r < 0) {
        if (c != NULL) {
            seam__conn_unref(c);
        }
        return r;
    }
    c->tran = tran;
    seam__loop_enter(loop);
    r = seam__conn_client_connect(c);
    if (r < 0) {
        seam__conn_unref(c);
    } else {
        *out = c;
    }
    seam__loop_leave(loop);
    return r;
}

int seam__conn_accepted(seam_server *server, seam__pipe *pipe, const seam_creds *creds)
{
    seam_conn *c = conn_new(server->loop, &server->cfg.conn);
    if (c == NULL) {
        pipe->tran->close(pipe);
        return SEAM_ENOMEM;
    }
    c->tran = pipe->tran;
    c->creds = *creds;
    c->server = server;
    int r = conn_start(c, pipe, false);
    if (r < 0) {
        c->creds.pidfd = -1; /* the caller still owns it on failure */
        seam__conn_unref(c);
        return r;
    }
    server->npeers++;
    server->refs++;
    c->snext = server->peers;
    if (server->peers != NULL) {
        server->peers->sprev = &c->snext;
    }
    server->peers = c;
    c->sprev = &server->peers;
    if (SEAM__MONITORED(c)) {
        seam__monitor_hello_out(c);
    }
    return 0;
}

void seam__conn_server_unlink(seam_conn *c)
{
    seam_server *s = c->server;
    if (s == NULL || c->sprev == NULL) {
        return;
    }
    seam__monitor_leave(c);
    seam__pubsub_peer_free(c);
    *c->sprev = c->snext;
    if (c->snext != NULL) {
        c->snext->sprev = c->sprev;
    }
    c->sprev = NULL;
    s->npeers--;
    seam__server_idle_check(s);
    seam__server_unref(s);
    c->server = NULL;
}

static void queue_goodbye_and_flush(seam_conn *c)
{
    seam_value *bye = seam_value_new_dict();
    if (bye != NULL && seam_dict_set_string(bye, "reason", "closed") == 0) {
        seam__conn_queue_value(c, SEAM__KIND_GOODBYE, 0, bye, false);
    }
    seam_value_unref(bye);
    seam__conn_flush(c);
}

/* The end of a close that waited for the peer's hello: what was queued
 * goes out now if the socket takes it, then the goodbye. */
void seam__conn_close_after_hello(seam_conn *c)
{
    queue_goodbye_and_flush(c);
    seam__conn_drop_transport(c);
    c->state = SEAM__CONN_CLOSED;
}

/* Before the peer's hello nothing but ours may be sent, so a client closed
 * with sends queued behind its hello keeps its socket until that hello
 * arrives (seam__conn_close_after_hello) or the handshake times out: the watch's
 * reference keeps it, and no event reaches the user. */
static bool close_waits_for_hello(const seam_conn *c)
{
    return (c->state == SEAM__CONN_HANDSHAKE || c->state == SEAM__CONN_CONNECTING) &&
           c->pipe != NULL && c->server == NULL && c->out.len > c->hello_end && !c->loop->freeing;
}

void seam__conn_close(seam_conn *c)
{
    if (c->user_closed) {
        if (c->pipe != NULL &&
            (c->state == SEAM__CONN_HANDSHAKE || c->state == SEAM__CONN_CONNECTING)) {
            /* Still waiting for the hello, and the loop is going away. */
            seam__conn_drop_transport(c);
            c->state = SEAM__CONN_CLOSED;
        }
        return;
    }
    c->user_closed = true;
    if (c->state == SEAM__CONN_OPEN && c->pipe != NULL) {
        queue_goodbye_and_flush(c);
    }
    if (!close_waits_for_hello(c)) {
        seam__conn_drop_transport(c);
        c->state = SEAM__CONN_CLOSED;
    }
    /* One pass over the table, in the order the calls were made. */
    seam__idmap calls;
    seam__idmap_take(&c->calls, &calls);
    size_t pos = 0;
    seam__call *k;
    while ((k = seam__idmap_next(&calls, &pos, NULL)) != NULL) {
        seam__timer_stop(c->loop, &k->timer);
        k->status = SEAM_ECANCELED;
        k->next_done = NULL;
        *c->done_tail = k;
        c->done_tail = &k->next_done;
    }
    seam__idmap_free(&calls);
    if (c->done_head != NULL) {
        seam__conn_kick(c);
    }
    c->stats.calls_in_flight = 0;
    seam__conn_server_unlink(c);
    seam__conn_unref(c); /* the user's (or the server's) reference */
}

void seam__conn_drop(seam_conn *c, int code, const char *reason)
{
    if (c->state != SEAM__CONN_OPEN || c->pipe == NULL) {
        return;
    }
    seam__loop_enter(c->loop);
    seam_value *bye = seam_value_new_dict();
    if (bye != NULL && seam_dict_set_int64(bye, "code", code) == 0 &&
        seam_dict_set_string(bye, "reason", reason) == 0) {
        seam__conn_queue_value(c, SEAM__KIND_GOODBYE, 0, bye, false);
    }
    seam_value_unref(bye);
    seam__conn_flush(c);
    seam__conn_lost(c, code);
    seam__loop_leave(c->loop);
}

void seam_conn_close(seam_conn *conn)
{
    if (conn == NULL) {
        return;
    }
    seam_loop *loop = conn->loop;
    seam__loop_enter(loop);
    seam__conn_close(conn);
    seam__loop_leave(loop);
}

/* ---- the connection as a handle of its loop ---- */

static seam_conn *conn_of(seam__handle *h)
{
    return (seam_conn *)((char *)h - offsetof(seam_conn, handle));
}

static void handle_ref(seam__handle *h)
{
    seam__conn_ref(conn_of(h));
}

static void handle_unref(seam__handle *h)
{
    seam__conn_unref(conn_of(h));
}

/* Loop teardown: close what is left and run the call completions now. */
static void handle_close(seam__handle *h)
{
    seam_conn *c = conn_of(h);
    seam__conn_close(c);
    if (seam__timer_armed(&c->kick)) {
        seam__timer_stop(c->loop, &c->kick);
        seam__conn_kick_fired(&c->kick);
    }
}

static void handle_flush(seam__handle *h)
{
    seam__conn_flush(conn_of(h));
}

const seam__handle_ops seam__conn_handle_ops = {
    .rank = 1,
    .ref = handle_ref,
    .unref = handle_unref,
    .close = handle_close,
    .flush = handle_flush,
};

int seam_conn_creds(seam_conn *conn, seam_creds *out)
{
    if (conn == NULL || out == NULL) {
        return SEAM_EINVAL;
    }
    if (conn->state == SEAM__CONN_CLOSED || conn->state == SEAM__CONN_DOWN) {
        return SEAM_ECLOSED;
    }
    *out = conn->creds; /* a pidfd only if seam_conn_pidfd made one */
    return 0;
}

int seam_conn_peer(seam_conn *conn, seam_peer *out)
{
    if (conn == NULL || out == NULL) {
        return SEAM_EINVAL;
    }
    if (conn->state == SEAM__CONN_CLOSED || conn->state == SEAM__CONN_DOWN) {
        return SEAM_ECLOSED;
    }
    memset(out, 0, sizeof(*out));
    out->kind = conn->tran->peer_kind;
    if ((conn->tran->caps & SEAM__TRAN_CREDS) != 0) {
        out->flags |= SEAM_PEER_CREDS;
        out->uid = conn->creds.uid;
        out->gid = conn->creds.gid;
        out->pid = conn->creds.pid;
    }
    out->pidfd = conn->creds.pidfd; /* only if seam_conn_pidfd made one */
    if (out->pidfd >= 0) {
        out->flags |= SEAM_PEER_PIDFD;
    }
    if (conn->path != NULL) {
        out->address = conn->path;
    } else if (conn->server != NULL) {
        out->address = conn->server->path;
    } else {
        out->address = "";
    }
    return 0;
}

int seam_conn_pidfd(seam_conn *conn)
{
    if (conn == NULL) {
        return SEAM_EINVAL;
    }
    if (conn->state == SEAM__CONN_CLOSED || conn->state == SEAM__CONN_DOWN) {
        return SEAM_ECLOSED;
    }
    if (conn->creds.pidfd < 0 && !conn->pidfd_asked && conn->pipe != NULL) {
        conn->pidfd_asked = true; /* once: where the kernel has none, -1 stays */
        conn->creds.pidfd = conn->pipe->tran->peer_pidfd(conn->pipe);
    }
    return conn->creds.pidfd >= 0 ? conn->creds.pidfd : SEAM_ENOTSUP;
}

void seam_conn_get_stats(const seam_conn *conn, seam_conn_stats *out)
{
    if (conn != NULL && out != NULL) {
        *out = conn->stats;
    }
}

void seam_conn_set_data(seam_conn *conn, void *data)
{
    if (conn != NULL) {
        conn->data = data;
    }
}

void *seam_conn_data(const seam_conn *conn)
{
    return conn != NULL ? conn->data : NULL;
}

seam_server *seam_conn_server(const seam_conn *conn)
{
    return conn != NULL ? conn->server : NULL;
}
