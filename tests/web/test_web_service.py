"""Where the API listens: the default port steps aside when taken, an explicit one does not."""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterator

import pytest

from envmon.settings import ApiSettings, Settings
from web.service import bind, url_of

DEFAULT_PORT = ApiSettings().port


@contextlib.contextmanager
def default_port_taken() -> Iterator[None]:
    """Hold the default port (if something else already holds it, so much the better)."""
    try:
        holder = socket.create_server(("127.0.0.1", DEFAULT_PORT))
    except OSError:
        yield
        return
    with holder:
        yield


def test_default_port_falls_back_to_a_free_one() -> None:
    with default_port_taken(), bind(Settings()) as sock:
        port = sock.getsockname()[1]
        assert port not in (0, DEFAULT_PORT)
        assert url_of(Settings(), sock) == f"http://127.0.0.1:{port}/"


def test_an_explicit_port_that_is_taken_is_an_error() -> None:
    with default_port_taken(), pytest.raises(OSError) as caught:
        bind(Settings.model_validate({"api": {"port": DEFAULT_PORT}}))
    assert caught.value.errno == errno.EADDRINUSE


@pytest.mark.parametrize(("api", "expected"), [
    ({"host": "::1", "port": 0}, "http://[::1]:{port}/"),
    ({"host": "0.0.0.0", "port": 0, "token": "t"}, "http://127.0.0.1:{port}/"),
    ({"port": 0, "public_url": "https://envmon.example.org/"}, "https://envmon.example.org/"),
])
def test_printed_url(api: dict[str, object], expected: str) -> None:
    settings = Settings.model_validate({"api": api})
    with bind(settings) as sock:
        assert url_of(settings, sock) == expected.format(port=sock.getsockname()[1])
