/* SPDX-License-Identifier: MIT */
/* tool.h - shared by the seam tool's source files: the command table,
 * argument parsing, value input, error reporting and exit codes. */
#ifndef SEAM_TOOL_H
#define SEAM_TOOL_H

#include <seam.h>

#include <stdbool.h>
#include <stdio.h>

/* Exit codes (docs/cli.md). Scripts rely on them: never renumber. */
enum {
    TOOL_EXIT_OK = 0,
    TOOL_EXIT_FAILURE = 1,  /* anything not listed below */
    TOOL_EXIT_USAGE = 2,    /* the command line is wrong: option, argument, name, value */
    TOOL_EXIT_NOTFOUND = 3, /* no server listens on the name */
    TOOL_EXIT_REFUSED = 4,  /* the server refused us (accept filter, too many peers) */
    TOOL_EXIT_TIMEDOUT = 5, /* a call or ping timed out */
    TOOL_EXIT_REMOTE = 6,   /* the server answered the call with an error */
};

typedef struct tool_ctx tool_ctx;

typedef struct tool_cmd {
    const char *name;
    const char *synopsis; /* arguments after the name, e.g. "NAME JSON [--timeout MS]" */
    const char *summary;  /* one line for the overview */
    const char *help;     /* options and examples for `seam help NAME` */
    int (*run)(tool_ctx *t, int argc, char **argv);
} tool_cmd;

struct tool_ctx {
    const tool_cmd *cmd;
    bool json; /* --json: machine output */
};

/* An option of a command: a flag (arg NULL, out a bool *) or a number in
 * [min, max] (arg names it, out a long *). */
typedef struct tool_opt {
    const char *name; /* "--timeout" */
    char short_name;  /* 't', or 0 */
    const char *arg;  /* "MS", or NULL for a flag */
    long min;         /* min > max: the value is text (see TOOL_TEXT) */
    long max;
    void *out;
} tool_opt;

/* In place of min and max: the option's value is text, stored as a
 * const char * (argv's own string). */
#define TOOL_TEXT 1, 0

/* In place of min and max: the option may be given again and again, each
 * value text kept in order in a tool_texts (argv's own strings). */
#define TOOL_TEXTS     2, 0
#define TOOL_TEXTS_MAX 64

typedef struct tool_texts {
    const char *v[TOOL_TEXTS_MAX];
    int n;
} tool_texts;

/* Parses argv against opts (terminated by a zeroed entry; --json, -j,
 * --help and -h are understood by every command) and stores up to maxpos
 * positional arguments in pos. Returns true to go on; false when the
 * command is over, with *status its exit code (0 after --help). "--" ends
 * the options, so that a JSON value such as -1 is positional anyway. */
bool tool_parse(tool_ctx *t, int argc, char **argv, const tool_opt *opts, const char **pos,
                int minpos, int maxpos, const char *const *posnames, int *status);

/* tool_parse() for a command whose one positional argument, named posname
 * in messages, is required. */
bool tool_parse_one(tool_ctx *t, int argc, char **argv, const tool_opt *opts, const char *posname,
                    const char **arg, int *status);

/* Prints "seam CMD: MESSAGE" and the hint to --help on stderr; returns
 * TOOL_EXIT_USAGE. */
int tool_usage_error(const tool_ctx *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads an argument that holds a value's text: "-" is standard input,
 * "@FILE" the file's contents, anything else the text itself. Returns 0
 * and a malloc'd NUL-terminated string, or an exit code after saying why. */
int tool_read_arg(const tool_ctx *t, const char *arg, char **text);

/* tool_read_arg() and then JSON to a value; a JSON error names its reason
 * and position. Returns 0 or an exit code after saying why. */
int tool_read_value(const tool_ctx *t, const char *arg, seam_value **out);

/* The exit code for a SEAM_E* code. */
int tool_exit_code(int err);

/* Prints "seam CMD: WHAT: description (NAME)" and returns tool_exit_code(). */
int tool_fail(const tool_ctx *t, const char *what, int err);

/* As tool_fail() for an error of connecting to or serving name: says which
 * rule a bad name breaks, which path nobody listens on, which runtime
 * directory could not be made. */
int tool_fail_name(const tool_ctx *t, const char *name, int err);

/* Prints a value as one compact JSON line on stdout, consuming it. */
void tool_print_json(seam_value *v);

/* Ends the loops of listen, ping, watch and monitor at SIGINT or SIGTERM:
 * tool_catch_signals() installs the handlers, tool_stopped() tells. */
void tool_catch_signals(void);
bool tool_stopped(void);
/* Milliseconds on the monotonic clock. */
double tool_now_ms(void);
/* Microseconds since the epoch: the tool's own numbers in JSON output are
 * integers, so that no reader mistakes their type (docs/cli.md). */
int64_t tool_wall_us(void);
/* {"event": what}: the start of every JSON line of a stream. */
seam_value *tool_json_event(const char *what);
/* tool_parse() for a command whose one positional argument is NAME. */
bool tool_parse_name(tool_ctx *t, int argc, char **argv, const tool_opt *opts, const char **name,
                     int *status);

/* A client connection whose handshake is over before a command uses it,
 * so that a refusal shows up as such rather than as a reset later. */
typedef struct tool_client {
    seam_loop *loop;
    seam_conn *conn;
    int state;        /* 0: handshake under way, 1: connected, < 0: why it failed */
    int ended;        /* the error of the INTERRUPTED or INVALID that ended it, else 0 */
    char rule[32];    /* ... and the rule its goodbye named ("" if none) */
    char reason[256]; /* ... and the goodbye's reason ("" if none) */
    seam_event_fn on_event;
    void *userdata;
} tool_client;

/* Connects (cfg may be NULL; its on_event and userdata get the events) and
 * waits up to 10 s for the handshake. Returns 0 or why not. */
int tool_client_open(tool_client *cl, const char *name, const seam_conn_config *cfg);
void tool_client_close(tool_client *cl);
/* Closes the client after a command failed with r and returns how the
 * connection ended where r says only that the peer is gone. */
int tool_client_end(tool_client *cl, int r);
/* Reports a failure whose code may be how a connection ended: refused, a
 * protocol error (which rule), a clean close or a crash; other codes as
 * tool_fail_name(). Returns the exit code. */
int tool_fail_ended(const tool_ctx *t, const char *name, const tool_client *cl, int err);

/* tool_parse_name() and then tool_client_open() to NAME. Returns true when
 * connected; false when the command is over, with *status its exit code
 * after saying why: a failure to connect as tool_fail_ended() where ended
 * is true, else as tool_fail_name(). */
bool tool_client_start(tool_ctx *t, int argc, char **argv, const tool_opt *opts,
                       const seam_conn_config *cfg, bool ended, tool_client *cl, const char **name,
                       int *status);
/* Pings and runs the loop until the pong: 0, or why not. Frames are
 * handled in order, so a pong proves that what was sent before arrived. */
int tool_ping_wait(tool_client *cl, int timeout_ms);
/* Sends the reserved request {"$seam": what} (docs/protocol.md) and waits
 * up to timeout_ms for its reply, as seam_conn_call_sync(). */
int tool_client_ask(tool_client *cl, const char *what, int timeout_ms, seam_value **reply);

/* What /proc tells of a process: its effective uid, executable (empty
 * where we may not read it) and start time (0 if unknown). */
typedef struct tool_owner {
    long pid; /* 0: no process */
    long uid; /* -1: unknown */
    char exe[512];
    int64_t started_us; /* since the epoch */
} tool_owner;

void tool_proc_owner(long pid, tool_owner *o);
/* The login name of uid, its number when it has none, "-" for -1. */
void tool_user_name(long uid, char *buf, size_t len);
/* Local time "YYYY-MM-DD HH:MM:SS", or "-" for 0. */
void tool_time_text(int64_t us, char *buf, size_t len);

/* stream.c: calls with intermediate replies (printed one JSON a line as
 * they come; Ctrl-C cancels) and answers that make them. tool_call_more
 * returns as seam_conn_call_sync(); tool_stream_answer sends n
 * intermediate replies {"seq": i} (fewer if the caller did not ask or
 * stops reading), then request as the final reply. */
int tool_call_more(const tool_ctx *t, tool_client *cl, const seam_value *v, int timeout_ms,
                   seam_value **reply);
int tool_stream_answer(seam_request *req, const seam_value *request, long n);

int tool_listen(tool_ctx *t, int argc, char **argv);
int tool_send(tool_ctx *t, int argc, char **argv);
int tool_call(tool_ctx *t, int argc, char **argv);
int tool_ping(tool_ctx *t, int argc, char **argv);
int tool_flood(tool_ctx *t, int argc, char **argv);
int tool_watch(tool_ctx *t, int argc, char **argv);
int tool_list(tool_ctx *t, int argc, char **argv);
int tool_status(tool_ctx *t, int argc, char **argv);
int tool_monitor(tool_ctx *t, int argc, char **argv);

/* pubsub.c: seam subscribe, and publishing for seam listen. */
int tool_subscribe(tool_ctx *t, int argc, char **argv);
/* Publishes TOPIC=JSON on server and says so; 0 or a negative code. */
int tool_publish_arg(const tool_ctx *t, seam_server *server, const char *arg);
typedef struct tool_lines {
    char buf[65536];
    size_t len;
} tool_lines;
/* Publishes each "TOPIC JSON" line standard input has ready, without
 * waiting; false once standard input has ended. */
bool tool_publish_stdin(const tool_ctx *t, seam_server *server, tool_lines *in);

#endif /* SEAM_TOOL_H */
