/* SPDX-License-Identifier: MIT */
/* names.h - service names to socket paths, and owning a name with a lock. */
#ifndef SEAM_NAMES_H
#define SEAM_NAMES_H

#include "internal.h"

#include <sys/un.h>

#define SEAM__PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* Takes the lock of the socket at path: returns 0 with the lock's fd (to be
 * passed to seam__name_release), or SEAM_EADDRINUSE if a live owner holds
 * it. A stale socket file at path is removed. */
int seam__name_acquire(const char *path, int *lock_fd);

/* Removes the socket and its lock file, then gives up the lock. */
void seam__name_release(const char *path, int lock_fd);

#endif /* SEAM_NAMES_H */
