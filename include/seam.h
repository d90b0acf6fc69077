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
#define SEAM_EINVAL     (-EINVAL)     /* invalid argument */
#define SEAM_ENOMEM     (-ENOMEM)     /* out of memory */
#define SEAM_EAGAIN     (-EAGAIN)     /* would block: queue full, retry later */
#define SEAM_ERANGE     (-ERANGE)     /* number out of the representable range */
#define SEAM_EMSGSIZE   (-EMSGSIZE)   /* message or frame larger than allowed */
#define SEAM_EBADF      (-EBADF)      /* bad file descriptor */
#define SEAM_ETIMEDOUT  (-ETIMEDOUT)  /* call timed out */
#define SEAM_ECANCELED  (-ECANCELED)  /* call cancelled */
#define SEAM_EPROTO     (-EPROTO)     /* peer violated the protocol */
#define SEAM_ECONNRESET (-ECONNRESET) /* peer went away */
#define SEAM_EADDRINUSE (-EADDRINUSE) /* name owned by a live server */
#define SEAM_EACCES     (-EACCES)     /* refused by an accept filter */
#define SEAM_ENOTSUP    (-ENOTSUP)    /* operation not supported */

#define SEAM__ERRNO_MAX  (-3000)
#define SEAM_ETRUNCATED  (-3001) /* input ends inside an item */
#define SEAM_EMALFORMED  (-3002) /* input is not well-formed CBOR */
#define SEAM_ETRAILING   (-3003) /* bytes follow the top-level item */
#define SEAM_EDEPTH      (-3004) /* nesting deeper than the limit */
#define SEAM_ECOUNT      (-3005) /* more items than the limit */
#define SEAM_ETOOLONG    (-3006) /* string or data longer than the limit */
#define SEAM_EKEY        (-3007) /* map key is not a NUL-free text string */
#define SEAM_EDUPKEY     (-3008) /* the same map key appears twice */
#define SEAM_EUTF8       (-3009) /* text string is not valid UTF-8 */
#define SEAM_EINDEF      (-3010) /* indefinite-length item */
#define SEAM_ETAG        (-3011) /* unknown tag, or tag on the wrong item */
#define SEAM_ESIMPLE     (-3012) /* undefined or an unassigned simple value */
#define SEAM_EFDINDEX    (-3013) /* fd value names no passed descriptor */
#define SEAM_EFRAMEKIND  (-3014) /* unknown frame kind */
#define SEAM_EFRAMEFLAGS (-3015) /* frame flags not valid for its kind */
#define SEAM_EFRAMEFDS   (-3016) /* frame carries too many or unexpected fds */
#define SEAM_EFRAMEID    (-3017) /* frame id not valid for its kind */
#define SEAM_EFRAMELEN   (-3018) /* payload length not valid for its kind */
#define SEAM_EJSON       (-3019) /* text is not JSON seam can represent */
#define SEAM_EFD         (-3020) /* value holds an fd where none may go */
#define SEAM_EHANDSHAKE  (-3021) /* hello missing, malformed or incompatible */
#define SEAM_ENOTFOUND   (-3022) /* no server listens on that name */
#define SEAM_ECLOSED     (-3023) /* object was closed */
#define SEAM_EREMOTE     (-3024) /* the peer answered a call with an error */
#define SEAM__ELAST      (-3024)

/* Returns a short English description of a SEAM_E* code (or any negated
 * errno). Never NULL; unknown codes get "unknown error". */
SEAM_EXPORT const char *seam_strerror(int err);

/* Returns the symbolic name of a code, e.g. "SEAM_EDUPKEY". Never NULL. */
SEAM_EXPORT const char *seam_errname(int err);

/* ---- Values ------------------------------------------------------------ */

/* A message is a tree of reference-counted values. A new value has one
 * reference, owned by the caller; seam_value_unref() drops one and frees the
 * value when none remain. Reference counting is thread-safe; mutating an
 * array or dictionary while another thread reads it is not. */
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
 * where *len is set to 0 and the call returns a non-NULL pointer). */
SEAM_EXPORT const void *seam_value_get_data(const seam_value *v, size_t *len);
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

/* Shorthands for the common case of building and reading dictionaries. */
SEAM_EXPORT int seam_dict_set_string(seam_value *dict, const char *key, const char *s);
SEAM_EXPORT int seam_dict_set_int64(seam_value *dict, const char *key, int64_t i);
SEAM_EXPORT int seam_dict_set_bool(seam_value *dict, const char *key, bool b);
SEAM_EXPORT int seam_dict_set_double(seam_value *dict, const char *key, double d);
SEAM_EXPORT int seam_dict_set_data(seam_value *dict, const char *key, const void *bytes,
                                   size_t len);
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

#define SEAM_JSON_PRETTY 0x1 /* indent with two spaces */

/* Renders v as JSON in a malloc'd string the caller frees, or NULL without
 * memory. Types JSON lacks use one-key objects: {"$data": base64},
 * {"$date": seconds}, {"$uuid": "8-4-4-4-12"}, {"$fd": number},
 * {"$uint64": "decimal"} above INT64_MAX, {"$double": "nan"|"inf"|"-inf"}. */
SEAM_EXPORT char *seam_value_to_json(const seam_value *v, unsigned flags);

/* Parses JSON text into a value (the inverse of seam_value_to_json(); "$fd"
 * objects are refused with SEAM_EFD since a number names no descriptor
 * here). Returns 0 and stores a new value in *out, or a negative code. */
SEAM_EXPORT int seam_value_from_json(const char *text, seam_value **out);

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

#ifdef __cplusplus
}
#endif

#endif /* SEAM_H */
