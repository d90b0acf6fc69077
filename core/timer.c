/* SPDX-License-Identifier: MIT */
/* timer.c - the loop's timers: a pairing heap of deadlines driving the
 * adapter's one timer, and the monotonic clock. */
#include "runtime.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t seam__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A pairing heap: arming links the timer in, with no allocation, so that it
 * cannot fail and never has to fire early from inside the arming call. */

void seam__timer_init(seam__timer *t, seam__timer_fn fn)
{
    t->due_ns = 0;
    t->seq = 0;
    t->fn = fn;
    t->armed = false;
    t->child = NULL;
    t->next = NULL;
    t->prev = NULL;
}

static bool timer_before(const seam__timer *a, const seam__timer *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

/* Joins two heaps (roots without siblings); returns the new root. */
static seam__timer *timer_meld(seam__timer *a, seam__timer *b)
{
    if (a == NULL) {
        return b;
    }
    if (b == NULL) {
        return a;
    }
    if (timer_before(b, a)) {
        seam__timer *t = a;
        a = b;
        b = t;
    }
    b->next = a->child;
    if (a->child != NULL) {
        a->child->prev = b;
    }
    b->prev = a;
    a->child = b;
    return a;
}

/* Makes one heap of a list of siblings: melds them in pairs left to right,
 * then the pairs right to left (the two passes keep removal O(log n)
 * amortised). */
static seam__timer *timer_merge_pairs(seam__timer *first)
{
    seam__timer *pairs = NULL; /* melded pairs, last first, linked by next */
    while (first != NULL) {
        seam__timer *a = first;
        seam__timer *b = a->next;
        first = b != NULL ? b->next : NULL;
        a->next = NULL;
        a->prev = NULL;
        if (b != NULL) {
            b->next = NULL;
            b->prev = NULL;
        }
        seam__timer *m = timer_meld(a, b);
        m->next = pairs;
        pairs = m;
    }
    seam__timer *root = NULL;
    while (pairs != NULL) {
        seam__timer *m = pairs;
        pairs = m->next;
        m->next = NULL;
        root = timer_meld(root, m);
    }
    return root;
}

void seam__timer_stop(seam_loop *loop, seam__timer *t)
{
    if (!t->armed) {
        return;
    }
    t->armed = false;
    seam__timer *children = timer_merge_pairs(t->child);
    if (t == loop->timers) {
        loop->timers = children;
    } else {
        if (t->prev->child == t) {
            t->prev->child = t->next;
        } else {
            t->prev->next = t->next;
        }
        if (t->next != NULL) {
            t->next->prev = t->prev;
        }
        loop->timers = timer_meld(loop->timers, children);
    }
    t->child = NULL;
    t->next = NULL;
    t->prev = NULL;
    seam__loop_sync_timer(loop);
}

void seam__timer_start(seam_loop *loop, seam__timer *t, uint64_t ms)
{
    if (t->armed) {
        seam__timer_stop(loop, t);
    }
    t->due_ns = seam__now_ns() + ms * 1000000u;
    t->seq = loop->timer_seq++;
    t->armed = true;
    loop->timers = timer_meld(loop->timers, t);
    seam__loop_sync_timer(loop);
}

void seam__loop_sync_timer(seam_loop *loop)
{
    if (loop->depth > 0 || loop->detached) {
        return; /* done once at the outermost leave */
    }
    int64_t ms = -1;
    uint64_t due = 0;
    if (loop->timers != NULL && loop->armed_ms >= 0 && loop->timers->due_ns == loop->armed_due) {
        return; /* the adapter's timer already stands for this deadline */
    }
    if (loop->timers != NULL) {
        due = loop->timers->due_ns;
        uint64_t now = seam__now_ns();
        ms = due <= now ? 0 : (int64_t)((due - now + 999999u) / 1000000u);
    }
    if (ms == loop->armed_ms && (ms == -1 || due == loop->armed_due)) {
        return;
    }
    loop->armed_ms = ms;
    loop->armed_due = due;
    loop->ops->timer_set(loop->ctx, ms);
}

void seam_loop_timer_fired(seam_loop *loop)
{
    assert(loop != NULL);
    seam__loop_dispatch_enter(loop);
    loop->armed_ms = -2; /* the adapter's timer is spent */
    uint64_t now = seam__now_ns();
    /* Timers armed while this runs wait for the next expiry, so a callback
     * re-arming a 0 ms timer cannot starve the loop. */
    uint64_t last_seq = loop->timer_seq;
    while (loop->timers != NULL && loop->timers->due_ns <= now && loop->timers->seq < last_seq) {
        seam__timer *t = loop->timers;
        seam__timer_stop(loop, t);
        t->fn(t);
    }
    seam__loop_leave(loop);
}
