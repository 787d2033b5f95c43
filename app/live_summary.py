"""The terminal summary of ``envmon run --demo``: a table that refreshes, not a log flood.

Everything shown is read back from the database, the way an operator's dashboard would see
it: insert counters of the readings table (its statistics, so no table scan), stations heard
from in the last five minutes, and today's indicators from the aggregator's tables
(``air_station_daily``/``_hourly``, ``water_station_daily``, ``noise_station_daily``; see
envmon/migrations/0010_aggregator.sql). Before those tables exist the summary falls back to
the latest raw readings. On a terminal the table redraws in place with log lines scrolling
above it; otherwise a snapshot is printed once a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from rich.console import Console, Group
from rich.live import Live
from rich.logging import RichHandler
from rich.table import Table

from envmon import db
from envmon.beijing_time import BEIJING
from envmon.settings import Settings

log = logging.getLogger(__name__)

RATE_WINDOW_S = 30.0
INDICATOR_TABLES = ("air_station_daily", "air_station_hourly", "water_station_daily",
                    "noise_station_daily")

Row = dict[str, Any]


@dataclass
class Snapshot:
    """One refresh of the summary."""

    at: datetime
    day: date
    readings_total: int
    readings_per_s: float | None
    online: dict[str, tuple[int, int]]  # kind -> (online, registered)
    air: list[Row] = field(default_factory=list)
    water: list[Row] = field(default_factory=list)
    noise: list[Row] = field(default_factory=list)
    raw: list[Row] = field(default_factory=list)  # latest readings when no indicator tables
    indicators: bool = True
    alerts: list[Row] = field(default_factory=list)  # open alert episodes (alerts/state.py)


class RateMeter:
    """Readings per second from a cumulative counter, over a sliding window of samples."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, at: float, total: int) -> float | None:
        self._samples.append((at, total))
        while len(self._samples) > 2 and at - self._samples[1][0] >= self.window_s:
            self._samples.popleft()
        first_at, first_total = self._samples[0]
        if at - first_at <= 0:
            return None
        return max(0.0, (total - first_total) / (at - first_at))


_INSERTED_SQL = """
SELECT coalesce(sum(s.n_tup_ins), 0)::bigint
FROM pg_stat_user_tables s
WHERE s.relid = 'readings'::regclass
   OR s.relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'readings'::regclass)
"""

_ONLINE_SQL = """
SELECT s.kind, count(*) AS registered,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM readings r
           WHERE r.station_id = s.station_id
             AND r.ts >= now() - interval '3 hours'
             AND r.received_at >= now() - interval '5 minutes')) AS online
FROM stations s GROUP BY s.kind ORDER BY s.kind
"""

_AIR_SQL = """
SELECT s.station_id, s.name, d.aqi AS day_aqi, d.category AS day_category,
       d.primary_pollutants AS day_primary, d.complete, y.aqi AS yesterday_aqi,
       h.aqi AS hour_aqi, h.ts AS hour_ts
FROM stations s
LEFT JOIN air_station_daily d ON d.station_id = s.station_id AND d.day = %(day)s
LEFT JOIN air_station_daily y ON y.station_id = s.station_id AND y.day = %(day)s - 1
LEFT JOIN LATERAL (
    SELECT aqi, ts FROM air_station_hourly h
    WHERE h.station_id = s.station_id ORDER BY ts DESC LIMIT 1) h ON true
WHERE s.kind = 'air' ORDER BY s.station_id
"""

_WATER_SQL = """
SELECT s.station_id, s.name, s.water_target_class, d.water_class, d.class_label, d.compliant
FROM stations s
LEFT JOIN water_station_daily d ON d.station_id = s.station_id AND d.day = %(day)s
WHERE s.kind = 'water' ORDER BY s.station_id
"""

_NOISE_SQL = """
SELECT s.station_id, s.name, s.noise_zone, d.day, d.ld, d.ln, d.day_ok, d.night_ok
FROM stations s
LEFT JOIN LATERAL (
    SELECT * FROM noise_station_daily n
    WHERE n.station_id = s.station_id AND n.day <= %(day)s
      AND (n.ld IS NOT NULL OR n.ln IS NOT NULL)
    ORDER BY n.day DESC LIMIT 1) d ON true
WHERE s.kind = 'noise' ORDER BY s.station_id
"""

_RAW_SQL = """
SELECT DISTINCT ON (r.station_id) r.station_id, s.kind, r.parameter, r.ts, r.value
FROM readings r JOIN stations s USING (station_id)
WHERE r.ts >= now() - interval '3 hours'
ORDER BY r.station_id, r.ts DESC, r.parameter
"""

_ALERTS_SQL = """
SELECT episode_id, state, severity, rule, subject_name, coalesce(fired_at, started_at) AS since,
       summary, acked_at IS NOT NULL AS acked
FROM alert_episodes WHERE state IN ('pending', 'firing')
ORDER BY state = 'firing' DESC, severity = 'critical' DESC, updated_at DESC LIMIT 12
"""


async def _rows(conn: AsyncConnection[Any], sql: str, params: dict[str, Any]) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql.encode(), params)
        return await cur.fetchall()


async def take(conn: AsyncConnection[Any], meter: RateMeter) -> Snapshot:
    """Read one snapshot (``conn`` in autocommit mode, so every query sees fresh data)."""
    now = datetime.now(BEIJING)
    day = now.date()
    cur = await conn.execute(_INSERTED_SQL)
    row = await cur.fetchone()
    total = int(row[0]) if row else 0
    online = {r["kind"]: (int(r["online"]), int(r["registered"]))
              for r in await _rows(conn, _ONLINE_SQL, {})}
    snap = Snapshot(now, day, total, meter.add(time.monotonic(), total), online)
    cur = await conn.execute("SELECT count(to_regclass(t)) FROM unnest(%s::text[]) t",
                             (list(INDICATOR_TABLES),))
    present = await cur.fetchone()
    snap.indicators = present is not None and present[0] == len(INDICATOR_TABLES)
    if snap.indicators:
        snap.air = await _rows(conn, _AIR_SQL, {"day": day})
        snap.water = await _rows(conn, _WATER_SQL, {"day": day})
        snap.noise = await _rows(conn, _NOISE_SQL, {"day": day})
    else:
        snap.raw = await _rows(conn, _RAW_SQL, {})
    cur = await conn.execute("SELECT to_regclass('alert_episodes') IS NOT NULL")
    if (await cur.fetchone()) == (True,):  # alerts: open episodes
        snap.alerts = await _rows(conn, _ALERTS_SQL, {})
    return snap


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "ok" if value else "over"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "–"
    return str(value)


def render(snap: Snapshot) -> Group:
    """The summary as rich renderables (pure: a snapshot in, tables out)."""
    rate = "–" if snap.readings_per_s is None else f"{snap.readings_per_s:.1f}"
    online = "  ".join(f"{kind} {n}/{m}" for kind, (n, m) in snap.online.items()) or "none"
    head = Table.grid(padding=(0, 2))
    head.add_row(f"[b]envmon[/b] {snap.at:%Y-%m-%d %H:%M:%S} Beijing",
                 f"readings stored {snap.readings_total:,} ({rate}/s)")
    head.add_row("", f"stations online {online}")
    parts: list[Any] = [head]
    if not snap.indicators:
        raw = Table(title="latest readings (indicator tables not created yet)", expand=False)
        for col in ("station", "kind", "parameter", "time (UTC)", "value"):
            raw.add_column(col)
        for r in snap.raw:
            raw.add_row(r["station_id"], r["kind"], r["parameter"], f"{r['ts']:%H:%M}",
                        _fmt(r["value"], 2))
        return Group(*parts, raw)
    air = Table(title=f"air — AQI (HJ 633), today {snap.day}")
    for col in ("station", "last hour", "today", "category", "primary", "yesterday"):
        air.add_column(col)
    for r in snap.air:
        partial = "" if r["complete"] or r["day_aqi"] is None else " (so far)"
        air.add_row(r["station_id"], _fmt(r["hour_aqi"]), _fmt(r["day_aqi"]) + partial,
                    _fmt(r["day_category"]), _fmt(r["day_primary"]), _fmt(r["yesterday_aqi"]))
    water = Table(title="water — class (GB 3838-2002), today")
    for col in ("station", "class", "target", "compliant"):
        water.add_column(col)
    for r in snap.water:
        water.add_row(r["station_id"], _fmt(r["class_label"] or r["water_class"]),
                      _fmt(r["water_target_class"]),
                      "–" if r["compliant"] is None else ("yes" if r["compliant"] else "no"))
    noise = Table(title="noise — Ld/Ln dB(A) (GB 3096-2008), latest day with data")
    for col in ("station", "zone", "date", "Ld", "Ln", "Ld limit", "Ln limit"):
        noise.add_column(col)
    for r in snap.noise:
        noise.add_row(r["station_id"], _fmt(r["noise_zone"]), _fmt(r["day"]), _fmt(r["ld"]),
                      _fmt(r["ln"]), _fmt(r["day_ok"]), _fmt(r["night_ok"]))
    alerts = Table(title="alerts — open episodes (envmon alerts list)")
    for col in ("#", "state", "severity", "rule", "subject", "since", "what"):
        alerts.add_column(col)
    for r in snap.alerts:
        alerts.add_row(str(r["episode_id"]), r["state"] + (" (acked)" if r["acked"] else ""),
                       r["severity"], r["rule"], r["subject_name"],
                       f"{r['since'].astimezone(BEIJING):%m-%d %H:%M}",
                       r["summary"].split(": ", 2)[-1])
    return Group(*parts, air, water, noise, alerts)


async def run(settings: Settings, stop: asyncio.Event, refresh_s: float = 5.0,
              console: Console | None = None) -> None:
    """Show the summary until ``stop``; database errors are shown, not fatal."""
    assert settings.database_url is not None
    console = console or Console()
    meter = RateMeter()
    interactive = console.is_terminal
    every = refresh_s if interactive else max(refresh_s, 60.0)
    live = Live(console=console, auto_refresh=False, transient=False) if interactive else None
    root = logging.getLogger()
    saved = root.handlers[:]
    conn: AsyncConnection[Any] | None = None
    try:
        if live is not None:
            live.start()
            root.handlers[:] = [RichHandler(console=console, show_path=False)]
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = await db.connect(settings.database_url, autocommit=True)
                view = render(await take(conn, meter))
            except Exception as exc:
                if not db.is_transient(exc):
                    raise
                log.warning("summary: database not reachable: %s", exc)
                conn = None
            else:
                if live is not None:
                    live.update(view, refresh=True)
                else:
                    console.print(view)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    finally:
        if live is not None:
            live.stop()
            root.handlers[:] = saved
        if conn is not None:
            await conn.close()
