"""Station models: reproducible under a seed, inside the plausible ranges of the parameter
catalogue, and with the physics the issue asks for (asserted on statistics, not exact values)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from statistics import correlation, mean

import pytest

from aggregator.standards import (
    AqiReport,
    daily_aqi,
    daily_mean,
    day_counts,
    o3_daily_max_1h,
    o3_mda8,
)
from envmon.beijing_time import BEIJING
from envmon.parameters import catalogue
from envmon.stations import Station
from simulators.models import AirModel, NoiseModel, WaterModel
from simulators.models.noise import energy_mean
from simulators.models.water import NH3N
from simulators.station import Cadence, SimStation
from simulators.stream import Scenario, documents

YEAR = datetime(2025, 1, 1, tzinfo=BEIJING)
HOUR = timedelta(hours=1)
AIR = Station("a1", "air", "A")
WATER = Station("w1", "water", "W", water_target_class=3, water_body="river")
NOISE = Station("n1", "noise", "N", noise_zone="4a")


def year_of(model: AirModel | WaterModel | NoiseModel, hours: int = 8760
            ) -> list[tuple[datetime, dict[str, float]]]:
    return [(YEAR + i * HOUR, model.step(YEAR + i * HOUR)) for i in range(hours)]


@pytest.mark.parametrize("station", [AIR, WATER, NOISE], ids=lambda s: s.kind)
def test_same_seed_same_documents_and_other_seed_differs(station: Station) -> None:
    def run(seed: int) -> list[object]:
        sim = SimStation(station, seed, Cadence(realtime_seconds=300))
        return [d for i in range(72) for d in sim.documents(YEAR + i * HOUR)]

    assert run(7) == run(7)
    assert run(7) != run(8)


@pytest.mark.parametrize("station", [AIR, WATER, NOISE], ids=lambda s: s.kind)
def test_a_year_stays_inside_the_catalogue_ranges(station: Station) -> None:
    """Values outside envmon/parameters.toml would be rejected as out_of_range by ingest."""
    sim = SimStation(station, 1, Cadence(realtime_seconds=1800))
    spec = catalogue()[station.kind]
    seen: set[str] = set()
    for i in range(8760):
        for doc in sim.documents(YEAR + i * HOUR):
            for p, v in doc.values.items():
                assert spec[p].min <= v <= spec[p].max, (doc.ts, p, v)
                seen.add(p)
    assert seen == set(spec), "every catalogue parameter of the kind is simulated"


def _air_year(seed: int) -> tuple[list[AqiReport], dict[datetime, dict[str, float]]]:
    hours = dict(year_of(AirModel(random.Random(seed))))
    series = {p: {ts: v[p] for ts, v in hours.items()} for p in ("pm25", "pm10", "so2", "no2",
                                                                   "co", "o3")}
    out = []
    for d in range(365):
        day = (YEAR + timedelta(days=d)).date()
        values: dict[str, float | None] = {p: daily_mean(series[p], day).value
                                           for p in ("pm25", "pm10", "so2", "no2", "co")}
        values["o3_8h"] = o3_mda8(series["o3"], day).value
        values["o3_1h"] = o3_daily_max_1h(series["o3"], day).value
        out.append(daily_aqi(values, day=day, rules="2012"))
    return out, hours


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_a_simulated_air_year_looks_like_a_real_city(seed: int) -> None:
    """HJ 633-2012 daily AQI (air.md §4.5) over a year: good-day ratio 80-99 % (air.md §6) with
    polluted days; heating-season particles, summer ozone, spring dust."""
    reports, hours = _air_year(seed)
    counts = day_counts(reports)
    assert counts.valid_days == 365
    assert counts.good_ratio is not None and 80.0 <= counts.good_ratio <= 99.0
    assert counts.polluted_days >= 3
    assert any(r.aqi is not None and r.aqi <= 50 for r in reports), "some excellent (优) days"

    def season_mean(p: str, months: set[int], hrs: range = range(24)) -> float:
        return mean(v[p] for ts, v in hours.items() if ts.month in months and ts.hour in hrs)

    winter, summer, spring = {12, 1, 2}, {6, 7, 8}, {3, 4, 5}
    assert season_mean("pm25", winter) > 1.5 * season_mean("pm25", summer)
    assert season_mean("so2", winter) > 1.5 * season_mean("so2", summer)
    assert season_mean("o3", summer, range(13, 17)) > 2 * season_mean("o3", winter, range(13, 17))
    assert season_mean("o3", summer, range(13, 17)) > 1.5 * season_mean("o3", summer, range(4, 8))
    assert season_mean("no2", winter | summer, range(7, 10)) > season_mean(
        "no2", winter | summer, range(13, 16)), "morning NO2 peak"
    top_pm10 = max(hours.items(), key=lambda kv: kv[1]["pm10"])
    assert top_pm10[0].month in spring and top_pm10[1]["pm10"] > 300, "spring dust storms"


def test_water_meets_its_target_class_mostly_and_pollution_events_break_it() -> None:
    """GB 3838-2002 表1: NH3-N of class III is 1.0 mg/L (water.md §1)."""
    hours = year_of(WaterModel(random.Random(3), target_class=3, pollution_events_per_year=6))
    nh3n = [v["nh3n"] for _, v in hours]
    above = sum(x > NH3N[2] for x in nh3n)
    assert 0 < above < 0.05 * len(nh3n)
    afternoon = mean(v["do"] for ts, v in hours if ts.hour in (14, 15, 16))
    dawn = mean(v["do"] for ts, v in hours if ts.hour in (4, 5, 6))
    assert afternoon > dawn + 0.5, "DO day cycle (photosynthesis)"
    summer_turb = mean(v["turb"] for ts, v in hours if ts.month in (6, 7, 8))
    winter_turb = mean(v["turb"] for ts, v in hours if ts.month in (12, 1, 2))
    assert summer_turb > 2 * winter_turb, "rain run-off in the wet season"


@pytest.mark.parametrize(("zone", "day_limit", "night_limit"), [
    ("1", 55, 45), ("2", 60, 50), ("3", 65, 55), ("4a", 70, 55),  # GB 3096-2008 表1
])
def test_noise_levels_are_consistent_and_mostly_within_the_zone_limits(
        zone: str, day_limit: float, night_limit: float) -> None:
    hours = year_of(NoiseModel(random.Random(4), zone=zone), hours=24 * 60)
    for _, v in hours:
        assert v["lmax"] >= v["l10"] >= v["l50"] >= v["l90"] >= v["lmin"]
        assert v["l50"] <= v["leq"] <= v["lmax"]
    day = [v["leq"] for ts, v in hours if 6 <= ts.hour < 22]
    night = [v["leq"] for ts, v in hours if not 6 <= ts.hour < 22]
    assert mean(day) < day_limit
    assert mean(night) < mean(day) - 5
    assert mean(night) < night_limit + 3
    rush = mean(v["leq"] for ts, v in hours if ts.hour == 8)
    assert rush > mean(v["leq"] for ts, v in hours if ts.hour == 3) + 8
    # sudden night events: Lmax above the night limit + 15 dB (noise.md §1.2) on some nights
    assert any(v["lmax"] > night_limit + 15 for ts, v in hours if not 6 <= ts.hour < 22)


@pytest.mark.parametrize(("cadence", "per_hour"), [
    (Cadence(), {"hour": 1}),
    (Cadence(realtime_seconds=30), {"rt": 120, "hour": 1}),  # HJ 212 RtdInterval 30..3600 s
    (Cadence(realtime_seconds=300, minute_interval=10), {"rt": 12, "min": 6, "hour": 1}),
    (Cadence(minute_interval=1, hourly=False), {"min": 60}),  # MinInterval 1..30 min
])
def test_cadences_give_the_documents_real_loggers_send(cadence: Cadence,
                                                       per_hour: dict[str, int]) -> None:
    sim = SimStation(AIR, 1, cadence)
    docs = [d for i in range(48) for d in sim.documents(YEAR + i * HOUR)]
    counts = {k: sum(d.interval == k for d in docs) for k in ("rt", "min", "hour", "day")}
    assert counts == {k: 48 * per_hour.get(k, 0) for k in ("rt", "min", "hour")} | {
        "day": 2 if cadence.daily else 0}
    assert all(d.ts.minute == 0 for d in docs if d.interval == "hour")
    days = [d for d in docs if d.interval == "day"]
    assert all((d.ts.hour, d.ts.minute) == (0, 0) for d in days), "Beijing midnight"


@pytest.mark.parametrize(("realtime", "minute", "message"), [
    (10, None, "30..3600"),
    (7200, None, "30..3600"),
    (None, 7, "divide 60"),
])
def test_cadence_limits(realtime: int | None, minute: int | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Cadence(realtime, minute)


def test_noise_day_document_uses_energy_averages_of_day_and_night_hours() -> None:
    """GB 3096 day 06-22, night 22-06; Ld/Ln by energy average (noise.md §1.3, §2.1)."""
    sim = SimStation(NOISE, 2)
    docs = [d for i in range(24) for d in sim.documents(YEAR + i * HOUR)]
    hours = {d.ts.hour: d.values["leq"] for d in docs if d.interval == "hour"}
    (day,) = [d for d in docs if d.interval == "day"]
    assert set(day.values) == {"leq", "ld", "ln", "lmax", "lmin"}
    assert day.values["ld"] == pytest.approx(
        energy_mean([v for h, v in hours.items() if 6 <= h < 22]), abs=0.06)
    assert day.values["ln"] == pytest.approx(
        energy_mean([v for h, v in hours.items() if not 6 <= h < 22]), abs=0.06)


def test_air_stations_of_one_city_share_haze_and_dust() -> None:
    """Daily PM2.5 of two stations follows the same episodes in one city, not across cities."""
    stations = [Station("c1-a", "air", "A", city="One"), Station("c1-b", "air", "B", city="One"),
                Station("c2-a", "air", "C", city="Two")]
    scenario = Scenario(stations, YEAR, 24 * 120, 9, Cadence(daily=True, hourly=False))
    daily: dict[str, list[float]] = {}
    for _, doc in documents(scenario):
        daily.setdefault(doc.station_id, []).append(doc.values["pm25"])
    assert correlation(daily["c1-a"], daily["c1-b"]) > 0.7
    assert correlation(daily["c1-a"], daily["c2-a"]) < 0.5
