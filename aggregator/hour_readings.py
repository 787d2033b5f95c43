"""Station-reported hourly readings loaded as arrays, and air hour grids built from them.

Station hourly values (interval ``hour``) are nearly all of the aggregator's input. They are
read as one array per station and parameter (aggregator/pg_arrays.py): timestamps, and the
value where the flag lets it enter statistics, NaN where it does not (aggregator/flags.py,
the same rule as the ``hourly_values`` view). An hourly reading wins over values derived from
minute or real-time readings of the same hour, even when its flag makes the hour invalid
(aggregator/hourly.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from psycopg import AsyncConnection, sql

from aggregator import standards
from aggregator.compute.air_arrays import Grid
from aggregator.compute.beijing_time import HOUR_US, from_pg_us, to_pg_us
from aggregator.compute.flags import VALID_FLAGS
from aggregator.compute.hourly_values import HourlyValue
from aggregator.sample_hours import SampleSeries
from aggregator.standards import POLLUTANTS
from aggregator.store.wire_format import use_numpy

Array = np.ndarray[Any, Any]
Window = tuple[datetime, datetime]
_US = timedelta(microseconds=1)


@dataclass(slots=True)
class HourReadings:
    """One station's readings: hourly ones per parameter as hour starts (PostgreSQL µs) and
    values (NaN = flagged out), the flagged hourly ones listed for the exclusion counts; and
    its minute and real-time readings as one series per parameter and interval."""

    series: dict[str, tuple[Array, Array]] = field(default_factory=dict)
    flagged: list[tuple[str, datetime, str]] = field(default_factory=list)
    samples: list[SampleSeries] = field(default_factory=list)

    def hours_of(self, parameter: str) -> set[int]:
        got = self.series.get(parameter)
        return set() if got is None else set(got[0].tolist())

    def hourly_values(self) -> list[HourlyValue]:
        """As aggregator.hourly would make them (for water and noise stations)."""
        out = []
        for parameter, (stamps, values) in self.series.items():
            for us, v in zip(stamps.tolist(), values.tolist(), strict=True):
                valid = v == v
                out.append(HourlyValue(parameter, from_pg_us(us), v if valid else None, valid,
                                       "hour", 1, 0 if valid else 1))
        return out


def window_params(wanted: Mapping[str, Sequence[Window]]) -> tuple[Any, ...]:
    """Query parameters of per-station windows: station ids, window starts and ends, and the
    span of them all (a constant range lets PostgreSQL skip the other partitions/chunks)."""
    sids, los, his = [], [], []
    for sid, wins in wanted.items():
        for lo, hi in wins:
            sids.append(sid)
            los.append(lo)
            his.append(hi)
    return sids, los, his, min(los, default=None), max(his, default=None)


#: readings of each station inside its windows (parameters: ``window_params``)
WINDOW_JOIN = (
    " FROM unnest(%b::text[], %b::timestamptz[], %b::timestamptz[]) AS w(sid, lo, hi)"
    " JOIN readings r ON r.station_id = w.sid AND r.ts >= w.lo AND r.ts < w.hi"
    " AND r.ts >= %s AND r.ts < %s"
)


async def load(
    conn: AsyncConnection[Any], wanted: Mapping[str, Sequence[Window]], *,
    hourly_only: bool = False,
) -> tuple[dict[str, HourReadings], dict[tuple[str, date], int]]:
    """Hourly readings of each station inside its windows, in one scan, as arrays; and,
    unless ``hourly_only``, how many minute/real-time readings each station has per Beijing
    day there (``sample_counts``: they are loaded by ``load_samples``, within a budget the
    caller sets)."""
    out: dict[str, HourReadings] = defaultdict(HourReadings)
    valid = sorted(VALID_FLAGS)
    bad = "NOT r.flag = ANY(%s::text[])"
    async with conn.cursor(binary=True) as cur:
        use_numpy(cur)
        # one hash aggregate of the whole batch: give it memory rather than spill to disk
        await cur.execute("SET LOCAL work_mem = '64MB'")
        await cur.execute(
            "SELECT r.station_id, r.parameter, array_agg(r.ts), array_agg(r.value),"
            f" array_agg(r.ts) FILTER (WHERE {bad}), array_agg(r.flag) FILTER (WHERE {bad})"
            + WINDOW_JOIN + " AND r.interval = 'hour' GROUP BY 1, 2",
            (valid, valid, *window_params(wanted)),
        )
        for sid, parameter, stamps, values, bad_ts, bad_flags in await cur.fetchall():
            station = out[sid]
            if bad_flags:
                values[np.isin(stamps, bad_ts)] = np.nan
                station.flagged += [(parameter, from_pg_us(t), f)
                                    for t, f in zip(bad_ts.tolist(), bad_flags, strict=True)]
            station.series[parameter] = (stamps, values)
    return out, {} if hourly_only else await sample_counts(conn, wanted)


async def sample_counts(
    conn: AsyncConnection[Any], wanted: Mapping[str, Sequence[Window]]
) -> dict[tuple[str, date], int]:
    """Minute/real-time readings per station and Beijing day of its windows, as the ingest
    writer counted them when it stored them (``station_day_samples``, migration 0032): no
    scan of the readings themselves."""
    days = {sid: [(standards.beijing_day(lo), standards.beijing_day(hi - _US)) for lo, hi in wins]
            for sid, wins in wanted.items()}
    spans = [d for wins in days.values() for d in wins]
    if not spans:
        return {}
    cur = await conn.execute(
        "SELECT station_id, day, n FROM station_day_samples"
        " WHERE station_id = ANY(%s) AND day >= %s AND day <= %s",
        (sorted(days), min(lo for lo, _ in spans), max(hi for _, hi in spans)))
    return {(sid, day): n for sid, day, n in await cur.fetchall()
            if any(lo <= day <= hi for lo, hi in days[sid])}


#: ``station_day_samples`` recounted from the readings (for readings stored around the ingest
#: writer, e.g. generated by a benchmark straight into ``readings``)
RECOUNT_SAMPLES = (
    "INSERT INTO station_day_samples (station_id, day, n)"
    " SELECT station_id, (ts AT TIME ZONE 'Asia/Shanghai')::date, count(*)"
    " FROM readings WHERE interval IN ('min', 'rt') GROUP BY 1, 2"
    " ON CONFLICT (station_id, day) DO UPDATE SET n = EXCLUDED.n"
)


#: a series' samples: timestamps, values, and the timestamps and flags of those whose flag
#: keeps them out (parameters: the valid flags, twice)
_SAMPLES = sql.SQL(
    "SELECT r.station_id, r.parameter, r.interval, array_agg(r.ts), array_agg(r.value),"
    " coalesce(array_agg(r.ts) FILTER (WHERE NOT r.flag = ANY(%s::text[])), '{}'),"
    " coalesce(array_agg(r.flag) FILTER (WHERE NOT r.flag = ANY(%s::text[])), '{}')"
)


async def load_samples(
    conn: AsyncConnection[Any], wanted: Mapping[str, Sequence[Window]],
    into: dict[str, HourReadings],
) -> None:
    """The minute and real-time readings of each station inside its windows, one array per
    station, parameter and interval (aggregator/sample_hours.py).

    Stations that share their windows (a backlog of the same days, or today's live data)
    are read with ``station_id = ANY(...)`` and the windows as plain time bounds: per
    sample, a hashed list lookup instead of a join with the windows (bench/aggregator_minute.py)."""
    if not wanted:
        return
    valid = sorted(VALID_FLAGS)
    shared = {tuple(wins) for wins in wanted.values()}
    if len(shared) == 1:
        (wins,) = shared
        query = sql.SQL("{} FROM readings r WHERE r.station_id = ANY(%s::text[])"
                        " AND r.ts >= %s AND r.ts < %s AND ({})").format(
            _SAMPLES, sql.SQL(" OR ").join([sql.SQL("r.ts >= %s AND r.ts < %s")] * len(wins)))
        params: tuple[Any, ...] = (
            valid, valid, sorted(wanted), wins[0][0], wins[-1][1],
            *(t for win in wins for t in win))
    else:
        query = sql.SQL("{} {}").format(_SAMPLES, sql.SQL(WINDOW_JOIN))
        params = (valid, valid, *window_params(wanted))
    async with conn.cursor(binary=True) as cur:
        use_numpy(cur)
        await cur.execute("SET LOCAL work_mem = '64MB'")
        await cur.execute(query + sql.SQL(" AND r.interval IN ('min', 'rt') GROUP BY 1, 2, 3"),
                          params)
        for sid, parameter, interval, stamps, values, bad_ts, bad_flags in await cur.fetchall():
            into.setdefault(sid, HourReadings()).samples.append(
                SampleSeries.of(parameter, interval, stamps, values, bad_ts, bad_flags))


def grid(
    start: datetime, n_days: int, readings: HourReadings | None,
    derived: Iterable[HourlyValue] = (),
) -> Grid:
    """The air grid of ``n_days`` Beijing days from ``start``: hourly readings, then the
    derived hourly values of the hours that have no hourly reading."""
    n = n_days * 24
    values = np.full((len(POLLUTANTS), n), np.nan)
    base = to_pg_us(start)
    taken = np.zeros((len(POLLUTANTS), n), dtype=bool)
    for row, parameter in enumerate(POLLUTANTS):
        got = None if readings is None else readings.series.get(parameter)
        if got is None:
            continue
        stamps, vals = got
        idx = (stamps - base) // HOUR_US
        inside = (idx >= 0) & (idx < n)
        values[row, idx[inside]] = vals[inside]
        taken[row, idx[inside]] = True
    rows: dict[str, int] = {p: i for i, p in enumerate(POLLUTANTS)}
    hour_at: dict[datetime, int] = {}  # the parameters of an hour share its start
    for h in derived:
        row_of = rows.get(h.parameter)
        if row_of is None or not h.valid or h.value is None:
            continue
        i = hour_at.get(h.ts)
        if i is None:
            i = hour_at[h.ts] = (to_pg_us(h.ts) - base) // HOUR_US
        if 0 <= i < n and not taken[row_of, i]:
            values[row_of, i] = h.value
    return Grid(start, values)
