"""``envmon run``: every component in one process and one event loop.

The components are the same coroutines the separate commands run (``run(settings, stop)``)
and they still talk through the database tables, so moving one into its own process changes
deployment, not code. What is not configured is started here: an embedded MQTT broker when
``ENVMON_MQTT_URL`` is unset, an embedded PostgreSQL when ``ENVMON_DATABASE_URL`` is unset.
SIGTERM or Ctrl-C sets ``stop``; components drain within a time limit, then the embedded
services stop and the command exits 0 (1 when a component failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from envmon import db, stations
from envmon.clikit import load_settings, setup_logging
from envmon.embedded import broker as embedded_broker
from envmon.embedded import postgres as embedded_postgres
from envmon.embedded.datadir import DataDirBusy, RunLock, default_data_dir
from envmon.settings import Settings

log = logging.getLogger(__name__)

ComponentFn = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]
DRAIN_SECONDS = 30.0


READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Component:
    name: str
    target: str  # "module:function" with the signature of ComponentFn
    after_ingest: bool = False  # start once ingest answers its readiness probe


class ComponentUnavailable(click.ClickException):
    """A component's module is not installed or not importable."""


def components(settings: Settings, demo: bool) -> list[Component]:
    """What this run starts, in start order."""
    out = [Component("ingest", "ingest.service:run"),
           Component("aggregator", "aggregator.service:run"),
           Component("web", "web.service:run")]
    if settings.hj212.enabled:
        out.append(Component("hj212-gateway", "ingest.hj212.service:run"))
    if settings.alerts.rules_file is not None or demo:  # alerts: rules file, or the demo's
        out.append(Component("alerts", "alerts.service:run" if settings.alerts.rules_file
                             else "alerts.service:run_demo"))
    if demo:
        # The demo's first minute is a burst of backfill; a broker drops what it gets before
        # the consumer's first subscription exists, so the demo waits for ingest.
        out.append(Component("demo", "simulators.demo:run", after_ingest=True))
    return out


def load(component: Component) -> ComponentFn:
    """Import a component lazily; a missing one fails the run before anything starts."""
    module_name, _, attr = component.target.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ComponentUnavailable(
            f"component {component.name!r} ({component.target}) is not available: {exc}"
        ) from exc
    if not callable(fn):
        raise ComponentUnavailable(f"{component.target} is not callable")
    return fn  # type: ignore[no-any-return]


@dataclass
class Resolved:
    """The settings the components get, and a human account of where things run."""

    settings: Settings
    notes: list[str]


@contextlib.asynccontextmanager
async def services(
    settings: Settings, data_dir: Path, mqtt_port: int | None
) -> AsyncIterator[Resolved]:
    """Start the embedded broker and database for whatever is not configured; stop them after."""
    notes: list[str] = []
    update: dict[str, object] = {}
    async with contextlib.AsyncExitStack() as stack:
        if settings.database_url is None:
            try:
                stack.enter_context(RunLock(data_dir))
            except DataDirBusy as exc:
                raise click.ClickException(str(exc)) from exc
            pg = await asyncio.to_thread(embedded_postgres.start, data_dir / "postgres")
            stack.push_async_callback(asyncio.to_thread, pg.stop)
            update["database_url"] = pg.url
            if pg.recovered_orphan_pid is not None:
                notes.append(f"stopped a database server left running by an earlier run "
                             f"(pid {pg.recovered_orphan_pid})")
            notes.append(f"database  embedded PostgreSQL, data in {pg.pgdata}")
            notes.append(f"          psql '{pg.url}'")
        else:
            notes.append(f"database  {redact(settings.database_url)} (ENVMON_DATABASE_URL)")
        if settings.mqtt_url is None:
            mqtt = await embedded_broker.start(mqtt_port, settings.ingest.session_expiry_seconds)
            stack.push_async_callback(mqtt.stop)
            update["mqtt_url"] = mqtt.url
            update["mqtt_protocol"] = "3.1.1"  # amqtt speaks MQTT 3.1.1 only
            notes.append(f"broker    embedded MQTT 3.1.1 broker at {mqtt.url} (this process)")
        else:
            notes.append(f"broker    {redact(settings.mqtt_url)} (ENVMON_MQTT_URL)")
        if update:
            notes.append("to use your own services instead, set ENVMON_DATABASE_URL="
                         "postgresql://user@host:5432/envmon and ENVMON_MQTT_URL=mqtt://host:1883")
        yield Resolved(settings.model_copy(update=update), notes)


def redact(url: str) -> str:
    """A URL without its password, for printing."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}"


async def _migrate(settings: Settings) -> list[str]:
    assert settings.database_url is not None
    async with await db.connect(settings.database_url) as conn:
        applied = await db.migrate(conn, settings.storage)
        await conn.commit()
        return applied


async def _import_demo_stations(settings: Settings) -> int:
    """``envmon stations import`` of the demo set, before ingest starts: readings of a station
    that is not registered yet are dead-lettered, not kept for later."""
    from simulators.demo import pingliang_file

    assert settings.database_url is not None
    parsed = stations.parse_station_file(pingliang_file())
    async with await db.connect(settings.database_url) as conn:
        n = await stations.upsert_stations(conn, parsed)
        await conn.commit()
    return n


async def ingest_ready(settings: Settings, stop: asyncio.Event, timeout_s: float) -> bool:
    """Poll ingest's ``/readyz`` (subscribed and database reachable) until it answers 200."""
    if settings.metrics_port == 0:
        log.warning("ENVMON_METRICS_PORT=0: cannot probe ingest readiness; not waiting")
        return False
    host = "127.0.0.1" if settings.metrics_host in ("0.0.0.0", "") else settings.metrics_host
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not stop.is_set() and loop.time() < deadline:
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(2):
                reader, writer = await asyncio.open_connection(host, settings.metrics_port)
                writer.write(b"GET /readyz HTTP/1.1\r\nHost: envmon\r\n\r\n")
                status = await reader.readline()
                writer.close()
                await writer.wait_closed()
                if status.split()[1:2] == [b"200"]:
                    return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
    if not stop.is_set():
        log.warning("ingest not ready after %.0f s; starting the rest anyway", timeout_s)
    return False


def _start(
    component: Component, fn: ComponentFn, settings: Settings, stop: asyncio.Event
) -> asyncio.Task[None]:
    async def after_ingest() -> None:
        await ingest_ready(settings, stop, READY_TIMEOUT_S)
        if not stop.is_set():
            await fn(settings, stop)

    coro = after_ingest() if component.after_ingest else fn(settings, stop)
    return asyncio.create_task(coro, name=component.name)


def _install_signals(stop: asyncio.Event, on_second: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()

    def handler() -> None:
        if stop.is_set():
            on_second()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # SIGHUP: terminal closed
        loop.add_signal_handler(sig, handler)


async def supervise(
    tasks: dict[str, asyncio.Task[None]], stop: asyncio.Event, drain_seconds: float
) -> bool:
    """Wait for ``stop`` or the first component to end; then drain all. True when all went well.

    A component that returns or fails while ``stop`` is not set takes the others down with it:
    a half-running pipeline (ingest without its aggregator, say) would look healthy and lie.
    """
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait([stopper, *tasks.values()], return_when=asyncio.FIRST_COMPLETED)
    ok = True
    if not stop.is_set():
        for name, task in tasks.items():
            if task.done():
                exc = None if task.cancelled() else task.exception()
                log.error("component %s ended before stop was asked%s", name,
                          f": {exc!r}" if exc else "", exc_info=exc)
                ok = False
        stop.set()
    await stopper
    done, pending = await asyncio.wait(tasks.values(), timeout=drain_seconds)
    for task in pending:
        log.warning("component %s did not stop within %.0f s; cancelling", task.get_name(),
                    drain_seconds)
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error("component %s failed while stopping", task.get_name(),
                      exc_info=task.exception())
            ok = False
    return ok and not pending


async def _summary(settings: Settings, stop: asyncio.Event) -> None:
    """The live table is a view: when it breaks, say so and keep the pipeline running."""
    from app import live_summary

    try:
        await live_summary.run(settings, stop)
    except Exception:
        log.exception("live summary stopped (the components keep running)")


async def run_all(
    settings: Settings, *, demo: bool, data_dir: Path, mqtt_port: int | None,
    summary: bool, drain_seconds: float = DRAIN_SECONDS,
) -> bool:
    """The whole of ``envmon run``; returns True on a clean stop."""
    plan = components(settings, demo)
    loaded = [(c, load(c)) for c in plan]
    stop = asyncio.Event()
    tasks: dict[str, asyncio.Task[None]] = {}

    def cancel_all() -> None:
        log.warning("second signal: cancelling components now")
        for task in tasks.values():
            task.cancel()

    _install_signals(stop, cancel_all)
    async with services(settings, data_dir, mqtt_port) as resolved:
        click.echo("envmon run\n  " + "\n  ".join(resolved.notes), err=True)
        applied = await _migrate(resolved.settings)
        log.info("schema ready (%s)", ", ".join(applied) or "up to date")
        if demo:
            log.info("demo: %d stations imported", await _import_demo_stations(resolved.settings))
        if stop.is_set():
            return True
        for component, fn in loaded:
            tasks[component.name] = _start(component, fn, resolved.settings, stop)
        click.echo(f"  running   {', '.join(tasks)} (Ctrl-C to stop)", err=True)
        extra: list[asyncio.Task[None]] = []
        if summary:
            extra.append(asyncio.create_task(_summary(resolved.settings, stop), name="summary"))
        try:
            ok = await supervise(tasks, stop, drain_seconds)
        finally:
            stop.set()
            await asyncio.gather(*extra, return_exceptions=True)
    click.echo("envmon run: stopped" + ("" if ok else " (with errors, see above)"), err=True)
    return ok


@click.command("run")
@click.option("--demo", is_flag=True,
              help="Also play the simulated Pingliang station set and show a live summary.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the embedded database keeps its files "
                   "[default: $XDG_DATA_HOME/envmon or ~/.local/share/envmon].")
@click.option("--mqtt-port", type=click.IntRange(1, 65535), default=None,
              help="Port of the embedded broker [default: 1883 if free, else any free port].")
@click.option("--summary/--no-summary", default=None,
              help="Live summary table [default: on with --demo].")
def run(demo: bool, data_dir: Path | None, mqtt_port: int | None, summary: bool | None) -> None:
    """Run ingest, aggregator (and the demo) in one process.

    Without ENVMON_MQTT_URL an embedded MQTT broker runs in-process on 127.0.0.1; without
    ENVMON_DATABASE_URL an embedded PostgreSQL runs with its data in the user's data dir.
    """
    settings = load_settings()
    setup_logging(settings)
    if settings.log_level != "DEBUG":  # amqtt and its state machine log every connect
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        ok = asyncio.run(run_all(
            settings, demo=demo, data_dir=data_dir or default_data_dir(), mqtt_port=mqtt_port,
            summary=demo if summary is None else summary,
        ))
    except (embedded_postgres.EmbeddedPostgresError,
            embedded_broker.EmbeddedBrokerError) as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(0 if ok else 1)
