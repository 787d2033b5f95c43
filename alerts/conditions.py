"""The built-in condition kinds, as pure functions: data rows in, observations out.

An observation says, for one subject (a station or a region) and one stretch of data time,
whether the rule's condition is breached, cleared (back beyond the hysteresis limit) or
neither (inside the band: the episode keeps its state). Limits come from the standards
library (``aggregator.standards``), never from literals here. No I/O: ``sources.py`` reads the
rows, ``engine.py`` turns observations into episodes.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from aggregator.compute.beijing_time import BEIJING, HOUR, day_end, day_start
from aggregator.compute.flags import is_valid_flag
from aggregator.standards import NOISE, air_target_status, zone_limits
from aggregator.standards import water as water_standard
from alerts import rules as r
from envmon.parameters import catalogue

INTERVAL_LENGTH = {"rt": timedelta(0), "min": timedelta(minutes=1), "hour": timedelta(hours=1)}


@dataclass(frozen=True, slots=True)
class StationInfo:
    station_id: str
    kind: str
    name: str
    city: str
    county: str
    water_target_class: int | None = None
    water_body: str | None = None
    noise_zone: str | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str  # 'station' | 'region'
    id: str
    name: str
    city: str
    county: str
    station_kind: str | None = None

    @classmethod
    def station(cls, s: StationInfo) -> Subject:
        return cls("station", s.station_id, s.name, s.city, s.county, s.kind)

    @classmethod
    def region(cls, city: str, county: str) -> Subject:
        name = f"{city} {county}" if county else city
        return cls("region", f"{city}/{county}" if county else city, name, city, county)


@dataclass(frozen=True, slots=True)
class Observation:
    subject: Subject
    start: datetime  # data time the observed stretch begins
    end: datetime  # ... and ends (= start for instantaneous values)
    breach: bool
    clear: bool
    value: float | None = None
    limit: float | None = None
    parameter: str | None = None
    unit: str | None = None
    clause: str | None = None
    text: str = ""


def judge(value: float, limit: float, direction: str, clear_at: float) -> tuple[bool, bool]:
    """(breach, clear) with hysteresis: breach beyond ``limit``, clear only back at
    ``clear_at`` (on the safe side of the limit); in between neither."""
    if direction == "above":
        return value > limit, value <= clear_at
    return value < limit, value >= clear_at


def _unit(parameter: str, station_kind: str | None) -> str | None:
    for kind, params in catalogue().items():
        if (station_kind is None or kind == station_kind) and parameter in params:
            return params[parameter].unit
    return None


def _fmt(v: float) -> str:
    return f"{v:.4g}"


# ---- readings ----------------------------------------------------------------------------

def _target_class_limit(rule: r.ThresholdRule, st: StationInfo
                        ) -> tuple[float, str, float] | None:
    """(limit, direction, clear_at) of the section's target class (GB 3838 表1); None for a
    station without a target class or a parameter graded as a range (pH)."""
    if st.water_target_class is None:
        return None
    body = st.water_body if st.water_body in ("river", "lake") else "river"
    row = water_standard._row(rule.parameter)
    kind = row.get("direction", "max")
    if kind == "range":
        return None
    limit = float(water_standard._limits(rule.parameter, body)[st.water_target_class - 1])  # type: ignore[arg-type]
    if kind == "min":
        return limit, "below", limit + rule.clear_margin
    return limit, "above", limit - rule.clear_margin


def threshold(rule: r.ThresholdRule, st: StationInfo,
              rows: Iterable[tuple[datetime, float, str]]) -> list[Observation]:
    """One observation per valid reading (flagged readings cannot be judged: HJ 212 表8)."""
    subject = Subject.station(st)
    if rule.limit == "target_class":
        spec = _target_class_limit(rule, st)
        if spec is None:
            return []
        limit, direction, clear_at = spec
        clause = f"GB 3838-2002 表1, class {st.water_target_class} (target)"
    else:
        direction = "above" if rule.above is not None else "below"
        limit = float(rule.above if rule.above is not None else rule.below)  # type: ignore[arg-type]
        margin = rule.clear_margin if direction == "above" else -rule.clear_margin
        clear_at = rule.clear if rule.clear is not None else limit - margin
        clause = None
    unit = _unit(rule.parameter, st.kind)
    out = []
    length = INTERVAL_LENGTH[rule.interval]
    word = {"rt": "real-time", "min": "minute", "hour": "hourly"}[rule.interval]
    sign = ">" if direction == "above" else "<"
    for ts, value, flag in rows:
        if not is_valid_flag(flag):
            continue
        breach, clear = judge(value, limit, direction, clear_at)
        out.append(Observation(
            subject, ts, ts + length, breach, clear, value, limit, rule.parameter, unit, clause,
            f"{word} {rule.parameter} {_fmt(value)} {unit or ''} {sign} {_fmt(limit)}".strip()))
    return out


def flagged(rule: r.FlaggedRule, st: StationInfo,
            groups: Iterable[tuple[datetime, list[str] | None, bool]]) -> list[Observation]:
    """Per data time (``sources.flag_changes``): breached when a reading carries one of the
    rule's flags, cleared when every reading is normal (N); other flags (calibration, say)
    leave the state as it is."""
    subject = Subject.station(st)
    flags = "/".join(rule.flags)
    return [Observation(
        subject, ts, ts, bool(hits), clean, float(len(hits or ())), None,
        ",".join(hits) if hits else None, None, "HJ 212-2017 表8",
        f"data flagged {flags} ({', '.join(hits)})" if hits else "data flags normal")
        for ts, hits, clean in groups]


def silent(rule: r.SilentRule, st: StationInfo, last_seen: datetime, gaps: Sequence[float],
           now: datetime) -> Observation | None:
    """Overdue by ``factor`` x the station's own cadence (median of its recent gaps)? None
    while too few gaps are known to judge."""
    if len(gaps) < rule.min_samples:
        return None
    cadence = statistics.median(gaps)
    allowed = max(rule.min_silence.total_seconds(), rule.factor * cadence)
    quiet = (now - last_seen).total_seconds()
    if quiet <= allowed:
        return None
    return Observation(
        Subject.station(st), last_seen + timedelta(seconds=allowed), now, True, False,
        round(quiet), round(allowed), None, "s", None,
        f"no data for {timedelta(seconds=round(quiet))} (cadence {_fmt(cadence)} s)")


def back_online(st: StationInfo, now: datetime) -> Observation:
    return Observation(Subject.station(st), now, now, False, True, text="data arriving again")


# ---- indicators --------------------------------------------------------------------------

def _aqi(rule: r.AqiHourlyRule | r.AqiDailyRule, subject: Subject, start: datetime,
         end: datetime, aqi: int | None, word: str) -> Observation | None:
    if aqi is None:
        return None
    clear_at = rule.clear if rule.clear is not None else rule.above
    breach, clear = judge(aqi, rule.above, "above", clear_at)
    return Observation(subject, start, end, breach, clear, float(aqi), float(rule.above), "aqi",
                       None, "HJ 633 表1", f"{word} AQI {aqi} > {rule.above}")


def aqi_hourly(rule: r.AqiHourlyRule, subject: Subject, ts: datetime, aqi: int | None
               ) -> Observation | None:
    return _aqi(rule, subject, ts, ts + HOUR, aqi, "hourly")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A Beijing natural day as aware start and end."""
    return day_start(day), day_end(day)


def aqi_daily(rule: r.AqiDailyRule, subject: Subject, day: date, aqi: int | None
              ) -> Observation | None:
    start, end = day_bounds(day)
    return _aqi(rule, subject, start, end, aqi, f"daily ({day})")


def water_class(st: StationInfo, day: date, klass: int | None, compliant: bool | None,
                label: str | None, exceeding: dict[str, Any]) -> Observation | None:
    """The day's class against the section's target class (GB 3838 clause 5)."""
    if klass is None or compliant is None or st.water_target_class is None:
        return None
    start, end = day_bounds(day)
    worst = ", ".join(f"{p} x{_fmt(float(m))}" for p, m in sorted(exceeding.items()))
    return Observation(
        Subject.station(st), start, end, not compliant, compliant, float(klass),
        float(st.water_target_class), "water_class", None, "GB 3838-2002 clause 5",
        f"daily class {label or klass} worse than target {st.water_target_class}"
        + (f" ({worst})" if worst else ""))


def is_night(ts: datetime) -> bool:
    """The hour starting at ``ts`` lies in the GB 3096 night (default 22:00-06:00 Beijing)."""
    h = ts.astimezone(BEIJING).hour
    return h >= NOISE.night_start_hour or h < NOISE.day_start_hour


def noise_night(rule: r.NoiseNightLeqRule | r.NoiseNightLmaxRule, st: StationInfo,
                ts: datetime, leq: float | None, lmax: float | None) -> Observation | None:
    """Night Leq over the zone's night limit (+ margin), or night Lmax over limit + 15 dB."""
    if st.noise_zone is None or not is_night(ts):
        return None
    limits = zone_limits(st.noise_zone)  # type: ignore[arg-type]
    if isinstance(rule, r.NoiseNightLeqRule):
        value, limit, what = leq, limits.night + rule.margin, "Leq"
        clause = "GB 3096-2008 表1 (night)"
    else:
        value, limit, what = lmax, limits.night_lmax, "Lmax"
        clause = "GB 3096-2008 5.4 (night Lmax <= limit + 15 dB)"
    if value is None:
        return None
    breach, clear = judge(value, limit, "above", limit - rule.clear_margin)
    return Observation(
        Subject.station(st), ts, ts + HOUR, breach, clear, value, limit,
        what.lower(), "dB(A)", clause,
        f"night hourly {what} {_fmt(value)} dB(A) > {_fmt(limit)} (zone {st.noise_zone})")


def plan_target(rule: r.PlanTargetRule, subject: Subject, good_days: int, valid_days: int,
                today: date, now: datetime) -> Observation | None:
    """Year-to-date good days against the plan's good-day ratio (targets.toml): breached
    when fewer than ``affordable_below`` non-good days are left to spend."""
    status = air_target_status(good_days, valid_days, today.year, as_of=today)
    if status.affordable is None:
        return None
    clear_at = rule.clear if rule.clear is not None else rule.affordable_below
    breach = status.affordable < rule.affordable_below
    clear = status.affordable >= clear_at
    ratio = "n/a" if status.ratio is None else f"{status.ratio:.1f} %"
    return Observation(
        subject, now, now, breach, clear, float(status.affordable),
        float(rule.affordable_below), "affordable_non_good_days", "days",
        f"plan target {status.target} % good days ({today.year})",
        f"{today.year} good-day ratio {ratio} ({good_days}/{valid_days}); "
        f"{status.affordable} more non-good days affordable vs target {status.target} %")
