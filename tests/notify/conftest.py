"""Fixtures: a loopback webhook receiver (see `tests/notify/_receiver.py`) and a URL nobody listens on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notify._receiver import Receiver, serve_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running loopback webhook receiver."""
    with serve_receiver() as state:
        yield state


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on (connections are refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"
