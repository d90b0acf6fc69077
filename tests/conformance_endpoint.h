/* SPDX-License-Identifier: MIT */
/* conformance_endpoint.h - the anonymous endpoint part of the conformance
 * suite (conformance_endpoint.c): the tests, each with its own setup and
 * teardown, listed for conformance.c's main. */
#ifndef SEAM_TEST_CONFORMANCE_ENDPOINT_H
#define SEAM_TEST_CONFORMANCE_ENDPOINT_H

int endpoint_setup(void **state);
int endpoint_teardown(void **state);
void test_endpoint_client_calls_the_endpoint_server_and_gets_the_reply(void **state);
void test_endpoint_server_sees_the_connecting_process_as_its_peer(void **state);
void test_endpoint_accept_filter_refusal_reaches_the_connector_with_its_rule(void **state);
void test_connect_through_a_closed_endpoint_fails_with_enotfound(void **state);
void test_connect_through_a_descriptor_that_is_no_endpoint_fails_with_enotendpoint(void **state);
void test_named_server_has_no_endpoint(void **state);
void test_rendezvous_garbage_and_extra_descriptors_are_dropped_and_closed(void **state);
void test_rendezvous_refuses_a_socket_with_an_address_at_either_end(void **state);
void test_endpoint_passed_in_a_message_connects_the_receiver(void **state);
void test_endpoint_client_reconnects_through_the_endpoint_after_the_server_drops_it(void **state);

#define ENDPOINT_T(name) cmocka_unit_test_setup_teardown(name, endpoint_setup, endpoint_teardown)
#define CONFORMANCE_ENDPOINT_TESTS                                                                 \
    ENDPOINT_T(test_endpoint_client_calls_the_endpoint_server_and_gets_the_reply),                 \
        ENDPOINT_T(test_endpoint_server_sees_the_connecting_process_as_its_peer),                  \
        ENDPOINT_T(test_endpoint_accept_filter_refusal_reaches_the_connector_with_its_rule),       \
        ENDPOINT_T(test_connect_through_a_closed_endpoint_fails_with_enotfound),                   \
        ENDPOINT_T(test_connect_through_a_descriptor_that_is_no_endpoint_fails_with_enotendpoint), \
        ENDPOINT_T(test_named_server_has_no_endpoint),                                             \
        ENDPOINT_T(test_rendezvous_garbage_and_extra_descriptors_are_dropped_and_closed),          \
        ENDPOINT_T(test_rendezvous_refuses_a_socket_with_an_address_at_either_end),                \
        ENDPOINT_T(test_endpoint_passed_in_a_message_connects_the_receiver),                       \
        ENDPOINT_T(                                                                                \
            test_endpoint_client_reconnects_through_the_endpoint_after_the_server_drops_it),

#endif /* SEAM_TEST_CONFORMANCE_ENDPOINT_H */
