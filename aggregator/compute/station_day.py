"""The indicators of dirty (station, Beijing day) pairs from their readings (pure).

For each dirty day D the readings of D-1 … D+1 are used (loaded by aggregator/recompute.py):
D-1 feeds the moving averages of D's real-time AQI (2012 rules), and D+1's hourly AQI is
recomputed too because its moving averages look back into D. Hourly values are kept for D
(the rollup regions read); the daily values of D only ever use D's hours (HJ 663: MDA8
windows end 08:00 … 24:00 of D). Air goes through the hour grids (compute/air_arrays.py),
water through compute/water.py, noise through compute/noise.py; the rows are written by
aggregator/store/batch_writes.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from aggregator import standards
from aggregator.compute import air_arrays, noise, sample_hours, station_readings, water
from aggregator.compute.air_arrays import Grid
from aggregator.compute.beijing_time import DAY, day_start, to_us
from aggregator.compute.hour_reports import HourBlocks
from aggregator.compute.hourly_values import HourlyValue, hour_of
from aggregator.compute.sample_hours import SampleSeries
from aggregator.compute.station_readings import HourReadings
from envmon.parameters import StationKind

#: an indicator row as computed and stored: column -> value
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class StationInfo:
    station_id: str
    kind: StationKind
    city: str
    county: str
    water_target_class: int | None
    water_body: str | None
    noise_zone: standards.Zone | None


def windows(days: Iterable[date]) -> list[tuple[datetime, datetime]]:
    """Merged [D-1, D+2) Beijing-day windows (as aware datetimes) around the given days."""
    out: list[tuple[datetime, datetime]] = []
    for day in sorted(set(days)):
        lo, hi = day_start(day - DAY), day_start(day + 2 * DAY)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


@dataclass(slots=True)
class StationRows:
    """Everything computed for a batch of station-days, table by table."""

    hourly_rollup: list[Row]
    excluded: list[tuple[str, date, str, str, int]]
    air_hours: list[HourBlocks]
    air_daily: list[Row]
    water_hourly: list[Row]
    water_daily: list[Row]
    noise_daily: list[Row]


@dataclass(slots=True)
class StationResults:
    """A batch's station rows, and its air stations' hour grids over their windows (from
    which the regions take their stations' hours)."""

    rows: StationRows
    grids: dict[str, list[Grid]]


def compute_stations(
    infos: Mapping[str, StationInfo], dirty: Mapping[str, Sequence[date]],
    wins: Mapping[str, Sequence[tuple[datetime, datetime]]],
    readings: Mapping[str, HourReadings],
) -> StationResults:
    """The rows of the dirty days of a batch's stations."""
    rows = StationRows([], [], [], [], [], [], [])
    grids: dict[str, list[Grid]] = {}
    for sid, days in dirty.items():
        grids[sid] = compute(infos[sid], days, wins[sid], readings.get(sid), rows)
    air_reports({sid: (set(dirty[sid]), g) for sid, g in grids.items() if g}, rows)
    return StationResults(rows, grids)


def compute(
    info: StationInfo, days: Sequence[date], wins: Sequence[tuple[datetime, datetime]],
    readings: HourReadings | None, out: StationRows,
) -> list[Grid]:
    """Compute the rows of one station's dirty days into ``out`` (pure); returns an air
    station's hour grids over its windows (dirty days and their neighbours), from which
    ``air_reports`` computes its reports and the regions their series; ``[]`` for other
    stations."""
    dirty = set(days)
    samples = readings.samples if readings else []
    derived = sample_hours.hourly_values(info.kind, samples)
    if derived and readings is not None:  # an hourly reading wins over derived values
        taken = {p: readings.hours_of(p) for p in readings.series}
        derived = [h for h in derived
                   if to_us(h.ts) not in taken.get(h.parameter, ())]
    sid = info.station_id
    in_dirty = [h for h in derived if standards.beijing_day(h.ts) in dirty]
    out.hourly_rollup += [
        {"station_id": sid, "ts": h.ts, "parameter": h.parameter, "value": h.value,
         "valid": h.valid, "source": h.source, "n_samples": h.n_samples,
         "n_excluded": h.n_excluded}
        for h in in_dirty
    ]
    out.excluded += _excluded_counts(sid, dirty, samples, derived, readings)
    if info.kind == "air":
        return _air(wins, readings, derived)
    hours = sorted(
        [*in_dirty, *(h for h in (readings.hourly_values() if readings else [])
                      if standards.beijing_day(h.ts) in dirty)],
        key=lambda h: (h.ts, h.parameter),
    )
    if info.kind == "water":
        _water(info, hours, out)
    else:
        _noise(info, dirty, hours, out)
    return []


def _excluded_counts(
    sid: str, dirty: set[date], samples: Sequence[SampleSeries],
    derived: Sequence[HourlyValue], readings: HourReadings | None,
) -> list[tuple[str, date, str, str, int]]:
    """Flag-excluded readings per day, parameter and flag, among the readings each hour
    used: flagged hourly readings, and flagged samples of the hours derived from them."""
    counts: dict[tuple[date, str, str], int] = defaultdict(int)
    for parameter, ts, flag in readings.flagged if readings else ():
        day = standards.beijing_day(ts)
        if day in dirty:
            counts[(day, parameter, flag)] += 1
    excluded = [(s, ts, flag) for s in samples for ts, flag in s.flagged]
    used = {(h.parameter, h.ts): h.source for h in derived} if excluded else {}
    for s, ts, flag in excluded:
        day = standards.beijing_day(ts)
        if day in dirty and used.get((s.parameter, hour_of(ts))) == s.interval:
            counts[(day, s.parameter, flag)] += 1
    return [(sid, d, p, f, n) for (d, p, f), n in sorted(counts.items())]


@cache
def _names(indicators: tuple[str, ...], mask: int) -> tuple[str, ...]:
    return tuple(n for k, n in enumerate(indicators) if mask >> k & 1)


def daily_rows(reports: air_arrays.Reports, items: Iterable[tuple[Row, int]]) -> list[Row]:
    """Days ``i`` of daily reports as air_*_daily rows, each after its key columns."""
    aqi, mask = reports.aqi.tolist(), reports.primary.tolist()
    iaqi, values = reports.iaqi.tolist(), reports.values.tolist()
    complete, rules = reports.complete.tolist(), reports.rules
    names, columns = reports.indicators, reports.columns
    out = []
    for key, i in items:
        a = aqi[i]
        category = standards.category(a) if a >= 0 else None
        row: Row = {
            **key,
            "rules": rules[i],
            "aqi": a if category else None,
            "level": category.level if category else None,
            "category": category.name if category else None,
            "primary_pollutants": list(_names(names, mask[i])),
            "iaqi": {n: v for n, v in zip(names, iaqi[i], strict=True) if v >= 0},
            "complete": complete[i],
        }
        row.update((c, None if v != v else v) for c, v in zip(columns, values[i], strict=True))
        out.append(row)
    return out


def _air(
    wins: Sequence[tuple[datetime, datetime]], readings: HourReadings | None,
    derived: Sequence[HourlyValue],
) -> list[Grid]:
    """Each window [first dirty - 1 day, last dirty + 2 days) as one grid: the first day is
    history for the moving averages, hourly reports for the others (the day after a dirty
    day looks back into it), daily reports for the dirty days (``air_reports``)."""
    return [station_readings.grid(lo, (hi - lo) // DAY, readings, derived) for lo, hi in wins]


def air_reports(
    stations: Mapping[str, tuple[set[date], Sequence[Grid]]], out: StationRows
) -> None:
    """Hourly and daily reports of air stations' grids into ``out``: the grids of the same
    window (in a batch of history, every station's) in one vectorised call."""
    by_window: dict[tuple[datetime, int], list[tuple[str, Grid]]] = defaultdict(list)
    for sid, (_, grids) in stations.items():
        for g in grids:
            by_window[(g.start, g.n_hours)].append((sid, g))
    for (start, n_hours), members in by_window.items():
        n_days = n_hours // 24
        _, values = air_arrays.stack([g for _, g in members])
        hourly = air_arrays.hourly_many(start, values, 24, (n_days - 1) * 24)
        daily = air_arrays.daily_many(start, values, 1, n_days - 2)
        first = standards.beijing_day(start)
        for (sid, _), hours, days in zip(members, hourly, daily, strict=True):
            out.air_hours.append(HourBlocks.from_reports((sid,), first + DAY, hours))
            dirty = stations[sid][0]
            out.air_daily += daily_rows(days, (
                ({"station_id": sid, "day": day}, i) for i in range(n_days - 2)
                if (day := first + (i + 1) * DAY) in dirty))


def _water(info: StationInfo, hours: Sequence[HourlyValue], out: StationRows) -> None:
    sid = info.station_id
    for ts, means in sorted(water.hourly_means(hours).items()):
        out.water_hourly.append({"station_id": sid, "ts": ts, **water.grade(info, means)})
    for day, day_means in sorted(water.daily_means(hours).items()):
        out.water_daily.append({"station_id": sid, "day": day, **water.grade(info, day_means)})


def _noise(
    info: StationInfo, dirty: set[date], hours: Sequence[HourlyValue], out: StationRows
) -> None:
    by_day: dict[date, list[HourlyValue]] = defaultdict(list)
    for h in hours:  # a day needs its own hours, and the next morning when its night does
        by_day[standards.beijing_day(h.ts)].append(h)
    for day in sorted(dirty):
        day_hours = by_day.get(day, []) + by_day.get(day + DAY, [])
        out.noise_daily.append(
            {"station_id": info.station_id, "day": day,
             **noise.station_day(info, day_hours, day)}
        )
