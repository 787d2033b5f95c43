"""Serve the API and status page: as a component of ``envmon run`` or as ``envmon api``.

uvicorn runs on the caller's event loop; its own signal handling is switched off so that
``envmon run``'s handlers (drain every component, then stop the embedded services) stay in
charge. The socket is bound here, so the printed URL is the real one even when the default
port was taken and another was chosen.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Iterator

import click
import uvicorn

from envmon.clikit import load_settings, require_database, run_until_signalled, setup_logging
from envmon.settings import InsecureBinding, Settings
from web.app import create_app

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the owner of the event loop handles signals and sets should_exit


def bind(settings: Settings) -> socket.socket:
    """The listening socket; the default port falls back to any free one when taken."""
    api = settings.api
    family = socket.AF_INET6 if ":" in api.host else socket.AF_INET
    try:
        return socket.create_server((api.host, api.port), family=family)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE or "port" in api.model_fields_set:
            raise
    log.warning("port %d is taken; the status page uses a free port instead", api.port)
    return socket.create_server((api.host, 0), family=family)


def url_of(settings: Settings, sock: socket.socket) -> str:
    if settings.api.public_url:
        return settings.api.public_url
    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set (the ``envmon run`` component)."""
    assert settings.database_url is not None
    token = settings.api.checked_token()
    app = create_app(settings.database_url, token, settings.api.pool_size)
    sock = bind(settings)
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                    access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="web-server")
    try:
        listening = asyncio.ensure_future(server.listening.wait())
        await asyncio.wait([serving, listening], return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if server.started:
            url = url_of(settings, sock)
            click.echo(f"  status    {url}  (API {url}api/v1, docs {url}docs)", err=True)
            log.info("status page and API on %s", url)
        await asyncio.wait([serving, asyncio.ensure_future(stop.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        await serving
        sock.close()


@click.command("api")
def api() -> None:
    """Serve the HTTP JSON API and the status page (read-only).

    ENVMON_API__HOST/PORT choose the listener (127.0.0.1:8090); any other than a loopback
    address needs ENVMON_API__TOKEN or ENVMON_API__TOKEN_FILE (docs/web.md).
    """
    settings = load_settings()
    setup_logging(settings)
    require_database(settings)
    try:
        settings.api.checked_token()
    except (InsecureBinding, OSError) as exc:
        raise click.UsageError(str(exc)) from exc
    run_until_signalled(lambda stop: run(settings, stop))
