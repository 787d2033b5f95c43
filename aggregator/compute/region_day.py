"""Region (county, city) air indicators of a batch's region-days (pure).

A region's hourly series is the mean of its stations' valid hourly values, its daily
SO2/NO2/CO/PM values the mean of its stations' valid daily values (HJ 663 表A.1,
compute/air_arrays.py). The batch's own stations come from this batch's computation
(``station_day.StationResults``); the other stations of the regions (the peers) from what is
stored, read by aggregator/store/stored_indicators.py after the region-day locks are taken
(aggregator/store/locks.py explains why).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from aggregator import standards
from aggregator.compute import air_arrays, station_readings
from aggregator.compute.air_arrays import Grid
from aggregator.compute.air_reference import DAILY_MEANS
from aggregator.compute.beijing_time import DAY, HOUR, day_start
from aggregator.compute.hour_reports import HourBlocks
from aggregator.compute.hourly_values import HourlyValue
from aggregator.compute.station_day import Row, StationInfo, StationResults, daily_rows
from aggregator.compute.station_readings import HourReadings
from aggregator.standards import POLLUTANTS

Array = np.ndarray[Any, Any]


@dataclass(frozen=True, slots=True, order=True)
class Region:
    city: str
    county: str  # '' = the whole city

    @property
    def label(self) -> str:
        return f"{self.city}/{self.county}" if self.county else self.city


def regions_of(city: str, county: str) -> list[Region]:
    """The regions a station belongs to: its city, and its county when it has one."""
    if not city:
        return []
    return [Region(city, "")] + ([Region(city, county)] if county else [])


def region_days(
    infos: Mapping[str, StationInfo], dirty: Mapping[str, Sequence[date]]
) -> dict[Region, set[date]]:
    """The region-days the dirty days of air stations change."""
    out: dict[Region, set[date]] = defaultdict(set)
    for sid, days in dirty.items():
        info = infos[sid]
        if info.kind == "air":
            for region in regions_of(info.city, info.county):
                out[region].update(days)
    return dict(out)


def lock_keys(days: Mapping[Region, set[date]]) -> list[str]:
    """The advisory lock keys of the region-days, and of the days after them (their hours are
    rewritten too: their moving averages look back into the day)."""
    return sorted({f"air:{r.label}:{d}" for r, ds in days.items()
                   for d in ds | {d + DAY for d in ds}})


def span(days: set[date]) -> tuple[datetime, datetime]:
    """The hours a region's days need: [first - 1 day, last + 2 days) (the day before for
    the moving averages, the day after for its hours that look back)."""
    return day_start(min(days) - DAY), day_start(max(days) + 2 * DAY)


def _covering(grids: Sequence[Grid], lo: datetime, hi: datetime) -> tuple[Grid, int] | None:
    """The first grid that covers [lo, hi), and the offset of ``lo`` in its hours."""
    n_hours = (hi - lo) // HOUR
    for g in grids:
        offset = (lo - g.start) // HOUR
        if offset >= 0 and offset + n_hours <= g.values.shape[1]:
            return g, offset
    return None


def missing_grids(
    days: Mapping[Region, set[date]], members: Mapping[Region, Sequence[str]],
    known: Mapping[str, Sequence[Grid]],
) -> dict[Region, tuple[datetime, datetime, list[str]]]:
    """Per region, its span and the stations whose hours this batch has not computed over
    all of it (read from the stored readings and hourly rollup)."""
    out = {}
    for region, ds in days.items():
        lo, hi = span(ds)
        missing = [s for s in members[region] if _covering(known.get(s, ()), lo, hi) is None]
        if missing:
            out[region] = (lo, hi, missing)
    return out


@dataclass(frozen=True, slots=True)
class StoredHours:
    """Stations' stored hourly readings and valid derived hourly values (the hourly rollup,
    air pollutants) over a region's span."""

    readings: dict[str, HourReadings]
    derived: dict[str, list[HourlyValue]]


@dataclass(slots=True)
class DailyMeans:
    """Stations' daily SO2/NO2/CO/PM values from ``first`` on (NaN = none), and which
    stations have a daily row at all."""

    first: date
    n_days: int
    values: dict[str, Array]  # station -> float64[days, 5]
    has_row: dict[str, Array]  # station -> bool[days]

    def set(self, sid: str, day: date, row: Row | None) -> None:
        """Day ``day`` of ``sid`` as ``row`` (None: no row); days outside are ignored."""
        i = (day - self.first).days
        if not 0 <= i < self.n_days:
            return
        if sid not in self.values:
            self.values[sid] = np.full((self.n_days, len(DAILY_MEANS)), np.nan)
            self.has_row[sid] = np.zeros(self.n_days, dtype=bool)
        self.has_row[sid][i] = row is not None
        self.values[sid][i] = [np.nan if row is None or row[p] is None else row[p]
                               for p in DAILY_MEANS]

    def of(self, stations: Sequence[str], first: date, count: int) -> tuple[Any, Any]:
        """values [stations, count, 5] and rows per day [count] for the given days."""
        off = (first - self.first).days
        values = np.full((len(stations), count, len(DAILY_MEANS)), np.nan)
        rows = np.zeros(count, dtype=np.int64)
        for i, sid in enumerate(stations):
            if sid in self.values:
                values[i] = self.values[sid][off : off + count]
                rows += self.has_row[sid][off : off + count]
        return values, rows


@dataclass(slots=True)
class RegionRows:
    """The region rows of a batch: daily rows, hourly reports and the days these cover."""

    daily: list[Row]
    hours: list[HourBlocks]
    hour_days: dict[tuple[str, ...], set[date]]


def _own_rollup(
    station: StationResults, stations: Iterable[str], lo: datetime, hi: datetime
) -> dict[str, list[HourlyValue]]:
    """The batch's own derived hourly values of ``stations`` in [lo, hi), as the rollup
    stores them for the regions (valid air pollutants)."""
    wanted = set(stations)
    out: dict[str, list[HourlyValue]] = defaultdict(list)
    for r in station.rows.hourly_rollup:
        if (r["station_id"] in wanted and r["valid"] and r["value"] is not None
                and r["parameter"] in POLLUTANTS and lo <= r["ts"] < hi):
            out[r["station_id"]].append(
                HourlyValue(r["parameter"], r["ts"], r["value"], True, r["source"], 0, 0))
    return out


def _grids(
    stations: Sequence[str], lo: datetime, hi: datetime, station: StationResults,
    dirty: Mapping[str, Sequence[date]], stored: StoredHours | None,
) -> list[Grid]:
    """Each station's hour grid over [lo, hi): from this batch's own computation when it
    covers the range, else from the stored hourly readings and rollup, where the rollup of
    the batch's own dirty days is this batch's."""
    out, missing = [], []
    n_hours = (hi - lo) // HOUR
    for sid in stations:
        got = _covering(station.grids.get(sid, ()), lo, hi)
        if got is None:
            missing.append(sid)
        else:
            g, offset = got
            out.append(Grid(lo, g.values[:, offset : offset + n_hours]))
    if not missing:
        return out
    assert stored is not None, "stored hours of the stations this batch did not compute"
    own = _own_rollup(station, missing, lo, hi)
    for sid in missing:
        mine = set(dirty.get(sid, ()))
        derived = [h for h in stored.derived.get(sid, ())
                   if standards.beijing_day(h.ts) not in mine] + own.get(sid, [])
        out.append(station_readings.grid(lo, (hi - lo) // DAY, stored.readings.get(sid), derived))
    return out


def own_daily(
    daily: DailyMeans, station: StationResults, dirty: Mapping[str, Sequence[date]]
) -> None:
    """Put the batch's own daily rows of its dirty days into ``daily`` (over what is
    stored): the values the regions would read back once the station rows are written."""
    computed = {(r["station_id"], r["day"]): r for r in station.rows.air_daily}
    for sid, days in dirty.items():
        for day in days:
            got = computed.get((sid, day))
            if got is not None or sid in daily.values:
                daily.set(sid, day, got)


def compute_regions(
    days: Mapping[Region, set[date]], members: Mapping[Region, Sequence[str]],
    station: StationResults, dirty: Mapping[str, Sequence[date]],
    stored: Mapping[Region, StoredHours], daily: DailyMeans,
) -> RegionRows:
    """The hourly and daily air indicators of the region-days (all regions' hours of the
    same days in one vectorised call: a batch of history touches every region on every
    day); ``daily`` must hold the batch's own daily rows (``own_daily``)."""
    out = RegionRows([], [], {})
    grids: dict[tuple[datetime, int], list[tuple[tuple[str, str], Grid, Any]]] = (
        defaultdict(list))
    for region, ds in sorted(days.items()):
        stations = members[region]
        first = min(ds)
        lo, hi = span(ds)
        n_days = (hi - lo) // DAY
        grid, n_stations = air_arrays.region_grid(
            _grids(stations, lo, hi, station, dirty, stored.get(region)))
        key = {"city": region.city, "county": region.county}
        values, rows = daily.of(stations, first, n_days - 2)
        reports = air_arrays.region_daily(values, grid, 1, n_days - 2)
        out.daily += daily_rows(reports, (
            ({**key, "day": day, "n_stations": int(rows[(day - first).days])},
             (day - first).days) for day in sorted(ds)))
        grids[(grid.start, grid.n_hours)].append(((region.city, region.county), grid,
                                                   n_stations))
        out.hour_days[(region.city, region.county)] = ds | {d + DAY for d in ds}
    for (start, n_hours), same in grids.items():  # regions of the same days: one call
        _, values = air_arrays.stack([g for _, g, _ in same])
        hourly = air_arrays.hourly_many(start, values, 24, n_hours - 24)
        first_day = standards.beijing_day(start) + DAY
        out.hours += [
            HourBlocks.from_reports(key, first_day, r, n[24:])
            for (key, _, n), r in zip(same, hourly, strict=True)
        ]
    return out


def first_and_last(days: Mapping[Region, set[date]]) -> tuple[date, date]:
    """The first and last of the region-days (the daily means the regions read)."""
    every = [d for ds in days.values() for d in ds]
    return min(every), max(every)

