# SPDX-License-Identifier: MIT
"""Values: Python types to CBOR and back, the protocol's exact bytes, every
refusal with its own code, and agreement with the C codec (seam encode /
seam decode) on the same inputs."""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import uuid

import pytest

import seam
from seam import errors as E
from seam.cbor import DecodeLimits, decode, encode, loads, dumps

from conftest import run_seam

UTC = dt.timezone.utc


def test_worked_example_bytes_from_the_protocol_text():
    assert dumps({"op": "add", "a": 2}).hex() == "a2626f7063616464616102"
    assert dumps(dt.datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC)).hex() == "c1fb41cdcd6500000000"
    u = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
    assert dumps(u).hex() == "d8255000112233445566778899aabbccddeeff"
    with seam.Fd.dup(0) as fd:
        data, fds = encode(fd)
        assert data.hex() == "da7365616d00" and fds == [fd.fileno()]
    assert dumps({"code": -95, "message": "no handler"}).hex() == \
        "a264636f6465385e676d6573736167656a6e6f2068616e646c6572"


@pytest.mark.parametrize("v", [
    None, True, False, 0, 23, 24, 255, 256, 65535, 65536, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
    -1, -24, -25, -2**63, 0.0, -0.0, 1.5, 1e300, 5e-324, math.inf, -math.inf,
    "", "héllo", "nul\0inside", "\U0010ffff", b"", b"\x00\xff" * 100, [], [1, [2, [3]]],
    {}, {"a": 1, "b": {"c": [None]}}, {"z": 1, "a": 2},
    uuid.UUID(int=0), uuid.uuid4(),
])
def test_every_value_type_round_trips_exactly(v):
    w = loads(dumps(v))
    assert type(w) is type(v) and w == v
    if isinstance(v, float):
        assert math.copysign(1, w) == math.copysign(1, v)
    if isinstance(v, dict):
        assert list(w) == list(v)  # insertion order kept


def test_nan_is_sent_as_float64():
    assert dumps(math.nan).hex() == "fb7ff8000000000000"
    assert dumps(math.inf).hex() == "fb7ff0000000000000"
    assert dumps(1.0).hex() == "fb3ff0000000000000"
    assert math.isnan(loads(dumps(math.nan)))


def test_integers_use_the_shortest_head():
    assert dumps(23).hex() == "17"
    assert dumps(24).hex() == "1818"
    assert dumps(-25).hex() == "3818"
    assert dumps(2**64 - 1).hex() == "1bffffffffffffffff"
    assert dumps(-2**63).hex() == "3b7fffffffffffffff"


def test_dates_keep_sub_microsecond_precision_when_echoed():
    # 1e9 + 2^-22 s: below what datetime resolves, exact in float64.
    s = 1e9 + 2**-22
    raw = bytes.fromhex("c1fb") + __import__("struct").pack(">d", s)
    d = loads(raw)
    assert isinstance(d, seam.Date) and isinstance(d, dt.datetime)
    assert d.seconds == s
    assert dumps(d) == raw
    assert d.tzinfo is not None and d.utcoffset() == dt.timedelta(0)


def test_dates_with_microseconds_and_offsets():
    d = dt.datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    back = loads(dumps(d))
    assert back == d and back.microsecond == 123456
    assert loads(bytes.fromhex("c11a3b9aca00")) == dt.datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC)
    assert loads(bytes.fromhex("c1f93c00")).seconds == 1.0  # float16 accepted


def test_date_integers_are_taken_whole_and_made_float64():
    # Tag 1 on any integer CBOR can hold, -2^64 included, is a date.
    v = loads(bytes.fromhex("c13b8000000000000000"))
    assert isinstance(v, seam.Timestamp) and float(v) == -2.0**63
    assert c_decode("c13b8000000000000000") == ("ok", v)


def test_dates_beyond_datetime_range_decode_to_timestamp():
    v = loads(dumps(seam.Timestamp(1e300)))
    assert isinstance(v, seam.Timestamp) and float(v) == 1e300
    assert dumps(v) == dumps(seam.Timestamp(1e300))


def test_naive_datetime_is_refused():
    with pytest.raises(seam.EncodeError):
        dumps(dt.datetime(2026, 1, 1))


@pytest.mark.parametrize("v,code", [
    (2**64, E.ERANGE), (-2**63 - 1, E.ERANGE), ({1: 2}, E.EKEY), ({"a\0": 1}, E.EKEY),
    ("\ud800", E.EUTF8), ({1, 2}, E.EINVAL), (object(), E.EINVAL),
    (dt.date(2026, 1, 1), E.EINVAL),
])
def test_values_without_a_seam_form_are_refused(v, code):
    with pytest.raises(seam.EncodeError) as ei:
        dumps(v)
    assert ei.value.code == code


def test_encoder_refuses_nesting_deeper_than_64():
    v = 0
    for _ in range(64):
        v = [v]
    dumps(v)
    with pytest.raises(seam.EncodeError) as ei:
        dumps([v])
    assert ei.value.code == E.EDEPTH


def test_fd_without_a_frame_is_refused():
    with seam.Fd.dup(0) as fd, pytest.raises(seam.EncodeError) as ei:
        dumps(fd)
    assert ei.value.code == E.EFD


def test_fd_tag_names_one_descriptor_however_often():
    # All references to one passed descriptor are the same Fd: the receiver
    # holds one duplicate per descriptor passed.
    r, w = os.pipe()
    try:
        v = decode(bytes.fromhex("83da7365616d00da7365616d00da7365616d00"), [r])
        assert v[0] is v[1] is v[2] and isinstance(v[0], seam.Fd)
        assert v[0].fileno() != r
        os.write(w, b"x")
        assert os.read(v[2].fileno(), 1) == b"x"
        v[0].close()
    finally:
        os.close(r)
        os.close(w)


def test_encoder_writes_one_index_per_descriptor():
    with seam.Fd.dup(0) as a, seam.Fd(os.dup(a.fileno())) as b:
        data, fds = encode([a, a, b, a])
        assert fds == [a.fileno(), b.fileno()]
        assert data.hex() == "84" + "da7365616d00" * 2 + "da7365616d01" + "da7365616d00"


REFUSALS = [
    ("", "ETRUNCATED"), ("18", "ETRUNCATED"), ("62 61", "ETRUNCATED"), ("83 01", "ETRUNCATED"),
    ("9a 7fffffff 00", "ETRUNCATED"), ("1c", "EMALFORMED"), ("ff", "EMALFORMED"),
    ("01 02", "ETRAILING"), ("9f ff", "EINDEF"), ("5f ff", "EINDEF"), ("7f ff", "EINDEF"),
    ("bf ff", "EINDEF"), ("a1 01 02", "EKEY"), ("a1 62 6100 f6", "EKEY"),
    ("a2 61 61 01 61 61 02", "EDUPKEY"), ("62 c0 af", "EUTF8"), ("63 ed a0 80", "EUTF8"),
    ("c2 41 01", "ETAG"), ("c0 60", "ETAG"), ("d8 25 41 00", "ETAG"), ("d8 25 60", "ETAG"),
    ("c1 c1 01", "ETAG"), ("c1 fb 7ff8000000000000", "ETAG"), ("c1 f9 7c00", "ETAG"),
    ("c1 60", "ETAG"), ("da 7365616d 60", "ETAG"), ("f7", "ESIMPLE"), ("f0", "ESIMPLE"),
    ("f8 20", "ESIMPLE"), ("da 7365616d 00", "EFDINDEX"), ("3b 8000000000000000", "ERANGE"),
]


@pytest.mark.parametrize("hexin,name", REFUSALS)
def test_each_refusal_has_its_own_code(hexin, name):
    with pytest.raises(seam.DecodeError) as ei:
        loads(bytes.fromhex(hexin.replace(" ", "")))
    assert ei.value.name == name


def test_limits_depth_count_and_length():
    deep = bytes.fromhex("81" * 64 + "00")
    loads(deep)
    with pytest.raises(seam.DecodeError) as ei:
        loads(bytes.fromhex("81" * 65 + "00"))
    assert ei.value.name == "EDEPTH"
    assert loads(bytes.fromhex("81" * 65 + "00"), DecodeLimits(max_depth=65)) is not None
    with pytest.raises(seam.DecodeError) as ei:
        loads(bytes.fromhex("83010203"), DecodeLimits(max_items=3))
    assert ei.value.name == "ECOUNT"
    with pytest.raises(seam.DecodeError) as ei:
        loads(bytes.fromhex("4401020304"), DecodeLimits(max_string=3))
    assert ei.value.name == "ETOOLONG"


def test_item_limit_counts_values_and_containers_not_keys():
    lim = DecodeLimits(max_items=3)
    assert loads(dumps({"a": 1, "b": 2}), lim) == {"a": 1, "b": 2}  # map + 2 values
    assert loads(dumps([seam.Timestamp(1), 2]), lim) is not None  # a tag is one item
    with pytest.raises(seam.DecodeError) as ei:
        loads(dumps({"a": 1, "b": 2, "c": 3}), lim)
    assert ei.value.name == "ECOUNT"


def test_a_huge_announced_length_allocates_nothing():
    # 2^64-1 bytes announced, 0 present: refused before any allocation.
    with pytest.raises(seam.DecodeError) as ei:
        loads(bytes.fromhex("5bffffffffffffffff"), DecodeLimits(max_string=2**64))
    assert ei.value.name == "ETRUNCATED"


# ------------------------------------------------ agreement with the C codec


def c_decode(hexin: str) -> tuple[str, object]:
    r = run_seam("decode", hexin)
    if r.returncode == 0:
        return "ok", seam.from_json(r.stdout)
    name = r.stderr.strip().rsplit("(SEAM_", 1)[-1].rstrip(")")
    return "error", name


def py_decode(hexin: str):
    try:
        return "ok", loads(bytes.fromhex(hexin))
    except seam.DecodeError as e:
        return "error", e.name


@pytest.mark.parametrize("hexin,name", REFUSALS[1:])
def test_refusals_agree_with_the_c_decoder(hexin, name):
    h = hexin.replace(" ", "")
    assert c_decode(h) == ("error", name)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return seam.values.date_seconds(a) == seam.values.date_seconds(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


SAMPLE = {"n": [0, -1, 2**63, 2**64 - 1, -2**63], "f": [1.5, -0.0, 1e-300],
          "s": "h\u00e9\0", "b": b"\x00\x01", "d": dt.datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
          "u": uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), "x": [None, True, False, {}],
          "w": {"$data": 1}}


def test_encoding_is_byte_identical_to_the_c_encoder():
    text = seam.to_json(SAMPLE)
    r = run_seam("encode", text)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == dumps(SAMPLE).hex()


NESTED = [{"a": [1, [2, {"b": [3, 4, {}]}], []], "c": {"d": [None, [True, [False]]]}},
          [[1, 2], [3, [4, [5]]]], {"e": {"f": {"g": b"x"}}}]


@pytest.mark.parametrize("sample", [SAMPLE, NESTED], ids=["types", "nested"])
def test_mutated_inputs_decode_the_same_in_python_and_c(sample):
    # Single-byte mutations of a valid encoding: both decoders must accept
    # the same inputs with the same value, or refuse them with the same code
    # (the order of decode errors in protocol.md decides which).
    rng = random.Random(18)
    base = dumps(sample)
    cases = set()
    while len(cases) < 150:
        b = bytearray(base)
        for _ in range(rng.choice((1, 1, 2))):
            i = rng.randrange(len(b))
            b[i] = rng.randrange(256)
        if rng.random() < 0.2:
            b = b[: rng.randrange(len(b))]
        cases.add(bytes(b).hex())
    mismatches = []
    for h in sorted(cases):
        c, p = c_decode(h), py_decode(h)
        if c[0] != p[0] or (c[0] == "error" and c[1] != p[1]) or (c[0] == "ok" and not _same(c[1], p[1])):
            mismatches.append((h, c, p))
    assert not mismatches, "\n".join(map(repr, mismatches[:10]))
