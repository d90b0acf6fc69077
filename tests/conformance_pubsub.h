/* SPDX-License-Identifier: MIT */
/* conformance_pubsub.h - the retained publish/subscribe part of the
 * conformance suite (conformance_pubsub.c): the tests, each with its own
 * setup and teardown, listed for conformance.c's main. */
#ifndef SEAM_TEST_CONFORMANCE_PUBSUB_H
#define SEAM_TEST_CONFORMANCE_PUBSUB_H

int pubsub_setup(void **state);
int pubsub_teardown(void **state);
void test_subscriber_gets_the_retained_value_then_each_change_with_its_seq(void **state);
void test_subscription_before_any_publish_gets_the_first_value_with_seq_1(void **state);
void test_prefix_pattern_gets_every_topic_under_it_and_no_other(void **state);
void test_unsubscribed_subscription_gets_no_more_updates(void **state);
void test_slow_subscriber_gets_the_latest_value_with_its_missed_count(void **state);
void test_slow_subscriber_to_many_topics_gets_each_latest_value_with_every_update_counted(
    void **state);
void test_subscriptions_past_the_peer_limit_are_refused_with_enobufs(void **state);
void test_pattern_longer_than_the_server_limit_is_refused_with_etoolong(void **state);
void test_publish_past_max_topics_fails_with_enobufs_and_keeps_the_others(void **state);
void test_publish_of_a_value_over_max_retained_value_fails_with_emsgsize(void **state);
void test_publish_refuses_bad_topic_names(void **state);
void test_subscribe_refuses_bad_patterns_and_duplicates_locally(void **state);
void test_subscriber_disconnect_frees_its_state_and_others_still_get_updates(void **state);
void test_subscription_is_renewed_after_the_server_restarts(void **state);

#define PUBSUB_T(name) cmocka_unit_test_setup_teardown(name, pubsub_setup, pubsub_teardown)
#define CONFORMANCE_PUBSUB_TESTS                                                                   \
    PUBSUB_T(test_subscriber_gets_the_retained_value_then_each_change_with_its_seq),               \
        PUBSUB_T(test_subscription_before_any_publish_gets_the_first_value_with_seq_1),            \
        PUBSUB_T(test_prefix_pattern_gets_every_topic_under_it_and_no_other),                      \
        PUBSUB_T(test_unsubscribed_subscription_gets_no_more_updates),                             \
        PUBSUB_T(test_slow_subscriber_gets_the_latest_value_with_its_missed_count),                \
        PUBSUB_T(                                                                                  \
            test_slow_subscriber_to_many_topics_gets_each_latest_value_with_every_update_counted), \
        PUBSUB_T(test_subscriptions_past_the_peer_limit_are_refused_with_enobufs),                 \
        PUBSUB_T(test_pattern_longer_than_the_server_limit_is_refused_with_etoolong),              \
        PUBSUB_T(test_publish_past_max_topics_fails_with_enobufs_and_keeps_the_others),            \
        PUBSUB_T(test_publish_of_a_value_over_max_retained_value_fails_with_emsgsize),             \
        PUBSUB_T(test_publish_refuses_bad_topic_names),                                            \
        PUBSUB_T(test_subscribe_refuses_bad_patterns_and_duplicates_locally),                      \
        PUBSUB_T(test_subscriber_disconnect_frees_its_state_and_others_still_get_updates),         \
        PUBSUB_T(test_subscription_is_renewed_after_the_server_restarts),

#endif /* SEAM_TEST_CONFORMANCE_PUBSUB_H */
