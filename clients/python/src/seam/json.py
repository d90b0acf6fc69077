# SPDX-License-Identifier: MIT
"""The JSON forms of seam values (docs/json.md)."""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json as _json
import math
import re
import uuid as _uuid

from . import errors as E
from .cbor import INT64_MIN, UINT64_MAX
from .errors import SeamError
from .values import Date, Fd, Timestamp, date_seconds, decode_date

_RESERVED = ("$data", "$date", "$uuid", "$fd", "$uint64", "$double", "$dict")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INT_MAX = (1 << 63) - 1


class JSONError(SeamError, ValueError):
    def __init__(self, message: str):
        super().__init__(E.EJSON, message)


def _to_plain(v):
    if v is None or v is True or v is False or isinstance(v, str):
        return v
    if isinstance(v, int):
        if v > _INT_MAX:
            return {"$uint64": str(v)}
        return int(v)
    if isinstance(v, Timestamp):
        return {"$date": float(v)}
    if isinstance(v, float):
        if math.isnan(v):
            return {"$double": "nan"}
        if math.isinf(v):
            return {"$double": "inf" if v > 0 else "-inf"}
        return float(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"$data": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, _dt.datetime):
        return {"$date": date_seconds(v)}
    if isinstance(v, _uuid.UUID):
        return {"$uuid": str(v)}
    if isinstance(v, Fd):
        return {"$fd": v.fileno() if not v.closed else -1}
    if isinstance(v, (list, tuple)):
        return [_to_plain(x) for x in v]
    if isinstance(v, dict):
        d = {str(k): _to_plain(x) for k, x in v.items()}
        if len(d) == 1 and next(iter(d)) in _RESERVED:
            return {"$dict": d}
        return d
    raise E.EncodeError(E.EINVAL, f"{type(v).__name__} has no seam form")


def to_json(value, pretty: bool = False) -> str:
    """The JSON text of a value; ``pretty`` indents by two spaces."""
    return _json.dumps(_to_plain(value), ensure_ascii=False, allow_nan=False,
                       indent=2 if pretty else None, separators=None if pretty else (",", ":"))


class _Special:
    """An object of exactly one reserved key, resolved once the whole text
    is read (a $dict body must stay a dictionary)."""

    __slots__ = ("key", "value")

    def __init__(self, key, value):
        self.key = key
        self.value = value


def _pairs(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise JSONError(f"duplicate object key {k!r}")
        d[k] = v
    if len(d) == 1:
        (k, v), = d.items()
        if k in _RESERVED:
            return _Special(k, v)
    return d


def _special(k, v):
    if k == "$dict":
        if isinstance(v, _Special):
            return {v.key: _resolve(v.value)}
        if not isinstance(v, dict):
            raise JSONError("$dict takes an object")
        return _resolve(v)
    if k == "$data":
        if not isinstance(v, str):
            raise JSONError("$data takes a base64 string")
        try:
            return base64.b64decode(v.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise JSONError("bad base64 in $data") from None
    if k == "$date":
        if type(v) not in (int, float) or not math.isfinite(v):
            raise JSONError("$date takes a finite number")
        return decode_date(v)
    if k == "$uuid":
        if not isinstance(v, str) or not _UUID_RE.match(v):
            raise JSONError("$uuid takes 8-4-4-4-12 hex")
        return _uuid.UUID(v)
    if k == "$uint64":
        if not isinstance(v, str) or not v.isascii() or not v.isdigit() or int(v) > UINT64_MAX:
            raise JSONError("$uint64 takes decimal digits up to 2^64-1")
        return int(v)
    if k == "$double":
        names = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
        if not isinstance(v, str) or v not in names:
            raise JSONError('$double takes "nan", "inf" or "-inf"')
        return names[v]
    raise SeamError(E.EFD, "$fd: a number in text names no descriptor")


def _resolve(v):
    if isinstance(v, _Special):
        return _special(v.key, v.value)
    if isinstance(v, list):
        return [_resolve(x) for x in v]
    if isinstance(v, dict):
        return {k: _resolve(x) for k, x in v.items()}
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise JSONError("lone surrogate in a string") from None
    return v


def _int(s: str):
    v = int(s)
    if v < INT64_MIN or v > _INT_MAX:
        raise JSONError(f"integer {s} out of range: write large ones as $uint64")
    return v


def _const(name):
    raise JSONError(f"{name} is not JSON")


def from_json(text: str):
    """The value a JSON text describes; raises SeamError EJSON (or EFD)."""
    try:
        v = _json.loads(text, object_pairs_hook=_pairs, parse_int=_int, parse_constant=_const)
    except _json.JSONDecodeError as e:
        raise JSONError(f"not JSON: {e}") from None
    except RecursionError:
        raise JSONError("nested too deeply") from None
    return _resolve(v)
