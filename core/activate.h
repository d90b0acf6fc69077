/* SPDX-License-Identifier: MIT */
/* activate.h - the descriptors a service manager passed to this process
 * (systemd's socket activation: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES),
 * read from the environment. Which of them a server adopts, and the checks
 * that they are what they claim, are the transport's (tran_unix.c). */
#ifndef SEAM_ACTIVATE_H
#define SEAM_ACTIVATE_H

#include "internal.h"

/* The first passed descriptor; the others follow it. */
#define SEAM__LISTEN_FDS_START 3

typedef struct seam__activation {
    int nfds;    /* passed descriptors, from SEAM__LISTEN_FDS_START on */
    char *names; /* LISTEN_FDNAMES, one NUL-ended name per descriptor; NULL: none */
} seam__activation;

/* Reads the variables. nfds is 0 when they are absent or meant for
 * another process (LISTEN_PID unset, unreadable or not ours). Returns 0,
 * SEAM_EINVAL when they are meant for us but malformed (LISTEN_FDS not a
 * count, LISTEN_FDNAMES with another number of names), or SEAM_ENOMEM.
 * The environment is left as it is. */
int seam__activation_read(seam__activation *out);
/* The name of the i-th descriptor, or NULL when names were not passed. */
const char *seam__activation_name(const seam__activation *a, int i);
void seam__activation_free(seam__activation *a);

#endif /* SEAM_ACTIVATE_H */
