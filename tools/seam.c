/* SPDX-License-Identifier: MIT */
/* seam.c - the seam command-line tool: talk to seam endpoints and inspect
 * the wire encoding of values. */
#include "tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tool_usage(FILE *to)
{
    fprintf(to,
            "usage: seam listen NAME [--echo] [--silent] [--quiet] [--count N] [--announce MS]\n"
            "                            serve NAME, print each message and request as JSON;\n"
            "                            --echo answers a request with its own payload,\n"
            "                            --silent never answers, --quiet counts messages\n"
            "                            instead of printing them, --count exits after N,\n"
            "                            --announce broadcasts {\"tick\": n} every MS ms\n"
            "       seam send NAME JSON  send a one-way message\n"
            "       seam call NAME JSON [--timeout MS]\n"
            "                            call NAME and print the reply as JSON\n"
            "       seam ping NAME [-c N]\n"
            "                            measure round trips to NAME\n"
            "       seam flood NAME [-n N] [-s BYTES]\n"
            "                            send N raw one-way messages, print the rate\n"
            "       seam watch NAME [-n N]\n"
            "                            print the messages NAME sends (N, or until stopped)\n"
            "       seam list            names in the runtime directory, alive or stale\n"
            "       seam encode JSON     print the CBOR encoding of a value as hex\n"
            "       seam decode HEX      print the value CBOR bytes encode, as JSON\n"
            "       seam version         print the library and protocol versions\n"
            "JSON forms of bytes, dates, uuids and other types: docs/json.md\n");
    return to == stderr ? 2 : 0;
}

int tool_fail(const char *what, int err)
{
    fprintf(stderr, "seam: %s: %s (%s)\n", what, seam_strerror(err), seam_errname(err));
    return 1;
}

static int cmd_encode(const char *json)
{
    seam_value *v = NULL;
    int r = seam_value_from_json(json, &v);
    if (r < 0) {
        return tool_fail("cannot read the JSON value", r);
    }
    uint8_t *bytes = NULL;
    size_t len = 0;
    r = seam_value_encode(v, &bytes, &len);
    seam_value_unref(v);
    if (r < 0) {
        return tool_fail("cannot encode", r);
    }
    for (size_t i = 0; i < len; i++) {
        printf("%02x", bytes[i]);
    }
    printf("\n");
    free(bytes);
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int cmd_decode(const char *hex)
{
    size_t n = strlen(hex);
    uint8_t *bytes = malloc(n / 2 + 1);
    size_t len = 0;
    if (bytes == NULL) {
        return tool_fail("decode", SEAM_ENOMEM);
    }
    for (size_t i = 0; i < n;) {
        if (hex[i] == ' ' || hex[i] == ':') {
            i++;
            continue;
        }
        int hi = hex_digit(hex[i]);
        int lo = i + 1 < n ? hex_digit(hex[i + 1]) : -1;
        if (hi < 0 || lo < 0) {
            free(bytes);
            fprintf(stderr, "seam: not hexadecimal at offset %zu\n", i);
            return 1;
        }
        bytes[len++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    seam_value *v = NULL;
    int r = seam_value_decode(bytes, len, NULL, &v);
    free(bytes);
    if (r < 0) {
        return tool_fail("cannot decode", r);
    }
    char *json = seam_value_to_json(v, SEAM_JSON_PRETTY);
    seam_value_unref(v);
    if (json == NULL) {
        return tool_fail("cannot render", SEAM_ENOMEM);
    }
    printf("%s\n", json);
    free(json);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        return tool_usage(stderr);
    }
    const char *cmd = argv[1];
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } net[] = {
        {"listen", tool_listen}, {"send", tool_send},   {"call", tool_call}, {"ping", tool_ping},
        {"flood", tool_flood},   {"watch", tool_watch}, {"list", tool_list},
    };
    for (size_t i = 0; i < sizeof(net) / sizeof(net[0]); i++) {
        if (strcmp(cmd, net[i].name) == 0) {
            return net[i].run(argc - 2, argv + 2);
        }
    }
    if (strcmp(cmd, "encode") == 0 && argc == 3) {
        return cmd_encode(argv[2]);
    }
    if (strcmp(cmd, "decode") == 0 && argc == 3) {
        return cmd_decode(argv[2]);
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("seam %s, protocol %d\n", seam_version(), SEAM_PROTOCOL_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        return tool_usage(stdout);
    }
    return tool_usage(stderr);
}
