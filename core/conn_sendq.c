/* SPDX-License-Identifier: MIT */
/* conn_sendq.c - the send queue: bytes, the descriptors and no-copy
 * payloads that go with them, compaction and shrinking, and writing it to
 * the transport (interest, drain on the peer's end of input). */
#include "conn_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Gives every no-copy payload not yet written back to its owner. */
void seam__conn_ext_clear(seam_conn *c)
{
    while (c->ext_head < c->ext_len) {
        seam__extrec x = c->ext[c->ext_head++];
        x.release(x.bytes, x.userdata);
    }
    c->ext_head = 0;
    c->ext_len = 0;
    c->ext_queued = 0;
}

void seam__conn_fdq_clear(seam_conn *c)
{
    for (size_t i = c->fdq_head; i < c->fdq_len; i++) {
        for (size_t k = 0; k < c->fdq[i]->nfds; k++) {
            close(c->fdq[i]->fds[k]);
        }
        free(c->fdq[i]);
    }
    c->fdq_head = 0;
    c->fdq_len = 0;
    c->fdq_fds = 0;
    c->ans_fds = 0;
}

size_t seam__conn_queued(const seam_conn *c)
{
    return c->out.len - c->out_off + c->ext_queued;
}

/* Moves what is still queued to the front of the buffer once at least as
 * much before it was written: the buffer stays small and warm in the cache,
 * which measured faster than moving fewer bytes through a larger one.
 * Large payloads avoid the copy altogether (seam_conn_send_raw_nocopy). */
static void queue_compact(seam_conn *c)
{
    size_t keep = c->out.len - c->out_off;
    if (c->state != SEAM__CONN_OPEN || c->out_off < OUT_COMPACT_MIN || keep > c->out_off) {
        return;
    }
    memmove(c->out.data, c->out.data + c->out_off, keep);
    for (size_t i = c->fdq_head; i < c->fdq_len; i++) {
        c->fdq[i]->offset -= c->out_off;
    }
    for (size_t i = c->ext_head; i < c->ext_len; i++) {
        c->ext[i].offset -= c->out_off;
    }
    c->out_off = 0;
    c->out.len = keep;
}

/* Makes room for one more record in the descriptor queue. */
int seam__conn_fdq_reserve(seam_conn *c)
{
    if (c->fdq_len < c->fdq_cap) {
        return 0;
    }
    if (c->fdq_head > 0) {
        memmove(c->fdq, c->fdq + c->fdq_head, (c->fdq_len - c->fdq_head) * sizeof(*c->fdq));
        c->fdq_len -= c->fdq_head;
        c->fdq_head = 0;
        return 0;
    }
    size_t cap = c->fdq_cap ? c->fdq_cap * 2 : 8;
    seam__fdrec **q = realloc(c->fdq, cap * sizeof(*q));
    if (q == NULL) {
        return SEAM_ENOMEM;
    }
    c->fdq = q;
    c->fdq_cap = cap;
    return 0;
}

void seam__conn_update_interest(seam_conn *c)
{
    if (c->watch == NULL) {
        return;
    }
    size_t limit = c->state == SEAM__CONN_OPEN ? c->out.len : c->hello_end;
    bool pending = c->out_off < limit || c->ext_head < c->ext_len;
    bool reading = !c->draining && !seam__conn_input_stopped(c);
    unsigned want = (reading ? SEAM_READ : 0) | (pending ? SEAM_WRITE : 0);
    seam__watch_update(c->watch, seam__conn_watch_events(c, c->pipe, want));
}

/* The peer's input ended while answers still wait for it (it may have
 * shut down only its writing side): they go out first, within the
 * handshake timeout, then the connection ends as it would have. */
void seam__conn_drain_start(seam_conn *c)
{
    c->draining = true;
    seam__timer_start(c->loop, &c->handshake_timer, (uint64_t)c->cfg.handshake_timeout_ms);
    seam__conn_update_interest(c);
}

static void drain_done(seam_conn *c)
{
    if (c->fail_due == 0) {
        c->fail_due = SEAM_ECONNRESET;
    }
    seam__conn_kick(c);
}

/* Done once the answers are out and no input waits to be handled. */
void seam__conn_drain_check(seam_conn *c)
{
    if (c->draining && seam__conn_queued(c) == 0 && c->in_pending.len == 0) {
        drain_done(c);
    }
}

/* n bytes of the first pending no-copy payload were written. */
static void ext_wrote(seam_conn *c, size_t n)
{
    seam__extrec *x = &c->ext[c->ext_head];
    x->sent += n;
    c->ext_queued -= n;
    c->stats.bytes_out += n;
    if (x->sent == x->len) {
        c->ext_head++;
        x->release(x->bytes, x->userdata);
    }
}

/* Keeps a working buffer of a drained queue, and no more. */
void seam__conn_out_shrink(seam_conn *c)
{
    c->shrink_due = false;
    if (c->out.len == 0 && c->out.cap > OUT_KEEP_MAX) {
        uint8_t *keep = realloc(c->out.data, OUT_KEEP_MAX);
        if (keep != NULL) {
            c->out.data = keep;
            c->out.cap = OUT_KEEP_MAX;
        }
    }
}

/* Writes what the socket takes. Returns 0 or the error that broke the
 * connection (which the read side then reports). */
int seam__conn_flush(seam_conn *c)
{
    if (c->pipe == NULL || c->state == SEAM__CONN_CONNECTING) {
        return 0;
    }
    int err = 0;
    for (;;) {
        size_t limit = c->state == SEAM__CONN_OPEN ? c->out.len : c->hello_end;
        seam__extrec *x = c->ext_head < c->ext_len ? &c->ext[c->ext_head] : NULL;
        if (x != NULL && x->offset == c->out_off) {
            /* The no-copy payload of the frame whose header went out. */
            ssize_t n = seam__pipe_send(c->pipe, x->bytes + x->sent, x->len - x->sent);
            if (n < 0) {
                err = n == SEAM_EAGAIN ? 0 : (int)n;
                break;
            }
            ext_wrote(c, (size_t)n);
            continue;
        }
        if (c->out_off >= limit) {
            break;
        }
        const int *fds = NULL;
        size_t nfds = 0;
        size_t end = limit;
        if (c->fdq_head < c->fdq_len) {
            seam__fdrec *rec = c->fdq[c->fdq_head];
            if (rec->offset == c->out_off) {
                fds = rec->fds;
                nfds = rec->nfds;
                if (c->fdq_head + 1 < c->fdq_len && c->fdq[c->fdq_head + 1]->offset < end) {
                    end = c->fdq[c->fdq_head + 1]->offset;
                }
            } else if (rec->offset < end) {
                end = rec->offset;
            }
        }
        /* Queue bytes up to a no-copy payload go out together with it. */
        struct iovec iov[2] = {{c->out.data + c->out_off, end - c->out_off}, {NULL, 0}};
        size_t iovcnt = 1;
        if (x != NULL && x->offset <= end) {
            iov[0].iov_len = x->offset - c->out_off;
            iov[1] = (struct iovec){(void *)(x->bytes + x->sent), x->len - x->sent};
            iovcnt = 2;
        }
        ssize_t n = c->pipe->tran->sendv(c->pipe, iov, iovcnt, fds, nfds);
        if (n == SEAM_EAGAIN) {
            break;
        }
        if (n < 0) {
            err = (int)n;
            break;
        }
        if (nfds > 0) {
            seam__fdrec *rec = c->fdq[c->fdq_head++];
            c->fdq_fds -= rec->nfds;
            for (size_t i = 0; i < rec->nfds; i++) {
                close(rec->fds[i]);
            }
            free(rec);
        }
        size_t from_queue = (size_t)n < iov[0].iov_len ? (size_t)n : iov[0].iov_len;
        c->out_off += from_queue;
        c->stats.bytes_out += from_queue;
        if ((size_t)n > from_queue) {
            ext_wrote(c, (size_t)n - from_queue);
        }
    }
    if (err != 0) {
        /* The peer is gone; reading will tell (EOF or reset). Nothing
         * queued can reach it now. */
        seam__log(c->loop, SEAM_LOG_DEBUG, "write failed: %s", seam_strerror(err));
        if (err != -EPIPE && err != -ECONNRESET && c->fail_due == 0) {
            /* Not the peer gone (reading would not tell): what was queued
             * is lost, so the connection ends, from the loop. */
            c->fail_due = err;
            seam__conn_kick(c);
        }
        c->out.len = 0;
        c->out_off = 0;
        c->hello_end = 0;
        seam__conn_fdq_clear(c);
        seam__conn_ext_clear(c);
        c->ans_queued = 0;
        c->ans_largest = 0;
        c->read_paused = false;
        seam__conn_update_interest(c);
        if (c->draining) {
            drain_done(c);
        }
        return err;
    }
    if (c->out_off == c->out.len && c->ext_head == c->ext_len) {
        c->out.len = 0;
        c->out_off = 0;
        c->hello_end = 0;
        if (c->fdq_head == c->fdq_len) {
            c->fdq_head = 0;
            c->fdq_len = 0;
        }
        if (c->out.cap > OUT_KEEP_MAX && !c->shrink_due) {
            /* One large message should not pin its memory for the
             * connection's life (the receive side frees its own too). A
             * stream refills the queue before the loop turns: only a queue
             * still empty then gives its memory back (seam__conn_out_shrink). */
            c->shrink_due = true;
            seam__conn_kick(c);
        }
    } else {
        queue_compact(c);
    }
    /* Written bytes are counted off the answers at most: an estimate from
     * above, exact once the queue drains. */
    if (c->ans_queued > seam__conn_queued(c)) {
        c->ans_queued = seam__conn_queued(c);
    }
    if (c->ans_queued == 0) {
        c->ans_largest = 0;
    }
    if (c->ans_fds > c->fdq_fds) {
        c->ans_fds = c->fdq_fds;
    }
    seam__conn_read_pause_update(c);
    seam__conn_drain_check(c);
    if (c->want_writable && seam__conn_queued(c) <= c->cfg.max_queue / 2 &&
        c->fdq_fds <= c->cfg.max_queue_fds / 2) {
        c->want_writable = false;
        c->writable_due = true;
        seam__conn_kick(c);
    }
    c->stats.queued_bytes = seam__conn_queued(c);
    seam__conn_update_interest(c);
    return 0;
}

/* Takes the frame at off out of the queue, with its descriptors. */
void seam__conn_queue_cut(seam_conn *c, size_t off, size_t len)
{
    size_t w = c->fdq_head;
    for (size_t i = c->fdq_head; i < c->fdq_len; i++) {
        seam__fdrec *rec = c->fdq[i];
        if (rec->offset == off) {
            c->fdq_fds -= rec->nfds;
            seam__conn_close_fds(rec->fds, rec->nfds);
            free(rec);
            continue;
        }
        if (rec->offset > off) {
            rec->offset -= len;
        }
        c->fdq[w++] = rec;
    }
    c->fdq_len = w;
    for (size_t i = c->ext_head; i < c->ext_len; i++) {
        if (c->ext[i].offset > off) {
            c->ext[i].offset -= len;
        }
    }
    memmove(c->out.data + off, c->out.data + off + len, c->out.len - off - len);
    c->out.len -= len;
}

/* A call ended during the handshake (cancelled, timed out) is taken out
 * of the queue: none of it was written, and sent after the hello it would
 * be a request that no one waits for, with no cancel after it. Before the
 * handshake every frame lies whole in the queue (nothing goes uncopied). */
void seam__conn_queue_cut_call(seam_conn *c, uint64_t id)
{
    if (c->state != SEAM__CONN_HANDSHAKE) {
        return;
    }
    size_t off = c->hello_end > c->out_off ? c->hello_end : c->out_off;
    while (off + SEAM__FRAME_HEADER_SIZE <= c->out.len) {
        seam__frame_header h;
        seam__frame_header_read(c->out.data + off, &h);
        size_t len = SEAM__FRAME_HEADER_SIZE + h.len;
        if ((h.kind == SEAM__KIND_REQUEST || h.kind == SEAM__KIND_PING) && h.id == id) {
            seam__conn_queue_cut(c, off, len);
            c->stats.queued_bytes = seam__conn_queued(c);
            return;
        }
        off += len;
    }
}
