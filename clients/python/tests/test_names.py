# SPDX-License-Identifier: MIT
"""Names, the runtime directory and the lock that says who serves a name,
shared with C servers and clients."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import seam
from seam import errors as E
from seam.names import lock_path, runtime_dir, socket_path

from conftest import SEAM, run_seam, wait_for_socket


def test_runtime_directory_order(monkeypatch, tmp_path):
    monkeypatch.setenv("SEAM_RUNTIME_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "x"))
    assert runtime_dir() == str(tmp_path / "a")
    monkeypatch.delenv("SEAM_RUNTIME_DIR")
    assert runtime_dir() == str(tmp_path / "x" / "seam")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert runtime_dir() == f"/tmp/seam-{os.getuid()}"
    assert socket_path("com.example.echo") == f"/tmp/seam-{os.getuid()}/com.example.echo.sock"
    assert socket_path("unix:/some/path") == "/some/path"
    assert lock_path("unix:/some/path") == "/some/path.lock"


def test_a_python_server_under_xdg_is_found_by_c(monkeypatch, tmp_path, serve_thread):
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    monkeypatch.delenv("SEAM_RUNTIME_DIR")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    serve_thread(seam.Server("t.xdg", lambda r: r.value))
    assert (xdg / "seam").is_dir() and (xdg / "seam").stat().st_mode & 0o777 == 0o700
    r = run_seam("call", "t.xdg", "[1]")
    assert r.returncode == 0 and seam.from_json(r.stdout) == [1]


@pytest.mark.parametrize("name", ["a/b", ".hidden", "x y", "é", "a:b", "a@b", "a+b", "a~b", "x" * 200])
def test_names_the_c_tool_refuses_are_refused(name):
    assert run_seam("listen", name, timeout=5).returncode != 0
    with pytest.raises(seam.SeamError) as ei:
        socket_path(name)
    assert ei.value.code in (E.EINVAL, E.ERANGE)


@pytest.mark.parametrize("name", ["a-b", "a_b", "A1", "1abc", "com.example.echo", "a.", "a..b"])
def test_names_both_accept(name, c_listen):
    c_listen(name, "--echo")
    with seam.connect(name) as conn:
        assert conn.call(name) == name


def test_a_c_server_owns_its_name_against_python(c_listen):
    c_listen("t.owned", "--echo")
    with pytest.raises(seam.AddressInUse) as ei:
        seam.Server("t.owned")
    assert ei.value.code == E.EADDRINUSE
    with seam.connect("t.owned") as conn:  # the C server is unharmed
        assert conn.call(1) == 1


def test_a_python_server_owns_its_name_against_c(serve_thread):
    serve_thread(seam.Server("t.mine", lambda r: r.value))
    r = run_seam("listen", "t.mine", timeout=5)
    assert r.returncode != 0 and "EADDRINUSE" in r.stderr
    listed = run_seam("list").stdout
    assert "t.mine" in listed and "alive" in listed.split("t.mine", 1)[1].splitlines()[0]
    assert run_seam("call", "t.mine", "2").returncode == 0


def _killed_python_server(name: str, runtime: str):
    code = (
        "import seam, sys, time\n"
        f"s = seam.Server({name!r}, lambda r: r.value)\n"
        "print('up', flush=True)\n"
        "s.serve_forever()\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "SEAM_RUNTIME_DIR": runtime})
    assert p.stdout.readline().strip() == "up"
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stdout.close()


def test_c_reclaims_a_name_left_by_a_killed_python_server(runtime_dir, c_listen):
    _killed_python_server("t.stale", str(runtime_dir))
    assert (runtime_dir / "t.stale.sock").exists()
    assert "stale" in run_seam("list").stdout
    p = c_listen("t.stale", "--echo")  # the stale socket is there already:
    p.expect(lambda l: l.startswith("listening on"))  # wait until it is replaced
    with seam.connect("t.stale") as conn:
        assert conn.call("back") == "back"


def test_python_reclaims_a_name_left_by_a_killed_c_server(runtime_dir, spawn, serve_thread):
    p = spawn([SEAM, "listen", "t.dead", "--echo"], wait_name="t.dead")
    p.p.kill()
    p.p.wait()
    assert (runtime_dir / "t.dead.sock").exists()
    with pytest.raises(seam.NotFound):
        seam.connect("t.dead")
    serve_thread(seam.Server("t.dead", lambda r: ["py", r.value]))
    r = run_seam("call", "t.dead", '"x"')
    assert r.returncode == 0 and seam.from_json(r.stdout) == ["py", "x"]


def test_closing_a_server_frees_the_name(runtime_dir):
    s = seam.Server("t.free", lambda r: r.value)
    s.close()
    assert not (runtime_dir / "t.free.sock").exists()
    s = seam.Server("t.free", lambda r: r.value)
    s.close()


# ------------------------------------------ the rules of protocol.md "Transport"


def test_a_name_and_its_sockets_unix_path_share_one_lock(runtime_dir, c_listen):
    from seam.names import lock_path_of

    assert lock_path_of("/run/app/api.sock") == "/run/app/api.lock"
    assert lock_path_of("/run/app/api") == "/run/app/api.lock"
    assert lock_path("t.shared") == str(runtime_dir / "t.shared.lock")
    c_listen("t.shared", "--echo")
    with pytest.raises(seam.AddressInUse):
        seam.Server(f"unix:{runtime_dir}/t.shared.sock")
    with pytest.raises(seam.AddressInUse):
        seam.Server(f"unix:{runtime_dir}/t.shared")


def test_a_file_that_is_not_a_socket_is_never_replaced(runtime_dir):
    (runtime_dir / "t.file.sock").write_text("keep me")
    with pytest.raises(seam.SeamError) as ei:
        seam.Server("t.file")
    assert ei.value.code == E.EEXIST
    assert (runtime_dir / "t.file.sock").read_text() == "keep me"
    r = run_seam("listen", "t.file", timeout=5)
    assert r.returncode != 0 and "EEXIST" in r.stderr


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_runtime_directory_others_can_change_is_refused(monkeypatch, tmp_path, mode):
    d = tmp_path / "open"
    d.mkdir()
    d.chmod(mode)
    monkeypatch.setenv("SEAM_RUNTIME_DIR", str(d))
    with pytest.raises(seam.SeamError) as ei:
        seam.Server("t.open")
    assert ei.value.code == E.EACCES
    with pytest.raises(seam.SeamError) as ei:
        seam.connect("t.open")
    assert ei.value.code == E.EACCES
    assert "EACCES" in run_seam("listen", "t.open", timeout=5).stderr
    assert "EACCES" in run_seam("call", "t.open", "1", timeout=5).stderr


def test_a_readable_explicit_directory_is_fine_but_not_a_group_xdg_one(monkeypatch, tmp_path, serve_thread):
    d = tmp_path / "app"
    d.mkdir()
    d.chmod(0o755)
    monkeypatch.setenv("SEAM_RUNTIME_DIR", str(d))
    serve_thread(seam.Server("t.app", lambda r: r.value))
    assert run_seam("call", "t.app", "5").returncode == 0
    x = tmp_path / "xdg"
    (x / "seam").mkdir(parents=True)
    (x / "seam").chmod(0o770)
    monkeypatch.delenv("SEAM_RUNTIME_DIR")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(x))
    with pytest.raises(seam.SeamError) as ei:
        seam.Server("t.grp")
    assert ei.value.code == E.EACCES


def test_empty_and_relative_variables_count_as_unset(monkeypatch):
    monkeypatch.setenv("SEAM_RUNTIME_DIR", "")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative/dir")
    assert runtime_dir() == f"/tmp/seam-{os.geteuid()}"
    monkeypatch.setenv("XDG_RUNTIME_DIR", "")
    assert runtime_dir() == f"/tmp/seam-{os.geteuid()}"


def test_a_lock_file_that_is_a_symlink_is_refused(runtime_dir):
    target = runtime_dir / "elsewhere"
    target.write_text("")
    os.symlink(target, runtime_dir / "t.link.lock")
    with pytest.raises(seam.SeamError) as ei:
        seam.Server("t.link")
    assert ei.value.code == E.EACCES
    assert "EACCES" in run_seam("listen", "t.link", timeout=5).stderr


def test_a_probes_shared_lock_does_not_make_a_server_fail(runtime_dir):
    import fcntl
    import threading

    lock = runtime_dir / "t.probe.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    threading.Timer(0.03, lambda: (fcntl.flock(fd, fcntl.LOCK_UN), os.close(fd))).start()
    s = seam.Server("t.probe", lambda r: r.value)
    s.close()


def test_seam_list_probes_do_not_disturb_python_servers_starting(runtime_dir):
    servers = []
    for i in range(20):
        listed = subprocess.Popen([str(SEAM), "list"], stdout=subprocess.DEVNULL)
        servers.append(seam.Server(f"t.many{i}", lambda r: r.value))
        listed.wait()
    for s in servers:
        s.close()


def test_a_server_removes_only_its_own_files(runtime_dir):
    s = seam.Server("t.own", lambda r: r.value)
    # A successor's files (as if ours had been removed and the name retaken).
    os.unlink(runtime_dir / "t.own.sock")
    (runtime_dir / "t.own.sock").write_text("successor")
    s.close()
    assert (runtime_dir / "t.own.sock").read_text() == "successor"


def test_a_client_talks_only_to_a_server_of_its_user_or_root(serve_thread):
    serve_thread(seam.Server("t.who", lambda r: r.value))
    with seam.connect("t.who") as conn:  # ours (and we may be root)
        assert conn.call(1) == 1
    with pytest.raises(seam.SeamError) as ei:
        seam.connect("t.who", expect_uid=os.geteuid() + 12345)
    assert ei.value.code == E.EACCES
