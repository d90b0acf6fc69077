# SPDX-License-Identifier: MIT
"""The protocol rules, checked with hand-made frames on real sockets: a
Python server facing a misbehaving client, and a Python client facing a
misbehaving server. Every violation closes the connection with the right
code; answers that race with timeouts are ignored; every call completes
exactly once."""

from __future__ import annotations

import array
import asyncio
import os
import socket
import struct
import threading
import time

import pytest

import seam
from seam import errors as E
from seam import frame as F
from seam.cbor import dumps
from seam.names import socket_path


def hello_frame(max_frame=16 * 1024 * 1024, max_fds=64, **extra):
    p = dumps({"seam": 1, "max_frame": max_frame, "max_fds": max_fds, **extra})
    return F.pack(F.HELLO, 0, 0, 0, len(p)) + p


def frame(kind, payload=b"", ident=0, flags=0, nfds=0):
    return F.pack(kind, flags, nfds, ident, len(payload)) + payload


def read_frames(sock, timeout=5.0):
    """Every frame the peer sends until it closes: [(kind, id, payload)]."""
    sock.settimeout(timeout)
    buf = b""
    while True:
        try:
            b = sock.recv(65536)
        except ConnectionResetError:
            break
        except socket.timeout:
            raise AssertionError("peer did not close")
        if not b:
            break
        buf += b
    out = []
    while len(buf) >= 16:
        ln, k, fl, nf, i = F.HEADER.unpack(buf[:16])
        out.append((k, i, buf[16:16 + ln]))
        buf = buf[16 + ln:]
    return out


def goodbye_code(frames):
    for k, _, p in frames:
        if k == F.GOODBYE:
            return seam.loads(p).get("code") if p else None
    return "no goodbye"


@pytest.fixture
def py_server(serve_thread):
    def start(name="t.rules", handler=lambda req: req.value, **kw):
        return serve_thread(seam.Server(name, handler, **kw))

    return start


def raw_client(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(socket_path(name))
    return s


VIOLATIONS = [
    ("unknown kind", frame(14), E.EFRAMEKIND),
    ("kind 255", frame(255), E.EFRAMEKIND),
    ("update sent to a server", frame(F.UPDATE, dumps({"topic": "t", "seq": 1, "missed": 0,
                                                      "value": 1}), 5), E.EPROTO),
    ("shm_setup never offered", frame(F.SHM_SETUP), E.EPROTO),
    ("subscribe with id 0", frame(F.SUBSCRIBE, dumps({"topic": "t"}), 0), E.EFRAMEID),
    ("payload on an unsubscribe", frame(F.UNSUBSCRIBE, b"\x01", 5), E.EFRAMELEN),
    ("empty update", frame(F.UPDATE, b"", 5), E.EFRAMELEN),
    ("kind 0", frame(0), E.EFRAMEKIND),
    ("flags on a ping", frame(F.PING, flags=1), E.EFRAMEFLAGS),
    ("flag bit 1 on a message", frame(F.MESSAGE, b"\x01", flags=2), E.EFRAMEFLAGS),
    ("descriptors on an error", frame(F.ERROR, b"\xa0", 1, nfds=1), E.EFRAMEFDS),
    ("65 descriptors announced", frame(F.MESSAGE, b"\x01", nfds=65), E.EFRAMEFDS),
    ("descriptors announced, none sent", frame(F.MESSAGE, b"\x01", nfds=1), E.EFRAMEFDS),
    ("request with id 0", frame(F.REQUEST, b"\x01", 0), E.EFRAMEID),
    ("message with an id", frame(F.MESSAGE, b"\x01", 5), E.EFRAMEID),
    ("empty message", frame(F.MESSAGE, b""), E.EFRAMELEN),
    ("raw shorter than its id", frame(F.MESSAGE, b"\x01\x02", flags=1), E.EFRAMELEN),
    ("memfd without raw", frame(F.MESSAGE, bytes(12), nfds=1, flags=4), E.EFRAMEFLAGS),
    ("memfd without a descriptor", frame(F.MESSAGE, bytes(12), flags=5), E.EFRAMEFDS),
    ("memfd payload not 12 bytes", frame(F.MESSAGE, bytes(4), nfds=1, flags=5), E.EFRAMELEN),
    ("memfd flag on an error", frame(F.ERROR, bytes(12), 1, nfds=1, flags=5), E.EFRAMEFLAGS),
    ("payload on a ping", frame(F.PING, b"\x00", 1), E.EFRAMELEN),
    ("second hello", hello_frame(), E.EPROTO),
    ("trailing bytes", frame(F.MESSAGE, b"\x01\x02"), E.ETRAILING),
    ("undefined", frame(F.MESSAGE, b"\xf7"), E.ESIMPLE),
    ("memfd request never announced", frame(F.REQUEST, bytes(12), 3, nfds=1, flags=5),
     E.EFRAMEFDS),  # the descriptor announced never came: found first
    ("unknown tag", frame(F.MESSAGE, b"\xc2\x41\x01"), E.ETAG),
    ("fd index without descriptors", frame(F.MESSAGE, bytes.fromhex("da7365616d00")), E.EFDINDEX),
    ("indefinite array", frame(F.MESSAGE, b"\x9f\xff"), E.EINDEF),
]


@pytest.mark.parametrize("what,data,code", VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_python_server_closes_on_violation_with_the_code(py_server, what, data, code):
    py_server()
    s = raw_client("t.rules")
    s.sendall(hello_frame() + data)
    frames = read_frames(s)
    s.close()
    assert frames[0][0] == F.HELLO
    assert goodbye_code(frames) == code


REFUSED_REQUESTS = [
    ("undefined", b"\xf7", E.ESIMPLE),
    ("unknown tag", b"\xc2\x41\x01", E.ETAG),
    ("fd index without descriptors", bytes.fromhex("da7365616d00"), E.EFDINDEX),
    ("trailing bytes", b"\x01\x02", E.ETRAILING),
    ("indefinite array", b"\x9f\xff", E.EINDEF),
    ("duplicate key", bytes.fromhex("a2616101616102"), E.EDUPKEY),
    ("truncated", b"\x82\x01", E.ETRUNCATED),
]


def refused_request_answers(name):
    """What a server answers to refused request values, each followed by
    a sound request: [(kind, id, payload)] up to its close."""
    s = raw_client(name)
    data = hello_frame()
    for n, (_, payload, _) in enumerate(REFUSED_REQUESTS):
        data += frame(F.REQUEST, payload, 10 + n) + frame(F.REQUEST, dumps(n), 100 + n)
    s.sendall(data + frame(F.GOODBYE))
    frames = read_frames(s)
    s.close()
    return frames


def aio_refused_request_answers(name):
    async def main():
        async with await seam.aio.serve(name, lambda req: req.value):
            return await asyncio.get_running_loop().run_in_executor(
                None, refused_request_answers, name)

    return asyncio.run(main())


@pytest.mark.parametrize("server", ["python", "python-aio", "c"])
def test_a_refused_request_value_gets_an_error_answer_and_the_connection_goes_on(
        py_server, c_listen, server):
    # docs/protocol.md, "A refused value": the request is answered with an
    # error carrying the decode error; nothing closes.
    if server == "python":
        py_server("t.refused")
    elif server == "c":
        c_listen("t.refused", "--echo")
    frames = (aio_refused_request_answers("t.refused") if server == "python-aio"
              else refused_request_answers("t.refused"))
    assert goodbye_code(frames) in ("no goodbye", None)
    for n, (what, _, code) in enumerate(REFUSED_REQUESTS):
        err = [seam.loads(p) for k, i, p in frames if (k, i) == (F.ERROR, 10 + n)]
        assert len(err) == 1 and err[0]["code"] == code, what
        assert (F.REPLY, 100 + n, dumps(n)) in frames, what


def test_a_request_over_our_own_decode_limits_is_answered_with_the_limit_code(py_server):
    py_server("t.limits", limits=seam.cbor.DecodeLimits(max_string=8))
    s = raw_client("t.limits")
    s.sendall(hello_frame() + frame(F.REQUEST, dumps("x" * 9), 3)
              + frame(F.REQUEST, dumps("x" * 8), 4) + frame(F.GOODBYE))
    frames = read_frames(s)
    s.close()
    assert [seam.loads(p)["code"] for k, i, p in frames if (k, i) == (F.ERROR, 3)] == [E.ETOOLONG]
    assert (F.REPLY, 4, dumps("x" * 8)) in frames


def test_a_refused_message_value_still_ends_the_connection(py_server):
    py_server("t.msg")
    s = raw_client("t.msg")
    s.sendall(hello_frame() + frame(F.MESSAGE, b"\xf7") + frame(F.REQUEST, dumps(1), 4))
    frames = read_frames(s)
    s.close()
    assert goodbye_code(frames) == E.ESIMPLE
    assert not any(k == F.REPLY for k, _, _ in frames)


def test_more_descriptors_than_we_announced_is_eframefds(py_server):
    py_server(max_fds=2)
    s = raw_client("t.rules")
    s.sendall(hello_frame() + frame(F.MESSAGE, b"\x01", nfds=3))
    assert goodbye_code(read_frames(s)) == E.EFRAMEFDS
    s.close()


def test_frame_over_our_max_frame_is_refused_before_its_payload(py_server):
    py_server(max_frame=4096)
    s = raw_client("t.rules")
    s.sendall(hello_frame() + F.pack(F.MESSAGE, 0, 0, 0, 4097))  # no payload sent at all
    assert goodbye_code(read_frames(s)) == E.EMSGSIZE
    s.close()


FIRST_FRAMES = [
    ("hello longer than our max_frame", F.pack(F.HELLO, 0, 0, 0, 16 * 1024 * 1024 + 1), E.EMSGSIZE),
    ("message longer than our max_frame", F.pack(F.MESSAGE, 0, 0, 0, 16 * 1024 * 1024 + 1),
     E.EMSGSIZE),
    ("unknown kind", frame(14), E.EFRAMEKIND),
    ("ping with flags", frame(F.PING, flags=1), E.EFRAMEFLAGS),
    ("sound ping", frame(F.PING, b"", 1), E.EHANDSHAKE),
    ("hello of 4097 bytes", F.pack(F.HELLO, 0, 0, 0, 4097) + bytes(4097), E.EHANDSHAKE),
]


@pytest.mark.parametrize("server", ["python", "c"])
@pytest.mark.parametrize("what,data,code", FIRST_FRAMES, ids=[v[0] for v in FIRST_FRAMES])
def test_the_first_frame_passes_the_header_rules_before_it_must_be_a_hello(
        py_server, c_listen, server, what, data, code):
    # docs/protocol.md, "Handshake": the header rules, the receiver's own
    # max_frame included, come first; then it must be a hello of at most
    # 4096 bytes.
    if server == "python":
        py_server("t.first")
    else:
        c_listen("t.first", "--echo")
    s = raw_client("t.first")
    s.sendall(data)
    assert goodbye_code(read_frames(s)) == code
    s.close()


@pytest.mark.parametrize("server", ["python", "c"])
@pytest.mark.parametrize("payload", [b"\x01", b"\xff", b"\xf7", dumps([1]),
                                     dumps({"code": "x", "reason": 5, "rule": []}),
                                     dumps({"code": 3})],
                         ids=["not a map", "not cbor", "undefined", "array", "bad types",
                              "positive code"])
def test_a_goodbye_with_a_bad_payload_still_ends_the_connection_cleanly(
        py_server, c_listen, server, payload):
    # A goodbye is never answered with a goodbye: what its payload says
    # that is not a map of the documented keys is ignored, and the
    # answers owed for the frames before it still go out.
    if server == "python":
        py_server("t.bye")
    else:
        c_listen("t.bye", "--echo")
    s = raw_client("t.bye")
    s.sendall(hello_frame() + frame(F.REQUEST, dumps("v"), 3) + frame(F.GOODBYE, payload))
    frames = read_frames(s)
    s.close()
    assert (F.REPLY, 3, dumps("v")) in frames
    assert not any(k == F.GOODBYE for k, _, _ in frames)


def test_a_goodbye_whose_payload_is_not_a_map_reaches_the_client_without_a_code(tmp_path):
    path = str(tmp_path / "fake.sock")

    def script(c, fs):
        c.sendall(hello_frame() + frame(F.GOODBYE, b"\xff"))

    FakeServer(path, script)
    with pytest.raises(seam.ConnectionClosed) as ei:
        seam.connect(f"unix:{path}").call(1)
    assert not isinstance(ei.value, seam.Refused) and ei.value.violation is None


@pytest.mark.parametrize("server", ["python", "c"])
def test_a_request_id_reused_while_in_flight_is_answered_twice(py_server, c_listen, server):
    # The requester broke "MUST differ"; the receiver does not check it
    # (docs/protocol.md, "request"): each request is handled and answered.
    if server == "python":
        py_server("t.dupid")
    else:
        c_listen("t.dupid", "--echo")
    s = raw_client("t.dupid")
    s.sendall(hello_frame() + frame(F.REQUEST, dumps("a"), 5) + frame(F.REQUEST, dumps("b"), 5)
              + frame(F.GOODBYE))
    frames = read_frames(s)
    s.close()
    assert [(k, i, p) for k, i, p in frames if k == F.REPLY] == [
        (F.REPLY, 5, dumps("a")), (F.REPLY, 5, dumps("b"))]
    assert not any(k == F.GOODBYE for k, _, _ in frames)


def test_first_frame_not_hello_is_a_handshake_failure(py_server):
    py_server()
    s = raw_client("t.rules")
    s.sendall(frame(F.PING, b"", 1))
    assert goodbye_code(read_frames(s)) == E.EHANDSHAKE
    s.close()


# docs/protocol.md, "Handshake": "shm" is a power of two from 4096 to 64
# MiB, "memfd" an unsigned integer of at least 4096; anything else there
# is EHANDSHAKE, whether or not the receiver takes up the offer.
BAD_OPTIONAL_HELLO = [
    {"shm": 4095}, {"shm": 2048}, {"shm": 4097}, {"shm": 3 * 4096}, {"shm": 128 << 20},
    {"shm": 0}, {"shm": -4096}, {"shm": "4096"}, {"shm": None}, {"shm": True}, {"shm": 4096.0},
    {"memfd": 4095}, {"memfd": 0}, {"memfd": -1}, {"memfd": "65536"}, {"memfd": None},
    {"memfd": [4096]},
]
GOOD_OPTIONAL_HELLO = [{"shm": 4096}, {"shm": 64 << 20}, {"memfd": 4096}, {"memfd": 2**64 - 1}]


@pytest.mark.parametrize("payload", [
    dumps([1]), dumps({"seam": 0, "max_frame": 4096, "max_fds": 0}),
    dumps({"seam": 1, "max_frame": 4095, "max_fds": 0}), dumps({"seam": 1, "max_frame": 4096}),
    dumps({"seam": 1, "max_frame": 4096, "max_fds": "1"}), dumps({"seam": 1, "max_frame": -1, "max_fds": 1}),
] + [dumps({"seam": 1, "max_frame": 4096, "max_fds": 0, **kv}) for kv in BAD_OPTIONAL_HELLO],
    ids=["not a map", "version 0", "max_frame 4095", "no max_fds", "text max_fds", "negative"]
    + [repr(kv) for kv in BAD_OPTIONAL_HELLO])
def test_bad_hellos_fail_with_ehandshake(py_server, payload):
    py_server()
    s = raw_client("t.rules")
    s.sendall(F.pack(F.HELLO, 0, 0, 0, len(payload)) + payload)
    assert goodbye_code(read_frames(s)) == E.EHANDSHAKE
    s.close()


@pytest.mark.parametrize("kv", BAD_OPTIONAL_HELLO, ids=repr)
def test_the_c_server_refuses_a_bad_shm_or_memfd_in_a_hello(c_listen, kv):
    # The reference behaviour the Python package follows: goodbye with
    # EHANDSHAKE, then close.
    c_listen("t.chello", "--echo")
    s = raw_client("t.chello")
    s.sendall(hello_frame(**kv))
    frames = read_frames(s)
    s.close()
    assert frames[0][0] == F.HELLO and goodbye_code(frames) == E.EHANDSHAKE


@pytest.mark.parametrize("kv", GOOD_OPTIONAL_HELLO, ids=repr)
def test_valid_shm_and_memfd_offers_are_accepted_by_a_python_server(py_server, kv):
    py_server()
    s = raw_client("t.rules")
    s.sendall(hello_frame(**kv) + frame(F.REQUEST, dumps("v"), 9) + frame(F.GOODBYE))
    frames = read_frames(s)
    s.close()
    assert (F.REPLY, 9, dumps("v")) in frames and goodbye_code(frames) in ("no goodbye", None)


@pytest.mark.parametrize("kv", BAD_OPTIONAL_HELLO, ids=repr)
def test_python_client_refuses_a_server_hello_with_a_bad_shm_or_memfd(tmp_path, kv):
    path = str(tmp_path / "fake.sock")
    out = {}

    def script(c, fs):
        c.sendall(hello_frame(**kv))
        try:
            out["frames"] = read_frames(c)
        except AssertionError:
            out["frames"] = []

    fs = FakeServer(path, script)
    with pytest.raises(seam.ProtocolError) as ei:
        seam.connect(f"unix:{path}")
    assert ei.value.code == E.EHANDSHAKE
    fs.t.join(5)
    assert goodbye_code(out["frames"]) == E.EHANDSHAKE


def test_undecodable_hello_fails_with_its_decode_error(py_server):
    py_server()
    s = raw_client("t.rules")
    s.sendall(F.pack(F.HELLO, 0, 0, 0, 1) + b"\xf7")
    assert goodbye_code(read_frames(s)) == E.ESIMPLE
    s.close()


def test_any_hello_map_within_4096_bytes_is_read(py_server):
    # Many unknown entries, long strings, nesting: all within the default limits.
    py_server()
    s = raw_client("t.rules")
    extra = {f"k{i}": [i, {"deep": [[[["x" * 20]]]]}] for i in range(40)}
    extra["long"] = "y" * 1500
    p = dumps({"seam": 1, "max_frame": 4096, "max_fds": 0, **extra})
    assert len(p) <= 4096
    s.sendall(F.pack(F.HELLO, 0, 0, 0, len(p)) + p + frame(F.PING, b"", 1) + frame(F.GOODBYE))
    assert [(k, i) for k, i, _ in read_frames(s)][:2] == [(F.HELLO, 0), (F.PONG, 1)]
    s.close()


def test_hello_over_4096_bytes_is_refused(py_server):
    py_server()
    s = raw_client("t.rules")
    p = dumps({"seam": 1, "max_frame": 4096, "max_fds": 0, "pad": "x" * 5000})
    s.sendall(F.pack(F.HELLO, 0, 0, 0, len(p)) + p)
    assert goodbye_code(read_frames(s)) == E.EHANDSHAKE
    s.close()


def test_unknown_hello_keys_and_later_versions_are_accepted(py_server):
    py_server()
    s = raw_client("t.rules")
    p = dumps({"seam": 7, "max_frame": 4096, "max_fds": 200, "future": "x", "n": -1})
    s.sendall(F.pack(F.HELLO, 0, 0, 0, len(p)) + p + frame(F.REQUEST, dumps("v"), 9) + frame(F.GOODBYE))
    frames = read_frames(s)
    assert (F.REPLY, 9, dumps("v")) in frames
    s.close()


def test_ping_pong_cancel_and_stray_answers_are_handled_in_order(py_server):
    py_server(handler=lambda req: seam.NO_REPLY if req.value == "keep" else req.value)
    s = raw_client("t.rules")
    s.sendall(hello_frame()
              + frame(F.PING, b"", 0)  # any id, 0 included
              + frame(F.REPLY, b"\xf7", 77)  # not in flight: ignored unread
              + frame(F.ERROR, b"\x01", 78)  # same
              + frame(F.PONG, b"", 5)  # never sent: ignored
              + frame(F.CANCEL, b"", 99)  # not in flight: ignored
              + frame(F.REQUEST, dumps("keep"), 1)
              + frame(F.CANCEL, b"", 1)
              + frame(F.REQUEST, dumps("a"), 2)
              + frame(F.PING, b"", 3)
              + frame(F.GOODBYE, dumps({"reason": "done"})))
    frames = [(k, i) for k, i, _ in read_frames(s)]
    assert frames[:4] == [(F.HELLO, 0), (F.PONG, 0), (F.REPLY, 2), (F.PONG, 3)]
    assert (F.REPLY, 1) not in frames and (F.ERROR, 1) not in frames
    s.close()


def test_request_ids_are_per_direction(serve_thread):
    # The server uses id 1 for its own request while the client's id 1 is
    # in flight: the two never mix.
    import asyncio
    import seam.aio

    async def main():
        got = {}

        async def handler(req):
            got["server"] = await req.peer.call("from server")
            return "to client"

        server = await seam.aio.serve("t.ids", handler)
        conn = await seam.aio.connect("t.ids", handler=lambda req: ("echo", req.value))
        assert await conn.call("from client") == "to client"
        assert got["server"] == ["echo", "from server"]
        await conn.close()
        await server.close()

    asyncio.run(main())


# -------------------------------------------- a Python client, a bad server


class FakeServer:
    """Accepts one connection and plays a script of raw bytes."""

    def __init__(self, path, script):
        self.path = path
        self.l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.l.bind(path)
        self.l.listen(1)
        self.received = b""
        self.t = threading.Thread(target=self._run, args=(script,), daemon=True)
        self.t.start()

    def _run(self, script):
        c, _ = self.l.accept()
        c.settimeout(5)
        try:
            script(c, self)
        finally:
            time.sleep(0.1)
            c.close()
            self.l.close()

    def read_until(self, c, n):
        while len(self.received) < n:
            b = c.recv(65536)
            if not b:
                return
            self.received += b


def test_late_and_duplicate_replies_are_ignored_exactly_one_completion(tmp_path):
    path = str(tmp_path / "fake.sock")

    def script(c, fs):
        c.sendall(hello_frame())
        fs.read_until(c, 16)
        time.sleep(0.3)  # the client's first call (id 1) times out
        # late answer to 1, then answers to 2 twice, then an error for 2
        c.sendall(frame(F.REPLY, dumps("late"), 1) + frame(F.REPLY, dumps("first"), 2)
                  + frame(F.REPLY, dumps("second"), 2)
                  + frame(F.ERROR, dumps({"code": -22, "message": "x"}), 2)
                  + frame(F.PING, b"", 4))
        time.sleep(0.5)
        c.sendall(frame(F.REPLY, dumps("third call"), 3))
        time.sleep(0.5)

    FakeServer(path, script)
    conn = seam.connect(f"unix:{path}")
    with pytest.raises(seam.CallTimeout):
        conn.call("one", timeout=0.1)
    assert conn.call("two", timeout=5) == "first"
    assert conn.call("three", timeout=5) == "third call"
    conn.close()


def test_timed_out_call_sends_cancel(tmp_path):
    path = str(tmp_path / "fake.sock")
    seen = {}

    def script(c, fs):
        c.sendall(hello_frame())
        fs.read_until(c, 200)
        seen["frames"] = fs.received

    fs = FakeServer(path, script)
    conn = seam.connect(f"unix:{path}")
    with pytest.raises(seam.CallTimeout):
        conn.call("x", timeout=0.1)
    conn.close()
    fs.t.join(5)
    kinds = []
    b = seen["frames"]
    while len(b) >= 16:
        ln, k, fl, nf, i = F.HEADER.unpack(b[:16])
        kinds.append((k, i))
        b = b[16 + ln:]
    assert (F.REQUEST, 1) in kinds and (F.CANCEL, 1) in kinds
    assert kinds.index((F.CANCEL, 1)) > kinds.index((F.REQUEST, 1))


@pytest.mark.parametrize("bad,code", [
    (frame(F.REPLY, b"\x01", 0), E.EFRAMEID),
    (frame(F.ERROR, dumps({"code": 5, "message": "positive"}), 1), E.EPROTO),
    (frame(F.ERROR, dumps({"message": "no code"}), 1), E.EPROTO),
    (frame(F.ERROR, dumps({"code": -2**31 - 1, "message": ""}), 1), E.EPROTO),  # as C reads it
    (frame(F.ERROR, dumps({"code": -1}), 1), E.EPROTO),  # "message" is required
    (frame(F.ERROR, dumps({"code": -1, "message": 5}), 1), E.EPROTO),
    (frame(F.REPLY, b"\xff", 1), E.EMALFORMED),
    (frame(F.REPLY, b"\x01", 1, flags=F.FLAG_MORE), E.EPROTO),  # not asked for
    (frame(F.ERROR, dumps({"code": -1, "message": ""}), 1, flags=F.FLAG_MORE), E.EFRAMEFLAGS),
    (hello_frame(), E.EPROTO),
    (frame(F.UPDATE, dumps({"topic": "t", "seq": 1, "value": 1}), 1), E.EPROTO),  # no missed
    (frame(F.UPDATE, dumps({"topic": "t", "seq": -1, "missed": 0, "value": 1}), 1), E.EPROTO),
    (frame(F.UPDATE, dumps(["t", 1, 0, 1]), 1), E.EPROTO),
    (frame(F.SHM_SETUP), E.EPROTO),
])
def test_client_fails_its_calls_when_the_server_breaks_the_protocol(tmp_path, bad, code):
    path = str(tmp_path / "fake.sock")
    out = {}

    def script(c, fs):
        c.sendall(hello_frame())
        fs.read_until(c, 16 + 1)
        time.sleep(0.05)
        c.sendall(bad)
        try:
            out["frames"] = read_frames(c)
        except AssertionError:
            out["frames"] = []

    fs = FakeServer(path, script)
    conn = seam.connect(f"unix:{path}")
    with pytest.raises(seam.ConnectionClosed) as ei:
        conn.call("x", timeout=5)
    # The call completes as "peer gone"; the violation says why.
    assert ei.value.code == E.ECONNRESET and ei.value.violation.code == code
    fs.t.join(5)
    assert goodbye_code(out["frames"]) == code


def test_goodbye_with_a_code_reaches_the_client(tmp_path):
    path = str(tmp_path / "fake.sock")

    def script(c, fs):
        c.sendall(hello_frame() + frame(F.GOODBYE, dumps({"reason": "maintenance", "code": -11})))

    FakeServer(path, script)
    with pytest.raises(seam.Refused) as ei:
        seam.connect(f"unix:{path}").call(1)
    assert ei.value.goodbye_code == E.EAGAIN and ei.value.reason == "maintenance"


def test_frames_before_goodbye_are_still_delivered(tmp_path):
    path = str(tmp_path / "fake.sock")

    def script(c, fs):
        c.sendall(hello_frame())
        fs.read_until(c, 16 + 10)
        time.sleep(0.1)
        c.sendall(frame(F.MESSAGE, dumps("news")) + frame(F.REPLY, dumps("answer"), 1) + frame(F.GOODBYE))

    FakeServer(path, script)
    conn = seam.connect(f"unix:{path}")
    assert conn.call("q", timeout=5) == "answer"
    assert conn.receive(timeout=5) == "news"
    with pytest.raises(seam.ConnectionClosed):
        conn.receive(timeout=5)


def test_descriptors_of_a_frame_are_found_by_nfds(tmp_path):
    # Two frames in one sendmsg-free stream: the first carries two
    # descriptors (one referenced twice), the second none.
    path = str(tmp_path / "fake.sock")
    r, w = os.pipe()

    def script(c, fs):
        c.sendall(hello_frame())
        fs.read_until(c, 16)
        payload = bytes.fromhex("83da7365616d01da7365616d00da7365616d01")
        data = frame(F.MESSAGE, payload, nfds=2) + frame(F.MESSAGE, dumps("plain"))
        c.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r, w]).tobytes())])
        time.sleep(0.5)

    FakeServer(path, script)
    conn = seam.connect(f"unix:{path}")
    v = conn.receive(timeout=5)
    assert conn.receive(timeout=5) == "plain"
    os.write(v[0].fileno(), b"ab")
    assert os.read(v[1].fileno(), 1) == b"a"
    os.write(v[2].fileno(), b"c")
    assert os.read(r, 2) == b"bc"
    for f in v:
        f.close()
    os.close(r)
    os.close(w)
    conn.close()


def test_descriptors_announced_but_not_sent_fail_the_client(tmp_path):
    path = str(tmp_path / "fake.sock")

    def script(c, fs):
        c.sendall(hello_frame())
        fs.read_until(c, 16)
        c.sendall(frame(F.MESSAGE, bytes.fromhex("da7365616d00"), nfds=1))
        time.sleep(0.5)

    FakeServer(path, script)
    with pytest.raises(seam.ConnectionClosed) as ei:
        # The bad frame may arrive with the hello (connect fails) or after.
        seam.connect(f"unix:{path}").receive(timeout=5)
    assert ei.value.violation.code == E.EFRAMEFDS


def test_no_descriptor_leaks_across_many_fd_calls(py_server):
    py_server()
    before = len(os.listdir("/proc/self/fd"))
    with seam.connect("t.rules") as conn:
        for _ in range(50):
            with seam.Fd.dup(0) as fd:
                back = conn.call([fd, fd])
                for f in back:
                    f.close()
    time.sleep(0.2)
    assert len(os.listdir("/proc/self/fd")) <= before + 2


def test_error_codes_are_the_ones_protocol_md_lists():
    """Every code of docs/protocol.md's table, by number and name, and no other."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "protocol.md").read_text()
    table = text.split("## Error codes", 1)[1]
    listed = {}
    for m in re.finditer(r"^\| −(\d+)\s*\| `([A-Z0-9]+)`", table, re.M):
        listed[-int(m.group(1))] = m.group(2)
    assert len(listed) > 40
    assert E.CODES == listed
