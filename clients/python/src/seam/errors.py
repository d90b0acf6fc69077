# SPDX-License-Identifier: MIT
"""Error codes of the seam protocol and the exceptions that carry them."""

from __future__ import annotations

# Negative codes as listed in docs/protocol.md ("Error codes").
CODES = {
    -1: "EPERM",
    -9: "EBADF",
    -11: "EAGAIN",
    -12: "ENOMEM",
    -13: "EACCES",
    -16: "EBUSY",
    -17: "EEXIST",
    -22: "EINVAL",
    -34: "ERANGE",
    -36: "ENAMETOOLONG",
    -71: "EPROTO",
    -90: "EMSGSIZE",
    -95: "ENOTSUP",
    -98: "EADDRINUSE",
    -104: "ECONNRESET",
    -105: "ENOBUFS",
    -110: "ETIMEDOUT",
    -125: "ECANCELED",
    -3001: "ETRUNCATED",
    -3002: "EMALFORMED",
    -3003: "ETRAILING",
    -3004: "EDEPTH",
    -3005: "ECOUNT",
    -3006: "ETOOLONG",
    -3007: "EKEY",
    -3008: "EDUPKEY",
    -3009: "EUTF8",
    -3010: "EINDEF",
    -3011: "ETAG",
    -3012: "ESIMPLE",
    -3013: "EFDINDEX",
    -3014: "EFRAMEKIND",
    -3015: "EFRAMEFLAGS",
    -3016: "EFRAMEFDS",
    -3017: "EFRAMEID",
    -3018: "EFRAMELEN",
    -3019: "EJSON",
    -3020: "EFD",
    -3021: "EHANDSHAKE",
    -3022: "ENOTFOUND",
    -3023: "ECLOSED",
    -3024: "EREMOTE",
    -3025: "ENOCALL",
    -3040: "ENOTENDPOINT",
    -3041: "EMEMFD",
}

# Module-level constants: seam.errors.ENOTSUP == -95 and so on.
globals().update({name: code for code, name in CODES.items()})

_TEXT = {
    -11: "would block, retry later",
    -1: "permission denied by the file mode of the socket or its directory",
    -13: "refused by the accept rule, or an unsafe directory or lock file",
    -22: "invalid argument",
    -34: "number out of range, or a buffer too small",
    -36: "name or socket path too long",
    -71: "protocol violation",
    -90: "message larger than allowed",
    -95: "not supported",
    -98: "name owned by a live server",
    -104: "peer went away",
    -110: "call timed out",
    -125: "call cancelled",
    -3021: "handshake failed",
    -3022: "no server at that name",
    -3023: "connection closed",
    -3040: "the descriptor is no endpoint",
}


def code_name(code: int) -> str:
    """The symbolic name of a code, e.g. ``"ENOTSUP"``; unknown codes as a number."""
    return CODES.get(code, str(code))


def strerror(code: int) -> str:
    return _TEXT.get(code, code_name(code))


class SeamError(Exception):
    """Any failure with a seam error code (``.code``, negative; ``.name``)."""

    def __init__(self, code: int, message: str | None = None):
        self.code = code
        self.name = code_name(code)
        self.message = message if message is not None else strerror(code)
        super().__init__(f"{self.message} ({self.name})")


class DecodeError(SeamError, ValueError):
    """A payload that is not a value of the subset (ETRUNCATED ... ERANGE)."""


class EncodeError(SeamError, ValueError):
    """A Python object that has no seam form (EINVAL, EKEY, ERANGE, EDEPTH ...)."""


class ProtocolError(SeamError):
    """The connection failed: the peer broke the protocol or sent something we refuse."""


class ConnectionClosed(SeamError, ConnectionError):
    """The connection ended: ``.code`` is ECONNRESET ("peer gone", also for
    every call in flight), or ECLOSED once it was closed locally.

    ``.goodbye_code`` and ``.reason`` are set when the peer said goodbye,
    ``.rule`` when that goodbye named the server's rule that refused us
    ("uid", "gid", "exe", "same_user", "filter", "max_conns" ...);
    ``.violation`` is the ProtocolError (with its own code, e.g. EFRAMEKIND)
    when the connection ended because the peer broke the protocol."""

    def __init__(self, code: int, message: str | None = None, goodbye_code: int | None = None,
                 reason: str | None = None, violation: "ProtocolError | None" = None,
                 rule: str | None = None):
        super().__init__(code, message)
        self.goodbye_code = goodbye_code
        self.reason = reason
        self.rule = rule
        self.violation = violation


class Refused(ConnectionClosed):
    """The peer said goodbye with a code - do not simply reconnect:
    ``goodbye_code`` EACCES (refused by its accept rule), EAGAIN (too many
    peers, in all or of our user, or no descriptor left), ETIMEDOUT (we
    were idle too long)."""


class CallTimeout(SeamError, TimeoutError):
    """A call got no answer in time (ETIMEDOUT)."""

    def __init__(self, message: str | None = None):
        super().__init__(-110, message)


class Cancelled(SeamError):
    """A call was cancelled locally (ECANCELED)."""

    def __init__(self, message: str | None = None):
        super().__init__(-125, message)


class NotFound(SeamError, FileNotFoundError):
    """No server listens at that name (ENOTFOUND)."""

    def __init__(self, message: str | None = None):
        super().__init__(-3022, message)


class AddressInUse(SeamError, OSError):
    """Another live server owns the name (EADDRINUSE)."""

    def __init__(self, message: str | None = None):
        super().__init__(-98, message)


class RemoteError(SeamError):
    """The peer answered a call with an error frame.

    ``.code`` is the code the peer sent (any negative number), ``.message``
    its text, ``.data`` the optional details value (None when absent)."""

    def __init__(self, code: int, message: str, data=None):
        self.data = data
        super().__init__(code, message)
        self.message = message

    def __str__(self) -> str:
        return f"remote error {self.name}: {self.message}"
