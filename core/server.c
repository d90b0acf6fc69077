/* SPDX-License-Identifier: MIT */
/* server.c - listening on a name, the accept filter, the peer limit, and
 * sending to every peer at once. */
#include "conn.h"
#include "unix.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACCEPTS_PER_READY 64
#define DEFAULT_MAX_CONNS 1024

static bool same_user(const seam_creds *creds, void *userdata)
{
    SEAM__UNUSED(userdata);
    return creds->uid == (uint32_t)geteuid();
}

/* Tells a refused peer why, if its socket takes it at once, and hangs up.
 * Nothing is read from it. */
static void refuse(seam_server *s, int fd, int code, const char *reason)
{
    seam__buf out = {0};
    seam__hello hello = {SEAM_PROTOCOL_VERSION, s->cfg.conn.max_frame, 0};
    seam_value *bye = seam_value_new_dict();
    size_t start = 0;
    if (bye != NULL && seam_dict_set_int64(bye, "code", code) == 0 &&
        seam_dict_set_string(bye, "reason", reason) == 0 && seam__hello_write(&hello, &out) == 0 &&
        seam__buf_reserve(&out, SEAM__FRAME_HEADER_SIZE) == 0) {
        start = out.len;
        out.len += SEAM__FRAME_HEADER_SIZE;
        if (seam__encode(bye, &out, NULL, 0, NULL) == 0) {
            seam__frame_header h = {(uint32_t)(out.len - start - SEAM__FRAME_HEADER_SIZE),
                                    SEAM__KIND_GOODBYE, 0, 0, 0};
            seam__frame_header_write(out.data + start, &h);
            seam__unix_send(fd, out.data, out.len, NULL, 0);
        }
    }
    seam_value_unref(bye);
    seam__buf_free(&out);
    close(fd);
}

static void server_on_ready(void *owner, unsigned events)
{
    seam_server *s = owner;
    SEAM__UNUSED(events);
    s->refs++;
    for (int i = 0; i < ACCEPTS_PER_READY && !s->closed; i++) {
        int fd;
        int r = seam__unix_accept(seam_watch_fd(s->watch), &fd);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            /* EMFILE and friends: the peer waits in the backlog. */
            seam__log(s->loop, SEAM_LOG_ERROR, "accept failed: %s", seam_strerror(r));
            break;
        }
        /* A filter of the program's may want the pidfd; the connection
         * itself fetches one only when asked (seam_conn_creds), so that an
         * idle peer costs one descriptor, not two. */
        seam_creds creds;
        if (seam__unix_creds(fd, s->cfg.accept != NULL, &creds) < 0) {
            close(fd);
            continue;
        }
        seam_accept_fn accept = s->cfg.accept != NULL ? s->cfg.accept : same_user;
        bool admitted = accept(&creds, s->cfg.accept_data);
        if (creds.pidfd >= 0) {
            close(creds.pidfd);
            creds.pidfd = -1;
        }
        if (!admitted) {
            seam__log(s->loop, SEAM_LOG_INFO, "refused pid %d uid %u", (int)creds.pid,
                      (unsigned)creds.uid);
            refuse(s, fd, SEAM_EACCES, "refused by the accept filter");
            continue;
        }
        if (s->closed) {
            break; /* the filter closed the server */
        }
        if (s->npeers >= s->cfg.max_conns) {
            refuse(s, fd, SEAM_EAGAIN, "too many connections");
            continue;
        }
        r = seam__conn_accepted(s, fd, &creds);
        if (r < 0) {
            seam__log(s->loop, SEAM_LOG_ERROR, "cannot serve a peer: %s", seam_strerror(r));
        }
    }
    if (--s->refs == 0) {
        free(s->path);
        free(s);
    }
}

static void server_on_released(void *owner)
{
    seam_server *s = owner;
    if (--s->refs == 0) {
        free(s->path);
        free(s);
    }
}

int seam_server_listen(seam_loop *loop, const char *name, const seam_server_config *config,
                       seam_server **out)
{
    if (loop == NULL || name == NULL || out == NULL) {
        return SEAM_EINVAL;
    }
    char path[SEAM__PATH_MAX];
    int r = seam__loop_name_path(loop, name, path, sizeof(path));
    if (r < 0) {
        return r;
    }
    seam_server *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        return SEAM_ENOMEM;
    }
    if (config != NULL) {
        s->cfg = *config;
    }
    if (s->cfg.max_conns == 0) {
        s->cfg.max_conns = DEFAULT_MAX_CONNS;
    }
    if (s->cfg.conn.max_frame == 0) {
        s->cfg.conn.max_frame = SEAM__FRAME_DEFAULT_MAX;
    }
    s->loop = loop;
    int fd = -1;
    r = seam__name_acquire(path, &s->lock_fd);
    if (r == 0) {
        r = seam__unix_listen(path, &fd);
        if (r < 0) {
            seam__name_release(path, s->lock_fd);
        }
    }
    if (r == 0) {
        r = seam__watch_start(loop, fd, SEAM_READ, server_on_ready, server_on_released, s,
                              &s->watch);
        if (r < 0) {
            close(fd);
            seam__name_release(path, s->lock_fd);
        }
    }
    if (r < 0) {
        free(s->path);
        free(s);
        return r;
    }
    s->refs = 2; /* the user's and the watch's */
    s->next = loop->servers;
    if (loop->servers != NULL) {
        loop->servers->prev = &s->next;
    }
    loop->servers = s;
    s->prev = &loop->servers;
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
    *s->prev = s->next;
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    /* Remove the name first, so a successor can take it while peers are
     * still being said goodbye to. */
    seam__name_release(s->path, s->lock_fd);
    seam__watch_close(s->watch);
    while (s->peers != NULL) {
        seam_conn_close(s->peers);
    }
    if (--s->refs == 0) {
        free(s->path);
        free(s);
    }
    seam__loop_leave(loop);
}

void seam__server_close_all(seam_loop *loop)
{
    while (loop->servers != NULL) {
        seam_server_close(loop->servers);
    }
}

static int broadcast(seam_server *s, const uint8_t *frame, size_t len, size_t *skipped)
{
    size_t sent = 0;
    size_t full = 0;
    seam__loop_enter(s->loop);
    for (seam_conn *c = s->peers; c != NULL; c = c->snext) {
        if (c->state != SEAM__CONN_OPEN) {
            continue;
        }
        int r = seam__conn_queue_bytes(c, frame, len);
        if (r == 0) {
            sent++;
        } else if (r == SEAM_EAGAIN) {
            full++;
        }
    }
    seam__loop_leave(s->loop);
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
        r = broadcast(server, out.data, out.len, skipped);
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
    int r = broadcast(server, frame, total, skipped);
    free(frame);
    return r;
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
