/* SPDX-License-Identifier: MIT */
/* tran.h - the transport interface: one ops table per scheme. The protocol
 * state machine (connections, servers, the loop) reaches bytes, descriptors
 * and peers only through it; a transport knows nothing of frames.
 *
 * A transport makes listeners (which own the name they listen on: its
 * files, locks and their removal) and pipes (one per connection). Both are
 * structs of the transport's that begin with the base structs below. Every
 * function returns a negative SEAM_E* or errno code on failure. */
#ifndef SEAM_TRAN_H
#define SEAM_TRAN_H

#include "internal.h"
#include "seam/loop.h"

#include <sys/types.h>
#include <sys/uio.h>

/* Capability bits (seam__tran.caps). */
#define SEAM__TRAN_FDS   (1u << 0) /* passes descriptors */
#define SEAM__TRAN_CREDS (1u << 1) /* the kernel vouches for the peer's uid/gid/pid */
#define SEAM__TRAN_PIDFD (1u << 2) /* ... and can name its process with a pidfd */

/* Most descriptors one receive can hand over, on any transport (the
 * kernel's SCM_MAX_FD): the receive array the core passes has this many. */
#define SEAM__TRAN_MAX_RECV_FDS 253

/* dial() could not finish at once: the pipe exists in a CONNECTING state;
 * wait for its descriptor to become writable and ask dial_check(). */
#define SEAM__TRAN_INPROGRESS 1

/* Room for the longest address a transport resolves a name to, NUL
 * included: "inproc:" and a name of 200 characters (a Unix socket path is
 * shorter: sockaddr_un's sun_path, 108). */
#define SEAM__TRAN_ADDR_MAX 208

/* Descriptors a shared-memory setup frame carries: the ring, the data
 * doorbell, the channel (docs/protocol.md, "Shared memory"). */
#define SEAM__TRAN_SHM_FDS 3

typedef struct seam__tran seam__tran;

typedef struct seam__pipe {
    const seam__tran *tran;
} seam__pipe;

typedef struct seam__listener {
    const seam__tran *tran;
} seam__listener;

struct seam__tran {
    const char *scheme;
    seam_peer_kind peer_kind; /* as seam_peer reports its peers */
    unsigned caps;
    /* Descriptors one send may carry (0 where none pass). */
    size_t max_send_fds;

    /* ---- naming and listening ---- */

    /* The address a service name stands for (as seam_name_path()). */
    int (*resolve)(const char *name, char *addr, size_t len);
    /* Listens on name (resolve()d already, so known to be valid), owning
     * it until listener_close, with the name's permission bits set to mode
     * where the transport has them (0: the default; set before any peer
     * can connect). */
    int (*listen)(const char *name, unsigned mode, seam__listener **out);
    /* The address the listener owns (for unix, its socket's path). */
    const char *(*listener_addr)(const seam__listener *l);
    /* The descriptor to watch for peers waiting (or -1: none). */
    int (*listener_fd)(const seam__listener *l);
    /* Returns 1 with *out set, 0 when nobody waits, or an error (-EMFILE
     * and -ENFILE: out of descriptors, see reserve). */
    int (*accept)(seam__listener *l, seam__pipe **out);
    /* Optional: with give_up, frees a descriptor kept in reserve so that
     * one waiting peer can be taken (and told why it is refused) when
     * descriptors ran out; without, takes the reserve again. Returns 0, or
     * an error when there is no reserve to give up. */
    int (*reserve)(seam__listener *l, bool give_up);
    /* Gives up the name at once (a successor may take it) and the
     * reserve; the listener's descriptor stays open for listener_free. */
    void (*listener_close)(seam__listener *l);
    /* Makes the listener take no more peers while it is still watched. */
    void (*listener_hangup)(seam__listener *l);
    /* Frees the listener once nothing watches its descriptor. */
    void (*listener_free)(seam__listener *l);
    /* Optional: whether the listener took over a socket it was handed
     * (socket activation) instead of making one. */
    bool (*listener_activated)(const seam__listener *l);

    /* ---- anonymous endpoints ----
     * A listener with no name, reached only through its endpoint: a
     * descriptor that travels in messages. */

    /* Optional: makes an anonymous listener. */
    int (*listen_anon)(seam__listener **out);
    /* The endpoint descriptor of an anonymous listener (the listener's; -1
     * for a named one or once closed). */
    int (*listener_endpoint)(const seam__listener *l);
    /* Connects through endpoint fd (borrowed): as dial(), and
     * SEAM_ENOTENDPOINT when fd is no endpoint of this transport. */
    int (*dial_endpoint)(int fd, seam__pipe **out);

    /* ---- pipes ---- */

    /* Connects to addr: 0 connected, SEAM__TRAN_INPROGRESS (the pipe is
     * made and connecting), SEAM_ENOTFOUND when nobody listens there,
     * SEAM_EAGAIN when its backlog is full. */
    int (*dial)(const char *addr, seam__pipe **out);
    /* For a pipe dial() left in progress: 0 connected, SEAM_EAGAIN still
     * connecting, or why it failed. */
    int (*dial_check)(seam__pipe *p);
    /* Sends from iov with fds (nfds <= max_send_fds) attached to the first
     * byte. Returns the bytes taken (never 0 for a non-empty iov) or an
     * error; SEAM_EAGAIN when the pipe is full. Never raises SIGPIPE. */
    ssize_t (*sendv)(seam__pipe *p, const struct iovec *iov, size_t iovcnt, const int *fds,
                     size_t nfds);
    /* Receives up to len bytes; descriptors that arrive are appended to
     * fds[*nfds..max_fds) (the rest are closed and *truncated set).
     * Returns the bytes read, 0 at end of stream, or an error (SEAM_EAGAIN
     * when nothing is there). */
    ssize_t (*recv)(seam__pipe *p, void *buf, size_t len, int *fds, size_t max_fds, size_t *nfds,
                    bool *truncated);
    /* Optional, used instead of recv when set: hands over bytes (those of
     * one send at least, never past the descriptors of the next) as memory
     * the caller owns, *data inside *owner, which the caller frees with
     * free(); the frames in it are parsed where they lie. Descriptors and
     * returns as recv. */
    ssize_t (*recv_block)(seam__pipe *p, const uint8_t **data, void **owner, int *fds,
                          size_t max_fds, size_t *nfds, bool *truncated);
    /* Who the peer is; out->pidfd only with want_pidfd (and then owned by
     * the caller). */
    int (*peer)(seam__pipe *p, bool want_pidfd, seam_peer *out);
    /* A pidfd for the peer's process, or -1 where there is none. */
    int (*peer_pidfd)(seam__pipe *p);
    /* Optional: the peer's supplementary groups as the kernel recorded
     * them when it connected, in a malloc'd array (*gids, *n) the caller
     * frees. */
    int (*peer_groups)(seam__pipe *p, uint32_t **gids, size_t *n);
    /* The descriptor the adapter watches, or -1: then the transport raises
     * readiness itself (below). */
    int (*fd)(const seam__pipe *p);

    /* Optional: what the adapter is to watch fd() for when the core waits
     * for want (a transport whose descriptor stands for several, e.g. an
     * epoll set, is only ever readable). Where set, readiness the adapter
     * reports means any of want may be ready: the core tries each. */
    unsigned (*watch_events)(seam__pipe *p, unsigned want);

    /* ---- switching the data path to shared memory (optional) ----
     * docs/protocol.md, "Shared memory". shm_offer: the ring size our hello
     * announces (0: none), from the size the connection wants (0: the
     * default). shm_start: makes our outgoing ring and
     * doorbells, lending the descriptors the setup frame carries.
     * shm_switch_send: after `after` more bytes over the socket, sends go
     * over the ring. shm_attach: the peer's setup frame arrived (fds taken
     * whatever the outcome): receives come from its ring, of the size its
     * hello announced. shm_active: bit 0 sending, bit 1 receiving over
     * rings. */
    uint64_t (*shm_offer)(seam__pipe *p, uint64_t want);
    int (*shm_start)(seam__pipe *p, int fds[SEAM__TRAN_SHM_FDS]);
    void (*shm_switch_send)(seam__pipe *p, size_t after);
    int (*shm_attach)(seam__pipe *p, const int *fds, size_t nfds, uint64_t size);
    unsigned (*shm_active)(const seam__pipe *p);

    /* ---- readiness without a descriptor (fd() or listener_fd() is -1) ----
     * The core gives the transport a watch; the transport calls
     * seam__watch_raise(w) (runtime.h), from any thread and with the lock
     * that notify() takes held, whenever the handle may have become ready:
     * bytes or a hang-up arrived, room was made after a send was refused,
     * a peer waits to be accepted. The core then asks wait(p, events, 0)
     * (for a listener, listener_ready) what is ready, never inline. notify
     * with NULL returns once the transport will raise nothing more. */
    void (*notify)(seam__pipe *p, struct seam_watch *w);
    void (*listener_notify)(seam__listener *l, struct seam_watch *w);
    /* SEAM_READ when a peer waits to be accepted, else 0. */
    unsigned (*listener_ready)(seam__listener *l);
    /* Waits up to timeout_ms (-1: no bound) for events (SEAM_READ,
     * SEAM_WRITE) on p alone, for the sync call. Returns the events that
     * are ready (a hang-up counts as READ), 0 when the time ran out or a
     * signal came, or an error. */
    int (*wait)(seam__pipe *p, unsigned events, int timeout_ms);
    /* Tells the peer we are gone (its reads end) while the pipe stays
     * allocated for whoever still watches it. */
    void (*hangup)(seam__pipe *p);
    /* Frees p (and closes its descriptor) once nothing watches it. */
    void (*close)(seam__pipe *p);
};

/* The transport for a service name or address: "inproc:NAME" the
 * in-process one, any other the Unix one. */
const seam__tran *seam__tran_for(const char *name);

/* The transport an endpoint descriptor belongs to (a socket: the Unix
 * one; a pipe: the in-process one), or SEAM_ENOTENDPOINT. */
int seam__tran_for_endpoint(int fd, const seam__tran **out);

extern const seam__tran seam__tran_unix;
extern const seam__tran seam__tran_inproc;

/* Whether the in-process transport has a listener on name ("inproc:N"):
 * 1, 0, or SEAM_EINVAL for a malformed name. */
int seam__inproc_owned(const char *name);

/* Convenience: the same with a single buffer. */
static inline ssize_t seam__pipe_send(seam__pipe *p, const void *buf, size_t len)
{
    struct iovec iov = {(void *)buf, len};
    return p->tran->sendv(p, &iov, 1, NULL, 0);
}

#endif /* SEAM_TRAN_H */
