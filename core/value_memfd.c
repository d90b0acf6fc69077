/* SPDX-License-Identifier: MIT */
/* value_memfd.c - data values whose bytes are a read-only mapping of a
 * sealed memfd: made from one a sender filled itself, or from one a peer
 * sent (checked before it is mapped), and the account of what a peer's
 * mappings make a connection hold. */
#include "internal.h"
#include "memfd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096u

struct seam__memfd_account {
    atomic_uint refs;
    _Atomic uint64_t live;
};

/* What a memfd data value holds beside its mapping (blob.bytes). */
struct seam__memfd_blob {
    int fd;
    uint64_t charged; /* to account: its length in whole pages */
    seam__memfd_account *account;
};

seam__memfd_account *seam__memfd_account_new(void)
{
    seam__memfd_account *a = calloc(1, sizeof(*a));
    if (a != NULL) {
        atomic_init(&a->refs, 1);
        atomic_init(&a->live, 0);
    }
    return a;
}

static seam__memfd_account *account_ref(seam__memfd_account *a)
{
    if (a != NULL) {
        atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
    }
    return a;
}

void seam__memfd_account_unref(seam__memfd_account *a)
{
    if (a != NULL && atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1) {
        free(a);
    }
}

uint64_t seam__memfd_account_live(const seam__memfd_account *a)
{
    return a != NULL ? atomic_load_explicit(&a->live, memory_order_acquire) : 0;
}

/* A data value over a mapping of len bytes: takes fd and the mapping. */
static seam_value *memfd_value(int fd, const void *map, size_t len, seam__memfd_account *account,
                               uint64_t charged)
{
    seam_value *v = malloc(sizeof(seam_value) + sizeof(struct seam__memfd_blob));
    if (v == NULL) {
        return NULL;
    }
    memset(v, 0, sizeof(*v));
    atomic_init(&v->refs, 1);
    v->type = SEAM_TYPE_DATA;
    struct seam__memfd_blob *m = (struct seam__memfd_blob *)(v + 1);
    *m = (struct seam__memfd_blob){fd, charged, account_ref(account)};
    v->as.blob.bytes = (uint8_t *)map;
    v->as.blob.len = len;
    v->as.blob.cap = 0; /* never written, never grown */
    v->as.blob.memfd = m;
    if (account != NULL) {
        atomic_fetch_add_explicit(&account->live, charged, memory_order_acq_rel);
    }
    return v;
}

void seam__value_memfd_drop(seam_value *v)
{
    struct seam__memfd_blob *m = v->as.blob.memfd;
    seam__memfd_unmap(v->as.blob.bytes, v->as.blob.len);
    close(m->fd);
    if (m->account != NULL) {
        atomic_fetch_sub_explicit(&m->account->live, m->charged, memory_order_acq_rel);
        seam__memfd_account_unref(m->account);
    }
}

int seam__value_memfd(const seam_value *v)
{
    if (v == NULL || v->type != SEAM_TYPE_DATA || v->as.blob.memfd == NULL) {
        return -1;
    }
    return v->as.blob.memfd->fd;
}

seam_value *seam_value_new_data_memfd(int fd, size_t len)
{
    if (fd < 0 || len == 0) {
        errno = fd < 0 ? EBADF : EINVAL;
        return NULL;
    }
    int r = seam__memfd_seal(fd, len);
    const void *map = NULL;
    if (r == 0) {
        r = seam__memfd_map(fd, len, &map);
    }
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    seam_value *v = memfd_value(fd, map, len, NULL, 0);
    if (v == NULL) {
        seam__memfd_unmap(map, len);
        errno = ENOMEM;
    }
    return v;
}

int seam_value_get_memfd(const seam_value *v)
{
    return seam__value_memfd(v);
}

seam_value *seam__value_from_memfd(int fd, uint64_t len, const seam__dec_memfd *mf, int *err)
{
    if (len < mf->min) {
        *err = SEAM_EMEMFD;
        return NULL;
    }
    /* Checked before anything is mapped: the peer makes us hold this. A
     * length whose whole pages do not fit 64 bits (or this address space)
     * fits no bound. */
    uint64_t charged = len > UINT64_MAX - (PAGE - 1) ? UINT64_MAX : (len + PAGE - 1) / PAGE * PAGE;
    uint64_t live = seam__memfd_account_live(mf->account);
    if (charged > mf->max_live || live > mf->max_live - charged || len > SIZE_MAX - PAGE) {
        *err = SEAM_ENOBUFS;
        return NULL;
    }
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
        *err = -errno;
        return NULL;
    }
    const void *map = NULL;
    int r = seam__memfd_map(own, len, &map);
    if (r < 0) {
        close(own);
        /* A descriptor that is not a sealed memfd of that size, or one
         * not open for reading (mmap: EACCES), is the peer's fault;
         * running out of address space is ours. */
        *err = r == -EPERM || r == -EINVAL || r == -EBADF || r == -EACCES ? SEAM_EMEMFD : r;
        return NULL;
    }
    seam_value *v = memfd_value(own, map, (size_t)len, mf->account, charged);
    if (v == NULL) {
        seam__memfd_unmap(map, len);
        close(own);
        *err = SEAM_ENOMEM;
    }
    return v;
}
