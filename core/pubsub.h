/* SPDX-License-Identifier: MIT */
/* pubsub.h - retained publish/subscribe: the hooks the connection and
 * server files call (frames of kinds 10-12, a peer's queue drained, a
 * reconnect, the ends of connections and servers), and what the server
 * side (pubsub.c) and the client side (pubsub_client.c) share. */
#ifndef SEAM_PUBSUB_H
#define SEAM_PUBSUB_H

#include "conn.h"
#include "frame.h"

#define SEAM__PUBSUB_MAX_TOPICS        1024
#define SEAM__PUBSUB_MAX_SUBSCRIPTIONS 64
#define SEAM__PUBSUB_MAX_TOPIC_LEN     256
#define SEAM__PUBSUB_MAX_VALUE         65536
/* A pattern a client sends is at most this long, whatever a server allows. */
#define SEAM__PUBSUB_TOPIC_LEN_CAP     4096

/* A frame of kind subscribe, unsubscribe or update (conn_frames.c). */
void seam__pubsub_frame(seam_conn *c, const seam__frame *f);
/* A server's peer whose queue drained: coalesced updates go (conn.c). */
void seam__pubsub_drained(seam_conn *c);
/* Frees what a server's peer subscribed (its state on the server). */
void seam__pubsub_peer_free(seam_conn *c);
/* Frees a server's retained topics. */
void seam__pubsub_server_free(seam_server *s);
/* A client connection (re)started: its subscriptions are sent again. */
void seam__pubsub_client_restart(seam_conn *c);
/* Frees a client's subscriptions (the connection is being freed). */
void seam__pubsub_client_free(seam_conn *c);

/* Whether s (len bytes) is a topic name, or with prefix_ok a pattern (a
 * trailing '*' allowed): 0, SEAM_EINVAL or SEAM_ETOOLONG past max_len. */
int seam__pubsub_name_check(const char *s, size_t len, size_t max_len, bool prefix_ok);
/* Appends a CBOR head (major type, argument) in preferred serialization. */
int seam__pubsub_head(seam__buf *b, unsigned major, uint64_t arg);
/* Appends a CBOR text string. */
int seam__pubsub_text(seam__buf *b, const char *s, size_t len);

/* The client side (pubsub_client.c). */
void seam__pubsub_on_update(seam_conn *c, const seam__frame *f);

#endif /* SEAM_PUBSUB_H */
