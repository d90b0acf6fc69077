/* SPDX-License-Identifier: MIT */
/* activate.c - reading the socket activation variables a service manager
 * sets (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES: systemd's protocol, the
 * one other managers follow too). Nothing here changes the environment:
 * LISTEN_PID already keeps children from taking the variables for theirs,
 * and a library has no safe moment to unset them while other threads of
 * the program may read the environment. */
#include "activate.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* More descriptors than this are not taken for a count. */
#define ACTIVATE_MAX_FDS 4096

/* A decimal number without sign, spaces or junk, at most max. */
static bool activate_number(const char *s, long max, long *out)
{
    if (s == NULL || *s < '0' || *s > '9') {
        return false;
    }
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) {
        return false;
    }
    *out = v;
    return true;
}

int seam__activation_read(seam__activation *out)
{
    memset(out, 0, sizeof(*out));
    long pid = 0;
    if (!activate_number(getenv("LISTEN_PID"), LONG_MAX, &pid) || pid != (long)getpid()) {
        return 0;
    }
    long n = 0;
    if (!activate_number(getenv("LISTEN_FDS"), ACTIVATE_MAX_FDS, &n)) {
        return SEAM_EINVAL;
    }
    const char *names = getenv("LISTEN_FDNAMES");
    if (names != NULL && n > 0) {
        size_t len = strlen(names);
        long count = 1;
        for (size_t i = 0; i < len; i++) {
            count += names[i] == ':';
        }
        if (count != n) {
            return SEAM_EINVAL;
        }
        if ((out->names = malloc(len + 1)) == NULL) {
            return SEAM_ENOMEM;
        }
        for (size_t i = 0; i <= len; i++) {
            out->names[i] = names[i] == ':' ? '\0' : names[i];
        }
    }
    out->nfds = (int)n;
    return 0;
}

const char *seam__activation_name(const seam__activation *a, int i)
{
    if (a->names == NULL || i < 0 || i >= a->nfds) {
        return NULL;
    }
    const char *p = a->names;
    for (int k = 0; k < i; k++) {
        p += strlen(p) + 1;
    }
    return p;
}

void seam__activation_free(seam__activation *a)
{
    free(a->names);
    a->names = NULL;
    a->nfds = 0;
}
