/* SPDX-License-Identifier: MIT */
/* conformance_stream.h - the streaming-reply tests of the conformance
 * suite (conformance_stream.c), listed for its main. */
#ifndef SEAM_TEST_CONFORMANCE_STREAM_H
#define SEAM_TEST_CONFORMANCE_STREAM_H

void test_stream_delivers_each_intermediate_reply_then_the_final_once(void **state);
void test_stream_intermediate_replies_arrive_before_the_final_in_order(void **state);
void test_stream_responder_more_without_caller_asking_fails_locally(void **state);
void test_stream_plain_call_gets_one_reply_from_a_streaming_responder(void **state);
void test_stream_cancel_mid_stream_ends_once_and_discards_later_replies(void **state);
void test_stream_cancel_tells_the_responder(void **state);
void test_stream_cancelled_call_ends_before_later_news_from_the_peer(void **state);
void test_stream_overall_timeout_ends_a_stream_that_keeps_replying(void **state);
void test_stream_idle_timeout_rearms_at_each_reply_and_expires_when_they_stop(void **state);
void test_stream_server_close_mid_stream_ends_the_call_once(void **state);
void test_stream_bad_timeout_mode_is_einval(void **state);

#define CONFORMANCE_STREAM_TESTS                                                                   \
    T(test_stream_delivers_each_intermediate_reply_then_the_final_once),                           \
        T(test_stream_intermediate_replies_arrive_before_the_final_in_order),                      \
        T(test_stream_responder_more_without_caller_asking_fails_locally),                         \
        T(test_stream_plain_call_gets_one_reply_from_a_streaming_responder),                       \
        T(test_stream_cancel_mid_stream_ends_once_and_discards_later_replies),                     \
        T(test_stream_cancel_tells_the_responder),                                                 \
        T(test_stream_cancelled_call_ends_before_later_news_from_the_peer),                        \
        T(test_stream_overall_timeout_ends_a_stream_that_keeps_replying),                          \
        T(test_stream_idle_timeout_rearms_at_each_reply_and_expires_when_they_stop),               \
        T(test_stream_server_close_mid_stream_ends_the_call_once),                                 \
        T(test_stream_bad_timeout_mode_is_einval),

#endif /* SEAM_TEST_CONFORMANCE_STREAM_H */
