# SPDX-License-Identifier: MIT
"""Names, the runtime directory and lock files (docs/protocol.md "Transport")."""

from __future__ import annotations

import os
import re
import stat

from . import errors as E
from .errors import SeamError

_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path less its terminating NUL


def _dir_choice() -> tuple[str, bool]:
    """(directory, chosen by $SEAM_RUNTIME_DIR). Empty variables count as
    unset, and so does an XDG_RUNTIME_DIR that is not absolute."""
    d = os.environ.get("SEAM_RUNTIME_DIR")
    if d:
        return d, True
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "seam"), False
    return f"/tmp/seam-{os.geteuid()}", False


def _check_dir(d: str, explicit: bool) -> None:
    """Refuses a directory another user could add entries to or replace
    entries in (EACCES)."""
    try:
        st = os.stat(d)
    except FileNotFoundError:
        return
    uid = os.geteuid()
    if not stat.S_ISDIR(st.st_mode):
        raise SeamError(E.EACCES, f"runtime directory {d} is not a directory")
    if explicit:
        ok = st.st_uid in (uid, 0) and not st.st_mode & 0o022
    else:
        ok = st.st_uid == uid and not st.st_mode & 0o077
    if not ok:
        raise SeamError(E.EACCES, f"runtime directory {d} is open to other users")


def runtime_dir(create: bool = False) -> str:
    """The directory names live in: $SEAM_RUNTIME_DIR, else
    $XDG_RUNTIME_DIR/seam, else /tmp/seam-UID. It is checked (another
    user must not be able to change its entries: EACCES) and, with
    ``create``, made with mode 0700 when missing."""
    d, explicit = _dir_choice()
    if create:
        try:
            os.mkdir(d, 0o700)  # the last component only
        except FileExistsError:
            pass
        except FileNotFoundError:
            raise SeamError(E.ENOTFOUND, f"runtime directory {d}: parent missing") from None
    _check_dir(d, explicit)
    return d


def socket_path(name: str, *, create_dir: bool = False) -> str:
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
        path = os.path.join(runtime_dir(create=create_dir), name + ".sock")
    if len(os.fsencode(path)) > _SUN_PATH_MAX:
        raise SeamError(E.ERANGE, f"socket path {path} is longer than {_SUN_PATH_MAX} bytes")
    return path


def lock_path_of(socket: str) -> str:
    """The lock file of a socket path: a final ``.sock`` becomes ``.lock``,
    otherwise ``.lock`` is appended; a name and its socket's ``unix:`` path
    share one lock."""
    if socket.endswith(".sock"):
        return socket[: -len(".sock")] + ".lock"
    return socket + ".lock"


def lock_path(name: str) -> str:
    """The file whose flock() a server of ``name`` holds."""
    return lock_path_of(socket_path(name))
