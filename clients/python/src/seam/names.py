"""Names and the runtime directory (docs/protocol.md "Transport")."""

from __future__ import annotations

import os

from . import errors as E
from .errors import SeamError


def runtime_dir(create: bool = False) -> str:
    """The directory names live in: $SEAM_RUNTIME_DIR, else
    $XDG_RUNTIME_DIR/seam, else /tmp/seam-UID (private to the user).
    With ``create`` it is made (mode 0700) when missing."""
    d = os.environ.get("SEAM_RUNTIME_DIR")
    if not d:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        d = os.path.join(xdg, "seam") if xdg else f"/tmp/seam-{os.getuid()}"
    if create:
        os.makedirs(d, mode=0o700, exist_ok=True)
    return d


def socket_path(name: str) -> str:
    """The socket a name addresses: ``unix:/path`` directly, else
    ``NAME.sock`` in the runtime directory."""
    if not isinstance(name, str) or not name:
        raise SeamError(E.EINVAL, "a name is a non-empty string")
    if name.startswith("unix:"):
        path = name[5:]
        if not path:
            raise SeamError(E.EINVAL, "unix: needs a path")
        return path
    if "/" in name or "\0" in name or name in (".", ".."):
        raise SeamError(E.EINVAL, f"invalid name {name!r}")
    return os.path.join(runtime_dir(), name + ".sock")


def lock_path(name: str) -> str:
    """The file whose flock() a server of ``name`` holds."""
    if name.startswith("unix:"):
        return name[5:] + ".lock"
    return os.path.join(runtime_dir(), name + ".lock")
