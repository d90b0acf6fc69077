/* SPDX-License-Identifier: MIT */
/* net.c - the client commands that send and measure: send, call, ping, flood. */
#include "tool.h"

#include <seam/poll.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* The start of send and call: parses NAME VALUE, reads the value and
 * connects. Returns true when connected, with *v the value to send; false
 * when the command is over, with *status its exit code. */
static bool start_with_value(tool_ctx *t, int argc, char **argv, const tool_opt *opts,
                             const char **pos, seam_value **v, tool_client *cl, int *status)
{
    static const char *const names[] = {"NAME", "VALUE"};
    if (!tool_parse(t, argc, argv, opts, pos, 2, 2, names, status)) {
        return false;
    }
    *v = NULL;
    int r = tool_read_value(t, pos[1], v);
    if (r != 0) {
        *status = r;
        return false;
    }
    r = tool_client_open(cl, pos[0], NULL);
    if (r < 0) {
        seam_value_unref(*v);
        *status = tool_fail_ended(t, pos[0], cl, r);
        return false;
    }
    return true;
}

int tool_send(tool_ctx *t, int argc, char **argv)
{
    const char *pos[2];
    seam_value *v;
    tool_client cl;
    int status;
    if (!start_with_value(t, argc, argv, NULL, pos, &v, &cl, &status)) {
        return status;
    }
    int r = seam_conn_send(cl.conn, v);
    seam_value_unref(v);
    /* A pong proves the message arrived: frames are handled in order. */
    if (r == 0) {
        r = tool_ping_wait(&cl, 5000);
    }
    r = tool_client_end(&cl, r);
    if (r == 0 && t->json) {
        seam_value *e = seam_value_new_dict();
        seam_dict_set_bool(e, "delivered", true);
        tool_print_json(e);
    }
    return r < 0 ? tool_fail_ended(t, pos[0], &cl, r) : 0;
}

int tool_call(tool_ctx *t, int argc, char **argv)
{
    long timeout = 5000;
    bool more = false;
    const tool_opt opts[] = {
        {"--timeout", 't', "MS", 1, INT_MAX, &timeout},
        {"--more", 0, NULL, 0, 0, &more},
        {0},
    };
    const char *args[2];
    seam_value *v;
    tool_client cl;
    int status;
    if (!start_with_value(t, argc, argv, opts, args, &v, &cl, &status)) {
        return status;
    }
    seam_value *reply = NULL;
    int r = more ? tool_call_more(t, &cl, v, (int)timeout, &reply)
                 : seam_conn_call_sync(cl.conn, v, (int)timeout, &reply);
    seam_value_unref(v);
    if (r == 0 && t->json) {
        seam_value *e = seam_value_new_dict();
        seam_dict_set(e, "reply", reply);
        tool_print_json(e);
    } else if (r == 0) {
        char *json = seam_value_to_json(reply, more ? 0 : SEAM_JSON_PRETTY); /* a line each */
        printf("%s\n", json != NULL ? json : "?");
        free(json);
    } else if (r == SEAM_EREMOTE) {
        int64_t code = 0;
        seam_dict_get_int64(reply, "code", &code);
        if (t->json) {
            seam_value *err = seam_value_copy(reply);
            seam_dict_set_string(err, "name", seam_errname((int)code));
            seam_value *e = seam_value_new_dict();
            seam_dict_set_take(e, "error", err);
            tool_print_json(e);
        }
        char *json = seam_value_to_json(reply, 0);
        fprintf(stderr, "seam call: %s: remote error %s: %s\n", args[0], seam_errname((int)code),
                json != NULL ? json : "?");
        free(json);
    }
    seam_value_unref(reply);
    r = tool_client_end(&cl, r);
    if (r == SEAM_EREMOTE) {
        return TOOL_EXIT_REMOTE;
    }
    return r < 0 ? tool_fail_ended(t, args[0], &cl, r) : 0;
}

int tool_ping(tool_ctx *t, int argc, char **argv)
{
    long count = 4;
    const tool_opt opts[] = {
        {"--count", 'c', "N", 1, LONG_MAX, &count},
        {0},
    };
    const char *name;
    int status;
    tool_client cl;
    if (!tool_client_start(t, argc, argv, opts, NULL, true, &cl, &name, &status)) {
        return status;
    }
    int r = 0;
    tool_catch_signals();
    double sum = 0;
    double min = 1e300;
    double max = 0;
    long got = 0;
    for (long i = 0; i < count && !tool_stopped(); i++) {
        double t0 = tool_now_ms();
        r = tool_ping_wait(&cl, 5000);
        if (r < 0) {
            break;
        }
        double ms = tool_now_ms() - t0;
        if (t->json) {
            seam_value *e = tool_json_event("pong");
            seam_dict_set_int64(e, "seq", i);
            seam_dict_set_int64(e, "rtt_us", (int64_t)(ms * 1e3));
            tool_print_json(e);
        } else {
            printf("pong from %s: seq=%ld time=%.3f ms\n", name, i, ms);
            fflush(stdout);
        }
        sum += ms;
        min = ms < min ? ms : min;
        max = ms > max ? ms : max;
        got++;
    }
    if (got > 0 && t->json) {
        seam_value *e = tool_json_event("summary");
        seam_dict_set_int64(e, "count", got);
        seam_dict_set_int64(e, "min_us", (int64_t)(min * 1e3));
        seam_dict_set_int64(e, "avg_us", (int64_t)(sum / (double)got * 1e3));
        seam_dict_set_int64(e, "max_us", (int64_t)(max * 1e3));
        tool_print_json(e);
    } else if (got > 0) {
        printf("%ld pings, min/avg/max = %.3f/%.3f/%.3f ms\n", got, min, sum / (double)got, max);
    }
    r = tool_client_end(&cl, r);
    return r < 0 ? tool_fail_ended(t, name, &cl, r) : 0;
}

static void on_flood_event(seam_conn *c, const seam_event *ev, void *userdata)
{
    (void)c;
    if (ev->type == SEAM_EVENT_WRITABLE) {
        *(bool *)userdata = true;
    }
}

/* Sends count raw one-way messages of size bytes as fast as the queue
 * takes them (waiting for WRITABLE when it is full, never dropping), then
 * pings: the pong comes after the last message was handled, so the rate
 * counts messages the peer received, not just queued. */
int tool_flood(tool_ctx *t, int argc, char **argv)
{
    long count = 100000;
    long size = 64;
    const tool_opt opts[] = {
        {"--count", 'n', "N", 1, UINT32_MAX, &count},
        {"--size", 's', "BYTES", 0, 16L << 20, &size},
        {0},
    };
    const char *name;
    int status;
    if (!tool_parse_name(t, argc, argv, opts, &name, &status)) {
        return status;
    }
    uint8_t *payload = calloc(1, (size_t)size + 1);
    if (payload == NULL) {
        return tool_fail(t, "flood", SEAM_ENOMEM);
    }
    bool writable = false;
    seam_conn_config cfg = {.on_event = on_flood_event, .userdata = &writable};
    tool_client cl;
    int r = tool_client_open(&cl, name, &cfg);
    if (r < 0) {
        free(payload);
        return tool_fail_name(t, name, r);
    }
    double t0 = tool_now_ms();
    for (long i = 0; i < count && r >= 0;) {
        r = seam_conn_send_raw(cl.conn, (uint32_t)i, payload, (size_t)size);
        if (r == 0) {
            i++;
        } else if (r == SEAM_EAGAIN) {
            writable = false;
            r = 0;
            while (!writable && r >= 0) {
                r = seam_poll_run_once(cl.loop, 5000);
            }
        }
    }
    if (r >= 0) {
        r = tool_ping_wait(&cl, 30000);
    }
    double secs = (tool_now_ms() - t0) / 1e3;
    if (r >= 0 && t->json) {
        seam_value *e = tool_json_event("done");
        seam_dict_set_int64(e, "messages", count);
        seam_dict_set_int64(e, "size", size);
        seam_dict_set_int64(e, "elapsed_us", (int64_t)(secs * 1e6));
        seam_dict_set_int64(e, "messages_per_s", (int64_t)((double)count / secs));
        seam_dict_set_int64(e, "bytes_per_s", (int64_t)((double)count * (double)size / secs));
        tool_print_json(e);
    } else if (r >= 0) {
        printf("%ld messages of %ld bytes in %.3f s: %.0f messages/s, %.1f MB/s\n", count, size,
               secs, (double)count / secs, (double)count * (double)size / secs / 1e6);
    }
    tool_client_close(&cl);
    free(payload);
    return r < 0 ? tool_fail_name(t, name, r) : 0;
}
