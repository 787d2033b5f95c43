"""Small helpers shared by CLI commands: settings with readable errors, async entry points."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from pythonjsonlogger.json import JsonFormatter

from envmon.settings import Settings

T = TypeVar("T")


def load_settings() -> Settings:
    """Settings, or a clear message and exit code 2 when they are invalid."""
    try:
        return Settings()
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        raise click.UsageError(f"invalid configuration:\n{exc}") from exc


def require_database(settings: Settings) -> str:
    if settings.database_url is None:
        raise click.UsageError(
            "ENVMON_DATABASE_URL is not set (e.g. postgresql://user@127.0.0.1:5432/envmon); "
            "`envmon run` starts an embedded database when it is unset"
        )
    return settings.database_url


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def run_until_signalled(component: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run a long-lived component; SIGTERM/SIGINT set its ``stop`` event so it can drain."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await component(stop)

    asyncio.run(main())


def json_formatter() -> logging.Formatter:
    """JSON lines for log shippers: UTC ISO 8601 ``ts`` with microseconds (log lines of one
    second stay ordered), ``level``, ``logger``, ``msg``, ``exc`` and every ``extra=`` field
    (station, batch size, ...), which a hand-written formatter used to drop."""
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        timestamp="ts",
        rename_fields={"levelname": "level", "name": "logger", "message": "msg",
                       "exc_info": "exc"},
        json_ensure_ascii=False,
    )


def setup_logging(settings: Settings) -> None:
    """Plain or JSON-lines logs on stderr, once per process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        json_formatter()
        if settings.log_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
