"""Small helpers shared by CLI commands: settings with readable errors, async entry points."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click
from pydantic import ValidationError

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


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def setup_logging(settings: Settings) -> None:
    """Plain or JSON-lines logs on stderr, once per process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _JsonFormatter()
        if settings.log_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
