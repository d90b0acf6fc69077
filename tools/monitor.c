/* SPDX-License-Identifier: MIT */
/* monitor.c - `seam monitor NAME`: asks a server that allows it for a copy
 * of every frame its peers send and receive (the monitor request,
 * docs/protocol.md) and prints each decoded, or writes a pcap capture. */
#include "tool.h"

#include <seam/poll.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* pcap: nanosecond timestamps, and the first of the link types set aside
 * for private use, whose packets are the monitor records without their
 * time (docs/cli.md). */
#define PCAP_MAGIC_NS       0xa1b23c4du
#define PCAP_LINKTYPE_USER0 147u
#define RECORD_HEAD         32u

typedef struct monitor_state {
    const tool_ctx *t;
    bool quiet;
    FILE *pcap;
    long seen;
    bool gone;
    int gone_error;
} monitor_state;

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void pcap_header(FILE *f)
{
    uint8_t h[24] = {0};
    put32(h, PCAP_MAGIC_NS);
    h[4] = 2; /* version 2.4 */
    h[6] = 4;
    put32(h + 16, 0x40000); /* snap length */
    put32(h + 20, PCAP_LINKTYPE_USER0);
    fwrite(h, 1, sizeof(h), f);
}

static void pcap_packet(FILE *f, uint64_t ns, const uint8_t *data, size_t len, size_t orig)
{
    uint8_t h[16];
    put32(h, (uint32_t)(ns / 1000000000u));
    put32(h + 4, (uint32_t)(ns % 1000000000u));
    put32(h + 8, (uint32_t)len);
    put32(h + 12, (uint32_t)orig);
    fwrite(h, 1, sizeof(h), f);
    fwrite(data, 1, len, f);
    fflush(f);
}

static const char *kind_name(uint8_t kind)
{
    static const char *const names[] = {"?",     "hello",  "message", "request", "reply",
                                        "error", "cancel", "ping",    "pong",    "goodbye"};
    if (kind == 13) {
        return "shm_setup";
    }
    return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

static char *hex_of(const uint8_t *p, size_t n)
{
    char *s = malloc(n * 2 + 1);
    for (size_t i = 0; s != NULL && i < n; i++) {
        snprintf(s + 2 * i, 3, "%02x", p[i]);
    }
    if (s != NULL) {
        s[n * 2] = 0;
    }
    return s;
}

static void print_record(monitor_state *st, const uint8_t *r, size_t len)
{
    if (len < RECORD_HEAD + 16) {
        return;
    }
    uint64_t ns = get64(r);
    uint32_t pid = get32(r + 8);
    uint32_t uid = get32(r + 12);
    uint32_t conn = get32(r + 16);
    bool out = (r[20] & 1) != 0;
    bool truncated = (r[20] & 2) != 0;
    uint32_t dropped = get32(r + 24);
    uint32_t orig = get32(r + 28);
    const uint8_t *fr = r + RECORD_HEAD;
    size_t have = len - RECORD_HEAD;
    uint32_t plen = get32(fr);
    uint8_t kind = fr[4];
    uint8_t flags = fr[5];
    uint64_t id = get64(fr + 8);
    const uint8_t *payload = fr + 16;
    size_t pavail = have - 16 < plen ? have - 16 : plen;
    if (st->pcap != NULL) {
        pcap_packet(st->pcap, ns, r + 8, len - 8, orig + RECORD_HEAD - 8);
    }
    if (st->quiet) {
        return;
    }
    seam_value *value = NULL;
    bool raw = (flags & 1) != 0;
    if (!raw && !truncated && plen > 0) {
        seam_value_decode(payload, plen, NULL, &value);
    }
    if (st->t->json) {
        seam_value *e = seam_value_new_dict();
        seam_dict_set_int64(e, "time_us", (int64_t)(ns / 1000));
        seam_value *peer = seam_value_new_dict();
        seam_dict_set_int64(peer, "pid", pid);
        seam_dict_set_int64(peer, "uid", uid);
        seam_dict_set_int64(peer, "conn", conn);
        seam_dict_set_take(e, "peer", peer);
        seam_dict_set_string(e, "dir", out ? "out" : "in");
        seam_dict_set_string(e, "kind", kind_name(kind));
        seam_dict_set_int64(e, "flags", flags);
        seam_dict_set_take(e, "id", seam_value_new_uint64(id));
        seam_dict_set_int64(e, "len", plen);
        if (raw && pavail >= 4) {
            seam_value *rv = seam_value_new_dict();
            seam_dict_set_int64(rv, "id", get32(payload));
            char *h = hex_of(payload + 4, pavail - 4);
            seam_dict_set_string(rv, "hex", h != NULL ? h : "");
            free(h);
            seam_dict_set_take(e, "raw", rv);
        } else if (value != NULL) {
            seam_dict_set(e, "value", value);
        } else if (pavail > 0) {
            char *h = hex_of(payload, pavail);
            seam_dict_set_string(e, "hex", h != NULL ? h : "");
            free(h);
        }
        if (truncated) {
            seam_dict_set_bool(e, "truncated", true);
        }
        if (dropped > 0) {
            seam_dict_set_int64(e, "dropped_before", dropped);
        }
        tool_print_json(e);
    } else {
        time_t secs = (time_t)(ns / 1000000000u);
        struct tm tm;
        char when[32];
        localtime_r(&secs, &tm);
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        printf("%s.%06u pid %u conn %u %s %-7s id=%llu len=%u", when,
               (unsigned)(ns % 1000000000u / 1000u), pid, conn, out ? "<-" : "->", kind_name(kind),
               (unsigned long long)id, plen);
        if (raw && pavail >= 4) {
            char *h = hex_of(payload + 4, pavail - 4 < 32 ? pavail - 4 : 32);
            printf(" raw id=%u %s%s", get32(payload), h != NULL ? h : "",
                   pavail - 4 > 32 ? "..." : "");
            free(h);
        } else if (value != NULL) {
            char *j = seam_value_to_json(value, 0);
            printf(" %s", j != NULL ? j : "?");
            free(j);
        }
        printf("%s", truncated ? " (truncated)" : "");
        if (dropped > 0) {
            printf(" (%u records dropped before)", dropped);
        }
        printf("\n");
        fflush(stdout);
    }
    seam_value_unref(value);
}

static void on_monitor_event(seam_conn *c, const seam_event *ev, void *userdata)
{
    (void)c;
    monitor_state *st = userdata;
    if (ev->type == SEAM_EVENT_MESSAGE && ev->raw && ev->raw_id == 1) {
        print_record(st, ev->raw_bytes, ev->raw_len);
        st->seen++;
    } else if (ev->type == SEAM_EVENT_INTERRUPTED || ev->type == SEAM_EVENT_INVALID) {
        st->gone = true;
        st->gone_error = ev->error;
    }
}

int tool_monitor(tool_ctx *t, int argc, char **argv)
{
    long count = 0;
    monitor_state st = {.t = t};
    const tool_opt opts[] = {
        {"--count", 'n', "N", 0, LONG_MAX, &count},
        {"--quiet", 'q', NULL, 0, 0, &st.quiet},
        {0},
    };
    /* --pcap takes a path, not a number: taken out before the parse */
    const char *pcap_path = NULL;
    char **rest = calloc((size_t)argc + 1, sizeof(*rest));
    int nrest = 0;
    for (int i = 0; rest != NULL && i < argc; i++) {
        bool is_pcap = strcmp(argv[i], "--pcap") == 0 || strcmp(argv[i], "-w") == 0;
        if (is_pcap && i + 1 >= argc) {
            free(rest);
            return tool_usage_error(t, "%s needs a value (FILE)", argv[i]);
        }
        if (is_pcap) {
            pcap_path = argv[++i];
        } else {
            rest[nrest++] = argv[i];
        }
    }
    if (rest == NULL) {
        return tool_fail(t, "monitor", SEAM_ENOMEM);
    }
    seam_conn_config cfg = {.on_event = on_monitor_event, .userdata = &st};
    const char *name;
    int status;
    tool_client cl;
    bool go = tool_client_start(t, nrest, rest, opts, &cfg, false, &cl, &name, &status);
    free(rest);
    if (!go) {
        return status;
    }
    seam_value *reply;
    int r = tool_client_ask(&cl, "monitor", 5000, &reply);
    bool ok = false;
    if (r == 0) {
        seam_dict_get_bool(reply, "monitoring", &ok);
    }
    if (r == SEAM_EREMOTE || (r == 0 && !ok)) {
        int64_t code = 0;
        seam_dict_get_int64(reply, "code", &code);
        const char *why = seam_dict_get_string(reply, "message");
        fprintf(stderr, "seam monitor: %s refused to be monitored: %s (%s)\n", name,
                why != NULL ? why : "its library does not offer monitoring",
                seam_errname(code != 0 ? (int)code : SEAM_ENOTSUP));
        seam_value_unref(reply);
        tool_client_close(&cl);
        return TOOL_EXIT_REFUSED;
    }
    seam_value_unref(reply);
    if (r < 0) {
        tool_client_close(&cl);
        return tool_fail_name(t, name, r);
    }
    if (pcap_path != NULL) {
        st.pcap = strcmp(pcap_path, "-") == 0 ? stdout : fopen(pcap_path, "wb");
        if (st.pcap == NULL) {
            int e = -errno;
            tool_client_close(&cl);
            fprintf(stderr, "seam monitor: cannot write %s: %s (%s)\n", pcap_path, seam_strerror(e),
                    seam_errname(e));
            return TOOL_EXIT_FAILURE;
        }
        st.quiet = st.quiet || st.pcap == stdout;
        pcap_header(st.pcap);
        fflush(st.pcap);
    }
    if (t->json && !st.quiet) {
        seam_value *e = tool_json_event("monitoring");
        seam_dict_set_string(e, "name", name);
        tool_print_json(e);
    } else if (!st.quiet) {
        printf("monitoring %s\n", name);
        fflush(stdout);
    }
    tool_catch_signals();
    while (r >= 0 && !tool_stopped() && !st.gone && (count == 0 || st.seen < count)) {
        r = seam_poll_run_once(cl.loop, 200);
    }
    tool_client_close(&cl);
    if (st.pcap != NULL && st.pcap != stdout) {
        fclose(st.pcap);
    }
    if (r < 0) {
        return tool_fail_name(t, name, r);
    }
    if (st.gone) {
        fprintf(stderr, "seam monitor: %s went away: %s (%s)\n", name, seam_strerror(st.gone_error),
                seam_errname(st.gone_error));
        return TOOL_EXIT_FAILURE;
    }
    return 0;
}
