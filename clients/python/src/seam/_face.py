# SPDX-License-Identifier: MIT
"""What the blocking and the asyncio faces share: how a connection turns
what it read into events and how it ends, running a request's handler, and
whom a server refuses. Neither face waits here; each says how it writes
(``_flush``) and what it does with an answer, a message, a request, a
cancel and a pong."""

from __future__ import annotations

from . import _sock
from . import errors as E
from .core import Core
from .errors import ConnectionClosed, ProtocolError
from .request import NO_REPLY
from .values import Raw


def write_ready(sock, core) -> None:
    """Writes what the socket takes now without waiting. Once the peer is
    gone nothing more is sent; what it sent before (a goodbye, answers) is
    still to be read, and that read ends the connection."""
    try:
        while (out := core.output()) is not None:
            core.written(_sock.send(sock, *out))
    except (BlockingIOError, InterruptedError):
        pass
    except OSError:
        core.discard_output()
        core.goodbye_sent = True


def write_all(sock, core) -> None:
    """Writes what is queued until the socket stops taking it; errors end
    the writing silently (the connection is about to close)."""
    try:
        while (out := core.output()) is not None:
            core.written(_sock.send(sock, *out))
    except OSError:
        pass


def run_handler(handler, req):
    """Runs handler(req) and returns what it returned. NO_REPLY when the
    request is answered already: no handler (ENOTSUP), or the handler
    raised (the peer hears of it; we keep serving)."""
    if handler is None:
        req.error(E.ENOTSUP, "no handler")
        return NO_REPLY
    try:
        return handler(req)
    except Exception as exc:
        req.fail_with(exc)
        return NO_REPLY


def refusal(accept, cred, peers: int, peers_of_user: int, max_peers, max_peers_per_user):
    """Why a server refuses a new peer with credentials ``cred`` while it
    serves ``peers`` connections, ``peers_of_user`` of them of the same
    user: (code, reason), or None to admit it. An accept rule that raises
    refuses."""
    if accept is not None:
        try:
            ok = bool(accept(cred))
        except Exception:
            ok = False
        if not ok:
            return (E.EACCES, "refused by the accept rule")
    if max_peers is not None and peers >= max_peers:
        return (E.EAGAIN, "too many peers")
    if max_peers_per_user is not None and peers_of_user >= max_peers_per_user:
        return (E.EAGAIN, "too many peers of this user")
    return None


def refuse(sock, core, code: int, reason: str) -> None:
    """Says hello, then goodbye with the code, and closes; nothing is read."""
    core.send_goodbye(reason, code)
    try:
        write_all(sock, core)
    finally:
        core.close()
        sock.close()


class ConnectionBase:
    """The part of a connection that does not depend on how it waits. A
    face sets ``_sock``, ``_core`` and ``_end`` and provides ``_flush()``,
    ``_finish(end)``, ``_answered(ev)``, ``_message(value)``,
    ``_request(ev)`` and ``_cancelled(ident)``."""

    @property
    def peer_hello(self):
        return self._core.peer

    @property
    def closed(self) -> bool:
        return self._end is not None

    def send_raw(self, msgid: int, data: bytes = b"", fds=()) -> None:
        self.send(Raw(msgid, data, fds))

    def _check_open(self):
        if self._end is not None:
            raise self._end

    def _send_answer(self, ident, value, err):
        if err is None:
            self._core.send_reply(ident, value)
        else:
            self._core.send_error(ident, *err)

    def _hello_arrived(self):
        """The peer's hello came in this read (a face may wait for it)."""

    def _ponged(self, ident):
        """A pong came (a face may wait for it)."""

    def _read_once(self):
        try:
            data, fds = _sock.recv(self._sock)
        except (BlockingIOError, InterruptedError):
            return
        except ProtocolError as e:
            self._violation(e)
            return
        except OSError as e:
            self._finish(ConnectionClosed(E.ECONNRESET, f"peer gone ({e.strerror})"))
            return
        if not data and not fds:
            self._finish(ConnectionClosed(E.ECONNRESET, "peer closed the connection"))
            return
        had_hello = self._core.peer is not None
        try:
            events = self._core.feed(data, fds)
        except ProtocolError as e:
            for ev in e.events:
                self._event(ev)
            self._violation(e)
            return
        if not had_hello and self._core.peer is not None:
            self._hello_arrived()
        for ev in events:
            self._event(ev)
        self._flush()

    def _more_reply(self, ev):
        """An intermediate reply; only a face that streams asks for them."""

    def _update(self, ev):
        """An update for one of our subscriptions (``ev.value`` an Update)."""
        sub = self._subs.get(ev.id)
        if sub is not None:
            sub._deliver(ev.value)

    def _violation(self, e: ProtocolError):
        self._core.violation(e)
        self._flush()
        self._finish(ConnectionClosed(E.ECONNRESET, f"protocol violation: {e.message} ({e.name})",
                                      violation=e))

    def _event(self, ev):
        t = ev.type
        if t == "reply" or t == "error":
            self._answered(ev)
        elif t == "more":
            self._more_reply(ev)
        elif t == "message":
            self._message(ev.value)
        elif t == "request":
            self._request(ev)
        elif t == "ping":
            self._core.pong(ev.id)
        elif t == "cancel":
            self._cancelled(ev.id)
        elif t == "pong":
            self._ponged(ev.id)
        elif t == "update":
            self._update(ev)
        elif t == "goodbye":
            self._flush()  # answers to what came before it
            cls = E.Refused if ev.code is not None else ConnectionClosed
            self._finish(cls(E.ECONNRESET, ev.reason or "peer said goodbye",
                             goodbye_code=ev.code, reason=ev.reason, rule=ev.rule))


class SubscriptionBase:
    """What a subscription of either face holds: its connection, id,
    pattern, the topics matched when the server answered (``retained``)
    and where its updates go. A face provides the queue (``_queue``, with
    ``append`` or ``put_nowait``) and how to wait on it."""

    def __init__(self, conn, ident: int, pattern: str, on_update, queue):
        self._conn = conn
        self.id = ident
        self.pattern = pattern
        self.retained: int | None = None
        self._on_update = on_update
        self._queue = queue

    @property
    def active(self) -> bool:
        return self.id in self._conn._subs and not self._conn.closed


class ServerBase:
    """The part of a server that does not depend on how it waits: its
    settings, and admitting or refusing whom it accepts. A face binds the
    name (``_listener``) and says which peers count against the limits."""

    def __init__(self, name, handler, *, on_message, accept, on_connect, on_disconnect,
                 max_peers, max_peers_per_user, max_frame, max_fds, limits):
        self.name = name
        self.handler = handler
        self.on_message = on_message
        self.accept = accept
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.max_peers = max_peers
        self.max_peers_per_user = max_peers_per_user
        self._opts = dict(max_frame=max_frame, max_fds=max_fds, limits=limits)

    def _admit(self, counted):
        """Accepts waiting peers until one is admitted: (socket, core,
        credentials), or None once none waits. ``counted()`` gives the
        credentials of the peers that count against the limits; a peer
        refused hears why and is closed."""
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:  # none waits (EAGAIN), or it went already
                return None
            sock.setblocking(False)
            core = Core(**self._opts, server=True)
            cred = _sock.peer_credentials(sock)
            creds = counted()
            why = refusal(self.accept, cred, len(creds), sum(1 for c in creds if c.uid == cred.uid),
                          self.max_peers, self.max_peers_per_user)
            if why is None:
                return sock, core, cred
            refuse(sock, core, *why)
