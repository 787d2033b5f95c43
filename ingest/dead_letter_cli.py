"""``envmon dead-letter``: inspect and replay rejected input."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from envmon import db
from envmon.clikit import load_settings, require_database, run_async
from envmon.stations import StationRegistry
from ingest import dead_letter
from ingest.hj212.overrides import load_unit_overrides
from ingest.router import Router, station_decoders


@click.group("dead-letter")
def dead_letter_group() -> None:
    """Rejected messages, kept with the reason they were refused."""


_filters = [
    click.option("--reason", help="only this reason (e.g. unknown_station)"),
    click.option("--station", "station_id", help="only this station id"),
    click.option("--id", "ids", type=int, multiple=True, help="only these ids (repeatable)"),
    click.option("--limit", type=int, default=100, show_default=True),
]


F = TypeVar("F", bound=Callable[..., Any])


def _with_filters(f: F) -> F:
    for opt in reversed(_filters):
        f = opt(f)
    return f


@dead_letter_group.command("list")
@_with_filters
@click.option("--all", "include_replayed", is_flag=True, help="include replayed entries")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def list_(reason: str | None, station_id: str | None, ids: tuple[int, ...], limit: int,
          include_replayed: bool, fmt: str) -> None:
    """List dead-lettered messages (pending replay unless --all)."""
    url = require_database(load_settings())

    async def go() -> list[dead_letter.DeadLetterRow]:
        async with await db.connect(url) as conn:
            return await dead_letter.select(conn, reason=reason, station_id=station_id,
                                            ids=list(ids), include_replayed=include_replayed,
                                            limit=limit)

    rows = run_async(go())
    if fmt == "json":
        click.echo(json.dumps([
            {"id": r.dead_letter_id, "received_at": r.received_at.isoformat(),
             "transport": r.transport, "topic": r.topic, "station_id": r.station_id,
             "reason": r.reason, "detail": r.detail, "payload_bytes": len(r.payload),
             "payload_head": bytes(r.payload[:200]).decode("utf-8", "replace"),
             "replay_result": r.replay_result, "repeats": r.repeats} for r in rows],
            ensure_ascii=False, indent=1))
        return
    for r in rows:
        head = bytes(r.payload[:60]).decode("utf-8", "replace").replace("\n", " ")
        times = f" (×{r.repeats})" if r.repeats > 1 else ""
        click.echo(f"{r.dead_letter_id:>8} {r.received_at:%Y-%m-%d %H:%M:%S} {r.reason:<22} "
                   f"{r.topic[:40]:<40} {r.detail[:80]}{times}  [{len(r.payload)} B: "
                   f"{head!r}]")
    click.echo(f"{len(rows)} entries")


@dead_letter_group.command("replay")
@_with_filters
def replay(reason: str | None, station_id: str | None, ids: tuple[int, ...], limit: int) -> None:
    """Decode pending dead letters again (e.g. after registering a station) and store what
    now passes; the others keep their place with the new reason."""
    settings = load_settings()
    url = require_database(settings)

    async def go() -> dead_letter.ReplayResult:
        async with await db.connect(url) as conn:
            registry = StationRegistry()
            await registry.refresh(conn)
            decoders, hj212 = station_decoders(registry)
            hj212.units = await load_unit_overrides(conn)
            router = Router(settings.topic_prefix, registry, settings.ingest.max_payload_bytes,
                            decoders)
            async with conn.transaction():
                rows = await dead_letter.select(conn, reason=reason, station_id=station_id,
                                                ids=list(ids), limit=limit, lock=True)
                return await dead_letter.replay(conn, router, rows)

    res = run_async(go())
    st = res.stats
    click.echo(f"replayed {res.replayed}, still rejected {res.still_rejected}"
               + (f"; readings: {st.inserted} new, {st.duplicates} duplicate, "
                  f"{st.revised} revised" if st else ""))
