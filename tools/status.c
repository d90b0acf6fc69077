/* SPDX-License-Identifier: MIT */
/* status.c - `seam status NAME`: asks the server's library for its status
 * (the reserved status request, docs/protocol.md) and shows the owner, its
 * peers and their counters. */
#include "tool.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t u64(const seam_value *d, const char *key)
{
    uint64_t u = 0;
    seam_value_get_uint64(seam_dict_get(d, key), &u);
    return u;
}

static int64_t i64(const seam_value *d, const char *key)
{
    int64_t i = -1;
    seam_dict_get_int64(d, key, &i);
    return i;
}

static void print_text(const char *name, const seam_value *st, const tool_owner *o)
{
    char user[64];
    char started[32];
    tool_user_name((long)i64(st, "uid"), user, sizeof(user));
    tool_time_text(o->started_us, started, sizeof(started));
    bool activated = false;
    seam_dict_get_bool(st, "activated", &activated);
    printf("%s: seam %s, protocol %lld, %s%s\n", name, seam_dict_get_string(st, "seam"),
           (long long)i64(st, "protocol"), seam_dict_get_string(st, "path"),
           activated ? " (socket passed by the service manager)" : "");
    printf("owner: pid %lld, user %s (uid %lld, gid %lld), started %s, %s\n",
           (long long)i64(st, "pid"), user, (long long)i64(st, "uid"), (long long)i64(st, "gid"),
           started, o->exe[0] != 0 ? o->exe : "-");
    const seam_value *totals = seam_dict_get(st, "totals");
    const seam_value *peers = seam_dict_get(st, "peers");
    printf("peers: %llu (at most %lld)\n", (unsigned long long)u64(totals, "peers"),
           (long long)i64(st, "max_conns"));
    printf("  %-8s %-10s %-9s %8s %6s %7s %10s %10s %12s %12s\n", "PID", "USER", "STATE", "QUEUED",
           "CALLS", "PENDING", "MSGS_IN", "MSGS_OUT", "BYTES_IN", "BYTES_OUT");
    for (size_t i = 0; i < seam_array_count(peers); i++) {
        const seam_value *p = seam_array_get(peers, i);
        bool self = false;
        seam_dict_get_bool(p, "self", &self);
        char pid[32];
        snprintf(pid, sizeof(pid), "%lld%s", (long long)i64(p, "pid"), self ? "*" : "");
        tool_user_name((long)i64(p, "uid"), user, sizeof(user));
        printf("  %-8s %-10s %-9s %8llu %6llu %7llu %10llu %10llu %12llu %12llu\n", pid, user,
               seam_dict_get_string(p, "state"), (unsigned long long)u64(p, "queued_bytes"),
               (unsigned long long)u64(p, "calls_in_flight"),
               (unsigned long long)u64(p, "requests_pending"),
               (unsigned long long)u64(p, "messages_in"),
               (unsigned long long)u64(p, "messages_out"), (unsigned long long)u64(p, "bytes_in"),
               (unsigned long long)u64(p, "bytes_out"));
    }
    printf("totals: %llu messages in, %llu out; %llu bytes in, %llu out; %llu queued; %llu calls "
           "in flight (* is this status request's own connection)\n",
           (unsigned long long)u64(totals, "messages_in"),
           (unsigned long long)u64(totals, "messages_out"),
           (unsigned long long)u64(totals, "bytes_in"),
           (unsigned long long)u64(totals, "bytes_out"),
           (unsigned long long)u64(totals, "queued_bytes"),
           (unsigned long long)u64(totals, "calls_in_flight"));
}

/* A reply is a status only if it has the shape the library gives; an
 * older server's application may answer the request in its own way. */
static bool is_status(const seam_value *v)
{
    return seam_value_type(v) == SEAM_TYPE_DICT && seam_dict_get_string(v, "seam") != NULL &&
           seam_value_type(seam_dict_get(v, "peers")) == SEAM_TYPE_ARRAY &&
           seam_value_type(seam_dict_get(v, "totals")) == SEAM_TYPE_DICT;
}

int tool_status(tool_ctx *t, int argc, char **argv)
{
    long timeout = 5000;
    const tool_opt opts[] = {
        {"--timeout", 't', "MS", 1, INT_MAX, &timeout},
        {0},
    };
    const char *name;
    int status;
    tool_client cl;
    if (!tool_client_start(t, argc, argv, opts, NULL, false, &cl, &name, &status)) {
        return status;
    }
    seam_value *reply;
    int r = tool_client_ask(&cl, "status", (int)timeout, &reply);
    tool_client_close(&cl);
    if (r == SEAM_EREMOTE || (r == 0 && !is_status(reply))) {
        seam_value_unref(reply);
        fprintf(stderr,
                "seam status: %s does not answer status requests (its seam library is older, "
                "or it is not a seam server)\n",
                name);
        return TOOL_EXIT_FAILURE;
    }
    if (r < 0) {
        return tool_fail_name(t, name, r);
    }
    tool_owner o;
    tool_proc_owner((long)i64(reply, "pid"), &o);
    if (t->json) {
        seam_value *e = seam_value_copy(reply);
        seam_dict_set_string(e, "name", name);
        seam_dict_set_take(e, "exe",
                           o.exe[0] != 0 ? seam_value_new_string(o.exe) : seam_value_new_null());
        seam_dict_set_take(e, "started_us",
                           o.started_us > 0 ? seam_value_new_int64(o.started_us)
                                            : seam_value_new_null());
        tool_print_json(e);
    } else {
        print_text(name, reply, &o);
    }
    seam_value_unref(reply);
    return 0;
}
