# SPDX-License-Identifier: MIT
"""Socket primitives shared by both faces: reads and writes that carry
descriptors, and the peer's credentials."""

from __future__ import annotations

import array
import os
import socket
import struct
from dataclasses import dataclass

from . import errors as E
from .errors import ProtocolError

READ_SIZE = 256 * 1024
# A read may bring the descriptors of a few frames; each sendmsg() carries
# at most 64, and the kernel does not merge two sets into one read.
_ANC_SPACE = socket.CMSG_SPACE(4 * 256)


@dataclass(frozen=True)
class Credentials:
    """Who is at the other end, as the kernel tells (SO_PEERCRED)."""

    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> Credentials:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return Credentials(pid, uid, gid)


def recv(sock: socket.socket):
    """(bytes, [fd, ...]) from one read; b"" at end of stream. Raises
    BlockingIOError when there is nothing to read."""
    data, anc, flags, _ = sock.recvmsg(READ_SIZE, _ANC_SPACE, socket.MSG_CMSG_CLOEXEC)
    fds: list[int] = []
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(payload[: len(payload) - len(payload) % a.itemsize])
            fds.extend(a)
    if flags & socket.MSG_CTRUNC:
        for n in fds:
            os.close(n)
        raise ProtocolError(E.EFRAMEFDS, "descriptors were lost: too many in one read")
    return data, fds


def send(sock: socket.socket, data, fds) -> int:
    """Writes what the socket takes; the descriptors go with the first byte."""
    if fds:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        return sock.sendmsg([data], anc)
    return sock.send(data)


# The one byte of a rendezvous datagram (docs/protocol.md, "Anonymous
# endpoints").
RENDEZVOUS_VERSION = b"\x01"


def rendezvous(endpoint: int) -> socket.socket:
    """Connects through an anonymous endpoint: a fresh stream socket pair,
    one end sent over the endpoint, the other returned (blocking)."""
    dup = os.dup(endpoint)
    try:
        kind = socket.socket(fileno=dup)
    except OSError:
        os.close(dup)
        raise E.SeamError(E.ENOTENDPOINT, "the descriptor is no endpoint") from None
    try:
        if kind.type != socket.SOCK_SEQPACKET:
            raise E.SeamError(E.ENOTENDPOINT, "the descriptor is no endpoint")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [theirs.fileno()]).tobytes())]
            kind.sendmsg([RENDEZVOUS_VERSION], anc, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
        except (BrokenPipeError, ConnectionRefusedError, ConnectionResetError):
            ours.close()
            raise E.NotFound("the endpoint's server is gone") from None
        except BlockingIOError:
            ours.close()
            raise E.SeamError(E.EAGAIN, "the endpoint's server has too many connects waiting") from None
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return ours
    finally:
        kind.close()
