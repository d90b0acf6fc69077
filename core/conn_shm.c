/* SPDX-License-Identifier: MIT */
/* conn_shm.c - the connection's side of the switch to shared memory:
 * offering it in our hello, sending our setup frame once both hellos
 * offered it, and taking the peer's (docs/protocol.md, "Shared memory").
 * The rings themselves are the transport's. */
#include "conn_int.h"

uint64_t seam__conn_shm_offer(const seam__pipe *p, uint64_t want)
{
    return p->tran->shm_offer != NULL ? p->tran->shm_offer((seam__pipe *)p, want) : 0;
}

unsigned seam__conn_watch_events(seam_conn *c, seam__pipe *p, unsigned want)
{
    c->want = want;
    return p->tran->watch_events != NULL ? p->tran->watch_events(p, want) : want;
}

/* Both hellos offered shared memory: our setup frame goes after all that
 * is queued, and is the last of our bytes on the socket. A ring that
 * cannot be made leaves our sends on the socket: the peer reads the
 * socket until a setup frame comes. */
void seam__conn_shm_begin(seam_conn *c)
{
    if (c->shm_offer == 0 || c->peer.shm == 0 || c->peer.max_fds < SEAM__TRAN_SHM_FDS) {
        return;
    }
    int fds[SEAM__TRAN_SHM_FDS];
    int r = c->pipe->tran->shm_start(c->pipe, fds);
    if (r == 0) {
        r = seam__conn_queue_fds_frame(c, SEAM__KIND_SHM_SETUP, fds, SEAM__TRAN_SHM_FDS);
    }
    if (r < 0) {
        seam__log(c->loop, SEAM_LOG_WARN, "shared memory not set up (%s): the socket carries all",
                  seam_strerror(r));
        return;
    }
    c->pipe->tran->shm_switch_send(c->pipe, seam__conn_queued(c));
}

/* The peer's setup frame: from here on its bytes come from its ring. One
 * that was not offered for, comes twice, or brings the wrong descriptors
 * or a ring that breaks the rules is a protocol error; a ring we lack the
 * memory to map ends the connection with ENOMEM. The transport closes
 * whatever descriptors it refuses. */
void seam__conn_on_shm_setup(seam_conn *c, const seam__frame *f, const int *fds)
{
    c->stats.messages_in--; /* the transport's, not a message */
    if (c->shm_offer == 0 || c->peer.shm == 0 || f->h.nfds != SEAM__TRAN_SHM_FDS) {
        seam__conn_close_fds(fds, f->h.nfds);
        seam__conn_fail(c, SEAM_EPROTO);
        return;
    }
    int r = c->pipe->tran->shm_attach(c->pipe, fds, f->h.nfds, c->peer.shm);
    if (r < 0) {
        seam__conn_fail(c, r == SEAM_ENOMEM ? SEAM_ENOMEM : SEAM_EPROTO);
        return;
    }
    seam__conn_update_interest(c);
}
