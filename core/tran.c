/* SPDX-License-Identifier: MIT */
/* tran.c - which transport a name is for. */
#include "tran.h"

#include <string.h>

const seam__tran *seam__tran_for(const char *name)
{
    if (strncmp(name, "inproc:", 7) == 0) {
        return &seam__tran_inproc;
    }
    return &seam__tran_unix;
}
