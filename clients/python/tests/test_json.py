# SPDX-License-Identifier: MIT
"""The JSON forms of docs/json.md, read and written the way the C tool
reads and writes them."""

from __future__ import annotations

import datetime as dt
import math
import uuid

import pytest

import seam
from seam import errors as E

from conftest import run_seam

UTC = dt.timezone.utc


def test_special_forms_round_trip():
    v = {"b": b"hi", "d": dt.datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
         "u": uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), "n": 2**64 - 1,
         "x": -math.inf, "w": {"$data": 1}, "f": 1.0, "i": -2**63}
    text = seam.to_json(v)
    assert '"$dict"' in text and '{"$uint64":"18446744073709551615"}' in text
    assert seam.from_json(text) == v
    assert seam.from_json(seam.to_json(v, pretty=True)) == v
    assert seam.to_json(float("nan")) == '{"$double":"nan"}'


def test_the_c_tool_reads_what_python_writes():
    v = [b"\x00\xff", dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 2**63, {"$date": "x"}]
    r = run_seam("encode", seam.to_json(v))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == seam.dumps(v).hex()


@pytest.mark.parametrize("text", [
    '{"$data": "a"}', '{"$data": 1}', '{"$uuid": "6ba7b8109dad11d180b400c04fd430c8"}',
    '{"$uint64": "18446744073709551616"}', '{"$uint64": "-1"}', '{"$double": "NaN"}',
    '{"$date": "1"}', '{"a": 1, "a": 2}', '9223372036854775808', '"\\ud800"', '[1,', 'NaN',
])
def test_refusals_agree_with_the_c_tool(text):
    with pytest.raises(seam.SeamError) as ei:
        seam.from_json(text)
    assert ei.value.code == E.EJSON
    r = run_seam("encode", text)
    assert r.returncode != 0 and "EJSON" in r.stderr, (text, r.stdout, r.stderr)


def test_fd_in_text_is_efd():
    with pytest.raises(seam.SeamError) as ei:
        seam.from_json('{"$fd": 3}')
    assert ei.value.code == E.EFD
    r = run_seam("encode", '{"$fd": 3}')
    assert r.returncode != 0 and "EFD" in r.stderr


def test_a_dict_with_a_dollar_key_among_others_is_plain():
    assert seam.from_json('{"$data": 1, "x": 2}') == {"$data": 1, "x": 2}
    assert seam.to_json({"$data": 1, "x": 2}) == '{"$data":1,"x":2}'
