/* SPDX-License-Identifier: MIT */
/* pubsub_client.c - retained publish/subscribe, the subscriber's side:
 * its subscriptions, subscribe frames (sent again on a reconnect), the
 * server's answers to them and the updates that follow. */
#include "conn_int.h"
#include "pubsub.h"

#include <stdlib.h>
#include <string.h>

struct seam__csub {
    struct seam__csub *next;
    uint64_t id; /* the subscribe's frame id, on this connection's current link */
    seam_update_fn cb;
    void *userdata;
    char pattern[];
};

static struct seam__csub *csub_by_id(seam_conn *c, uint64_t id, struct seam__csub ***link)
{
    struct seam__csub **l = &c->csubs;
    while (*l != NULL && (*l)->id != id) {
        l = &(*l)->next;
    }
    if (link != NULL) {
        *link = l;
    }
    return *l;
}

static struct seam__csub **csub_link_by_pattern(seam_conn *c, const char *pattern)
{
    struct seam__csub **l = &c->csubs;
    while (*l != NULL && strcmp((*l)->pattern, pattern) != 0) {
        l = &(*l)->next;
    }
    return l;
}

/* The server's answer to a subscribe: a refusal ends the subscription;
 * a reply, or a call ended by the link going down, changes nothing. */
static void on_subscribe_reply(seam_conn *c, const seam_reply *r, void *userdata)
{
    (void)userdata;
    struct seam__csub **link = NULL;
    struct seam__csub *s = csub_by_id(c, r->call_id, &link);
    if (s == NULL || r->status != SEAM_EREMOTE) {
        return;
    }
    *link = s->next;
    seam_update u = {.status = SEAM_EREMOTE, .remote_code = r->remote_code, .pattern = s->pattern};
    s->cb(c, &u, s->userdata);
    free(s);
}

/* Queues the subscribe frame of s and waits for its answer as for a call;
 * with a fresh id unless keep_id. */
static int subscribe_send(seam_conn *c, struct seam__csub *s, bool keep_id)
{
    seam__call *k = seam__conn_call_new(c, on_subscribe_reply, NULL);
    seam_value *m = seam_value_new_dict();
    int r = k != NULL && m != NULL ? seam_dict_set_string(m, "topic", s->pattern) : SEAM_ENOMEM;
    if (r == 0 && keep_id) {
        k->id = s->id;
    }
    if (r == 0) {
        r = seam__conn_queue_value(c, SEAM__KIND_SUBSCRIBE, k->id, m, true);
    }
    if (r == 0 && (r = seam__conn_call_insert(c, k)) == 0) {
        s->id = k->id;
        c->stats.calls_in_flight = seam__idmap_count(&c->calls);
        k = NULL;
    }
    free(k);
    seam_value_unref(m);
    return r;
}

void seam__pubsub_client_restart(seam_conn *c)
{
    for (struct seam__csub *s = c->csubs; s != NULL; s = s->next) {
        int r = subscribe_send(c, s, true);
        if (r < 0) {
            seam__log(c->loop, SEAM_LOG_WARN, "subscription to %s not renewed: %s", s->pattern,
                      seam_strerror(r));
        }
    }
}

void seam__pubsub_client_free(seam_conn *c)
{
    for (struct seam__csub *s = c->csubs, *n; s != NULL; s = n) {
        n = s->next;
        free(s);
    }
    c->csubs = NULL;
}

int seam_conn_subscribe(seam_conn *conn, const char *pattern, seam_update_fn cb, void *userdata)
{
    if (conn == NULL || pattern == NULL || cb == NULL) {
        return SEAM_EINVAL;
    }
    if (conn->server != NULL) {
        return SEAM_ENOTSUP;
    }
    size_t len = strlen(pattern);
    int r = seam__pubsub_name_check(pattern, len, SEAM__PUBSUB_TOPIC_LEN_CAP, true);
    if (r < 0) {
        return r == SEAM_ETOOLONG ? r : SEAM_EINVAL;
    }
    if (*csub_link_by_pattern(conn, pattern) != NULL) {
        return SEAM_EEXIST;
    }
    struct seam__csub *s = calloc(1, sizeof(*s) + len + 1);
    if (s == NULL) {
        return SEAM_ENOMEM;
    }
    memcpy(s->pattern, pattern, len);
    s->cb = cb;
    s->userdata = userdata;
    seam__loop_enter(conn->loop);
    r = seam__conn_ready_to_send(conn); /* a reconnect renews the others first */
    if (r == 0) {
        r = subscribe_send(conn, s, false);
    }
    if (r == 0) {
        s->next = conn->csubs;
        conn->csubs = s;
    } else {
        free(s);
    }
    seam__loop_leave(conn->loop);
    return r;
}

int seam_conn_unsubscribe(seam_conn *conn, const char *pattern)
{
    if (conn == NULL || pattern == NULL) {
        return SEAM_EINVAL;
    }
    struct seam__csub **link = csub_link_by_pattern(conn, pattern);
    struct seam__csub *s = *link;
    if (s == NULL) {
        return SEAM_ENOCALL;
    }
    *link = s->next;
    seam__loop_enter(conn->loop);
    if (conn->pipe != NULL && !conn->user_closed) {
        seam__conn_queue_empty_frame(conn, SEAM__KIND_UNSUBSCRIBE, s->id);
    }
    seam__loop_leave(conn->loop);
    free(s);
    return 0;
}

void seam__pubsub_on_update(seam_conn *c, const seam__frame *f)
{
    seam_value *m = NULL;
    int d = seam__decode(f->payload, f->h.len, &c->cfg.limits, NULL, 0, &m);
    seam_update u = {0};
    seam_value *topic = d == 0 ? seam_dict_get(m, "topic") : NULL;
    u.value = d == 0 ? seam_dict_get(m, "value") : NULL;
    if (topic == NULL || (u.topic = seam_value_get_string(topic, NULL)) == NULL ||
        u.value == NULL || !seam_value_get_uint64(seam_dict_get(m, "seq"), &u.seq) ||
        !seam_value_get_uint64(seam_dict_get(m, "missed"), &u.missed)) {
        seam_value_unref(m);
        seam__conn_fail(c, d < 0 ? d : SEAM_EPROTO);
        return;
    }
    struct seam__csub *s = csub_by_id(c, f->h.id, NULL);
    if (s != NULL) {
        u.pattern = s->pattern;
        s->cb(c, &u, s->userdata); /* s may be gone after this */
    }
    seam_value_unref(m);
}
