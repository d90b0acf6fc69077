"""Names and the runtime directory (docs/protocol.md "Transport")."""

from __future__ import annotations

import os
import re
import stat

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
        try:
            os.mkdir(d, 0o700)  # the last component only, like the C library
        except FileExistsError:
            pass
        except FileNotFoundError:
            raise SeamError(E.ENOTFOUND, f"runtime directory {d}: parent missing") from None
        if d == f"/tmp/seam-{os.getuid()}":
            st = os.lstat(d)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
                raise SeamError(E.EACCES, f"{d} is not a directory private to this user")
    return d


_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path less its terminating NUL


def socket_path(name: str) -> str:
    """The socket a name addresses: ``unix:/path`` directly, else
    ``NAME.sock`` in the runtime directory."""
    if not isinstance(name, str) or not name:
        raise SeamError(E.EINVAL, "a name is a non-empty string")
    if name.startswith("unix:"):
        path = name[5:]
        if not path:
            raise SeamError(E.EINVAL, "unix: needs a path")
    elif not _NAME.match(name):
        raise SeamError(E.EINVAL, f"invalid name {name!r}: letters, digits, '.', '_', '-', "
                        "not starting with '.'")
    else:
        path = os.path.join(runtime_dir(), name + ".sock")
    if len(os.fsencode(path)) > _SUN_PATH_MAX:
        raise SeamError(E.ERANGE, f"socket path {path} is longer than {_SUN_PATH_MAX} bytes")
    return path


def lock_path(name: str) -> str:
    """The file whose flock() a server of ``name`` holds."""
    if name.startswith("unix:"):
        return name[5:] + ".lock"
    return os.path.join(runtime_dir(), name + ".lock")
