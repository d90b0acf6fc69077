/* SPDX-License-Identifier: MIT */
/* names.h - service names to socket paths, and owning a name with a lock. */
#ifndef SEAM_NAMES_H
#define SEAM_NAMES_H

#include "internal.h"

#include <sys/types.h>
#include <sys/un.h>

#define SEAM__PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* What a server holds of its name: the directory of its socket, opened
 * once (every later file operation is relative to it, so the directory
 * checked is the one used), the lock, and which inodes it made, so that it
 * removes only its own files (a successor may have replaced them). */
typedef struct seam__name {
    int dir_fd;
    char path[SEAM__PATH_MAX]; /* the socket's path, as reported */
    char leaf[SEAM__PATH_MAX]; /* the socket's name in dir_fd */
    int lock_fd;
    dev_t lock_dev;
    ino_t lock_ino;
    bool have_socket;
    dev_t sock_dev;
    ino_t sock_ino;
} seam__name;

/* Resolves name to its socket and opens the socket's directory (for a
 * name, the runtime directory, checked as seam_runtime_dir() does). The
 * lock is not taken. Returns 0, or as seam_name_path(). */
int seam__name_open(const char *name, seam__name *out);

/* Takes the lock of the socket. Returns 0, SEAM_EADDRINUSE if a live owner
 * holds it or a socket at the path still takes connections or is another
 * user's, SEAM_EEXIST if something that is not a socket is at the path
 * (it is left alone), SEAM_EACCES for a lock file that is not a regular
 * file of ours. A dead socket of ours at the path is removed. */
int seam__name_acquire(seam__name *name);

/* Takes the lock of a name whose socket was inherited already bound and
 * listening (socket activation): as seam__name_acquire, but what is at
 * the path is left alone, and (no seam__name_bound) never removed. */
int seam__name_adopt(seam__name *name);

/* Notes the inode of the socket bound at the path (right after it
 * appeared there), so that release can tell it from a successor's. */
void seam__name_bound(seam__name *name, dev_t dev, ino_t ino);

/* Removes the socket and the lock file where they are still the ones this
 * owner made, gives up the lock and closes the directory. */
void seam__name_release(seam__name *name);

/* Removes leaf in dir_fd only if it is a socket. */
void seam__unlink_socket_at(int dir_fd, const char *leaf);

#endif /* SEAM_NAMES_H */
