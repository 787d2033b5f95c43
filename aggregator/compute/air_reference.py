"""Air indicators of one station or region from its hourly series (pure; arithmetic in
``aggregator.standards``).

A station's daily values are the standards' daily means (≥ 20 valid hours), O3 MDA8 and O3
daily max 1-h of its own hourly series. A region's (city/county) daily SO2/NO2/CO/PM values
are the arithmetic means of its stations' valid daily values (HJ 663 表A.1, city_mean); its O3
values and all its hourly values come from the region's hourly series, the mean of the
stations' valid hourly values (reference/air.md §7.4). The AQI is then computed from the
region's concentrations, never averaged from station AQIs.

These dict-based functions are the reference the aggregator's vectorised path
(compute/air_arrays.py, which the worker runs) is tested against field by field.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from aggregator import standards

Series = dict[datetime, float | None]
#: the pollutants whose daily value is their 24-h mean (O3's are its MDA8 and daily max 1-h)
DAILY_MEANS = tuple(p for p in standards.POLLUTANTS if p != "o3")
#: the concentrations of a daily report, as the air_*_daily tables store them
DAILY_COLUMNS = (*DAILY_MEANS, "o3_8h", "o3_1h")


@dataclass(frozen=True, slots=True)
class AirDay:
    day: date
    values: Mapping[str, float | None]
    report: standards.AqiReport


@dataclass(frozen=True, slots=True)
class AirHour:
    ts: datetime
    values: Mapping[str, float | None]
    report: standards.AqiReport


def beijing(ts: datetime) -> datetime:
    """``ts`` in Beijing time. Series are keyed in the zone the standards look hours up in:
    aware datetimes with the same tzinfo compare without utcoffset() calls (10x faster)."""
    return ts.astimezone(standards.BEIJING)


def region_series(stations: Iterable[Mapping[str, Series]]) -> dict[str, Series]:
    """Region hourly series: per hour, the mean of the stations that have a valid value."""
    collected: dict[str, dict[datetime, list[float | None]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for station in stations:
        for parameter, series in station.items():
            for ts, value in series.items():
                collected[parameter][ts].append(value)
    return {
        p: {ts: standards.city_mean(vs) for ts, vs in by_ts.items()}
        for p, by_ts in collected.items()
    }


def _valid(agg: standards.Aggregate) -> float | None:
    return agg.value if agg.valid else None


def o3_values(series: Mapping[str, Series], day: date) -> dict[str, float | None]:
    o3 = series.get("o3", {})
    mda8 = standards.o3_mda8(o3, day)
    return {
        "o3_8h": mda8.value if mda8.valid else None,
        "o3_1h": _valid(standards.o3_daily_max_1h(o3, day)),
    }


def station_day(series: Mapping[str, Series], day: date) -> AirDay:
    """Daily concentrations and daily-report AQI of one station's Beijing natural day."""
    values: dict[str, float | None] = {
        p: _valid(standards.daily_mean(series.get(p, {}), day)) for p in DAILY_MEANS
    }
    values.update(o3_values(series, day))
    return AirDay(day, values, standards.daily_aqi(values, day=day))


def region_day(
    station_days: Sequence[Mapping[str, float | None]],
    series: Mapping[str, Series],
    day: date,
) -> AirDay:
    """Daily values of a region from its stations' daily values and its own hourly series."""
    values: dict[str, float | None] = {
        p: standards.city_mean(d.get(p) for d in station_days) for p in DAILY_MEANS
    }
    values.update(o3_values(series, day))
    return AirDay(day, values, standards.daily_aqi(values, day=day))


#: The 2012 real-time report's moving averages: indicator -> (pollutant, hours, min valid)
#: (HJ 633-2012 §5.1; so2_24h enters only when SO2 1-h > 800, 表1 note 2).
_MOVING = {
    "o3_8h": ("o3", 8, standards.O3_8H_MIN_HOURS),
    "pm10_24h": ("pm10", 24, standards.PM_24H_MOVING_MIN_HOURS),
    "pm25_24h": ("pm25", 24, standards.PM_24H_MOVING_MIN_HOURS),
    "so2_24h": ("so2", 24, standards.PM_24H_MOVING_MIN_HOURS),
}


def _moving(series: Mapping[str, Series], starts: list[datetime]) -> dict[str, list[float | None]]:
    """The valid moving averages of each 2012 hour in ``starts`` (one pass per indicator)."""
    ends = [standards.hour_end_label(start) for start in starts]
    return {
        key: [
            _valid(a) for a in standards.moving_averages(
                series.get(pollutant, {}), ends, hours=n, min_valid=min_valid
            )
        ]
        for key, (pollutant, n, min_valid) in _MOVING.items()
    }


def hours(series: Mapping[str, Series], starts: Iterable[datetime]) -> list[AirHour]:
    """Real-time AQI of each hour in ``starts`` that has at least one valid 1-h value, with
    the rule set of its date: 2026 from the 1-h values alone, 2012 with the O3 8-h and PM
    24-h moving averages (which reach into the previous day)."""
    chosen = [
        start for start in sorted(beijing(ts) for ts in starts)
        if any(start in series.get(p, {}) for p in standards.POLLUTANTS)
    ]
    rules_2012 = [
        s for s in chosen if standards.air_rules_for(standards.beijing_day(s)) == "2012"
    ]
    moving = _moving(series, rules_2012)
    position = {start: i for i, start in enumerate(rules_2012)}
    out = []
    for start in chosen:
        values: dict[str, float | None] = {
            p: series.get(p, {}).get(start) for p in standards.POLLUTANTS}
        i = position.get(start)
        if i is not None:
            del values["pm10"], values["pm25"]
            values.update((key, averages[i]) for key, averages in moving.items())
        out.append(AirHour(start, values, standards.hourly_aqi(values, hour_start=start)))
    return out
