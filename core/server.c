/* SPDX-License-Identifier: MIT */
/* server.c - listening on a name, the accept filter after the peer
 * requirements (require.c), the peer limits (in all, per user, idle), the
 * idle exit, descriptor exhaustion, and sending to every peer at once. */
#include "conn.h"
#include "pubsub.h"
#include "require.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACCEPTS_PER_READY 64
#define DEFAULT_MAX_CONNS 1024
/* Peers refused at once when descriptors ran out, before the loop gets a
 * turn again. */
#define SHED_PER_READY    1024
/* How long the listener rests when not even a peer's refusal fits. */
#define ACCEPT_RETRY_MS   100
static bool same_user(const seam_creds *creds, void *userdata)
{
    SEAM__UNUSED(userdata);
    return creds->uid == (uint32_t)geteuid();
}

/* Tells a refused peer why (code, the rule that refused it and a reason
 * for people), if its pipe takes it at once, and hangs up. Nothing is read
 * from it. */
static void refuse(seam_server *s, seam__pipe *p, int code, const char *rule, const char *reason)
{
    seam__buf out = {0};
    seam__hello hello = {SEAM_PROTOCOL_VERSION, s->cfg.conn.max_frame, 0, 0, 0};
    seam_value *bye = seam_value_new_dict();
    size_t start = 0;
    if (bye != NULL && seam_dict_set_int64(bye, "code", code) == 0 &&
        seam_dict_set_string(bye, "reason", reason) == 0 &&
        seam_dict_set_string(bye, "rule", rule) == 0 && seam__hello_write(&hello, &out) == 0 &&
        seam__buf_reserve(&out, SEAM__FRAME_HEADER_SIZE) == 0) {
        start = out.len;
        out.len += SEAM__FRAME_HEADER_SIZE;
        if (seam__encode(bye, &out, NULL, 0, NULL) == 0) {
            seam__frame_header h = {(uint32_t)(out.len - start - SEAM__FRAME_HEADER_SIZE),
                                    SEAM__KIND_GOODBYE, 0, 0, 0};
            seam__frame_header_write(out.data + start, &h);
            seam__pipe_send(p, out.data, out.len);
        }
    }
    seam_value_unref(bye);
    seam__buf_free(&out);
    p->tran->close(p);
}

void seam__server_unref(seam_server *s)
{
    if (--s->refs == 0) {
        seam__handle_remove(&s->handle);
        seam__require_free(&s->req);
        seam__pubsub_server_free(s);
        free(s->path);
        free(s);
    }
}

static seam_server *server_of(seam__handle *h)
{
    return (seam_server *)((char *)h - offsetof(seam_server, handle));
}

static void handle_ref(seam__handle *h)
{
    server_of(h)->refs++;
}

static void handle_unref(seam__handle *h)
{
    seam__server_unref(server_of(h));
}

/* Loop teardown: the server closes, and its peers with it. */
static void handle_close(seam__handle *h)
{
    seam_server_close(server_of(h));
}

static void handle_flush(seam__handle *h)
{
    SEAM__UNUSED(h); /* a server batches nothing: its peers do */
}

static const seam__handle_ops server_handle_ops = {
    .rank = 0,
    .ref = handle_ref,
    .unref = handle_unref,
    .close = handle_close,
    .flush = handle_flush,
};

static void server_pause(seam_server *s)
{
    if (!s->paused) {
        s->paused = true;
        seam__watch_update(s->watch, 0);
    }
    seam__timer_start(s->loop, &s->retry, ACCEPT_RETRY_MS);
}

static void server_retry(seam__timer *t)
{
    seam_server *s = (seam_server *)((char *)t - offsetof(seam_server, retry));
    if (s->closed) {
        return;
    }
    if (s->tran->reserve != NULL) {
        s->tran->reserve(s->listener, false);
    }
    s->paused = false;
    seam__watch_update(s->watch, SEAM_READ);
}

/* Out of descriptors (EMFILE, ENFILE) with peers waiting: the listener
 * stays ready, and retrying at once would spin the loop. Each waiting peer
 * is taken on the reserve descriptor, refused with a goodbye and hung up,
 * so the backlog empties and the listener rests until a new peer comes -
 * by then a descriptor may be free again, and it is served. Without a
 * reserve (or when freeing it did not help), the listener is paused and
 * retried shortly. Peers already connected are served throughout. */
static void server_shed(seam_server *s, int err)
{
    int last = err;
    size_t refused = 0;
    if (s->tran->reserve != NULL && s->tran->reserve(s->listener, true) == 0) {
        while (refused < SHED_PER_READY) {
            seam__pipe *p = NULL;
            last = s->tran->accept(s->listener, &p);
            if (last <= 0) {
                break;
            }
            refuse(s, p, SEAM_EAGAIN, "descriptors", "out of descriptors");
            refused++;
        }
        s->tran->reserve(s->listener, false);
    }
    if (refused > 0) {
        seam__log(s->loop, SEAM_LOG_WARN, "out of descriptors: refused %zu peers", refused);
    }
    if (last < 0) {
        if (!s->starved) {
            s->starved = true; /* said once, until a peer is accepted again */
            seam__log(s->loop, SEAM_LOG_WARN, "cannot accept (%s): pausing the listener",
                      seam_strerror(last));
        }
        server_pause(s);
    }
}

static size_t peers_of_uid(const seam_server *s, uint32_t uid)
{
    size_t n = 0;
    for (const seam_conn *c = s->peers; c != NULL; c = c->snext) {
        if (c->creds.uid == uid) {
            n++;
        }
    }
    return n;
}

/* Whether a peer may in: the requirements first, then the program's
 * filter, or the default one where neither a filter nor a uid or gid rule
 * says who may. Returns NULL, or the rule that refused it (with why). */
static const char *server_filter(seam_server *s, seam__pipe *p, seam_peer *peer,
                                 const seam_creds *creds, char *why, size_t len)
{
    const char *rule = seam__require_check(&s->req, p, peer, why, len);
    if (rule != NULL) {
        return rule;
    }
    bool admitted = true;
    if (s->cfg.accept_peer != NULL) {
        peer->address = s->path;
        admitted = s->cfg.accept_peer(peer, s->cfg.accept_data);
    } else if (s->cfg.accept != NULL) {
        admitted = s->cfg.accept(creds, s->cfg.accept_data);
    } else if (s->req.nuids == 0 && s->req.ngids == 0 && !same_user(creds, NULL)) {
        snprintf(why, len, "uid %u is not the server's user", (unsigned)creds->uid);
        return "same_user";
    }
    if (!admitted) {
        snprintf(why, len, "refused by the accept filter");
        return "filter";
    }
    return NULL;
}

/* Filters, counts and serves one accepted peer. */
static void server_admit(seam_server *s, seam__pipe *p)
{
    /* A filter of the program's may want the pidfd; the connection itself
     * makes one only when asked (seam_conn_pidfd), so that a peer costs
     * one descriptor, not two. */
    seam_peer peer;
    bool filtered =
        s->cfg.accept != NULL || s->cfg.accept_peer != NULL || seam__require_wants_pidfd(&s->req);
    if (p->tran->peer(p, filtered, &peer) < 0) {
        p->tran->close(p);
        return;
    }
    seam_creds creds = {peer.uid, peer.gid, peer.pid, peer.pidfd};
    char why[256];
    const char *rule = server_filter(s, p, &peer, &creds, why, sizeof(why));
    if (creds.pidfd >= 0) {
        close(creds.pidfd);
        creds.pidfd = -1;
    }
    if (rule != NULL) {
        seam__log(s->loop, SEAM_LOG_INFO, "refused pid %d uid %u: %s", (int)creds.pid,
                  (unsigned)creds.uid, why);
        refuse(s, p, SEAM_EACCES, rule, why);
        return;
    }
    if (s->closed) {
        p->tran->close(p); /* the filter closed the server */
        return;
    }
    if (s->npeers >= s->cfg.max_conns) {
        refuse(s, p, SEAM_EAGAIN, "max_conns", "too many connections");
        return;
    }
    unsigned per_uid = s->cfg.max_conns_per_uid;
    if (per_uid == 0) {
        /* By default a user other than the server's own holds at most a
         * quarter of the slots. The server's own user is not limited: its
         * processes could stop the server outright, so a quota would only
         * cost capacity (the default filter admits no one else). */
        per_uid = creds.uid == (uint32_t)geteuid() ? s->cfg.max_conns : s->cfg.max_conns / 4;
        per_uid = per_uid == 0 ? 1 : per_uid;
    }
    if (peers_of_uid(s, creds.uid) >= per_uid) {
        seam__log(s->loop, SEAM_LOG_INFO, "refused pid %d: uid %u has %u connections",
                  (int)creds.pid, (unsigned)creds.uid, per_uid);
        refuse(s, p, SEAM_EAGAIN, "max_conns_per_uid", "too many connections of this user");
        return;
    }
    int r = seam__conn_accepted(s, p, &creds);
    if (r < 0) {
        seam__log(s->loop, SEAM_LOG_ERROR, "cannot serve a peer: %s", seam_strerror(r));
        return;
    }
    s->peers->idle_since = seam__now_ns(); /* the new peer is first */
    seam__timer_stop(s->loop, &s->idle_exit);
}

static void server_on_ready(void *owner, unsigned events)
{
    seam_server *s = owner;
    SEAM__UNUSED(events);
    s->refs++;
    for (int i = 0; i < ACCEPTS_PER_READY && !s->closed; i++) {
        seam__pipe *p = NULL;
        int r = s->tran->accept(s->listener, &p);
        if (r == 0) {
            break;
        }
        if (r == -EMFILE || r == -ENFILE) {
            server_shed(s, r);
            break;
        }
        if (r < 0) {
            /* ENOBUFS, ENOMEM and the like: the peer waits in the backlog
             * while the listener rests. */
            seam__log(s->loop, SEAM_LOG_ERROR, "accept failed: %s", seam_strerror(r));
            server_pause(s);
            break;
        }
        s->starved = false;
        server_admit(s, p);
    }
    seam__server_unref(s);
}

/* Closes peers that sent no complete frame and read nothing of ours for
 * idle_timeout_ms while nothing was pending between us, with a goodbye
 * saying so (SEAM_ETIMEDOUT). Only whole frames count: bytes of one that
 * never ends would otherwise keep a peer for ever. A frame on its way when
 * the peer would go gets the shorter of the idle and the handshake timeout
 * more, counted from the first sweep that finds it under way, then the peer
 * goes all the same. Runs every half timeout: a peer goes after one to one
 * and a half timeouts of silence. */
static void server_idle_sweep(seam__timer *t)
{
    seam_server *s = (seam_server *)((char *)t - offsetof(seam_server, idle_sweep));
    uint64_t limit = (uint64_t)s->cfg.idle_timeout_ms * 1000000u;
    uint64_t now = seam__now_ns();
    s->refs++;
    bool again = true;
    while (again && !s->closed) {
        again = false;
        for (seam_conn *c = s->peers; c != NULL; c = c->snext) {
            if (c->state != SEAM__CONN_OPEN) {
                continue;
            }
            bool partial = !seam__frame_parser_idle(&c->parser);
            if (c->frames_in + c->stats.bytes_out != c->idle_moved || !partial) {
                c->partial_since = 0;
            } else if (c->partial_since == 0) {
                c->partial_since = now;
            }
            uint64_t frame_limit = (uint64_t)c->cfg.handshake_timeout_ms * 1000000u;
            frame_limit = frame_limit < limit ? frame_limit : limit;
            const char *why = NULL;
            /* A peer waiting for our answer, or one we wait for, is not
             * idle however quiet it is; nor one that reads what we write:
             * while it leaves answers unread its input is not read, so
             * frames in alone would call a busy peer idle. Bytes of a frame
             * that does not arrive do not count: it is too long in coming
             * all the same. */
            uint64_t moved = c->frames_in + c->stats.bytes_out;
            if (moved != c->idle_moved || c->kept != NULL || seam__idmap_count(&c->calls) > 0) {
                c->idle_moved = moved;
                c->idle_since = now;
            } else if (now - c->idle_since >= limit && !partial) {
                why = "idle for too long";
            }
            if (partial && c->partial_since != 0 && now - c->partial_since >= frame_limit &&
                now - c->idle_since >= limit) {
                why = "a frame took too long to arrive";
            }
            if (why != NULL) {
                seam__log(s->loop, SEAM_LOG_INFO, "peer pid %d: %s: closing", (int)c->creds.pid,
                          why);
                seam__conn_drop(c, SEAM_ETIMEDOUT, why);
                again = true; /* the list changed: start over */
                break;
            }
        }
    }
    if (!s->closed) {
        seam__timer_start(s->loop, &s->idle_sweep, (uint64_t)s->cfg.idle_timeout_ms / 2 + 1);
    }
    seam__server_unref(s);
}

/* No peer for idle_exit_ms: the program is told (and may close the
 * server); if it does not, it is told again after the next such
 * stretch. */
static void server_idle_exit(seam__timer *t)
{
    seam_server *s = (seam_server *)((char *)t - offsetof(seam_server, idle_exit));
    s->refs++;
    if (!s->paused) {
        server_on_ready(s, SEAM_READ); /* a peer waiting to be accepted is no idleness */
    }
    if (!s->closed && s->npeers == 0) {
        s->cfg.on_idle(s, s->cfg.idle_data);
    }
    seam__server_idle_check(s);
    seam__server_unref(s);
}

void seam__server_idle_check(seam_server *s)
{
    if (!s->closed && s->cfg.idle_exit_ms > 0 && s->npeers == 0 &&
        !seam__timer_armed(&s->idle_exit)) {
        seam__timer_start(s->loop, &s->idle_exit, (uint64_t)s->cfg.idle_exit_ms);
    }
}

static void server_on_released(void *owner)
{
    seam__server_unref(owner);
}

static void listener_hangup(void *handle)
{
    seam__listener *l = handle;
    l->tran->listener_hangup(l);
}

static void listener_release(void *handle)
{
    seam__listener *l = handle;
    l->tran->listener_free(l);
}

static void listener_notify(void *handle, seam_watch *w)
{
    seam__listener *l = handle;
    l->tran->listener_notify(l, w);
}

static unsigned listener_poll(void *handle, unsigned events)
{
    seam__listener *l = handle;
    return l->tran->listener_ready(l) & events;
}

static const seam__watch_hooks server_hooks = {
    .ready = server_on_ready,
    .notify = listener_notify,
    .poll = listener_poll,
    .hangup = listener_hangup,
    .release = listener_release,
    .released = server_on_released,
};

int seam_server_listen(seam_loop *loop, const char *name, const seam_server_config *config,
                       seam_server **out)
{
    if (loop == NULL || name == NULL || out == NULL) {
        return SEAM_EINVAL;
    }
    char path[SEAM__TRAN_ADDR_MAX];
    const seam__tran *tran;
    int r = seam__loop_resolve(loop, name, &tran, path, sizeof(path));
    return r < 0 ? r : seam__server_open(loop, tran, name, config, out);
}

int seam__server_open(seam_loop *loop, const seam__tran *tran, const char *name,
                      const seam_server_config *config, seam_server **out)
{
    if (config != NULL && (config->socket_mode & ~0777u) != 0) {
        return SEAM_EINVAL;
    }
    if (config != NULL &&
        (config->idle_exit_ms < 0 || (config->idle_exit_ms > 0 && config->on_idle == NULL))) {
        return SEAM_EINVAL;
    }
    int r = 0;
    seam_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return SEAM_ENOMEM;
    }
    if (config != NULL) {
        s->cfg = *config;
        s->cfg.require = NULL; /* the server's copy is s->req */
        r = seam__require_copy(config->require, &s->req);
        if (r < 0) {
            free(s);
            return r;
        }
    }
    if (s->cfg.max_conns == 0) {
        s->cfg.max_conns = DEFAULT_MAX_CONNS;
    }
    if (s->cfg.conn.max_frame == 0) {
        s->cfg.conn.max_frame = SEAM__FRAME_DEFAULT_MAX;
    }
    s->loop = loop;
    s->tran = tran;
    seam__timer_init(&s->retry, server_retry);
    seam__timer_init(&s->idle_sweep, server_idle_sweep);
    seam__timer_init(&s->idle_exit, server_idle_exit);
    r = name != NULL ? tran->listen(name, s->cfg.socket_mode, &s->listener)
                     : tran->listen_anon(&s->listener);
    if (r == 0 && (s->path = strdup(tran->listener_addr(s->listener))) == NULL) {
        r = SEAM_ENOMEM;
        tran->listener_close(s->listener);
        tran->listener_free(s->listener);
    } else if (r == 0) {
        r = seam__watch_start(loop, tran->listener_fd(s->listener), SEAM_READ, &server_hooks, s,
                              s->listener, &s->watch);
        if (r < 0) {
            tran->listener_close(s->listener);
            tran->listener_free(s->listener);
        }
    }
    if (r < 0) {
        seam__require_free(&s->req);
        free(s->path);
        free(s);
        return r;
    }
    if (s->cfg.idle_timeout_ms > 0) {
        seam__timer_start(loop, &s->idle_sweep, (uint64_t)s->cfg.idle_timeout_ms / 2 + 1);
    }
    s->refs = 2; /* the user's and the watch's */
    seam__handle_add(loop, &s->handle, &server_handle_ops);
    seam__server_idle_check(s);
    *out = s;
    return 0;
}

void seam_server_close(seam_server *server)
{
    if (server == NULL || server->closed) {
        return;
    }
    seam_server *s = server;
    seam_loop *loop = s->loop;
    seam__loop_enter(loop);
    s->closed = true;
    /* Give up the name first, so a successor can take it while peers are
     * still being said goodbye to. */
    s->tran->listener_close(s->listener);
    seam__timer_stop(loop, &s->retry);
    seam__timer_stop(loop, &s->idle_sweep);
    seam__timer_stop(loop, &s->idle_exit);
    seam__watch_close(s->watch);
    while (s->peers != NULL) {
        seam_conn_close(s->peers);
    }
    seam__server_unref(s);
    seam__loop_leave(loop);
}

/* A broadcast frame this large is written to every peer from one block
 * instead of being copied into each queue: a thousand peers hold a
 * thousand headers and one payload. */
#define SHARED_FRAME_MIN (16u << 10)

typedef struct shared_frame {
    size_t refs; /* the queues holding it, and the broadcast while it runs */
    uint8_t *bytes;
} shared_frame;

/* Queues run on the server's loop, so do their releases. */
static void shared_frame_release(const void *bytes, void *userdata)
{
    shared_frame *f = userdata;
    SEAM__UNUSED(bytes);
    if (--f->refs == 0) {
        free(f->bytes);
        free(f);
    }
}

/* Queues frame (malloc'd, taken) to every open peer. */
static int broadcast(seam_server *s, uint8_t *frame, size_t len, size_t *skipped)
{
    shared_frame *shared = NULL;
    if (len >= SHARED_FRAME_MIN) {
        shared = malloc(sizeof(*shared));
        if (shared != NULL) {
            *shared = (shared_frame){1, frame};
        }
    }
    size_t sent = 0;
    size_t full = 0;
    seam__loop_enter(s->loop);
    for (seam_conn *c = s->peers; c != NULL; c = c->snext) {
        if (c->state != SEAM__CONN_OPEN) {
            continue;
        }
        int r;
        if (shared != NULL) {
            shared->refs++;
            r = seam__conn_queue_bytes_shared(c, frame, len, shared_frame_release, shared);
            if (r < 0) {
                shared->refs--;
            }
        } else {
            r = seam__conn_queue_bytes(c, frame, len);
        }
        if (r == 0) {
            sent++;
        } else if (r == SEAM_EAGAIN) {
            full++;
        }
    }
    seam__loop_leave(s->loop);
    if (shared != NULL) {
        shared_frame_release(frame, shared);
    } else {
        free(frame);
    }
    if (skipped != NULL) {
        *skipped = full;
    }
    return sent > INT32_MAX ? INT32_MAX : (int)sent;
}

int seam_server_broadcast(seam_server *server, const seam_value *msg, size_t *skipped)
{
    if (server == NULL || msg == NULL) {
        return SEAM_EINVAL;
    }
    if (server->closed) {
        return SEAM_ECLOSED;
    }
    seam__buf out = {0};
    int r = seam__buf_reserve(&out, SEAM__FRAME_HEADER_SIZE);
    if (r == 0) {
        out.len = SEAM__FRAME_HEADER_SIZE;
        r = seam__encode(msg, &out, NULL, 0, NULL);
    }
    if (r == 0) {
        seam__frame_header h = {(uint32_t)(out.len - SEAM__FRAME_HEADER_SIZE), SEAM__KIND_MESSAGE,
                                0, 0, 0};
        seam__frame_header_write(out.data, &h);
        return broadcast(server, out.data, out.len, skipped);
    }
    seam__buf_free(&out);
    return r;
}

int seam_server_broadcast_raw(seam_server *server, uint32_t id, const void *bytes, size_t len,
                              size_t *skipped)
{
    if (server == NULL || (bytes == NULL && len > 0)) {
        return SEAM_EINVAL;
    }
    if (server->closed) {
        return SEAM_ECLOSED;
    }
    if (len > UINT32_MAX - SEAM__FRAME_HEADER_SIZE - SEAM__FRAME_RAW_ID_SIZE) {
        return SEAM_EMSGSIZE;
    }
    size_t total = SEAM__FRAME_HEADER_SIZE + SEAM__FRAME_RAW_ID_SIZE + len;
    uint8_t *frame = malloc(total);
    if (frame == NULL) {
        return SEAM_ENOMEM;
    }
    seam__frame_header h = {(uint32_t)(SEAM__FRAME_RAW_ID_SIZE + len), SEAM__KIND_MESSAGE,
                            SEAM__FLAG_RAW, 0, 0};
    seam__frame_header_write(frame, &h);
    for (int i = 0; i < 4; i++) {
        frame[SEAM__FRAME_HEADER_SIZE + i] = (uint8_t)(id >> (8 * i));
    }
    if (len > 0) {
        memcpy(frame + SEAM__FRAME_HEADER_SIZE + SEAM__FRAME_RAW_ID_SIZE, bytes, len);
    }
    return broadcast(server, frame, total, skipped);
}

size_t seam_server_peers(const seam_server *server, seam_conn **out, size_t max)
{
    if (server == NULL) {
        return 0;
    }
    size_t n = 0;
    for (seam_conn *c = server->peers; c != NULL; c = c->snext) {
        if (c->state == SEAM__CONN_OPEN) {
            if (n < max && out != NULL) {
                out[n] = c;
            }
            n++;
        }
    }
    return n;
}

const char *seam_server_path(const seam_server *server)
{
    return server != NULL ? server->path : NULL;
}

bool seam_server_activated(const seam_server *server)
{
    if (server == NULL || server->closed || server->tran->listener_activated == NULL) {
        return false;
    }
    return server->tran->listener_activated(server->listener);
}
