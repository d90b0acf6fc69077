# SPDX-License-Identifier: MIT
"""Values on the wire: the CBOR subset of docs/protocol.md ("Values").

Encoding goes through cbor2, after a walk that checks the value has a seam
form and turns the types CBOR lacks into their tags; every float is written
as float64 (cbor2 alone would shorten NaN and the infinities). Decoding is
strict and is done here, item by item, because the protocol gives every kind
of refusal its own code and bounds every allocation."""

from __future__ import annotations

import datetime as _dt
import math
import os
import struct
import uuid as _uuid
from dataclasses import dataclass

import cbor2

from . import errors as E
from .errors import DecodeError, EncodeError
from .values import Date, Fd, Timestamp, date_seconds, decode_date

TAG_DATE = 1
TAG_UUID = 37
TAG_FD = 0x7365616D

INT64_MIN = -(1 << 63)
UINT64_MAX = (1 << 64) - 1
ENCODE_MAX_DEPTH = 64


@dataclass(frozen=True)
class DecodeLimits:
    """Bounds a decoder enforces (docs/protocol.md "Limits")."""

    max_depth: int = 64
    max_items: int = 1_048_576
    max_string: int = 16 * 1024 * 1024

    def __post_init__(self):
        if not 1 <= self.max_depth <= 1024:
            raise ValueError("max_depth is 1 to 1024")


DEFAULT_LIMITS = DecodeLimits()


# ---------------------------------------------------------------- encoding


def _f64(encoder, value: float) -> None:
    encoder.write(b"\xfb" + struct.pack(">d", value))


_ENCODERS = {float: _f64}


class _FdTable:
    """The descriptors of one frame, in the order the value names them."""

    def __init__(self):
        self.fds: list[int] = []
        self._index: dict[int, int] = {}

    def index(self, fd: Fd) -> int:
        """One index per distinct descriptor, however often it appears."""
        try:
            n = fd.fileno()
        except ValueError:
            raise EncodeError(E.EBADF, "a closed Fd cannot be sent") from None
        i = self._index.get(n)
        if i is None:
            i = len(self.fds)
            self.fds.append(n)
            self._index[n] = i
        return i


def _prepare(v, depth: int, fds: _FdTable | None):
    """A copy of v in cbor2's terms, checked against the seam subset."""
    if v is None or v is True or v is False:
        return v
    t = type(v)
    if t is str:
        if not v.isascii():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise EncodeError(E.EUTF8, "string is not valid UTF-8 (lone surrogate)") from None
        return v
    if t is int or (isinstance(v, int) and not isinstance(v, bool)):
        v = int(v)
        if v < INT64_MIN or v > UINT64_MAX:
            raise EncodeError(E.ERANGE, f"integer {v} is outside -2^63 .. 2^64-1")
        return v
    if isinstance(v, Timestamp):
        return cbor2.CBORTag(TAG_DATE, float(v))
    if isinstance(v, float):
        return float(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, _dt.datetime):
        try:
            return cbor2.CBORTag(TAG_DATE, date_seconds(v))
        except ValueError as e:
            raise EncodeError(E.EINVAL, str(e)) from None
    if isinstance(v, _uuid.UUID):
        return cbor2.CBORTag(TAG_UUID, v.bytes)
    if isinstance(v, Fd):
        if fds is None:
            raise EncodeError(E.EFD, "a descriptor where none may go")
        return cbor2.CBORTag(TAG_FD, fds.index(v))
    if isinstance(v, str):
        return _prepare(str(v), depth, fds)
    if isinstance(v, (list, tuple)):
        if depth >= ENCODE_MAX_DEPTH:
            raise EncodeError(E.EDEPTH, f"nesting deeper than {ENCODE_MAX_DEPTH}")
        return [_prepare(x, depth + 1, fds) for x in v]
    if isinstance(v, dict):
        if depth >= ENCODE_MAX_DEPTH:
            raise EncodeError(E.EDEPTH, f"nesting deeper than {ENCODE_MAX_DEPTH}")
        out = {}
        for k, x in v.items():
            if type(k) is not str:
                if not isinstance(k, str):
                    raise EncodeError(E.EKEY, f"dict key {k!r} is not a string")
                k = str(k)
            if "\0" in k:
                raise EncodeError(E.EKEY, "dict key contains NUL")
            out[_prepare(k, depth, None)] = _prepare(x, depth + 1, fds)
        return out
    raise EncodeError(E.EINVAL, f"{t.__name__} has no seam form")


def encode(value, *, allow_fds: bool = True) -> tuple[bytes, list[int]]:
    """CBOR bytes of a value, and the descriptor numbers its fd tags index
    (still owned by their ``Fd`` objects)."""
    fds = _FdTable() if allow_fds else None
    tree = _prepare(value, 0, fds)
    data = cbor2.dumps(tree, encoders=_ENCODERS)
    return data, (fds.fds if fds is not None else [])


def dumps(value) -> bytes:
    """CBOR bytes of a value without descriptors (``seam encode``)."""
    return encode(value, allow_fds=False)[0]


# ---------------------------------------------------------------- decoding

_HALF = struct.Struct(">e")
_SINGLE = struct.Struct(">f")
_DOUBLE = struct.Struct(">d")
_MISSING = object()


class _Decoder:
    __slots__ = ("buf", "pos", "end", "limits", "fds", "items", "made", "by_index")

    def __init__(self, buf, limits: DecodeLimits, fds):
        self.buf = buf
        self.pos = 0
        self.end = len(buf)
        self.limits = limits
        self.fds = fds
        self.items = 1  # the top-level item; containers add what they announce
        self.made: list[Fd] = []
        self.by_index: dict[int, Fd] = {}

    def fail(self, code: int, what: str):
        raise DecodeError(code, f"{what} at byte {self.pos}")

    def head(self):
        """(major, info, argument) of the item at pos; argument is None for
        indefinite length (info 31)."""
        if self.pos >= self.end:
            self.fail(E.ETRUNCATED, "input ends inside an item")
        b = self.buf[self.pos]
        self.pos += 1
        major, info = b >> 5, b & 0x1F
        if info < 24:
            return major, info, info
        if info <= 27:
            n = 1 << (info - 24)
            if self.pos + n > self.end:
                self.fail(E.ETRUNCATED, "input ends inside an item")
            arg = int.from_bytes(self.buf[self.pos:self.pos + n], "big")
            self.pos += n
            return major, info, arg
        if info == 31:
            return major, info, None
        self.pos -= 1
        self.fail(E.EMALFORMED, "reserved additional information")

    def well_formed(self, major, info, arg, item_start):
        """What an item's head alone can refuse. Checked before the item is
        checked against its place (a map key, a tag's content), as the C
        decoder does: an undefined key is ESIMPLE, not EKEY."""
        if arg is None:
            self.pos = item_start
            if 2 <= major <= 5:
                self.fail(E.EINDEF, "indefinite-length item")
            self.fail(E.EMALFORMED, "stray break" if major == 7 else "indefinite length on a number or tag")
        if major == 7 and info not in (20, 21, 22, 25, 26, 27):
            self.pos = item_start
            self.fail(E.ESIMPLE, "undefined or unassigned simple value")
        if major in (2, 3) and arg > self.end - self.pos:
            self.fail(E.ETRUNCATED, "input ends inside a string")

    def reserve(self, n: int, item_start: int):
        """A container announces n values (map keys do not count; a tag and
        its content are one value): they must fit the item limit."""
        if self.items + n > self.limits.max_items:
            self.pos = item_start
            self.fail(E.ECOUNT, "more items than the limit")
        self.items += n

    @staticmethod
    def owed(stack) -> int:
        """Items the enclosing containers still owe after the one being read
        (each takes at least one byte)."""
        n = 0
        for c, remaining, key, _depth in stack:
            if isinstance(c, list):
                n += remaining - 1
            else:
                n += 2 * (remaining - 1) + (1 if key is _MISSING else 0)
        return n

    def string(self, major, info, arg):
        if arg is None:
            self.pos -= 1
            self.fail(E.EINDEF, "indefinite-length string")
        if arg > self.end - self.pos:
            self.fail(E.ETRUNCATED, "input ends inside a string")
        if arg > self.limits.max_string:
            self.fail(E.ETOOLONG, "string longer than the limit")
        raw = bytes(self.buf[self.pos:self.pos + arg])
        start = self.pos
        self.pos += arg
        if major == 2:
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.pos = start
            self.fail(E.EUTF8, "text string is not valid UTF-8")

    def value(self, depth_of_parent: int):
        """Decodes one item; containers are decoded iteratively."""
        # The stack holds [container, remaining, pending_key or _MISSING, depth].
        stack: list[list] = []
        result = _MISSING
        while True:
            item_start = self.pos
            in_map_key = bool(stack) and isinstance(stack[-1][0], dict) and stack[-1][2] is _MISSING
            major, info, arg = self.head()
            if major == 6 and arg is not None:
                # A tag is judged by its head alone.
                if in_map_key:
                    self.pos = item_start
                    self.fail(E.EKEY, "map key is not a text string")
            self.well_formed(major, info, arg, item_start)
            if in_map_key and major != 3:
                self.pos = item_start
                self.fail(E.EKEY, "map key is not a text string")
            depth = stack[-1][3] if stack else depth_of_parent
            if major == 0:
                if arg is None:
                    self.pos -= 1
                    self.fail(E.EMALFORMED, "indefinite length on an integer")
                v = arg
            elif major == 1:
                if arg is None:
                    self.pos -= 1
                    self.fail(E.EMALFORMED, "indefinite length on an integer")
                v = -1 - arg
                if v < INT64_MIN:
                    self.pos = item_start
                    self.fail(E.ERANGE, "negative integer below -2^63")
            elif major in (2, 3):
                v = self.string(major, info, arg)
                if in_map_key and "\0" in v:
                    self.pos = item_start
                    self.fail(E.EKEY, "map key contains NUL")
            elif major in (4, 5):
                if arg is None:
                    self.pos -= 1
                    self.fail(E.EINDEF, "indefinite-length container")
                if depth + 1 > self.limits.max_depth:
                    self.pos = item_start
                    self.fail(E.EDEPTH, "nesting deeper than the limit")
                # Every item takes at least one byte: a map of n entries
                # needs 2n, an array of n needs n, and the enclosing
                # containers need bytes for what they still owe.
                if (arg if major == 4 else 2 * arg) + self.owed(stack) > self.end - self.pos:
                    self.fail(E.ETRUNCATED, "container count larger than the bytes that remain")
                self.reserve(arg, item_start)
                if arg > 0:
                    stack.append([[] if major == 4 else {}, arg, _MISSING, depth + 1])
                    continue
                v = [] if major == 4 else {}
            elif major == 6:
                if arg is None:
                    self.pos -= 1
                    self.fail(E.EMALFORMED, "indefinite length on a tag")
                v = self.tagged(arg, item_start)
            else:
                v = self.simple(info, arg, item_start)
            # Hand v to its parent; close every container it completes.
            while True:
                if not stack:
                    return v
                top = stack[-1]
                c = top[0]
                if isinstance(c, list):
                    c.append(v)
                    top[1] -= 1
                elif top[2] is _MISSING:
                    if v in c:
                        self.pos = item_start
                        self.fail(E.EDUPKEY, f"duplicate map key {v!r}")
                    top[2] = v
                    break
                else:
                    c[top[2]] = v
                    top[2] = _MISSING
                    top[1] -= 1
                if top[1] > 0:
                    break
                stack.pop()
                v = c

    def tagged(self, tag: int, item_start: int):
        if tag not in (TAG_DATE, TAG_UUID, TAG_FD):
            self.pos = item_start
            self.fail(E.ETAG, f"unknown tag {tag}")
        inner_start = self.pos
        major, info, arg = self.head()
        self.well_formed(major, info, arg, inner_start)
        if tag == TAG_DATE:
            if major == 0 and arg is not None:
                seconds = arg
            elif major == 1 and arg is not None:
                seconds = -1 - arg  # any integer: a date is a float64
            elif major == 7 and 25 <= info <= 27:
                seconds = self.float(info, arg)
            else:
                self.pos = item_start
                self.fail(E.ETAG, "a date is tag 1 on a number")
            if isinstance(seconds, float) and not math.isfinite(seconds):
                self.pos = item_start
                self.fail(E.ETAG, "a date that is not finite")
            return decode_date(float(seconds))
        if tag == TAG_UUID:
            if major != 2:
                self.pos = item_start
                self.fail(E.ETAG, "a uuid is tag 37 on a byte string")
            if arg is None:
                self.pos = inner_start
                self.fail(E.EINDEF, "indefinite-length string")
            if arg != 16:
                self.pos = item_start
                self.fail(E.ETAG, "a uuid is 16 bytes")
            b = self.string(major, info, arg)
            return _uuid.UUID(bytes=b)
        # TAG_FD
        if major != 0 or arg is None:
            self.pos = item_start
            self.fail(E.ETAG, "an fd is its tag on an unsigned integer")
        if arg >= len(self.fds):
            self.pos = item_start
            self.fail(E.EFDINDEX, f"fd index {arg} names no passed descriptor")
        # Every reference to one passed descriptor is the same Fd: one
        # duplicate per descriptor passed, however often it is named.
        fd = self.by_index.get(arg)
        if fd is None:
            try:
                fd = Fd(os.dup(self.fds[arg]))
            except OSError as e:
                self.pos = item_start
                self.fail(-e.errno, "cannot duplicate a passed descriptor")
            self.by_index[arg] = fd
            self.made.append(fd)
        return fd

    def float(self, info, arg):
        if info == 25:
            return _HALF.unpack(arg.to_bytes(2, "big"))[0]
        if info == 26:
            return _SINGLE.unpack(arg.to_bytes(4, "big"))[0]
        return _DOUBLE.unpack(arg.to_bytes(8, "big"))[0]

    def simple(self, info, arg, item_start):
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        if 25 <= info <= 27:
            return self.float(info, arg)
        self.pos = item_start
        if info == 31:
            self.fail(E.EMALFORMED, "stray break")
        self.fail(E.ESIMPLE, "undefined or unassigned simple value")


def decode(data, fds=(), limits: DecodeLimits = DEFAULT_LIMITS):
    """Decodes exactly one value from ``data``. ``fds`` are the frame's
    descriptor numbers (not consumed: each one a value names becomes one
    ``Fd`` owning a duplicate, the same object wherever it is named).
    Raises DecodeError with the protocol's code."""
    d = _Decoder(memoryview(data).cast("B") if not isinstance(data, bytes) else data, limits, list(fds))
    try:
        v = d.value(0)
        if d.pos != d.end:
            d.fail(E.ETRAILING, "bytes after the top-level item")
    except BaseException:
        for fd in d.made:
            fd.close()
        raise
    return v


def loads(data, limits: DecodeLimits = DEFAULT_LIMITS):
    """Decodes a value that travels without descriptors (``seam decode``)."""
    return decode(data, (), limits)
