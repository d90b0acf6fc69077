# SPDX-License-Identifier: MIT
"""The protocol state of one connection, without any I/O: bytes and
descriptors go in, events and bytes to write come out. The blocking and the
asyncio faces drive the same object."""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field

from . import cbor
from . import errors as E
from . import frame as F
from .errors import DecodeError, EncodeError, ProtocolError, RemoteError
from .values import Fd, Raw


@dataclass
class Event:
    """What a connection received. ``type`` is one of "message", "request", "ping",
    "more", "reply", "error", "cancel", "pong", "update" (``value`` an Update),
    "goodbye"."""

    type: str
    id: int = 0
    value: object = None
    error: RemoteError | None = None
    code: int | None = None
    reason: str | None = None
    rule: str | None = None


@dataclass(frozen=True)
class Update:
    """One value of a retained topic (docs/protocol.md, "Publish and
    subscribe"): ``seq`` counts the topic's values from 1; ``missed`` is how
    many of them this subscription did not receive just before this one."""

    topic: str
    seq: int
    missed: int
    value: object


MAX_PATTERN = 4096  # longer patterns are refused locally, as the C client does


def check_pattern(pattern) -> bytes:
    """A subscription pattern as UTF-8: a topic name, or a prefix and a
    single ``*`` at its end. Raises SeamError EINVAL / ETOOLONG."""
    if not isinstance(pattern, str):
        raise E.SeamError(E.EINVAL, "a pattern is a str")
    try:
        b = pattern.encode("utf-8")
    except UnicodeEncodeError:
        raise E.SeamError(E.EINVAL, "a pattern is valid UTF-8") from None
    # Checked in the order a C peer checks one: empty, length, then the
    # characters (docs/protocol.md, "subscribe").
    if not b:
        raise E.SeamError(E.EINVAL, "a pattern is not empty")
    if len(b) > MAX_PATTERN:
        raise E.SeamError(E.ETOOLONG, f"pattern over {MAX_PATTERN} bytes")
    if "\0" in pattern or "*" in pattern[:-1]:
        raise E.SeamError(E.EINVAL, "a pattern is a topic name, or a prefix and one * at its end")
    return b


def _update(m) -> Update:
    if not isinstance(m, dict):
        raise ProtocolError(E.EPROTO, "update payload is not a map")
    topic, seq, missed = m.get("topic"), m.get("seq"), m.get("missed")
    if (not isinstance(topic, str) or type(seq) is not int or seq < 0 or type(missed) is not int
            or missed < 0 or "value" not in m):
        raise ProtocolError(E.EPROTO, "update is not {topic, seq, missed, value}")
    return Update(topic, seq, missed, m["value"])


@dataclass
class _Segment:
    data: bytearray
    fds: list = field(default_factory=list)


def _close_all(fds) -> None:
    for n in fds:
        try:
            os.close(n)
        except OSError:
            pass


class Core:
    def __init__(self, *, max_frame: int = F.DEFAULT_MAX_FRAME, max_fds: int = F.MAX_FDS,
                 limits: cbor.DecodeLimits = cbor.DEFAULT_LIMITS, server: bool = False):
        if max_frame < F.MIN_MAX_FRAME or max_frame > 0xFFFFFFFF:
            raise ValueError("max_frame is 4096 to 2^32-1")
        if not 0 <= max_fds <= F.MAX_FDS:
            raise ValueError("max_fds is 0 to 64")
        self.max_frame = max_frame
        self.max_fds = max_fds
        self.limits = limits
        self.server = server  # a server's peers send no updates
        self.peer: F.Hello | None = None
        self.closed = False
        self.goodbye_sent = False
        self.peer_goodbye = False
        self._rbuf = bytearray()
        self._rfds: deque[int] = deque()
        self._header: F.Header | None = None
        self._frame_fds: list[int] = []
        self._out: deque[_Segment] = deque()
        self._next_id = 1
        self._next_ping = 1
        self.pending: set[int] = set()  # our requests in flight
        self.streaming: set[int] = set()  # ... those that accept intermediate replies
        self.pings: set[int] = set()  # our pings in flight
        self.incoming: set[int] = set()  # the peer's requests not yet answered
        self.subs: set[int] = set()  # our subscriptions, live or awaiting their answer
        self._queue(F.HELLO, 0, 0, F.hello_payload(max_frame, max_fds), [])

    # ------------------------------------------------------------ output

    @property
    def ready(self) -> bool:
        return self.peer is not None and not self.closed

    def _queue(self, kind, flags, ident, payload: bytes, fds: list[int]) -> None:
        head = F.pack(kind, flags, len(fds), ident, len(payload))
        if fds or not self._out:
            self._out.append(_Segment(bytearray(head + payload), fds))
        else:
            self._out[-1].data += head
            self._out[-1].data += payload

    def _send(self, kind, flags, ident, payload: bytes, fds) -> None:
        if self.closed or self.goodbye_sent:
            raise E.ConnectionClosed(E.ECLOSED, "connection is closed")
        if self.peer is None:
            raise E.SeamError(E.EBUSY, "handshake not complete")
        if len(payload) > self.peer.max_frame:
            raise E.SeamError(E.EMSGSIZE, f"payload of {len(payload)} bytes exceeds the peer's "
                              f"max_frame {self.peer.max_frame}")
        if len(fds) > self.peer.max_fds:
            raise E.SeamError(E.EMSGSIZE, f"{len(fds)} descriptors exceed the peer's max_fds "
                              f"{self.peer.max_fds}")
        owned = []
        try:
            for n in fds:
                owned.append(os.dup(n))
        except OSError:
            _close_all(owned)
            raise E.SeamError(E.EBADF, "cannot duplicate a descriptor to send") from None
        self._queue(kind, flags, ident, payload, owned)

    @staticmethod
    def _payload(value, fds_ok: bool = True):
        if isinstance(value, Raw):
            try:
                fds = [fd.fileno() for fd in value.fds]
            except (AttributeError, ValueError):
                raise EncodeError(E.EBADF, "a RAW frame's fds are open seam.Fd objects") from None
            return F.FLAG_RAW, value.msgid.to_bytes(4, "little") + value.data, fds
        data, fds = cbor.encode(value, allow_fds=fds_ok)
        return 0, data, fds

    def send_message(self, value) -> None:
        flags, payload, fds = self._payload(value)
        self._send(F.MESSAGE, flags, 0, payload, fds)

    def new_id(self) -> int:
        while True:
            i = self._next_id
            self._next_id = i + 1 if i < (1 << 64) - 1 else 1
            if i not in self.pending and i not in self.subs:
                return i

    def send_request(self, value, more: bool = False) -> int:
        """With ``more`` the request accepts intermediate replies (MORE)."""
        flags, payload, fds = self._payload(value)
        i = self.new_id()
        self._send(F.REQUEST, flags | (F.FLAG_MORE if more else 0), i, payload, fds)
        self.pending.add(i)
        if more:
            self.streaming.add(i)
        return i

    def send_subscribe(self, pattern: str) -> int:
        """Subscribes to ``pattern``; its answer comes as a "reply" (the map
        {"retained": n}) or "error" event with the returned id, after the
        updates of the topics it matches."""
        payload, _ = cbor.encode({"topic": check_pattern(pattern).decode()}, allow_fds=False)
        i = self.new_id()
        self._send(F.SUBSCRIBE, 0, i, payload, [])
        self.pending.add(i)
        self.subs.add(i)
        return i

    def unsubscribe(self, ident: int) -> None:
        """Ends subscription ``ident``; updates still on their way are dropped."""
        if ident not in self.subs:
            return
        self.subs.discard(ident)
        self.pending.discard(ident)
        if self.ready and not self.goodbye_sent:
            self._send(F.UNSUBSCRIBE, 0, ident, b"", [])

    def forget(self, ident: int, cancel: bool) -> None:
        """Our request ``ident`` needs no answer any more (timed out or
        cancelled); a late answer will be ignored."""
        if ident in self.pending:
            self.pending.discard(ident)
            self.streaming.discard(ident)
            if cancel and self.ready and not self.goodbye_sent:
                self._send(F.CANCEL, 0, ident, b"", [])

    def send_reply(self, ident: int, value) -> None:
        """Answers the peer's request; a reply beyond the peer's limits
        becomes an EMSGSIZE error answer, so the request still completes."""
        flags, payload, fds = self._payload(value)
        try:
            self._send(F.REPLY, flags, ident, payload, fds)
        except E.SeamError as e:
            if e.code != E.EMSGSIZE:
                raise
            self.send_error(ident, E.EMSGSIZE, "reply could not be sent")
        self.incoming.discard(ident)

    def send_error(self, ident: int, code: int, message: str = "", data=None) -> None:
        if not isinstance(code, int) or code >= 0:
            raise ValueError("an error code is a negative integer")
        body = {"code": code, "message": str(message)}
        if data is not None:
            body["data"] = data
        payload, _ = cbor.encode(body, allow_fds=False)
        self._send(F.ERROR, 0, ident, payload, [])
        self.incoming.discard(ident)

    def send_ping(self) -> int:
        i = self._next_ping
        self._next_ping += 1
        self._send(F.PING, 0, i, b"", [])
        self.pings.add(i)
        return i

    def pong(self, ident: int) -> None:
        if not self.goodbye_sent and not self.closed:
            self._queue(F.PONG, 0, ident, b"", [])

    def send_goodbye(self, reason: str | None = None, code: int | None = None) -> None:
        if self.goodbye_sent or self.closed:
            return
        body = {}
        if reason is not None:
            body["reason"] = reason
        if code is not None:
            body["code"] = code
        self._queue(F.GOODBYE, 0, 0, cbor.dumps(body) if body else b"", [])
        self.goodbye_sent = True

    def output(self):
        """(bytes, fds) to write next, or None. The fds go with the first byte."""
        if not self._out:
            return None
        s = self._out[0]
        return s.data, s.fds

    def written(self, n: int) -> None:
        s = self._out[0]
        if n > 0 and s.fds:
            _close_all(s.fds)
            s.fds = []
        del s.data[:n]
        if not s.data:
            self._out.popleft()

    def discard_output(self) -> None:
        for s in self._out:
            _close_all(s.fds)
        self._out.clear()

    # ------------------------------------------------------------- input

    def close(self) -> None:
        """Local end of the connection: releases every descriptor held."""
        self.closed = True
        self.discard_output()
        _close_all(self._rfds)
        self._rfds.clear()
        _close_all(self._frame_fds)
        self._frame_fds = []
        self.pending.clear()
        self.streaming.clear()
        self.incoming.clear()
        self.subs.clear()

    def violation(self, err: ProtocolError) -> None:
        """We refuse what the peer sent: goodbye naming the reason, then close."""
        if not self.goodbye_sent and not self.closed:
            self.send_goodbye(err.message, err.code)

    def feed(self, data: bytes, fds=()) -> list[Event]:
        """Takes received bytes and descriptors; returns the events they
        complete. Raises ProtocolError (after queuing nothing) when the peer
        broke the protocol; events completed before that are in ``.events``
        of the exception."""
        self._rfds.extend(fds)
        self._rbuf += data
        events: list[Event] = []
        try:
            self._parse(events)
        except ProtocolError as e:
            e.events = events
            raise
        return events

    def _parse(self, events: list[Event]) -> None:
        buf = self._rbuf
        pos = 0
        try:
            while not self.closed and not self.peer_goodbye:
                if self._header is None:
                    if len(buf) - pos < F.HEADER_SIZE:
                        break
                    # Our own max_frame holds from the first frame on, the
                    # hello included (EMSGSIZE before EHANDSHAKE), as in C.
                    h = F.check_header(bytes(buf[pos:pos + F.HEADER_SIZE]), self.max_frame)
                    if self.peer is None:
                        if h.kind != F.HELLO:
                            raise ProtocolError(E.EHANDSHAKE, "first frame is not a hello")
                        if h.len > F.HELLO_MAX:
                            raise ProtocolError(E.EHANDSHAKE, "hello payload over 4096 bytes")
                    if h.nfds > self.max_fds:
                        raise ProtocolError(E.EFRAMEFDS, f"{h.nfds} descriptors, we accept {self.max_fds}")
                    if h.nfds > len(self._rfds):
                        raise ProtocolError(E.EFRAMEFDS, f"frame announces {h.nfds} descriptors, "
                                            f"{len(self._rfds)} arrived")
                    self._frame_fds = [self._rfds.popleft() for _ in range(h.nfds)]
                    self._header = h
                    pos += F.HEADER_SIZE
                h = self._header
                if len(buf) - pos < h.len:
                    break
                payload = bytes(buf[pos:pos + h.len])
                pos += h.len
                self._header = None
                fds, self._frame_fds = self._frame_fds, []
                try:
                    ev = self._frame(h, payload, fds)
                finally:
                    _close_all(fds)
                if ev is not None:
                    events.append(ev)
        finally:
            del buf[:pos]

    def _value(self, h: F.Header, payload: bytes, fds):
        if h.flags & F.FLAG_MEMFD:
            # This package never announces "memfd": the peer broke the rule.
            raise ProtocolError(E.EPROTO, "a MEMFD frame, but memfd was never announced")
        if h.raw:
            return Raw(int.from_bytes(payload[:4], "little"), payload[4:],
                       [Fd(os.dup(n)) for n in fds])
        try:
            return cbor.decode(payload, fds, self.limits)
        except DecodeError as e:
            raise ProtocolError(e.code, f"{F.KIND_NAMES[h.kind]} payload: {e.message}") from None

    def _frame(self, h: F.Header, payload: bytes, fds) -> Event | None:
        k = h.kind
        if k == F.HELLO:
            if self.peer is not None:
                raise ProtocolError(E.EPROTO, "a second hello")
            self.peer = F.parse_hello(payload)
            return None
        if k == F.MESSAGE:
            return Event("message", value=self._value(h, payload, fds))
        if k == F.REQUEST:
            try:
                v = self._value(h, payload, fds)
            except ProtocolError as e:
                if e.code == E.EPROTO:
                    raise  # a MEMFD frame never announced: a violation
                # A refused value (docs/protocol.md, "A refused value"): the
                # caller hears why and the connection goes on.
                self._answer_refusal(h.id, e.code, e.message)
                return None
            self.incoming.add(h.id)
            return Event("request", h.id, value=v)
        # An answer for an id not in flight raced with a timeout or a
        # cancel: it is dropped unread.
        if k == F.REPLY:
            if h.id not in self.pending:
                return None
            if h.flags & F.FLAG_MORE and h.id not in self.streaming:
                raise ProtocolError(E.EPROTO, "an intermediate reply to a request that did not ask")
            v = self._value(h, payload, fds)
            if h.flags & F.FLAG_MORE:
                return Event("more", h.id, value=v)
            self.pending.discard(h.id)
            self.streaming.discard(h.id)
            return Event("reply", h.id, value=v)
        if k == F.ERROR:
            if h.id not in self.pending:
                return None
            err = self._error(payload)
            self.pending.discard(h.id)
            self.streaming.discard(h.id)
            self.subs.discard(h.id)  # a refused subscription does not exist
            return Event("error", h.id, error=err)
        if k == F.SUBSCRIBE:
            # Nothing is published from Python: every subscribe is refused,
            # before its payload is read (docs/protocol.md, "subscribe").
            self._answer_refusal(h.id, E.ENOTSUP, "nothing is published here")
            return None
        if k == F.UNSUBSCRIBE:
            return None  # no subscription of the peer's exists here
        if k == F.UPDATE:
            if self.server:
                raise ProtocolError(E.EPROTO, "an update sent to a server")
            u = _update(self._value(h, payload, fds))
            if h.id not in self.subs:
                return None  # unsubscribed, its updates still on the way
            return Event("update", h.id, value=u)
        if k == F.SHM_SETUP:
            raise ProtocolError(E.EPROTO, "shm_setup, but shared memory was never offered")
        if k == F.CANCEL:
            if h.id not in self.incoming:
                return None
            return Event("cancel", h.id)
        if k == F.PING:
            # The face answers with pong() when it handles this event, so
            # the pong follows the answers to every frame before the ping.
            return Event("ping", h.id)
        if k == F.PONG:
            if h.id not in self.pings:
                return None
            self.pings.discard(h.id)
            return Event("pong", h.id)
        # GOODBYE
        # A goodbye is never answered with a goodbye: a payload that is not
        # a map, or keys of other types, say nothing (as in C).
        code = reason = rule = None
        try:
            m = cbor.decode(payload, (), self.limits) if payload else {}
        except DecodeError:
            m = {}
        if isinstance(m, dict):
            if isinstance(m.get("reason"), str):
                reason = m["reason"]
            if isinstance(m.get("rule"), str):
                rule = m["rule"]
            c = m.get("code")
            if type(c) is int and -(1 << 31) < c < 0:
                code = c
        # The peer closes next; what it sent before is handled as usual
        # (its requests are still answered), nothing after is read.
        self.peer_goodbye = True
        return Event("goodbye", code=code, reason=reason, rule=rule)

    def _answer_refusal(self, ident: int, code: int, message: str) -> None:
        """An error answer queued by the package itself (no handler saw
        the frame); nothing goes out after our goodbye."""
        if self.goodbye_sent or self.closed:
            return
        body, _ = cbor.encode({"code": code, "message": message}, allow_fds=False)
        self._queue(F.ERROR, 0, ident, body, [])

    def _error(self, payload: bytes) -> RemoteError:
        try:
            m = cbor.decode(payload, (), self.limits)
        except DecodeError as e:
            raise ProtocolError(e.code, f"error payload: {e.message}") from None
        # The code is an error code: negative, within 32 bits (as C reads it).
        if (not isinstance(m, dict) or type(m.get("code")) is not int
                or not -(1 << 31) <= m["code"] < 0 or not isinstance(m.get("message"), str)):
            raise ProtocolError(E.EPROTO, "error payload is not {code, message}")
        return RemoteError(m["code"], m["message"], m.get("data"))
