# SPDX-License-Identifier: MIT
"""Fixtures: a private runtime directory per test, the C tool and examples
as real processes (built from this repository; SEAM_BUILD names the build
tree, by default build/rel at the top of the repository)."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BUILD = Path(os.environ.get("SEAM_BUILD", ROOT / "build" / "rel"))
SEAM = BUILD / "tools" / "seam"
EXAMPLES = BUILD / "examples"


def pytest_configure(config):
    if not SEAM.is_file():
        raise pytest.UsageError(f"the seam tool is not built at {SEAM} (set SEAM_BUILD)")


@pytest.fixture(autouse=True)
def runtime_dir(tmp_path_factory, monkeypatch):
    # Short paths: a socket path has at most 107 bytes.
    d = tmp_path_factory.mktemp("rt", numbered=True)
    monkeypatch.setenv("SEAM_RUNTIME_DIR", str(d))
    return d


def wait_for_socket(path: Path, proc=None, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.is_socket():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before listening")
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


class Proc:
    """A child process whose output lines are collected as they come."""

    def __init__(self, args, **kw):
        self.args = [str(a) for a in args]
        self.p = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, **kw)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, predicate, timeout: float = 10.0) -> str:
        """The first output line (from now on) for which predicate holds."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.args}: no matching line; saw {self.seen[-10:]}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            if predicate(line):
                return line

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._t.join(5)


@pytest.fixture
def spawn():
    """spawn(args, wait_name=NAME) starts a process, waits for NAME's socket."""
    procs: list[Proc] = []

    def start(args, wait_name: str | None = None, **kw) -> Proc:
        p = Proc(args, **kw)
        procs.append(p)
        if wait_name is not None:
            wait_for_socket(Path(os.environ["SEAM_RUNTIME_DIR"]) / f"{wait_name}.sock", p.p)
        return p

    yield start
    for p in procs:
        p.stop()


@pytest.fixture
def c_listen(spawn):
    """c_listen(name, *flags): the C tool serving a name."""

    def start(name: str, *flags) -> Proc:
        return spawn([SEAM, "listen", name, *flags], wait_name=name)

    return start


def run_seam(*args, timeout: float = 20.0, **kw) -> subprocess.CompletedProcess:
    """Runs the C tool to completion."""
    return subprocess.run([str(SEAM), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)


def run_seam_async(*args, timeout: float = 20.0):
    """The C tool in a thread, for tests whose Python server runs in the
    test's own thread; .result() waits for it."""
    box = {}

    def go():
        box["r"] = run_seam(*args, timeout=timeout)

    t = threading.Thread(target=go, daemon=True)
    t.start()

    class Pending:
        def done(self):
            return not t.is_alive()

        def result(self):
            t.join(timeout + 5)
            return box["r"]

    return Pending()


@pytest.fixture
def serve_thread():
    """serve_thread(server): runs a blocking seam.Server in a thread until the
    test ends."""
    servers = []

    def start(server):
        stop = threading.Event()

        def loop():
            while not stop.is_set():
                server.process(0.05)

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        servers.append((server, stop, t))
        return server

    yield start
    for server, stop, t in servers:
        stop.set()
        t.join(5)
        server.close()
