# SPDX-License-Identifier: MIT
"""Python against Python, both faces: the server features (accept rule,
peer limit, messages, broadcasts, deferred answers, cancels) and a server
that keeps serving while clients send it garbage."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
import time

import pytest

import seam
import seam.aio
from seam import errors as E
from seam import frame as F
from seam.names import socket_path

from test_protocol import frame, hello_frame


def test_asyncio_server_accept_rule_and_peer_limit():
    async def main():
        seen = []
        refuse = await seam.aio.serve("t.no", lambda r: 1, accept=lambda c: seen.append(c) or False)
        with pytest.raises(seam.Refused) as ei:
            conn = await seam.aio.connect("t.no")
            await conn.call(1)
        assert ei.value.goodbye_code == E.EACCES and seen[0].pid == os.getpid()
        await refuse.close()

        full = await seam.aio.serve("t.one", lambda r: r.value, max_peers=1)
        a = await seam.aio.connect("t.one")
        assert await a.call("a") == "a"
        with pytest.raises(seam.Refused) as ei:
            b = await seam.aio.connect("t.one")
            await b.call("b")
        assert ei.value.goodbye_code == E.EAGAIN
        await a.close()
        await full.close()

    asyncio.run(main())


def test_asyncio_server_messages_broadcast_and_disconnects():
    async def main():
        got = []
        gone = []
        server = await seam.aio.serve("t.bc2", on_message=lambda peer, v: got.append(v),
                                      on_disconnect=gone.append)
        clients = [await seam.aio.connect("t.bc2") for _ in range(4)]
        for i, c in enumerate(clients):
            c.send({"from": i})
            await c.ping()
        assert sorted(g["from"] for g in got) == [0, 1, 2, 3]
        assert server.broadcast({"to": "all"}) == 4
        for c in clients:
            assert await asyncio.wait_for(c.receive(), 5) == {"to": "all"}
        await clients[0].close()
        for _ in range(100):
            if gone:
                break
            await asyncio.sleep(0.01)
        assert len(gone) == 1 and server.broadcast(2) == 3
        for c in clients[1:]:
            await c.close()
        await server.close()

    asyncio.run(main())


def test_peer_cancel_cancels_the_handler_task():
    async def main():
        state = {}

        async def handler(req):
            state["started"] = True
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                state["cancelled"] = True
                raise
            return "never"

        server = await seam.aio.serve("t.cancel", handler)
        conn = await seam.aio.connect("t.cancel")
        with pytest.raises(seam.CallTimeout):
            await conn.call(1, timeout=0.2)
        for _ in range(100):
            if state.get("cancelled"):
                break
            await asyncio.sleep(0.01)
        assert state == {"started": True, "cancelled": True}
        assert await conn.ping() >= 0
        await conn.close()
        await server.close()

    asyncio.run(main())


def test_deferred_answer_from_another_thread(serve_thread):
    def handler(req):
        threading.Timer(0.1, req.reply, args=({"later": req.value},)).start()
        return seam.NO_REPLY

    serve_thread(seam.Server("t.later", handler))
    with seam.connect("t.later") as conn:
        assert conn.call(1) == {"later": 1}
        assert conn.call(b"x" * 3_000_000) == {"later": b"x" * 3_000_000}


def test_first_answer_counts(serve_thread):
    answers = []

    def handler(req):
        answers.append(req.reply("one"))
        answers.append(req.reply("two"))
        answers.append(req.error(-22, "three"))
        return seam.NO_REPLY

    serve_thread(seam.Server("t.once", handler))
    with seam.connect("t.once") as conn:
        assert conn.call(0) == "one"
        assert conn.ping() >= 0
    assert answers == [True, False, False]


def test_blocking_client_handles_server_requests_while_it_waits():
    async def main():
        async def handler(req):
            inner = await req.peer.call({"ask": req.value})
            return {"outer": inner}

        server = await seam.aio.serve("t.nest", handler)

        def client():
            with seam.connect("t.nest", handler=lambda r: r.value["ask"] * 2) as conn:
                return conn.call(21)

        result = await asyncio.get_running_loop().run_in_executor(None, client)
        assert result == {"outer": 42}
        await server.close()

    asyncio.run(main())


def test_server_survives_garbage_and_keeps_serving(serve_thread):
    serve_thread(seam.Server("t.fuzz", lambda r: r.value))
    rng = random.Random(7)
    good = seam.connect("t.fuzz")
    for i in range(150):
        s = socket.socket(socket.AF_UNIX)
        s.connect(socket_path("t.fuzz"))
        junk = bytearray(hello_frame() if rng.random() < 0.8 else b"")
        for _ in range(rng.randrange(1, 4)):
            kind = rng.choice([rng.randrange(256), F.MESSAGE, F.REQUEST, F.REPLY, F.ERROR, F.PING])
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
            junk += F.pack(kind, rng.choice([0, 0, 1, rng.randrange(256)]), rng.choice([0, 0, 1]),
                           rng.choice([0, 1, rng.randrange(1 << 64)]), len(payload)) + payload
        if rng.random() < 0.3:
            junk = junk[: rng.randrange(len(junk) + 1)]
        try:
            s.sendall(bytes(junk))
        except OSError:
            pass
        s.close()
        if i % 10 == 0:
            assert good.call(i) == i
    assert good.call("still here") == "still here"
    good.close()


@pytest.mark.parametrize("face", ["blocking", "asyncio"])
def test_per_user_peer_limit_refuses_with_eagain(face, serve_thread):
    async def amain():
        server = await seam.aio.serve("t.pu", lambda r: r.value, max_peers_per_user=2)
        a = await seam.aio.connect("t.pu")
        b = await seam.aio.connect("t.pu")
        assert await a.call(1) == 1 and await b.call(2) == 2
        with pytest.raises(seam.Refused) as ei:
            c = await seam.aio.connect("t.pu")
            await c.call(3)
        assert ei.value.goodbye_code == E.EAGAIN
        await a.close()
        await b.close()
        await server.close()

    if face == "asyncio":
        asyncio.run(amain())
        return
    serve_thread(seam.Server("t.pu", lambda r: r.value, max_peers_per_user=2))
    a, b = seam.connect("t.pu"), seam.connect("t.pu")
    assert a.call(1) == 1 and b.call(2) == 2
    with pytest.raises(seam.Refused) as ei:
        seam.connect("t.pu").call(3)
    assert ei.value.goodbye_code == E.EAGAIN
    a.close()
    b.close()
