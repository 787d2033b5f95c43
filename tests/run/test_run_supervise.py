"""``envmon run``'s own logic: which components start, how they are stopped, what is printed."""

from __future__ import annotations

import asyncio

import pytest

from app.run import (
    Component,
    ComponentUnavailable,
    components,
    ingest_ready,
    load,
    redact,
    supervise,
)
from envmon.health import HealthServer
from envmon.settings import Settings
from tests.conftest import free_port


@pytest.mark.parametrize(
    ("demo", "hj212", "expected"),
    [
        (False, False, ["ingest", "aggregator", "web"]),
        (True, False, ["ingest", "aggregator", "web", "alerts", "demo"]),
        (False, True, ["ingest", "aggregator", "web", "hj212-gateway"]),
        (True, True, ["ingest", "aggregator", "web", "hj212-gateway", "alerts", "demo"]),
    ],
)
def test_components_of_a_run(demo: bool, hj212: bool, expected: list[str]) -> None:
    settings = Settings.model_validate({"hj212": {"enabled": hj212}})
    plan = components(settings, demo)
    assert [c.name for c in plan] == expected
    assert [c.name for c in plan if c.after_ingest] == (["demo"] if demo else [])


def test_every_planned_component_is_importable() -> None:
    everything = Settings.model_validate({"hj212": {"enabled": True}})
    for component in components(everything, demo=True):
        assert callable(load(component))


def test_a_missing_component_is_a_clear_error() -> None:
    expected = r"'alerts' \(alerts\.nowhere:run\) is not available"
    with pytest.raises(ComponentUnavailable, match=expected):
        load(Component("alerts", "alerts.nowhere:run"))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://envmon:s3cret@db:5432/envmon", "postgresql://envmon:***@db:5432/envmon"),
        ("postgresql://postgres@127.0.0.1/envmon", "postgresql://postgres@127.0.0.1/envmon"),
        ("mqtt://u:p%40ss@broker:1883", "mqtt://u:***@broker:1883"),
        ("mqtt://broker:1883", "mqtt://broker:1883"),
    ],
)
def test_urls_are_printed_without_passwords(url: str, shown: str) -> None:
    assert redact(url) == shown


async def _obedient(stop: asyncio.Event, stopped: list[str], name: str) -> None:
    await stop.wait()
    await asyncio.sleep(0.01)  # a short drain
    stopped.append(name)


async def test_stop_drains_every_component() -> None:
    stop = asyncio.Event()
    stopped: list[str] = []
    tasks = {n: asyncio.create_task(_obedient(stop, stopped, n), name=n) for n in ("a", "b")}
    asyncio.get_running_loop().call_soon(stop.set)
    assert await supervise(tasks, stop, drain_seconds=5) is True
    assert sorted(stopped) == ["a", "b"]


async def test_a_failing_component_stops_the_others_and_fails_the_run() -> None:
    stop = asyncio.Event()
    stopped: list[str] = []

    async def broken() -> None:
        raise RuntimeError("database gone for good")

    tasks = {"ok": asyncio.create_task(_obedient(stop, stopped, "ok"), name="ok"),
             "broken": asyncio.create_task(broken(), name="broken")}
    assert await supervise(tasks, stop, drain_seconds=5) is False
    assert stop.is_set()
    assert stopped == ["ok"]


async def test_a_component_that_ignores_stop_is_cancelled_after_the_drain_limit() -> None:
    stop = asyncio.Event()
    stubborn = asyncio.create_task(asyncio.sleep(3600), name="stubborn")
    asyncio.get_running_loop().call_soon(stop.set)
    assert await supervise({"stubborn": stubborn}, stop, drain_seconds=0.05) is False
    assert stubborn.cancelled()


async def test_ingest_ready_follows_the_readiness_probe() -> None:
    ready = False
    server = HealthServer("127.0.0.1", free_port(), ready=lambda: ready)
    port = await server.start()
    settings = Settings(metrics_host="127.0.0.1", metrics_port=port)
    stop = asyncio.Event()
    try:
        assert await ingest_ready(settings, stop, timeout_s=0.5) is False
        ready = True
        assert await ingest_ready(settings, stop, timeout_s=5) is True
    finally:
        await server.close()


async def test_ingest_ready_does_not_wait_without_a_probe_port() -> None:
    stop = asyncio.Event()
    assert await ingest_ready(Settings(metrics_port=0), stop, timeout_s=60) is False
