# SPDX-License-Identifier: MIT
"""A request received from the peer, answered exactly once."""

from __future__ import annotations

from . import errors as E

NO_REPLY = object()
"""A handler that returns this answers later with ``request.reply()`` (or never)."""

EIO = -5  # a handler raised something that is not a SeamError


class Request:
    """``value`` is what the peer sent (a value, or ``Raw``); ``id`` its call
    id; ``peer`` the connection it came on. Answer with ``reply()`` or
    ``error()``; the first answer counts, later ones are ignored."""

    __slots__ = ("id", "value", "peer", "answered", "cancelled", "_conn")

    def __init__(self, conn, ident: int, value):
        self._conn = conn
        self.id = ident
        self.value = value
        self.peer = conn
        self.answered = False
        self.cancelled = False

    def reply(self, value) -> bool:
        return self._answer_once(value, None)

    def error(self, code: int, message: str = "", data=None) -> bool:
        return self._answer_once(None, (code, message, data))

    def _answer_once(self, value, err) -> bool:
        """Sends the answer unless one was given already; False when none
        went out (answered before, cancelled, or the connection is gone)."""
        if self.answered:
            return False
        self.answered = True
        if self.cancelled or self._conn._core.closed:
            return False
        self._conn._answer(self.id, value, err)
        return True

    def fail_with(self, exc: BaseException) -> None:
        if isinstance(exc, E.RemoteError):
            self.error(exc.code, exc.message, exc.data)
        elif isinstance(exc, E.SeamError):
            self.error(exc.code, exc.message)
        else:
            self.error(EIO, f"{type(exc).__name__}: {exc}")

    def __repr__(self) -> str:
        return f"seam.Request(id={self.id}, value={self.value!r})"
