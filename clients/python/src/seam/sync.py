# SPDX-License-Identifier: MIT
"""The blocking face: connect, call, send; and a server driven by
``serve_forever()``."""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import selectors
import socket
import stat
import threading
import time
from collections import deque

from . import _sock
from . import errors as E
from . import frame as F
from ._face import ConnectionBase, ServerBase, SubscriptionBase, run_handler, write_all, write_ready
from .core import Core, Event
from .cbor import DecodeLimits, DEFAULT_LIMITS
from .errors import ConnectionClosed, ProtocolError
from .names import lock_path_of, socket_path
from .request import NO_REPLY, Request
from .values import Raw


def _deadline(timeout):
    return None if timeout is None else time.monotonic() + timeout


def _left(deadline):
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


class Connection(ConnectionBase):
    """One connection, used from the calling thread(s). Every operation takes
    the connection's lock, so threads may share it; their calls are then
    handled one after another. Frames that arrive while you wait are handled
    as they come: pings are answered, messages queued for ``receive()``,
    requests passed to ``handler`` (or answered ENOTSUP)."""

    def __init__(self, sock: socket.socket, core: Core, *, handler=None, on_message=None):
        self._sock = sock
        self._core = core
        self.handler = handler
        self.on_message = on_message
        self._lock = threading.RLock()
        self._results: dict[int, Event] = {}
        self._streams: dict[int, list] = {}  # call_stream(): intermediate replies
        self._subs: dict[int, Subscription] = {}
        self._inbox: list = []
        self._requests: dict[int, Request] = {}
        self._end: ConnectionClosed | None = None
        self._on_output = None  # a server watching this connection
        self.credentials = _sock.peer_credentials(sock)

    # ---------------------------------------------------------- public

    def fileno(self) -> int:
        return self._sock.fileno()

    def call(self, value, timeout: float | None = 5.0):
        """Sends a request and returns the reply's value (or ``Raw``).
        Raises RemoteError for an error answer, CallTimeout after
        ``timeout`` seconds (the request is then cancelled at the peer), and
        ConnectionClosed if the connection ends first."""
        with self._lock:
            self._check_open()
            ident = self._core.send_request(value)
            deadline = _deadline(timeout)
            try:
                self._pump(deadline, lambda: ident in self._results)
            except BaseException:
                self._core.forget(ident, cancel=not self.closed)
                self._flush_quietly()
                raise
            if ident not in self._results:
                if self._end is not None:
                    raise self._end
                self._core.forget(ident, cancel=True)
                self._flush_quietly()
                raise E.CallTimeout(f"no answer within {timeout} s")
            ev = self._results.pop(ident)
            if ev.type == "error":
                raise ev.error
            return ev.value

    def call_stream(self, value, timeout: float | None = 5.0):
        """A streaming call (docs/protocol.md, "Streaming replies"): yields
        each intermediate reply as it comes, then the final reply, last.
        ``timeout`` counts between replies. Raises as call(); closing the
        iterator early cancels the call at the peer."""
        with self._lock:
            self._check_open()
            ident = self._core.send_request(value, more=True)
            queue = self._streams[ident] = []
        try:
            while True:
                with self._lock:
                    if not queue and ident not in self._results and self._end is None:
                        self._pump(_deadline(timeout), lambda: bool(queue) or ident in self._results)
                    if queue:
                        v = queue.pop(0)
                    elif ident in self._results:
                        ev = self._results.pop(ident)
                        if ev.type == "error":
                            raise ev.error
                        yield ev.value
                        return
                    elif self._end is not None:
                        raise self._end
                    else:
                        raise E.CallTimeout(f"no reply within {timeout} s")
                yield v
        finally:
            with self._lock:
                self._streams.pop(ident, None)
                if ident in self._core.pending:
                    self._core.forget(ident, cancel=not self.closed)
                    self._flush_quietly()

    def call_raw(self, msgid: int, data: bytes = b"", fds=(), timeout: float | None = 5.0):
        return self.call(Raw(msgid, data, fds), timeout)

    def subscribe(self, pattern: str, timeout: float | None = 5.0, on_update=None):
        """Subscribes to a retained topic, or with a pattern ending in ``*``
        to every topic under a prefix (docs/protocol.md, "Publish and
        subscribe"). Returns a Subscription once the server answered: the
        current value of every matching topic is then already queued on it.
        ``on_update(update)``, when given, takes each update as it is read
        instead. Raises SeamError EINVAL/ETOOLONG for a bad pattern (locally),
        RemoteError when the server refuses (ENOBUFS, ETOOLONG, ENOTSUP...),
        CallTimeout and ConnectionClosed as call()."""
        with self._lock:
            self._check_open()
            ident = self._core.send_subscribe(pattern)
            sub = self._subs[ident] = Subscription(self, ident, pattern, on_update)
            try:
                self._pump(_deadline(timeout), lambda: ident in self._results)
            except BaseException:
                self._unsubscribe(sub)
                raise
            ev = self._results.pop(ident, None)
            if ev is None:
                self._unsubscribe(sub)
                if self._end is not None:
                    raise self._end
                raise E.CallTimeout(f"no answer to the subscribe within {timeout} s")
            if ev.type == "error":
                self._subs.pop(ident, None)
                raise ev.error
            n = ev.value.get("retained") if isinstance(ev.value, dict) else None
            sub.retained = n if type(n) is int else None
            return sub

    def send(self, value) -> None:
        """A one-way message; returns once it is written to the socket."""
        with self._lock:
            self._check_open()
            self._core.send_message(value)
            self._pump(None, lambda: self._core.output() is None)

    def ping(self, timeout: float | None = 5.0) -> float:
        """A round trip through the peer; returns the seconds it took."""
        with self._lock:
            self._check_open()
            t0 = time.monotonic()
            ident = self._core.send_ping()
            self._pump(_deadline(timeout), lambda: ident not in self._core.pings)
            if ident in self._core.pings:
                self._core.pings.discard(ident)
                if self._end is not None:
                    raise self._end
                raise E.CallTimeout("no pong in time")
            return time.monotonic() - t0

    def receive(self, timeout: float | None = None):
        """The next message the peer sent (a value or ``Raw``), waiting up
        to ``timeout`` seconds; None on timeout. Raises ConnectionClosed
        once the connection has ended and no message is left."""
        with self._lock:
            if not self._inbox and self._end is None:
                self._pump(_deadline(timeout), lambda: bool(self._inbox))
            if self._inbox:
                return self._inbox.pop(0)
            if self._end is not None:
                raise self._end
            return None

    def process(self, timeout: float | None = 0.0) -> None:
        """Handles whatever arrives within ``timeout`` seconds (requests for
        ``handler``, messages for ``on_message``/``receive()``)."""
        with self._lock:
            if self._end is None:
                self._pump(_deadline(timeout), lambda: False)

    def close(self, reason: str | None = None, code: int | None = None) -> None:
        """Says goodbye (with ``reason`` / ``code`` when given) and closes."""
        with self._lock:
            if self._end is None:
                self._core.send_goodbye(reason, code)
                try:
                    # What is queued, the goodbye last, gets a second to leave.
                    self._pump(_deadline(1.0), lambda: self._core.output() is None)
                except E.SeamError:
                    pass
                self._finish(ConnectionClosed(E.ECLOSED, "connection closed locally"))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --------------------------------------------------------- internal

    def _answer(self, ident, value, err):
        # May come from another thread (a handler that returned NO_REPLY).
        with self._lock:
            self._requests.pop(ident, None)
            if self._end is not None:
                return
            self._send_answer(ident, value, err)
            self._flush_quietly()
            if self._on_output is not None:
                self._on_output(self)

    def _flush_quietly(self):
        """Writes what the socket takes now without waiting."""
        write_ready(self._sock, self._core)

    _flush = _flush_quietly

    def _finish(self, end: ConnectionClosed):
        if self._end is None:
            self._end = end
            self._core.close()
            try:
                self._sock.close()
            except OSError:
                pass

    def _pump(self, deadline, done) -> None:
        """Reads and writes until done() or the deadline or the end."""
        sel = selectors.DefaultSelector()
        try:
            sel.register(self._sock, selectors.EVENT_READ)
            while True:
                if done() or self._end is not None:
                    return
                want = selectors.EVENT_READ
                if self._core.output() is not None:
                    want |= selectors.EVENT_WRITE
                sel.modify(self._sock, want)
                left = _left(deadline)
                ready = sel.select(left)
                if not ready:
                    if left is not None and left <= 0:
                        return
                    if deadline is not None and time.monotonic() >= deadline:
                        return
                    continue
                mask = ready[0][1]
                if mask & selectors.EVENT_WRITE:
                    out = self._core.output()
                    if out is not None:
                        try:
                            self._core.written(_sock.send(self._sock, *out))
                        except (BlockingIOError, InterruptedError):
                            pass
                        except OSError:
                            # Read what the peer sent before it went (a
                            # goodbye, answers); the read then ends it.
                            self._core.discard_output()
                            self._core.goodbye_sent = True
                            mask |= selectors.EVENT_READ
                if mask & selectors.EVENT_READ:
                    self._read_once()
        finally:
            sel.close()

    def _unsubscribe(self, sub: "Subscription") -> None:
        with self._lock:
            self._subs.pop(sub.id, None)
            if self._end is None:
                self._core.unsubscribe(sub.id)
                self._flush_quietly()

    def _more_reply(self, ev: Event):
        q = self._streams.get(ev.id)
        if q is not None:
            q.append(ev.value)

    def _answered(self, ev: Event):
        self._results[ev.id] = ev

    def _message(self, value):
        if self.on_message is not None:
            self.on_message(value)
        else:
            self._inbox.append(value)

    def _request(self, ev: Event):
        req = Request(self, ev.id, ev.value)
        self._requests[ev.id] = req
        _dispatch(self.handler, req)

    def _cancelled(self, ident):
        req = self._requests.pop(ident, None)
        if req is not None:
            req.cancelled = True


class Subscription(SubscriptionBase):
    """A live subscription of a blocking Connection. ``get()`` returns the
    next Update (the retained values first, then each change, in order for
    each topic), iterating yields them until the connection ends;
    ``close()`` (or leaving a ``with`` block) unsubscribes. ``retained`` is
    the number of topics the pattern matched when the server answered."""

    def __init__(self, conn: Connection, ident: int, pattern: str, on_update):
        super().__init__(conn, ident, pattern, on_update, deque())

    def get(self, timeout: float | None = None):
        """The next update, waiting up to ``timeout`` seconds (None: no
        limit); None on timeout or once unsubscribed. Raises
        ConnectionClosed once the connection ended and nothing is left."""
        c = self._conn
        with c._lock:
            if not self._queue and self.id in c._subs and c._end is None:
                c._pump(_deadline(timeout), lambda: bool(self._queue) or self.id not in c._subs)
            if self._queue:
                return self._queue.popleft()
            if c._end is not None and self.id in c._subs:
                raise c._end
            return None

    def __iter__(self):
        while self.active or self._queue:
            u = self.get()
            if u is None:
                return
            yield u
        if self._conn._end is not None and self.id in self._conn._subs:
            raise self._conn._end

    def close(self) -> None:
        """Unsubscribes; updates already read but not taken are dropped."""
        self._queue.clear()
        self._conn._unsubscribe(self)

    unsubscribe = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _deliver(self, update) -> None:
        if self._on_update is not None:
            self._on_update(update)
        else:
            self._queue.append(update)


def _dispatch(handler, req: Request) -> None:
    result = run_handler(handler, req)
    if result is not NO_REPLY:
        req.reply(result)


def _handshake(sock: socket.socket, core: Core, deadline) -> None:
    """Writes our hello and reads until the peer's has arrived."""
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    early: list[Event] = []
    try:
        while core.peer is None:
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if core.output() else 0)
            sel.modify(sock, want)
            left = _left(deadline)
            if left is not None and left <= 0:
                raise E.CallTimeout("no hello in time")
            for _, mask in sel.select(left):
                if mask & selectors.EVENT_WRITE and core.output():
                    try:
                        core.written(_sock.send(sock, *core.output()))
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        # The peer may have said hello and goodbye (a
                        # refusal) and closed: read what it sent.
                        core.discard_output()
                        mask |= selectors.EVENT_READ
                if mask & selectors.EVENT_READ:
                    try:
                        data, fds = _sock.recv(sock)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except ConnectionResetError:
                        raise ConnectionClosed(E.ECONNRESET, "peer closed during the handshake") from None
                    if not data and not fds:
                        raise ConnectionClosed(E.ECONNRESET, "peer closed during the handshake")
                    try:
                        early.extend(core.feed(data, fds))
                    except ProtocolError as e:
                        if core.peer is not None:
                            # The handshake is done; a later frame broke the rules:
                            # the connection ends with it.
                            early.extend(e.events)
                            early.append(e)
                            break
                        core.violation(e)
                        _flush_blocking(sock, core, deadline)
                        raise ProtocolError(e.code, f"handshake: {e.message}") from None
        return early
    finally:
        sel.close()


def _flush_blocking(sock, core, deadline):
    write_all(sock, core)


def check_server(sock: socket.socket, expect_uid: int | None) -> None:
    """A socket under a name may belong to whoever could write there: talk
    only to a server of our own user or root, or of ``expect_uid``."""
    uid = _sock.peer_credentials(sock).uid
    allowed = (expect_uid,) if expect_uid is not None else (os.geteuid(), 0)
    if uid not in allowed:
        raise E.SeamError(E.EACCES, f"the server runs as uid {uid}, not {' or '.join(map(str, allowed))}")


def connect(name: str, *, timeout: float | None = 5.0, handler=None, on_message=None,
            expect_uid: int | None = None, max_frame: int = F.DEFAULT_MAX_FRAME,
            max_fds: int = F.MAX_FDS, limits: DecodeLimits = DEFAULT_LIMITS) -> Connection:
    """Connects to a name (``com.example.echo`` in the runtime directory, or
    ``unix:/path``) and completes the handshake. Raises NotFound when no
    server listens there, Refused when the server refuses us, and
    SeamError EACCES when the server is not of our user or root (or of
    ``expect_uid`` when given)."""
    path = socket_path(name)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise E.NotFound(f"no server at {name} ({path})") from None
        check_server(sock, expect_uid)
    except BaseException:
        sock.close()
        raise
    return _open(sock, timeout, handler, on_message, max_frame, max_fds, limits)


def connect_endpoint(endpoint, *, timeout: float | None = 5.0, handler=None, on_message=None,
                     max_frame: int = F.DEFAULT_MAX_FRAME, max_fds: int = F.MAX_FDS,
                     limits: DecodeLimits = DEFAULT_LIMITS) -> Connection:
    """Connects through an anonymous endpoint (an ``Fd`` received in a
    message, or a descriptor number; not consumed) and completes the
    handshake (docs/protocol.md, "Anonymous endpoints"). Raises NotFound
    when its server is gone, SeamError EAGAIN when it has too many connects
    waiting, ENOTENDPOINT when the descriptor is no endpoint, Refused when
    the server refuses us. The server's identity is not checked: the
    kernel vouches for the connecting side only, and the server is whoever
    gave the endpoint."""
    fd = endpoint.fileno() if hasattr(endpoint, "fileno") else endpoint
    sock = _sock.rendezvous(fd)
    try:
        sock.settimeout(timeout)
    except BaseException:
        sock.close()
        raise
    return _open(sock, timeout, handler, on_message, max_frame, max_fds, limits)


def _open(sock, timeout, handler, on_message, max_frame, max_fds, limits) -> Connection:
    """The handshake on a connected socket (taken), then the connection."""
    try:
        core = Core(max_frame=max_frame, max_fds=max_fds, limits=limits)
        early = _handshake(sock, core, _deadline(timeout))
    except BaseException:
        sock.close()
        raise
    conn = Connection(sock, core, handler=handler, on_message=on_message)
    for ev in early:
        if isinstance(ev, ProtocolError):
            conn._violation(ev)
        else:
            conn._event(ev)
    if conn._end is not None:
        raise conn._end
    return conn


# ------------------------------------------------------------------ server


class _Lock:
    """The flock() on the lock file that says who serves a socket path."""

    def __init__(self, path: str):
        self.path = path
        self.fd = -1
        for _ in range(100):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            except OSError as e:
                if e.errno == errno.ELOOP:
                    raise E.SeamError(E.EACCES, f"{path} is a symbolic link") from None
                raise
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                    raise E.SeamError(E.EACCES, f"{path} is not a lock file of this user")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    # An owner, or only a program asking whether the name
                    # is served (it holds a shared lock for an instant).
                    try:
                        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    except BlockingIOError:
                        raise E.AddressInUse(f"{path} is held by a live server") from None
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                    time.sleep(0.001)
                    continue
                # The previous owner may have removed the file between our
                # open and our lock: then we hold a lock nobody else sees.
                try:
                    now = os.stat(path, follow_symlinks=False)
                except FileNotFoundError:
                    now = None
                if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                    self.fd = fd
                    self.id = (st.st_dev, st.st_ino)
                    return
                os.close(fd)
            except BaseException:
                if self.fd != fd:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                raise
        raise E.AddressInUse(f"{path}: the lock kept changing hands")

    def release(self, unlink: bool):
        if self.fd >= 0:
            if unlink:
                _unlink_if(self.path, self.id)
            os.close(self.fd)
            self.fd = -1


def _unlink_if(path: str, ident) -> None:
    """Removes path only if it is still the file we made (device, inode)."""
    try:
        st = os.stat(path, follow_symlinks=False)
        if (st.st_dev, st.st_ino) == ident:
            os.unlink(path)
    except OSError:
        pass


def bind_name(name: str):
    """Takes the name's lock and returns (listening socket, path, lock,
    socket identity). A socket left by a dead server is replaced, a file
    that is not a socket never (EEXIST); the new socket appears under the
    name only once it listens, and never over a file that appeared
    meanwhile."""
    path = socket_path(name, create_dir=not name.startswith("unix:"))
    lock = _Lock(lock_path_of(path))
    try:
        try:
            st = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None:
            if not stat.S_ISSOCK(st.st_mode):
                raise E.SeamError(E.EEXIST, f"{path} is a file that is not a socket")
            os.unlink(path)  # its owner is dead: we hold the lock
        directory = os.path.dirname(path) or "."
        staging = os.path.join(directory, f".seam-{os.getpid()}-{secrets.token_hex(6)}.tmp")
        if len(os.fsencode(staging)) > 107:
            staging = None  # no room for a staging name: bind in place
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind(staging or path)
            sock.listen(128)
            if staging is not None:
                try:
                    os.link(staging, path)  # fails if anything is there now
                except FileExistsError:
                    raise E.SeamError(E.EEXIST, f"{path} appeared while we bound") from None
                finally:
                    os.unlink(staging)
        except BaseException:
            sock.close()
            raise
        st = os.stat(path, follow_symlinks=False)
    except BaseException:
        lock.release(unlink=False)
        raise
    sock.setblocking(False)
    return sock, path, lock, (st.st_dev, st.st_ino)


class Server(ServerBase):
    """Serves a name on a blocking loop: ``serve_forever()``, or
    ``process(timeout)`` from a loop of your own.

    ``handler(request)`` answers requests (return a value or ``Raw``, raise
    RemoteError/SeamError for an error answer, or return NO_REPLY and answer
    later); ``on_message(peer, value)`` takes one-way messages;
    ``accept(credentials)`` decides from the peer's pid/uid/gid whether it
    may talk at all; ``max_peers`` bounds the connections served at once."""

    def __init__(self, name: str, handler=None, *, on_message=None, accept=None,
                 on_connect=None, on_disconnect=None, max_peers: int | None = None,
                 max_peers_per_user: int | None = None, max_frame: int = F.DEFAULT_MAX_FRAME, max_fds: int = F.MAX_FDS,
                 limits: DecodeLimits = DEFAULT_LIMITS):
        super().__init__(name, handler, on_message=on_message, accept=accept,
                         on_connect=on_connect, on_disconnect=on_disconnect, max_peers=max_peers,
                         max_peers_per_user=max_peers_per_user, max_frame=max_frame,
                         max_fds=max_fds, limits=limits)
        self._listener, self.path, self._lock, self._sock_id = bind_name(name)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listener, selectors.EVENT_READ, None)
        self._pending: dict[int, tuple] = {}  # fd -> (sock, core) before hello
        self.peers: list[Connection] = []
        self._stop = False

    def fileno(self) -> int:
        return self._listener.fileno()

    def broadcast(self, value) -> int:
        """Sends a one-way message to every peer; returns how many it reached."""
        n = 0
        for p in list(self.peers):
            if p.closed:
                continue
            with p._lock:
                try:
                    p._core.send_message(value)
                except E.ConnectionClosed:
                    continue
                p._flush_quietly()
                self._watch(p)
            n += 1
        return n

    def stop(self) -> None:
        """Makes ``serve_forever()`` return (from a handler, say)."""
        self._stop = True

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._stop = False
        while not self._stop and self._listener is not None:
            self.process(poll_interval)

    def process(self, timeout: float | None = 0.0) -> None:
        for key, mask in self._sel.select(timeout):
            obj = key.data
            if obj is None:
                self._accept_ready()
            elif isinstance(obj, Connection):
                self._peer_ready(obj, mask)
            else:
                self._handshake_ready(key.fileobj, obj, mask)

    def close(self) -> None:
        """Says goodbye to every peer, stops listening, gives up the name."""
        if self._listener is None:
            return
        for p in list(self.peers):
            p.close()
        for sock, _core in list(self._pending.values()):
            sock.close()
        self._pending.clear()
        self.peers.clear()
        self._sel.close()
        _unlink_if(self.path, self._sock_id)
        self._listener.close()
        self._listener = None
        self._lock.release(unlink=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --------------------------------------------------------- internal

    def _accept_ready(self):
        while True:
            got = self._admit(lambda: [p.credentials for p in self.peers] +
                              [c.credentials for _s, c in self._pending.values()])
            if got is None:
                return
            sock, core, cred = got
            core.credentials = cred
            self._pending[sock.fileno()] = (sock, core)
            self._sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, core)

    def _handshake_ready(self, sock, core: Core, mask):
        if mask & selectors.EVENT_WRITE and core.output() is not None:
            try:
                core.written(_sock.send(sock, *core.output()))
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self._drop_pending(sock, core)
                return
        if core.output() is None:
            self._sel.modify(sock, selectors.EVENT_READ, core)
        if not mask & selectors.EVENT_READ:
            return
        try:
            data, fds = _sock.recv(sock)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop_pending(sock, core)
            return
        if not data and not fds:
            self._drop_pending(sock, core)
            return
        try:
            early = core.feed(data, fds)
        except ProtocolError as e:
            if core.peer is None:
                core.violation(e)
                _flush_blocking(sock, core, None)
                self._drop_pending(sock, core)
                return
            early = e.events + [e]
        if core.peer is None:
            return
        self._sel.unregister(sock)
        del self._pending[sock.fileno()]
        conn = Connection(sock, core, handler=self.handler)
        conn.on_message = (lambda v, c=conn: self.on_message(c, v)) if self.on_message else None
        conn.server = self
        conn._on_output = self._watch
        self.peers.append(conn)
        self._sel.register(sock, selectors.EVENT_READ, conn)
        if self.on_connect is not None:
            self.on_connect(conn)
        for ev in early:
            if conn.closed:
                break
            if isinstance(ev, ProtocolError):
                conn._violation(ev)
            else:
                conn._event(ev)
        conn._flush_quietly()
        self._settle(conn)

    def _drop_pending(self, sock, core):
        try:
            self._sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        self._pending.pop(sock.fileno(), None)
        core.close()
        sock.close()

    def _peer_ready(self, conn: Connection, mask):
        with conn._lock:
            if mask & selectors.EVENT_WRITE:
                conn._flush_quietly()
            if mask & selectors.EVENT_READ:
                conn._read_once()
        self._settle(conn)

    def _watch(self, conn: Connection):
        if conn.closed:
            return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn._core.output() else 0)
        try:
            self._sel.modify(conn._sock, want, conn)
        except (KeyError, ValueError):
            pass

    def _settle(self, conn: Connection):
        if conn.closed:
            try:
                self._sel.unregister(conn._sock)
            except (KeyError, ValueError):
                pass
            if conn in self.peers:
                self.peers.remove(conn)
                if self.on_disconnect is not None:
                    self.on_disconnect(conn)
        else:
            self._watch(conn)


def listen(name: str, handler=None, **kw) -> Server:
    """Shorthand for ``Server(name, handler, ...)``."""
    return Server(name, handler, **kw)
