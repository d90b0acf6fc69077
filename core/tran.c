/* SPDX-License-Identifier: MIT */
/* tran.c - which transport a name or an endpoint is for. */
#include "tran.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

const seam__tran *seam__tran_for(const char *name)
{
    if (strncmp(name, "inproc:", 7) == 0) {
        return &seam__tran_inproc;
    }
    return &seam__tran_unix;
}

int seam__tran_for_endpoint(int fd, const seam__tran **out)
{
    struct stat st;
    if (fd < 0) {
        return SEAM_EINVAL;
    }
    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    if (S_ISSOCK(st.st_mode)) {
        *out = &seam__tran_unix;
    } else if (S_ISFIFO(st.st_mode)) {
        *out = &seam__tran_inproc;
    } else {
        return SEAM_ENOTENDPOINT;
    }
    return 0;
}
