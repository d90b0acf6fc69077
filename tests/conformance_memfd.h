/* SPDX-License-Identifier: MIT */
/* conformance_memfd.h - the sealed-memfd data tests of the conformance
 * suite (conformance_memfd.c), listed for its main. */
#ifndef SEAM_TEST_CONFORMANCE_MEMFD_H
#define SEAM_TEST_CONFORMANCE_MEMFD_H

void test_memfd_data_reaches_the_server_as_a_mapping_of_its_bytes(void **state);
void test_memfd_data_sent_on_by_the_receiver_travels_as_the_same_memfd(void **state);
void test_memfd_data_below_the_peer_threshold_travels_as_bytes(void **state);
void test_memfd_data_to_a_peer_that_takes_none_travels_as_bytes(void **state);
void test_plain_data_above_the_threshold_travels_as_bytes(void **state);
void test_memfd_data_kept_past_its_callback_stays_mapped(void **state);
void test_memfd_message_past_the_mapping_bound_closes_the_connection(void **state);
void test_memfd_data_kept_counts_against_the_bound_until_released(void **state);
void test_new_data_memfd_refuses_what_it_cannot_seal_and_leaves_the_fd(void **state);
void test_memfd_data_encodes_as_a_plain_byte_string_outside_a_connection(void **state);
void test_raw_memfd_call_reaches_the_server_as_a_mapping_of_its_bytes(void **state);
void test_raw_memfd_to_a_peer_that_takes_none_travels_as_bytes(void **state);
void test_raw_memfd_below_the_peer_threshold_travels_as_bytes(void **state);

#define CONFORMANCE_MEMFD_TESTS                                                                    \
    T(test_memfd_data_reaches_the_server_as_a_mapping_of_its_bytes),                               \
        T(test_memfd_data_sent_on_by_the_receiver_travels_as_the_same_memfd),                      \
        T(test_memfd_data_below_the_peer_threshold_travels_as_bytes),                              \
        T(test_memfd_data_to_a_peer_that_takes_none_travels_as_bytes),                             \
        T(test_plain_data_above_the_threshold_travels_as_bytes),                                   \
        T(test_memfd_data_kept_past_its_callback_stays_mapped),                                    \
        T(test_memfd_message_past_the_mapping_bound_closes_the_connection),                        \
        T(test_memfd_data_kept_counts_against_the_bound_until_released),                           \
        T(test_new_data_memfd_refuses_what_it_cannot_seal_and_leaves_the_fd),                      \
        T(test_memfd_data_encodes_as_a_plain_byte_string_outside_a_connection),                    \
        T(test_raw_memfd_call_reaches_the_server_as_a_mapping_of_its_bytes),                       \
        T(test_raw_memfd_to_a_peer_that_takes_none_travels_as_bytes),                              \
        T(test_raw_memfd_below_the_peer_threshold_travels_as_bytes),

#endif /* SEAM_TEST_CONFORMANCE_MEMFD_H */
