/* SPDX-License-Identifier: MIT */
/* pubsub.c - retained publish/subscribe, the server's side: the retained
 * topics, its peers' subscriptions, sending updates and coalescing them
 * for a peer whose queue is full. */
#include "pubsub.h"
#include "conn_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct seam__topic {
    struct seam__topic *next;  /* in its bucket */
    struct seam__topic *later; /* the next topic published first after it */
    uint64_t seq;
    size_t index; /* topics published before it first */
    uint8_t *enc; /* the retained value, encoded */
    size_t enc_len;
    size_t len;
    char name[];
} seam__topic;

/* One topic owed to a subscription: updates from seq first_owed on did
 * not fit the peer's queue; the latest goes once it drains. */
typedef struct seam__pend {
    struct seam__pend *next;
    seam__topic *t;
    uint64_t first_owed;
} seam__pend;

struct seam__sub {
    struct seam__sub *next;
    uint64_t id;
    seam__pend *pend; /* in the order they fell behind */
    seam__pend **pend_tail;
    uint64_t *owed; /* a bit per topic index: the topic is in pend */
    size_t owed_words;
    size_t len;  /* of the pattern without its '*' */
    bool prefix; /* a trailing '*' */
    char pattern[];
};

struct seam__pubsub {
    seam__topic **buckets;
    size_t nbuckets; /* a power of two */
    seam__topic *first;
    seam__topic **last;
    size_t ntopics;
};

/* ---- what both sides share ---- */

int seam__pubsub_name_check(const char *s, size_t len, size_t max_len, bool prefix_ok)
{
    if (len == 0) {
        return SEAM_EINVAL;
    }
    if (len > max_len) {
        return SEAM_ETOOLONG;
    }
    size_t body = prefix_ok && s[len - 1] == '*' ? len - 1 : len;
    if (memchr(s, '*', body) != NULL || memchr(s, '\0', len) != NULL ||
        !seam__utf8_valid((const uint8_t *)s, len)) {
        return SEAM_EINVAL;
    }
    return 0;
}

int seam__pubsub_head(seam__buf *b, unsigned major, uint64_t arg)
{
    uint8_t h[9];
    size_t n;
    uint8_t m = (uint8_t)(major << 5);
    if (arg < 24) {
        h[0] = m | (uint8_t)arg;
        n = 1;
    } else if (arg <= UINT8_MAX) {
        h[0] = m | 24;
        n = 2;
    } else if (arg <= UINT16_MAX) {
        h[0] = m | 25;
        n = 3;
    } else if (arg <= UINT32_MAX) {
        h[0] = m | 26;
        n = 5;
    } else {
        h[0] = m | 27;
        n = 9;
    }
    for (size_t i = 1; i < n; i++) {
        h[i] = (uint8_t)(arg >> (8 * (n - 1 - i)));
    }
    return seam__buf_append(b, h, n);
}

int seam__pubsub_text(seam__buf *b, const char *s, size_t len)
{
    int r = seam__pubsub_head(b, 3, len);
    return r < 0 ? r : seam__buf_append(b, s, len);
}

/* ---- retained topics ---- */

static size_t topic_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    }
    return (size_t)h;
}

static unsigned max_topics(const seam_server *s)
{
    return s->cfg.max_topics != 0 ? s->cfg.max_topics : SEAM__PUBSUB_MAX_TOPICS;
}

static size_t max_topic_len(const seam_server *s)
{
    return s->cfg.max_topic_len != 0 ? s->cfg.max_topic_len : SEAM__PUBSUB_MAX_TOPIC_LEN;
}

static seam__topic *topic_find(const seam_server *s, const char *name, size_t len)
{
    const struct seam__pubsub *ps = s->pubsub;
    if (ps == NULL) {
        return NULL;
    }
    for (seam__topic *t = ps->buckets[topic_hash(name, len) & (ps->nbuckets - 1)]; t != NULL;
         t = t->next) {
        if (t->len == len && memcmp(t->name, name, len) == 0) {
            return t;
        }
    }
    return NULL;
}

static int pubsub_make(seam_server *s)
{
    if (s->pubsub != NULL) {
        return 0;
    }
    struct seam__pubsub *ps = calloc(1, sizeof(*ps));
    size_t n = 16;
    while (n < max_topics(s) && n < (1u << 16)) {
        n <<= 1;
    }
    if (ps == NULL || (ps->buckets = calloc(n, sizeof(*ps->buckets))) == NULL) {
        free(ps);
        return SEAM_ENOMEM;
    }
    ps->nbuckets = n;
    ps->last = &ps->first;
    s->pubsub = ps;
    return 0;
}

static seam__topic *topic_add(seam_server *s, const char *name, size_t len)
{
    struct seam__pubsub *ps = s->pubsub;
    seam__topic *t = calloc(1, sizeof(*t) + len + 1);
    if (t == NULL) {
        return NULL;
    }
    memcpy(t->name, name, len);
    t->len = len;
    t->index = ps->ntopics;
    seam__topic **b = &ps->buckets[topic_hash(name, len) & (ps->nbuckets - 1)];
    t->next = *b;
    *b = t;
    *ps->last = t;
    ps->last = &t->later;
    ps->ntopics++;
    return t;
}

void seam__pubsub_server_free(seam_server *s)
{
    struct seam__pubsub *ps = s->pubsub;
    if (ps == NULL) {
        return;
    }
    for (seam__topic *t = ps->first, *n; t != NULL; t = n) {
        n = t->later;
        free(t->enc);
        free(t);
    }
    free(ps->buckets);
    free(ps);
    s->pubsub = NULL;
}

uint64_t seam_server_topic_seq(const seam_server *server, const char *topic)
{
    if (server == NULL || topic == NULL) {
        return 0;
    }
    const seam__topic *t = topic_find(server, topic, strlen(topic));
    return t != NULL ? t->seq : 0;
}

/* ---- updates ---- */

static bool sub_matches(const struct seam__sub *sub, const seam__topic *t)
{
    if (sub->prefix) {
        return t->len >= sub->len && memcmp(t->name, sub->pattern, sub->len) == 0;
    }
    return t->len == sub->len && memcmp(t->name, sub->pattern, sub->len) == 0;
}

/* Queues the update frame of t for subscription id, bounded like a send:
 * SEAM_EAGAIN when the peer's queue is full. */
static int send_update(seam_conn *c, uint64_t id, const seam__topic *t, uint64_t missed)
{
    seam__buf b = {0};
    int r = seam__buf_reserve(&b, SEAM__FRAME_HEADER_SIZE + t->len + t->enc_len + 48);
    if (r == 0) {
        b.len = SEAM__FRAME_HEADER_SIZE;
        r = seam__pubsub_head(&b, 5, 4);
    }
    if (r == 0 && (r = seam__pubsub_text(&b, "topic", 5)) == 0) {
        r = seam__pubsub_text(&b, t->name, t->len);
    }
    if (r == 0 && (r = seam__pubsub_text(&b, "seq", 3)) == 0) {
        r = seam__pubsub_head(&b, 0, t->seq);
    }
    if (r == 0 && (r = seam__pubsub_text(&b, "missed", 6)) == 0) {
        r = seam__pubsub_head(&b, 0, missed);
    }
    if (r == 0 && (r = seam__pubsub_text(&b, "value", 5)) == 0) {
        r = seam__buf_append(&b, t->enc, t->enc_len);
    }
    if (r == 0) {
        size_t len = b.len - SEAM__FRAME_HEADER_SIZE;
        seam__frame_header h = {(uint32_t)len, SEAM__KIND_UPDATE, 0, 0, id};
        r = len > UINT32_MAX ? SEAM_EMSGSIZE : 0;
        if (r == 0) {
            seam__frame_header_write(b.data, &h);
            r = seam__conn_queue_bytes(c, b.data, b.len);
        }
    }
    seam__buf_free(&b);
    return r;
}

static bool owed(const struct seam__sub *sub, const seam__topic *t)
{
    size_t w = t->index / 64;
    return w < sub->owed_words && (sub->owed[w] >> (t->index % 64) & 1u) != 0;
}

/* Marks t owed to sub (its bit set, grown as topics are added: at most
 * max_topics bits a subscription). */
static int owe(struct seam__sub *sub, const seam__topic *t)
{
    size_t w = t->index / 64;
    if (w >= sub->owed_words) {
        size_t n = w + 1 > 2 * sub->owed_words ? w + 1 : 2 * sub->owed_words;
        uint64_t *grown = realloc(sub->owed, n * sizeof(*grown));
        if (grown == NULL) {
            return SEAM_ENOMEM;
        }
        memset(grown + sub->owed_words, 0, (n - sub->owed_words) * sizeof(*grown));
        sub->owed = grown;
        sub->owed_words = n;
    }
    sub->owed[w] |= (uint64_t)1 << (t->index % 64);
    return 0;
}

static void pend_add(seam_conn *c, struct seam__sub *sub, seam__topic *t, uint64_t first_owed)
{
    seam__pend *p = malloc(sizeof(*p));
    if (p == NULL || owe(sub, t) < 0) {
        free(p);
        seam__log(c->loop, SEAM_LOG_WARN, "out of memory: an update of %s is lost", t->name);
        return;
    }
    *p = (seam__pend){NULL, t, first_owed};
    *sub->pend_tail = p;
    sub->pend_tail = &p->next;
}

static void deliver(seam_conn *c, struct seam__sub *sub, seam__topic *t)
{
    if (owed(sub, t)) {
        return; /* behind already: the latest goes when the queue drains */
    }
    if (sub->pend != NULL) {
        /* Others wait for the queue to drain: this one goes after them,
         * and the queue is full anyway. */
        pend_add(c, sub, t, t->seq);
        return;
    }
    int r = send_update(c, sub->id, t, 0);
    if (r == SEAM_EAGAIN) {
        pend_add(c, sub, t, t->seq);
    } else if (r < 0) {
        seam__log(c->loop, SEAM_LOG_WARN, "an update of %s cannot go to a peer: %s", t->name,
                  seam_strerror(r));
    }
}

void seam__pubsub_drained(seam_conn *c)
{
    for (struct seam__sub *sub = c->subs; sub != NULL; sub = sub->next) {
        while (sub->pend != NULL) {
            seam__pend *p = sub->pend;
            int r = send_update(c, sub->id, p->t, p->t->seq - p->first_owed);
            if (r == SEAM_EAGAIN) {
                return; /* full again: the rest waits for the next drain */
            }
            sub->pend = p->next;
            if (sub->pend == NULL) {
                sub->pend_tail = &sub->pend;
            }
            sub->owed[p->t->index / 64] &= ~((uint64_t)1 << (p->t->index % 64));
            free(p);
        }
    }
}

int seam_server_publish(seam_server *server, const char *topic, const seam_value *value)
{
    if (server == NULL || topic == NULL || value == NULL) {
        return SEAM_EINVAL;
    }
    if (server->closed) {
        return SEAM_ECLOSED;
    }
    size_t len = strlen(topic);
    int r = seam__pubsub_name_check(topic, len, max_topic_len(server), false);
    if (r < 0) {
        return r;
    }
    seam__buf enc = {0};
    size_t nfds = 0;
    size_t max_value = server->cfg.max_retained_value != 0 ? server->cfg.max_retained_value
                                                           : SEAM__PUBSUB_MAX_VALUE;
    if ((r = seam__encode(value, &enc, NULL, 0, &nfds)) == 0 && enc.len > max_value) {
        r = SEAM_EMSGSIZE;
    }
    seam__topic *t = NULL;
    if (r == 0 && (r = pubsub_make(server)) == 0 && (t = topic_find(server, topic, len)) == NULL) {
        if (server->pubsub->ntopics >= max_topics(server)) {
            r = SEAM_ENOBUFS;
        } else if ((t = topic_add(server, topic, len)) == NULL) {
            r = SEAM_ENOMEM;
        }
    }
    if (r < 0) {
        seam__buf_free(&enc);
        return r;
    }
    free(t->enc);
    t->enc = enc.data;
    t->enc_len = enc.len;
    t->seq++;
    seam__loop_enter(server->loop);
    for (seam_conn *c = server->peers; c != NULL; c = c->snext) {
        if (c->state != SEAM__CONN_OPEN || c->user_closed) {
            continue;
        }
        for (struct seam__sub *sub = c->subs; sub != NULL; sub = sub->next) {
            if (sub_matches(sub, t)) {
                deliver(c, sub, t);
            }
        }
    }
    seam__loop_leave(server->loop);
    return 0;
}

/* ---- a peer's subscriptions ---- */

static struct seam__sub *sub_find(seam_conn *c, uint64_t id, struct seam__sub ***link)
{
    struct seam__sub **l = &c->subs;
    for (; *l != NULL; l = &(*l)->next) {
        if ((*l)->id == id) {
            break;
        }
    }
    if (link != NULL) {
        *link = l;
    }
    return *l;
}

static void sub_free(struct seam__sub *sub)
{
    for (seam__pend *p = sub->pend, *n; p != NULL; p = n) {
        n = p->next;
        free(p);
    }
    free(sub->owed);
    free(sub);
}

void seam__pubsub_peer_free(seam_conn *c)
{
    for (struct seam__sub *sub = c->subs, *n; sub != NULL; sub = n) {
        n = sub->next;
        sub_free(sub);
    }
    c->subs = NULL;
    c->nsubs = 0;
}

/* Answers a subscribe with an error; the connection goes on. */
static void refuse(seam_conn *c, uint64_t id, int code, const char *why)
{
    seam__conn_queue_error(c, id, code, why, NULL);
}

static void on_subscribe(seam_conn *c, const seam__frame *f)
{
    seam_server *s = c->server;
    if (s == NULL) {
        refuse(c, f->h.id, SEAM_ENOTSUP, "a client publishes nothing");
        return;
    }
    seam_value *m = NULL;
    int d = seam__decode(f->payload, f->h.len, &c->cfg.limits, NULL, 0, &m);
    seam_value *pv = d == 0 ? seam_dict_get(m, "topic") : NULL;
    if (pv == NULL || seam_value_type(pv) != SEAM_TYPE_STRING) {
        seam_value_unref(m);
        seam__conn_fail(c, d < 0 ? d : SEAM_EPROTO);
        return;
    }
    size_t len = 0;
    const char *pattern = seam_value_get_string(pv, &len);
    if (sub_find(c, f->h.id, NULL) != NULL) {
        seam_value_unref(m);
        seam__conn_fail(c, SEAM_EPROTO); /* the id of a live subscription */
        return;
    }
    int r = seam__pubsub_name_check(pattern, len, max_topic_len(s), true);
    unsigned max_subs =
        s->cfg.max_subscriptions != 0 ? s->cfg.max_subscriptions : SEAM__PUBSUB_MAX_SUBSCRIPTIONS;
    struct seam__sub *sub = NULL;
    if (r == 0 && c->nsubs >= max_subs) {
        r = SEAM_ENOBUFS;
    }
    if (r == 0 && (sub = calloc(1, sizeof(*sub) + len + 1)) == NULL) {
        r = SEAM_ENOMEM;
    }
    if (r < 0) {
        seam_value_unref(m);
        refuse(c, f->h.id, r, r == SEAM_ENOBUFS ? "too many subscriptions" : seam_strerror(r));
        return;
    }
    memcpy(sub->pattern, pattern, len);
    seam_value_unref(m);
    sub->id = f->h.id;
    sub->prefix = sub->pattern[len - 1] == '*';
    sub->len = sub->prefix ? len - 1 : len;
    sub->pend_tail = &sub->pend;
    sub->next = c->subs;
    c->subs = sub;
    c->nsubs++;
    /* The retained values first, in the order their topics were first
     * published, then the reply: a subscriber has the state when its
     * subscribe is answered. */
    uint64_t retained = 0;
    for (seam__topic *t = s->pubsub != NULL ? s->pubsub->first : NULL; t != NULL; t = t->later) {
        if (sub_matches(sub, t)) {
            deliver(c, sub, t);
            retained++;
        }
    }
    seam_value *reply = seam_value_new_dict();
    if (reply != NULL &&
        seam_dict_set_take(reply, "retained", seam_value_new_uint64(retained)) == 0) {
        seam__conn_queue_value(c, SEAM__KIND_REPLY, f->h.id, reply, false);
    } else {
        refuse(c, f->h.id, SEAM_ENOMEM, "out of memory");
    }
    seam_value_unref(reply);
}

void seam__pubsub_frame(seam_conn *c, const seam__frame *f)
{
    switch (f->h.kind) {
    case SEAM__KIND_SUBSCRIBE:
        on_subscribe(c, f);
        return;
    case SEAM__KIND_UNSUBSCRIBE: {
        struct seam__sub **link = NULL;
        struct seam__sub *sub = sub_find(c, f->h.id, &link);
        if (sub != NULL) {
            *link = sub->next;
            c->nsubs--;
            sub_free(sub);
        }
        return; /* an id not subscribed is ignored */
    }
    default:
        if (c->server != NULL) {
            seam__conn_fail(c, SEAM_EPROTO); /* updates go to subscribers only */
            return;
        }
        seam__pubsub_on_update(c, f);
        return;
    }
}
