# SPDX-License-Identifier: MIT
"""The Python client against the C library's `seam listen` and the C
examples: every value type, descriptors, raw frames, errors, timeouts,
refusals and broadcasts, over real sockets to real processes."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import re
import socket
import time
import uuid

import pytest

import seam
import seam.aio
from seam import errors as E

from conftest import EXAMPLES, run_seam

UTC = dt.timezone.utc

VALUES = [
    None, True, False, 0, 1, -1, 23, 24, 2**31, 2**63 - 1, 2**63, 2**64 - 1, -2**63,
    0.0, -0.0, 1.5, -1e-300, 1e300, math.inf, -math.inf,
    "", "text", "h\u00e9llo \U0001f600", "nul\0in", b"", b"\x00\x01\xff" * 50,
    [], [1, "a", [None, [True]]], {}, {"a": 1, "b": [1, 2], "c": {"d": None}},
    {"$data": 1}, {"$dict": {"x": 1}},
    dt.datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
    dt.datetime(1969, 7, 20, 20, 17, 40, 123456, tzinfo=UTC),
    uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
]


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (a == b and math.copysign(1, a) == math.copysign(1, b)) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dt.datetime):
        return isinstance(b, dt.datetime) and a == b
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def test_every_value_type_echoes_through_the_c_server(c_listen):
    c_listen("t.echo", "--echo")
    with seam.connect("t.echo") as conn:
        for v in VALUES:
            assert same(conn.call(v), v), v
        assert same(conn.call(VALUES), VALUES)
        assert math.isnan(conn.call(math.nan))


def test_a_refusal_by_a_c_server_names_its_rule(c_listen):
    # A uid rule that admits somebody else: we are refused, and told why.
    c_listen("t.rule", "--echo", "--allow-uid", str(os.getuid() + 4242))
    with pytest.raises(seam.Refused) as ei:
        seam.connect("t.rule").call(1)
    assert ei.value.goodbye_code == E.EACCES
    assert ei.value.rule == "uid"
    assert "uid" in (ei.value.reason or "")


def test_the_c_server_sees_what_python_sends(c_listen):
    # seam listen prints each message as JSON: the C library's reading of
    # our bytes, compared with the value we sent.
    srv = c_listen("t.print")
    with seam.connect("t.print") as conn:
        for v in VALUES:
            conn.send({"v": v})
            line = srv.expect(lambda l: l.startswith("message "))
            assert re.match(r"message pid=\d+ ", line)
            got = seam.from_json(line.split(" ", 2)[2])
            assert same(got["v"], v), (v, line)
        conn.send_raw(42, b"abc")
        assert srv.expect(lambda l: "raw" in l).endswith("raw id=42 bytes=3")


def test_dates_below_the_microsecond_echo_bit_exactly(c_listen):
    c_listen("t.echo", "--echo")
    exact = seam.Timestamp(1767225600.0 + 2**-21)
    with seam.connect("t.echo") as conn:
        back = conn.call(exact)
        assert isinstance(back, seam.Date) and back.seconds == float(exact)
        assert conn.call(back).seconds == float(exact)


def test_descriptors_travel_to_the_c_server_and_back(c_listen):
    c_listen("t.echo", "--echo")
    r, w = os.pipe()
    a, b = socket.socketpair()
    try:
        with seam.connect("t.echo") as conn:
            reply = conn.call({"pipe": seam.Fd.dup(r), "sock": seam.Fd.dup(a), "again": [seam.Fd.dup(r)]})
            os.write(w, b"through")
            assert os.read(reply["pipe"].fileno(), 7) == b"through"
            os.write(w, b"2")
            assert os.read(reply["again"][0].fileno(), 1) == b"2"
            b.send(b"sock")
            assert os.read(reply["sock"].fileno(), 4) == b"sock"
            for fd in (reply["pipe"], reply["sock"], reply["again"][0]):
                assert fd.fileno() not in (r, w, a.fileno())
                fd.close()
            # A RAW frame carries descriptors beside its bytes (the tool's
            # echo answers with the bytes only).
            raw = conn.call_raw(9, b"x", fds=[seam.Fd.dup(w)])
            assert isinstance(raw, seam.Raw) and raw.msgid == 9 and raw.data == b"x"
            assert conn.ping() >= 0
    finally:
        for n in (r, w):
            os.close(n)
        a.close()
        b.close()


def test_sixty_four_descriptors_in_one_frame(c_listen):
    c_listen("t.echo", "--echo")
    fds = [seam.Fd.dup(0) for _ in range(64)]
    with seam.connect("t.echo") as conn:
        back = conn.call(fds)
        assert len(back) == 64 and all(isinstance(f, seam.Fd) for f in back)
        for f in back + fds:
            f.close()
        with pytest.raises(seam.SeamError) as ei:
            conn.call([seam.Fd.dup(0) for _ in range(65)])
        assert ei.value.code == E.EMSGSIZE
        assert conn.call(1) == 1  # the connection is still fine


def test_raw_request_and_reply(c_listen):
    c_listen("t.echo", "--echo")
    with seam.connect("t.echo") as conn:
        r = conn.call_raw(0xFFFFFFFF, bytes(range(256)) * 4)
        assert r == seam.Raw(0xFFFFFFFF, bytes(range(256)) * 4)


def test_unhandled_request_is_a_remote_error(c_listen):
    c_listen("t.plain")
    with seam.connect("t.plain") as conn:
        with pytest.raises(seam.RemoteError) as ei:
            conn.call({"x": 1})
        assert ei.value.code == E.ENOTSUP and ei.value.name == "ENOTSUP"
        assert isinstance(ei.value.message, str)
    # ... and the connection survives the error
    with seam.connect("t.plain") as conn:
        with pytest.raises(seam.RemoteError):
            conn.call(1)
        assert conn.ping() >= 0


def test_call_timeout_then_late_nothing_and_connection_still_usable(c_listen):
    c_listen("t.silent", "--silent")
    with seam.connect("t.silent") as conn:
        with pytest.raises(seam.CallTimeout) as ei:
            conn.call("anyone?", timeout=0.2)
        assert ei.value.code == E.ETIMEDOUT
        assert conn.ping(timeout=5) >= 0


def test_a_streaming_call_yields_each_intermediate_reply_then_the_final(c_listen):
    c_listen("t.stream", "--stream", "3")
    with seam.connect("t.stream") as conn:
        assert list(conn.call_stream({"a": 1})) == [{"seq": 0}, {"seq": 1}, {"seq": 2}, {"a": 1}]
        # the connection goes on: a plain call gets the final reply alone
        assert conn.call({"b": 2}) == {"b": 2}


def test_closing_a_stream_early_cancels_it_and_the_connection_goes_on(c_listen):
    c_listen("t.stream", "--stream", "50")
    with seam.connect("t.stream") as conn:
        it = conn.call_stream({"a": 1})
        assert next(it) == {"seq": 0}
        it.close()
        assert conn.call({"b": 2}) == {"b": 2}


def test_pings(c_listen):
    c_listen("t.echo", "--echo")
    with seam.connect("t.echo") as conn:
        for _ in range(20):
            assert 0 <= conn.ping() < 5


def test_peer_hello_is_read(c_listen):
    c_listen("t.echo", "--echo")
    with seam.connect("t.echo") as conn:
        h = conn.peer_hello
        assert h.version == 1 and h.max_frame >= 4096 and 0 <= h.max_fds <= 64
        assert conn.credentials.pid > 0


def test_payload_over_the_peers_max_frame_fails_locally(c_listen):
    c_listen("t.echo", "--echo")
    with seam.connect("t.echo") as conn:
        limit = conn.peer_hello.max_frame
        with pytest.raises(seam.SeamError) as ei:
            conn.call(b"x" * limit)
        assert ei.value.code == E.EMSGSIZE
        assert conn.call(b"x" * 100_000) == b"x" * 100_000


def test_reply_over_our_max_frame_becomes_an_error_answer(c_listen):
    c_listen("t.echo", "--echo")
    with seam.connect("t.echo", max_frame=4096) as conn:
        with pytest.raises(seam.RemoteError) as ei:
            conn.call("y" * 5000)
        assert ei.value.code == E.EMSGSIZE


def test_large_values_both_ways(c_listen):
    c_listen("t.echo", "--echo")
    big = {"blob": os.urandom(4 * 1024 * 1024), "list": list(range(20000))}
    with seam.connect("t.echo") as conn:
        assert conn.call(big, timeout=30) == big


def test_item_limit_agrees_with_the_c_decoder(c_listen):
    # 1 + 1,048,575 values is the most a value may hold; map keys do not count.
    c_listen("t.quiet", "--quiet")
    with seam.connect("t.quiet") as conn:
        conn.send({f"{i:07x}": 0 for i in range(1_048_575)})
        conn.send([0] * 1_048_575)
        assert conn.ping(timeout=30) >= 0
    with seam.connect("t.quiet") as conn:
        conn.send([0] * 1_048_576)
        with pytest.raises(seam.ConnectionClosed):
            conn.ping(timeout=30)


def test_server_gone_completes_calls_as_connection_reset(c_listen):
    srv = c_listen("t.silent", "--silent")
    conn = seam.connect("t.silent")
    srv.p.terminate()
    # The server may still answer ECANCELED while it shuts down; either way
    # the call completes once, and the connection is then gone.
    with pytest.raises((seam.ConnectionClosed, seam.RemoteError)) as ei:
        conn.call(1, timeout=10)
    assert ei.value.code in (E.ECONNRESET, E.ECANCELED)
    end = time.monotonic() + 10
    while not conn.closed and time.monotonic() < end:
        conn.process(0.05)
    with pytest.raises(seam.ConnectionClosed) as ei:
        conn.call(1, timeout=10)
    assert ei.value.code == E.ECONNRESET


def test_no_server_is_not_found(runtime_dir):
    with pytest.raises(seam.NotFound) as ei:
        seam.connect("t.nobody")
    assert ei.value.code == E.ENOTFOUND


def test_broadcasts_from_the_c_server_arrive(c_listen):
    c_listen("t.tick", "--announce", "50")
    with seam.connect("t.tick") as conn:
        ticks = [conn.receive(timeout=10) for _ in range(3)]
    assert all(isinstance(t, dict) and isinstance(t["tick"], int) for t in ticks)
    assert ticks[0]["tick"] < ticks[1]["tick"] < ticks[2]["tick"]


def test_unix_path_names(spawn, tmp_path):
    path = tmp_path / "direct.sock"
    p = spawn([str(__import__("conftest").SEAM), "listen", f"unix:{path}", "--echo"])
    __import__("conftest").wait_for_socket(path, p.p)
    with seam.connect(f"unix:{path}") as conn:
        assert conn.call([1, 2]) == [1, 2]


def test_asyncio_client_many_calls_in_flight(c_listen):
    c_listen("t.echo", "--echo")

    async def main():
        conn = await seam.aio.connect("t.echo")
        results = await asyncio.gather(*(conn.call({"i": i}) for i in range(200)))
        assert [r["i"] for r in results] == list(range(200))
        assert await conn.ping() >= 0
        conn.send({"one": "way"})
        await conn.drain()
        raw = await conn.call_raw(5, b"r")
        assert raw == seam.Raw(5, b"r")
        await conn.close()

    asyncio.run(main())


def test_asyncio_timeout_and_task_cancel_each_complete_once(c_listen):
    c_listen("t.silent", "--silent")

    async def main():
        conn = await seam.aio.connect("t.silent")
        with pytest.raises(seam.CallTimeout):
            await conn.call(1, timeout=0.1)
        task = asyncio.ensure_future(conn.call(2, timeout=None))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not conn._calls  # nothing left waiting
        assert await conn.ping() >= 0
        await conn.close()

    asyncio.run(main())


def test_asyncio_calls_fail_when_the_server_goes(c_listen):
    srv = c_listen("t.silent", "--silent")

    async def main():
        conn = await seam.aio.connect("t.silent")
        calls = [asyncio.ensure_future(conn.call(i, timeout=10)) for i in range(5)]
        await asyncio.sleep(0.05)
        srv.p.terminate()
        # Each call completes exactly once: the C server answers what it
        # kept with ECANCELED as it shuts down, or the connection ends.
        for c in calls:
            with pytest.raises((seam.ConnectionClosed, seam.RemoteError)) as ei:
                await c
            assert ei.value.code in (E.ECONNRESET, E.ECANCELED)
        assert not conn._calls

    asyncio.run(main())


def test_asyncio_receives_broadcasts(c_listen):
    c_listen("t.tick", "--announce", "30")

    async def main():
        conn = await seam.aio.connect("t.tick")
        a = await asyncio.wait_for(conn.receive(), 10)
        b = await asyncio.wait_for(conn.receive(), 10)
        assert b["tick"] > a["tick"]
        await conn.close()

    asyncio.run(main())


# ------------------------------------------------------------ the examples


def _example(name):
    p = EXAMPLES / name
    if not p.is_file():
        pytest.skip(f"{name} not built")
    return p


def test_poll_echo_example_serves_python(spawn):
    spawn([_example("poll_echo"), "serve", "ex.poll"], wait_name="ex.poll", stdin=__import__("subprocess").PIPE)
    with seam.connect("ex.poll") as conn:
        for v in VALUES:
            assert same(conn.call(v), v)


def test_uv_server_example_serves_python(spawn):
    port = 20000 + os.getpid() % 20000
    spawn([_example("uv_server"), port, "ex.uv"], wait_name="ex.uv")
    with seam.connect("ex.uv") as conn:
        assert conn.call({"a": [1, 2.5, "x"]}) == {"a": [1, 2.5, "x"]}


@pytest.mark.parametrize("app", ["dispatch_service", "cf_app"])
def test_dispatch_and_cf_examples_serve_python(spawn, app):
    p = spawn([_example(app), f"ex.{app}", "--requests", "2"], wait_name=f"ex.{app}")
    with seam.connect(f"ex.{app}") as conn:
        assert conn.call({"text": "one"}) == {"text": "one"}
        assert conn.call([b"two"]) == [b"two"]
    assert p.p.wait(10) == 0
