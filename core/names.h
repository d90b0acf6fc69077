/* SPDX-License-Identifier: MIT */
/* names.h - service names to socket paths, and owning a name with a lock. */
#ifndef SEAM_NAMES_H
#define SEAM_NAMES_H

#include "internal.h"

#include <sys/types.h>
#include <sys/un.h>

#define SEAM__PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* What a server holds of its name: the lock, and which inodes it made, so
 * that it removes only its own files (a successor may have replaced them). */
typedef struct seam__name {
    int lock_fd;
    dev_t lock_dev;
    ino_t lock_ino;
    bool have_socket;
    dev_t sock_dev;
    ino_t sock_ino;
} seam__name;

/* Takes the lock of the socket at path. Returns 0 with *name filled in,
 * SEAM_EADDRINUSE if a live owner holds it, SEAM_EEXIST if something that
 * is not a socket is at path (it is left alone), SEAM_EACCES for a lock
 * file that is not a regular file of ours. A stale socket at path is
 * removed. */
int seam__name_acquire(const char *path, seam__name *name);

/* Notes the inode of the socket bound at path (right after it appeared
 * there), so that release can tell it from a successor's. */
void seam__name_bound(seam__name *name, dev_t dev, ino_t ino);

/* Removes the socket and the lock file where they are still the ones this
 * owner made, then gives up the lock. */
void seam__name_release(const char *path, seam__name *name);

/* Removes path only if it is a socket. */
void seam__unlink_socket(const char *path);

#endif /* SEAM_NAMES_H */
