/* SPDX-License-Identifier: MIT */
/* error.c - names and descriptions of SEAM_E* codes. */
#include "seam.h"

#include <errno.h>
#include <string.h>

typedef struct err_info {
    int code;
    const char *name;
    const char *text;
} err_info;

static const err_info errors[] = {
    {0, "0", "success"},
    {SEAM_EINVAL, "SEAM_EINVAL", "invalid argument"},
    {SEAM_ENOMEM, "SEAM_ENOMEM", "out of memory"},
    {SEAM_EAGAIN, "SEAM_EAGAIN", "would block: send queue is full"},
    {SEAM_ERANGE, "SEAM_ERANGE", "number out of range, or buffer too small"},
    {SEAM_EMSGSIZE, "SEAM_EMSGSIZE", "message larger than the allowed maximum"},
    {SEAM_ENOBUFS, "SEAM_ENOBUFS",
     "a bound was reached: the peer left answers unread, a sync call held all it may, or "
     "the peer's memfds mapped at once"},
    {SEAM_EBADF, "SEAM_EBADF", "bad file descriptor"},
    {SEAM_ETIMEDOUT, "SEAM_ETIMEDOUT", "call timed out"},
    {SEAM_ECANCELED, "SEAM_ECANCELED", "call cancelled"},
    {SEAM_EPROTO, "SEAM_EPROTO", "protocol violation by the peer"},
    {SEAM_ECONNRESET, "SEAM_ECONNRESET", "peer went away"},
    {SEAM_EADDRINUSE, "SEAM_EADDRINUSE", "name in use by a live server"},
    {SEAM_EACCES, "SEAM_EACCES",
     "refused by the accept filter, or an unsafe directory or lock file"},
    {SEAM_ENOTSUP, "SEAM_ENOTSUP", "operation not supported"},
    {SEAM_EBUSY, "SEAM_EBUSY", "not possible from inside this callback"},
    {SEAM_EEXIST, "SEAM_EEXIST", "a file that is not a socket is in the way"},
    {SEAM_ENAMETOOLONG, "SEAM_ENAMETOOLONG", "name or socket path too long"},
    {SEAM_EPERM, "SEAM_EPERM", "permission denied by the file mode of the socket or its directory"},
    {SEAM_ETRUNCATED, "SEAM_ETRUNCATED", "input ends inside an item"},
    {SEAM_EMALFORMED, "SEAM_EMALFORMED", "input is not well-formed CBOR"},
    {SEAM_ETRAILING, "SEAM_ETRAILING", "bytes follow the encoded value"},
    {SEAM_EDEPTH, "SEAM_EDEPTH", "nesting deeper than the limit"},
    {SEAM_ECOUNT, "SEAM_ECOUNT", "more items than the limit"},
    {SEAM_ETOOLONG, "SEAM_ETOOLONG", "string or data longer than the limit"},
    {SEAM_EKEY, "SEAM_EKEY", "dictionary key is not a NUL-free text string"},
    {SEAM_EDUPKEY, "SEAM_EDUPKEY", "duplicate dictionary key"},
    {SEAM_EUTF8, "SEAM_EUTF8", "text is not valid UTF-8"},
    {SEAM_EINDEF, "SEAM_EINDEF", "indefinite-length items are not allowed"},
    {SEAM_ETAG, "SEAM_ETAG", "unknown tag or tag on the wrong item"},
    {SEAM_ESIMPLE, "SEAM_ESIMPLE", "undefined or unassigned simple value"},
    {SEAM_EFDINDEX, "SEAM_EFDINDEX", "fd value names no passed descriptor"},
    {SEAM_EFRAMEKIND, "SEAM_EFRAMEKIND", "unknown frame kind"},
    {SEAM_EFRAMEFLAGS, "SEAM_EFRAMEFLAGS", "frame flags not valid for its kind"},
    {SEAM_EFRAMEFDS, "SEAM_EFRAMEFDS", "frame carries too many or unexpected descriptors"},
    {SEAM_EFRAMEID, "SEAM_EFRAMEID", "frame id not valid for its kind"},
    {SEAM_EFRAMELEN, "SEAM_EFRAMELEN", "frame payload length not valid for its kind"},
    {SEAM_EJSON, "SEAM_EJSON", "text is not JSON that seam can represent"},
    {SEAM_EFD, "SEAM_EFD", "file descriptors cannot go there"},
    {SEAM_EHANDSHAKE, "SEAM_EHANDSHAKE", "handshake failed or incompatible peer"},
    {SEAM_ENOTFOUND, "SEAM_ENOTFOUND", "no server listens on that name"},
    {SEAM_ECLOSED, "SEAM_ECLOSED", "closed"},
    {SEAM_EREMOTE, "SEAM_EREMOTE", "the peer answered with an error"},
    {SEAM_ENOCALL, "SEAM_ENOCALL", "no call in flight with that id"},
    {SEAM_ENOTENDPOINT, "SEAM_ENOTENDPOINT", "descriptor is no endpoint of this process"},
    {SEAM_EMEMFD, "SEAM_EMEMFD", "memfd not sealed as required or not of its stated size"},
};

/* Names of the system errors that reach seam's callers, so that a plain
 * errno passed through has a name as well as a text. */
typedef struct errno_name {
    int code;
    const char *name;
} errno_name;

static const errno_name errno_names[] = {
    {EPERM, "EPERM"},
    {ENOENT, "ENOENT"},
    {ESRCH, "ESRCH"},
    {EINTR, "EINTR"},
    {EIO, "EIO"},
    {ENXIO, "ENXIO"},
    {E2BIG, "E2BIG"},
    {ECHILD, "ECHILD"},
    {EFAULT, "EFAULT"},
    {EEXIST, "EEXIST"},
    {EXDEV, "EXDEV"},
    {ENODEV, "ENODEV"},
    {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"},
    {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"},
    {ENOTTY, "ENOTTY"},
    {ETXTBSY, "ETXTBSY"},
    {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"},
    {ESPIPE, "ESPIPE"},
    {EROFS, "EROFS"},
    {EMLINK, "EMLINK"},
    {EPIPE, "EPIPE"},
    {EDOM, "EDOM"},
    {EDEADLK, "EDEADLK"},
    {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOLCK, "ENOLCK"},
    {ENOSYS, "ENOSYS"},
    {ENOTEMPTY, "ENOTEMPTY"},
    {ELOOP, "ELOOP"},
    {EOVERFLOW, "EOVERFLOW"},
    {EILSEQ, "EILSEQ"},
    {ENOTSOCK, "ENOTSOCK"},
    {EDESTADDRREQ, "EDESTADDRREQ"},
    {EPROTOTYPE, "EPROTOTYPE"},
    {ENOPROTOOPT, "ENOPROTOOPT"},
    {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
    {EAFNOSUPPORT, "EAFNOSUPPORT"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
    {ENETDOWN, "ENETDOWN"},
    {ENETUNREACH, "ENETUNREACH"},
    {ECONNABORTED, "ECONNABORTED"},
    {ENOBUFS, "ENOBUFS"},
    {EISCONN, "EISCONN"},
    {ENOTCONN, "ENOTCONN"},
    {ECONNREFUSED, "ECONNREFUSED"},
    {EHOSTUNREACH, "EHOSTUNREACH"},
    {EALREADY, "EALREADY"},
    {EINPROGRESS, "EINPROGRESS"},
    {EDQUOT, "EDQUOT"},
};

static const err_info *find(int code)
{
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        if (errors[i].code == code) {
            return &errors[i];
        }
    }
    return NULL;
}

const char *seam_strerror(int err)
{
    const err_info *e = find(err);
    if (e != NULL) {
        return e->text;
    }
    if (err < 0 && err > SEAM__ERRNO_MAX) {
        /* A system error passed through: strerror's table is static. */
        return strerror(-err);
    }
    return "unknown error";
}

const char *seam_errname(int err)
{
    const err_info *e = find(err);
    if (e != NULL) {
        return e->name;
    }
    for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++) {
        if (-errno_names[i].code == err) {
            return errno_names[i].name;
        }
    }
    return "SEAM_EUNKNOWN";
}

const char *seam_version(void)
{
    return "0.1.0";
}
