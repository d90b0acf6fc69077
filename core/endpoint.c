/* SPDX-License-Identifier: MIT */
/* endpoint.c - anonymous endpoints: a server with no name, reached only
 * through its endpoint descriptor, which travels in messages; and the
 * connection a holder makes from it. The rendezvous itself is the
 * transport's (listen_anon, dial_endpoint). */
#include "conn.h"

int seam_endpoint_listen(seam_loop *loop, unsigned flags, const seam_server_config *config,
                         seam_server **out)
{
    if (loop == NULL) {
        return SEAM_EINVAL;
    }
    if (out == NULL) {
        return SEAM_EINVAL;
    }
    if ((flags & ~SEAM_ENDPOINT_INPROC) != 0) {
        return SEAM_EINVAL;
    }
    if (loop->freeing) {
        return SEAM_ECLOSED;
    }
    const seam__tran *tran =
        (flags & SEAM_ENDPOINT_INPROC) != 0 ? &seam__tran_inproc : &seam__tran_unix;
    return seam__server_open(loop, tran, NULL, config, out);
}

int seam_endpoint_fd(const seam_server *server)
{
    if (server == NULL) {
        return SEAM_EINVAL;
    }
    if (server->closed) {
        return SEAM_ECLOSED;
    }
    if (server->tran->listener_endpoint == NULL) {
        return SEAM_EINVAL;
    }
    int fd = server->tran->listener_endpoint(server->listener);
    return fd >= 0 ? fd : SEAM_EINVAL; /* a named server has none */
}

int seam_conn_connect_endpoint(seam_loop *loop, int endpoint_fd, const seam_conn_config *config,
                               seam_conn **out)
{
    if (loop == NULL) {
        return SEAM_EINVAL;
    }
    if (endpoint_fd < 0) {
        return SEAM_EINVAL;
    }
    if (out == NULL) {
        return SEAM_EINVAL;
    }
    if (loop->freeing) {
        return SEAM_ECLOSED;
    }
    const seam__tran *tran;
    int r = seam__tran_for_endpoint(endpoint_fd, &tran);
    if (r < 0) {
        return r;
    }
    return seam__conn_open(loop, tran, "", endpoint_fd, config, out);
}
