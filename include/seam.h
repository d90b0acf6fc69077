/* SPDX-License-Identifier: MIT */
/* seam.h - public API of seam: typed values, their CBOR encoding, errors.
 *
 * Every function that can fail at run time returns a negative SEAM_E* code
 * (see seam_strerror()); passing a NULL where a value is required is a
 * programmer's mistake and is caught by an assert in debug builds and by an
 * SEAM_EINVAL return otherwise. */
#ifndef SEAM_H
#define SEAM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(SEAM_STATIC_BUILD)
#define SEAM_EXPORT __attribute__((visibility("default")))
#else
#define SEAM_EXPORT
#endif

/* ---- Version ----------------------------------------------------------- */

#define SEAM_VERSION_MAJOR 0
#define SEAM_VERSION_MINOR 1
#define SEAM_VERSION_PATCH 0

/* The wire protocol version this library speaks (docs/protocol.md). */
#define SEAM_PROTOCOL_VERSION 1

/* Returns the library version as "MAJOR.MINOR.PATCH". */
SEAM_EXPORT const char *seam_version(void);

/* ---- Errors ------------------------------------------------------------ */

/* Error codes. Where a POSIX errno has the same meaning, the code is its
 * negation, so that system errors pass through unchanged. The others are
 * seam's own and lie below SEAM__ERRNO_MAX. */
#define SEAM_EINVAL       (-EINVAL)       /* invalid argument */
#define SEAM_ENOMEM       (-ENOMEM)       /* out of memory */
#define SEAM_EAGAIN       (-EAGAIN)       /* would block: queue full, retry later */
#define SEAM_ERANGE       (-ERANGE)       /* number out of the representable range */
#define SEAM_EMSGSIZE     (-EMSGSIZE)     /* message or frame larger than allowed */
#define SEAM_ENOBUFS      (-ENOBUFS)      /* a bound on what a connection holds was reached */
#define SEAM_EBADF        (-EBADF)        /* bad file descriptor */
#define SEAM_ETIMEDOUT    (-ETIMEDOUT)    /* call timed out */
#define SEAM_ECANCELED    (-ECANCELED)    /* call cancelled */
#define SEAM_EPROTO       (-EPROTO)       /* peer violated the protocol */
#define SEAM_ECONNRESET   (-ECONNRESET)   /* peer went away */
#define SEAM_EADDRINUSE   (-EADDRINUSE)   /* name owned by a live server */
#define SEAM_EACCES       (-EACCES)       /* refused: accept filter, unsafe directory */
#define SEAM_ENOTSUP      (-ENOTSUP)      /* operation not supported */
#define SEAM_EBUSY        (-EBUSY)        /* not possible from where it was called */
#define SEAM_EEXIST       (-EEXIST)       /* a file that is not a socket is in the way */
#define SEAM_ENAMETOOLONG (-ENAMETOOLONG) /* socket path does not fit sockaddr_un */
#define SEAM_EPERM        (-EPERM)        /* file mode of the socket or a directory */

#define SEAM__ERRNO_MAX   (-3000)
#define SEAM_ETRUNCATED   (-3001) /* input ends inside an item */
#define SEAM_EMALFORMED   (-3002) /* input is not well-formed CBOR */
#define SEAM_ETRAILING    (-3003) /* bytes follow the top-level item */
#define SEAM_EDEPTH       (-3004) /* nesting deeper than the limit */
#define SEAM_ECOUNT       (-3005) /* more items than the limit */
#define SEAM_ETOOLONG     (-3006) /* string or data longer than the limit */
#define SEAM_EKEY         (-3007) /* map key is not a NUL-free text string */
#define SEAM_EDUPKEY      (-3008) /* the same map key appears twice */
#define SEAM_EUTF8        (-3009) /* text string is not valid UTF-8 */
#define SEAM_EINDEF       (-3010) /* indefinite-length item */
#define SEAM_ETAG         (-3011) /* unknown tag, or tag on the wrong item */
#define SEAM_ESIMPLE      (-3012) /* undefined or an unassigned simple value */
#define SEAM_EFDINDEX     (-3013) /* fd value names no passed descriptor */
#define SEAM_EFRAMEKIND   (-3014) /* unknown frame kind */
#define SEAM_EFRAMEFLAGS  (-3015) /* frame flags not valid for its kind */
#define SEAM_EFRAMEFDS    (-3016) /* frame carries too many or unexpected fds */
#define SEAM_EFRAMEID     (-3017) /* frame id not valid for its kind */
#define SEAM_EFRAMELEN    (-3018) /* payload length not valid for its kind */
#define SEAM_EJSON        (-3019) /* text is not JSON seam can represent */
#define SEAM_EFD          (-3020) /* value holds an fd where none may go */
#define SEAM_EHANDSHAKE   (-3021) /* hello missing, malformed or incompatible */
#define SEAM_ENOTFOUND    (-3022) /* no server listens on that name */
#define SEAM_ECLOSED      (-3023) /* object was closed */
#define SEAM_EREMOTE      (-3024) /* the peer answered a call with an error */
#define SEAM_ENOCALL      (-3025) /* no call in flight with that id */
#define SEAM_ENOTENDPOINT (-3040) /* descriptor is no endpoint of this process */
#define SEAM_EMEMFD       (-3041) /* memfd not sealed as required, or not its stated size */
#define SEAM__ELAST       (-3041)

/* Returns a short English description of a SEAM_E* code (or any negated
 * errno); 0 gives "success". Never NULL; unknown codes get "unknown
 * error". */
SEAM_EXPORT const char *seam_strerror(int err);

/* Returns the symbolic name of a code, e.g. "SEAM_EDUPKEY" (0 gives "0"), or
 * for a negated system errno without a SEAM_ name its C name ("ENOENT");
 * codes it does not know get "SEAM_EUNKNOWN". Never NULL. */
SEAM_EXPORT const char *seam_errname(int err);

/* ---- Values ------------------------------------------------------------ */

/* A message is a tree of reference-counted values. A new value has one
 * reference, owned by the caller; seam_value_unref() drops one and frees the
 * value when none remain. Reference counting is thread-safe; mutating an
 * array or dictionary while another thread reads it is not.
 *
 * The values decoded from one message (or one seam_value_decode()) share
 * one allocation, made before decoding and about the size of the decoded
 * tree (the payload's bytes plus 40 to 48 bytes a value). They are counted
 * and released one by one as any value is; the allocation goes when the
 * last of them does, so a part kept past its message (say a 16-byte string
 * of a 1 MiB message) keeps the whole message's memory until it is
 * released: seam_value_copy() it to keep only the part. */
typedef struct seam_value seam_value;

typedef enum seam_type {
    SEAM_TYPE_NULL = 1,
    SEAM_TYPE_BOOL,
    SEAM_TYPE_INT64,
    SEAM_TYPE_UINT64,
    SEAM_TYPE_DOUBLE,
    SEAM_TYPE_STRING,
    SEAM_TYPE_DATA,
    SEAM_TYPE_DATE,
    SEAM_TYPE_UUID,
    SEAM_TYPE_ARRAY,
    SEAM_TYPE_DICT,
    SEAM_TYPE_FD,
} seam_type;

/* Returns the type's lower-case name ("dict", "uuid" ...), or "invalid". */
SEAM_EXPORT const char *seam_type_name(seam_type type);

/* Constructors. Each returns a new value with one reference, or NULL when
 * memory runs out or the input is not acceptable (noted per function). */
SEAM_EXPORT seam_value *seam_value_new_null(void);
SEAM_EXPORT seam_value *seam_value_new_bool(bool b);
SEAM_EXPORT seam_value *seam_value_new_int64(int64_t i);
SEAM_EXPORT seam_value *seam_value_new_uint64(uint64_t u);
SEAM_EXPORT seam_value *seam_value_new_double(double d);
/* Copies a NUL-terminated string. NULL if it is not valid UTF-8. */
SEAM_EXPORT seam_value *seam_value_new_string(const char *s);
/* Copies len bytes (which may include NULs). NULL if not valid UTF-8. */
SEAM_EXPORT seam_value *seam_value_new_string_len(const char *s, size_t len);
/* Copies len bytes; bytes may be NULL when len is 0. */
SEAM_EXPORT seam_value *seam_value_new_data(const void *bytes, size_t len);
/* A point in time: seconds since 1970-01-01T00:00:00Z (UTC), fractional
 * part allowed. Must be finite. */
SEAM_EXPORT seam_value *seam_value_new_date(double seconds);
SEAM_EXPORT seam_value *seam_value_new_uuid(const uint8_t uuid[16]);
SEAM_EXPORT seam_value *seam_value_new_array(void);
SEAM_EXPORT seam_value *seam_value_new_dict(void);
/* Duplicates fd (close-on-exec); the value owns the duplicate and closes it
 * when freed. The caller keeps its own fd. NULL if fd is not open. */
SEAM_EXPORT seam_value *seam_value_new_fd(int fd);
/* Data in a memfd the caller filled itself (memfd_create() with
 * MFD_ALLOW_SEALING): checks that it holds exactly len bytes, seals it
 * against writing, shrinking and growing (F_SEAL_WRITE, F_SEAL_SHRINK,
 * F_SEAL_GROW and F_SEAL_SEAL; seals it has already stay), maps it
 * read-only and takes it: the value owns fd and closes it when freed, and
 * its bytes (seam_value_get_data()) are the mapping. Sent to a peer that
 * takes memfds, when len is at least the peer's threshold, the descriptor
 * travels instead of the bytes and nothing is copied (docs/protocol.md,
 * "Data in sealed memfds"); to any other peer, or by seam_value_encode(),
 * it is an ordinary byte string: so also when sent before the connection's
 * handshake is done (the peer's threshold is not known yet; the bytes then
 * count against max_frame). On failure NULL with errno set, and fd
 * stays the caller's (the seals may have been added): EBADF (not a memfd
 * or other file that takes seals, e.g. a pipe, or fd < 0), EINVAL (its
 * size is not len, len is 0, or it has holes: every page must be written
 * or fallocate()d, since a receiver refuses a memfd with holes), EBUSY (a
 * writable shared mapping of it is still alive: unmap it first), EPERM
 * (sealed against further seals without these; also a memfd made without
 * MFD_ALLOW_SEALING, or a tmpfs file, which the kernel reports so), ENOMEM,
 * ENOSYS (no memfds on this system). */
SEAM_EXPORT seam_value *seam_value_new_data_memfd(int fd, size_t len);

SEAM_EXPORT seam_value *seam_value_ref(seam_value *v);
SEAM_EXPORT void seam_value_unref(seam_value *v);

SEAM_EXPORT seam_type seam_value_type(const seam_value *v);

/* Typed getters. Each returns false, leaving *out untouched, when v is NULL
 * or of another type: a receiver never has to trust what it was sent.
 * Integers are one kind on the wire, so get_int64 also accepts a uint64
 * value up to INT64_MAX and get_uint64 a non-negative int64 value. */
SEAM_EXPORT bool seam_value_get_bool(const seam_value *v, bool *out);
SEAM_EXPORT bool seam_value_get_int64(const seam_value *v, int64_t *out);
SEAM_EXPORT bool seam_value_get_uint64(const seam_value *v, uint64_t *out);
SEAM_EXPORT bool seam_value_get_double(const seam_value *v, double *out);
SEAM_EXPORT bool seam_value_get_date(const seam_value *v, double *out);
SEAM_EXPORT bool seam_value_get_uuid(const seam_value *v, uint8_t out[16]);
/* Borrowed: valid while v lives. The string is NUL-terminated; len (may be
 * NULL) receives its length, which counts embedded NULs. NULL on mismatch. */
SEAM_EXPORT const char *seam_value_get_string(const seam_value *v, size_t *len);
/* Borrowed bytes and their length; NULL on mismatch (and for empty data,
 * where *len is set to 0 and the call returns a non-NULL pointer). For
 * data in a memfd (made by seam_value_new_data_memfd(), or received as
 * one) the bytes are a read-only mapping: never write to them. */
SEAM_EXPORT const void *seam_value_get_data(const seam_value *v, size_t *len);
/* The sealed memfd whose mapping a data value's bytes are, borrowed
 * (valid while v lives; seam_value_dup_fd() does not apply: dup() it to
 * keep it), or -1 for any other value. Data received as a memfd has one:
 * keeping a reference to the value keeps the mapping (no copy), and
 * sending the value on passes the same memfd again. */
SEAM_EXPORT int seam_value_get_memfd(const seam_value *v);
/* Borrowed descriptor owned by v, or -1 on mismatch. */
SEAM_EXPORT int seam_value_get_fd(const seam_value *v);
/* A new close-on-exec duplicate the caller owns, or a negative code. */
SEAM_EXPORT int seam_value_dup_fd(const seam_value *v);

/* Arrays. get returns a borrowed value or NULL past the end; append takes a
 * new reference to item (the caller keeps its own); append_take consumes
 * the caller's reference (also on failure), which makes building trees in
 * one expression easy. Both return 0 or a negative code. */
SEAM_EXPORT size_t seam_array_count(const seam_value *array);
SEAM_EXPORT seam_value *seam_array_get(const seam_value *array, size_t index);
SEAM_EXPORT int seam_array_append(seam_value *array, seam_value *item);
SEAM_EXPORT int seam_array_append_take(seam_value *array, seam_value *item);

/* Dictionaries: string keys (NUL-free UTF-8), insertion order kept. set
 * replaces an existing key in place. get returns a borrowed value or NULL. */
SEAM_EXPORT size_t seam_dict_count(const seam_value *dict);
SEAM_EXPORT seam_value *seam_dict_get(const seam_value *dict, const char *key);
SEAM_EXPORT int seam_dict_set(seam_value *dict, const char *key, seam_value *item);
SEAM_EXPORT int seam_dict_set_take(seam_value *dict, const char *key, seam_value *item);
/* Returns 0, or SEAM_EINVAL when the key was not there. */
SEAM_EXPORT int seam_dict_remove(seam_value *dict, const char *key);
/* The entry at position index in insertion order: returns the borrowed value
 * and stores the borrowed key in *key; NULL past the end. */
SEAM_EXPORT seam_value *seam_dict_entry(const seam_value *dict, size_t index, const char **key);

/* Shorthands for the common case of building and reading dictionaries.
 * When key already holds a value of the setter's type that nothing else
 * references and that was not decoded, the setter overwrites it in place
 * (a string or data while it fits the bytes of the one it replaces): a
 * dictionary kept and updated between sends allocates nothing. */
SEAM_EXPORT int seam_dict_set_string(seam_value *dict, const char *key, const char *s);
SEAM_EXPORT int seam_dict_set_int64(seam_value *dict, const char *key, int64_t i);
SEAM_EXPORT int seam_dict_set_bool(seam_value *dict, const char *key, bool b);
SEAM_EXPORT int seam_dict_set_double(seam_value *dict, const char *key, double d);
SEAM_EXPORT int seam_dict_set_data(seam_value *dict, const char *key, const void *bytes,
                                   size_t len);
/* Typed lookups: the string (borrowed) or NULL, and for the others true
 * with *out set, false when the key is absent or holds another type. */
SEAM_EXPORT const char *seam_dict_get_string(const seam_value *dict, const char *key);
SEAM_EXPORT bool seam_dict_get_int64(const seam_value *dict, const char *key, int64_t *out);
SEAM_EXPORT bool seam_dict_get_bool(const seam_value *dict, const char *key, bool *out);
SEAM_EXPORT bool seam_dict_get_double(const seam_value *dict, const char *key, double *out);

/* Deep equality. Integers compare by numeric value whatever their C type;
 * doubles compare bitwise after treating +0 and -0 as equal, so a NaN equals
 * itself (a round trip must compare equal); fds are equal when both refer to
 * the same open file description. Dictionaries compare as sets of entries. */
SEAM_EXPORT bool seam_value_equal(const seam_value *a, const seam_value *b);

/* A deep copy with one reference (fds duplicated), or NULL without memory. */
SEAM_EXPORT seam_value *seam_value_copy(const seam_value *v);

/* ---- JSON (for people and the command-line tool; docs/json.md) --------- */

#define SEAM_JSON_PRETTY   0x1 /* indent with two spaces */
/* For readers that hold every number as a double (JavaScript, jq 1.6): a
 * double with an integral value is written {"$double": "1.0"} and an
 * integer beyond +-(2^53 - 1) as {"$int64": "..."} (or "$uint64" for a uint64),
 * so that reading the text back gives the same types and values. */
#define SEAM_JSON_PORTABLE 0x2

/* Renders v as JSON in a malloc'd string the caller frees, or NULL without
 * memory. Types JSON lacks use one-key objects: {"$data": base64},
 * {"$date": seconds}, {"$uuid": "8-4-4-4-12"}, {"$fd": number},
 * {"$uint64": "decimal"} above INT64_MAX, {"$double": "nan"|"inf"|"-inf"}.
 * Reading also takes {"$int64": "decimal"} and {"$double": "number"}. */
SEAM_EXPORT char *seam_value_to_json(const seam_value *v, unsigned flags);

/* Parses JSON text into a value (the inverse of seam_value_to_json(); "$fd"
 * objects are refused with SEAM_EFD since a number names no descriptor
 * here). Returns 0 and stores a new value in *out, or a negative code. */
SEAM_EXPORT int seam_value_from_json(const char *text, seam_value **out);

/* Where and why JSON text could not be read. */
typedef struct seam_json_error {
    size_t offset;    /* bytes from the start of the text to the problem */
    int line;         /* 1-based line of offset */
    int column;       /* 1-based column of offset, in bytes */
    char reason[256]; /* e.g. "duplicate object key near '"a"'" */
} seam_json_error;

/* seam_value_from_json() that also says where and why it failed: on any
 * error but SEAM_ENOMEM and SEAM_EINVAL, *error (may be NULL) is filled.
 * For a syntax error the position is where the parser stopped; for a value
 * JSON can write but seam cannot hold (bad base64, a "$uint64" out of
 * range, a "$fd", ...) it is the start of that value. */
SEAM_EXPORT int seam_value_from_json_ex(const char *text, seam_value **out, seam_json_error *error);

/* ---- CBOR encoding (docs/protocol.md, "Values") ------------------------ */

/* Limits applied while decoding untrusted bytes. Zero fields take defaults. */
typedef struct seam_decode_limits {
    uint32_t max_depth;  /* nesting of arrays/dicts (default 64) */
    uint32_t max_items;  /* values in the whole tree (default 1048576) */
    uint32_t max_string; /* bytes in one string or data (default 16 MiB) */
} seam_decode_limits;

/* Encodes v as CBOR into a malloc'd buffer the caller frees. Values holding
 * fds are refused with SEAM_EFD (fds travel only inside messages). Returns 0
 * or a negative code. */
SEAM_EXPORT int seam_value_encode(const seam_value *v, uint8_t **bytes, size_t *len);

/* Decodes exactly one CBOR item occupying all len bytes. limits may be NULL
 * for the defaults. Returns 0 and a new value in *out, or a negative code
 * naming the first problem found (SEAM_ETRUNCATED, SEAM_EDUPKEY ...). */
SEAM_EXPORT int seam_value_decode(const uint8_t *bytes, size_t len,
                                  const seam_decode_limits *limits, seam_value **out);

/* ==== Runtime: loops, servers, connections, calls ======================== */

/* A binding of seam to one event loop, made by an adapter (seam/poll.h,
 * seam/uv.h ...). Everything below runs on that loop's thread; the only
 * functions that may be called from other threads are seam_loop_post() and
 * the value functions on values not shared with seam. */
typedef struct seam_loop seam_loop;
typedef struct seam_server seam_server;
typedef struct seam_conn seam_conn;
/* A request received from a peer, to be answered once. */
typedef struct seam_request seam_request;

/* Timeout value meaning "wait for ever". */
#define SEAM_NO_TIMEOUT (-1)

/* Runs fn(arg) on the loop's thread soon, from the loop's own dispatch.
 * The one thread-safe entry point: call it from any thread. Returns 0 (fn
 * runs exactly once), or SEAM_ENOMEM, or SEAM_ECLOSED when seam_loop_free()
 * has already taken the last posted work (fn then never runs; arg is still
 * the caller's).
 *
 * Racing seam_loop_free(): a post that starts before seam_loop_free()
 * returns is safe. Work posted before the teardown's last drain runs (inside
 * seam_loop_free() at the latest); a post after it gets SEAM_ECLOSED. Once
 * fn can run, seam_loop_post() no longer touches the loop, so fn (or the
 * thread it signals) may free the loop while the poster is still returning.
 * Starting a post after seam_loop_free() has returned is a use after free:
 * stop or join the posting threads first, or make their last post the
 * signal to free. */
SEAM_EXPORT int seam_loop_post(seam_loop *loop, void (*fn)(void *arg), void *arg);

/* Tears the binding down: runs work still posted (see seam_loop_post()
 * for posts racing it), closes every server and
 * connection left on it (their calls complete with SEAM_ECANCELED, from
 * inside this function - the one place a callback runs outside the loop's
 * dispatch) and releases the adapter. Adapters whose loop closes handles
 * asynchronously finish on the loop's next iteration; see each adapter's
 * header. Safe to call from inside a callback; the rest then happens when
 * the callback returns.
 *
 * Kept requests (seam_request_keep()) are not freed by this: each is still
 * the user's to finish, before or after, with seam_request_drop() (or a
 * reply, which then returns SEAM_ECLOSED and releases it just the same);
 * once its connection is gone seam_request_conn() is NULL. Nothing is sent
 * for them after the free: their peers see the connection close. An
 * unfinished kept request is a leak. */
SEAM_EXPORT void seam_loop_free(seam_loop *loop);

typedef enum seam_log_level {
    SEAM_LOG_ERROR = 1, /* something failed that the library cannot report otherwise */
    SEAM_LOG_WARN,      /* a peer misbehaved and was disconnected */
    SEAM_LOG_INFO,      /* connections made and ended */
    SEAM_LOG_DEBUG,     /* every frame */
} seam_log_level;

typedef void (*seam_log_fn)(seam_log_level level, const char *message, void *userdata);

/* Installs a logger receiving messages up to max (inclusive). Logging is off
 * until this is called; fn NULL turns it off again. */
SEAM_EXPORT void seam_loop_set_logger(seam_loop *loop, seam_log_level max, seam_log_fn fn,
                                      void *userdata);

/* ---- Names ---------------------------------------------------------------
 * "com.example.echo" is a socket named com.example.echo.sock in the runtime
 * directory: $SEAM_RUNTIME_DIR, else $XDG_RUNTIME_DIR/seam, else
 * /tmp/seam-UID (UID the effective uid in decimal). An empty variable
 * counts as unset, and so does an XDG_RUNTIME_DIR that is not an absolute
 * path. The directory is created 0700 if missing. The two seam chooses
 * must be the caller's own and closed to everyone else (mode 0700 or
 * stricter); one named by $SEAM_RUNTIME_DIR must belong to the caller or
 * root and be writable by nobody else. Every directory on the way must be
 * root's or the caller's and not writable by others unless sticky, and a
 * link on the way is followed only if it is root's or the caller's.
 * Otherwise SEAM_EACCES. A relative $SEAM_RUNTIME_DIR is SEAM_EINVAL.
 * "unix:/some/path" is that socket path. Names are 1 to 200 characters of
 * letters, digits and "._-", not starting with ".". A server owns its name
 * by a lock on the lock file beside the socket: the socket path with a
 * final ".sock" replaced by ".lock" (else with ".lock" appended). */

/* Writes the runtime directory into buf (creating it if needed). Returns 0,
 * SEAM_ERANGE if buf is too small, SEAM_EACCES if the directory is not
 * safe (above), or a system error - then buf holds the directory that
 * could not be made or used, for the error message. */
SEAM_EXPORT int seam_runtime_dir(char *buf, size_t len);

/* Writes the socket path of name into buf. Returns 0, SEAM_EINVAL for a
 * malformed name, SEAM_ENAMETOOLONG if the socket path does not fit
 * sockaddr_un, SEAM_ERANGE if buf is too small. */
SEAM_EXPORT int seam_name_path(const char *name, char *buf, size_t len);

/* Returns 1 if a live server owns name and its socket is bound (so a
 * connect can reach it), or if the socket takes connections though nobody
 * holds its lock; 0 if not (nothing there, a server still starting, or a
 * stale socket left by a server that died); SEAM_EEXIST if what is there
 * is not a socket; or a negative code. Probing never makes a server that
 * is taking the name fail. */
SEAM_EXPORT int seam_name_owned(const char *name);

/* ---- Events -------------------------------------------------------------- */

typedef enum seam_event_type {
    /* The handshake completed: a client is connected (also after each
     * reconnect), or a server has a new peer. */
    SEAM_EVENT_CONNECTED = 1,
    /* A one-way message arrived. */
    SEAM_EVENT_MESSAGE,
    /* A request arrived; answer it through event->request. */
    SEAM_EVENT_REQUEST,
    /* A send failed with SEAM_EAGAIN earlier and the queue has room again.
     * Only on a live connection: never after INTERRUPTED or INVALID (the
     * queue went with the socket, the next send reconnects), and on a new
     * socket never before its CONNECTED. */
    SEAM_EVENT_WRITABLE,
    /* A client lost its server (error says why: SEAM_ECLOSED when the
     * server said goodbye, SEAM_ECONNRESET when it went without one, a
     * crash). Its calls in flight completed with SEAM_ECONNRESET first.
     * The next send or call reconnects. */
    SEAM_EVENT_INTERRUPTED,
    /* The connection is over for good (error says why): a server's peer
     * left or was disconnected, or a client met a protocol violation or
     * was refused. A peer that closed cleanly (said goodbye) gives
     * SEAM_ECLOSED, one that went without a goodbye (a crash)
     * SEAM_ECONNRESET, a goodbye with a code that code (SEAM_EACCES
     * refused, SEAM_EPROTO, SEAM_EFRAMEKIND ... the rule it says we broke);
     * a violation by the peer gives the rule's code (and the peer is sent
     * a goodbye with it), SEAM_ENOBUFS a peer that left too many answers
     * unread. The last event; the seam_conn of a server's peer is
     * freed when the callback returns, a client still closes its own. */
    SEAM_EVENT_INVALID,
} seam_event_type;

typedef struct seam_event {
    seam_event_type type;
    int error; /* INTERRUPTED, INVALID: why, as a SEAM_E* code */
    /* MESSAGE, REQUEST: the payload, borrowed for the callback (take a
     * reference to keep it); NULL for a raw payload. */
    seam_value *value;
    /* MESSAGE, REQUEST with a raw payload: its id and bytes, borrowed. */
    bool raw;
    uint32_t raw_id;
    const void *raw_bytes;
    size_t raw_len;
    /* Descriptors that came with a raw payload, borrowed: they are closed
     * when the callback returns, so duplicate any you keep. */
    const int *fds;
    size_t nfds;
    /* REQUEST: answer with seam_request_reply*() during the callback, or
     * seam_request_keep() it and answer later. A request left unanswered
     * and unkept is answered with SEAM_ENOTSUP when the callback returns.
     * It stays valid until answered and its callback has returned
     * (seam_request_keep). */
    seam_request *request;
    /* INTERRUPTED, INVALID: what the peer's goodbye said, borrowed for the
     * callback, NULL when it said nothing (or there was no goodbye):
     * reason is for people; rule names the server's rule that refused us
     * ("uid", "gid", "exe", "same_user", "filter", "max_conns",
     * "max_conns_per_uid", "descriptors": docs/protocol.md, "Transport"). */
    const char *reason;
    const char *rule;
    /* MESSAGE, REQUEST with raw bytes that came in a sealed memfd
     * (docs/protocol.md, "Raw bytes in a sealed memfd"): raw_bytes and
     * raw_len are its read-only mapping, and this is the same bytes as a
     * memfd data value, borrowed for the callback. Take a reference to
     * keep the bytes past the callback without copying them (the mapping
     * then stays, counted against config.max_memfd_bytes until the last
     * reference goes); seam_value_get_memfd() gives the memfd itself
     * (dup() it to keep it), which may be sent on with
     * seam_conn_send_raw_memfd() or in a value. The memfd is not among
     * fds, which are the frame's other descriptors. NULL otherwise. */
    seam_value *raw_memfd;
} seam_event;

typedef void (*seam_event_fn)(seam_conn *conn, const seam_event *event, void *userdata);

/* How a call ended. */
typedef struct seam_reply {
    /* 0: replied, value (or raw) holds the answer; SEAM_EREMOTE: the peer
     * answered with an error, remote_code/remote_message/value (its "data",
     * may be NULL) say which; SEAM_ETIMEDOUT; SEAM_ECANCELED (cancelled, or
     * the connection was closed locally); SEAM_ECONNRESET (peer gone);
     * SEAM_EMSGSIZE (the peer's limits refused the request). */
    int status;
    uint64_t call_id;
    seam_value *value; /* borrowed for the callback */
    int remote_code;
    const char *remote_message;
    bool raw;
    uint32_t raw_id;
    const void *raw_bytes;
    size_t raw_len;
    /* true: an intermediate reply of a streaming call (status 0, value or
     * raw as above); the call goes on and its final outcome comes later,
     * with more false (seam_conn_call_stream). */
    bool more;
    /* Raw bytes that came in a sealed memfd, as for seam_event's
     * raw_memfd: raw_bytes is its mapping; take a reference to keep it.
     * NULL otherwise. seam_conn_call_sync() returns such a reply as this
     * value, not a copy. */
    seam_value *raw_memfd;
} seam_reply;

/* Every call ends with exactly one invocation of its seam_reply_fn with
 * more false; a streaming call's intermediate replies come before it
 * through the same function, with more true. */
typedef void (*seam_reply_fn)(seam_conn *conn, const seam_reply *reply, void *userdata);

/* ---- Connections --------------------------------------------------------- */

typedef struct seam_conn_config {
    seam_event_fn on_event; /* may be NULL: messages are dropped, requests
                             * answered with SEAM_ENOTSUP */
    void *userdata;         /* passed to on_event */
    /* Bytes a connection may hold queued for sending; past it a send fails
     * with SEAM_EAGAIN and SEAM_EVENT_WRITABLE follows. 0: 8 MiB. A single
     * message larger than the bound is accepted into an empty queue.
     * Answers (replies, errors, pongs) are queued whatever the bound, but
     * the peer's frames wait unhandled while more of them wait than this
     * bound plus the largest one, until half that is left, and the peer is
     * not read meanwhile unless calls of ours to it are in flight; answers
     * (or input waiting) reaching four times that close the connection
     * (SEAM_ENOBUFS). The same bound holds for what arrives during
     * seam_conn_call_sync(). Values above SIZE_MAX / 8 (SIZE_MAX as "no
     * bound") are read as SIZE_MAX / 8. */
    size_t max_queue;
    /* Largest payload accepted from the peer (announced in the handshake).
     * 0: 16 MiB; at least 4096. */
    uint32_t max_frame;
    /* Bounds on decoding what the peer sends; zeros take the defaults. */
    seam_decode_limits limits;
    /* A peer that has not completed the handshake by then is dropped.
     * 0: 10000 ms. */
    int handshake_timeout_ms;
    /* Client only: which server to talk to, judged from its kernel
     * credentials right after connecting (a socket under a name may be
     * another user's). false: a server of the client's own user or root;
     * true: only a server of user server_uid. Any other server is hung up
     * on and the connect (or reconnect) fails with SEAM_EACCES. */
    bool expect_server_uid;
    uint32_t server_uid;
    /* Data of at least this many bytes the peer may send as a sealed
     * memfd, which is then mapped read-only here instead of copied
     * (announced in our hello as "memfd": docs/protocol.md, "Data in
     * sealed memfds"). 0: 256 KiB; less than 4096 is read as 4096;
     * SIZE_MAX: never, as with SEAM_NO_MEMFD=1 in the environment. Only
     * on transports that pass descriptors. */
    size_t memfd_min;
    /* Bytes of the peer's memfds this connection may hold mapped at once:
     * a received memfd data value holds its mapping until its last
     * reference goes, each counted in whole 4 KiB pages. A memfd past the
     * bound is refused with SEAM_ENOBUFS before it is mapped (like a value
     * over the decode limits: a request gets an error answer, any other
     * frame closes the connection). 0: 1 GiB. */
    size_t max_memfd_bytes;
    /* The size of the shared-memory ring this side writes, when both peers
     * offer shared memory (see seam_conn_connect()): rounded up to a power
     * of two from 4096 to 64 MiB. A ring larger than the messages sent lets
     * the writer fill it while the reader copies the last one out, with
     * fewer wake-ups; it costs that much memory per connection once as
     * many bytes went through. 0: 256 KiB. */
    size_t shm_ring;
    /* Descriptors a connection may hold queued for sending (duplicates of
     * those its sends and answers carry, held until written), as max_queue
     * bounds bytes: past it a send with descriptors fails with SEAM_EAGAIN
     * (a frame always fits an empty queue) and SEAM_EVENT_WRITABLE
     * follows; while answers hold more than it, the peer's frames wait
     * unhandled until half that is left; answers holding four times that
     * close the connection (SEAM_ENOBUFS). So a peer that sends requests
     * whose answers carry descriptors, and reads nothing, cannot fill the
     * process's descriptor table. 0: 128. */
    unsigned max_queue_fds;
} seam_conn_config;

/* Connects to a server by name (see "Names"). config may be NULL. Returns 0
 * and a connection whose handshake completes in the loop (sends made before
 * then are queued), or SEAM_ENOTFOUND (nobody listens there), SEAM_EINVAL
 * (bad name), SEAM_EAGAIN (the server's backlog is full), SEAM_EPERM (the
 * kernel refused: no write permission on the socket file or no search
 * permission on a directory above it - see socket_mode in
 * seam_server_config; no server code ran), a system error. A server's
 * accept filter refusing shows later, as INVALID with SEAM_EACCES. When
 * both hellos offer it, the data then flows over shared-memory rings (the
 * socket stays for hang-up); SEAM_NO_SHM=1 in the environment keeps it on
 * the socket. */
SEAM_EXPORT int seam_conn_connect(seam_loop *loop, const char *name, const seam_conn_config *config,
                                  seam_conn **out);

/* Closes a connection: calls in flight complete with SEAM_ECANCELED (on the
 * loop, after this returns), queued messages are written if the socket takes
 * them at once, a goodbye is sent and no more events arrive. The pointer is
 * invalid afterwards. On a server's peer this disconnects the peer. Safe
 * inside any callback, including the connection's own. A client closed
 * during its handshake with sends queued keeps its socket, silently, until
 * the server's hello arrives (then they are written as above) or the
 * handshake times out; seam_loop_free() ends that wait at once. */
SEAM_EXPORT void seam_conn_close(seam_conn *conn);

/* Sends a one-way message (encoded at once; the caller keeps msg). Returns
 * 0, SEAM_EAGAIN (queue full: wait for SEAM_EVENT_WRITABLE), SEAM_EMSGSIZE
 * (larger than the peer accepts; the connection stays up), SEAM_ECLOSED,
 * SEAM_ENOTFOUND (a client reconnecting found no server), or an encoding
 * error. Before the handshake the peer's limits are not known: a message
 * queued then that the peer's hello shows too large is dropped with a
 * warning in the log (a call's callback gets SEAM_EMSGSIZE instead). */
SEAM_EXPORT int seam_conn_send(seam_conn *conn, const seam_value *msg);

/* Sends a raw message: a 32-bit id and opaque bytes, not encoded. Returns
 * as seam_conn_send(). */
SEAM_EXPORT int seam_conn_send_raw(seam_conn *conn, uint32_t id, const void *bytes, size_t len);

/* Sends a raw message whose bytes are the len bytes of fd, a memfd the
 * caller filled (memfd_create() with MFD_ALLOW_SEALING). fd is first
 * sealed and checked as by seam_value_new_data_memfd() (same codes:
 * SEAM_EBADF not a file that takes seals or fd < 0, SEAM_EINVAL its size
 * is not len, len is 0 or it has holes, SEAM_EBUSY a writable shared
 * mapping of it is alive, SEAM_EPERM sealed against the seals it needs,
 * as a memfd made without MFD_ALLOW_SEALING is). To a peer that
 * takes memfds (its hello announced "memfd") and for len at least its
 * threshold, only the descriptor travels: the frame is 28 bytes whatever
 * len, and max_frame does not bound it (docs/protocol.md, "Raw bytes in a
 * sealed memfd"). To any other peer, and before the handshake is done
 * (the peer's threshold is not known yet), the bytes are read from the
 * memfd and sent as by seam_conn_send_raw(), counted against max_frame.
 * Returns 0 and owns fd (closes it when it is no longer needed), or an
 * error as seam_conn_send() and fd stays the caller's (sealed, perhaps). */
SEAM_EXPORT int seam_conn_send_raw_memfd(seam_conn *conn, uint32_t id, int fd, size_t len);

/* Gives back the bytes of a seam_conn_send_raw_nocopy() once seam no longer
 * needs them. */
typedef void (*seam_release_fn)(const void *bytes, void *userdata);

/* Sends a raw message like seam_conn_send_raw() without copying its bytes:
 * seam keeps the pointer until they were written, then calls
 * release(bytes, userdata) exactly once; until then the caller must not
 * change or free them. For large payloads this saves copying every byte
 * into the send queue. release runs on the loop's thread: from a later
 * dispatch, from seam_conn_close() or seam_loop_free(), or before this
 * returns when the bytes were copied after all (small payloads, or a
 * connection still in its handshake). On an error return release is not
 * called and the caller keeps the bytes. Errors as seam_conn_send(), and
 * SEAM_EINVAL when bytes or release is NULL. */
SEAM_EXPORT int seam_conn_send_raw_nocopy(seam_conn *conn, uint32_t id, const void *bytes,
                                          size_t len, seam_release_fn release, void *userdata);

/* Calls the peer: sends msg as a request; cb runs exactly once with the
 * outcome. timeout_ms > 0, or SEAM_NO_TIMEOUT. call_id (may be NULL)
 * receives the id for seam_conn_cancel(). Returns 0, or a code as
 * seam_conn_send() - then cb is not called. */
SEAM_EXPORT int seam_conn_call(seam_conn *conn, const seam_value *msg, int timeout_ms,
                               seam_reply_fn cb, void *userdata, uint64_t *call_id);

/* seam_conn_call() with a raw request. */
SEAM_EXPORT int seam_conn_call_raw(seam_conn *conn, uint32_t id, const void *bytes, size_t len,
                                   int timeout_ms, seam_reply_fn cb, void *userdata,
                                   uint64_t *call_id);

/* seam_conn_call() with a raw request whose bytes are the len bytes of
 * the memfd fd, sent as by seam_conn_send_raw_memfd() (in a memfd, or as
 * bytes to a peer that takes none). Returns 0 and owns fd, or a code as
 * seam_conn_send_raw_memfd() - then cb is not called and fd stays the
 * caller's. */
SEAM_EXPORT int seam_conn_call_raw_memfd(seam_conn *conn, uint32_t id, int fd, size_t len,
                                         int timeout_ms, seam_reply_fn cb, void *userdata,
                                         uint64_t *call_id);

/* Abandons a call: its callback runs with SEAM_ECANCELED (on the loop,
 * after this returns) and the peer is told; during the handshake the
 * request is taken out of the queue instead, never sent (as for a call
 * that times out then). Returns 0, or SEAM_ENOCALL if
 * the call already ended. */
SEAM_EXPORT int seam_conn_cancel(seam_conn *conn, uint64_t call_id);

/* How the timeout of a streaming call counts. */
typedef enum seam_timeout_mode {
    /* The default: timeout_ms is allowed between replies - from the
     * request to the first reply, and from each intermediate reply to the
     * next (each one re-arms it). */
    SEAM_TIMEOUT_IDLE = 0,
    /* timeout_ms is the whole call's, from the request to the final reply,
     * however many intermediate replies come. */
    SEAM_TIMEOUT_OVERALL = 1,
} seam_timeout_mode;

typedef struct seam_call_options {
    int timeout_ms;            /* > 0, or SEAM_NO_TIMEOUT */
    seam_timeout_mode timeout; /* SEAM_TIMEOUT_IDLE unless set */
    bool more;                 /* ask for intermediate replies (MORE) */
} seam_call_options;

/* seam_conn_call() with options. With opts->more the request says the
 * caller accepts several replies (docs/protocol.md, "Streaming replies"):
 * cb then runs once per intermediate reply with reply->more true, as they
 * come, and exactly once finally with more false - the final reply, an
 * error, SEAM_ETIMEDOUT (by opts->timeout), SEAM_ECANCELED
 * (seam_conn_cancel(): the peer is told, later replies are discarded) or
 * SEAM_ECONNRESET when the connection ends mid-stream. Without
 * opts->more it is seam_conn_call(). An intermediate reply to a call
 * that did not ask for them is a protocol violation: the connection fails
 * with SEAM_EPROTO. Returns as seam_conn_call(); SEAM_EINVAL for a bad
 * timeout or mode. */
SEAM_EXPORT int seam_conn_call_stream(seam_conn *conn, const seam_value *msg,
                                      const seam_call_options *opts, seam_reply_fn cb,
                                      void *userdata, uint64_t *call_id);

/* Calls and waits, blocking the thread, up to timeout_ms (> 0 or
 * SEAM_NO_TIMEOUT). For simple clients: while it waits no callback runs -
 * messages and requests that arrive meanwhile are delivered by the loop
 * afterwards, and other calls' replies too. Usable inside a callback too,
 * since it never re-enters one; the loop is stalled meanwhile, but the
 * connection's own clocks are not: its handshake timeout still applies,
 * and its other calls still time out when due (their callbacks run from
 * the loop afterwards).
 *
 * Returns 0 with a new reference in *reply; SEAM_EREMOTE with the error map
 * {"code", "message"[, "data"]} in *reply; or, with *reply NULL:
 * - SEAM_ETIMEDOUT;
 * - SEAM_EHANDSHAKE: the server's hello did not come within
 *   config.handshake_timeout_ms (also with SEAM_NO_TIMEOUT);
 * - SEAM_ECONNRESET: the server went away. The connection is down (or
 *   closed) when this returns: a send then reconnects or fails. What was
 *   held from the lost server is discarded; its other calls complete with
 *   SEAM_ECONNRESET and SEAM_EVENT_INTERRUPTED (or INVALID) follows, from
 *   the loop, before any event of a new connection;
 * - SEAM_ENOBUFS: more arrived before the reply than the wait holds
 *   (config.max_queue bytes, each frame counted with what holding it
 *   costs, or 256 passed descriptors; one frame always), so it stopped
 *   reading rather than grow or wait for a reply that may lie behind. The
 *   request was sent, its late answer is ignored, and what arrived is
 *   delivered by the loop; a sync call started before that fails the same
 *   way without sending anything;
 * - SEAM_EBUSY inside this connection's own callbacks, SEAM_ECLOSED, ...
 * A sync call does not stream: its request never asks for intermediate
 * replies, and one sent to it anyway fails the connection (SEAM_EPROTO). */
SEAM_EXPORT int seam_conn_call_sync(seam_conn *conn, const seam_value *msg, int timeout_ms,
                                    seam_value **reply);

/* Sends a ping; cb runs once with status 0 when the pong arrives (or with
 * an error as for calls). Returns as seam_conn_call(): pings are sends,
 * bounded by config.max_queue (SEAM_EAGAIN). */
SEAM_EXPORT int seam_conn_ping(seam_conn *conn, int timeout_ms, seam_reply_fn cb, void *userdata);

/* The peer's kernel credentials, taken when the connection was made. pidfd
 * refers to the process that connected (the kernel keeps it from connect
 * time); it is -1 where the kernel gives none or nobody asked for it, and
 * belongs to the connection (an accept filter's to its call). */
typedef struct seam_creds {
    uint32_t uid;
    uint32_t gid;
    int32_t pid;
    int pidfd;
} seam_creds;

/* Returns 0, or SEAM_ECLOSED when not connected. Costs no descriptor:
 * out->pidfd is the connection's pidfd if seam_conn_pidfd() made one, else
 * -1. */
SEAM_EXPORT int seam_conn_creds(seam_conn *conn, seam_creds *out);

/* A pidfd for the peer's process, made on the first call and owned by the
 * connection (closed with it; duplicate it to keep it longer). A client's
 * is closed when it reconnects: a new call then makes one for the new
 * server. Each one
 * costs the connection a second descriptor, so ask only where it is
 * needed. Returns the descriptor, SEAM_ENOTSUP where the kernel has none
 * (before Linux 6.5), or SEAM_ECLOSED when not connected. */
SEAM_EXPORT int seam_conn_pidfd(seam_conn *conn);

/* What the transport knows of the peer, in a form that is the same on
 * every transport. flags say which fields hold: SEAM_PEER_CREDS for uid,
 * gid and pid vouched for by the kernel (in-process: this process's own
 * effective ids and pid, since the peer is this process), SEAM_PEER_PIDFD
 * for pidfd (-1 otherwise; owned as in seam_creds). address is the
 * transport's address of the connection (for unix, the socket path; may
 * be ""; in-process, "inproc:NAME"), valid while the call that gave it
 * runs or while the connection lives. */
typedef enum seam_peer_kind {
    SEAM_PEER_UNIX = 1,   /* an AF_UNIX stream socket */
    SEAM_PEER_INPROC = 2, /* the in-process transport ("inproc:NAME") */
} seam_peer_kind;

#define SEAM_PEER_CREDS (1u << 0)
#define SEAM_PEER_PIDFD (1u << 1)

typedef struct seam_peer {
    seam_peer_kind kind;
    unsigned flags;
    uint32_t uid;
    uint32_t gid;
    int32_t pid;
    int pidfd;
    const char *address;
} seam_peer;

/* Returns 0 with out filled in (out->pidfd as for seam_conn_creds), or
 * SEAM_ECLOSED when not connected. */
SEAM_EXPORT int seam_conn_peer(seam_conn *conn, seam_peer *out);

typedef struct seam_conn_stats {
    uint64_t messages_in;  /* frames received: messages, requests, replies */
    uint64_t messages_out; /* frames queued for sending */
    uint64_t bytes_in;
    uint64_t bytes_out; /* bytes written to the socket */
    uint64_t calls_in_flight;
    uint64_t queued_bytes; /* waiting to be written */
} seam_conn_stats;

/* Copies the connection's counters into *out; does nothing when either is
 * NULL. */
SEAM_EXPORT void seam_conn_get_stats(const seam_conn *conn, seam_conn_stats *out);

/* A pointer of the caller's, e.g. per peer of a server. */
SEAM_EXPORT void seam_conn_set_data(seam_conn *conn, void *data);
SEAM_EXPORT void *seam_conn_data(const seam_conn *conn);

/* The server a peer connection belongs to, NULL for a client. */
SEAM_EXPORT seam_server *seam_conn_server(const seam_conn *conn);

/* ---- Requests ------------------------------------------------------------ */

/* Answers a request (each request once). The caller keeps reply. Returns 0,
 * SEAM_EINVAL if already answered, SEAM_ECLOSED if the peer is gone (the
 * request is then finished anyway), or a send error. */
SEAM_EXPORT int seam_request_reply(seam_request *req, const seam_value *reply);
SEAM_EXPORT int seam_request_reply_raw(seam_request *req, uint32_t id, const void *bytes,
                                       size_t len);
/* Answers with raw bytes that are the len bytes of the memfd fd, sent as
 * by seam_conn_send_raw_memfd() (in a memfd, or as bytes to a peer that
 * takes none). Returns 0 and owns fd; fd stays the caller's on any error.
 * A memfd that fails the seal checks (SEAM_EBADF, SEAM_EINVAL,
 * SEAM_EBUSY, SEAM_EPERM) leaves the request unanswered; other errors as
 * seam_request_reply(). */
SEAM_EXPORT int seam_request_reply_raw_memfd(seam_request *req, uint32_t id, int fd, size_t len);
/* Answers with an error: code is negative; message may be NULL; data may
 * be NULL. Returns as seam_request_reply(). A code >= 0 is a programmer's
 * mistake: SEAM_EINVAL, and the request is left as it was (unanswered,
 * still to be answered) - unlike "already answered", the other SEAM_EINVAL,
 * which finds it answered. */
SEAM_EXPORT int seam_request_reply_error(seam_request *req, int code, const char *message,
                                         const seam_value *data);

/* Whether the caller asked for intermediate replies (its request carried
 * MORE, seam_conn_call_stream()). */
SEAM_EXPORT bool seam_request_wants_more(const seam_request *req);

/* Sends an intermediate reply to a request whose caller asked for them;
 * the request stays unanswered: end it with seam_request_reply*() (or
 * drop it), keeping it (seam_request_keep) to reply after its callback.
 * Intermediate replies are bounded like sends, by config.max_queue: a
 * caller that does not read them makes this return SEAM_EAGAIN, and
 * SEAM_EVENT_WRITABLE says when to go on. The caller keeps reply.
 * Returns 0; SEAM_ENOTSUP when the caller did not ask (nothing is sent);
 * SEAM_ECANCELED once the caller cancelled (or timed out) the call -
 * finish the request then, its answer is discarded; SEAM_EINVAL if
 * already answered; SEAM_ECLOSED if the peer is gone; a send error. The
 * sync call never asks. */
SEAM_EXPORT int seam_request_reply_more(seam_request *req, const seam_value *reply);

/* A request belongs to seam, always, and follows one rule: it stays valid
 * until it has been answered (a reply, an error reply, or a drop) AND its
 * REQUEST callback has returned. Answering never frees a request while its
 * callback still runs, kept or not; once both have happened the pointer is
 * gone. seam_request_keep() only says the answer comes after the callback:
 * without it a request unanswered when the callback returns is answered
 * with SEAM_ENOTSUP. Keeping an answered request does nothing, keeping
 * twice is keeping once. Returns req. */
SEAM_EXPORT seam_request *seam_request_keep(seam_request *req);
/* Answers a kept request with SEAM_ECANCELED ("request dropped") if it is
 * still unanswered; either way it is then released as by the rule above. */
SEAM_EXPORT void seam_request_drop(seam_request *req);
/* The connection the request came on, or NULL once that is gone. A kept
 * request outlives its connection (it stays allocated until answered or
 * dropped): finish a peer's kept requests at its INVALID, where this still
 * gives that connection. */
SEAM_EXPORT seam_conn *seam_request_conn(const seam_request *req);

/* ---- Servers ------------------------------------------------------------- */

/* Decides whether a peer may connect, from its kernel credentials, before
 * anything is read from it. */
typedef bool (*seam_accept_fn)(const seam_creds *creds, void *userdata);
/* The same from the transport-neutral seam_peer (preferred: it says which
 * fields the transport could fill in). */
typedef bool (*seam_accept_peer_fn)(const seam_peer *peer, void *userdata);

/* Declarative peer requirements (seam_server_config.require), checked on
 * every peer before anything is read from it, before any accept filter.
 * Every rule given must hold; a list holds when the peer matches one of
 * its entries. A refused peer gets a goodbye with SEAM_EACCES naming the
 * rule (its SEAM_EVENT_INVALID carries it in event->rule and
 * event->reason). The server copies the lists: they need not outlive
 * seam_server_listen(). */
typedef struct seam_peer_require {
    /* The peer's uid (the kernel's record from connect time) is one of
     * these. */
    const uint32_t *uids;
    size_t nuids;
    /* The peer's gid, or one of its supplementary groups as the kernel
     * recorded them when it connected (SO_PEERGROUPS; in-process, this
     * process's groups), is one of these. */
    const uint32_t *gids;
    size_t ngids;
    /* Absolute path of the executable the peer's process must run,
     * compared by file identity (device and inode of what the path names
     * at accept time), found through the peer's pidfd so that a pid
     * reused since the connect cannot stand in for it. Needs a kernel
     * that gives pidfds of socket peers (Linux 6.5) and the right to see
     * the peer's /proc/PID/exe (the server's own user, or root): where
     * either is missing the peer is refused, never let in unchecked (so
     * always over the in-process transport, whose peer has no pidfd). */
    const char *exe;
    /* The peer runs as the server's effective uid. */
    bool same_user;
} seam_peer_require;

/* Called once no peer has been connected for idle_exit_ms (see
 * seam_server_config). */
typedef void (*seam_idle_fn)(seam_server *server, void *userdata);

typedef struct seam_server_config {
    seam_conn_config conn; /* for every peer connection; conn.userdata goes
                              to on_event */
    /* NULL: only processes of the server's own user may connect (unless
     * require has a uid or gid rule, which then says who may). */
    seam_accept_fn accept;
    void *accept_data;
    /* Peers served at once; more are refused (a goodbye with
     * SEAM_EAGAIN). 0: 1024. */
    unsigned max_conns;
    /* Peers of one user served at once; more of that user are refused
     * (SEAM_EAGAIN). 0: a quarter of max_conns for each user other than the
     * server's own (who could stop the server anyway, and is held only to
     * max_conns). */
    unsigned max_conns_per_uid;
    /* A peer that sent no complete frame and read nothing of ours for this
     * long (handshake done), with no request of its kept and no call of
     * ours in flight, is closed with a goodbye carrying SEAM_ETIMEDOUT,
     * after one to one and a half times the timeout; its INVALID event
     * says SEAM_ETIMEDOUT. Bytes of an unfinished frame do not count: a
     * frame under way then gets the shorter of this and
     * conn.handshake_timeout_ms more to arrive. A client that must stay
     * connected while silent pings. 0: no idle timeout. */
    int idle_timeout_ms;
    /* The permission bits of the socket file (0 to 0777): who may connect
     * (connect() needs write permission on it). Set before the socket
     * listens, so no peer ever connects while it has other bits.
     * 0: as the process's umask leaves them (usually 0755: the server's
     * own user only). Named services live in the runtime directory, which
     * is the user's own (0700): other users reach a server only through a
     * unix: path in a directory they may search, with write permission
     * here (e.g. 0666) and an accept filter that lets them in. Bits
     * outside 0777: SEAM_EINVAL. */
    unsigned socket_mode;
    /* Used instead of accept when set (accept_data goes to it). */
    seam_accept_peer_fn accept_peer;
    /* Peer requirements, checked before accept or accept_peer runs (and
     * then only for peers they admit). NULL: none. With a uid or gid
     * rule the default "same user" filter no longer applies (accept and
     * accept_peer still do); with only exe (or same_user) it still does. */
    const seam_peer_require *require;
    /* For services started on demand (socket activation): when no peer
     * has been connected for this long, on_idle(server, idle_data) runs,
     * typically to close the server and leave the loop; the activating
     * manager keeps the socket and starts the service again for the next
     * peer. If the server stays open, on_idle runs again after the next
     * such stretch. 0: never; > 0 needs on_idle (else SEAM_EINVAL). */
    int idle_exit_ms;
    seam_idle_fn on_idle;
    void *idle_data;
    /* Retained publish/subscribe (seam_server_publish()). Topics the
     * server retains at most; publishing a new one past it fails with
     * SEAM_ENOBUFS. 0: 1024. */
    unsigned max_topics;
    /* Subscriptions one peer may hold at once; a subscribe past it is
     * refused with SEAM_ENOBUFS. 0: 64. */
    unsigned max_subscriptions;
    /* Longest topic name or pattern in bytes; longer: SEAM_ETOOLONG.
     * 0: 256. */
    unsigned max_topic_len;
    /* Largest retained value, as encoded (CBOR bytes); larger:
     * SEAM_EMSGSIZE. 0: 65536. */
    size_t max_retained_value;
} seam_server_config;

/* Serves name. config may be NULL.
 *
 * Socket activation: when the process was started with listening sockets
 * by a service manager (systemd's protocol: LISTEN_PID is this process,
 * LISTEN_FDS counts descriptors from 3 on, LISTEN_FDNAMES optionally names
 * them), the server takes over the one for name instead of making a
 * socket: the descriptor LISTEN_FDNAMES names with name, else one bound
 * to name's socket path. It must be a listening AF_UNIX stream socket
 * bound to that path, else SEAM_EBADF (also when it is closed); malformed
 * variables meant for this process are SEAM_EINVAL. The name's lock is
 * taken as usual (SEAM_EADDRINUSE if another server of it lives), the
 * socket's mode is the manager's (socket_mode is ignored), the adopted
 * descriptor is made close-on-exec and non-blocking, and closing the
 * server neither removes the socket file nor closes the descriptor (the
 * manager keeps listening and starts the service again; listening on
 * the name again in this process takes it over again). Descriptors not
 * adopted are left untouched for the program, and the variables are left
 * in the environment: LISTEN_PID keeps child processes from taking them
 * for theirs, but a program that replaces itself with exec() must unset
 * them first. Without such variables (or with another process's
 * LISTEN_PID) the server makes its own socket, as below.
 *
 * Returns 0, or SEAM_EADDRINUSE (a live
 * server owns the name), SEAM_EEXIST (a file that is not a socket is at the
 * path; it is left alone), SEAM_EACCES (the runtime directory or the lock
 * file is not safe: see "Names"), SEAM_EINVAL (bad name), a system error.
 * A stale socket of a dead server (ours, refusing connections) is
 * replaced; a live or another user's socket is SEAM_EADDRINUSE. A server
 * holds four descriptors (its socket, the lock, its directory, a reserve
 * used to refuse peers with a goodbye when descriptors run out) and one
 * per peer; without all four it does not start (-EMFILE). */
SEAM_EXPORT int seam_server_listen(seam_loop *loop, const char *name,
                                   const seam_server_config *config, seam_server **out);

/* Stops serving: the socket is removed, every peer is closed as by
 * seam_conn_close() (no further events). Safe inside any callback. */
SEAM_EXPORT void seam_server_close(seam_server *server);

/* Sends msg to every connected peer (encoded once). Returns the number of
 * peers it was queued for; a peer whose queue is full is skipped and gets
 * SEAM_EVENT_WRITABLE later, *skipped (may be NULL) counts those. Or a
 * negative code, nothing sent: SEAM_EFD (msg holds an fd value: descriptors
 * go to one peer, with seam_conn_send()), SEAM_ECLOSED (server closed),
 * SEAM_EINVAL, SEAM_EMSGSIZE (raw: longer than a frame holds), SEAM_ENOMEM,
 * an encoding error of msg. */
SEAM_EXPORT int seam_server_broadcast(seam_server *server, const seam_value *msg, size_t *skipped);
SEAM_EXPORT int seam_server_broadcast_raw(seam_server *server, uint32_t id, const void *bytes,
                                          size_t len, size_t *skipped);

/* Stores up to max connected peers (handshake done) in out and returns how
 * many there are in all. */
SEAM_EXPORT size_t seam_server_peers(const seam_server *server, seam_conn **out, size_t max);

/* Allows (or stops) monitoring of this server: a peer of the server's own
 * effective uid may then send the monitor request (docs/protocol.md,
 * "Library requests") and receives a record of every frame the other peers
 * send and receive, with its time and the peer's credentials. Off by
 * default. Records that do not fit a monitor's queue are dropped and
 * counted, never waited for. Turning it off disconnects the monitors.
 * Returns 0, or SEAM_EINVAL for a NULL server. */
SEAM_EXPORT int seam_server_set_monitor(seam_server *server, bool allow);

/* The socket path served. */
SEAM_EXPORT const char *seam_server_path(const seam_server *server);

/* Whether the server took over a listening socket its service manager
 * passed (socket activation, see seam_server_listen()) rather than making
 * its own. false for NULL or a closed server. */
SEAM_EXPORT bool seam_server_activated(const seam_server *server);

/* ---- Anonymous endpoints ------------------------------------------------
 * A server with no name: nothing on the file system, no abstract socket.
 * It is reached only through its endpoint, a descriptor that travels in
 * messages over any connection (seam_value_new_fd()); whoever holds it can
 * connect with seam_conn_connect_endpoint(), nobody else can. The server
 * is an ordinary seam_server: the same callbacks, events, peer
 * requirements, accept filter (by default the same uid as ours), limits,
 * seam_server_close(). Its peers' credentials are the kernel's, taken when
 * the connector made its socket pair (docs/protocol.md, "Anonymous
 * endpoints"). */

/* seam_endpoint_listen() flag: an in-process endpoint (the "inproc:"
 * transport), for loops of this process only; its endpoint descriptor
 * passes to another process but connects nowhere there. */
#define SEAM_ENDPOINT_INPROC 1u

/* Starts an anonymous server on loop with config (may be NULL, as for
 * seam_server_listen(); socket_mode is ignored). seam_server_path() gives
 * "" for a Unix one. Holds two descriptors (the rendezvous socket pair,
 * or an in-process one's pipe) and one per peer; with none left, a
 * waiting connect is dropped by the kernel and its connector sees its
 * connection end. Returns 0, SEAM_EINVAL
 * (NULL argument, unknown flag, bad config), SEAM_ECLOSED (loop being
 * freed), SEAM_ENOMEM, a system error. */
SEAM_EXPORT int seam_endpoint_listen(seam_loop *loop, unsigned flags,
                                     const seam_server_config *config, seam_server **out);

/* The endpoint descriptor of an anonymous server, still the server's (put
 * it in a message with seam_value_new_fd(), which duplicates it). Returns
 * it, SEAM_ECLOSED (server closed), or SEAM_EINVAL (NULL, or a server
 * with a name). Once the server is closed, connecting through any copy
 * fails with SEAM_ENOTFOUND. */
SEAM_EXPORT int seam_endpoint_fd(const seam_server *server);

/* Connects to the anonymous server whose endpoint is endpoint_fd (not
 * taken: the connection keeps a duplicate, to reconnect through as a
 * client reconnects to a name). As seam_conn_connect() otherwise: 0 and
 * the connection, which says CONNECTED after the handshake. Fails at once
 * with SEAM_ENOTFOUND (its server is gone, or an in-process endpoint from
 * another process), SEAM_EAGAIN (the server has as many connects waiting
 * as the kernel queues), SEAM_ENOTENDPOINT (the descriptor is no
 * endpoint), SEAM_EINVAL (NULL, negative fd), SEAM_ECLOSED (loop being
 * freed). A server gone while the connect waits, or a refusal, is
 * SEAM_EVENT_DISCONNECTED with its code. The connection's seam_conn_peer()
 * reports this process: the kernel vouches for the connecting side only;
 * the server is whoever gave the endpoint. */
SEAM_EXPORT int seam_conn_connect_endpoint(seam_loop *loop, int endpoint_fd,
                                           const seam_conn_config *config, seam_conn **out);
/* ---- Retained publish/subscribe ------------------------------------------
 * A server keeps the latest value of each topic it publishes, with a
 * sequence number per topic (1 for the first value, one more for each
 * publish). A client subscribes to a topic or a prefix and gets the
 * retained value of each matching topic at once, then every change. A
 * subscriber that does not read is never dropped and never skipped
 * silently: while its queue is full the server keeps only the latest
 * value per topic for it and, once the queue drains, sends that value
 * with the number of updates it missed. docs/protocol.md, "Publish and
 * subscribe", has the wire and the ordering.
 *
 * Topic names are 1 to max_topic_len bytes of UTF-8 without NUL or '*'.
 * A pattern is a topic name (that topic only), or a prefix followed by
 * one '*' at its end: "sensors.*" matches "sensors.a" and "sensors.a.b",
 * "*" matches every topic. */

/* One update of a subscription, or its end. */
typedef struct seam_update {
    /* 0: topic has the value value (borrowed for the callback) at seq;
     * missed counts the updates of that topic this subscription did not
     * get since the one before (it read too slowly: the latest came
     * instead). Otherwise the subscription is over and this is its last
     * callback: SEAM_EREMOTE, the server refused it (remote_code:
     * SEAM_ENOBUFS too many subscriptions, SEAM_ETOOLONG pattern too
     * long, SEAM_EINVAL bad pattern, SEAM_ENOTSUP the peer publishes
     * nothing). */
    int status;
    int remote_code;
    const char *pattern; /* the subscription's */
    const char *topic;
    uint64_t seq;
    uint64_t missed;
    const seam_value *value;
} seam_update;

typedef void (*seam_update_fn)(seam_conn *conn, const seam_update *update, void *userdata);

/* Sets topic's retained value to a copy of value, with the next sequence
 * number, and sends it to every subscriber whose pattern matches. Returns
 * 0, or SEAM_EINVAL (NULL argument, bad topic name), SEAM_ETOOLONG (topic
 * longer than max_topic_len), SEAM_EMSGSIZE (value larger than
 * max_retained_value), SEAM_ENOBUFS (a new topic past max_topics),
 * SEAM_EFD (value holds a descriptor), SEAM_ECLOSED (server closed),
 * SEAM_ENOMEM, an encoding error of value. Nothing changes on failure. A
 * subscriber whose queue is full gets the update later, coalesced (see
 * above). */
SEAM_EXPORT int seam_server_publish(seam_server *server, const char *topic,
                                    const seam_value *value);

/* The sequence number of topic's retained value: 0 when never published
 * (or NULL arguments). */
SEAM_EXPORT uint64_t seam_server_topic_seq(const seam_server *server, const char *topic);

/* Subscribes conn to pattern on its server: cb(conn, update, userdata)
 * runs for the retained value of each matching topic, then for every
 * change, on the loop's thread, until seam_conn_unsubscribe(), the
 * server's refusal (a last callback with status SEAM_EREMOTE) or the end
 * of conn (no callback then). A subscription survives a reconnect: when a
 * client of a named service reconnects (on its next send, call, ping
 * or subscribe after SEAM_EVENT_INTERRUPTED) its subscriptions are sent
 * again and each gets the retained values again; a restarted server's
 * sequence numbers start again from 1. Returns 0, or SEAM_EINVAL (NULL
 * argument, bad pattern), SEAM_ETOOLONG (over 4096 bytes), SEAM_EEXIST
 * (conn already subscribes to pattern), SEAM_ENOTSUP (conn is a server's
 * peer), SEAM_ECLOSED, the errors of seam_conn_send() (SEAM_EAGAIN: the
 * queue is full). */
SEAM_EXPORT int seam_conn_subscribe(seam_conn *conn, const char *pattern, seam_update_fn cb,
                                    void *userdata);

/* Ends conn's subscription to pattern: its callback does not run again
 * (updates already on the way are dropped). Safe inside the callback.
 * Returns 0, SEAM_EINVAL, or SEAM_ENOCALL when conn has no such
 * subscription. */
SEAM_EXPORT int seam_conn_unsubscribe(seam_conn *conn, const char *pattern);

#ifdef __cplusplus
}
#endif

#endif /* SEAM_H */
