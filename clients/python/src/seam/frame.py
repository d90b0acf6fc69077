# SPDX-License-Identifier: MIT
"""Frame headers and hello payloads (docs/protocol.md "Frames", "Handshake")."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import errors as E
from .errors import ProtocolError

HEADER = struct.Struct("<IBBHQ")
HEADER_SIZE = 16
FLAG_RAW = 0x01
# A request: the caller accepts intermediate replies; a reply: one of them.
FLAG_MORE = 0x02
# With RAW only: the raw bytes are the frame's first descriptor, a sealed
# memfd; the 12-byte payload is the message id and their 64-bit length.
FLAG_MEMFD = 0x04
MEMFD_PAYLOAD = 12
MAX_FDS = 64
MIN_MAX_FRAME = 4096
HELLO_MAX = 4096
SHM_MIN = 4096  # a "shm" ring size is a power of two in [SHM_MIN, SHM_MAX]
SHM_MAX = 64 << 20
MIN_MEMFD = 4096  # the least "memfd" threshold a hello may announce
PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME = 16 * 1024 * 1024

HELLO, MESSAGE, REQUEST, REPLY, ERROR, CANCEL, PING, PONG, GOODBYE = range(1, 10)
# Publish and subscribe; shared memory (which this package never offers).
SUBSCRIBE, UNSUBSCRIBE, UPDATE, SHM_SETUP = range(10, 14)
KIND_NAMES = {1: "hello", 2: "message", 3: "request", 4: "reply", 5: "error", 6: "cancel",
              7: "ping", 8: "pong", 9: "goodbye", 10: "subscribe", 11: "unsubscribe",
              12: "update", 13: "shm_setup"}

# kind: (id rule, RAW allowed, fds allowed, payload rule)
# id rule: 0 = must be 0, 1 = must be non-zero, None = any
# payload rule: "req" = at least 1 byte, "none" = exactly 0, "opt" = any
_KINDS = {
    HELLO: (0, False, False, "req"),
    MESSAGE: (0, True, True, "req"),
    REQUEST: (1, True, True, "req"),
    REPLY: (1, True, True, "req"),
    ERROR: (1, False, False, "req"),
    CANCEL: (1, False, False, "none"),
    PING: (None, False, False, "none"),
    PONG: (None, False, False, "none"),
    GOODBYE: (0, False, False, "opt"),
    SUBSCRIBE: (1, False, False, "req"),
    UNSUBSCRIBE: (1, False, False, "none"),
    UPDATE: (1, False, False, "req"),
    SHM_SETUP: (0, False, True, "none"),
}


@dataclass(frozen=True)
class Header:
    len: int
    kind: int
    flags: int
    nfds: int
    id: int

    @property
    def raw(self) -> bool:
        return bool(self.flags & FLAG_RAW)


def pack(kind: int, flags: int, nfds: int, ident: int, payload_len: int) -> bytes:
    return HEADER.pack(payload_len, kind, flags, nfds, ident)


def check_header(b, max_frame: int) -> Header:
    """Parses 16 bytes and applies the six rules in the protocol's order."""
    length, kind, flags, nfds, ident = HEADER.unpack(b)
    rule = _KINDS.get(kind)
    if rule is None:
        raise ProtocolError(E.EFRAMEKIND, f"unknown frame kind {kind}")
    id_rule, raw_ok, fds_ok, payload = rule
    allowed = (FLAG_RAW | FLAG_MEMFD if raw_ok else 0) | (FLAG_MORE if kind in (REQUEST, REPLY) else 0)
    memfd = bool(flags & FLAG_MEMFD)
    if flags & ~allowed or (memfd and not flags & FLAG_RAW):
        raise ProtocolError(E.EFRAMEFLAGS, f"flags 0x{flags:02x} not valid for {KIND_NAMES[kind]}")
    if (nfds != 0 and (not fds_ok or nfds > MAX_FDS)) or (memfd and nfds == 0):
        raise ProtocolError(E.EFRAMEFDS, f"{nfds} descriptors not valid for {KIND_NAMES[kind]}")
    if (id_rule == 0 and ident != 0) or (id_rule == 1 and ident == 0):
        raise ProtocolError(E.EFRAMEID, f"id {ident} not valid for {KIND_NAMES[kind]}")
    if length > max_frame:
        raise ProtocolError(E.EMSGSIZE, f"frame of {length} bytes exceeds max_frame {max_frame}")
    if memfd:
        ok = length == MEMFD_PAYLOAD
    elif flags & FLAG_RAW:
        ok = length >= 4
    elif payload == "req":
        ok = length >= 1
    elif payload == "none":
        ok = length == 0
    else:
        ok = True
    if not ok:
        raise ProtocolError(E.EFRAMELEN, f"payload of {length} bytes not valid for {KIND_NAMES[kind]}")
    return Header(length, kind, flags, nfds, ident)


@dataclass(frozen=True)
class Hello:
    version: int
    max_frame: int
    max_fds: int


def hello_payload(max_frame: int, max_fds: int) -> bytes:
    from .cbor import dumps

    return dumps({"seam": PROTOCOL_VERSION, "max_frame": max_frame, "max_fds": max_fds})


def parse_hello(payload: bytes) -> Hello:
    from .cbor import loads
    from .errors import DecodeError

    try:
        m = loads(payload)
    except DecodeError as e:
        # Undecodable CBOR fails with its own decode error.
        raise ProtocolError(e.code, f"hello is not valid CBOR: {e.message}") from None
    if not isinstance(m, dict):
        raise ProtocolError(E.EHANDSHAKE, "hello is not a map")
    out = {}
    for key in ("seam", "max_frame", "max_fds"):
        v = m.get(key)
        if v is None:
            raise ProtocolError(E.EHANDSHAKE, f"hello lacks {key!r}")
        if type(v) is not int or v < 0:
            raise ProtocolError(E.EHANDSHAKE, f"hello {key!r} is not an unsigned integer")
        out[key] = v
    if out["seam"] == 0:
        raise ProtocolError(E.EHANDSHAKE, "hello announces version 0")
    if out["max_frame"] < MIN_MAX_FRAME:
        raise ProtocolError(E.EHANDSHAKE, "hello max_frame below 4096")
    # The optional keys are checked even though this package takes up
    # neither offer: a bad value is a bad hello, as for the C library.
    shm = m.get("shm", 4096)
    if (type(shm) is not int or not SHM_MIN <= shm <= SHM_MAX
                            or shm & (shm - 1)):
        raise ProtocolError(E.EHANDSHAKE, "hello 'shm' is not a power of two from 4096 to 64 MiB")
    memfd = m.get("memfd", MIN_MEMFD)
    if (type(memfd) is not int or memfd < MIN_MEMFD):
        raise ProtocolError(E.EHANDSHAKE, "hello 'memfd' is not an unsigned integer of at least 4096")
    # max_fds is 0 to 64; a larger announcement is read as 64, the most a
    # frame may ever carry; a max_frame above 2^32-1 is more than a header
    # can say.
    return Hello(out["seam"], min(out["max_frame"], 0xFFFFFFFF), min(out["max_fds"], MAX_FDS))
