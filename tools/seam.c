/* SPDX-License-Identifier: MIT */
/* seam.c - the seam command-line tool: the command table, help, argument
 * conventions, errors and exit codes, and the commands that only look at
 * the wire encoding of values (encode, decode, version). */
#include "tool.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmd_encode(tool_ctx *t, int argc, char **argv);
static int cmd_decode(tool_ctx *t, int argc, char **argv);
static int cmd_version(tool_ctx *t, int argc, char **argv);
static int cmd_help(tool_ctx *t, int argc, char **argv);

static const tool_cmd commands[] = {
    {"listen",
     "NAME [--echo] [--stream N] [--silent] [--quiet] [--count N] [--announce MS] [--allow-uid "
     "UID] [--allow-gid GID] [--require-exe PATH] [--idle-exit MS] [--monitorable] "
     "[--publish TOPIC=JSON] [--publish-stdin]",
     "serve NAME and print what arrives",
     "Serves NAME until interrupted and prints each message and request.\n"
     "  --monitorable    allow `seam monitor` (peers of the server's own user)\n"
     "  --echo           answer every request with its own payload\n"
     "  --stream N       answer each request with N replies {\"seq\": i}, then its\n"
     "                   own payload (to callers that ask: seam call --more)\n"
     "  --silent         keep requests and never answer them (callers time out);\n"
     "                   a caller's are dropped when it goes\n"
     "                   (otherwise a request is answered \"not supported\")\n"
     "  --quiet          count messages and requests instead of printing them;\n"
     "                   print the total\n"
     "  --count N        exit after N messages and requests\n"
     "  --announce MS    broadcast {\"tick\": n} to every peer every MS ms\n"
     "  --allow-uid UID  admit only peers of user UID (default: the server's own user)\n"
     "  --allow-gid GID  admit only peers with group GID, primary or supplementary\n"
     "                   (with --allow-uid: peers that pass both)\n"
     "  --require-exe PATH  admit only peers whose process runs the executable PATH\n"
     "                   names (checked through the peer's pidfd; Linux 6.5)\n"
     "  --idle-exit MS   exit once no peer has been connected for MS ms (for a\n"
     "                   service started by socket activation: a listening socket\n"
     "                   passed by systemd for NAME is served instead of a new one)\n"
     "  --publish TOPIC=JSON  retain JSON as TOPIC's value (seam subscribe); repeatable\n"
     "  --publish-stdin  publish each line \"TOPIC JSON\" read from standard input\n"
     "Examples:\n"
     "  seam listen com.example.echo --echo\n"
     "  seam listen com.example.power --publish 'battery=80'\n"
     "  seam listen -j com.example.log | jq .value\n",
     tool_listen},
    {"subscribe", "NAME TOPIC [-n N]", "print a retained topic's value and its changes",
     "Subscribes to TOPIC on NAME (a topic name, or a prefix ending in *) and prints\n"
     "the retained value of each matching topic, then every change, one a line:\n"
     "the topic, seq=N (its sequence number), missed=M when M updates were\n"
     "coalesced away because we read too slowly, and the value as JSON.\n"
     "  -n N, --count N  stop after N updates\n"
     "Examples:\n"
     "  seam subscribe com.example.power battery\n"
     "  seam subscribe -j com.example.power 'net.*' | jq .value\n",
     tool_subscribe},
    {"send", "NAME VALUE", "send a one-way message",
     "Sends VALUE (JSON; - reads it from standard input, @FILE from a file) as a\n"
     "one-way message and returns once the server has handled it.\n"
     "Examples:\n"
     "  seam send com.example.log '{\"level\":\"info\",\"text\":\"hi\"}'\n"
     "  jq -c .event input.json | seam send com.example.log -\n",
     tool_send},
    {"call", "NAME VALUE [--timeout MS] [--more]", "call NAME and print the reply",
     "Calls NAME with VALUE (JSON; - reads standard input, @FILE a file) and prints\n"
     "the reply. A remote error is printed on standard error and exits 6.\n"
     "  --timeout MS, -t MS  give up after MS milliseconds (default 5000, at most 2147483647)\n"
     "  --more       accept intermediate replies: print each as it comes, then the\n"
     "               final one, one JSON a line (the timeout counts between replies;\n"
     "               Ctrl-C cancels)\n"
     "Examples:\n"
     "  seam call com.example.echo '{\"op\":\"add\",\"a\":2}'\n"
     "  seam call -j com.example.echo @request.json | jq .reply\n",
     tool_call},
    {"ping", "NAME [-c N]", "measure round trips to NAME",
     "Sends N pings (default 4) one after the other and prints each round trip,\n"
     "then min/avg/max.\n"
     "  -c N, --count N  number of pings\n"
     "Examples:\n"
     "  seam ping com.example.echo -c 10\n",
     tool_ping},
    {"flood", "NAME [-n N] [-s BYTES]", "send N raw messages, print the rate",
     "Sends N raw one-way messages of BYTES bytes (default 100000 of 64) as fast\n"
     "as the connection's queue takes them, then pings, so the rate counts\n"
     "messages the server has received.\n"
     "  -n N, --count N     number of messages\n"
     "  -s BYTES, --size BYTES  payload size (at most 16777216)\n"
     "Examples:\n"
     "  seam flood com.example.echo -n 1000000 -s 16\n",
     tool_flood},
    {"watch", "NAME [-n N]", "print the messages NAME sends",
     "Connects and prints every message the server sends (its broadcasts, for\n"
     "instance) until N arrived or until interrupted; exits 1 if the server goes\n"
     "away.\n"
     "  -n N, --count N  stop after N messages\n"
     "Examples:\n"
     "  seam watch com.example.clock -n 3\n",
     tool_watch},
    {"list", "[--names]", "names in the runtime directory and their owners",
     "Lists every name in the runtime directory: its state (alive, starting, or\n"
     "stale: a socket left by a server that died) and, for a live one, the owner's\n"
     "pid, user, executable and start time.\n"
     "  --names  print only the names, one a line\n"
     "Examples:\n"
     "  seam list\n"
     "  seam list -j | jq -r '.[] | select(.state == \"alive\") | .name'\n",
     tool_list},
    {"status", "NAME [--timeout MS]", "show a server's owner, peers and counters",
     "Asks the server's seam library (not its application) for its status: the\n"
     "owner's pid, user and executable, every peer with its pid, user, queued bytes,\n"
     "calls in flight, pending requests and messages and bytes in and out, and the\n"
     "totals. Any peer the server's accept filter admits may ask.\n"
     "  --timeout MS, -t MS  give up after MS milliseconds (default 5000)\n"
     "Examples:\n"
     "  seam status com.example.echo\n"
     "  seam status -j com.example.echo | jq '.peers[] | select(.queued_bytes > 0)'\n",
     tool_status},
    {"monitor", "NAME [--pcap FILE] [-n N] [--quiet]",
     "watch every frame a server's peers exchange",
     "Asks a server that allows monitoring (seam_server_set_monitor(); seam listen\n"
     "--monitorable) for a copy of every frame its other peers send and receive, and\n"
     "prints each with its time, the peer (pid, connection) and direction (-> into\n"
     "the server, <- out of it), decoded: values as JSON, raw payloads as hex with\n"
     "their id. Only the server's own user may monitor it.\n"
     "  --pcap FILE, -w FILE  also write a pcap capture (link type 147, USER0;\n"
     "                        see seam(1)); - writes it to standard output\n"
     "  -n N, --count N       stop after N frames\n"
     "  --quiet, -q           print nothing (with --pcap)\n"
     "Examples:\n"
     "  seam monitor com.example.echo\n"
     "  seam monitor -j com.example.echo | jq 'select(.kind == \"request\") | .value'\n"
     "  seam monitor com.example.echo --pcap echo.pcap -q\n",
     tool_monitor},
    {"encode", "VALUE", "print the CBOR encoding of a value as hex",
     "Prints the CBOR encoding of VALUE (JSON; - reads standard input, @FILE a\n"
     "file) as hexadecimal.\n"
     "Examples:\n"
     "  seam encode '{\"$uuid\":\"00112233-4455-6677-8899-aabbccddeeff\"}'\n",
     cmd_encode},
    {"decode", "HEX", "print the value CBOR bytes encode, as JSON",
     "Decodes CBOR given as hexadecimal (spaces and colons allowed; - reads\n"
     "standard input, @FILE a file) and prints the value as JSON.\n"
     "Examples:\n"
     "  seam decode a1616101\n",
     cmd_decode},
    {"version", "", "print the library and protocol versions", "Examples:\n  seam version\n",
     cmd_version},
    {"help", "[COMMAND]", "print the overview or a command's help", "Examples:\n  seam help call\n",
     cmd_help},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const tool_cmd *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

static void overview(FILE *to)
{
    fprintf(to, "usage: seam [--json] [--version] [--help] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fprintf(to, "  %-8s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(to, "\noptions of every command:\n"
                "  -j, --json     machine output: one compact JSON document, or one a line\n"
                "                 for streams (listen, watch, ping, flood)\n"
                "  -h, --help     the command's usage and examples\n"
                "  -V, --version  the tool's, library's and protocol's versions\n"
                "\n`seam help COMMAND` tells more. Exit codes: 0 done, 1 failed, 2 usage,\n"
                "3 no server, 4 refused, 5 timed out, 6 remote error (seam(1)).\n"
                "JSON forms of bytes, dates, uuids and other types: seam(1), JSON FORMS\n");
}

static void command_help(const tool_cmd *c)
{
    printf("usage: seam %s%s%s\n%s.\n\n%s", c->name, c->synopsis[0] != 0 ? " " : "", c->synopsis,
           c->summary, c->help);
    printf("Every command also takes -j/--json (machine output) and -h/--help.\n");
}

int tool_usage_error(const tool_ctx *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "seam%s%s: ", t->cmd != NULL ? " " : "", t->cmd != NULL ? t->cmd->name : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'seam %s%s--help'.\n", t->cmd != NULL ? t->cmd->name : "",
            t->cmd != NULL ? " " : "");
    return TOOL_EXIT_USAGE;
}

/* A number in [min, max]: strtol wraps nothing, but long is wider than the
 * int a timeout is passed as, so the range is checked here explicitly. */
static bool parse_number(const tool_ctx *t, const tool_opt *o, const char *typed, const char *text,
                         int *status)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (text[0] == 0 || *end != 0) {
        *status = tool_usage_error(t, "%s: '%s' is not a whole number", typed, text);
        return false;
    }
    if (errno == ERANGE || v < o->min || v > o->max) {
        *status =
            tool_usage_error(t, "%s: %s is out of range (%ld to %ld)", typed, text, o->min, o->max);
        return false;
    }
    *(long *)o->out = v;
    return true;
}

static const tool_opt *find_opt(const tool_opt *opts, const char *arg)
{
    for (const tool_opt *o = opts; o != NULL && o->name != NULL; o++) {
        if (strcmp(arg, o->name) == 0 ||
            (o->short_name != 0 && arg[0] == '-' && arg[1] == o->short_name && arg[2] == 0)) {
            return o;
        }
    }
    return NULL;
}

/* A lone "-" (standard input) and negative numbers are values, not options. */
static bool looks_like_option(const char *arg)
{
    return arg[0] == '-' && arg[1] != 0 && !(arg[1] >= '0' && arg[1] <= '9') && arg[1] != '.';
}

bool tool_parse(tool_ctx *t, int argc, char **argv, const tool_opt *opts, const char **pos,
                int minpos, int maxpos, const char *const *posnames, int *status)
{
    int npos = 0;
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && looks_like_option(a)) {
            if (strcmp(a, "--") == 0) {
                options_done = true;
                continue;
            }
            if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                command_help(t->cmd);
                *status = TOOL_EXIT_OK;
                return false;
            }
            if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0) {
                t->json = true;
                continue;
            }
            /* "--timeout=500" as well as "--timeout 500" */
            char name[64];
            const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
            snprintf(name, sizeof(name), "%.*s", eq != NULL ? (int)(eq - a) : (int)strlen(a), a);
            const tool_opt *o = find_opt(opts, name);
            if (o == NULL) {
                *status = tool_usage_error(t, "unknown option '%s'", name);
                return false;
            }
            if (o->arg == NULL && eq != NULL) {
                *status = tool_usage_error(t, "%s takes no value", name);
                return false;
            }
            if (o->arg == NULL) {
                *(bool *)o->out = true;
                continue;
            }
            if (eq == NULL && i + 1 >= argc) {
                *status = tool_usage_error(t, "%s needs a value (%s)", name, o->arg);
                return false;
            }
            const char *value = eq != NULL ? eq + 1 : argv[++i];
            if (o->min > o->max && o->min == 2) {
                tool_texts *list = o->out;
                if (list->n == TOOL_TEXTS_MAX) {
                    *status = tool_usage_error(t, "%s at most %d times", name, TOOL_TEXTS_MAX);
                    return false;
                }
                list->v[list->n++] = value;
            } else if (o->min > o->max) {
                *(const char **)o->out = value;
            } else if (!parse_number(t, o, name, value, status)) {
                return false;
            }
            continue;
        }
        if (npos >= maxpos) {
            *status = tool_usage_error(t, "unexpected argument '%s'", a);
            return false;
        }
        pos[npos++] = a;
    }
    if (npos < minpos) {
        *status = tool_usage_error(t, "missing %s", posnames[npos]);
        return false;
    }
    for (int i = npos; i < maxpos; i++) {
        pos[i] = NULL;
    }
    return true;
}

bool tool_parse_one(tool_ctx *t, int argc, char **argv, const tool_opt *opts, const char *posname,
                    const char **arg, int *status)
{
    const char *const names[] = {posname};
    return tool_parse(t, argc, argv, opts, arg, 1, 1, names, status);
}

static int read_stream(FILE *f, char **text)
{
    size_t len = 0;
    size_t cap = 4096;
    char *buf = malloc(cap);
    while (buf != NULL) {
        len += fread(buf + len, 1, cap - 1 - len, f);
        if (ferror(f)) {
            free(buf);
            return -errno;
        }
        if (feof(f)) {
            buf[len] = 0;
            *text = buf;
            return 0;
        }
        char *bigger = cap < ((size_t)256 << 20) ? realloc(buf, cap * 2) : NULL;
        if (bigger == NULL) {
            free(buf);
            return SEAM_ENOMEM;
        }
        buf = bigger;
        cap *= 2;
    }
    return SEAM_ENOMEM;
}

int tool_read_arg(const tool_ctx *t, const char *arg, char **text)
{
    if (strcmp(arg, "-") == 0) {
        int r = read_stream(stdin, text);
        return r < 0 ? tool_fail(t, "standard input", r) : 0;
    }
    if (arg[0] == '@') {
        FILE *f = fopen(arg + 1, "rb");
        if (f == NULL) {
            int r = -errno;
            fprintf(stderr, "seam %s: cannot open %s: %s (%s)\n", t->cmd->name, arg + 1,
                    seam_strerror(r), seam_errname(r));
            return TOOL_EXIT_FAILURE;
        }
        int r = read_stream(f, text);
        fclose(f);
        return r < 0 ? tool_fail(t, arg + 1, r) : 0;
    }
    *text = strdup(arg);
    return *text != NULL ? 0 : tool_fail(t, "argument", SEAM_ENOMEM);
}

int tool_read_value(const tool_ctx *t, const char *arg, seam_value **out)
{
    char *text = NULL;
    int r = tool_read_arg(t, arg, &text);
    if (r != 0) {
        return r;
    }
    seam_json_error e = {0};
    r = seam_value_from_json_ex(text, out, &e);
    bool multiline = strchr(text, '\n') != NULL && strchr(text, '\n')[1] != 0;
    free(text);
    if (r == SEAM_ENOMEM) {
        return tool_fail(t, "reading the value", r);
    }
    if (r < 0) {
        const char *from = strcmp(arg, "-") == 0 ? "standard input"
                           : arg[0] == '@'       ? arg + 1
                                                 : NULL;
        fprintf(stderr, "seam %s: %s%s%s is not JSON seam can read, at ", t->cmd->name,
                from != NULL ? "the value in " : "the value", from != NULL ? from : "",
                from != NULL ? "" : "");
        if (multiline) {
            fprintf(stderr, "line %d, column %d (byte %zu)", e.line, e.column, e.offset);
        } else {
            fprintf(stderr, "byte %zu", e.offset);
        }
        fprintf(stderr, ": %s (%s)\n", e.reason, seam_errname(r));
        return TOOL_EXIT_USAGE;
    }
    return 0;
}

int tool_exit_code(int err)
{
    switch (err) {
    case 0:
        return TOOL_EXIT_OK;
    case SEAM_ENOTFOUND:
        return TOOL_EXIT_NOTFOUND;
    case SEAM_EACCES:
    case SEAM_EPERM:
        return TOOL_EXIT_REFUSED;
    case SEAM_ETIMEDOUT:
        return TOOL_EXIT_TIMEDOUT;
    case SEAM_EREMOTE:
        return TOOL_EXIT_REMOTE;
    default:
        return TOOL_EXIT_FAILURE;
    }
}

int tool_fail(const tool_ctx *t, const char *what, int err)
{
    fprintf(stderr, "seam %s: %s: %s (%s)\n", t->cmd->name, what, seam_strerror(err),
            seam_errname(err));
    return tool_exit_code(err);
}

int tool_fail_name(const tool_ctx *t, const char *name, int err)
{
    char path[512];
    if (err == SEAM_EINVAL && seam_name_path(name, path, sizeof(path)) == SEAM_EINVAL) {
        fprintf(stderr,
                "seam %s: bad name '%s': a name is 1 to 200 letters, digits, '.', '_' and '-', "
                "not starting with '.', or unix:/PATH (SEAM_EINVAL)\n",
                t->cmd->name, name);
        return TOOL_EXIT_USAGE;
    }
    if (strncmp(name, "unix:", 5) != 0 && err > SEAM__ERRNO_MAX) {
        /* A system error before any socket: most likely the runtime
         * directory, which the library could not make or use. */
        char dir[512] = "";
        int r = seam_runtime_dir(dir, sizeof(dir));
        if (r < 0 && dir[0] != 0) {
            fprintf(stderr, "seam %s: %s: runtime directory %s: %s (%s)\n", t->cmd->name, name, dir,
                    seam_strerror(r), seam_errname(r));
            return tool_exit_code(r);
        }
    }
    if (err == SEAM_EPERM && seam_name_path(name, path, sizeof(path)) == 0) {
        /* connect() itself was refused by the socket's file mode */
        fprintf(stderr, "seam %s: %s: no permission to connect to %s (%s)\n", t->cmd->name, name,
                path, seam_errname(err));
        return TOOL_EXIT_REFUSED;
    }
    if (err == SEAM_ENOTFOUND && seam_name_path(name, path, sizeof(path)) == 0) {
        fprintf(stderr, "seam %s: %s: no server listens on %s (%s)\n", t->cmd->name, name, path,
                seam_errname(err));
        return TOOL_EXIT_NOTFOUND;
    }
    return tool_fail(t, name, err);
}

void tool_print_json(seam_value *v)
{
    char *json = seam_value_to_json(v, SEAM_JSON_PORTABLE);
    seam_value_unref(v);
    printf("%s\n", json != NULL ? json : "null");
    free(json);
    fflush(stdout);
}

static int cmd_encode(tool_ctx *t, int argc, char **argv)
{
    const char *arg;
    int status;
    if (!tool_parse_one(t, argc, argv, NULL, "VALUE", &arg, &status)) {
        return status;
    }
    seam_value *v = NULL;
    int r = tool_read_value(t, arg, &v);
    if (r != 0) {
        return r;
    }
    uint8_t *bytes = NULL;
    size_t len = 0;
    r = seam_value_encode(v, &bytes, &len);
    seam_value_unref(v);
    if (r < 0) {
        return tool_fail(t, "cannot encode", r);
    }
    char *hex = malloc(len * 2 + 1);
    if (hex == NULL) {
        free(bytes);
        return tool_fail(t, "encode", SEAM_ENOMEM);
    }
    for (size_t i = 0; i < len; i++) {
        snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
    }
    hex[len * 2] = 0;
    free(bytes);
    if (t->json) {
        seam_value *e = seam_value_new_dict();
        seam_dict_set_string(e, "hex", hex);
        seam_dict_set_int64(e, "bytes", (int64_t)len);
        tool_print_json(e);
    } else {
        printf("%s\n", hex);
    }
    free(hex);
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

static int cmd_decode(tool_ctx *t, int argc, char **argv)
{
    const char *arg;
    int status;
    if (!tool_parse_one(t, argc, argv, NULL, "HEX", &arg, &status)) {
        return status;
    }
    char *hex = NULL;
    int r = tool_read_arg(t, arg, &hex);
    if (r != 0) {
        return r;
    }
    size_t n = strlen(hex);
    uint8_t *bytes = malloc(n / 2 + 1);
    size_t len = 0;
    if (bytes == NULL) {
        free(hex);
        return tool_fail(t, "decode", SEAM_ENOMEM);
    }
    for (size_t i = 0; i < n;) {
        if (hex[i] == ' ' || hex[i] == ':' || hex[i] == '\n' || hex[i] == '\t' || hex[i] == '\r') {
            i++;
            continue;
        }
        int hi = hex_digit(hex[i]);
        int lo = i + 1 < n ? hex_digit(hex[i + 1]) : -1;
        if (hi < 0 || lo < 0) {
            free(bytes);
            free(hex);
            fprintf(stderr, "seam decode: not hexadecimal at offset %zu\n", i);
            return TOOL_EXIT_USAGE;
        }
        bytes[len++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    free(hex);
    seam_value *v = NULL;
    r = seam_value_decode(bytes, len, NULL, &v);
    free(bytes);
    if (r < 0) {
        return tool_fail(t, "cannot decode", r);
    }
    char *json = seam_value_to_json(v, t->json ? SEAM_JSON_PORTABLE : SEAM_JSON_PRETTY);
    seam_value_unref(v);
    if (json == NULL) {
        return tool_fail(t, "cannot render", SEAM_ENOMEM);
    }
    printf("%s\n", json);
    free(json);
    return 0;
}

static void print_version(const tool_ctx *t)
{
    if (t->json) {
        seam_value *e = seam_value_new_dict();
        seam_dict_set_string(e, "version", seam_version());
        seam_dict_set_int64(e, "protocol", SEAM_PROTOCOL_VERSION);
        tool_print_json(e);
    } else {
        printf("seam %s, protocol %d\n", seam_version(), SEAM_PROTOCOL_VERSION);
    }
}

static int cmd_version(tool_ctx *t, int argc, char **argv)
{
    int status;
    if (!tool_parse(t, argc, argv, NULL, NULL, 0, 0, NULL, &status)) {
        return status;
    }
    print_version(t);
    return 0;
}

static int cmd_help(tool_ctx *t, int argc, char **argv)
{
    static const char *const names[] = {"COMMAND"};
    const char *pos[1];
    int status;
    if (!tool_parse(t, argc, argv, NULL, pos, 0, 1, names, &status)) {
        return status;
    }
    if (pos[0] == NULL) {
        overview(stdout);
        return 0;
    }
    const tool_cmd *c = find_command(pos[0]);
    if (c == NULL) {
        return tool_usage_error(t, "no command '%s'", pos[0]);
    }
    command_help(c);
    return 0;
}

int main(int argc, char **argv)
{
    tool_ctx t = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            t.json = t.json || (i + 1 < argc && (strcmp(argv[i + 1], "--json") == 0 ||
                                                 strcmp(argv[i + 1], "-j") == 0));
            print_version(&t);
            return 0;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            overview(stdout);
            return 0;
        }
        if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0) {
            t.json = true;
            continue;
        }
        return tool_usage_error(&t, "unknown option '%s'", a);
    }
    if (i >= argc) {
        overview(stderr);
        return TOOL_EXIT_USAGE;
    }
    t.cmd = find_command(argv[i]);
    if (t.cmd == NULL) {
        fprintf(stderr, "seam: no command '%s'\nTry 'seam --help'.\n", argv[i]);
        return TOOL_EXIT_USAGE;
    }
    return t.cmd->run(&t, argc - i - 1, argv + i + 1);
}
