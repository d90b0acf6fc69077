/* SPDX-License-Identifier: MIT */
/* test_memfd.c - the sealed-memfd payload checks on real memfds: a memfd
 * made from bytes maps read-only with those bytes; a receiver refuses,
 * before mapping, a memfd missing any required seal or of a size other
 * than announced; a sender's own memfd is sealed, a non-memfd refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "memfd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BIG (16u << 20)

static int filled_memfd(size_t len, unsigned seals)
{
    int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    assert_int_equal(len > 0 ? fallocate(fd, 0, 0, (off_t)len) : 0, 0);
    if (len > 0)
        assert_int_equal(pwrite(fd, "abc", 3, 0), 3);
    if (seals != 0)
        assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
    return fd;
}

static void test_memfd_from_bytes_maps_read_only_with_the_bytes(void **state)
{
    (void)state;
    uint8_t *bytes = malloc(BIG);
    assert_non_null(bytes);
    for (size_t i = 0; i < BIG; i++)
        bytes[i] = (uint8_t)(i * 7u);
    int fd = seam__memfd_from_bytes(bytes, BIG);
    assert_true(fd >= 0);
    const void *p;
    assert_int_equal(seam__memfd_map(fd, BIG, &p), 0);
    assert_non_null(p);
    assert_memory_equal(p, bytes, BIG);
    /* read-only: the mapping cannot be made writable */
    assert_int_not_equal(mprotect((void *)p, 4096, PROT_READ | PROT_WRITE), 0);
    seam__memfd_unmap(p, BIG);
    close(fd);
    free(bytes);
}

static void test_memfd_unsealed_is_refused_before_mapping(void **state)
{
    (void)state;
    int fd = filled_memfd(4096, 0);
    const void *p = (const void *)1;
    assert_int_equal(seam__memfd_map(fd, 4096, &p), -EPERM);
    assert_null(p);
    close(fd);
}

static void test_memfd_missing_shrink_seal_is_refused(void **state)
{
    (void)state;
    int fd = filled_memfd(4096, F_SEAL_SEAL | F_SEAL_GROW | F_SEAL_WRITE);
    const void *p;
    assert_int_equal(seam__memfd_map(fd, 4096, &p), -EPERM);
    assert_null(p);
    close(fd);
}

static void test_memfd_missing_write_seal_is_refused(void **state)
{
    (void)state;
    int fd = filled_memfd(4096, F_SEAL_SEAL | F_SEAL_GROW | F_SEAL_SHRINK);
    const void *p;
    assert_int_equal(seam__memfd_map(fd, 4096, &p), -EPERM);
    close(fd);
}

static void test_memfd_of_another_size_than_announced_is_refused(void **state)
{
    (void)state;
    int fd = filled_memfd(4096, SEAM__MEMFD_SEALS_REQUIRED);
    const void *p;
    assert_int_equal(seam__memfd_map(fd, 8192, &p), -EINVAL);
    assert_null(p);
    assert_int_equal(seam__memfd_map(fd, 4095, &p), -EINVAL);
    assert_int_equal(seam__memfd_map(fd, 4096, &p), 0);
    seam__memfd_unmap(p, 4096);
    close(fd);
}

static void test_memfd_a_pipe_is_not_a_payload(void **state)
{
    (void)state;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    const void *p;
    assert_int_equal(seam__memfd_map(pfd[0], 0, &p), -EPERM);
    assert_int_equal(seam__memfd_seal(pfd[0], 0), -EBADF);
    close(pfd[0]);
    close(pfd[1]);
}

static void test_memfd_a_senders_own_memfd_is_sealed(void **state)
{
    (void)state;
    int fd = filled_memfd(10000, 0);
    assert_int_equal(seam__memfd_seal(fd, 9999), -EINVAL);
    assert_int_equal(seam__memfd_seal(fd, 10000), 0);
    assert_int_equal(fcntl(fd, F_GET_SEALS) & (int)SEAM__MEMFD_SEALS_REQUIRED,
                     (int)SEAM__MEMFD_SEALS_REQUIRED);
    const void *p;
    assert_int_equal(seam__memfd_map(fd, 10000, &p), 0);
    assert_memory_equal(p, "abc", 3);
    seam__memfd_unmap(p, 10000);
    /* sealing again is a no-op */
    assert_int_equal(seam__memfd_seal(fd, 10000), 0);
    close(fd);
}

static void test_memfd_a_memfd_still_mapped_writable_cannot_be_sealed(void **state)
{
    (void)state;
    int fd = filled_memfd(4096, 0);
    void *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(w != MAP_FAILED);
    assert_int_equal(seam__memfd_seal(fd, 4096), -EBUSY);
    munmap(w, 4096);
    assert_int_equal(seam__memfd_seal(fd, 4096), 0);
    close(fd);
}

static void test_memfd_sealed_against_seals_without_ours_is_refused(void **state)
{
    (void)state;
    int fd = filled_memfd(4096, F_SEAL_SEAL);
    assert_int_equal(seam__memfd_seal(fd, 4096), -EPERM);
    close(fd);
}

static void test_memfd_empty_payload_maps_to_nothing(void **state)
{
    (void)state;
    int fd = seam__memfd_from_bytes("", 0);
    assert_true(fd >= 0);
    const void *p = (const void *)1;
    assert_int_equal(seam__memfd_map(fd, 0, &p), 0);
    assert_null(p);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memfd_from_bytes_maps_read_only_with_the_bytes),
        cmocka_unit_test(test_memfd_unsealed_is_refused_before_mapping),
        cmocka_unit_test(test_memfd_missing_shrink_seal_is_refused),
        cmocka_unit_test(test_memfd_missing_write_seal_is_refused),
        cmocka_unit_test(test_memfd_of_another_size_than_announced_is_refused),
        cmocka_unit_test(test_memfd_a_pipe_is_not_a_payload),
        cmocka_unit_test(test_memfd_a_senders_own_memfd_is_sealed),
        cmocka_unit_test(test_memfd_a_memfd_still_mapped_writable_cannot_be_sealed),
        cmocka_unit_test(test_memfd_sealed_against_seals_without_ours_is_refused),
        cmocka_unit_test(test_memfd_empty_payload_maps_to_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
