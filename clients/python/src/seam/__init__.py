# SPDX-License-Identifier: MIT
"""seam: typed messages over Unix sockets, from Python.

A client and a server of the seam wire protocol (docs/protocol.md), with a
blocking face (``seam.connect``, ``seam.Server``) and an asyncio face
(``seam.aio``). Values are Python objects: None, bool, int (-2^63 to
2^64-1), float, str, bytes, datetime (``seam.Date`` on receipt), uuid.UUID,
list, dict, and ``seam.Fd`` for file descriptors."""

from .cbor import DecodeLimits, decode, dumps, encode, loads
from .errors import (
    AddressInUse,
    CallTimeout,
    Cancelled,
    ConnectionClosed,
    DecodeError,
    EncodeError,
    NotFound,
    ProtocolError,
    Refused,
    RemoteError,
    SeamError,
    code_name,
)
from .core import Update
from .frame import Hello
from .json import from_json, to_json
from .names import runtime_dir, socket_path
from .request import NO_REPLY, Request
from .sync import Connection, Server, Subscription, connect, connect_endpoint, listen
from .values import Date, Fd, Raw, Timestamp
from ._sock import Credentials

__version__ = "0.1.0"
PROTOCOL_VERSION = 1

__all__ = [
    "AddressInUse", "CallTimeout", "Cancelled", "Connection", "ConnectionClosed", "Credentials",
    "Date", "DecodeError", "DecodeLimits", "EncodeError", "Fd", "Hello", "NO_REPLY", "NotFound",
    "PROTOCOL_VERSION", "ProtocolError", "Raw", "Refused", "RemoteError", "Request", "SeamError",
    "Server", "Subscription", "Timestamp", "Update", "code_name", "connect", "connect_endpoint", "decode", "dumps", "encode", "from_json",
    "listen", "loads", "runtime_dir", "socket_path", "to_json",
]
