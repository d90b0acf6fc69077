# SPDX-License-Identifier: MIT
"""Anonymous endpoints from Python: an endpoint of a C program, handed on
by a C broker, connected to directly (docs/protocol.md, "Anonymous
endpoints")."""

import os
import socket

import pytest

import seam
from seam import errors as E

from conftest import EXAMPLES

BROKER = EXAMPLES / "endpoint_broker"
pytestmark = pytest.mark.skipif(not BROKER.exists(), reason="endpoint_broker not built")


def test_python_connects_directly_to_a_c_endpoint_it_got_from_a_broker(spawn):
    spawn([BROKER, "broker", "py.broker"], wait_name="py.broker")
    vend = spawn([BROKER, "vend", "py.broker", "1"])
    vend.expect(lambda line: "serving" in line)
    with seam.connect("py.broker") as broker:
        reply = broker.call({"op": "take"})
    with reply["endpoint"] as endpoint, seam.connect_endpoint(endpoint) as a:
        answer = a.call({"text": "from python"})
    assert answer["a_pid"] == vend.p.pid
    # The endpoint's server saw this process, not the broker.
    vend.expect(lambda line: line.startswith(f"A: pid {os.getpid()} "))


def test_connect_endpoint_through_a_socket_that_is_no_endpoint_raises_enotendpoint():
    a, b = socket.socketpair()
    with a, b, pytest.raises(seam.SeamError) as err:
        seam.connect_endpoint(a.fileno())
    assert err.value.code == E.ENOTENDPOINT


def test_connect_endpoint_through_a_pipe_raises_enotendpoint():
    r, w = os.pipe()
    try:
        with pytest.raises(seam.SeamError) as err:
            seam.connect_endpoint(r)
        assert err.value.code == E.ENOTENDPOINT
    finally:
        os.close(r)
        os.close(w)
