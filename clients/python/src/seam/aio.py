# SPDX-License-Identifier: MIT
"""The asyncio face: connections and servers on the running event loop.

    conn = await seam.aio.connect("com.example.echo")
    reply = await conn.call({"op": "add", "a": 2}, timeout=1.0)

    server = await seam.aio.serve("com.example.echo", handler)

The socket is watched with ``loop.add_reader``/``add_writer``: seam lives in
the loop you already run and starts no thread."""

from __future__ import annotations

import asyncio
import inspect
import os
import socket

from . import _sock
from . import errors as E
from . import frame as F
from ._face import ConnectionBase, ServerBase, SubscriptionBase, run_handler, write_ready
from .cbor import DEFAULT_LIMITS, DecodeLimits
from .core import Core, Event
from .errors import ConnectionClosed, ProtocolError
from .names import socket_path
from .request import NO_REPLY, Request
from .sync import _unlink_if, bind_name, check_server
from .values import Raw


class Connection(ConnectionBase):
    """One connection on the running loop. ``handler(request)`` answers the
    peer's requests (it may be a coroutine function; a cancel from the peer
    cancels its task); ``on_message(conn, value)`` takes messages, else they
    queue for ``receive()``."""

    def __init__(self, sock: socket.socket, core: Core, *, handler=None, on_message=None,
                 on_close=None):
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._core = core
        self.handler = handler
        self.on_message = on_message
        self._on_close = on_close
        self._calls: dict[int, asyncio.Future] = {}
        self._pings: dict[int, asyncio.Future] = {}
        self._subs: dict[int, Subscription] = {}
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._requests: dict[int, tuple[Request, asyncio.Task | None]] = {}
        self._end: ConnectionClosed | None = None
        self._writing = False
        self._drained: asyncio.Future | None = None
        self._ready = self._loop.create_future()
        self._closed = self._loop.create_future()
        self.credentials = _sock.peer_credentials(sock)
        self._early: list[Event] = []
        self._fd = sock.fileno()
        self._loop.add_reader(self._fd, self._read_once)
        self._write()

    # ---------------------------------------------------------- public

    async def call(self, value, timeout: float | None = 5.0):
        """Sends a request and returns the reply's value (or ``Raw``).
        Raises RemoteError, CallTimeout (the request is cancelled at the
        peer) or ConnectionClosed. Cancelling the awaiting task cancels the
        request at the peer too."""
        self._check_open()
        ident = self._core.send_request(value)
        fut = self._loop.create_future()
        self._calls[ident] = fut
        self._write()
        try:
            if timeout is None:
                return await asyncio.shield(fut)
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            self._abandon(ident)
            raise E.CallTimeout(f"no answer within {timeout} s") from None
        except asyncio.CancelledError:
            self._abandon(ident)
            raise

    async def call_raw(self, msgid: int, data: bytes = b"", fds=(), timeout: float | None = 5.0):
        return await self.call(Raw(msgid, data, fds), timeout)

    async def subscribe(self, pattern: str, timeout: float | None = 5.0, on_update=None):
        """Subscribes to a retained topic or a prefix pattern ("net.*"), as
        the blocking Connection.subscribe(); returns a Subscription once the
        server answered, the matching topics' current values queued on it.
        ``on_update(update)`` (it may be a coroutine function) takes each
        update instead of the queue."""
        self._check_open()
        ident = self._core.send_subscribe(pattern)
        sub = self._subs[ident] = Subscription(self, ident, pattern, on_update)
        fut = self._loop.create_future()
        self._calls[ident] = fut
        self._write()
        try:
            if timeout is None:
                answer = await asyncio.shield(fut)
            else:
                answer = await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            self._calls.pop(ident, None)
            sub.close()
            raise E.CallTimeout(f"no answer to the subscribe within {timeout} s") from None
        except BaseException:
            self._calls.pop(ident, None)
            sub.close()
            raise
        n = answer.get("retained") if isinstance(answer, dict) else None
        sub.retained = n if type(n) is int else None
        return sub

    def send(self, value) -> None:
        """Queues a one-way message (``await drain()`` to wait until written)."""
        self._check_open()
        self._core.send_message(value)
        self._write()

    async def drain(self) -> None:
        """Waits until everything queued is written to the socket."""
        while self._core.output() is not None and self._end is None:
            if self._drained is None or self._drained.done():
                self._drained = self._loop.create_future()
            await self._drained

    async def ping(self, timeout: float | None = 5.0) -> float:
        self._check_open()
        t0 = self._loop.time()
        ident = self._core.send_ping()
        fut = self._loop.create_future()
        self._pings[ident] = fut
        self._write()
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            self._pings.pop(ident, None)
            self._core.pings.discard(ident)
            raise E.CallTimeout("no pong in time") from None
        return self._loop.time() - t0

    async def receive(self):
        """The next message the peer sent; ConnectionClosed once it ended."""
        if self._inbox.empty() and self._end is not None:
            raise self._end
        item = await self._inbox.get()
        if isinstance(item, ConnectionClosed):
            self._inbox.put_nowait(item)
            raise item
        return item

    async def close(self, reason: str | None = None, code: int | None = None) -> None:
        """Says goodbye, writes what is queued, closes."""
        if self._end is None:
            self._core.send_goodbye(reason, code)
            self._write()
            try:
                await asyncio.wait_for(self.drain(), 1.0)
            except (asyncio.TimeoutError, ConnectionClosed):
                pass
            self._finish(ConnectionClosed(E.ECLOSED, "connection closed locally"))

    async def wait_closed(self) -> ConnectionClosed:
        return await asyncio.shield(self._closed)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    # --------------------------------------------------------- internal

    def _abandon(self, ident):
        self._calls.pop(ident, None)
        if self._end is None:
            try:
                self._core.forget(ident, cancel=True)
                self._write()
            except E.SeamError:
                pass

    def _answer(self, ident, value, err):
        self._requests.pop(ident, None)
        self._send_answer(ident, value, err)
        self._write()

    def _write(self):
        if self._end is not None:
            return
        write_ready(self._sock, self._core)
        want = self._core.output() is not None
        if want and not self._writing:
            self._loop.add_writer(self._fd, self._write)
            self._writing = True
        elif not want:
            if self._writing:
                self._loop.remove_writer(self._fd)
                self._writing = False
            if self._drained is not None and not self._drained.done():
                self._drained.set_result(None)

    _flush = _write

    def _hello_arrived(self):
        if not self._ready.done():
            self._ready.set_result(None)

    def _finish(self, end: ConnectionClosed):
        if self._end is not None:
            return
        self._end = end
        self._loop.remove_reader(self._fd)
        if self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False
        self._core.close()
        self._sock.close()
        if not self._ready.done():
            self._ready.set_exception(end)
            self._ready.exception()  # retrieved: no "never retrieved" warning
        for fut in list(self._calls.values()) + list(self._pings.values()):
            if not fut.done():
                fut.set_exception(end)
                fut.exception()
        self._calls.clear()
        self._pings.clear()
        for sub in self._subs.values():
            sub._queue.put_nowait(end)
        for _req, task in self._requests.values():
            if task is not None:
                task.cancel()
        self._requests.clear()
        self._inbox.put_nowait(end)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._closed.set_result(end)
        if self._on_close is not None:
            self._on_close(self)

    def _answered(self, ev: Event):
        if ev.type == "error":
            self._subs.pop(ev.id, None)  # a refused subscription
        fut = self._calls.pop(ev.id, None)
        if fut is not None and not fut.done():
            if ev.type == "reply":
                fut.set_result(ev.value)
            else:
                fut.set_exception(ev.error)

    def _message(self, value):
        if self.on_message is not None:
            r = self.on_message(self, value)
            if inspect.isawaitable(r):
                self._loop.create_task(r)
        else:
            self._inbox.put_nowait(value)

    def _cancelled(self, ident):
        entry = self._requests.pop(ident, None)
        if entry is not None:
            entry[0].cancelled = True
            if entry[1] is not None:
                entry[1].cancel()

    def _ponged(self, ident):
        fut = self._pings.pop(ident, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _request(self, ev: Event):
        req = Request(self, ev.id, ev.value)
        self._requests[ev.id] = (req, None)
        result = run_handler(self.handler, req)
        if inspect.isawaitable(result):
            task = self._loop.create_task(self._finish_request(req, result))
            if ev.id in self._requests:
                self._requests[ev.id] = (req, task)
        elif result is not NO_REPLY:
            req.reply(result)

    async def _finish_request(self, req: Request, aw):
        try:
            result = await aw
        except asyncio.CancelledError:
            return
        except Exception as exc:
            req.fail_with(exc)
            return
        if result is not NO_REPLY:
            req.reply(result)


async def connect(name: str, *, timeout: float | None = 5.0, handler=None, on_message=None,
                  expect_uid: int | None = None, max_frame: int = F.DEFAULT_MAX_FRAME,
                  max_fds: int = F.MAX_FDS, limits: DecodeLimits = DEFAULT_LIMITS) -> Connection:
    """Connects on the running loop and completes the handshake; the
    server's user is checked as by ``seam.connect``."""
    loop = asyncio.get_running_loop()
    path = socket_path(name)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, path)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise E.NotFound(f"no server at {name} ({path})") from None
    except BaseException:
        sock.close()
        raise
    try:
        check_server(sock, expect_uid)
    except BaseException:
        sock.close()
        raise
    conn = Connection(sock, Core(max_frame=max_frame, max_fds=max_fds, limits=limits),
                      handler=handler, on_message=on_message)
    try:
        await asyncio.wait_for(asyncio.shield(conn._ready), timeout)
    except asyncio.TimeoutError:
        conn._finish(ConnectionClosed(E.ETIMEDOUT, "no hello in time"))
        raise E.CallTimeout("no hello in time") from None
    return conn


class Subscription(SubscriptionBase):
    """A live subscription of an asyncio Connection: ``await get()`` for
    the next Update, ``async for`` over it until the connection ends,
    ``close()`` to unsubscribe. ``retained``: the topics matched when the
    server answered."""

    def __init__(self, conn: Connection, ident: int, pattern: str, on_update):
        super().__init__(conn, ident, pattern, on_update, asyncio.Queue())

    async def get(self):
        """The next update; raises ConnectionClosed once the connection
        ended with nothing left, and SeamError ECLOSED once unsubscribed."""
        if self._queue.empty() and not self.active:
            if self._conn._end is not None:
                raise self._conn._end
            raise E.SeamError(E.ECLOSED, "unsubscribed")
        item = await self._queue.get()
        if isinstance(item, E.SeamError):
            self._queue.put_nowait(item)
            raise item
        return item

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return await self.get()
        except E.ConnectionClosed:
            raise
        except E.SeamError:  # unsubscribed
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Unsubscribes; updates not taken yet are dropped."""
        c = self._conn
        if c._subs.pop(self.id, None) is None:
            return
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(E.SeamError(E.ECLOSED, "unsubscribed"))
        if c._end is None:
            c._core.unsubscribe(self.id)
            c._write()

    def _deliver(self, update) -> None:
        if self._on_update is not None:
            r = self._on_update(update)
            if inspect.isawaitable(r):
                self._conn._loop.create_task(r)
        else:
            self._queue.put_nowait(update)


class Server(ServerBase):
    """A name served on the running loop; see ``serve()``."""

    def __init__(self, name, handler, *, on_message=None, accept=None, on_connect=None,
                 on_disconnect=None, max_peers=None, max_peers_per_user=None,
                 max_frame=F.DEFAULT_MAX_FRAME,
                 max_fds=F.MAX_FDS, limits=DEFAULT_LIMITS):
        self._loop = asyncio.get_running_loop()
        super().__init__(name, handler, on_message=on_message, accept=accept,
                         on_connect=on_connect, on_disconnect=on_disconnect, max_peers=max_peers,
                         max_peers_per_user=max_peers_per_user, max_frame=max_frame,
                         max_fds=max_fds, limits=limits)
        self._listener, self.path, self._lock, self._sock_id = bind_name(name)
        self._connections: set[Connection] = set()
        self.peers: list[Connection] = []
        self._done = self._loop.create_future()
        self._loop.add_reader(self._listener.fileno(), self._accept_ready)

    def broadcast(self, value) -> int:
        """Sends a one-way message to every peer past its handshake;
        returns how many it reached."""
        n = 0
        for p in list(self.peers):
            if not p.closed:
                p.send(value)
                n += 1
        return n

    def _accept_ready(self):
        while self._listener is not None:
            got = self._admit(lambda: [c.credentials for c in self._connections])
            if got is None:
                return
            sock, core, _cred = got
            conn = Connection(sock, core, handler=self.handler, on_close=self._gone)
            conn.on_message = self.on_message
            conn.server = self
            self._connections.add(conn)
            conn._ready.add_done_callback(lambda f, c=conn: self._ready(c, f))

    def _ready(self, conn, fut):
        if fut.cancelled() or fut.exception() is not None or conn.closed:
            return
        self.peers.append(conn)
        if self.on_connect is not None:
            r = self.on_connect(conn)
            if inspect.isawaitable(r):
                self._loop.create_task(r)

    def _gone(self, conn):
        self._connections.discard(conn)
        if conn in self.peers:
            self.peers.remove(conn)
            if self.on_disconnect is not None:
                self.on_disconnect(conn)

    async def close(self) -> None:
        """Says goodbye to every peer, stops listening, gives up the name."""
        if self._listener is None:
            return
        self._loop.remove_reader(self._listener.fileno())
        _unlink_if(self.path, self._sock_id)
        self._listener.close()
        self._listener = None
        self._lock.release(unlink=True)
        await asyncio.gather(*(c.close() for c in list(self._connections)), return_exceptions=True)
        if not self._done.done():
            self._done.set_result(None)

    async def serve_forever(self) -> None:
        await asyncio.shield(self._done)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


async def serve(name: str, handler=None, **kw) -> Server:
    """Listens on a name on the running loop. ``handler(request)`` returns a
    value, ``Raw``, an awaitable of one, or NO_REPLY; raising RemoteError or
    SeamError answers with that error. Keywords as ``seam.Server``."""
    return Server(name, handler, **kw)
