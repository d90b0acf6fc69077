/* SPDX-License-Identifier: MIT */
/* test_idmap.c - the id map against a plain array kept beside it: the same
 * items are found, and iteration gives them in the order they were put
 * in, across growth, removals (also of the item an iteration stands on),
 * compaction and ids that collide in the index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "idmap.h"

#define N 5000

typedef struct model {
    uint64_t ids[N];
    bool live[N];
    size_t len;
} model;

static int tags[N];

static void *item_of(size_t i)
{
    return &tags[i];
}

/* Iteration yields exactly the live model entries, in model order. */
static void assert_same(const seam__idmap *m, const model *ref)
{
    size_t pos = 0;
    size_t want = 0;
    size_t seen = 0;
    uint64_t id;
    void *item;
    while ((item = seam__idmap_next(m, &pos, &id)) != NULL) {
        while (want < ref->len && !ref->live[want]) {
            want++;
        }
        assert_true(want < ref->len);
        assert_int_equal(id, ref->ids[want]);
        assert_ptr_equal(item, item_of(want));
        assert_ptr_equal(seam__idmap_get(m, id), item);
        want++;
        seen++;
    }
    size_t live = 0;
    for (size_t i = 0; i < ref->len; i++) {
        live += ref->live[i];
    }
    assert_int_equal(seen, live);
    assert_int_equal(seam__idmap_count(m), live);
}

static void test_an_empty_map_finds_nothing_and_iterates_nothing(void **state)
{
    (void)state;
    seam__idmap m = SEAM__IDMAP_INIT;
    size_t pos = 0;
    assert_null(seam__idmap_get(&m, 1));
    assert_null(seam__idmap_remove(&m, 1));
    assert_null(seam__idmap_next(&m, &pos, NULL));
    assert_int_equal(seam__idmap_count(&m), 0);
    seam__idmap_free(&m);
}

static void test_iteration_follows_insertion_order_through_growth_and_removals(void **state)
{
    (void)state;
    static model ref;
    memset(&ref, 0, sizeof(ref));
    seam__idmap m = SEAM__IDMAP_INIT;
    srand(12);
    /* Ids that share index slots (multiples of a power of two) beside
     * increasing ones, removed at random as they would be by replies. */
    for (size_t i = 0; i < N; i++) {
        uint64_t id = (i % 3 == 0) ? (uint64_t)i << 20 : (uint64_t)i * 7 + 1;
        assert_int_equal(seam__idmap_put(&m, id, item_of(i)), 0);
        ref.ids[ref.len] = id;
        ref.live[ref.len] = true;
        ref.len++;
        if (rand() % 3 != 0 && ref.len > 1) {
            size_t victim = (size_t)rand() % ref.len;
            void *got = seam__idmap_remove(&m, ref.ids[victim]);
            assert_ptr_equal(got, ref.live[victim] ? item_of(victim) : NULL);
            ref.live[victim] = false;
        }
        if (i % 500 == 0) {
            assert_same(&m, &ref);
        }
    }
    assert_same(&m, &ref);
    for (size_t i = 0; i < ref.len; i++) {
        if (!ref.live[i]) {
            assert_null(seam__idmap_get(&m, ref.ids[i]));
        }
    }
    seam__idmap_free(&m);
}

static void test_an_iteration_may_remove_the_item_it_stands_on_and_others(void **state)
{
    (void)state;
    seam__idmap m = SEAM__IDMAP_INIT;
    for (size_t i = 0; i < 100; i++) {
        assert_int_equal(seam__idmap_put(&m, i + 1, item_of(i)), 0);
    }
    size_t pos = 0;
    uint64_t id;
    size_t visited = 0;
    uint64_t last = 0;
    while (seam__idmap_next(&m, &pos, &id) != NULL) {
        assert_true(id > last); /* in order, nothing twice */
        last = id;
        visited++;
        assert_non_null(seam__idmap_remove(&m, id));
        if (id + 1 <= 100 && id % 10 == 0) {
            seam__idmap_remove(&m, id + 1); /* the next one: skipped */
        }
    }
    assert_int_equal(visited, 100 - 9);
    assert_int_equal(seam__idmap_count(&m), 0);
    /* Emptied, it starts over and keeps working. */
    assert_int_equal(seam__idmap_put(&m, 7, item_of(7)), 0);
    assert_ptr_equal(seam__idmap_get(&m, 7), item_of(7));
    seam__idmap_free(&m);
}

static void test_take_leaves_an_empty_map_that_takes_new_items(void **state)
{
    (void)state;
    seam__idmap m = SEAM__IDMAP_INIT;
    for (size_t i = 0; i < 40; i++) {
        assert_int_equal(seam__idmap_put(&m, i, item_of(i)), 0);
    }
    seam__idmap old;
    seam__idmap_take(&m, &old);
    assert_int_equal(seam__idmap_count(&m), 0);
    assert_null(seam__idmap_get(&m, 3));
    assert_int_equal(seam__idmap_put(&m, 3, item_of(41)), 0);
    assert_ptr_equal(seam__idmap_get(&m, 3), item_of(41));
    assert_ptr_equal(seam__idmap_get(&old, 3), item_of(3));
    assert_int_equal(seam__idmap_count(&old), 40);
    seam__idmap_free(&old);
    seam__idmap_free(&m);
}

static void test_churn_with_few_items_keeps_memory_bounded(void **state)
{
    (void)state;
    seam__idmap m = SEAM__IDMAP_INIT;
    /* A steady stream of calls, a few in flight: holes are compacted, the
     * entries do not grow with the number of calls ever made. */
    for (uint64_t id = 1; id < 100000; id++) {
        assert_int_equal(seam__idmap_put(&m, id, item_of(id % N)), 0);
        if (id > 4) {
            assert_non_null(seam__idmap_remove(&m, id - 4));
        }
    }
    assert_int_equal(seam__idmap_count(&m), 4);
    assert_true(m.cap <= 64);
    assert_true(m.index_cap <= 64);
    seam__idmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_empty_map_finds_nothing_and_iterates_nothing),
        cmocka_unit_test(test_iteration_follows_insertion_order_through_growth_and_removals),
        cmocka_unit_test(test_an_iteration_may_remove_the_item_it_stands_on_and_others),
        cmocka_unit_test(test_take_leaves_an_empty_map_that_takes_new_items),
        cmocka_unit_test(test_churn_with_few_items_keeps_memory_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
