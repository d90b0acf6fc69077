# SPDX-License-Identifier: MIT
"""The C tool and examples against Python servers (blocking and asyncio):
calls across every value type, remote errors, timeouts, refusals by the
accept rule and by the peer limit, one-way messages, pings, floods and
broadcasts."""

from __future__ import annotations

import asyncio
import json
import re
import os
import subprocess
import threading
import time

import pytest

import seam
import seam.aio
from seam import errors as E

from conftest import EXAMPLES, SEAM, run_seam, run_seam_async
from test_c_server import VALUES, same

JSON_VALUES = [seam.to_json(v) for v in VALUES]


def echo(req):
    return req.value


def test_c_call_every_value_type_against_a_blocking_python_server(serve_thread):
    seen = []

    def handler(req):
        seen.append(req.value)
        return {"got": req.value}

    serve_thread(seam.Server("t.py", handler))
    for text, v in zip(JSON_VALUES, VALUES):
        r = run_seam("call", "t.py", text)
        assert r.returncode == 0, (text, r.stderr)
        assert same(seam.from_json(r.stdout)["got"], v), (text, r.stdout)
    assert len(seen) == len(VALUES) and all(same(a, b) for a, b in zip(seen, VALUES))


def test_c_call_against_an_asyncio_python_server():
    async def handler(req):
        await asyncio.sleep(0)
        return [req.value, req.peer.credentials.pid]

    async def main():
        server = await seam.aio.serve("t.aio", handler)
        for text, v in zip(JSON_VALUES, VALUES):
            proc = await asyncio.create_subprocess_exec(str(SEAM), "call", "t.aio", text,
                                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await proc.communicate()
            assert proc.returncode == 0, err
            got, pid = seam.from_json(out.decode())
            assert same(got, v) and pid == proc.pid
        await server.close()

    asyncio.run(main())


def remote_error_body(stderr):
    """The error map from `seam call`'s "remote error NAME: {...}" line."""
    m = re.search(r"remote error [A-Z0-9_]*: (.*)", stderr)
    assert m, stderr
    return json.loads(m.group(1))


def test_remote_errors_reach_the_c_caller_with_code_message_and_data(serve_thread):
    def handler(req):
        if req.value == "custom":
            raise seam.RemoteError(-3100, "custom failure", {"detail": [1, 2]})
        if req.value == "seam":
            raise seam.SeamError(E.EINVAL, "bad argument")
        raise KeyError("boom")

    serve_thread(seam.Server("t.err", handler))
    r = run_seam("call", "t.err", '"custom"')
    assert r.returncode == 6  # remote error (docs/cli.md)
    body = remote_error_body(r.stderr)
    assert body == {"code": -3100, "message": "custom failure", "data": {"detail": [1, 2]}}
    r = run_seam("call", "t.err", '"seam"')
    assert remote_error_body(r.stderr)["code"] == E.EINVAL
    r = run_seam("call", "t.err", '"other"')
    body = remote_error_body(r.stderr)
    assert body["code"] == -5 and "boom" in body["message"]


def test_no_handler_answers_enotsup(serve_thread):
    serve_thread(seam.Server("t.none"))
    r = run_seam("call", "t.none", "1")
    assert r.returncode == 6 and remote_error_body(r.stderr)["code"] == E.ENOTSUP


def test_c_caller_times_out_and_cancels_a_kept_request(serve_thread):
    kept = []

    def handler(req):
        kept.append(req)
        return seam.NO_REPLY

    serve_thread(seam.Server("t.keep", handler))
    r = run_seam("call", "t.keep", '"wait"', "--timeout", "200")
    assert r.returncode != 0 and "SEAM_ETIMEDOUT" in r.stderr
    end = time.monotonic() + 5
    while not (kept and kept[0].cancelled) and time.monotonic() < end:
        time.sleep(0.02)
    assert kept and kept[0].cancelled
    assert kept[0].reply("too late") is False  # a cancelled request is not answered


def test_accept_rule_refuses_by_credentials(serve_thread):
    asked = []

    def accept(cred):
        asked.append(cred)
        return cred.uid != os.getuid()  # refuse ourselves

    serve_thread(seam.Server("t.acl", echo, accept=accept))
    r = run_seam("call", "t.acl", "1")
    assert r.returncode != 0
    assert asked and asked[0].uid == os.getuid() and asked[0].pid > 0
    # A Python client hears why: hello, then goodbye with EACCES.
    with pytest.raises(seam.Refused) as ei:
        seam.connect("t.acl").call(1)
    assert ei.value.goodbye_code == E.EACCES


def test_too_many_peers_is_refused_with_eagain(serve_thread):
    serve_thread(seam.Server("t.full", echo, max_peers=1))
    first = seam.connect("t.full")
    assert first.call(1) == 1
    with pytest.raises(seam.Refused) as ei:
        seam.connect("t.full").call(2)
    assert ei.value.goodbye_code == E.EAGAIN
    r = run_seam("call", "t.full", "3")
    assert r.returncode != 0
    first.close()
    time.sleep(0.2)
    assert run_seam("call", "t.full", "4").returncode == 0


def test_c_send_ping_and_flood_against_python(serve_thread):
    got = []
    raws = []

    def on_message(peer, value):
        (raws if isinstance(value, seam.Raw) else got).append(value)

    serve_thread(seam.Server("t.msg", echo, on_message=on_message))
    r = run_seam("send", "t.msg", '{"one": "way", "d": {"$date": 1767225600.25}}')
    assert r.returncode == 0, r.stderr
    assert got and got[0]["one"] == "way" and got[0]["d"].seconds == 1767225600.25
    r = run_seam("ping", "t.msg", "-c", "3")
    assert r.returncode == 0, r.stderr
    r = run_seam("flood", "t.msg", "-n", "20000", "-s", "64", timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(raws) == 20000 and all(len(x.data) + 4 == 64 or len(x.data) == 64 for x in raws[:5])


def test_c_watch_receives_python_broadcasts():
    async def main():
        server = await seam.aio.serve("t.bc")
        proc = await asyncio.create_subprocess_exec(str(SEAM), "watch", "t.bc", "-n", "3",
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        reached = 0
        for i in range(200):
            reached = server.broadcast({"tick": i})
            if proc.returncode is not None:
                break
            await asyncio.sleep(0.02)
            if reached and i > 3:
                try:
                    await asyncio.wait_for(proc.wait(), 0.01)
                except asyncio.TimeoutError:
                    pass
        out, err = await asyncio.wait_for(proc.communicate(), 10)
        assert proc.returncode == 0, err
        assert out.decode().count("tick") == 3
        await server.close()

    asyncio.run(main())


def test_blocking_server_broadcast_counts_peers(serve_thread):
    server = serve_thread(seam.Server("t.bb", echo))
    conns = [seam.connect("t.bb") for _ in range(3)]
    for c in conns:
        c.ping()
    end = time.monotonic() + 5
    while len(server.peers) < 3 and time.monotonic() < end:
        time.sleep(0.01)
    assert server.broadcast({"all": True}) == 3
    for c in conns:
        assert c.receive(timeout=5) == {"all": True}
        c.close()


def test_requests_from_the_server_to_a_python_client():
    # Either side may call once the handshake is done.
    async def main():
        async def on_connect(peer):
            peer.answer = await peer.call({"question": 6})

        server = await seam.aio.serve("t.back", on_connect=on_connect)
        conn = await seam.aio.connect("t.back", handler=lambda req: req.value["question"] * 7)
        for _ in range(100):
            if server.peers and hasattr(server.peers[0], "answer"):
                break
            await asyncio.sleep(0.01)
        assert server.peers[0].answer == 42
        await conn.close()
        await server.close()

    asyncio.run(main())


def test_python_client_and_server_pass_descriptors_in_raw_frames():
    async def main():
        def handler(req):
            raw = req.value
            os.write(raw.fds[0].fileno(), b"from server")
            return seam.Raw(raw.msgid + 1, raw.data[::-1], raw.fds)

        server = await seam.aio.serve("t.rawfd", handler)
        conn = await seam.aio.connect("t.rawfd")
        r, w = os.pipe()
        back = await conn.call_raw(1, b"abc", fds=[seam.Fd(w)])
        assert back.msgid == 2 and back.data == b"cba" and len(back.fds) == 1
        assert os.read(r, 11) == b"from server"
        os.write(back.fds[0].fileno(), b"!")
        assert os.read(r, 1) == b"!"
        os.close(r)
        await conn.close()
        await server.close()

    asyncio.run(main())


# ------------------------------------------------------------ the examples


def _example(name):
    p = EXAMPLES / name
    if not p.is_file():
        pytest.skip(f"{name} not built")
    return p


def test_poll_echo_client_example_calls_python(serve_thread):
    serve_thread(seam.Server("t.ex", echo))
    r = subprocess.run([str(_example("poll_echo")), "call", "t.ex", "hi", "there"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert 'reply: {"text":"hi","n":0}' in r.stdout and 'reply: {"text":"there","n":1}' in r.stdout


def test_ev_client_example_calls_python(serve_thread):
    serve_thread(seam.Server("t.ev", echo))
    r = subprocess.run([str(_example("ev_client")), "t.ev", "5"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "5 of 5 calls answered" in r.stdout
