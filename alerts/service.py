"""``envmon alerts run`` (and the ``alerts`` component of ``envmon run``): the evaluator loop
beside the delivery engineer's sender loop, in one event loop.

The evaluator wakes on ``NOTIFY envmon_dirty`` (an ingest batch committed) and
``NOTIFY envmon_alerts_feed`` (an aggregator batch), and at least every ``tick_seconds`` for
the wall-clock duties. Transient database errors are retried; nothing is lost meanwhile,
since the feed rows wait in their table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from importlib import resources
from pathlib import Path

from alerts import feed
from alerts.delivery import run_sender
from alerts.engine import Engine
from alerts.metrics import EngineMetrics
from alerts.receivers import build
from alerts.rules import RuleSet, load_rules
from envmon import db
from envmon.settings import Settings

log = logging.getLogger(__name__)


def demo_rules_file() -> Path:
    """The starter rules for the Pingliang plan (``envmon run --demo``), shipped in the
    package so an installed envmon has them; deploy/alerts/pingliang.toml links to it."""
    return Path(str(resources.files("alerts").joinpath("pingliang-rules.toml")))




async def evaluate(url: str, engine: Engine, stop: asyncio.Event, tick_seconds: float,
                   retry_seconds: float) -> None:
    """The evaluator loop until ``stop``."""
    while not stop.is_set():
        try:
            async with await db.connect(url, autocommit=True) as listener, \
                    await db.connect(url) as conn:
                await listener.execute(f"LISTEN {feed.DIRTY_CHANNEL}")
                await listener.execute(f"LISTEN {feed.CHANNEL}")
                log.info("alerts: evaluating %d rules", len(engine.ruleset.rules))
                while not stop.is_set():
                    result = await engine.cycle(conn)
                    await engine.count_open(conn)
                    if result.notifications:
                        log.info("alerts: %d notifications queued", len(result.notifications))
                    if result.batches >= engine.batch_limit:
                        continue  # a backlog: keep going
                    await db.wait_notify(listener, stop, tick_seconds)
        except Exception as exc:
            if not db.is_transient(exc):
                engine.metrics.errors.labels("permanent").inc()
                raise
            engine.metrics.errors.labels("transient").inc()
            log.warning("alerts: database error, retrying: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), retry_seconds)


async def run_rules(settings: Settings, stop: asyncio.Event, ruleset: RuleSet) -> None:
    """Evaluator and sender for ``ruleset`` until ``stop``."""
    if settings.database_url is None:
        raise ValueError("alerts need settings.database_url")
    url = settings.database_url
    receivers = {name: build(cfg) for name, cfg in ruleset.receivers.items()}
    engine = Engine(ruleset, EngineMetrics.of(), settings.alerts.batch_limit)
    sender = asyncio.create_task(run_sender(url, receivers, ruleset.delivery, stop),
                                 name="alerts-sender")
    try:
        await evaluate(url, engine, stop, settings.alerts.tick_seconds,
                       settings.alerts.retry_seconds)
    finally:
        if not stop.is_set():  # the evaluator failed: the sender goes with it
            sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """The component: the rules file of the settings (``[alerts] rules_file``)."""
    path = settings.alerts.rules_file
    if path is None:
        raise ValueError("set ENVMON_ALERTS__RULES_FILE (or [alerts] rules_file)")
    await run_rules(settings, stop, load_rules(path))


async def run_demo(settings: Settings, stop: asyncio.Event) -> None:
    """The component in ``envmon run --demo``: the configured rules or the Pingliang starter."""
    await run_rules(settings, stop, load_rules(settings.alerts.rules_file or demo_rules_file()))
