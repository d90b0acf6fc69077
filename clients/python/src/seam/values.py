# SPDX-License-Identifier: MIT
"""Python types for the seam values that Python lacks: owned descriptors,
exact dates, and RAW messages."""

from __future__ import annotations

import datetime as _dt
import math
import os
from fractions import Fraction

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


class Fd:
    """A file descriptor that this object owns: closed by ``close()``, by the
    ``with`` block, or when the object is collected.

    ``Fd(n)`` takes ownership of descriptor ``n``; ``Fd.dup(obj)`` owns a
    duplicate of an int, a file or a socket (anything with ``fileno()``).
    Sending an ``Fd`` does not consume it: the receiver gets its own copy."""

    __slots__ = ("_fd", "__weakref__")

    def __init__(self, fd: int):
        if not isinstance(fd, int) or isinstance(fd, bool) or fd < 0:
            raise ValueError("Fd() takes a non-negative descriptor number")
        self._fd = fd

    @classmethod
    def dup(cls, obj) -> "Fd":
        n = obj if isinstance(obj, int) else obj.fileno()
        return cls(os.dup(n))

    def fileno(self) -> int:
        if self._fd < 0:
            raise ValueError("Fd is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def detach(self) -> int:
        """Give up ownership: returns the number, which the caller now closes."""
        n = self.fileno()
        self._fd = -1
        return n

    def close(self) -> None:
        if self._fd >= 0:
            n, self._fd = self._fd, -1
            os.close(n)

    def __enter__(self) -> "Fd":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except OSError:
            pass

    def __repr__(self) -> str:
        return f"seam.Fd({self._fd})" if self._fd >= 0 else "seam.Fd(closed)"


def _check_seconds(seconds) -> float:
    s = float(seconds)
    if not math.isfinite(s):
        raise ValueError("a seam date is finite")
    return s


class Date(_dt.datetime):
    """A ``datetime`` (UTC) decoded from a seam date. It remembers the exact
    float64 seconds it came from (``.seconds``), so sending it back is
    bit-exact even below the microsecond that ``datetime`` resolves."""

    @classmethod
    def from_seconds(cls, seconds) -> "Date":
        s = _check_seconds(seconds)
        us = round(Fraction(s) * 1_000_000)
        base = _EPOCH + _dt.timedelta(microseconds=us)
        d = cls(base.year, base.month, base.day, base.hour, base.minute, base.second,
                base.microsecond, tzinfo=_dt.timezone.utc)
        d._exact = (s, us)
        return d

    @property
    def seconds(self) -> float:
        return date_seconds(self)


class Timestamp(float):
    """A seam date as float seconds since 1970-01-01T00:00:00Z. Dates that
    ``datetime`` cannot hold (before year 1, after 9999) decode to this; it
    can also be sent as a date directly."""

    def __new__(cls, seconds):
        return super().__new__(cls, _check_seconds(seconds))

    def __repr__(self) -> str:
        return f"seam.Timestamp({float(self)!r})"

    def datetime(self) -> _dt.datetime:
        return Date.from_seconds(self)


def date_seconds(d: _dt.datetime) -> float:
    """The float64 a datetime is sent as. Naive datetimes are refused: a seam
    date is an instant, and a naive one names none."""
    if d.tzinfo is None or d.utcoffset() is None:
        raise ValueError("naive datetime: attach a timezone (e.g. datetime.timezone.utc)")
    delta = d - _EPOCH
    us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    exact = getattr(d, "_exact", None)
    if exact is not None and exact[1] == us:
        return exact[0]
    return us / 1_000_000  # int / int: the nearest float64


def decode_date(seconds):
    """A decoded tag 1 value as a Python object."""
    try:
        return Date.from_seconds(seconds)
    except (OverflowError, ValueError):
        return Timestamp(seconds)


class Raw:
    """A RAW payload: a 32-bit message id chosen by the application, opaque
    bytes, and descriptors handed over in order (a list of ``Fd``)."""

    __slots__ = ("msgid", "data", "fds")

    def __init__(self, msgid: int, data: bytes = b"", fds=()):
        if not isinstance(msgid, int) or not 0 <= msgid <= 0xFFFFFFFF:
            raise ValueError("a RAW message id is an unsigned 32-bit number")
        self.msgid = msgid
        self.data = bytes(data)
        self.fds = list(fds)

    def __eq__(self, other):
        if not isinstance(other, Raw):
            return NotImplemented
        return self.msgid == other.msgid and self.data == other.data and len(self.fds) == len(other.fds)

    def __repr__(self) -> str:
        return f"seam.Raw({self.msgid}, {self.data!r}, fds={self.fds!r})"
