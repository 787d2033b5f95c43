"""``envmon alerts``: check a rules file, run the engine, list/ack episodes, silences, outbox."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from alerts import state
from alerts.engine import one_line
from alerts.rules import RulesError, load_rules, parse_duration
from envmon import db
from envmon.clikit import load_settings, require_database, run_async, run_until_signalled


@click.group("alerts")
def alerts_group() -> None:
    """Alert rules, episodes, silences and the notification outbox (docs/alerts.md)."""


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


@alerts_group.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def check(file: Path) -> None:
    """Validate a rules file; errors name the line (exit 1 when invalid)."""
    try:
        ruleset = load_rules(file)
    except RulesError as exc:
        for err in exc.errors:
            click.echo(err, err=True)
        raise SystemExit(1) from exc
    click.echo(f"{file}: {len(ruleset.rules)} rules, {len(ruleset.receivers)} receivers: OK")
    for rule in ruleset.rules:
        click.echo(f"  {rule.name:<32} {rule.kind:<16} {rule.severity:<8} "
                   f"-> {', '.join(rule.receivers) or '(no receivers)'}")


@alerts_group.command("run")
@click.option("--rules", "rules_file", type=click.Path(path_type=Path),
              help="rules file (default: ENVMON_ALERTS__RULES_FILE)")
def run(rules_file: Path | None) -> None:
    """Evaluate rules on committed data and deliver notifications until SIGTERM."""
    from alerts.service import run_rules
    from envmon.clikit import setup_logging
    from envmon.health import HealthServer

    settings = load_settings()
    require_database(settings)
    setup_logging(settings)
    path = rules_file or settings.alerts.rules_file
    if path is None:
        raise click.UsageError("give --rules FILE or set ENVMON_ALERTS__RULES_FILE")
    try:
        ruleset = load_rules(path)
    except RulesError as exc:
        raise click.ClickException("invalid rules file:\n" + "\n".join(exc.errors)) from exc

    async def component(stop: asyncio.Event) -> None:
        health = None
        if settings.metrics_port:
            health = HealthServer(settings.metrics_host, settings.metrics_port, lambda: True)
            await health.start()
        try:
            await run_rules(settings, stop, ruleset)
        finally:
            if health is not None:
                await health.close()

    run_until_signalled(component)


@alerts_group.command("list")
@click.option("--all", "include_closed", is_flag=True, help="also resolved/cancelled episodes")
@click.option("--limit", type=int, default=200, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def list_(include_closed: bool, limit: int, fmt: str) -> None:
    """Open episodes (newest change first)."""
    url = require_database(load_settings())

    async def go() -> list[state.Episode]:
        async with await db.connect(url) as conn:
            return await state.list_episodes(conn, include_closed, limit)

    episodes = run_async(go())
    if fmt == "json":
        click.echo(json.dumps([asdict(e) for e in episodes], default=_json, ensure_ascii=False))
        return
    for ep in episodes:
        click.echo(one_line(ep))
    click.echo(f"{len(episodes)} episodes")


@alerts_group.command("ack")
@click.argument("episode_id", type=int)
@click.option("--by", default="cli", show_default=True, help="who acknowledges")
def ack(episode_id: int, by: str) -> None:
    """Acknowledge an open episode: its escalation stops."""
    url = require_database(load_settings())

    async def go() -> bool:
        async with await db.connect(url) as conn:
            done = await state.ack(conn, episode_id, by)
            await conn.commit()
            return done

    if not run_async(go()):
        raise click.ClickException(f"no open, unacknowledged episode #{episode_id}")
    click.echo(f"episode #{episode_id} acknowledged by {by}")


def _labels(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"labels are KEY=VALUE, got {item!r}")
        out[key] = value
    return out


@alerts_group.command("silence")
@click.option("--station", "subject_id", help="station id (or region city/county)")
@click.option("--rule", help="rule name")
@click.option("--label", "labels", multiple=True, help="KEY=VALUE (repeatable, all must match)")
@click.option("--for", "duration", help="length, e.g. 2h (or give --until)")
@click.option("--until", "until", help="end time, ISO 8601 with offset")
@click.option("--comment", default="", help="why (shown in the list)")
@click.option("--by", default="cli", show_default=True)
def silence(subject_id: str | None, rule: str | None, labels: tuple[str, ...],
            duration: str | None, until: str | None, comment: str, by: str) -> None:
    """Hold back notifications of matching episodes until an end time (maintenance)."""
    if (duration is None) == (until is None):
        raise click.UsageError("give exactly one of --for or --until")
    try:
        ends = (datetime.now(UTC) + parse_duration(duration) if duration
                else datetime.fromisoformat(str(until)))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if ends.tzinfo is None:
        raise click.BadParameter("--until needs a UTC offset, e.g. 2026-03-01T18:00+08:00")
    matchers = _labels(labels)
    url = require_database(load_settings())

    async def go() -> int:
        async with await db.connect(url) as conn:
            sid = await state.add_silence(conn, subject_id=subject_id, rule=rule,
                                          labels=matchers, ends_at=ends, starts_at=None,
                                          created_by=by, comment=comment)
            await conn.commit()
            return sid

    try:
        sid = run_async(go())
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"silence #{sid} until {ends.isoformat()}")


@alerts_group.command("silences")
@click.option("--all", "include_expired", is_flag=True, help="also ended silences")
def silences(include_expired: bool) -> None:
    """Silences in force (or all)."""
    url = require_database(load_settings())

    async def go() -> list[state.Silence]:
        async with await db.connect(url) as conn:
            return await state.silences(conn, None, include_expired)

    rows = run_async(go())
    for s in rows:
        match = ", ".join([*(f"station={s.subject_id}",) * bool(s.subject_id),
                           *(f"rule={s.rule}",) * bool(s.rule),
                           *(f"{k}={v}" for k, v in s.labels.items())])
        click.echo(f"#{s.silence_id} {s.starts_at:%Y-%m-%d %H:%M} -> {s.ends_at:%Y-%m-%d %H:%M}"
                   f" {match} by {s.created_by} {s.comment}")
    click.echo(f"{len(rows)} silences")


@alerts_group.command("unsilence")
@click.argument("silence_id", type=int)
def unsilence(silence_id: int) -> None:
    """End a silence now (reminders and held-back notifications resume)."""
    url = require_database(load_settings())

    async def go() -> bool:
        async with await db.connect(url) as conn:
            done = await state.end_silence(conn, silence_id)
            await conn.commit()
            return done

    if not run_async(go()):
        raise click.ClickException(f"no silence #{silence_id} in force")
    click.echo(f"silence #{silence_id} ended")


@alerts_group.command("outbox")
@click.option("--status", type=click.Choice(["pending", "sent", "dead"]))
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def outbox_cmd(status: str | None, limit: int, fmt: str) -> None:
    """Notifications in the outbox (dead ones: --status dead)."""
    from alerts.outbox import OutboxRow, list_rows

    url = require_database(load_settings())

    async def go() -> list[OutboxRow]:
        async with await db.connect(url) as conn:
            return await list_rows(conn, status, limit)

    rows = run_async(go())
    if fmt == "json":
        click.echo(json.dumps([asdict(r) for r in rows], default=_json, ensure_ascii=False))
        return
    for row in rows:
        click.echo(f"{row.id:>7} {row.status:<7} {row.event:<10} {row.receiver:<16} "
                   f"attempts={row.attempts} {row.idempotency_key} {row.last_error or ''}")
    click.echo(f"{len(rows)} rows")
