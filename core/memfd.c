/* SPDX-License-Identifier: MIT */
/* memfd.c - large payloads as sealed memfds (see memfd.h). */
#include "memfd.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__linux__) && defined(F_ADD_SEALS)
#define REQUIRED (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
_Static_assert(REQUIRED == SEAM__MEMFD_SEALS_REQUIRED, "seal bits");

static int write_all(int fd, const void *bytes, size_t len)
{
    const char *p = bytes;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int seam__memfd_from_bytes(const void *bytes, size_t len)
{
    int fd = memfd_create("seam-payload", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    int rc = write_all(fd, bytes, len);
    if (rc == 0 && fcntl(fd, F_ADD_SEALS, REQUIRED) < 0)
        rc = -errno;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int size_is(int fd, uint64_t len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size != len)
        return -EINVAL;
    /* Every page of it allocated: a hole costs its sender nothing, and
     * the receiver reading it would allocate the page (charged to the
     * receiver, held as long as the sender keeps the memfd). */
    if (st.st_blocks < 0 || (uint64_t)st.st_blocks < (len + 511) / 512)
        return -EINVAL;
    return 0;
}

int seam__memfd_seal(int fd, uint64_t len)
{
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0)
        return errno == EINVAL ? -EBADF : -errno;
    if (((unsigned)seals & REQUIRED) == REQUIRED)
        return size_is(fd, len);
    if (seals & F_SEAL_SEAL)
        return -EPERM; /* sealed against further seals, without all of ours */
    int rc = size_is(fd, len);
    if (rc < 0)
        return rc;
    if (fcntl(fd, F_ADD_SEALS, REQUIRED) < 0)
        return -errno;
    return 0;
}

int seam__memfd_map(int fd, uint64_t len, const void **out)
{
    *out = NULL;
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || ((unsigned)seals & REQUIRED) != REQUIRED)
        return -EPERM;
    int rc = size_is(fd, len);
    if (rc < 0)
        return rc;
    if (len == 0)
        return 0;
    if (len > SIZE_MAX)
        return -ENOMEM;
    void *p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

void seam__memfd_unmap(const void *p, uint64_t len)
{
    if (p != NULL && len > 0)
        munmap((void *)p, (size_t)len);
}
#else
int seam__memfd_from_bytes(const void *bytes, size_t len)
{
    (void)bytes;
    (void)len;
    return -ENOSYS;
}
int seam__memfd_seal(int fd, uint64_t len)
{
    (void)fd;
    (void)len;
    return -ENOSYS;
}
int seam__memfd_map(int fd, uint64_t len, const void **out)
{
    (void)fd;
    (void)len;
    *out = NULL;
    return -ENOSYS;
}
void seam__memfd_unmap(const void *p, uint64_t len)
{
    (void)p;
    (void)len;
}
#endif
