# SPDX-License-Identifier: MIT
"""Publish and subscribe from Python (docs/protocol.md, "Publish and
subscribe"): the blocking and asyncio clients against the C tool's
`seam listen --publish`, a Python server refusing the C tool's subscribe,
and a scripted server for the rules a real one never breaks."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time

import pytest

import seam
import seam.aio
from seam import errors as E
from seam import frame as F
from seam.cbor import dumps

from conftest import SEAM, run_seam


@pytest.fixture
def publisher(spawn):
    """publisher(name, TOPIC=JSON, ...): `seam listen` retaining those
    topics; publish(proc, topic, json) changes one through its stdin."""

    def start(name, *topics):
        args = ["listen", name, "--publish-stdin"]
        for t in topics:
            args += ["--publish", t]
        p = spawn([SEAM, *args], wait_name=name, stdin=subprocess.PIPE)
        return p

    return start


def publish(proc, topic, text):
    proc.p.stdin.write(f"{topic} {text}\n")
    proc.p.stdin.flush()
    proc.expect(lambda line: f"published {topic}" in line)


def test_subscriber_gets_the_retained_value_then_each_change(publisher):
    p = publisher("t.py.topics", "battery=80")
    with seam.connect("t.py.topics") as conn:
        sub = conn.subscribe("battery")
        assert sub.retained == 1 and sub.active
        assert sub.get(5) == seam.Update("battery", 1, 0, 80)
        publish(p, "battery", "81")
        publish(p, "battery", '{"level": 79}')
        assert sub.get(5) == seam.Update("battery", 2, 0, 81)
        assert sub.get(5) == seam.Update("battery", 3, 0, {"level": 79})


def test_prefix_pattern_gets_every_topic_under_it_and_no_other(publisher):
    p = publisher("t.py.prefix", "net.eth0=1", "net.wlan0=2", "other=3")
    with seam.connect("t.py.prefix") as conn:
        sub = conn.subscribe("net.*")
        assert sub.retained == 2
        got = [sub.get(5), sub.get(5)]
        assert [(u.topic, u.value) for u in got] == [("net.eth0", 1), ("net.wlan0", 2)]
        publish(p, "other", "4")
        publish(p, "net.eth0", "5")
        assert sub.get(5) == seam.Update("net.eth0", 2, 0, 5)
        conn.ping()  # everything the server sent before its pong was read
        assert sub.get(0) is None


def test_a_pattern_matching_nothing_yet_gets_the_first_value_as_a_change(publisher):
    p = publisher("t.py.later")
    with seam.connect("t.py.later") as conn:
        sub = conn.subscribe("later")
        assert sub.retained == 0 and sub.get(0) is None
        publish(p, "later", '"now"')
        assert sub.get(5) == seam.Update("later", 1, 0, "now")


def test_unsubscribed_gets_nothing_more_and_the_connection_goes_on(publisher):
    p = publisher("t.py.unsub", "a=1")
    with seam.connect("t.py.unsub") as conn:
        with conn.subscribe("a") as sub:
            assert sub.get(5).value == 1
        assert not sub.active
        publish(p, "a", "2")
        conn.ping()
        assert sub.get(0) is None
        other = conn.subscribe("a")  # a new subscription starts at the latest value
        assert other.get(5) == seam.Update("a", 2, 0, 2)


def test_on_update_takes_each_update_instead_of_the_queue(publisher):
    p = publisher("t.py.cb", "x=1")
    seen = []
    with seam.connect("t.py.cb") as conn:
        sub = conn.subscribe("x", on_update=seen.append)
        assert [u.value for u in seen] == [1]
        publish(p, "x", "2")
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            conn.process(0.1)
        assert [u.seq for u in seen] == [1, 2] and sub.get(0) is None


@pytest.mark.parametrize("pattern,code", [
    ("", E.EINVAL), ("a*b", E.EINVAL), ("**", E.EINVAL), ("nul\0", E.EINVAL),
    ("\udcff", E.EINVAL), ("x" * 4097, E.ETOOLONG), (7, E.EINVAL),
    ("a*" + "b" * 4095, E.ETOOLONG),  # the length first, then the '*', as the C client checks
])
def test_bad_patterns_are_refused_locally(publisher, pattern, code):
    publisher("t.py.bad")
    with seam.connect("t.py.bad") as conn:
        with pytest.raises(seam.SeamError) as ei:
            conn.subscribe(pattern)
        assert ei.value.code == code
        conn.ping()  # still usable


def test_the_servers_refusals_reach_the_subscriber(publisher):
    publisher("t.py.limits")
    with seam.connect("t.py.limits") as conn:
        with pytest.raises(seam.RemoteError) as ei:
            conn.subscribe("y" * 300)  # over the C server's max_topic_len, 256
        assert ei.value.code == E.ETOOLONG
        subs = [conn.subscribe(f"t{i}") for i in range(64)]
        with pytest.raises(seam.RemoteError) as ei:
            conn.subscribe("one.too.many")
        assert ei.value.code == E.ENOBUFS
        subs[0].close()
        assert conn.subscribe("one.more").retained == 0  # room again


def test_subscription_ends_with_the_connection(publisher):
    p = publisher("t.py.end", "z=1")
    conn = seam.connect("t.py.end")
    sub = conn.subscribe("z")
    assert sub.get(5).value == 1
    p.stop()
    with pytest.raises(seam.ConnectionClosed):
        sub.get(5)
    with pytest.raises(seam.ConnectionClosed):
        list(sub)
    conn.close()


def test_asyncio_subscribe_get_and_iterate(publisher):
    p = publisher("t.py.aio", "k=1")

    async def main():
        conn = await seam.aio.connect("t.py.aio")
        sub = await conn.subscribe("k")
        assert sub.retained == 1
        assert await asyncio.wait_for(sub.get(), 5) == seam.Update("k", 1, 0, 1)
        await asyncio.get_running_loop().run_in_executor(None, publish, p, "k", "2")
        seqs = []
        async for u in sub:
            seqs.append(u.seq)
            break
        assert seqs == [2]
        with pytest.raises(seam.RemoteError):
            await conn.subscribe("q" * 300)
        sub.close()
        with pytest.raises(seam.SeamError):
            await sub.get()
        await conn.close()

    asyncio.run(main())


def test_python_server_refuses_a_subscribe_with_enotsup_and_serves_on(serve_thread):
    serve_thread(seam.Server("t.py.nopub", lambda req: req.value))
    r = run_seam("subscribe", "t.py.nopub", "anything")
    assert r.returncode != 0 and "ENOTSUP" in r.stderr + r.stdout
    with seam.connect("t.py.nopub") as conn:
        assert conn.call("still here") == "still here"


@pytest.mark.parametrize("payload", [dumps({"topic": "t"}), b"\xff", b"\x01", dumps({"topic": 1})],
                         ids=["sound", "not cbor", "not a map", "no text topic"])
def test_python_server_answers_any_subscribe_enotsup_before_reading_it(serve_thread, payload):
    # docs/protocol.md, "subscribe": a receiver that serves no
    # subscriptions answers ENOTSUP first; the payload is not looked at.
    serve_thread(seam.Server("t.py.nopub2", lambda req: req.value))
    from seam.names import socket_path

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(socket_path("t.py.nopub2"))
    h = dumps({"seam": 1, "max_frame": 4096, "max_fds": 0})
    s.sendall(F.pack(F.HELLO, 0, 0, 0, len(h)) + h
              + F.pack(F.SUBSCRIBE, 0, 0, 5, len(payload)) + payload
              + F.pack(F.REQUEST, 0, 0, 6, 1) + b"\x07" + F.pack(F.GOODBYE, 0, 0, 0, 0))
    s.settimeout(5)
    buf = b""
    while (b := s.recv(65536)):
        buf += b
    s.close()
    frames = []
    while len(buf) >= 16:
        ln, k, _, _, i = F.HEADER.unpack(buf[:16])
        frames.append((k, i, buf[16:16 + ln]))
        buf = buf[16 + ln:]
    errs = [seam.loads(p)["code"] for k, i, p in frames if (k, i) == (F.ERROR, 5)]
    assert errs == [E.ENOTSUP]
    assert (F.REPLY, 6, b"\x07") in frames
    assert not any(k == F.GOODBYE and p for k, _, p in frames)


def test_updates_for_an_unknown_id_are_dropped_and_a_bad_one_closes(tmp_path):
    """A scripted server: an update for an id we never subscribed is
    dropped unread; then the retained update and the answer of a real
    subscribe arrive; then an update without "missed" closes with EPROTO."""
    path = str(tmp_path / "fake.sock")
    got = {}

    def frame(kind, payload=b"", ident=0):
        return F.pack(kind, 0, 0, ident, len(payload)) + payload

    def script(c):
        p = dumps({"seam": 1, "max_frame": 1 << 24, "max_fds": 64})
        c.sendall(F.pack(F.HELLO, 0, 0, 0, len(p)) + p)
        buf = b""
        while len(buf) < 16 + len(p) + 16:
            buf += c.recv(65536)
        # the client's hello, then its subscribe: find the subscribe's id
        off = 0
        while off + 16 <= len(buf):
            ln, k, _, _, i = F.HEADER.unpack(buf[off:off + 16])
            if k == F.SUBSCRIBE:
                got["id"] = i
                got["payload"] = seam.loads(buf[off + 16:off + 16 + ln])
            off += 16 + ln
        sid = got["id"]
        upd = {"topic": "t", "seq": 4, "missed": 3, "value": "v"}
        c.sendall(frame(F.UPDATE, dumps(upd), sid + 100) + frame(F.UPDATE, dumps(upd), sid)
                  + frame(F.REPLY, dumps({"retained": 1}), sid))
        time.sleep(0.3)
        c.sendall(frame(F.UPDATE, dumps({"topic": "t", "seq": 5, "value": 1}), sid))
        c.settimeout(5)
        rest = b""
        try:
            while (b := c.recv(65536)):
                rest += b
        except OSError:
            pass
        got["rest"] = rest

    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(path)
    lst.listen(1)

    def serve():
        c, _ = lst.accept()
        try:
            script(c)
        finally:
            c.close()
            lst.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    conn = seam.connect(f"unix:{path}")
    sub = conn.subscribe("t")
    assert got["payload"] == {"topic": "t"}
    assert sub.retained == 1
    assert sub.get(5) == seam.Update("t", 4, 3, "v")
    with pytest.raises(seam.ConnectionClosed) as ei:
        sub.get(5)
    assert ei.value.violation.code == E.EPROTO
    t.join(5)
    # the client said why: a goodbye with EPROTO
    rest, codes = got["rest"], []
    while len(rest) >= 16:
        ln, k, _, _, _ = F.HEADER.unpack(rest[:16])
        if k == F.GOODBYE:
            codes.append(seam.loads(rest[16:16 + ln]).get("code"))
        rest = rest[16 + ln:]
    assert codes == [E.EPROTO]
